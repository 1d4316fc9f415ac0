#!/usr/bin/env python3
"""Turns the results of `make fuzz-long` (fuzz/results/<target>/stats and
coverage.json, an `llvm-cov export -summary-only`) into fuzz/COVERAGE.md:
per target the executions, the kept corpus and the line / region coverage
of core/src/codec, client, server and broker; then, per directory, each
file's best coverage over all targets and the target that reached it.

Usage: coverage-table.py <output.md> <target>...
"""
import datetime
import json
import os
import re
import subprocess
import sys

DIRS = ["codec", "client", "server", "broker"]
HERE = os.path.dirname(os.path.abspath(__file__))


def directory_of(path):
    """(dir, path relative to core/src) when the file is in one of DIRS."""
    m = re.search(r"/core/src/((%s)(/.*|\.rs))$" % "|".join(DIRS), path)
    return (m.group(2), m.group(1)) if m else (None, None)


def pct(covered, count):
    return "n/a" if count == 0 else f"{100.0 * covered / count:.1f}%"


def load(target):
    res = os.path.join(HERE, "results", target)
    stats = {}
    with open(os.path.join(res, "stats")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            stats[k] = v
    with open(os.path.join(res, "coverage.json")) as f:
        data = json.load(f)
    files = {}
    for entry in data["data"][0]["files"]:
        d, rel = directory_of(entry["filename"])
        if d is None:
            continue
        s = entry["summary"]
        files[rel] = (d, s["lines"]["covered"], s["lines"]["count"],
                      s["regions"]["covered"], s["regions"]["count"])
    return stats, files


def main():
    out, targets = sys.argv[1], sys.argv[2:]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                            capture_output=True, text=True).stdout.strip()
    rows, best = [], {}
    seconds = set()
    for t in targets:
        stats, files = load(t)
        seconds.add(stats.get("seconds", "?"))
        per_dir = {d: [0, 0, 0, 0] for d in DIRS}
        for rel, (d, lc, ln, rc, rn) in files.items():
            acc = per_dir[d]
            acc[0] += lc; acc[1] += ln; acc[2] += rc; acc[3] += rn
            if rel not in best or lc > best[rel][1]:
                best[rel] = (d, lc, ln, rc, rn, t)
        cells = []
        for d in DIRS:
            lc, ln, rc, rn = per_dir[d]
            cells.append("-" if ln == 0 else f"{pct(lc, ln)} / {pct(rc, rn)}")
        kb = int(stats.get("kept_bytes", 0)) / 1024
        rows.append(f"| `{t}` | {stats.get('seconds')} | {int(stats.get('executions', 0)):,} | "
                    f"{stats.get('kept_files')} files, {kb:.0f} KiB | " + " | ".join(cells) + " |")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Fuzz campaign coverage",
        "",
        f"Written by `make fuzz-long` on {now}, commit `{commit}`, "
        f"{' / '.join(sorted(seconds))} s per target (`FUZZ_SECONDS`).",
        "Coverage is that of the minimised kept corpus (`fuzz/corpus-kept/<target>`), measured",
        "with `cargo fuzz coverage` and `llvm-cov`; each cell is lines / regions covered.",
        "",
        "| target | seconds | executions | kept corpus | " + " | ".join(f"core/src/{d}" for d in DIRS) + " |",
        "|---|---:|---:|---|" + "---:|" * len(DIRS),
        *rows,
        "",
        "## Per file: the best target",
        "",
        "Each file's highest line coverage over the targets above (regions from the same run).",
    ]
    for d in DIRS:
        entries = sorted((rel, v) for rel, v in best.items() if v[0] == d)
        if not entries:
            continue
        lines += ["", f"### core/src/{d}", "", "| file | lines | regions | target |", "|---|---:|---:|---|"]
        for rel, (_, lc, ln, rc, rn, t) in entries:
            lines.append(f"| `{rel}` | {pct(lc, ln)} ({lc}/{ln}) | {pct(rc, rn)} ({rc}/{rn}) | `{t}` |")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
