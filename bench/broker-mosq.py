#!/usr/bin/env python3
"""Issue 17's broker benchmark (not a test): Debian's mosquitto and
libmqtt's broker (`libmqtt-broker -c CONF`) in the same run, under the same
third-party load (bench/mosq-load/mosq_load.c on libmosquitto), over plain
TCP and TLS.

For every case ONE mosquitto.conf is written and given unchanged to both
brokers (a mosquitto user's file): a listener on 127.0.0.1 (with
`cafile`/`certfile`/`keyfile` for TLS; the certificates are made at run
time with `openssl req`/`openssl x509`: a CA and a server certificate for
127.0.0.1/localhost), `allow_anonymous true`, `max_connections`,
`max_inflight_messages 20` and `max_queued_messages 0` (mosquitto's
in-flight default, and no queue bound, so a QoS 1 message is never dropped:
nothing lost is checked), `sys_interval 0`, errors only on stderr.

Cases: QoS 0 and 1, 1 publisher -> 1 subscriber and 4 -> 4, 64-byte
payload (--payloads 64,1024 adds 1 KB), TCP and TLS. Each repetition
starts each broker afresh on the case's file (the order alternates between
repetitions), makes one small unmeasured warm-up run, then the measured run.
Measured: messages/s received (from mosq_load), the broker's CPU seconds
during the measured run (utime + stime from /proc/PID/stat before and
after) per message received, and the broker's peak RSS (VmHWM, the largest
of the repetitions). The row per broker is the repetition with the median
msg/s; the ratios are ours / mosquitto (msg/s: higher is better; CPU and
RSS: lower is better).

The markdown table is printed and, with --markdown-out, APPENDED to that
file with the date and the machine.

Usage:
    bench/broker-mosq.py [--reps 3] [--payloads 64] [--cases all|tcp|tls]
                         [--markdown-out bench/RESULTS.md] [--no-build]
    QUICK=1 bench/broker-mosq.py     (a few seconds per case, one repetition)
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brokers as B  # noqa: E402

SRC = B.BENCH / "mosq-load" / "mosq_load.c"
LOAD = B.BENCH / "target" / "mosq-load" / "mosq_load"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def build_load(path):
    if path.exists() and path.stat().st_mtime >= SRC.stat().st_mtime:
        return
    if not Path("/usr/include/mosquitto.h").exists():
        sys.exit("libmosquitto-dev is missing: apt-get install -y libmosquitto-dev (or: make bench-broker-mosq)")
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", str(SRC), "-lmosquitto",
           "-o", str(path)]
    log("+ " + " ".join(cmd))
    subprocess.run(cmd, check=True)


def run_load(load, port, case, messages, tls_certs, timeout):
    cmd = [str(load), "--port", str(port), "--qos", str(case["qos"]), "--payload", str(case["payload"]),
           "--publishers", str(case["pubs"]), "--subscribers", str(case["subs"]),
           "--messages", str(messages), "--inflight", "64", "--version", "5",
           "--timeout", str(timeout), "--idle-ms", "1500"]
    if tls_certs:
        cmd += ["--cafile", tls_certs["ca"]]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    line = next((l for l in p.stdout.splitlines() if l.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"mosq_load exited {p.returncode} without a result: {p.stderr.strip()}")
    r = json.loads(line)
    r["rc"] = p.returncode
    r["stderr"] = p.stderr.strip()
    return r


def failed_run(kind, case, why):
    """A run that could not happen (the broker refused the conf, the load
    gave no result): reported in the table, not the end of the benchmark."""
    return dict(broker=kind, failed=why, qos=case["qos"], received=0, expected=0, lost=0, duplicates=0,
                received_per_s=0.0, broker_cpu_s=0.0, peak_rss_kb=0, errors=1, rc=1, stderr=why,
                libmosquitto="?")


def one(kind, conf, port, case, messages, certs, logdir, load, timeout):
    try:
        b = B.start(kind, conf, port, logdir)
    except RuntimeError as e:
        return failed_run(kind, case, str(e).replace("\n", " "))
    try:
        # Warm-up: connections, allocator, TLS session code paths.
        run_load(load, port, case, max(1, min(messages, 2000)), certs, timeout)
        c0 = B.cpu_seconds(b.pid)
        r = run_load(load, port, case, messages, certs, timeout)
        c1 = B.cpu_seconds(b.pid)
        r["broker_cpu_s"] = c1 - c0
        r["peak_rss_kb"] = B.hwm_kb(b.pid)
        r["alive"] = b.alive()
        r["broker"] = kind
        return r
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        return failed_run(kind, case, f"{type(e).__name__}: {e}")
    finally:
        b.stop()


def median(runs):
    s = sorted(runs, key=lambda r: r["received_per_s"])
    return s[len(s) // 2]


def fmt_rate(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"


def main():
    quick = os.environ.get("QUICK", "") not in ("", "0")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=1 if quick else 3)
    ap.add_argument("--payloads", default="64", help="comma-separated payload sizes in bytes")
    ap.add_argument("--cases", default="all", choices=["all", "tcp", "tls"])
    ap.add_argument("--qos", default="0,1")
    ap.add_argument("--messages-1x1", type=int, default=20000 if quick else 100000,
                    help="messages of the one publisher in the 1 -> 1 cases")
    ap.add_argument("--messages-4x4", type=int, default=5000 if quick else 25000,
                    help="messages per publisher in the 4 -> 4 cases")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per load run")
    ap.add_argument("--load", type=Path, default=LOAD, help="the mosq_load binary (built if missing)")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build")
    ap.add_argument("--markdown-out", type=Path, help="append the table to this file")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()

    if not Path(B.MOSQUITTO).exists():
        sys.exit(f"{B.MOSQUITTO} not found: apt-get install -y mosquitto")
    build_load(args.load)
    B.build(args.no_build, log)
    tmp = B.tmpdir("broker-mosq-")
    started = time.monotonic()
    try:
        ours = B.ours_kind(tmp)
        if ours is None:
            sys.exit("neither target/release/libmqtt-broker nor the example broker is built")
        stand_in = ours != "libmqtt-broker"
        if stand_in:
            log(f"libmqtt-broker cannot run a mosquitto.conf yet: {ours} stands in (TCP cases only)")
        certs = B.make_certs(tmp)
        head = [f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}{' (QUICK=1)' if quick else ''}",
                f"- Machine: {B.machine_line()}",
                f"- Brokers: {B.versions(ours)}"]
        transports = {"all": ["tcp", "tls"], "tcp": ["tcp"], "tls": ["tls"]}[args.cases]
        cases = []
        for tr in transports:
            for payload in [int(p) for p in args.payloads.split(",")]:
                for qos in [int(q) for q in args.qos.split(",")]:
                    for pubs in (1, 4):
                        cases.append(dict(tr=tr, payload=payload, qos=qos, pubs=pubs, subs=pubs))
        runs = []
        for ci, case in enumerate(cases):
            tls = case["tr"] == "tls"
            kinds = ["mosquitto"] + ([ours] if not (tls and stand_in) else [])
            port = B.free_port()
            conf = B.write_conf(Path(tmp) / f"case{ci}.conf", port, certs if tls else None,
                                ["max_connections 1000", "max_inflight_messages 20", "max_queued_messages 0"])
            case["conf"] = Path(conf).read_text()
            messages = args.messages_1x1 if case["pubs"] == 1 else args.messages_4x4
            for rep in range(args.reps):
                order = kinds if rep % 2 == 0 else list(reversed(kinds))
                for kind in order:
                    r = one(kind, conf, port, case, messages, certs if tls else None, tmp, args.load,
                            args.timeout)
                    r.update(case=ci, rep=rep + 1, tr=case["tr"])
                    runs.append(r)
                    us = 1e6 * r["broker_cpu_s"] / r["received"] if r["received"] else float("nan")
                    log(f"{case['tr'].upper()} QoS {case['qos']} {case['pubs']}x{case['subs']} {case['payload']} B "
                        f"rep {rep + 1} {kind:>14}: {fmt_rate(r['received_per_s'])} msg/s, "
                        f"{r['received']}/{r['expected']} received, {r['duplicates']} dup, "
                        f"CPU {us:.2f} µs/msg, peak RSS {r['peak_rss_kb'] / 1024:.1f} MB, exit {r['rc']}"
                        + (f" ({r['stderr'].splitlines()[0]})" if r["stderr"] else ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if args.json_out:
        args.json_out.write_text(json.dumps(runs, indent=1) + "\n")
    total_s = time.monotonic() - started
    name = ours
    lines = [f"## libmqtt-broker vs. mosquitto, same mosquitto.conf, libmosquitto load (issue 17)", ""] + head + [
        f"- Load: `bench/mosq-load/mosq_load` (libmosquitto {runs[0]['libmosquitto'] if runs else '?'}, one thread "
        f"and one `mosquitto_loop` per client), MQTT 5.0; publisher p → `bench/p`, every subscriber on `bench/+`; "
        f"QoS 1 publishers keep 64 messages unacknowledged at most (libmosquitto's max_inflight); subscribers "
        f"announce libmosquitto's default Receive Maximum (20). 1 → 1: {args.messages_1x1:,} messages; "
        f"4 → 4: 4 × {args.messages_4x4:,} published, × 4 delivered. {args.reps} repetition(s), brokers alternating, "
        f"each started afresh per repetition; the row is the median-msg/s repetition. Total {total_s:.0f} s.",
        "- Each case's mosquitto.conf (the same file for both): `listener PORT 127.0.0.1` (+ `cafile`, `certfile`, "
        "`keyfile` for TLS: RSA 2048 server certificate from a run-time CA), `allow_anonymous true`, "
        "`sys_interval 0`, `log_dest stderr`, `log_type error`, `max_connections 1000`, "
        "`max_inflight_messages 20`, `max_queued_messages 0`.",
        f"- msg/s = messages received by all subscribers / time from the start signal to the last one. "
        f"CPU µs/msg = broker user + system CPU during the run / messages received. Peak RSS = VmHWM "
        f"(includes the warm-up). CPU time comes in {1000 // B.TICKS} ms ticks: short runs (QUICK=1) give coarse "
        f"CPU figures. Ratios: {name} / mosquitto. The machine is shared (other jobs run; "
        f"the load shares the cores with the broker): figures for this machine, not a broker's peak.",
        "",
        "| case | mosquitto msg/s | ours msg/s | msg/s ours/mosq | mosquitto CPU µs/msg | ours CPU µs/msg "
        "| CPU ours/mosq | mosquitto peak RSS MB | ours peak RSS MB | RSS ours/mosq | received mosquitto | received ours |",
        "|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    failed = False
    for ci, case in enumerate(cases):
        label = (f"{case['tr'].upper()} QoS {case['qos']}, {case['pubs']} → {case['subs']}, "
                 f"{case['payload']} B")
        row = {}
        for kind in ("mosquitto", ours):
            mine = [r for r in runs if r["case"] == ci and r["broker"] == kind]
            if mine:
                m = median(mine)
                m["peak_all_kb"] = max(r["peak_rss_kb"] or 0 for r in mine)
                row[kind] = m
            # A stand-in does not read the conf (its queue bound is 1,000
            # messages per client): QoS 1 losses are expected of it only.
            if kind == ours and any((r["qos"] > 0 and r["lost"] > 0 and not stand_in) or r["errors"]
                                    or r["rc"] in (1, 2) for r in mine):
                failed = True
        m, o = row.get("mosquitto"), row.get(ours)
        bad = [r for r in (m, o) if r and r.get("failed")]
        if bad:
            lines.append(f"| {label} | " + " | ".join(["—"] * 11) + " |")
            lines += [f"|  | {r['broker']} failed: {r['failed'][:200]} |" + " |" * 10 for r in bad]
            continue

        def us(r):
            return 1e6 * r["broker_cpu_s"] / r["received"] if r and r["received"] else float("nan")

        def ratio(a, b):
            return f"{a / b:.2f}×" if a and b and b == b and a == a else "—"

        def recv(r):
            if not r:
                return "—"
            s = f"{r['received']:,}/{r['expected']:,}"
            if r["duplicates"]:
                s += f" ({r['duplicates']} dup)"
            return s

        if o is None:
            lines.append(f"| {label} | {fmt_rate(m['received_per_s'])} | — | — | {us(m):.2f} | — | — | "
                         f"{m['peak_all_kb'] / 1024:.1f} | — | — | {recv(m)} | — (TLS needs libmqtt-broker) |")
            continue
        def rate(r):
            # A run that lost messages (QoS 0: dropped by the broker) moved
            # less than the others: marked, its ratio is not like for like.
            return fmt_rate(r["received_per_s"]) + (" (lossy)" if r["lost"] else "")

        lines.append(
            f"| {label} | {rate(m)} | {rate(o)} | "
            f"{ratio(o['received_per_s'], m['received_per_s'])} | {us(m):.2f} | {us(o):.2f} | {ratio(us(o), us(m))} | "
            f"{m['peak_all_kb'] / 1024:.1f} | {o['peak_all_kb'] / 1024:.1f} | "
            f"{ratio(o['peak_all_kb'], m['peak_all_kb'])} | {recv(m)} | {recv(o)} |")
    if any(r["qos"] == 0 and r["lost"] and r["broker"] == ours and not r.get("failed") for r in runs):
        lines += ["", "QoS 0 *(lossy)* rows of ours: the broker dropped QoS 0 messages for a subscriber that fell "
                  "behind the publisher; libmqtt's engine drops QoS 0 past 1 MiB of output pending per connection "
                  "(`BrokerLimits::max_output_bytes_per_connection`, no mosquitto.conf key), where mosquitto with "
                  "`max_queued_messages 0` buffers them all (see its peak RSS)."]
    if stand_in:
        lines += ["", f"`{ours}` stood in for `libmqtt-broker -c CONF` (which could not run a mosquitto.conf yet): "
                  "it does not read the file, so its QoS 1 queue bound stays 1,000 messages per subscriber and it "
                  "drops beyond that (the received column), where the conf's `max_queued_messages 0` keeps "
                  "mosquitto from dropping; no TLS."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown_out:
        old = args.markdown_out.read_text() if args.markdown_out.exists() else ""
        args.markdown_out.write_text(old.rstrip("\n") + "\n\n" + text)
        log(f"appended to {args.markdown_out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
