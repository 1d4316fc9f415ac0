"""The Python benchmarks of issues 5 and 12: libmqtt beside paho-mqtt 2.x and
gmqtt through mosquitto (and through libmqtt's own broker) on 127.0.0.1, and
the codec beside the PyPI ``mqtt5``.

    make bench-py          # = python3 bench/py/run.py
    python3 bench/py/run.py [--reps 3] [--scale 1.0] [--qos 0 1 2] [--only LIB ...]
                            [--brokers mosquitto libmqtt] [--no-install]

``libmqtt-sync`` is ``libmqtt.sync.Client`` running the very program the
``paho`` row runs (``bench/py/clients.py``: paho's ``loop_start`` publisher
and ``loop()`` subscriber), with ``import libmqtt.sync as mqtt`` instead of
``import paho.mqtt.client as mqtt``. The ``libmqtt`` broker is the release
build of ``core/examples/broker.rs`` (built with cargo if missing).

Run by any ``python3``, the script first creates ``bench/py/.venv`` if
missing, installs paho-mqtt 2.x, gmqtt and mqtt5 there, and ``./py`` (pip
builds it with maturin in release mode; ``--no-install`` skips that), then
runs itself in it.

For every QoS (0: 200k messages, 1: 100k, 2: 20k; 64-byte payloads, MQTT 5.0)
and every client library, in turn and repeated ``--reps`` times (libraries
alternate within a repetition): start the subscriber process, wait until it
is subscribed, start the publisher process, wait for both (a subscriber
stops at N messages, or after 10 s without one: the loss is reported).
Each process reports its own CPU time (user + system, all threads) over the
work only (publisher: first publish to last acknowledgement; subscriber:
subscribed to last message), so interpreter start-up and imports are not
counted. Throughput: messages received / (last received - first publish),
on the machine-wide monotonic clock. The median of the repetitions is kept.

mosquitto (Debian's /usr/sbin/mosquitto) runs with ``max_inflight_messages
0`` and ``max_queued_messages 0`` (no limit: it never drops QoS 1/2 under
load) and ``set_tcp_nodelay true``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = os.path.join(HERE, "clients.py")
MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")

COUNTS = {0: 200_000, 1: 100_000, 2: 20_000}
WINDOW = 100  # QoS 1/2 messages in flight, every library
LIBS = ["libmqtt", "libmqtt-sync", "libmqtt-sansio", "paho", "gmqtt"]
BROKERS = ["mosquitto", "libmqtt"]
LABELS = {
    "libmqtt": "libmqtt (asyncio `Client`)",
    "libmqtt-sync": "libmqtt (`libmqtt.sync.Client`, paho's program)",
    "libmqtt-sansio": "libmqtt (sans-IO `Client`, blocking socket loop)",
    "paho": "paho-mqtt",
    "gmqtt": "gmqtt",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mosquitto(tmp: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "max_inflight_messages 0\n"
            "max_queued_messages 0\n"
            "set_tcp_nodelay true\n"
            "persistence false\n"
            "log_type error\n"
        )
    proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("mosquitto did not start")


def start_ours(tmp: str) -> tuple[subprocess.Popen, int]:
    """libmqtt's example broker (core/examples/broker.rs, release), built if missing."""
    import re

    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    exe = os.path.join(target, "release", "examples", "broker")
    if not os.path.exists(exe):
        print("building core/examples/broker.rs (release)", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "mqtt-core", "--example", "broker"], cwd=REPO, check=True)
    proc = subprocess.Popen([exe, "--port", "0"], stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "broker.log"), "w"), text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on [^\s:]+:(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"unexpected first line from the broker: {line!r}")
    return proc, int(m.group(1))


def spawn(lib: str, role: str, port: int, topic: str, qos: int, count: int) -> subprocess.Popen:
    args = [sys.executable, CLIENTS, lib, role, "--port", str(port), "--topic", topic,
            "--qos", str(qos), "--count", str(count)]
    if role == "pub" and qos > 0:
        args += ["--window", str(WINDOW)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[dict | None, float]:
    """Waits for the process (killing it after ``timeout``); returns its JSON
    report and its whole-life CPU seconds (os.wait4, start-up included)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read() if proc.stdout else ""
    report = None
    for line in out.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
    return report, ru.ru_utime + ru.ru_stime


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(lib: str, qos: int, n: int, port: int, rep: int, broker_pid: int) -> dict:
    topic = f"bench/{lib}/{qos}/{rep}/{time.monotonic_ns()}"
    sub = spawn(lib, "sub", port, topic, qos, n)
    line = sub.stdout.readline()  # READY
    if line.strip() != "READY":
        finish(sub, 5)
        return {"ok": False, "why": f"subscriber did not subscribe: {line!r}"}
    b0 = proc_cpu(broker_pid)
    pub = spawn(lib, "pub", port, topic, qos, n)
    prep, pub_total = finish(pub, 300)
    srep, sub_total = finish(sub, 60)
    broker_cpu = proc_cpu(broker_pid) - b0
    if not prep or not srep:
        return {"ok": False, "why": f"no report (pub rc {pub.returncode}, sub rc {sub.returncode})"}
    received = srep["count"]
    elapsed = srep["t_end"] - prep["t_start"]
    return {
        "ok": True,
        "received": received,
        "lost": n - received,
        "rate": received / elapsed if elapsed > 0 else 0.0,
        "pub_us": prep["cpu"] / n * 1e6,
        "sub_us": srep["cpu"] / max(received, 1) * 1e6,
        "broker_us": broker_cpu / n * 1e6,
        "pub_total_s": pub_total,
        "sub_total_s": sub_total,
        "pub_s": prep["t_end"] - prep["t_start"],
        "sub_reads": srep.get("reads"),
        "pub_reads": prep.get("reads"),
    }


def network(args) -> dict:
    results: dict = {}
    for name in args.brokers:
        network_one(args, name, results)
    return results


def network_one(args, broker_name: str, results: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_mosquitto(tmp) if broker_name == "mosquitto" else start_ours(tmp)
        try:
            for qos in args.qos:
                n = max(1, int(COUNTS[qos] * args.scale))
                for rep in range(args.reps):
                    libs = args.only if rep % 2 == 0 else list(reversed(args.only))
                    for lib in libs:
                        r = one_run(lib, qos, n, port, rep, broker.pid)
                        results.setdefault((broker_name, lib, qos), []).append(r)
                        if r["ok"]:
                            print(
                                f"  {broker_name:9} QoS {qos} {lib:15} rep {rep}: {r['rate']:9.0f} msg/s, "
                                f"pub {r['pub_us']:6.2f} us/msg, sub {r['sub_us']:6.2f} us/msg, "
                                f"broker {r['broker_us']:5.1f} us/msg, "
                                f"lost {r['lost']}"
                                + (f", msgs per read: sub {r['received'] / r['sub_reads']:.1f}" if r["sub_reads"] else "")
                                + (f", pub {n / r['pub_reads']:.1f}" if r["pub_reads"] else ""),
                                file=sys.stderr,
                            )
                        else:
                            print(f"  {broker_name:9} QoS {qos} {lib:15} rep {rep}: FAILED {r['why']}", file=sys.stderr)
                        if broker.poll() is not None:
                            raise SystemExit(f"{broker_name} exited")
        finally:
            broker.terminate()
            broker.wait(10)


def median_of(runs: list, key: str) -> float | None:
    vals = [r[key] for r in runs if r["ok"]]
    return statistics.median(vals) if vals else None


def fmt(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def network_table(results: dict, args) -> str:
    ours = "libmqtt"
    peers = [lib for lib in args.only if lib in ("paho", "gmqtt")]
    head = (
        "| broker | QoS | messages | client | received msg/s | CPU µs/msg publisher | CPU µs/msg subscriber "
        "| broker CPU µs/msg | lost |"
        + "".join(f" ours/{p} msg/s |" for p in peers)
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for broker_name in args.brokers:
        for qos in args.qos:
            n = max(1, int(COUNTS[qos] * args.scale))
            for lib in args.only:
                runs = results.get((broker_name, lib, qos), [])
                rate = median_of(runs, "rate")
                lost = max((r["lost"] for r in runs if r["ok"]), default=None)
                fails = sum(1 for r in runs if not r["ok"])
                lost_s = ("n/a" if lost is None else str(lost)) + (f" ({fails} failed)" if fails else "")
                row = (
                    f"| {broker_name} | {qos} | {n:,} | {LABELS[lib]} | {fmt(rate, 0)} | {fmt(median_of(runs, 'pub_us'), 2)} | "
                    f"{fmt(median_of(runs, 'sub_us'), 2)} | {fmt(median_of(runs, 'broker_us'), 1)} | {lost_s} |"
                )
                for p in peers:
                    if lib.startswith(ours):
                        row += f" {ratio(rate, median_of(results.get((broker_name, p, qos), []), 'rate'))} |"
                    else:
                        row += " |"
                lines.append(row)
    return "\n".join(lines)


# ------------------------------------------------------------------- codec


def codec(args) -> str:
    import libmqtt
    import mqtt5

    topic = "sensors/7/temperature"
    payload = bytes(range(256))
    ours_pkt = libmqtt.Publish(topic, payload, qos=1, packet_id=7)
    wire = libmqtt.encode(ours_pkt)
    peer_pkt = mqtt5.PublishPacket(topic, payload, qos=mqtt5.QoS.AT_LEAST_ONCE, packet_id=7)
    peer_wire = peer_pkt.write()
    # Both encode the same bytes, and each decodes the other's.
    same = bytes(peer_wire) == bytes(wire)
    back, used = mqtt5.read(memoryview(wire))
    assert used == len(wire) and back.payload == payload and back.packet_id == 7
    assert libmqtt.decode(peer_wire).payload == payload

    enc, dec, read, mv = libmqtt.encode, libmqtt.decode, mqtt5.read, memoryview(peer_wire)
    cases = [
        ("decode", lambda: dec(wire), lambda: read(mv)),
        ("encode", lambda: enc(ours_pkt), lambda: peer_pkt.write()),
    ]
    rows = [
        f"Codec, in process: a QoS 1 PUBLISH, MQTT 5.0, topic `{topic}`, 256-byte payload, {len(wire)} bytes on the wire "
        f"(identical bytes from both encoders: {'yes' if same else 'no'}). `timeit`, best of 5, ns per operation.",
        "",
        "| operation | libmqtt (`libmqtt.decode` / `libmqtt.encode`) | mqtt5 (`mqtt5.read` / `PublishPacket.write`) | mqtt5 / libmqtt time |",
        "|---|---|---|---|",
    ]
    for name, ours, peer in cases:
        best = {}
        for label, fn in (("ours", ours), ("peer", peer)):
            timer = timeit.Timer(fn)
            number, _ = timer.autorange()
            number = max(number, 10_000)
            best[label] = min(timer.repeat(repeat=5, number=number)) / number * 1e9
        rows.append(
            f"| {name} | {best['ours']:.0f} ns | {best['peer']:.0f} ns | {best['peer'] / best['ours']:.2f}x |"
        )
    return "\n".join(rows)


VENV = os.path.join(HERE, ".venv")
REPO = os.path.dirname(os.path.dirname(HERE))
PEERS = ["paho-mqtt>=2,<3", "gmqtt", "mqtt5"]


def bootstrap(argv: list) -> None:
    """Runs the benchmark inside bench/py/.venv (created if missing), after
    installing the peers and ``./py`` (a release build) into it."""
    py = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if subprocess.run([py, "-c", "import paho.mqtt, gmqtt, mqtt5"], capture_output=True).returncode:
        subprocess.run(pip + PEERS, check=True)
    missing = subprocess.run([py, "-c", "import libmqtt"], capture_output=True).returncode
    if "--no-install" not in argv or missing:
        print("installing ./py into bench/py/.venv (release build)", file=sys.stderr)
        subprocess.run(pip + [os.path.join(REPO, "py")], check=True)
    os.execv(py, [py, os.path.abspath(__file__), *argv])


def main() -> None:
    bootstrap(sys.argv[1:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-install", action="store_true", help="skip reinstalling ./py into bench/py/.venv")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--scale", type=float, default=1.0, help="multiply the message counts (quick runs)")
    p.add_argument("--qos", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--only", nargs="*", default=LIBS, choices=LIBS)
    p.add_argument("--brokers", nargs="*", default=BROKERS, choices=BROKERS)
    p.add_argument("--no-network", action="store_true")
    p.add_argument("--no-codec", action="store_true")
    args = p.parse_args()

    import gmqtt, libmqtt, paho.mqtt  # noqa: E401, F401  (fail early if one is missing)

    def ver(dist: str) -> str:
        from importlib.metadata import version

        try:
            return version(dist)
        except Exception:
            return "?"

    mosq = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True).stdout.splitlines()[0]
    print(
        f"Python {sys.version.split()[0]}, libmqtt {ver('libmqtt')}, paho-mqtt {ver('paho-mqtt')}, "
        f"gmqtt {ver('gmqtt')}, mqtt5 {ver('mqtt5')}, {mosq}; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at start; {args.reps} repetitions, median.\n"
    )
    if not args.no_network:
        results = network(args)
        print(network_table(results, args))
        print()
    if not args.no_codec:
        print(codec(args))


if __name__ == "__main__":
    main()
