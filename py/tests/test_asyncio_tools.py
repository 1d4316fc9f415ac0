"""The command line (``python -m libmqtt``) and the demo, run as
subprocesses against our broker and mosquitto on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import libmqtt

DEMO = Path(__file__).resolve().parent.parent / "demo.py"


def cli(*args: str, timeout: float = 20, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "libmqtt", *args], capture_output=True, timeout=timeout, **kw)


@pytest.mark.parametrize("version", ["311", "5"])
def test_cli_sub_receives_what_pub_sends(broker_port: int, version: str) -> None:
    """`sub -C 2 -v` prints topic and payload of two messages, then exits 0."""
    topic = f"cli/{uuid.uuid4().hex[:8]}"
    port = str(broker_port)
    sub = subprocess.Popen(
        [sys.executable, "-m", "libmqtt", "sub", "-p", port, "-V", version, "-t", f"{topic}/#", "-q", "1", "-v", "-C", "2", "-W", "15"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Publish until the subscriber has seen two (it may still be
        # subscribing when the first ones go): bounded attempts.
        for n in range(40):
            if sub.poll() is not None:
                break
            qos = "1" if n % 2 == 0 else "2"
            done = cli("pub", "-p", port, "-V", version, "-t", f"{topic}/{n}", "-m", f"hello {n}", "-q", qos)
            assert done.returncode == 0, done.stderr
            time.sleep(0.1)
        out, err = sub.communicate(timeout=20)
    finally:
        sub.kill()
    assert sub.returncode == 0, err
    lines = out.decode().splitlines()
    assert len(lines) == 2, lines
    first = int(lines[0].split()[-1])
    assert lines == [f"{topic}/{first} hello {first}", f"{topic}/{first + 1} hello {first + 1}"]


def test_cli_pub_retained_and_will_options(our_broker: int) -> None:
    """`pub -r` with will options is accepted; `sub` then gets the retained message."""
    topic = f"cli/{uuid.uuid4().hex[:8]}"
    port = str(our_broker)
    done = cli("pub", "-p", port, "-t", topic, "-m", "kept", "-r", "-q", "1", "--will-topic", "w", "--will-payload", "x", "--will-qos", "1", "--will-retain", "-i", "cli-pub")
    assert done.returncode == 0, done.stderr
    got = cli("sub", "-p", port, "-t", topic, "-C", "1", "-W", "10")
    assert got.returncode == 0, got.stderr
    assert got.stdout == b"kept\n"


def test_cli_sub_timeout_exit_status(our_broker: int) -> None:
    """`-W` ends `sub` with status 27 when nothing arrives."""
    got = cli("sub", "-p", str(our_broker), "-t", f"none/{uuid.uuid4().hex}", "-W", "0.5")
    assert got.returncode == 27


def test_cli_connection_refused_is_an_error() -> None:
    from conftest import free_port

    got = cli("pub", "-p", str(free_port()), "-t", "a", "-m", "b")
    assert got.returncode == 1
    assert b"error" in got.stderr


def test_cli_decode_hex() -> None:
    """`decode` prints the packet type and its fields."""
    wire = libmqtt.encode(libmqtt.Publish("a/b", b"hi", qos=1, packet_id=7, properties=libmqtt.Properties(user_properties=(("k", "v"),))))
    got = cli("decode", wire.hex(" "))
    assert got.returncode == 0, got.stderr
    text = got.stdout.decode()
    assert text.startswith("PUBLISH\n")
    assert "topic: 'a/b'" in text and "packet_id: 7" in text and "user_properties: (('k', 'v'),)" in text


def test_cli_decode_binary_stdin_several_packets_311() -> None:
    wire = libmqtt.encode(libmqtt.PingReq(), 4) + libmqtt.encode(libmqtt.Disconnect(), 4)
    got = cli("decode", "-V", "311", "-", input=wire)
    assert got.returncode == 0, got.stderr
    assert [line for line in got.stdout.decode().splitlines() if not line.startswith(" ")] == ["PINGREQ", "DISCONNECT"]


def test_cli_decode_malformed_reports_reason_code() -> None:
    """[MQTT-3.3.1-4] QoS 3 is malformed: exit 1, reason code 0x81 printed."""
    got = cli("decode", "36 03 00 01 61")
    assert got.returncode == 1
    assert b"0x81" in got.stderr


def test_cli_decode_truncated() -> None:
    got = cli("decode", "30 05 00 03")
    assert got.returncode == 1
    assert b"incomplete" in got.stderr


def test_demo_runs_on_embedded_broker() -> None:
    """The demo (what `make demo` runs) completes and exits 0."""
    got = subprocess.run([sys.executable, str(DEMO), "--timeout", "30"], capture_output=True, timeout=60)
    assert got.returncode == 0, got.stderr.decode() + got.stdout.decode()
    assert b"Demo complete" in got.stdout


def test_demo_runs_on_given_broker(mosquitto: int) -> None:
    """`make demo BROKER=host:port` against mosquitto."""
    got = subprocess.run([sys.executable, str(DEMO), "--broker", f"127.0.0.1:{mosquitto}", "--timeout", "30"], capture_output=True, timeout=60)
    assert got.returncode == 0, got.stderr.decode() + got.stdout.decode()
    assert b"Using the broker at 127.0.0.1" in got.stdout
