#!/usr/bin/env python3
"""Summarise the codec benchmarks as a Markdown table.

Reads Criterion's ``target/criterion/**/new/estimates.json`` (plus the
``benchmark.json`` beside it, which holds the benchmark ID) and prints one row
per ``{case}/{op}``, one column per implementation (ns per packet), the
``reference/memcpy/4KiB`` time, and -- for every implementation whose name
starts with ``libmqtt`` -- the ratio to the fastest peer in that row
(< 1.00 means libmqtt is faster).

After the table comes a "goals" section: per packet, whether libmqtt's
decode and encode beat the fastest peer; whether the 4 KiB PUBLISH decode
costs at most 1.2x the 64-byte one; the fastest small-PUBLISH decode and
encode as multiples of the memcpy reference; and the trie vs. the linear scan.

Then the client table, from the ``client/{case}/{impl}`` benchmarks
(``benches/client.rs``, one iteration = one batch of publish -> acks whose
size Criterion records as ``Throughput::Elements``): messages/s of libmqtt's
``Client`` and of rumqttc's ``MqttState``, their ratio, and the heap
allocations per message that ``benches/client_alloc.rs`` counted
(``--client-alloc``, default ``target/client-alloc.json`` when present);
with its goals: at least 3 million QoS 1 messages/s, and no allocation per
QoS 0 publish in steady state.

Usage (from /work/main/bench, after ``cargo bench``):

    python3 report.py [--criterion-dir DIR ...] [--stat auto|mean|median|slope] [--ci]
                      [--client-alloc FILE] [--markdown-out FILE]

``--criterion-dir`` may be given several times (e.g. copies of
``target/criterion`` from repeated runs of the same binary, or runs with
``CRITERION_HOME=DIR``): each benchmark then reports its lowest estimate across
the runs, which filters out interference from other load on a shared machine.

``--markdown-out FILE`` also writes the table and the goals, headed by the
date (``date -u``) and the machine (``nproc``, CPU model from /proc/cpuinfo,
``rustc --version``), to FILE.

Python 3.11+, standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEMCPY_ID = "reference/memcpy/4KiB"
OURS_PREFIX = "libmqtt"

# Preferred row and column order; anything else is appended alphabetically.
CASE_ORDER = [
    "publish_small_v311",
    "publish_small_v5",
    "publish_4k_v311",
    "publish_4k_v5",
    "publish_props_v5",
    "subscribe_10_v311",
    "subscribe_10_v5",
    "connect_v5",
    "trie_match_100k",
]
OP_ORDER = ["decode", "encode", "match"]
PEER_ORDER = ["rumqttc", "mqttrs", "mqtt-protocol", "mqtt-protocol-core", "linear-scan"]
OURS_ORDER = ["libmqtt", "libmqtt-ref", "libmqtt-slice"]
TRIE_CASE = "trie_match_100k"
# Goal: a 4 KiB PUBLISH decodes in at most this multiple of a 64-byte one.
SIZE_GOAL = 1.2

# The client benchmarks: IDs `client/{case}/{impl}`, kept out of the codec table.
CLIENT_PREFIX = "client/"
CLIENT_CASES = ["qos0_v311", "qos0_v5", "qos1_v311", "qos1_v5", "qos2_v311", "qos2_v5"]
CLIENT_OURS = "libmqtt"
CLIENT_PEER = "rumqttc"
# Goal: QoS 1 messages per second on one core.
CLIENT_QOS1_GOAL = 3_000_000


def pick_estimate(estimates: dict, stat: str) -> tuple[float, float]:
    """(ns per iteration, CI half-width in %). ``auto`` mirrors Criterion's
    console output: the slope estimate when Criterion fitted one, else the mean."""
    if stat == "auto":
        stat = "slope" if estimates.get("slope") else "mean"
    est = estimates.get(stat)
    if not est:
        raise KeyError(f"statistic {stat!r} not in estimates")
    point = float(est["point_estimate"])
    ci = est.get("confidence_interval") or {}
    try:
        half = (float(ci["upper_bound"]) - float(ci["lower_bound"])) / 2 / point * 100
    except (KeyError, ZeroDivisionError):
        half = math.nan
    return point, half


def load(criterion_dir: Path, stat: str) -> dict[str, tuple[float, float]]:
    """Map full benchmark ID -> (ns per iteration, CI half-width %)."""
    results: dict[str, tuple[float, float]] = {}
    for est_path in sorted(criterion_dir.glob("**/new/estimates.json")):
        meta_path = est_path.with_name("benchmark.json")
        try:
            meta = json.loads(meta_path.read_text())
            bench_id = meta.get("full_id") or "/".join(
                p for p in (meta.get("group_id"), meta.get("function_id")) if p
            )
        except (OSError, json.JSONDecodeError):
            # Criterion without benchmark.json: fall back to the directory names
            # (Criterion replaces '/' in group names by '_', so this is lossy).
            rel = est_path.parent.parent.relative_to(criterion_dir)
            bench_id = "/".join(rel.parts)
        try:
            results[bench_id] = pick_estimate(json.loads(est_path.read_text()), stat)
        except (KeyError, ValueError, json.JSONDecodeError) as e:
            print(f"warning: skipping {est_path}: {e}", file=sys.stderr)
    return results


def load_min(dirs: list[Path], stat: str) -> dict[str, tuple[float, float]]:
    """Per benchmark, the run with the lowest estimate (with that run's CI)."""
    best: dict[str, tuple[float, float]] = {}
    for d in dirs:
        for bench_id, est in load(d, stat).items():
            if bench_id not in best or est[0] < best[bench_id][0]:
                best[bench_id] = est
    return best


def order_key(value: str, order: list[str]) -> tuple[int, str]:
    return (order.index(value), "") if value in order else (len(order), value)


def impl_key(name: str) -> tuple[int, int, str]:
    # peers first (known order, then alphabetical), ours last
    ours = name.startswith(OURS_PREFIX)
    return (int(ours),) + order_key(name, OURS_ORDER if ours else PEER_ORDER)


def group(results: dict[str, tuple[float, float]]) -> dict[tuple[str, str], dict[str, float]]:
    """(case, op) -> {impl: ns}, without the memcpy reference."""
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for bench_id, (ns, _ci) in results.items():
        parts = bench_id.split("/")
        if bench_id == MEMCPY_ID or len(parts) != 3:
            continue
        case, op, impl = parts
        rows.setdefault((case, op), {})[impl] = ns
    return rows


def fastest_peer(row: dict[str, float]) -> tuple[str, float] | None:
    peers = {i: ns for i, ns in row.items() if not i.startswith(OURS_PREFIX)}
    if not peers:
        return None
    name = min(peers, key=peers.get)
    return name, peers[name]


def fmt_ns(ns: float | None) -> str:
    if ns is None or math.isnan(ns):
        return "—"
    if ns >= 100:
        return f"{ns:,.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


def fmt_ratio(ratio: float) -> str:
    if ratio < 0.01:
        return f"{ratio:.1e}×"
    if 0.995 <= ratio < 1.005:
        return f"{ratio:.3f}×"  # do not round a win or a loss to "1.00×"
    return f"{ratio:.2f}×"


def build_table(
    results: dict[str, tuple[float, float]], show_ci: bool = False
) -> tuple[list[str], list[list[str]]]:
    memcpy = results[MEMCPY_ID][0] if MEMCPY_ID in results else None
    rows: dict[tuple[str, str], dict[str, float]] = {}
    cis: dict[tuple[str, str, str], float] = {}
    for bench_id, (ns, ci) in results.items():
        if bench_id == MEMCPY_ID:
            continue
        parts = bench_id.split("/")
        if len(parts) != 3:
            print(f"warning: ignoring unexpected ID {bench_id!r}", file=sys.stderr)
            continue
        case, op, impl = parts
        rows.setdefault((case, op), {})[impl] = ns
        cis[(case, op, impl)] = ci

    impls = sorted({i for r in rows.values() for i in r}, key=impl_key)
    ours = [i for i in impls if i.startswith(OURS_PREFIX)]
    peers = [i for i in impls if not i.startswith(OURS_PREFIX)]

    header = ["case/op"] + [f"{i} (ns)" for i in impls] + ["memcpy 4KiB (ns)"]
    for o in ours:
        header.append(f"{o} / fastest peer")
    if ours:
        header.append("fastest peer")

    body: list[list[str]] = []
    for case, op in sorted(rows, key=lambda k: (order_key(k[0], CASE_ORDER), order_key(k[1], OP_ORDER))):
        r = rows[(case, op)]
        peer_vals = {p: r[p] for p in peers if p in r}
        fastest = min(peer_vals, key=peer_vals.get) if peer_vals else None
        line = [f"{case}/{op}"]
        for i in impls:
            cell = fmt_ns(r.get(i))
            if i == fastest and len(peer_vals) > 1:
                cell = f"**{cell}**"
            if show_ci and i in r and not math.isnan(cis[(case, op, i)]):
                cell += f" ±{cis[(case, op, i)]:.0f}%"
            line.append(cell)
        line.append(fmt_ns(memcpy))
        for o in ours:
            if o in r and fastest is not None and peer_vals[fastest] > 0:
                line.append(fmt_ratio(r[o] / peer_vals[fastest]))
            else:
                line.append("—")
        if ours:
            line.append(fastest or "—")
        body.append(line)
    return header, body


def render(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(h), *(len(row[c]) for row in body)) if body else len(h) for c, h in enumerate(header)]
    def fmt(cells: list[str]) -> str:
        out = []
        for c, cell in enumerate(cells):
            out.append(cell.ljust(widths[c]) if c == 0 else cell.rjust(widths[c]))
        return "| " + " | ".join(out) + " |"
    sep = "|" + "|".join(("-" * (w + 1) + ":") if c else (":" + "-" * (w + 1)) for c, w in enumerate(widths)) + "|"
    return "\n".join([fmt(header), sep] + [fmt(r) for r in body])


def verdict(ratio: float) -> str:
    return f"{'yes' if ratio < 1 else 'NO'} {fmt_ratio(ratio)}"


def goals(results: dict[str, tuple[float, float]]) -> list[str]:
    """The goals section, as Markdown lines."""
    rows = group(results)
    memcpy = results[MEMCPY_ID][0] if MEMCPY_ID in results else None
    out = ["## Goals", ""]

    # 1. per packet: libmqtt faster than the fastest peer?
    cases = sorted({c for c, op in rows if op in ("decode", "encode")}, key=lambda c: order_key(c, CASE_ORDER))
    cols: list[tuple[str, str]] = []
    for op in ("decode", "encode"):
        ours = sorted({i for (c, o), r in rows.items() if o == op for i in r if i.startswith(OURS_PREFIX)},
                      key=impl_key)
        cols += [(op, i) for i in ours]
    out.append("Faster than the fastest peer? (libmqtt / fastest peer; < 1.00× = faster)")
    out.append("")
    header = ["packet"] + [f"{op}: {i}" for op, i in cols]
    body = []
    wins: dict[str, list[int]] = {}  # "{op}: {impl}" and "{op}: best" -> [wins, rows]
    for case in cases:
        line = [case]
        for op, impl in cols:
            r = rows.get((case, op), {})
            fp = fastest_peer(r)
            if impl not in r:
                line.append("—")
            elif fp is None:
                line.append("no peer")
            else:
                ratio = r[impl] / fp[1]
                line.append(f"{verdict(ratio)} vs {fp[0]}")
                tally = wins.setdefault(f"{op}: {impl}", [0, 0])
                tally[0] += ratio < 1
                tally[1] += 1
        body.append(line)
        for op in ("decode", "encode"):
            r = rows.get((case, op), {})
            fp = fastest_peer(r)
            ours = [ns for i, ns in r.items() if i.startswith(OURS_PREFIX)]
            if fp and ours:
                tally = wins.setdefault(f"{op}: best libmqtt variant", [0, 0])
                tally[0] += min(ours) < fp[1]
                tally[1] += 1
    if body and cols:
        out += [render(header, body), ""]
        out.append("Packets where it is faster than the fastest peer: "
                   + "; ".join(f"{k} {w}/{n}" for k, (w, n) in sorted(wins.items())) + ".")
        out.append("")
    else:
        out += ["(no libmqtt results)", ""]

    # 2. 4 KiB vs 64-byte PUBLISH decode
    out.append(f"4 KiB PUBLISH decode at most {SIZE_GOAL}× the 64-byte one?")
    out.append("")
    for v in ("v311", "v5"):
        small, big = rows.get((f"publish_small_{v}", "decode"), {}), rows.get((f"publish_4k_{v}", "decode"), {})
        for impl in sorted((i for i in small if i.startswith(OURS_PREFIX) and i in big), key=impl_key):
            ratio = big[impl] / small[impl]
            ok = "yes" if ratio <= SIZE_GOAL else "NO"
            out.append(f"- {v} {impl}: {fmt_ns(big[impl])} / {fmt_ns(small[impl])} ns = {ratio:.2f}× → {ok}")
    out.append("")

    # 3. fastest small PUBLISH decode / encode vs memcpy 4 KiB
    if memcpy:
        out.append(f"Fastest 64-byte PUBLISH decode / encode as multiples of `{MEMCPY_ID}` ({fmt_ns(memcpy)} ns):")
        out.append("")
        for v in ("v311", "v5"):
            for op in ("decode", "encode"):
                r = rows.get((f"publish_small_{v}", op), {})
                if not r:
                    continue
                parts = []
                ours = {i: ns for i, ns in r.items() if i.startswith(OURS_PREFIX)}
                if ours:
                    best = min(ours, key=ours.get)
                    parts.append(f"libmqtt best ({best}) {fmt_ns(ours[best])} ns = {ours[best] / memcpy:.2f}×")
                overall = min(r, key=r.get)
                parts.append(f"fastest overall ({overall}) {fmt_ns(r[overall])} ns = {r[overall] / memcpy:.2f}×")
                out.append(f"- {v} {op}: " + "; ".join(parts))
        out.append("")

    # 4. the trie vs. brute force
    r = rows.get((TRIE_CASE, "match"), {})
    fp = fastest_peer(r)
    if "libmqtt" in r and fp:
        speedup = fp[1] / r["libmqtt"]
        out.append(f"Trie beats the linear scan? `{TRIE_CASE}`: libmqtt {fmt_ns(r['libmqtt'])} ns vs "
                   f"{fp[0]} {fmt_ns(fp[1])} ns → {'yes' if speedup > 1 else 'NO'}, {speedup:,.0f}× faster")
        out.append("")
    return out


def client_elements(dirs: list[Path]) -> dict[str, int]:
    """Client benchmark ID -> messages per iteration (Criterion's recorded
    `Throughput::Elements`)."""
    out: dict[str, int] = {}
    for d in dirs:
        for meta_path in d.glob("**/new/benchmark.json"):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            bench_id = meta.get("full_id") or ""
            elements = (meta.get("throughput") or {}).get("Elements")
            if bench_id.startswith(CLIENT_PREFIX) and elements:
                out[bench_id] = int(elements)
    return out


def fmt_rate(per_s: float | None) -> str:
    if per_s is None or math.isnan(per_s):
        return "—"
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f} M"
    return f"{per_s / 1e3:,.0f} k"


def fmt_allocs(n: float | None) -> str:
    if n is None:
        return "—"
    return f"{n:g}" if n == int(n) else f"{n:.3f}"


def client_section(results: dict[str, tuple[float, float]], elements: dict[str, int],
                   allocs: dict[str, dict[str, float]] | None) -> list[str]:
    """The client table and its goals, as Markdown lines (empty without
    client results)."""
    rates: dict[tuple[str, str], float] = {}
    for bench_id, (ns, _ci) in results.items():
        if not bench_id.startswith(CLIENT_PREFIX):
            continue
        parts = bench_id.split("/")
        if len(parts) != 3 or ns <= 0:
            continue
        _, case, impl = parts
        rates[(case, impl)] = elements.get(bench_id, 1) * 1e9 / ns
    if not rates:
        return []
    cases = sorted({c for c, _ in rates}, key=lambda c: order_key(c, CLIENT_CASES))
    out = ["## Client: publish → scripted acks, in memory", ""]
    out.append("Messages per second on one core (64-byte payload, batches of "
               f"{max(elements.values(), default=1):,} messages, all in flight before their acks; "
               "QoS 1: PUBLISH → PUBACK, QoS 2: PUBLISH → PUBREC → PUBREL → PUBCOMP; bytes out drained "
               "into a reused buffer, events drained). Ratio > 1.00× means libmqtt handles more "
               "messages per second. "
               "Heap allocations per message (publish and its acks) in steady state, "
               "counted by a counting global allocator.")
    out.append("")
    header = ["case", f"{CLIENT_PEER} (msg/s)", f"{CLIENT_OURS} (msg/s)", f"{CLIENT_OURS} / {CLIENT_PEER}",
              f"allocs/msg {CLIENT_OURS}", f"allocs/msg {CLIENT_PEER}"]
    body = []
    for case in cases:
        peer, ours = rates.get((case, CLIENT_PEER)), rates.get((case, CLIENT_OURS))
        ratio = fmt_ratio(ours / peer) if ours and peer else "—"
        a = (allocs or {}).get(case, {})
        body.append([case, fmt_rate(peer), fmt_rate(ours), ratio,
                     fmt_allocs(a.get(CLIENT_OURS)), fmt_allocs(a.get(CLIENT_PEER))])
    out += [render(header, body), ""]
    out.append("Goals:")
    out.append("")
    for case in ("qos1_v311", "qos1_v5"):
        ours = rates.get((case, CLIENT_OURS))
        if ours is not None:
            ok = "met" if ours >= CLIENT_QOS1_GOAL else "NOT met"
            out.append(f"- At least {CLIENT_QOS1_GOAL / 1e6:g} M QoS 1 messages/s, {case}: "
                       f"{fmt_rate(ours)} msg/s → {ok}")
    if allocs:
        for case in ("qos0_v311", "qos0_v5"):
            n = allocs.get(case, {}).get(CLIENT_OURS)
            if n is not None:
                ok = "met" if n == 0 else "NOT met"
                out.append(f"- Zero heap allocations per QoS 0 publish in steady state, {case}: "
                           f"{fmt_allocs(n)} → {ok}")
    else:
        out.append("- Allocations per QoS 0 publish: not measured (run `cargo bench --bench client_alloc`)")
    out.append("")
    return out


def load_allocs(path: Path | None) -> dict[str, dict[str, float]] | None:
    """case -> {impl: allocations per message}, from `benches/client_alloc.rs`."""
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return {row["case"]: {k: float(v) for k, v in row.items() if k != "case"}
                for row in data["allocations_per_message"]}
    except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
        print(f"warning: ignoring {path}: {e}", file=sys.stderr)
        return None


def run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=HERE).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        return f"unknown ({e})"


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = run(["nproc"])
    if nproc.startswith("unknown"):
        nproc = str(os.cpu_count())
    return [
        f"- Date: {run(['date', '-u'])}",
        f"- Machine: {nproc} CPUs (`nproc`), {cpu}",
        f"- Compiler: {run(['rustc', '--version'])}",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion-dir", type=Path, action="append", metavar="DIR",
                    help="Criterion output directory (default: target/criterion); repeat to "
                         "report each benchmark's minimum over several runs")
    ap.add_argument("--stat", choices=["auto", "mean", "median", "slope"], default="auto",
                    help="which Criterion estimate to report (default: slope if fitted, else mean)")
    ap.add_argument("--ci", action="store_true",
                    help="append the 95%% confidence interval half-width (in %%) to each cell")
    ap.add_argument("--client-alloc", type=Path, metavar="FILE",
                    help="allocations per message written by `cargo bench --bench client_alloc` "
                         "(default: target/client-alloc.json when it exists)")
    ap.add_argument("--markdown-out", type=Path, metavar="FILE",
                    help="also write the table, goals, date and machine to FILE (Markdown)")
    args = ap.parse_args(argv)

    dirs = args.criterion_dir or [HERE / "target" / "criterion"]
    for d in dirs:
        if not d.is_dir():
            print(f"error: {d} not found; run `cargo bench` first", file=sys.stderr)
            return 1
    all_results = load_min(dirs, args.stat)
    if not all_results:
        print(f"error: no estimates under {', '.join(map(str, dirs))}", file=sys.stderr)
        return 1
    # The client benchmarks have their own section; the rest is the codec.
    results = {k: v for k, v in all_results.items() if not k.startswith(CLIENT_PREFIX)}
    alloc_path = args.client_alloc or HERE / "target" / "client-alloc.json"
    client_lines = client_section(all_results, client_elements(dirs), load_allocs(alloc_path))

    header, body = build_table(results, args.ci)
    table = [render(header, body), ""]
    memcpy = results[MEMCPY_ID][0] if MEMCPY_ID in results else None
    if memcpy:
        table.append(f"Reference: `{MEMCPY_ID}` = {fmt_ns(memcpy)} ns ({4096 / memcpy:.1f} bytes/ns).")
    runs = f", lowest of {len(dirs)} runs" if len(dirs) > 1 else ""
    table.append(f"ns per packet (Criterion `{args.stat}` estimate{runs}); **bold** = fastest peer in the row; "
                 f"ratio < 1.00× means {OURS_PREFIX} is faster than the fastest peer.")
    goal_lines = goals(results) if results else []
    if client_lines:
        client_lines.append(f"msg/s = messages per iteration / Criterion `{args.stat}` estimate of the time "
                            f"per iteration{runs}.")
    print("\n".join(table + [""] + goal_lines + [""] + client_lines))

    if args.markdown_out:
        doc = (["# libmqtt benchmarks: codec and client", ""] + machine()
               + [f"- Source: `cargo bench` in `bench/` ({len(dirs)} run{'s' if len(dirs) > 1 else ''}), "
                  f"summarised by `report.py --stat {args.stat}`", ""]
               + table + [""] + goal_lines + [""] + client_lines)
        # Sections other scripts append (broker-e2e.py, broker-engine-report.py)
        # follow this marker line; keep them.
        keep_marker = "<!-- report.py keeps the sections below -->"
        old = args.markdown_out.read_text() if args.markdown_out.exists() else ""
        if keep_marker in old:
            doc += ["", old[old.index(keep_marker):].rstrip()]
        args.markdown_out.write_text("\n".join(doc).rstrip() + "\n")
        print(f"wrote {args.markdown_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
