#!/usr/bin/env bash
# Runs the codec and client benchmarks three times (a busy 2-core machine is
# noisy) and reports each benchmark's lowest estimate, plus the client's heap
# allocations per message (counted once: they do not vary), writing RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")"
cargo bench --bench codec --bench client --bench client_alloc --no-run
for run in A B C; do
  CRITERION_HOME="target/criterion-run$run" cargo bench --bench codec -- --noplot >/dev/null
  CRITERION_HOME="target/criterion-run$run" cargo bench --bench client -- --noplot >/dev/null
done
CLIENT_ALLOC_JSON=target/client-alloc.json cargo bench --bench client_alloc
python3 report.py --criterion-dir target/criterion-runA --criterion-dir target/criterion-runB \
  --criterion-dir target/criterion-runC --client-alloc target/client-alloc.json --markdown-out RESULTS.md
