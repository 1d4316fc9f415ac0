#!/usr/bin/env python3
"""Memory per idle connection: our broker beside Debian's mosquitto.

A benchmark, not a test (issue 17). For each broker in turn: start it on a
free 127.0.0.1 port, read its memory, open N TCP connections that each send
a 3.1.1 CONNECT (clean session, keep alive 600, a unique client id) and read
the CONNACK, let them idle, read the memory again, close them all, and read
it once more (the recovery). Prints, side by side, the broker's RSS (VmRSS
from /proc/PID/status) and PSS (/proc/PID/smaps_rollup) at each point and
the bytes per idle connection ((with N idle - before) / N).

Our broker is any command that prints `listening on ADDR` once bound, with
`{port}` in it replaced by a free port; or any command with --address
HOST:PORT (e.g. a port set in its configuration file), waited for until it
accepts a connection. mosquitto gets a configuration with one listener
on a free port, `allow_anonymous true`, `max_connections -1`.

Python 3.11 standard library only. The connections are opened by several
client processes (each holds --per-proc sockets, under its own descriptor
limit) driving non-blocking sockets with `selectors`.

    bench/idle-connections.py                       # 10,000 connections
    bench/idle-connections.py -n 2000 --broker 'target/release/libmqtt-broker -p {port}'
    bench/idle-connections.py --broker 'target/release/libmqtt-broker -c my.conf' \
        --address 127.0.0.1:1884
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import resource
import selectors
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_BROKER = os.path.join(ROOT, "target/release/examples/broker") + " --port {port}"
CONNACK_OK = b"\x20\x02\x00\x00"


def raise_nofile(want: int) -> int:
    """Raises this process's RLIMIT_NOFILE towards `want` (bounded by the
    hard limit); returns the soft limit in force. Children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as e:
            print(f"note: could not raise the open-file limit to {target}: {e}", file=sys.stderr)
    return soft


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_packet(client_id: str) -> bytes:
    """A 3.1.1 CONNECT: clean session, keep alive 600, `client_id`."""
    cid = client_id.encode()
    var = b"\x00\x04MQTT\x04\x02" + (600).to_bytes(2, "big")
    payload = len(cid).to_bytes(2, "big") + cid
    body = var + payload
    n = len(body)
    rl = bytearray()
    while True:
        b = n % 128
        n //= 128
        rl.append(b | 0x80 if n else b)
        if not n:
            break
    return b"\x10" + bytes(rl) + body


def memory(pid: int) -> dict[str, int]:
    """VmRSS and Pss of `pid`, in KB (Pss absent if unreadable)."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["pss"] = int(line.split()[1])
    except OSError:
        pass
    return out


def settled_memory(pid: int, settle: float) -> dict[str, int]:
    """Memory once it stopped moving (two equal readings 0.2 s apart), or
    after `settle` seconds."""
    deadline = time.monotonic() + settle
    last = memory(pid)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        cur = memory(pid)
        if cur == last:
            return cur
        last = cur
    return last


# ----- client processes ------------------------------------------------------


def client_proc(host: str, port: int, first: int, count: int, tag: str, conn, timeout: float) -> None:
    """Opens `count` connections, CONNECT/CONNACK on each, reports over the
    pipe `conn`, then holds them until told to close."""
    raise_nofile(count + 64)
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    pending: dict[socket.socket, list] = {}  # sock -> [to_send, received]
    done = 0
    failed = 0
    deadline = time.monotonic() + timeout
    batch = 200  # connections in flight at once (the broker's listen backlog)
    next_i = 0
    err = ""
    try:
        while done + failed < count and time.monotonic() < deadline:
            while next_i < count and len(pending) < batch:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.connect_ex((host, port))
                socks.append(s)
                pending[s] = [connect_packet(f"{tag}-{first + next_i}"), b""]
                sel.register(s, selectors.EVENT_WRITE)
                next_i += 1
            for key, ev in sel.select(timeout=0.5):
                s = key.fileobj
                st = pending[s]
                try:
                    if ev & selectors.EVENT_WRITE and st[0]:
                        n = s.send(st[0])
                        st[0] = st[0][n:]
                        if not st[0]:
                            sel.modify(s, selectors.EVENT_READ)
                        continue
                    data = s.recv(16)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    err = str(e)
                    data = b""
                if not data:
                    failed += 1
                    sel.unregister(s)
                    del pending[s]
                    continue
                st[1] += data
                if len(st[1]) >= 4:
                    sel.unregister(s)
                    del pending[s]
                    if st[1][:4] == CONNACK_OK:
                        done += 1
                    else:
                        failed += 1
                        err = f"CONNACK {st[1][:4].hex()}"
    except OSError as e:
        err = str(e)
    conn.send(("ready", done, failed + (count - done - failed), err))
    conn.recv()  # "close"
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
    conn.send(("closed",))


def hold_connections(host: str, port: int, n: int, per_proc: int, tag: str, timeout: float):
    """Starts the client processes; returns (processes, pipes, connected,
    failed, first error)."""
    ctx = mp.get_context("fork")
    procs, pipes = [], []
    for first in range(0, n, per_proc):
        count = min(per_proc, n - first)
        parent, child = ctx.Pipe()
        p = ctx.Process(target=client_proc, args=(host, port, first, count, tag, child, timeout))
        p.start()
        procs.append(p)
        pipes.append(parent)
    ok = bad = 0
    err = ""
    for pipe in pipes:
        if pipe.poll(timeout + 10):
            _, d, f, e = pipe.recv()
            ok += d
            bad += f
            err = err or e
        else:
            err = err or "client process did not answer"
    return procs, pipes, ok, bad, err


def release(procs, pipes) -> None:
    for pipe in pipes:
        try:
            pipe.send("close")
        except OSError:
            pass
    for pipe in pipes:
        try:
            if pipe.poll(30):
                pipe.recv()
        except (OSError, EOFError):
            pass
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.kill()


# ----- brokers ---------------------------------------------------------------


def start_ours(cmd: str, wait: float, address: str | None = None):
    port = free_port() if "{port}" in cmd else None
    argv = shlex.split(cmd.replace("{port}", str(port) if port else "0"))
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + wait
    if address:
        # The address is known (a configuration file names it): wait until
        # it accepts a connection.
        host, _, port_s = address.rpartition(":")
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {p.returncode}")
            try:
                socket.create_connection((host, int(port_s)), timeout=0.5).close()
                return p, host, int(port_s)
            except OSError:
                time.sleep(0.05)
        p.kill()
        raise RuntimeError(f"{argv[0]} did not accept connections on {address} in {wait} s")
    assert p.stdout is not None
    os.set_blocking(p.stdout.fileno(), False)
    buf = ""
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited with {p.returncode}")
        chunk = p.stdout.readline()
        if chunk:
            buf += chunk
            m = re.search(r"listening on (\S+):(\d+)", buf)
            if m:
                host = m.group(1).strip("[]")
                if host in ("0.0.0.0", "::"):
                    host = "127.0.0.1"
                return p, host, int(m.group(2))
        else:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError(f"{argv[0]} did not print `listening on ADDR` in {wait} s")


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )


def start_mosquitto(exe: str, tmp: str, wait: float):
    port = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_connections -1\n")
        f.write("persistence false\nlog_dest none\n")
    p = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {p.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return p, "127.0.0.1", port
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("mosquitto did not listen in time")


class Attached:
    """A broker this script did not start (--attach): measured, not stopped."""

    def __init__(self, pid: int):
        self.pid = pid

    def poll(self):
        return None if os.path.exists(f"/proc/{self.pid}") else 0

    def terminate(self):
        pass

    def wait(self, _timeout=None):
        return 0


def measure(name, start, n, per_proc, settle, timeout, linger) -> dict:
    p, host, port = start()
    try:
        time.sleep(0.3)
        before = settled_memory(p.pid, settle)
        procs, pipes, ok, bad, err = hold_connections(host, port, n, per_proc, name, timeout)
        try:
            idle = settled_memory(p.pid, settle)
            alive = p.poll() is None
        finally:
            release(procs, pipes)
        time.sleep(0.5)
        after = settled_memory(p.pid, settle)
        # Allocators that give memory back with a delay (jemalloc's decay,
        # mimalloc's purge) get `linger` seconds more, with no traffic.
        time.sleep(linger)
        later = memory(p.pid)
        return {"name": name, "before": before, "idle": idle, "after": after, "later": later,
                "ok": ok, "failed": bad, "error": err, "alive": alive}
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def report(results: list[dict], n: int, linger: float) -> None:
    def per_conn(r, key):
        if key not in r["idle"] or not r["ok"]:
            return "-"
        return f"{(r['idle'][key] - r['before'][key]) * 1024 / r['ok'] / 1024:.2f}"

    def kb(r, when, key):
        v = r[when].get(key)
        return "-" if v is None else f"{v / 1024:.1f} MB"

    print(f"\nMemory per idle connection, {n} connections (3.1.1, clean session, keep alive 600)\n")
    print("| broker | connected | RSS before | RSS idle | RSS after close | KB/conn (RSS) "
          "| PSS before | PSS idle | PSS after close | KB/conn (PSS) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['ok']} | {kb(r, 'before', 'rss')} | {kb(r, 'idle', 'rss')} "
              f"| {kb(r, 'after', 'rss')} | {per_conn(r, 'rss')} | {kb(r, 'before', 'pss')} "
              f"| {kb(r, 'idle', 'pss')} | {kb(r, 'after', 'pss')} | {per_conn(r, 'pss')} |")
    for r in results:
        if r["failed"] or not r["alive"]:
            print(f"\nnote: {r['name']}: {r['failed']} connections failed"
                  f"{' (' + r['error'] + ')' if r['error'] else ''}"
                  f"{'; the broker exited' if not r['alive'] else ''}")
    print(f"\nRecovery: RSS after close minus RSS before (at once; {linger:g} s later)")
    for r in results:
        print(f"  {r['name']}: {(r['after']['rss'] - r['before']['rss']) / 1024:+.1f} MB; "
              f"{(r['later']['rss'] - r['before']['rss']) / 1024:+.1f} MB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--connections", type=int, default=10_000)
    ap.add_argument("--broker", default=DEFAULT_BROKER,
                    help="our broker's command; `{port}` becomes a port (default: %(default)s)")
    ap.add_argument("--address", metavar="HOST:PORT",
                    help="where --broker listens, when it does not print `listening on ADDR` "
                    "(e.g. a port set in its configuration file)")
    ap.add_argument("--attach", metavar="PID@HOST:PORT",
                    help="measure a broker already running (e.g. under heaptrack) instead of --broker")
    ap.add_argument("--name", default="ours", help="our broker's name in the table")
    ap.add_argument("--no-mosquitto", action="store_true", help="measure our broker only")
    ap.add_argument("--per-proc", type=int, default=2500, help="connections per client process")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds to wait for memory to settle")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to open the connections")
    ap.add_argument("--linger", type=float, default=12.0,
                    help="seconds after closing before the last reading (delayed give-back)")
    args = ap.parse_args()

    n = args.connections
    soft = raise_nofile(n + 1024)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if soft < n + 64:
        print(f"error: the open-file limit is {soft} (hard {hard}); {n} connections need more "
              "for the broker (try `ulimit -Hn` as root, or -n smaller)", file=sys.stderr)
        return 2
    if args.per_proc + 64 > soft:
        args.per_proc = soft - 64

    results = []
    exe = find_mosquitto()
    with tempfile.TemporaryDirectory() as tmp:
        if args.attach:
            pid, _, addr = args.attach.partition("@")
            host, _, port = addr.rpartition(":")
            start = lambda: (Attached(int(pid)), host, int(port))  # noqa: E731
        else:
            start = lambda: start_ours(args.broker, 20, args.address)  # noqa: E731
        results.append(measure(args.name, start, n, args.per_proc, args.settle, args.timeout,
                               args.linger))
        if args.no_mosquitto:
            pass
        elif exe is None:
            print("note: mosquitto not found (apt-get install mosquitto); ours only", file=sys.stderr)
        else:
            results.append(measure("mosquitto", lambda: start_mosquitto(exe, tmp, 20), n,
                                   args.per_proc, args.settle, args.timeout, args.linger))
    report(results, n, args.linger)
    return 0


if __name__ == "__main__":
    sys.exit(main())
