#!/usr/bin/env bash
# The wheel on a machine without Rust: check_wheel.sh WHEEL [WORKDIR]
#
# Creates a fresh venv in WORKDIR (default target/wheel-test), then, with
# the environment emptied and PATH cut to the venv's bin, /usr/bin and
# /bin (no cargo, no rustc: checked), installs WHEEL with
# `pip install --no-index` (nothing fetched, nothing built), imports
# libmqtt from outside the source tree, runs `python -m libmqtt --help`,
# starts `python -m libmqtt broker --port 0` on 127.0.0.1, round-trips a
# message through the `sub -C 1` and `pub` commands, and runs
# roundtrip.py (libmqtt.asyncio.Client, QoS 0/1/2) against that broker.
# Every step is bounded by a timeout; the broker is killed on exit.
# Runs with python3, and again with the oldest and newest CPython the
# wheel claims that are installed (3.10 and 3.13 in pyenv's versions, or
# on PATH); PYTHONS="..." replaces that list.
# Prints `wheel-test: N passed, M failed`; exits non-zero on any failure.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
wheel=${1:?usage: check_wheel.sh WHEEL [WORKDIR]}
work=${2:-$here/../../target/wheel-test}

wheel=$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")
mkdir -p "$work"
work=$(cd "$work" && pwd)
passed=0
failed=0
broker_pid=

ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
  stop_broker
  echo "wheel-test: $passed passed, $failed failed"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
}
abort() { fail "$*"; finish; exit 1; }
stop_broker() {
  if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null; fi
  broker_pid=
}
trap 'exit 1' INT TERM

# The environment a machine without Rust would give: nothing inherited
# (no CARGO_*, RUSTUP_*, PIP_FIND_LINKS, ...), PATH without ~/.cargo/bin.
clean() {
  env -i HOME="$work/home" LANG=C.UTF-8 PATH="$venv/bin:/usr/bin:/bin" "$@"
}

echo "wheel-test: $wheel"

# One interpreter: a fresh venv, the install, and every check.
check_with() {
  local python=$1
  venv=$work/venv-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  rm -rf "$venv" "$work/home" && mkdir -p "$work/home" || abort "could not clear $work"
  "$python" -m venv "$venv" || abort "$python -m venv"
  ok "fresh venv ($("$venv/bin/python" -V 2>&1)) in $venv"

  if clean bash -c 'command -v cargo || command -v rustc || command -v rustup' >/dev/null; then
    abort "cargo/rustc/rustup still on the stripped PATH: the test would prove nothing"
  fi
  ok "no cargo, rustc or rustup on PATH=$venv/bin:/usr/bin:/bin"

  start=$(date +%s.%N)
  if (cd "$work" && clean timeout 120 pip install --no-index --no-cache-dir "$wheel") >"$work/pip.log" 2>&1; then
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if grep -qiE 'building wheel|cargo|rustc|maturin' "$work/pip.log"; then
      fail "pip install built something:"; cat "$work/pip.log"
    else
      ok "pip install --no-index of the wheel (${secs}s, nothing built)"
    fi
  else
    cat "$work/pip.log"; abort "pip install of the wheel"
  fi

  # From $work, outside the source tree: the installed package is the one imported.
  if out=$(cd "$work" && clean timeout 30 python -c 'if True:
  import libmqtt, libmqtt._core as c
  assert "site-packages" in libmqtt.__file__, libmqtt.__file__
  assert c.__file__.endswith(".abi3.so"), c.__file__
  p = libmqtt.Publish("t", b"x", qos=1, packet_id=1)
  assert libmqtt.decode(libmqtt.encode(p)) == p
  print(c.__file__)' 2>&1); then
    ok "import libmqtt: $out"
  else
    echo "$out"; abort "import libmqtt"
  fi

  if out=$(cd "$work" && clean timeout 30 python -m libmqtt --help 2>&1) && grep -q 'broker' <<<"$out"; then
    ok "python -m libmqtt --help"
  else
    echo "$out"; fail "python -m libmqtt --help"
  fi

  # The broker on a free port: --port 0, the port read from its first line.
  (cd "$work" && exec env -i HOME="$work/home" LANG=C.UTF-8 PATH="$venv/bin:/usr/bin:/bin" \
    timeout 120 python -m libmqtt broker --host 127.0.0.1 --port 0) >"$work/broker.log" 2>&1 &
  broker_pid=$!
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/broker.log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$broker_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then cat "$work/broker.log"; abort "python -m libmqtt broker did not start"; fi
  ok "python -m libmqtt broker on 127.0.0.1:$port"

  # sub -C 1 in the background; pub repeated (QoS 1) until sub has its
  # message, since sub's SUBSCRIBE may not have reached the broker yet.
  msg="wheel test $$ $RANDOM"
  (cd "$work" && exec env -i HOME="$work/home" LANG=C.UTF-8 PATH="$venv/bin:/usr/bin:/bin" \
    timeout 30 python -m libmqtt sub -h 127.0.0.1 -p "$port" -t 'wheel/cli/#' -q 1 -C 1) >"$work/sub.out" 2>"$work/sub.err" &
  sub_pid=$!
  pub_ok=1
  : >"$work/pub.err"
  for _ in $(seq 40); do
    if ! (cd "$work" && clean timeout 5 python -m libmqtt pub -h 127.0.0.1 -p "$port" -t wheel/cli/1 -m "$msg" -q 1) 2>>"$work/pub.err"; then
      pub_ok=0
    fi
    kill -0 "$sub_pid" 2>/dev/null || break
    sleep 0.25
  done
  sub_rc=0
  wait "$sub_pid" || sub_rc=$?
  if [ "$sub_rc" = 0 ] && [ "$(cat "$work/sub.out")" = "$msg" ]; then
    ok "CLI round trip: pub -q 1 -> sub -C 1 got '$msg'"
  else
    echo "sub exit $sub_rc, stdout: $(cat "$work/sub.out")"; cat "$work/sub.err"
    fail "CLI round trip (sub -C 1 / pub)"
  fi
  if [ "$pub_ok" = 1 ]; then ok "python -m libmqtt pub exit status 0"; else cat "$work/pub.err"; fail "python -m libmqtt pub"; fi

  if (cd "$work" && clean timeout 60 python "$here/roundtrip.py" "$port") >"$work/roundtrip.log" 2>&1; then
    sed 's/^/     /' "$work/roundtrip.log"
    ok "libmqtt.asyncio.Client round trip (roundtrip.py)"
  else
    cat "$work/roundtrip.log"; fail "libmqtt.asyncio.Client round trip (roundtrip.py)"
  fi

  if kill -0 "$broker_pid" 2>/dev/null; then
    ok "broker still running after the clients"
  else
    cat "$work/broker.log"; fail "broker died"
  fi

  stop_broker
}

if [ -z "${PYTHONS:-}" ]; then
  PYTHONS=python3
  for v in 3.10 3.13; do
    cand=$(command -v "python$v" 2>/dev/null) && "$cand" -c '' 2>/dev/null ||
      cand=$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/$v.*/bin/python$v 2>/dev/null | tail -n 1)
    if [ -n "$cand" ] && "$cand" -c '' 2>/dev/null; then PYTHONS="$PYTHONS $cand"; else echo "note: no python$v found, not checked"; fi
  done
fi
for python in $PYTHONS; do
  echo "== $python"
  check_with "$python"
done
finish
