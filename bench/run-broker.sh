#!/usr/bin/env bash
# Broker benchmarks (issue 4), each writing its own section of RESULTS.md:
#  1. the engine in memory (benches/broker_engine.rs): three Criterion runs,
#     lowest estimate of each benchmark (broker-engine-report.py);
#  2. end to end on 127.0.0.1: the release example broker vs. Debian's
#     mosquitto under the same load (broker-e2e.py; extra arguments go there,
#     e.g. --messages 20000 --reps 1).
set -euo pipefail
cd "$(dirname "$0")"
command -v /usr/sbin/mosquitto >/dev/null || test -x /usr/sbin/mosquitto || {
  echo "mosquitto is required: apt-get install -y mosquitto"; exit 1; }
cargo bench --bench broker_engine --no-run
for run in A B C; do
  CRITERION_HOME="target/criterion-broker-run$run" cargo bench --bench broker_engine -- --noplot >/dev/null
done
python3 broker-engine-report.py --criterion-dir target/criterion-broker-runA \
  --criterion-dir target/criterion-broker-runB --criterion-dir target/criterion-broker-runC \
  --markdown-out RESULTS.md
python3 broker-e2e.py --markdown-out RESULTS.md "$@"
