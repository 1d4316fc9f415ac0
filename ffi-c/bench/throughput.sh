#!/usr/bin/env bash
# Benchmark (not a test): publisher throughput against Debian's mosquitto on
# 127.0.0.1, 64-byte payloads, QoS 0 and 1, MQTT 5.0: libmqtt's C example
# pub beside a libmosquitto program doing the same (bench/mosq_pub.c).
# Best of RUNS runs. QoS 0 ends when every message is written to the
# socket, QoS 1 when every PUBACK is in.
# usage: throughput.sh BUILD_DIR (with pub, sub and mosq_pub)
set -euo pipefail
BIN=${1:?build dir}
N=${N:-100000}
RUNS=${RUNS:-3}
WORK=$(mktemp -d)
BROKER=
cleanup() { [ -n "$BROKER" ] && kill "$BROKER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\n' "$PORT" > "$WORK/m.conf"
/usr/sbin/mosquitto -c "$WORK/m.conf" > "$WORK/m.log" 2>&1 &
BROKER=$!
sleep 0.3
PAYLOAD=$(head -c 64 /dev/zero | tr '\0' x)
secs() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$@"; }
best() { # best-of-RUNS seconds of a command
  local b=999999 s e t
  for _ in $(seq "$RUNS"); do
    s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N)
    t=$(secs "$s" "$e"); b=$(python3 -c "print(min($b, $t))")
  done
  echo "$b"
}
echo "| publisher (MQTT 5.0, 64-byte payloads, $N messages, no subscriber) | QoS | msg/s |"
echo "|---|---|---|"
for Q in 0 1; do
  # libmqtt's pub appends " i" to each payload when N > 1: trim to 64 bytes.
  T=$(best "$BIN/pub" -p "$PORT" -t "bench/$Q" -q "$Q" -n "$N" -m "${PAYLOAD:0:58}" -T 120)
  echo "| libmqtt (ffi-c/examples/pub.c) | $Q | $(python3 -c "print(int($N/$T))") |"
  T=$(best "$BIN/mosq_pub" "$PORT" "bench/$Q" "$Q" "$N" "$PAYLOAD")
  echo "| libmosquitto $(dpkg-query -W -f='${Version}' libmosquitto1 2>/dev/null || echo '?') | $Q | $(python3 -c "print(int($N/$T))") |"
done
