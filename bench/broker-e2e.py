#!/usr/bin/env python3
"""End-to-end broker benchmark on 127.0.0.1: libmqtt's example broker
(`core/examples/broker.rs`, release build) versus Debian's mosquitto, in the
same run, under the same load from `mqtt-load` (src/bin/mqtt-load.rs).

For each QoS (0 and 1) and each repetition, the two brokers are loaded one
after the other (the order alternates between repetitions). For each run the
broker process's CPU seconds (user + system, from /proc/PID/stat before and
after) and the load generator's own CPU seconds (getrusage of the child) are
recorded with mqtt-load's counts and rates. The table reports, per broker
and QoS, the run with the MEDIAN messages/s received of the repetitions
(not the best one), and the ratio ours / mosquitto.

Both brokers run with their defaults: mosquitto with a minimal config
(`listener PORT 127.0.0.1`, `allow_anonymous true`, logging off), ours with
`--port 0`. Both are long-running processes started once and reused by every
run (connections are new each run).

Usage (from anywhere):
    bench/broker-e2e.py [--messages 50000] [--reps 3] [--publishers 4]
                        [--subscribers 4] [--payload 64] [--version 5]
                        [--markdown-out bench/RESULTS.md]

With --markdown-out the section between the markers
`<!-- broker-e2e:begin -->` and `<!-- broker-e2e:end -->` of that file is
replaced (or appended when absent); the rest of the file is kept.
"""

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOAD = BENCH / "target" / "release" / "mqtt-load"
OURS = ROOT / "target" / "release" / "examples" / "broker"
MOSQUITTO = "/usr/sbin/mosquitto"
TICKS = os.sysconf("SC_CLK_TCK")
BEGIN = "<!-- broker-e2e:begin -->"
END = "<!-- broker-e2e:end -->"
# report.py keeps everything from this line on when it regenerates the file.
KEEP = "<!-- report.py keeps the sections below -->"


def replace_section(path, text, heading, begin, end):
    """Replaces the section `heading` ... `end` of `path` with `text`, or
    appends it (after the KEEP marker line) when absent."""
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


def run(cmd, cwd):
    print("+", " ".join(map(str, cmd)), file=sys.stderr)
    subprocess.run(cmd, cwd=cwd, check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def usage(pid):
    """(user s, system s) of a live process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (int(fields[11]) / TICKS, int(fields[12]) / TICKS)


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


# The minimal configuration the comparison uses, and a second one with
# mosquitto's per-client flow-control limits lifted (run for QoS 1 only):
# by default mosquitto keeps at most 20 QoS 1 messages in flight to each
# subscriber (`max_inflight_messages`, also announced as its Receive Maximum)
# and queues at most 1,000 more (`max_queued_messages`), dropping the rest,
# so a QoS 1 run against its defaults loses messages that ours delivers.
MOSQUITTO_CONFIGS = {
    "mosquitto": "",
    "mosquitto-unlimited": "max_inflight_messages 0\nmax_queued_messages 0\n",
}


def start_mosquitto(tmp, name):
    port = free_port()
    conf = Path(tmp) / f"{name}.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest none\n"
                    + MOSQUITTO_CONFIGS[name])
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=open(Path(tmp) / f"{name}.log", "w"))
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


def load_once(port, qos, args):
    cmd = [str(LOAD), "--port", str(port), "--qos", str(qos),
           "--publishers", str(args.publishers), "--subscribers", str(args.subscribers),
           "--messages", str(args.messages), "--payload", str(args.payload),
           "--version", str(args.version), "--timeout", str(args.timeout), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    # The child's own rusage: os.wait4 was done by communicate(), so use the
    # difference of RUSAGE_CHILDREN around the call instead (see caller).
    return proc.returncode, out, err


def one_run(name, proc, port, qos, args):
    before = usage(proc.pid)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    rc, out, err = load_once(port, qos, args)
    elapsed = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = usage(proc.pid)
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited during the run ({proc.returncode})")
    line = next((l for l in out.splitlines() if l.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"{name} QoS {qos}: mqtt-load exited {rc} without a result:\n{err}")
    r = json.loads(line)
    d = [a - b for a, b in zip(after, before)]
    r.update(broker=name, rc=rc, broker_cpu_s=d[0] + d[1], broker_user_s=d[0], broker_sys_s=d[1],
             load_cpu_s=(ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime),
             process_s=elapsed, stderr=err.strip())
    return r


def fmt_rate(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"


def median_run(runs):
    ordered = sorted(runs, key=lambda r: r["received_per_s"])
    return ordered[len(ordered) // 2]


def machine_lines():
    cpu = "unknown CPU"
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mosq = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True).stdout.splitlines()
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    return [
        f"- Date: {time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}",
        f"- Machine: {os.cpu_count()} CPUs (`nproc`), {cpu}; {platform.system()} {platform.release()}; "
        f"load average at start {load[0]:.2f}",
        f"- Brokers: {mosq[0] if mosq else 'mosquitto'} (Debian package, `{MOSQUITTO}`), "
        f"libmqtt `core/examples/broker.rs` ({rustc}, release)",
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=50000, help="messages per publisher")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--publishers", type=int, default=4)
    ap.add_argument("--subscribers", type=int, default=4)
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--version", default="5", choices=["3", "5"])
    ap.add_argument("--qos", default="0,1", help="comma-separated QoS levels")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per load run")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-unlimited", action="store_true",
                    help="skip the QoS 1 runs of mosquitto with its flow-control limits lifted")
    ap.add_argument("--markdown-out", type=Path)
    ap.add_argument("--json-out", type=Path, help="every run, as JSON")
    args = ap.parse_args()

    if not Path(MOSQUITTO).exists():
        sys.exit(f"{MOSQUITTO} not found: apt-get install -y mosquitto")
    if not args.no_build:
        run(["cargo", "build", "--release", "--quiet", "--bin", "mqtt-load"], BENCH)
        run(["cargo", "build", "--release", "--quiet", "-p", "mqtt-core", "--example", "broker"], ROOT)
    for p in (LOAD, OURS):
        if not p.exists():
            sys.exit(f"{p} is missing (build it, or drop --no-build)")

    qos_levels = [int(q) for q in args.qos.split(",")]
    head = machine_lines()
    tmp = tempfile.mkdtemp(prefix="broker-e2e-")
    brokers = {}
    runs = []
    try:
        brokers["mosquitto"] = start_mosquitto(tmp, "mosquitto")
        if 1 in qos_levels and not args.no_unlimited:
            brokers["mosquitto-unlimited"] = start_mosquitto(tmp, "mosquitto-unlimited")
        brokers["libmqtt"] = start_ours(tmp)
        # One unmeasured warm-up run each (page cache, allocator, TCP).
        for name, (proc, port) in brokers.items():
            warm = argparse.Namespace(**{**vars(args), "messages": min(args.messages, 2000)})
            one_run(name, proc, port, 0, warm)
        for rep in range(args.reps):
            for qos in qos_levels:
                order = [b for b in brokers if qos == 1 or b != "mosquitto-unlimited"]
                if rep % 2 == 1:
                    order.reverse()
                for name in order:
                    proc, port = brokers[name]
                    r = one_run(name, proc, port, qos, args)
                    r["rep"] = rep + 1
                    runs.append(r)
                    print(f"rep {rep + 1} QoS {qos} {name:>19}: {fmt_rate(r['received_per_s'])} msg/s received, "
                          f"{r['received']}/{r['expected']} received, wall {r['wall_s']:.3f} s, "
                          f"broker CPU {r['broker_cpu_s']:.2f} s, load CPU {r['load_cpu_s']:.2f} s, "
                          f"exit {r['rc']}" + (f" ({r['stderr'].splitlines()[0]})" if r["stderr"] else ""),
                          file=sys.stderr)
    finally:
        for proc, _ in brokers.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _ in brokers.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    if args.json_out:
        args.json_out.write_text(json.dumps(runs, indent=1) + "\n")

    head[1] += f", at end {os.getloadavg()[0]:.2f} (1-minute load averages: other jobs share the machine)"
    total = args.publishers * args.messages
    lines = ["## Brokers end to end: libmqtt example broker vs. mosquitto", "", BEGIN, ""] + head + [
        f"- Load: `mqtt-load` (libmqtt's `Client` over blocking `std::net` sockets, one thread per client, "
        f"TCP_NODELAY), {args.publishers} publishers × {args.messages:,} messages "
        f"({total:,} published), each to its own topic `bench/{{p}}`, {args.subscribers} subscribers on "
        f"`bench/+` ({total * args.subscribers:,} deliveries expected), {args.payload}-byte payload, "
        f"MQTT {'5.0' if args.version == '5' else '3.1.1'}; QoS 1 publishers keep a window of in-flight "
        f"messages (64, or less if the broker's Receive Maximum says so).",
        f"- The machine has only {os.cpu_count()} cores, shared by the broker, the {args.publishers + args.subscribers} load threads and "
        f"whatever else runs: the load generator competes with the broker for CPU, so these are "
        f"figures for this machine, not a broker's peak.",
        f"- {args.reps} repetitions per broker and QoS, brokers alternating; the row is the repetition with "
        f"the median messages/s received; the ratio is the median of the per-repetition ratios (each "
        f"repetition runs the brokers back to back). msg/s = messages received by all subscribers / time from the "
        f"start signal to the last message received. CPU = the broker process's user + system seconds "
        f"during the run (/proc/PID/stat); CPU µs/msg = that / messages received.",
        "",
        "| case | mosquitto config | mosquitto msg/s | libmqtt msg/s | libmqtt / mosquitto "
        "| mosquitto CPU s | libmqtt CPU s | mosquitto CPU µs/msg | libmqtt CPU µs/msg "
        "| received mosquitto | received libmqtt |",
        "|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    readme_rows = []
    us = lambda r: 1e6 * r["broker_cpu_s"] / r["received"] if r["received"] else float("nan")
    for qos in qos_levels:
        o = median_run([r for r in runs if r["broker"] == "libmqtt" and r["qos"] == qos])
        for mname, label in (("mosquitto", "defaults"), ("mosquitto-unlimited", "limits lifted")):
            mine = [r for r in runs if r["broker"] == mname and r["qos"] == qos]
            if not mine:
                continue
            m = median_run(mine)
            # The ratio pairs the two brokers' runs of the same repetition
            # (adjacent in time, so under the same background load) and
            # takes the median of those ratios.
            paired = []
            for rep in range(1, args.reps + 1):
                a = [r for r in mine if r["rep"] == rep]
                b = [r for r in runs if r["broker"] == "libmqtt" and r["qos"] == qos and r["rep"] == rep]
                if a and b and a[0]["received_per_s"]:
                    paired.append(b[0]["received_per_s"] / a[0]["received_per_s"])
            paired.sort()
            ratio = paired[len(paired) // 2] if paired else float("nan")
            case = f"QoS {qos}, {args.publishers} pub → {args.subscribers} sub, {args.payload} B"
            row = (f"| {case} | {label} | {fmt_rate(m['received_per_s'])} | {fmt_rate(o['received_per_s'])} | "
                   f"{ratio:.2f}× | {m['broker_cpu_s']:.2f} | {o['broker_cpu_s']:.2f} | {us(m):.2f} | {us(o):.2f} | "
                   f"{m['received']:,}/{m['expected']:,} | {o['received']:,}/{o['expected']:,} |")
            lines.append(row)
            readme_rows.append(row)
    lines += ["", "mosquitto config: *defaults* = `listener PORT 127.0.0.1`, `allow_anonymous true`, "
              "`log_dest none`; *limits lifted* = the same plus `max_inflight_messages 0` and "
              "`max_queued_messages 0` (no per-client in-flight or queue bound, like ours), because "
              "with its defaults mosquitto drops QoS 1 messages beyond 20 in flight + 1,000 queued per "
              "subscriber while the publishers keep going. Our broker runs with its defaults "
              "(`--port 0`)."]
    lines += ["", "Every run:", "",
              "| rep | QoS | broker | msg/s received | received | lost | dup | reordered | wall s "
              "| broker CPU s (user + sys) | load CPU s | window | exit |",
              "|--:|--:|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in runs:
        lines.append(f"| {r['rep']} | {r['qos']} | {r['broker']} | {fmt_rate(r['received_per_s'])} | "
                     f"{r['received']:,} | {r['lost']:,} | {r['duplicates']} | {r['out_of_order']} | "
                     f"{r['wall_s']:.3f} | {r['broker_cpu_s']:.2f} ({r['broker_user_s']:.2f} + {r['broker_sys_s']:.2f}) | "
                     f"{r['load_cpu_s']:.2f} | "
                     f"{r['window'] or '—'} | {r['rc']} |")
    lines += ["", END]
    text = "\n".join(lines) + "\n"
    print(text)

    if args.markdown_out:
        replace_section(args.markdown_out, text, lines[0], BEGIN, END)
        print(f"wrote {args.markdown_out}", file=sys.stderr)
    # mqtt-load exits 3 when QoS 1 messages are missing: expected of
    # mosquitto's defaults (reported in the table), a failure of any other.
    failed = [r for r in runs if r["rc"] in (1, 2) or (r["rc"] == 3 and r["broker"] != "mosquitto")]
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
