#!/usr/bin/env python3
"""Issue 18's durability benchmark (not a test): libmqtt-broker and Debian's
mosquitto in the same run, each given the same mosquitto.conf per case,
under the same libmosquitto load (bench/mosq-load/mosq_load.c).

Part 1, throughput: QoS 1, 64 B payloads, 4 publishers -> 4 subscribers
whose sessions are PERSISTENT (clean start false, Session Expiry Interval
3600 s), so the broker must keep every message for them as for an offline
client. Cases (one mosquitto.conf each, the same file for both brokers
where the keys are mosquitto's):
  - mosquitto, `persistence false`;
  - mosquitto, `persistence true` (+ `persistence_location`; the default
    `autosave_interval` 1800: it saves every 30 minutes and at shutdown);
  - ours, `persistence false`;
  - ours, `persistence true` + `persistence_mode periodic`;
  - ours, `persistence true` + `persistence_mode sync` (a QoS 1 PUBLISH is
    acknowledged only once its record is durable).
--receive-max N: the subscribers' Receive Maximum and the conf's
`max_inflight_messages` (20 unless given: both programs' default). In
`sync` mode a delivery waits for the batch's sync like an acknowledgement,
so a subscriber gets at most N messages per sync: `make bench-durable`
also runs the throughput part with 200.
Each repetition starts each broker afresh on an empty store (the order
rotates between repetitions), makes a small unmeasured warm-up run (clean
sessions), then the measured run (the persistent sessions made then). Measured: messages/s received by all subscribers, the broker's CPU
seconds per message, its peak RSS, and the store's size after the broker
stopped. Row per case: the repetition with the median msg/s. Ratios are
against mosquitto with `persistence true` in the same run (the issue's
goal: `sync` at least as fast), and against mosquitto `persistence false`.

Part 2, restart: a store with --retained (1,000,000) retained messages
(64 B, one topic each, published with QoS 1 by 4 publishers) and
--sessions (100,000) persistent sessions with one subscription each
(`mosq_load --fill-sessions`), built through the broker itself; then the
broker is stopped with SIGTERM (mosquitto `persistence true` saves at
shutdown; ours in `periodic` mode too), and started again on the same conf
and store: restart time = from the process's start to the CONNACK of a
CONNECT (probed every 10 ms). Then checked: a sampled session is still
there (CONNACK session present) and a sampled retained message is
delivered. --restarts (3) restarts from the same store, the median given;
shutdown (save) time and store size too.

The markdown is printed and, with --markdown-out, APPENDED to that file
with the date and the machine. A case whose conf our broker refuses (a
build without the persistence keys) is reported as such, not measured.

Usage:
    bench/broker-durable.py [--reps 3] [--parts throughput,restart]
        [--retained 1000000] [--sessions 100000] [--restarts 3]
        [--restart-modes periodic,sync] [--receive-max 20] [--ours PATH]
        [--markdown-out bench/RESULTS.md] [--no-build]
    QUICK=1 bench/broker-durable.py   (one repetition, 100,000 retained, 10,000 sessions)
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brokers as B  # noqa: E402

SRC = B.BENCH / "mosq-load" / "mosq_load.c"
LOAD = B.BENCH / "target" / "mosq-load" / "mosq_load"
# max_inflight_messages is set to --receive-max (20 unless given, mosquitto's
# default and libmosquitto's Receive Maximum).
COMMON = ["max_connections -1", "max_inflight_messages 20", "max_queued_messages 0"]
FILL_THREADS = 16


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def build_load(path):
    if path.exists() and path.stat().st_mtime >= SRC.stat().st_mtime:
        return
    if not Path("/usr/include/mosquitto.h").exists():
        sys.exit("libmosquitto-dev is missing: apt-get install -y libmosquitto-dev (or: make bench-durable)")
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", str(SRC), "-lmosquitto",
           "-o", str(path)]
    log("+ " + " ".join(cmd))
    subprocess.run(cmd, check=True)


# ---------------------------------------------------------------- configs

def case_lines(case, store):
    """The mosquitto.conf lines of a case beyond the listener and COMMON."""
    if case["persistence"] == "off":
        return ["persistence false"]
    lines = ["persistence true", f"persistence_location {store}/"]
    if case["broker"] != "mosquitto":
        lines.append(f"persistence_mode {case['persistence']}")
    return lines


THROUGHPUT_CASES = [
    dict(name="mosquitto, persistence false", broker="mosquitto", persistence="off"),
    dict(name="mosquitto, persistence true (autosave 1800 s)", broker="mosquitto", persistence="mosq"),
    dict(name="ours, persistence false", broker="libmqtt-broker", persistence="off"),
    dict(name="ours, persistence true, periodic", broker="libmqtt-broker", persistence="periodic"),
    dict(name="ours, persistence true, sync", broker="libmqtt-broker", persistence="sync"),
]


def fresh_store(tmp, label):
    """An empty store directory the mosquitto user can write (mosquitto
    started as root drops to that user)."""
    d = Path(tmp) / label
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    try:
        shutil.chown(d, "mosquitto", "mosquitto")
    except (LookupError, PermissionError, OSError):
        os.chmod(d, 0o777)
    return d


def dir_bytes(d):
    total = 0
    for root, _, files in os.walk(d):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def conf_for(tmp, case, port, store):
    return B.write_conf(Path(tmp) / f"{case['broker']}-{case['persistence']}-{port}.conf", port, None,
                        COMMON + case_lines(case, store))


def start(case, conf, port, tmp):
    return B.start(case["broker"], conf, port, tmp)


def stop_timed(b, timeout):
    """SIGTERM, then the seconds until the process exited (a save at
    shutdown is in it); killed past `timeout`."""
    t = time.monotonic()
    if b.proc.poll() is None:
        b.proc.send_signal(15)
        try:
            b.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            b.proc.kill()
            b.proc.wait(timeout=10)
            return None
    return time.monotonic() - t


# ---------------------------------------------------------------- load

def run_load(load, port, args, timeout):
    cmd = [str(load), "--port", str(port), "--timeout", str(timeout)] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    line = next((l for l in p.stdout.splitlines() if l.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"mosq_load exited {p.returncode} without a result: {p.stderr.strip()[:300]}")
    r = json.loads(line)
    r["rc"] = p.returncode
    r["stderr"] = p.stderr.strip()
    return r


def throughput_load(pubs, subs, messages, persistent=True, receive_max=20):
    return ["--receive-max", receive_max, "--qos", "1", "--payload", "64", "--publishers", pubs, "--subscribers", subs, "--messages",
            messages, "--inflight", "64", "--version", "5", "--idle-ms", "3000", "--id-prefix", "durable-"] + (
                ["--persistent"] if persistent else [])


def throughput_one(case, tmp, load, args, rep):
    port = B.free_port()
    store = fresh_store(tmp, f"store-{rep}-{case['broker']}-{case['persistence']}")
    conf = conf_for(tmp, case, port, store)
    out = dict(case=case["name"], rep=rep)
    try:
        b = start(case, conf, port, tmp)
    except RuntimeError as e:
        out["failed"] = str(e).replace("\n", " ")[:300]
        return out
    try:
        # Warm-up with clean sessions: a persistent session resumed by the
        # measured run would get the warm-up's unacknowledged messages again
        # (same message numbers), and one left behind would queue everything.
        run_load(load, port, throughput_load(args.pubs, args.subs, 2000, False, args.receive_max), args.timeout)
        c0 = B.cpu_seconds(b.pid)
        r = run_load(load, port, throughput_load(args.pubs, args.subs, args.messages, True, args.receive_max), args.timeout)
        c1 = B.cpu_seconds(b.pid)
        out.update(r)
        out["broker_cpu_s"] = c1 - c0
        out["peak_rss_kb"] = B.hwm_kb(b.pid) or 0
        out["alive"] = b.alive()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        out["failed"] = f"{type(e).__name__}: {e}"[:300]
    finally:
        out["shutdown_s"] = stop_timed(b, 120)
        out["store_bytes"] = dir_bytes(store)
        shutil.rmtree(store, ignore_errors=True)
    return out


# ---------------------------------------------------------------- MQTT probe

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(cid, clean):
    c = cid.encode()
    body = b"\x00\x04MQTT\x04" + bytes([0x02 if clean else 0x00]) + (60).to_bytes(2, "big")
    body += len(c).to_bytes(2, "big") + c
    return b"\x10" + varint(len(body)) + body


def subscribe_packet(topic, pid=1):
    t = topic.encode()
    body = pid.to_bytes(2, "big") + len(t).to_bytes(2, "big") + t + b"\x01"
    return b"\x82" + varint(len(body)) + body


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def read_packet(s):
    h = read_exact(s, 1)[0]
    n, mul = 0, 1
    while True:
        b = read_exact(s, 1)[0]
        n += (b & 0x7F) * mul
        mul *= 128
        if not b & 0x80:
            break
    return h, read_exact(s, n)


class Refused(Exception):
    """A CONNACK with a non-zero return code: the broker answered."""


def mqtt_connect(port, cid, clean, timeout, accept_refusal=False):
    """A socket with a CONNACK; (socket, session_present, return code).
    A refusing CONNACK raises Refused unless accept_refusal."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.settimeout(timeout)
        s.sendall(connect_packet(cid, clean))
        h, body = read_packet(s)
        if h >> 4 != 2 or len(body) < 2:
            raise ConnectionError(f"no CONNACK: {h:#x} {body!r}")
        if body[1] != 0 and not accept_refusal:
            raise Refused(f"CONNACK return code {body[1]}")
        return s, bool(body[0] & 1), body[1]
    except BaseException:
        s.close()
        raise


def time_to_connack(proc, port, t0, limit):
    """(seconds from t0 to the first CONNACK, its return code), probing
    every 10 ms. A refusing CONNACK counts: the broker answered (the code
    is reported)."""
    while time.monotonic() - t0 < limit:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode} while restarting")
        try:
            s, _, rc = mqtt_connect(port, "durable-probe", True, 1.0, accept_refusal=True)
            el = time.monotonic() - t0
            s.close()
            return el, rc
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"no CONNACK within {limit} s")


def check_state(port, session, topic):
    """(session present for `session`, a retained message delivered on `topic`)."""
    try:
        s, present, _ = mqtt_connect(port, session, False, 5.0)
        s.close()
    except (OSError, Refused):
        present = False
    try:
        s, _, _ = mqtt_connect(port, "durable-check", True, 5.0)
    except (OSError, Refused):
        return present, False
    try:
        s.sendall(subscribe_packet(topic))
        end = time.monotonic() + 5
        while time.monotonic() < end:
            h, body = read_packet(s)
            if h >> 4 == 3:
                return present, bool(h & 1)
        return present, False
    except OSError:
        return present, False
    finally:
        s.close()


# ---------------------------------------------------------------- restart

def restart_one(case, tmp, load, args):
    port = B.free_port()
    store = fresh_store(tmp, f"restart-{case['broker']}-{case['persistence']}")
    conf = conf_for(tmp, case, port, store)
    out = dict(case=case["name"], broker=case["broker"], persistence=case["persistence"])
    try:
        b = start(case, conf, port, tmp)
    except RuntimeError as e:
        out["failed"] = str(e).replace("\n", " ")[:300]
        return out
    pubs = 4
    per_pub = args.retained // pubs
    try:
        r = run_load(load, port, ["--fill-sessions", args.sessions, "--publishers", FILL_THREADS, "--qos", "1",
                                  "--version", "311", "--id-prefix", "durable-"], args.fill_timeout)
        if r["rc"] != 0:
            raise RuntimeError(f"session fill: {r['stderr'][:200]}")
        out["fill_sessions_s"] = r["seconds"]
        r = run_load(load, port, ["--retain", "--qos", "1", "--payload", "64", "--publishers", pubs,
                                  "--subscribers", 0, "--messages", per_pub, "--inflight", "64",
                                  "--version", "5", "--topic", "r"], args.fill_timeout)
        if r["rc"] != 0 or r["acknowledged"] != per_pub * pubs:
            raise RuntimeError(f"retained fill: {r['acknowledged']} acknowledged: {r['stderr'][:200]}")
        out["fill_retained_s"] = r["publish_s"]
        # 5.0 PUBACKs with 0x97 (quota exceeded): retained messages refused.
        out["retained_kept"] = r["acknowledged"] - r["refused"]
        out["rss_full_kb"] = B.rss_kb(b.pid) or 0
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        out["failed"] = f"{type(e).__name__}: {e}"[:300]
        stop_timed(b, 60)
        shutil.rmtree(store, ignore_errors=True)
        return out
    out["shutdown_s"] = [stop_timed(b, args.fill_timeout)]
    out["store_bytes"] = dir_bytes(store)
    out["restart_s"], out["checks"] = [], []
    try:
        for i in range(args.restarts):
            t0 = time.monotonic()
            b = start_no_wait(case, conf, port, tmp)
            try:
                el, rc = time_to_connack(b.proc, port, t0, args.fill_timeout)
                out["restart_s"].append(el)
                out.setdefault("probe_rc", []).append(rc)
                k = (i * 7919 + 12345) % args.sessions
                # A retained message among those kept (the first ones of
                # each publisher when the broker refused the rest).
                p = (i * 104729 + 777) % max(1, min(per_pub, out["retained_kept"] // pubs))
                out["checks"].append(check_state(port, f"durable-s{k}", f"r/{i % pubs}/{p}"))
                out["rss_restarted_kb"] = B.rss_kb(b.pid) or 0
            finally:
                out["shutdown_s"].append(stop_timed(b, args.fill_timeout))
            log(f"restart {case['name']} {i + 1}: {out['restart_s'][-1]:.3f} s to CONNACK "
                f"(return code {out['probe_rc'][-1]}), "
                f"session present / retained delivered: {out['checks'][-1]}, "
                f"shutdown {out['shutdown_s'][-1]}")
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        out["failed"] = f"{type(e).__name__}: {e}"[:300]
    finally:
        shutil.rmtree(store, ignore_errors=True)
    return out


def start_no_wait(case, conf, port, tmp):
    """The broker process, started without waiting for its port (the caller
    times the start)."""
    logf = Path(tmp) / f"{case['broker']}-restart-{port}-{time.monotonic_ns()}.log"
    cmd = [B.MOSQUITTO, "-c", str(conf)] if case["broker"] == "mosquitto" else [str(B.OURS_BIN), "-c", str(conf)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(logf, "w"))
    return B.Broker(case["broker"], proc, port, logf)


# ---------------------------------------------------------------- report

def fmt_rate(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} k"


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "—"


def mb(b):
    return f"{b / 1e6:.1f}"


def main():
    quick = os.environ.get("QUICK", "") not in ("", "0")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=1 if quick else 3)
    ap.add_argument("--parts", default="throughput,restart")
    ap.add_argument("--pubs", type=int, default=4)
    ap.add_argument("--subs", type=int, default=4)
    ap.add_argument("--messages", type=int, default=5000 if quick else 25000, help="per publisher")
    ap.add_argument("--retained", type=int, default=100_000 if quick else 1_000_000)
    ap.add_argument("--sessions", type=int, default=10_000 if quick else 100_000)
    ap.add_argument("--restarts", type=int, default=1 if quick else 3)
    ap.add_argument("--restart-modes", default="periodic,sync",
                    help="our persistence modes given the restart part")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per load run")
    ap.add_argument("--receive-max", type=int, default=20,
                    help="the subscribers' Receive Maximum and the conf's max_inflight_messages (throughput)")
    ap.add_argument("--fill-timeout", type=int, default=300, help="seconds per fill, save or restart")
    ap.add_argument("--load", type=Path, default=LOAD)
    ap.add_argument("--ours", type=Path, default=B.OURS_BIN, help="our broker binary")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--markdown-out", type=Path)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    parts = args.parts.split(",")
    COMMON[1] = f"max_inflight_messages {args.receive_max}"
    B.OURS_BIN = args.ours.resolve()

    if not Path(B.MOSQUITTO).exists():
        sys.exit(f"{B.MOSQUITTO} not found: apt-get install -y mosquitto")
    build_load(args.load)
    if B.OURS_BIN == (B.ROOT / "target" / "release" / "libmqtt-broker").resolve():
        B.build(args.no_build, log)
    if not B.OURS_BIN.exists():
        sys.exit(f"{B.OURS_BIN} is not built (make broker)")
    tmp = B.tmpdir("broker-durable-")
    started = time.monotonic()
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = B.machine_line()
    thr, rst = [], []
    try:
        if "throughput" in parts:
            for rep in range(args.reps):
                k = rep % len(THROUGHPUT_CASES)
                for case in THROUGHPUT_CASES[k:] + THROUGHPUT_CASES[:k]:
                    r = throughput_one(case, tmp, args.load, args, rep + 1)
                    thr.append(r)
                    if r.get("failed"):
                        log(f"{case['name']} rep {rep + 1}: FAILED {r['failed']}")
                    else:
                        log(f"{case['name']} rep {rep + 1}: {fmt_rate(r['received_per_s'])} msg/s, "
                            f"{r['received']}/{r['expected']} received, {r['duplicates']} dup, "
                            f"CPU {1e6 * r['broker_cpu_s'] / max(1, r['received']):.2f} µs/msg, "
                            f"store {mb(r['store_bytes'])} MB, exit {r['rc']}")
        if "restart" in parts:
            cases = [dict(name="mosquitto, persistence true", broker="mosquitto", persistence="mosq")]
            cases += [dict(name=f"ours, persistence true, {m}", broker="libmqtt-broker", persistence=m)
                      for m in args.restart_modes.split(",") if m]
            for case in cases:
                r = restart_one(case, tmp, args.load, args)
                rst.append(r)
                if r.get("failed"):
                    log(f"restart {case['name']}: FAILED {r['failed']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(dict(throughput=thr, restart=rst), indent=1) + "\n")
    total = time.monotonic() - started
    text = report(args, quick, date, machine, thr, rst, total)
    print(text)
    if args.markdown_out:
        old = args.markdown_out.read_text() if args.markdown_out.exists() else ""
        args.markdown_out.write_text(old.rstrip("\n") + "\n\n" + text)
        log(f"appended to {args.markdown_out}")
    bad = [r for r in thr + rst if r.get("failed") and r.get("broker", "") == "mosquitto"]
    return 1 if bad else 0


def report(args, quick, date, machine, thr, rst, total):
    lines = ["## Durability: libmqtt-broker vs. mosquitto, persistent sessions, restart (issue 18)", "",
             f"- Date: {date}{' (QUICK=1)' if quick else ''}",
             f"- Machine: {machine}; store on {fs_line()}",
             f"- Brokers: {B.versions('libmqtt-broker')}",
             f"- Total {total:.0f} s. The machine is shared (other jobs build and write to the same disk): "
             "figures for this machine, ratios in the same run."]
    if thr:
        lines += ["", f"### Throughput with persistent subscribers, Receive Maximum {args.receive_max}", "",
                  f"- Load: `bench/mosq-load/mosq_load` (libmosquitto), MQTT 5.0, QoS 1, 64 B, {args.pubs} "
                  f"publishers → {args.subs} subscribers (every subscriber on `bench/+`), {args.pubs} × "
                  f"{args.messages:,} published, × {args.subs} delivered; subscribers with persistent sessions "
                  "(clean start 0, Session Expiry Interval 3600 s); publishers keep 64 QoS 1 messages "
                  f"unacknowledged; subscribers announce a Receive Maximum of {args.receive_max} (the conf's "
                  f"`max_inflight_messages` {args.receive_max} too). A warm-up run first (2,000 per publisher, clean sessions). "
                  f"{args.reps} repetition(s), case order rotating, each broker started afresh on an empty store; "
                  "the row is the median-msg/s repetition.",
                  "- mosquitto.conf: `listener PORT 127.0.0.1`, `allow_anonymous true`, `sys_interval 0`, "
                  "`log_dest stderr`, `log_type error`, " + ", ".join(f"`{l}`" for l in COMMON) +
                  ", and per case `persistence false`, or `persistence true` + `persistence_location DIR/` "
                  "(+ `persistence_mode periodic|sync` for ours).",
                  "- Store MB: the store directory after the broker stopped (SIGTERM).", "",
                  "| case | msg/s | vs. mosquitto persistence true | vs. mosquitto persistence false "
                  "| CPU µs/msg | peak RSS MB | store MB | received |",
                  "|:--|--:|--:|--:|--:|--:|--:|--:|"]
        med = {}
        for case in THROUGHPUT_CASES:
            mine = [r for r in thr if r["case"] == case["name"]]
            ok = [r for r in mine if not r.get("failed")]
            if ok:
                s = sorted(ok, key=lambda r: r["received_per_s"])
                med[case["name"]] = s[len(s) // 2]
        mp = med.get(THROUGHPUT_CASES[1]["name"])
        mo = med.get(THROUGHPUT_CASES[0]["name"])
        for case in THROUGHPUT_CASES:
            r = med.get(case["name"])
            if r is None:
                why = next((x["failed"] for x in thr if x["case"] == case["name"] and x.get("failed")), "not run")
                lines.append(f"| {case['name']} | not measured: {why[:160]} | | | | | | |")
                continue
            rec = f"{r['received']:,}/{r['expected']:,}" + (f" ({r['duplicates']} dup)" if r["duplicates"] else "")
            lines.append(
                f"| {case['name']} | {fmt_rate(r['received_per_s'])} | "
                f"{ratio(r['received_per_s'], mp and mp['received_per_s'])} | "
                f"{ratio(r['received_per_s'], mo and mo['received_per_s'])} | "
                f"{1e6 * r['broker_cpu_s'] / max(1, r['received']):.2f} | {r['peak_rss_kb'] / 1024:.1f} | "
                f"{mb(r['store_bytes'])} | {rec} |")
    if rst:
        lines += ["", "### Restart time", "",
                  f"- State built through the broker: {args.sessions:,} persistent sessions (MQTT 3.1.1, clean "
                  f"session 0, one QoS 1 subscription each, `mosq_load --fill-sessions`, {FILL_THREADS} threads) "
                  f"and {args.retained:,} retained messages (64 B, a topic each, MQTT 5.0, QoS 1, 4 publishers; "
                  "*kept* = acknowledged without a 0x97 quota refusal); then SIGTERM "
                  "(*save* = time from SIGTERM to exit), and restarts on the same conf and store: *restart* = "
                  "from the process's start to the CONNACK of a CONNECT (probed every 10 ms); each restart "
                  "then checks a sampled session (CONNACK session present) and a sampled retained message "
                  f"(delivered on subscribe), and is stopped with SIGTERM again. Median of {args.restarts}.", "",
                  "| broker | fill sessions s | fill retained s | retained kept | first save s | store MB "
                  "| restart s (median) | restart vs. mosquitto | RSS after restart MB | session and retained found "
                  "| probe CONNACK |",
                  "|:--|--:|--:|--:|--:|--:|--:|--:|--:|:--|:--|"]
        mosq = next((r for r in rst if r["broker"] == "mosquitto" and r.get("restart_s")), None)
        for r in rst:
            if not r.get("restart_s"):
                lines.append(f"| {r['case']} | not measured: {r.get('failed', '?')[:160]} | | | | | | | | | |")
                continue
            med = statistics.median(r["restart_s"])
            checks = ", ".join("yes" if a and b else f"NO (session {a}, retained {b})" for a, b in r["checks"])
            save = r["shutdown_s"][0]
            codes = sorted(set(r.get("probe_rc", [])))
            lines.append(
                f"| {r['case']} | {r['fill_sessions_s']:.1f} | {r['fill_retained_s']:.1f} | "
                f"{r['retained_kept']:,} | "
                f"{'killed' if save is None else f'{save:.2f}'} | {mb(r['store_bytes'])} | {med:.3f} | "
                f"{ratio(med, mosq and statistics.median(mosq['restart_s']))} | "
                f"{r.get('rss_restarted_kb', 0) / 1024:.1f} | {checks} | "
                f"{'accepted' if codes == [0] else 'return code ' + ', '.join(map(str, codes))} |")
            if r.get("failed"):
                lines.append(f"|  | failed after {len(r['restart_s'])} restart(s): {r['failed'][:200]} "
                             "| | | | | | | | | |")
        if any(r.get("retained_kept", args.retained) < args.retained for r in rst):
            lines += ["", "A *retained kept* below the count published: the broker refused the rest (5.0 PUBACK "
                      "0x97, quota exceeded), so its store held less than the others' and its restart time is "
                      "not like for like."]
    return "\n".join(lines) + "\n"


def fs_line():
    try:
        out = subprocess.run(["df", "-T", "/tmp"], capture_output=True, text=True).stdout.splitlines()[1].split()
        return f"{out[0]} ({out[1]}, /tmp)"
    except (OSError, IndexError):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
