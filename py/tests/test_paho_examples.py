"""The paho-mqtt 2.x programs of py/examples/paho/ and their libmqtt.sync
ports: each pair differs only in the import line (checked), and each
program runs against a real broker in a subprocess (the paho original too
when paho-mqtt is installed), bounded in time."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import libmqtt.sync as mqtt

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "paho"
NAMES = ["publisher_qos1", "subscriber", "tls_client", "will"]
HAVE_PAHO = importlib.util.find_spec("paho") is not None and importlib.util.find_spec("paho.mqtt") is not None
VARIANTS = ["libmqtt", pytest.param("paho", marks=pytest.mark.skipif(not HAVE_PAHO, reason="paho-mqtt is not installed"))]


def code_lines(path: Path) -> list:
    """The program without its docstring's first lines and its imports."""
    text = path.read_text().split('"""', 2)[2]
    return [line for line in text.splitlines() if not line.startswith(("import ", "from "))]


@pytest.mark.parametrize("name", NAMES)
def test_port_changes_only_the_import(name: str) -> None:
    paho = EXAMPLES / f"{name}_paho.py"
    ours = EXAMPLES / f"{name}_libmqtt.py"
    assert code_lines(paho) == code_lines(ours)
    assert "import paho.mqtt.client as mqtt" in paho.read_text()
    assert "import libmqtt.sync as mqtt" in ours.read_text()


def run(name: str, variant: str, env: dict, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}_{variant}.py")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def watcher(port: int, topic: str, count: int, **kw) -> tuple:
    """A libmqtt.sync client collecting ``count`` messages on ``topic``."""
    got: list = []
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(client, userdata, message):
        got.append(message)
        if len(got) >= count:
            done.set()

    c = mqtt.Client(f"watch-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5, **kw)
    c.on_message = on_message
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.subscribe(topic, 1)
    assert subscribed.wait(10)
    return c, got, done


@pytest.mark.parametrize("variant", VARIANTS)
def test_publisher_qos1(broker_port: int, variant: str) -> None:
    topic = f"ex/pub/{uuid.uuid4().hex[:8]}"
    c, got, done = watcher(broker_port, topic, 10)
    try:
        r = run("publisher_qos1", variant, {"MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(broker_port), "MQTT_TOPIC": topic, "MQTT_COUNT": "10"})
        assert r.returncode == 0, r.stderr
        assert "published 10 messages, 10 acknowledged" in r.stdout
        assert done.wait(10)
        assert [m.payload for m in got] == [f"message {i}".encode() for i in range(10)]
    finally:
        c.disconnect()
        c.loop_stop()


@pytest.mark.parametrize("variant", VARIANTS)
def test_subscriber_loop_forever(broker_port: int, variant: str) -> None:
    base = f"ex/sub/{uuid.uuid4().hex[:8]}"
    env = {"MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(broker_port), "MQTT_TOPIC": f"{base}/#", "MQTT_COUNT": "5"}
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / f"subscriber_{variant}.py")],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        timer = threading.Timer(20, proc.kill)
        timer.start()
        line = proc.stdout.readline()
        assert line.strip() == "Broker granted the following QoS: 1", line + proc.stderr.read()
        mqtt.multiple([(f"{base}/{i}", f"m{i}", 1, False) for i in range(5)], hostname="127.0.0.1", port=broker_port)
        out, err = proc.communicate(timeout=20)
        timer.cancel()
        assert proc.returncode == 0, err
        assert "Received the following message: [b'm0', b'm1', b'm2', b'm3', b'm4']" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("variant", VARIANTS)
def test_tls_client(mosquitto_tls: int, test_ca: dict, variant: str) -> None:
    topic = f"ex/tls/{uuid.uuid4().hex[:8]}"
    r = run("tls_client", variant, {"MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(mosquitto_tls), "MQTT_CAFILE": test_ca["ca"], "MQTT_TOPIC": topic})
    assert r.returncode == 0, r.stderr
    assert f"{topic}: over TLS (QoS 1)" in r.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_will_published_when_killed(broker_port: int, variant: str) -> None:
    topic = f"ex/will/{uuid.uuid4().hex[:8]}"
    c, got, done = watcher(broker_port, topic, 2)
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / f"will_{variant}.py")],
        env={**os.environ, "MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(broker_port), "MQTT_TOPIC": topic},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        timer = threading.Timer(20, proc.kill)
        timer.start()
        assert proc.stdout.readline().strip() == "online", proc.stderr.read()
        timer.cancel()
        proc.send_signal(signal.SIGKILL)  # dies without DISCONNECT
        proc.wait(10)
        assert done.wait(10), [m.payload for m in got]
        assert [(m.payload, m.qos) for m in got] == [(b"online", 1), (b"offline", 1)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        mqtt.single(topic, None, 1, retain=True, hostname="127.0.0.1", port=broker_port)  # clear
        c.disconnect()
        c.loop_stop()
        time.sleep(0.05)
