#!/usr/bin/env bash
# Runs the codec benchmarks three times (a busy 2-core machine is noisy) and
# reports each benchmark's lowest estimate, writing RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")"
cargo bench --bench codec --no-run
for run in A B C; do
  CRITERION_HOME="target/criterion-run$run" cargo bench --bench codec -- --noplot >/dev/null
done
python3 report.py --criterion-dir target/criterion-runA --criterion-dir target/criterion-runB \
  --criterion-dir target/criterion-runC --markdown-out RESULTS.md
