#!/usr/bin/env python3
"""The tokio client benchmark of issue 15: mqtt-tokio (this repository's
`tokio/`) beside rumqttc 0.25's AsyncClient, in the same run, through
Debian's mosquitto and through libmqtt's example broker on 127.0.0.1.

Each run is one process of `tokio_clients` (src/bin/tokio_clients.rs, which
documents the load and what it measures) with one client implementation,
so its CPU time and heap allocations are that implementation's own. For
every (broker, topology, QoS) the two implementations run one after the
other, their order alternating between repetitions; the table gives, per
cell, the best of the repetitions: highest messages/s, lowest CPU per
message, lowest allocations per message (each taken on its own), and the
losses and duplicates summed over all repetitions. The broker's CPU time
per message comes from /proc/PID/stat around each run (10 ms ticks, and the
connection set-up is included); lowest of the repetitions.

Brokers (started once, reused by every run; connections are new each run):
  * mosquitto: a generated configuration, `persistence false`,
    `max_inflight_messages 0` and `max_queued_messages 0` (no limits: the
    broker neither holds back nor drops), `set_tcp_nodelay true`, logging off;
  * libmqtt: `target/release/examples/broker --port 0` (its defaults).

Usage (run-tokio.sh builds first):
    bench/tokio-clients.py [--reps 3] [--scale 1.0] [--markdown-out bench/RESULTS.md]

With --markdown-out the section between `<!-- tokio-clients:begin -->`
and `<!-- tokio-clients:end -->` of that file is replaced (or appended).
Every run's JSON goes to target/tokio-clients.json.
"""

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CLIENTS = BENCH / "target" / "release" / "tokio_clients"
OURS = ROOT / "target" / "release" / "examples" / "broker"
MOSQUITTO = "/usr/sbin/mosquitto"
TICKS = os.sysconf("SC_CLK_TCK")
HEADING = "## tokio clients: mqtt-tokio beside rumqttc"
BEGIN = "<!-- tokio-clients:begin -->"
END = "<!-- tokio-clients:end -->"
KEEP = "<!-- report.py keeps the sections below -->"
IMPLS = ["mqtt-tokio", "rumqttc"]
WINDOW = 100

# (publishers, subscribers): messages per publisher at QoS 0 and at QoS 1/2.
# Every subscriber subscribes to bench/+, so it receives every publisher's
# messages: deliveries = publishers x subscribers x messages.
TOPOLOGIES = [((1, 1), (200_000, 100_000)), ((4, 4), (25_000, 12_500))]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait_port(port, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def start_mosquitto(tmp):
    port = free_port()
    conf = Path(tmp) / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest none\n"
        "persistence false\nmax_inflight_messages 0\nmax_queued_messages 0\n"
        "set_tcp_nodelay true\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=open(Path(tmp) / "mosquitto.log", "w"))
    wait_port(port, proc)
    return proc, port


def start_ours(tmp):
    proc = subprocess.Popen([str(OURS), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=open(Path(tmp) / "broker.log", "w"), text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on [^\s:]+:(\d+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"unexpected first line from the broker: {line!r}")
    port = int(m.group(1))
    wait_port(port, proc)
    return proc, port


def one_run(impl, broker_proc, port, qos, pubs, subs, messages):
    cmd = [str(CLIENTS), "--client", impl, "--port", str(port), "--qos", str(qos),
           "--publishers", str(pubs), "--subscribers", str(subs), "--messages", str(messages),
           "--window", str(WINDOW), "--payload", "64", "--timeout", "300"]
    b0 = cpu_seconds(broker_proc.pid)
    out = subprocess.run(cmd, capture_output=True, text=True)
    b1 = cpu_seconds(broker_proc.pid)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr}")
    if out.stderr.strip():
        print(out.stderr.strip(), file=sys.stderr)
    r = json.loads(out.stdout)
    r["broker_cpu_s"] = b1 - b0
    return r


def fmt_rate(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} k"


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    mosq = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True).stdout
    m = re.search(r"mosquitto version (\S+)", mosq)
    return cpu, rustc, m.group(1) if m else "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every message count")
    ap.add_argument("--markdown-out")
    args = ap.parse_args()

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = os.getloadavg()[0]
    runs = []
    with tempfile.TemporaryDirectory(prefix="tokio-clients-") as tmp:
        brokers = {"mosquitto": start_mosquitto(tmp), "libmqtt": start_ours(tmp)}
        try:
            for rep in range(args.reps):
                for bname, (bproc, port) in brokers.items():
                    for (pubs, subs), counts in TOPOLOGIES:
                        for qos in (0, 1, 2):
                            n = max(1, int((counts[0] if qos == 0 else counts[1]) * args.scale))
                            order = IMPLS if rep % 2 == 0 else IMPLS[::-1]
                            for impl in order:
                                r = one_run(impl, bproc, port, qos, pubs, subs, n)
                                r.update(broker=bname, rep=rep)
                                runs.append(r)
                                rate = r["delivered"] / r["elapsed_s"]
                                cpu = (r["cpu_user_s"] + r["cpu_sys_s"]) / max(1, r["delivered"]) * 1e6
                                print(f"rep {rep} {bname:9} {pubs}x{subs} QoS {qos} {impl:10} "
                                      f"{rate:10.0f} msg/s  cpu {cpu:6.2f} us/msg  "
                                      f"lost {r['lost']} dup {r['duplicates']}", file=sys.stderr)
        finally:
            for proc, _ in brokers.values():
                proc.terminate()
                proc.wait(timeout=10)
    load1 = os.getloadavg()[0]
    finished = time.strftime("%H:%M UTC", time.gmtime())
    (BENCH / "target").mkdir(exist_ok=True)
    (BENCH / "target" / "tokio-clients.json").write_text(json.dumps(runs, indent=1))

    def cell(bname, topo, qos, impl):
        rs = [r for r in runs if r["broker"] == bname and (r["publishers"], r["subscribers"]) == topo
              and r["qos"] == qos and r["client"] == impl]
        return {
            "rate": max(r["delivered"] / r["elapsed_s"] for r in rs),
            "cpu": min((r["cpu_user_s"] + r["cpu_sys_s"]) / r["delivered"] * 1e6 for r in rs),
            "allocs": min(r["allocs"] / r["delivered"] for r in rs),
            "broker": min(r["broker_cpu_s"] / r["delivered"] * 1e6 for r in rs),
            "lost": sum(r["lost"] for r in rs),
            "dup": sum(r["duplicates"] for r in rs),
            "errors": sum(r["publish_errors"] + r["foreign"] for r in rs),
            "delivered": rs[0]["expected"],
        }

    cpu, rustc, mosq = machine()
    lines = [
        HEADING, "", BEGIN, "",
        f"- Date: {started} to {finished} (`bench/run-tokio.sh`, `make bench-tokio`); "
        f"load average {load0:.2f} at the start, {load1:.2f} at the end",
        f"- Machine: {os.cpu_count()} CPUs (`nproc`), {cpu}; {platform.system()} {platform.release()}",
        f"- Compiler: {rustc} (release); mosquitto {mosq}; rumqttc 0.25.1; tokio multi-threaded "
        f"runtime, one worker per CPU, for both clients",
        f"- Load: MQTT 3.1.1, 64-byte payloads, {WINDOW} messages in flight per publisher for both "
        "clients (mqtt-tokio: `max_inflight` 100 and 100 concurrent `publish` futures, each resolved "
        "at PUBACK/PUBCOMP; rumqttc: `set_inflight(100)`, request channel capacity 10, `publish` "
        "awaited in a loop, the `EventLoop` polled in its own task). 1x1: one publisher, one "
        "subscriber; 4x4: four publishers on `bench/0..3`, four subscribers each subscribed to "
        "`bench/+`, so every subscriber receives every publisher's messages (16 flows).",
        f"- Method: one process per run and client; {args.reps} repetitions, order alternating; "
        "per cell the best repetition (msg/s highest, CPU and allocations lowest, each on its own); "
        "lost/dup summed over all repetitions. msg/s = messages delivered to the subscribers "
        "(all together) / time from the start signal (first publish) to the last delivery. "
        "Client CPU = user + system time of the whole client process (publishers and subscribers, "
        "every thread; getrusage) over the run; allocations = a counting global allocator in that "
        "process; both per delivered message. Broker CPU from /proc, per delivered message.",
        "",
        "| broker | flows | QoS | deliveries | mqtt-tokio msg/s | rumqttc msg/s | msg/s ratio | "
        "mqtt-tokio CPU µs/msg | rumqttc CPU µs/msg | CPU ratio | mqtt-tokio allocs/msg | "
        "rumqttc allocs/msg | broker CPU µs/msg (mqtt-tokio / rumqttc run) | lost / dup mqtt-tokio | "
        "lost / dup rumqttc |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    goals = []
    for bname in ("mosquitto", "libmqtt"):
        for (pubs, subs), _ in TOPOLOGIES:
            for qos in (0, 1, 2):
                o = cell(bname, (pubs, subs), qos, "mqtt-tokio")
                p = cell(bname, (pubs, subs), qos, "rumqttc")
                rr = o["rate"] / p["rate"]
                cr = o["cpu"] / p["cpu"]
                lines.append(
                    f"| {bname} | {pubs}x{subs} | {qos} | {o['delivered']:,} | {fmt_rate(o['rate'])} | "
                    f"{fmt_rate(p['rate'])} | **{rr:.2f}x** | {o['cpu']:.2f} | {p['cpu']:.2f} | "
                    f"**{cr:.2f}x** | {o['allocs']:.1f} | {p['allocs']:.1f} | "
                    f"{o['broker']:.1f} / {p['broker']:.1f} | {o['lost']} / {o['dup']} | "
                    f"{p['lost']} / {p['dup']} |")
                if qos == 0:
                    ok = rr >= 1.0
                    goal = "msg/s at least rumqttc's"
                else:
                    ok = rr >= 2.0 and cr <= 0.5
                    goal = "msg/s at least 2x, CPU/msg at most 0.5x"
                bad = o["lost"] + o["errors"] if qos else o["errors"]
                goals.append(f"- {bname} {pubs}x{subs} QoS {qos} ({goal}): {rr:.2f}x msg/s, "
                             f"{cr:.2f}x CPU/msg: **{'met' if ok else 'not met'}**"
                             + (f"; {bad} lost or failed" if bad else ""))
    lines += ["", "Ratios are mqtt-tokio / rumqttc (msg/s: above 1 is faster; CPU: below 1 is less).",
              "QoS 1 and 2 must lose nothing; QoS 0 losses would be reported (none expected on "
              "127.0.0.1).", "", "Goals of issue 15, per row:", ""] + goals + ["", END]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown_out:
        path = Path(args.markdown_out)
        old = path.read_text() if path.exists() else ""
        if BEGIN in old and END in old:
            start = old.index(HEADING) if HEADING in old else old.index(BEGIN)
            stop = old.index(END) + len(END)
            new = old[:start] + text.rstrip("\n") + old[stop:]
        else:
            body = old.rstrip("\n")
            if KEEP not in body:
                body += "\n\n" + KEEP
            new = body + "\n\n" + text
        path.write_text(new.rstrip("\n") + "\n")
        print(f"wrote {path}", file=sys.stderr)
    lost = sum(r["lost"] for r in runs if r["qos"] > 0)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
