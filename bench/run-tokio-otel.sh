#!/usr/bin/env bash
# The cost of mqtt-tokio's OpenTelemetry instrumentation (issue 16): off,
# on with no-op providers, on with the SDK, QoS 0 and 1, in one run
# through our release example broker on 127.0.0.1 (src/bin/tokio_otel.rs;
# extra arguments go there, e.g. --count 20000 --reps 1). Not a test.
set -euo pipefail
cd "$(dirname "$0")"
(cd .. && cargo build --release -p mqtt-core --example broker)
cargo build --release --features otel --bin tokio_otel
out=$(mktemp)
../target/release/examples/broker --host 127.0.0.1 --port 0 >"$out" 2>/dev/null &
broker=$!
trap 'kill $broker 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q "listening on" "$out" && break; sleep 0.1; done
port=$(sed -n 's/^listening on .*://p' "$out")
target/release/tokio_otel --port "$port" --count 50000 --reps 3 "$@"
