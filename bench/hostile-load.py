#!/usr/bin/env python3
"""Hostile load against Debian's mosquitto and libmqtt's broker (issue 17's
benchmark, not a test), both given the SAME mosquitto.conf.

Phases (each on a freshly started broker, mosquitto then ours):
  idle        N clients connect (MQTT 3.1.1, keep alive 600) and stay idle;
              memory per idle connection = (RSS with them - RSS before) / N
  slowloris   K sockets each sending a CONNECT one byte per second
  garbage     sockets sending random bytes, reconnecting, for a few seconds
  oversized   after CONNECT, a PUBLISH whose length field says 256 MB,
              then its body slowly (a few KB/s per socket)
  stalled     a subscriber (small receive buffer) stops reading while a
              publisher floods QoS 0 1 KB messages on its topic
  churn       connect / CONNACK / DISCONNECT in a loop
  sessions    persistent sessions (clean session false, one subscription
              each), then disconnect: the broker keeps them
  subs        many subscriptions spread over clients (200 per client, under
              our broker's per-client default of 256), then disconnect

For each phase: the broker's RSS before (after one round trip), its peak
(VmHWM: the process is new for the phase), its RSS after recovery (the
hostile clients gone, a settle time), and whether a fresh client still gets
a QoS 1 round trip (subscribe, publish, PUBACK, delivery) during the phase
and after it, with its latency (mosquitto's ~40 ms there is its default of
Nagle's algorithm on, `set_tcp_nodelay false`, against delayed ACKs: not
a sign of load).

Usage:
    bench/hostile-load.py [--phases idle,slowloris,...] [--markdown-out FILE] [--no-build]
    QUICK=1 bench/hostile-load.py        (smaller counts, shorter phases)
"""

import argparse
import os
import random
import resource
import shutil
import socket
import struct
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brokers as B  # noqa: E402

PHASES = ["idle", "slowloris", "garbage", "oversized", "stalled", "churn", "sessions", "subs"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- a minimal MQTT 3.1.1 codec (stdlib only) ----

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect_pkt(client_id, clean=True, keepalive=600):
    return packet(0x10, mstr("MQTT") + bytes([4, 0x02 if clean else 0x00]) + struct.pack("!H", keepalive)
                  + mstr(client_id))


def subscribe_pkt(pid, filters, qos=0):
    return packet(0x82, struct.pack("!H", pid) + b"".join(mstr(f) + bytes([qos]) for f in filters))


def publish_pkt(topic, payload, qos=0, pid=1):
    body = mstr(topic) + (struct.pack("!H", pid) if qos else b"") + payload
    return packet(0x30 | (qos << 1), body)


DISCONNECT = b"\xe0\x00"


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the broker")
        buf += chunk
    return buf


def read_packet(s):
    first = recv_exact(s, 1)[0]
    n, mult = 0, 1
    for _ in range(4):
        b = recv_exact(s, 1)[0]
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return first, recv_exact(s, n)


def dial(port, timeout=5.0, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def mqtt_connect(port, cid, clean=True, timeout=5.0, rcvbuf=None):
    s = dial(port, timeout, rcvbuf)
    s.sendall(connect_pkt(cid, clean))
    first, body = read_packet(s)
    if first != 0x20 or len(body) < 2 or body[1] != 0:
        s.close()
        raise ConnectionError(f"CONNACK {first:#x} {body.hex()}")
    return s


def round_trip(port, timeout=5.0):
    """A fresh client's QoS 1 round trip: (ms, None) or (None, error)."""
    tag = f"{os.getpid()}-{random.getrandbits(32):08x}"
    topic = f"hostile/check/{tag}"
    t0 = time.monotonic()
    sub = pub = None
    try:
        sub = mqtt_connect(port, f"chk-s-{tag}", timeout=timeout)
        sub.sendall(subscribe_pkt(1, [topic], qos=1))
        first, body = read_packet(sub)
        if first != 0x90 or body[-1] > 2:
            return None, f"SUBACK {first:#x} {body.hex()}"
        pub = mqtt_connect(port, f"chk-p-{tag}", timeout=timeout)
        pub.sendall(publish_pkt(topic, b"ping", qos=1, pid=7))
        first, body = read_packet(pub)
        if first != 0x40:
            return None, f"expected PUBACK, got {first:#x}"
        first, body = read_packet(sub)
        if first & 0xF0 != 0x30 or not body.endswith(b"ping"):
            return None, f"expected the PUBLISH, got {first:#x}"
        for s in (sub, pub):
            s.sendall(DISCONNECT)
        return 1000 * (time.monotonic() - t0), None
    except (OSError, ConnectionError, IndexError) as e:
        return None, f"{type(e).__name__}: {e}"
    finally:
        for s in (sub, pub):
            if s:
                s.close()


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def closed_by_peer(socks, drain_s=0.5):
    """How many of `socks` the broker has closed (EOF or reset), reading
    (and discarding) what was sent to them first: a socket whose buffer
    still holds data is read until it is empty or closed, at most `drain_s`
    seconds in all. Returns (closed, bytes drained)."""
    n = drained = 0
    end = time.monotonic() + drain_s
    for s in socks:
        try:
            s.settimeout(0.05)
            while True:
                data = s.recv(1 << 20)
                if not data:
                    n += 1
                    break
                drained += len(data)
                if time.monotonic() > end:
                    break
        except socket.timeout:
            pass
        except OSError:
            n += 1
    return n, drained


# ---- phases: each returns (notes, sockets to close before recovery);
#      `during` is called while the hostile load is on. ----

def phase_idle(port, cfg, during):
    n = cfg["idle"]
    socks, failed = [], 0
    base = cfg["rss0"]
    t0 = time.monotonic()
    # Pipelined: connect and send CONNECT in batches, then read the CONNACKs
    # (batches of 100: mosquitto's listen backlog; beyond it SYNs retry after 1 s).
    for i in range(0, n, 100):
        batch = []
        for j in range(i, min(n, i + 100)):
            try:
                s = dial(port, 10)
                s.sendall(connect_pkt(f"idle-{j}"))
                batch.append(s)
            except OSError:
                failed += 1
        for s in batch:
            try:
                first, body = read_packet(s)
                if first == 0x20 and body[1] == 0:
                    socks.append(s)
                    continue
            except (OSError, ConnectionError):
                pass
            failed += 1
            s.close()
    took = time.monotonic() - t0
    time.sleep(0.5)
    rss = B.rss_kb(cfg["pid"]) or 0
    per = (rss - base) * 1024 / max(1, len(socks))
    during()
    return (f"{len(socks):,} connected ({failed} failed) in {took:.1f} s; RSS with them {rss / 1024:.1f} MB: "
            f"**{per / 1024:.2f} KB per idle connection**"), socks


def phase_slowloris(port, cfg, during):
    k, secs = cfg["slow_socks"], cfg["slow_s"]
    socks = []
    for i in range(k):
        try:
            socks.append(dial(port, 2))
        except OSError:
            break
    pkt = connect_pkt(f"slowloris-client-{random.getrandbits(32):08x}")
    stop = threading.Event()

    def drip():
        for i in range(min(len(pkt), secs)):
            for s in socks:
                try:
                    s.send(pkt[i:i + 1])
                except OSError:
                    pass
            if stop.wait(1.0):
                return

    t = threading.Thread(target=drip, daemon=True)
    t.start()
    time.sleep(min(2.0, secs / 2))
    during()
    t.join(secs + 5)
    closed, _ = closed_by_peer(socks)
    return f"{len(socks)} sockets, 1 byte/s for {secs} s: {closed} closed by the broker", socks


def phase_garbage(port, cfg, during):
    secs = cfg["garbage_s"]
    stop = threading.Event()
    stats = {"conns": 0, "bytes": 0, "closed": 0}

    def spray():
        rnd = random.Random(17)
        while not stop.is_set():
            try:
                s = dial(port, 1)
            except OSError:
                time.sleep(0.01)
                continue
            stats["conns"] += 1
            try:
                for _ in range(16):
                    data = rnd.randbytes(4096)
                    s.sendall(data)
                    stats["bytes"] += len(data)
            except OSError:
                stats["closed"] += 1
            s.close()

    threads = [threading.Thread(target=spray, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(secs / 2)
    during()
    time.sleep(secs / 2)
    stop.set()
    for t in threads:
        t.join(10)
    return (f"{stats['conns']:,} connections, {stats['bytes'] / 1e6:.0f} MB of random bytes in {secs} s; "
            f"{stats['closed']:,} cut by the broker mid-send"), []


def phase_oversized(port, cfg, during):
    k, secs, rate = cfg["big_socks"], cfg["big_s"], cfg["big_rate"]
    socks = []
    for i in range(k):
        try:
            s = mqtt_connect(port, f"big-{i}", timeout=5)
            # PUBLISH QoS 0, remaining length 268,435,455 (the largest: 256 MB).
            s.sendall(b"\x30\xff\xff\xff\x7f" + mstr("hostile/big"))
            socks.append(s)
        except (OSError, ConnectionError):
            break
    stop = threading.Event()
    sent = [0]
    chunk = b"\0" * (rate // 10)

    def body():
        end = time.monotonic() + secs
        while time.monotonic() < end and not stop.is_set():
            for s in socks:
                try:
                    s.send(chunk)
                    sent[0] += len(chunk)
                except OSError:
                    pass
            time.sleep(0.1)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    time.sleep(min(2.0, secs / 2))
    during()
    t.join(secs + 5)
    closed, _ = closed_by_peer(socks)
    return (f"{len(socks)} sockets announcing 256 MB, body at {rate / 1024:.0f} KB/s each for {secs} s "
            f"({sent[0] / 1e6:.1f} MB sent): {closed} closed by the broker"), socks


def phase_stalled(port, cfg, during):
    secs = cfg["stall_s"]
    topic = "hostile/flood"
    sub = mqtt_connect(port, "stalled-sub", rcvbuf=4096)
    sub.sendall(subscribe_pkt(1, [topic], qos=0))
    read_packet(sub)
    # From here on the subscriber reads nothing.
    pub = mqtt_connect(port, "flood-pub")
    batch = publish_pkt(topic, b"x" * 1024) * 64
    stop = threading.Event()
    stats = {"sent": 0, "err": None}

    def flood():
        end = time.monotonic() + secs
        pub.settimeout(2.0)
        while time.monotonic() < end and not stop.is_set():
            try:
                pub.sendall(batch)
                stats["sent"] += 64
            except OSError as e:
                stats["err"] = f"{type(e).__name__}"
                return

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    time.sleep(secs / 2)
    during()
    t.join(secs + 10)
    stop.set()
    rss = B.rss_kb(cfg["pid"]) or 0
    cut, drained = closed_by_peer([sub], drain_s=5.0)
    return (f"{stats['sent']:,} × 1 KB published in {secs} s ({stats['sent'] * 1024 / 1e6 / secs:.0f} MB/s)"
            f"{', publisher stopped: ' + stats['err'] if stats['err'] else ''}; RSS at the end {rss / 1024:.1f} MB; "
            f"stalled subscriber then read {drained / 1e6:.1f} MB and was "
            f"{'found disconnected' if cut else 'still connected'}"), [sub, pub]


def phase_churn(port, cfg, during):
    secs = cfg["churn_s"]
    stats = {"ok": 0, "fail": 0}
    stop = threading.Event()

    def churn(w):
        i = 0
        while not stop.is_set():
            try:
                s = mqtt_connect(port, f"churn-{w}-{i}", timeout=2)
                s.sendall(DISCONNECT)
                s.close()
                stats["ok"] += 1
            except (OSError, ConnectionError):
                stats["fail"] += 1
            i += 1

    threads = [threading.Thread(target=churn, args=(w,), daemon=True) for w in range(2)]
    for t in threads:
        t.start()
    time.sleep(secs / 2)
    during()
    time.sleep(secs / 2)
    stop.set()
    for t in threads:
        t.join(5)
    return f"{stats['ok']:,} connect/disconnect in {secs} s ({stats['ok'] / secs:,.0f}/s), {stats['fail']} failed", []


def phase_sessions(port, cfg, during):
    n = cfg["sessions"]
    ok = failed = 0
    t0 = time.monotonic()
    step = 100  # mosquitto listens with a backlog of 100: more SYNs at once retry after 1 s
    for i in range(0, n, step):
        batch = []
        for j in range(i, min(n, i + step)):
            try:
                s = dial(port, 10)
                s.sendall(connect_pkt(f"persist-{j}", clean=False)
                          + subscribe_pkt(1, [f"hostile/session/{j}"], qos=1))
                batch.append(s)
            except OSError:
                failed += 1
        for s in batch:
            try:
                a, abody = read_packet(s)
                b, _ = read_packet(s)
                if a == 0x20 and abody[1] == 0 and b == 0x90:
                    s.sendall(DISCONNECT)
                    ok += 1
                else:
                    failed += 1
            except (OSError, ConnectionError, IndexError):
                failed += 1
            s.close()
    took = time.monotonic() - t0
    time.sleep(0.5)
    during()
    rss = B.rss_kb(cfg["pid"]) or 0
    return (f"{ok:,} sessions (clean session 0, one subscription each) stored in {took:.1f} s, {failed} failed; "
            f"RSS with them {rss / 1024:.1f} MB ({(rss - cfg['rss0']) * 1024 / max(1, ok):.0f} B/session)"), []


def phase_subs(port, cfg, during):
    total, per = cfg["subs"], 200
    clients = (total + per - 1) // per
    socks, acked, refused = [], 0, 0
    t0 = time.monotonic()
    # In groups of 50 clients: connect each and send all its SUBSCRIBEs, then
    # read the SUBACKs (one client at a time would wait out mosquitto's Nagle
    # delay on every SUBACK after the first).
    for g in range(0, clients, 50):
        group = []
        for c in range(g, min(clients, g + 50)):
            try:
                s = mqtt_connect(port, f"subs-{c}", timeout=10)
            except (OSError, ConnectionError):
                continue
            n = min(per, total - c * per)
            pkts = [subscribe_pkt(k // 10 + 1, [f"hostile/subs/{c}/{k + i}" for i in range(min(10, n - k))])
                    for k in range(0, n, 10)]
            try:
                s.sendall(b"".join(pkts))
                group.append((s, len(pkts)))
            except OSError:
                s.close()
        for s, npkts in group:
            try:
                for _ in range(npkts):
                    first, body = read_packet(s)
                    codes = body[2:]
                    acked += sum(1 for x in codes if x <= 2)
                    refused += sum(1 for x in codes if x > 2)
                socks.append(s)
            except (OSError, ConnectionError):
                s.close()
    took = time.monotonic() - t0
    during()
    rss = B.rss_kb(cfg["pid"]) or 0
    return (f"{acked:,} subscriptions granted ({refused} refused) over {len(socks)} clients in {took:.1f} s; "
            f"RSS with them {rss / 1024:.1f} MB ({(rss - cfg['rss0']) * 1024 / max(1, acked):.0f} B/subscription)"
            ), socks


def run_phase(kind, name, conf, port, cfg, logdir):
    res = {"kind": kind, "phase": name}
    try:
        b = B.start(kind, conf, port, logdir, nofile=cfg["nofile"])
    except RuntimeError as e:
        res["notes"] = f"did not start: {e}".replace("\n", " ")
        return res
    try:
        ms, err = round_trip(port)
        time.sleep(0.3)
        res["rss0"] = cfg["rss0"] = B.rss_kb(b.pid) or 0
        cfg["pid"] = b.pid
        during = {}

        def check():
            during["ms"], during["err"] = round_trip(port)

        t0 = time.monotonic()
        notes, socks = globals()[f"phase_{name}"](port, cfg, check)
        res["peak"] = B.hwm_kb(b.pid)
        res["rss_loaded"] = B.rss_kb(b.pid)
        close_all(socks)
        time.sleep(cfg["settle"])
        res["after"] = B.rss_kb(b.pid)
        res["after_ms"], res["after_err"] = round_trip(port)
        res["during_ms"], res["during_err"] = during.get("ms"), during.get("err", "not checked")
        res["notes"], res["alive"] = notes, b.alive()
        res["secs"] = time.monotonic() - t0
        if not res["alive"]:
            res["notes"] += f"; BROKER EXITED ({b.proc.returncode}): {b.log_tail(2)}"
    except Exception as e:  # a phase that breaks is a finding, not the end of the run
        res.update(notes=f"phase failed: {type(e).__name__}: {e}", alive=b.alive())
        res.setdefault("peak", B.hwm_kb(b.pid))
        res.setdefault("after", B.rss_kb(b.pid))
    finally:
        b.stop()
    return res


def mb(kb):
    return f"{kb / 1024:.1f}" if kb else "—"


def served(ms, err):
    return f"yes, {ms:.0f} ms" if ms is not None else f"**no** ({err})"


def main():
    quick = os.environ.get("QUICK", "") not in ("", "0")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phases", default=",".join(PHASES))
    ap.add_argument("--brokers", default="mosquitto,ours")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--markdown-out", type=Path, help="append the table to this file")
    args = ap.parse_args()
    cfg = dict(idle=2000, slow_socks=100, slow_s=4, garbage_s=2, big_socks=10, big_s=4, big_rate=64 * 1024,
               stall_s=3, churn_s=2, sessions=2000, subs=10000, settle=1.0) if quick else \
        dict(idle=10000, slow_socks=500, slow_s=10, garbage_s=5, big_socks=20, big_s=10, big_rate=64 * 1024,
             stall_s=10, churn_s=6, sessions=20000, subs=100000, settle=3.0)
    # Client sockets and the broker's: both within the hard limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, cfg["idle"] + 2000) if hard != resource.RLIM_INFINITY else cfg["idle"] + 2000
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    cfg["nofile"] = max(soft, want)
    if cfg["idle"] + 100 > cfg["nofile"]:
        cfg["idle"] = cfg["nofile"] - 200
        log(f"ulimit -n {cfg['nofile']}: idle connections lowered to {cfg['idle']}")

    B.build(args.no_build, log)
    tmp = B.tmpdir("hostile-")
    ours = B.ours_kind(tmp)
    kinds = []
    for k in args.brokers.split(","):
        if k == "ours":
            if ours is None:
                sys.exit("no libmqtt broker built")
            kinds.append(ours)
        else:
            kinds.append(k)
    if ours != "libmqtt-broker":
        log(f"libmqtt-broker cannot run a mosquitto.conf yet: {ours} stands in (without the conf)")
    results = []
    started = time.monotonic()
    for name in args.phases.split(","):
        port = B.free_port()
        conf = B.write_conf(Path(tmp) / f"{name}.conf", port,
                            extra=[f"max_connections {cfg['nofile'] - 100}"])
        for kind in kinds:
            r = run_phase(kind, name, conf, port, dict(cfg), tmp)
            results.append(r)
            log(f"{name:>10} {kind:>14}: base {mb(r.get('rss0'))} MB, peak {mb(r.get('peak'))} MB, "
                f"after {mb(r.get('after'))} MB; during: {served(r.get('during_ms'), r.get('during_err'))}; "
                f"after: {served(r.get('after_ms'), r.get('after_err'))}; {r['notes']}")
    total = time.monotonic() - started

    lines = ["## Hostile load: libmqtt-broker vs. mosquitto, same mosquitto.conf (issue 17)", "",
             f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}{' (QUICK=1)' if quick else ''}",
             f"- Machine: {B.machine_line()} (shared; other jobs run)",
             f"- Brokers: {B.versions(ours)}",
             "- mosquitto.conf (the same file for both): `listener PORT 127.0.0.1`, `allow_anonymous true`, "
             f"`sys_interval 0`, `log_dest stderr`, `log_type error`, `max_connections {cfg['nofile'] - 100}`. "
             "A new broker process per phase; RSS in MB: *base* after one round trip, *peak* = VmHWM during "
             f"the phase, *after* = VmRSS {cfg['settle']:.0f} s after the hostile clients closed (persistent "
             "sessions stay stored by design). *Serves*: a fresh client's QoS 1 subscribe/publish/PUBACK/"
             f"delivery round trip during the phase and after it. Total {total:.0f} s.",
             "",
             "| phase | broker | base MB | peak MB | after MB | serves during | serves after | what happened |",
             "|:--|:--|--:|--:|--:|:--|:--|:--|"]
    for r in results:
        lines.append(f"| {r['phase']} | {r['kind']} | {mb(r.get('rss0'))} | {mb(r.get('peak'))} | "
                     f"{mb(r.get('after'))} | {served(r.get('during_ms'), r.get('during_err'))} | "
                     f"{served(r.get('after_ms'), r.get('after_err'))} | {r['notes']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown_out:
        old = args.markdown_out.read_text() if args.markdown_out.exists() else ""
        args.markdown_out.write_text(old.rstrip("\n") + "\n\n" + text)
        log(f"appended to {args.markdown_out}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
