#!/usr/bin/env bash
# Benchmark (not a test): throughput against Debian's mosquitto on
# 127.0.0.1, 64-byte payloads, QoS 0 and 1, MQTT 5.0, best of RUNS runs.
# Publisher: libmqtt's C example pub beside a libmosquitto program doing the
# same (bench/mosq_pub.c); QoS 0 ends when every message is written to the
# socket, QoS 1 when every PUBACK is in. Subscriber: libmqtt's C example sub
# beside a libmosquitto program doing the same (bench/mosq_sub.c, both
# print one line per message to a file), fed by the same publisher
# (mosq_pub) once the SUBACK is in; timed from the publisher's start to the
# subscriber's exit after its N-th message.
# usage: throughput.sh BUILD_DIR (with pub, sub, mosq_pub and mosq_sub)
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

# One subscriber run: start it, wait for "subscribed", publish N messages
# with mosq_pub, time until the subscriber exits with all N.
sub_once() { # QOS TOPIC command...
  local q=$1 topic=$2 pid s e got
  shift 2
  "$@" > "$WORK/sub.out" 2> "$WORK/sub.err" &
  pid=$!
  for _ in $(seq 200); do grep -q '^subscribed' "$WORK/sub.out" 2>/dev/null && break; sleep 0.05; done
  grep -q '^subscribed' "$WORK/sub.out" || { echo "subscriber did not subscribe: $(cat "$WORK/sub.err")" >&2; kill "$pid"; return 1; }
  s=$(date +%s.%N)
  "$BIN/mosq_pub" "$PORT" "$topic" "$q" "$N" "$PAYLOAD" > /dev/null
  wait "$pid" || true
  e=$(date +%s.%N)
  got=$(grep -c "^$topic " "$WORK/sub.out" || true)
  [ "$got" = "$N" ] || { echo "subscriber ($1) got $got of $N: $(cat "$WORK/sub.err")" >&2; return 1; }
  secs "$s" "$e"
}
sub_best() { # QOS NAME command... (TOPIC in the command is replaced)
  local q=$1 name=$2 b=999999 t topic i
  shift 2
  for i in $(seq "$RUNS"); do
    topic="sub/$name/$q/$i"
    t=$(sub_once "$q" "$topic" "${@//TOPIC/$topic}")
    b=$(python3 -c "print(min($b, $t))")
  done
  echo "$b"
}
echo
echo "| subscriber (MQTT 5.0, 64-byte payloads, $N messages from mosq_pub) | QoS | msg/s |"
echo "|---|---|---|"
for Q in 0 1; do
  T=$(sub_best "$Q" libmqtt "$BIN/sub" -p "$PORT" -t TOPIC -q "$Q" -V 5 -n "$N" -T 120)
  echo "| libmqtt (ffi-c/examples/sub.c) | $Q | $(python3 -c "print(int($N/$T))") |"
  T=$(sub_best "$Q" mosq "$BIN/mosq_sub" "$PORT" TOPIC "$Q" "$N")
  echo "| libmosquitto $(dpkg-query -W -f='${Version}' libmosquitto1 2>/dev/null || echo '?') | $Q | $(python3 -c "print(int($N/$T))") |"
done
