#!/usr/bin/env bash
# The tokio client benchmark (issue 15): mqtt-tokio beside rumqttc 0.25
# through Debian's mosquitto and through our example broker on 127.0.0.1,
# QoS 0/1/2, 1x1 and 4x4 (tokio-clients.py; extra arguments go there, e.g.
# --reps 1 --scale 0.2), writing its section of RESULTS.md. Not a test.
set -euo pipefail
cd "$(dirname "$0")"
test -x /usr/sbin/mosquitto || { echo "mosquitto is required: apt-get install -y mosquitto"; exit 1; }
(cd .. && cargo build --release -p mqtt-core --example broker)
cargo build --release --bin tokio_clients
python3 tokio-clients.py --markdown-out RESULTS.md "$@"
