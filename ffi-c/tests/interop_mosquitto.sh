#!/usr/bin/env bash
# The C examples (pub, sub) against Debian's mosquitto on 127.0.0.1, for
# MQTT 3.1.1 and 5.0 at QoS 0, 1 and 2: sub receives exactly the N
# messages pub sends, in order. Starts its own broker on a free port.
# usage: interop_mosquitto.sh BUILD_DIR   (holding the pub and sub binaries)
set -euo pipefail
BIN=${1:?build dir}
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$MOSQUITTO" ] || { echo "mosquitto is not installed (make setup installs it)"; exit 1; }
WORK=$(mktemp -d)
BROKER=
cleanup() {
  if [ -n "$BROKER" ]; then kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$PORT" > "$WORK/mosquitto.conf"
"$MOSQUITTO" -c "$WORK/mosquitto.conf" > "$WORK/mosquitto.log" 2>&1 &
BROKER=$!
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
  sleep 0.1
done
N=5
for V in 31 311 5; do
  for Q in 0 1 2; do
    TOPIC="libmqtt/c-interop/v$V/q$Q"
    OUT="$WORK/sub-$V-$Q.out"
    "$BIN/sub" -p "$PORT" -t "$TOPIC" -q "$Q" -V "$V" -n "$N" -T 10 -i "c-sub-$V-$Q" > "$OUT" &
    SUB=$!
    for _ in $(seq 100); do grep -q '^subscribed$' "$OUT" 2>/dev/null && break; sleep 0.05; done
    grep -q '^subscribed$' "$OUT" || { echo "FAIL v$V QoS $Q: sub did not subscribe"; kill $SUB; exit 1; }
    "$BIN/pub" -p "$PORT" -t "$TOPIC" -q "$Q" -V "$V" -n "$N" -m msg -T 10 -i "c-pub-$V-$Q" > /dev/null
    wait $SUB || { echo "FAIL v$V QoS $Q: sub failed"; cat "$OUT"; exit 1; }
    EXPECTED=$(printf 'subscribed\n'; for i in $(seq 0 $((N - 1))); do echo "$TOPIC msg $i"; done)
    if [ "$(cat "$OUT")" != "$EXPECTED" ]; then
      echo "FAIL v$V QoS $Q: got"; cat "$OUT"; exit 1
    fi
    echo "ok: C pub -> mosquitto -> C sub, MQTT $(case $V in 31) echo 3.1;; 311) echo 3.1.1;; *) echo 5.0;; esac), QoS $Q, $N messages"
  done
done
