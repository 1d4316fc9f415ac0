#!/usr/bin/env python3
"""Summarise the codec benchmarks as a Markdown table.

Reads Criterion's ``target/criterion/**/new/estimates.json`` (plus the
``benchmark.json`` beside it, which holds the benchmark ID) and prints one row
per ``{case}/{op}``, one column per implementation (ns per packet), the
``reference/memcpy/4KiB`` time, and -- for every implementation whose name
starts with ``libmqtt`` -- the ratio to the fastest peer in that row
(< 1.00 means libmqtt is faster).

Usage (from /work/main/bench, after ``cargo bench``):

    python3 report.py [--criterion-dir DIR] [--stat auto|mean|median|slope]

Python 3.11+, standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
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
PEER_ORDER = ["rumqttc", "mqttrs", "mqtt-protocol", "mqtt-protocol-core"]


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


def order_key(value: str, order: list[str]) -> tuple[int, str]:
    return (order.index(value), "") if value in order else (len(order), value)


def impl_key(name: str) -> tuple[int, int, str]:
    # peers first (known order, then alphabetical), ours last
    ours = name.startswith(OURS_PREFIX)
    return (int(ours),) + order_key(name, PEER_ORDER)


def fmt_ns(ns: float | None) -> str:
    if ns is None or math.isnan(ns):
        return "—"
    if ns >= 100:
        return f"{ns:,.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


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
                line.append(f"{r[o] / peer_vals[fastest]:.2f}×")
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion-dir", type=Path, default=HERE / "target" / "criterion",
                    help="Criterion output directory (default: %(default)s)")
    ap.add_argument("--stat", choices=["auto", "mean", "median", "slope"], default="auto",
                    help="which Criterion estimate to report (default: slope if fitted, else mean)")
    ap.add_argument("--ci", action="store_true",
                    help="append the 95%% confidence interval half-width (in %%) to each cell")
    args = ap.parse_args(argv)

    if not args.criterion_dir.is_dir():
        print(f"error: {args.criterion_dir} not found; run `cargo bench` first", file=sys.stderr)
        return 1
    results = load(args.criterion_dir, args.stat)
    if not results:
        print(f"error: no estimates under {args.criterion_dir}", file=sys.stderr)
        return 1

    header, body = build_table(results, args.ci)
    print(render(header, body))
    memcpy = results[MEMCPY_ID][0] if MEMCPY_ID in results else None
    print()
    if memcpy:
        print(f"Reference: `{MEMCPY_ID}` = {fmt_ns(memcpy)} ns ({4096 / memcpy:.1f} bytes/ns).")
    print(f"ns per packet (Criterion `{args.stat}` estimate); **bold** = fastest peer in the row; "
          f"ratio < 1.00× means {OURS_PREFIX} is faster than the fastest peer.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
