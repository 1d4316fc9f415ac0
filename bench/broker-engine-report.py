#!/usr/bin/env python3
"""Summarises the Criterion results of `benches/broker_engine.rs` (the broker
engine in memory) as a Markdown section.

Reads `{dir}/broker_route_*/*/new/estimates.json` and
`{dir}/broker_fanout_*/*/new/estimates.json` for every --criterion-dir and keeps,
per benchmark, the LOWEST estimate over the directories (one directory per
run; Criterion's `slope` estimate when present, else `mean`), as report.py does
for the codec and client benchmarks.

With --markdown-out FILE the section between `<!-- broker-engine:begin -->`
and `<!-- broker-engine:end -->` (with its heading) is replaced, or appended
when absent; the rest of the file is kept.

    python3 broker-engine-report.py --criterion-dir target/criterion [--markdown-out RESULTS.md]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HEADING = "## Broker engine, in memory: routing and fan-out"
BEGIN = "<!-- broker-engine:begin -->"
END = "<!-- broker-engine:end -->"
# report.py keeps everything from this line on when it regenerates the file.
KEEP = "<!-- report.py keeps the sections below -->"


def estimate(path):
    e = json.loads(path.read_text())
    return (e.get("slope") or e["mean"])["point_estimate"]


def load(dirs):
    best = {}
    for d in dirs:
        for p in Path(d).glob("broker_*/*/new/estimates.json"):
            key = (p.parent.parent.parent.name, p.parent.parent.name)
            ns = estimate(p)
            best[key] = min(ns, best.get(key, ns))
    return best


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def fmt_rate(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"


def replace_section(path, text, heading, begin, end):
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        start = old.index(heading) if heading in old else old.index(begin)
        stop = old.index(end) + len(end)
        new = old[:start] + text.rstrip("\n") + old[stop:]
    else:
        body = old.rstrip("\n")
        if KEEP not in body:
            body += "\n\n" + KEEP
        new = body + "\n\n" + text
    path.write_text(new.rstrip("\n") + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion-dir", action="append", type=Path)
    ap.add_argument("--markdown-out", type=Path)
    args = ap.parse_args()
    dirs = args.criterion_dir or [Path(__file__).resolve().parent / "target" / "criterion"]
    r = load(dirs)
    if not r:
        sys.exit(f"no broker_* estimates under {', '.join(map(str, dirs))}")

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               "unknown CPU")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    lines = [HEADING, "", BEGIN, "",
             f"- Date: {time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}",
             f"- Machine: {os.cpu_count()} CPUs (`nproc`), {cpu}; compiler: {rustc}",
             f"- Source: `cargo bench --bench broker_engine` in `bench/` ({len(dirs)} run"
             f"{'s' if len(dirs) > 1 else ''}), lowest Criterion estimate per benchmark "
             f"(`slope`, else `mean`), summarised by `broker-engine-report.py`; one core, no I/O.",
             "",
             "Routing: `SubscriptionTable::route` among 100,000 subscriptions of 1,000 clients "
             "(60,000 exact `site/{s}/sensor/{j}`, 30,000 `site/+/sensor/{j}`, 10,000 `site/{s}/#`), "
             "versus the baseline a broker without an index has: a linear scan testing every "
             "subscription with rumqttc's public matcher (`rumqttc::mqttbytes::matches`), the matches "
             "merged per client. Not rumqttd's router: it is not callable as a plain function (it "
             "runs as a thread behind channels). *hit* = `site/42/sensor/7`, 12 matching "
             "subscriptions of 12 clients; *miss* = `site/4242/sensor/99999`, none.",
             "",
             "| topic | libmqtt `route` | linear scan | linear scan / libmqtt |",
             "|:--|--:|--:|--:|"]
    for case in ("hit", "miss"):
        ours = r.get((f"broker_route_{case}", "libmqtt"))
        lin = r.get((f"broker_route_{case}", "linear-scan"))
        if ours and lin:
            lines.append(f"| {case} | {fmt_time(ours)} | {fmt_time(lin)} | {lin / ours:,.0f}× |")
    lines += ["",
              "Fan-out: the whole `Broker` engine with 1,000 connected MQTT 5.0 subscribers (raw "
              "CONNECT and SUBSCRIBE bytes through `handle_input`), N of them subscribed to the "
              "published topic (the others to topics of their own), one publisher. One iteration: "
              "one PUBLISH (64-byte payload) into `handle_input`, every connection's output drained "
              "with `poll_output` as a driver does, and for QoS 1 every subscriber's PUBACK fed back. "
              "deliveries/s = N / time per PUBLISH.",
              "",
              "| case | time per PUBLISH | deliveries/s | publishes/s |",
              "|:--|--:|--:|--:|"]
    for qos in (0, 1):
        for n in (1, 100, 1000):
            ns = r.get((f"broker_fanout_qos{qos}_to_{n}", "libmqtt"))
            if ns:
                lines.append(f"| QoS {qos} → {n:,} of 1,000 subscribers | {fmt_time(ns)} | "
                             f"{fmt_rate(n * 1e9 / ns)} | {fmt_rate(1e9 / ns)} |")
    lines += ["", END]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown_out:
        replace_section(args.markdown_out, text, HEADING, BEGIN, END)
        print(f"wrote {args.markdown_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
