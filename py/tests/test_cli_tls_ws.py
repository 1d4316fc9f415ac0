"""The command line over TLS and WebSocket, its -L URLs, the broker's
password and ACL files, and `Client.from_url`: real subprocesses against
mosquitto and our broker on 127.0.0.1, certificates made at test time
(the `test_ca` fixture), every wait bounded."""

from __future__ import annotations

import asyncio
import os
import select
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Sequence

import pytest

from conftest import ThreadBroker, free_port

PY = [sys.executable, "-m", "libmqtt"]


def cli(*args: str, timeout: float = 20, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*PY, *args], capture_output=True, timeout=timeout, **kw)


def no_traceback(done: subprocess.CompletedProcess) -> str:
    err = done.stderr.decode()
    assert "Traceback" not in err, err
    return err


def exchange(sub_args: Sequence[str], publish: Callable[[int], List[str]], count: int = 1) -> List[str]:
    """Starts `sub -C count`, runs `pub publish(n)...` until the subscriber
    exits (it may still be subscribing when the first messages go), and
    returns its output lines."""
    sub = subprocess.Popen([*PY, "sub", "-C", str(count), "-W", "20", *sub_args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for n in range(40):
            if sub.poll() is not None:
                break
            done = cli("pub", *publish(n))
            assert done.returncode == 0, done.stderr.decode()
            time.sleep(0.1)
        out, err = sub.communicate(timeout=25)
    finally:
        sub.kill()
        sub.wait(timeout=10)
    assert sub.returncode == 0, err.decode()
    return out.decode().splitlines()


class BrokerCLI:
    """`python -m libmqtt broker ...` as a subprocess; `ports` maps each
    listener's name (mqtt, mqtts, ws, wss) to its port, read from the
    lines the broker prints."""

    def __init__(self, *args: str, expect: Sequence[str] = ("mqtt",)) -> None:
        self.proc = subprocess.Popen([*PY, "broker", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.ports: Dict[str, int] = {}
        deadline = time.monotonic() + 20
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        buf = b""
        try:
            while not set(expect) <= set(self.ports):
                left = deadline - time.monotonic()
                assert left > 0, f"the broker did not print its listeners: {buf!r}"
                ready, _, _ = select.select([fd], [], [], left)
                if not ready:
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(timeout=10)
                    raise AssertionError(f"the broker exited {self.proc.returncode}: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
                buf += chunk
                for line in buf.decode().splitlines():
                    if line.startswith("libmqtt broker listening on ") and line.endswith(")"):
                        address, name = line[len("libmqtt broker listening on ") :].rsplit(" (", 1)
                        self.ports[name[:-1]] = int(address.rsplit(":", 1)[1])
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.fixture
def broker_cli() -> Iterator[Callable[..., BrokerCLI]]:
    started: List[BrokerCLI] = []

    def start(*args: str, expect: Sequence[str] = ("mqtt",)) -> BrokerCLI:
        b = BrokerCLI(*args, expect=expect)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def topic() -> str:
    return f"cli-tls/{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ TLS


@pytest.mark.parametrize("version", ["311", "5"])
def test_pub_sub_over_tls_with_cafile(mosquitto_tls: int, test_ca: dict, version: str) -> None:
    """pub and sub reach mosquitto's TLS listener with --cafile (the test CA)."""
    t = topic()
    tls = ["-p", str(mosquitto_tls), "--cafile", test_ca["ca"], "-V", version]
    lines = exchange([*tls, "-t", f"{t}/#", "-q", "1", "-v"], lambda n: [*tls, "-t", f"{t}/{n}", "-m", f"m{n}", "-q", "1"])
    assert len(lines) == 1 and lines[0].startswith(f"{t}/") and lines[0].split()[1].startswith("m"), lines


def test_tls_without_trust_fails_cleanly(mosquitto_tls: int, test_ca: dict) -> None:
    """A server certificate from a CA not trusted: exit 1, a message, no traceback."""
    done = cli("pub", "-p", str(mosquitto_tls), "--cafile", test_ca["other_ca"], "-t", "a", "-m", "b")
    assert done.returncode == 1
    err = no_traceback(done)
    assert "CERTIFICATE_VERIFY_FAILED" in err and "hint:" in err, err


def test_plain_client_on_tls_port_fails(mosquitto_tls: int) -> None:
    """Plain MQTT to a TLS port does not connect: exit 1, no traceback."""
    done = cli("pub", "-p", str(mosquitto_tls), "-t", "a", "-m", "b", timeout=30)
    assert done.returncode == 1
    assert "error" in no_traceback(done)


def test_client_certificate(mosquitto_tls_client_cert: int, test_ca: dict) -> None:
    """mosquitto with require_certificate: refused without --cert/--key,
    accepted (QoS 1 publish acknowledged) with them."""
    base = ["-p", str(mosquitto_tls_client_cert), "--cafile", test_ca["ca"], "-t", topic(), "-m", "x", "-q", "1"]
    refused = cli("pub", *base)
    assert refused.returncode == 1
    assert "error" in no_traceback(refused)
    done = cli("pub", *base, "--cert", test_ca["client_cert"], "--key", test_ca["client_key"])
    assert done.returncode == 0, done.stderr.decode()


def test_tls_version_is_the_lowest_accepted(test_ca: dict) -> None:
    """--tls-version tlsv1.3 refuses a server that stops at TLS 1.2;
    tlsv1.2 connects to it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(test_ca["cert"], test_ca["key"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    broker = ThreadBroker(ssl=ctx).start()
    try:
        base = ["-p", str(broker.port), "--cafile", test_ca["ca"], "-t", "v", "-m", "x", "-q", "1"]
        refused = cli("pub", *base, "--tls-version", "tlsv1.3")
        assert refused.returncode == 1
        assert "error" in no_traceback(refused)
        done = cli("pub", *base, "--tls-version", "tlsv1.2")
        assert done.returncode == 0, done.stderr.decode()
    finally:
        broker.stop()


def test_insecure_skips_only_the_host_name_check(broker_cli, test_ca: dict) -> None:
    """Our broker's TLS listener with a certificate for wrong.example: the
    name check fails; --insecure connects; --insecure still refuses a
    certificate from an untrusted CA."""
    b = broker_cli("--tls-port", "0", "--certfile", test_ca["wrong_name_cert"], "--keyfile", test_ca["wrong_name_key"], expect=["mqtts"])
    base = ["-p", str(b.ports["mqtts"]), "-t", topic(), "-m", "x", "-q", "1"]
    mismatch = cli("pub", *base, "--cafile", test_ca["ca"])
    assert mismatch.returncode == 1
    err = no_traceback(mismatch)
    assert "CERTIFICATE_VERIFY_FAILED" in err and "--insecure" in err, err
    done = cli("pub", *base, "--cafile", test_ca["ca"], "--insecure")
    assert done.returncode == 0, done.stderr.decode()
    untrusted = cli("pub", *base, "--cafile", test_ca["other_ca"], "--insecure")
    assert untrusted.returncode == 1
    no_traceback(untrusted)


def test_broker_require_certificate(broker_cli, test_ca: dict) -> None:
    """Our broker's --require-certificate: a client without a certificate is
    refused, one with a certificate of --cafile gets through, both ways."""
    b = broker_cli(
        "--tls-port", "0", "--certfile", test_ca["cert"], "--keyfile", test_ca["key"],
        "--cafile", test_ca["ca"], "--require-certificate", expect=["mqtts"],
    )  # fmt: skip
    tls = ["-p", str(b.ports["mqtts"]), "--cafile", test_ca["ca"]]
    refused = cli("pub", *tls, "-t", "a", "-m", "b", "-q", "1")
    assert refused.returncode == 1
    no_traceback(refused)
    mine = [*tls, "--cert", test_ca["client_cert"], "--key", test_ca["client_key"]]
    t = topic()
    lines = exchange([*mine, "-t", t], lambda n: [*mine, "-t", t, "-m", f"cert {n}", "-q", "1"])
    assert lines and lines[0].startswith("cert "), lines


# ------------------------------------------------------------------ URLs


def test_url_mqtt_topic_is_the_path(our_broker: int) -> None:
    """-L mqtt://host:port/topic for pub, and a filter with '#' for sub."""
    t = topic()
    lines = exchange(
        ["-L", f"mqtt://127.0.0.1:{our_broker}/{t}/#", "-v"],
        lambda n: ["-L", f"mqtt://127.0.0.1:{our_broker}/{t}/{n}", "-m", f"url {n}", "-q", "1"],
    )
    assert len(lines) == 1 and lines[0].startswith(f"{t}/") and " url " in lines[0], lines


@pytest.mark.parametrize("pub_version", ["31", "5"])
def test_cli_mqtt_3_1(broker_port: int, pub_version: str) -> None:
    """-V 31 (MQTT 3.1, "MQIsdp"; a client id of at most 23 characters is
    made up when none is given) against mosquitto and our broker: a 3.1
    subscriber gets a 3.1 and a 5.0 publisher's QoS 1 messages."""
    t = topic()
    lines = exchange(
        ["-p", str(broker_port), "-V", "31", "-t", f"{t}/#", "-v", "-q", "1"],
        lambda n: ["-p", str(broker_port), "-V", pub_version, "-t", f"{t}/{n}", "-m", f"v{pub_version}", "-q", "1"],
    )
    assert len(lines) == 1 and lines[0].startswith(f"{t}/") and lines[0].endswith(f" v{pub_version}"), lines


def test_url_mqtts(mosquitto_tls: int, test_ca: dict) -> None:
    """-L mqtts:// with --cafile against mosquitto's TLS listener."""
    t = topic()
    url = f"mqtts://127.0.0.1:{mosquitto_tls}/{t}"
    lines = exchange(["-L", url, "--cafile", test_ca["ca"]], lambda n: ["-L", url, "--cafile", test_ca["ca"], "-m", f"s{n}", "-q", "1"])
    assert lines and lines[0].startswith("s"), lines


def test_url_mqtts_uses_system_trust_by_default(mosquitto_tls: int) -> None:
    """mqtts:// without --cafile trusts the system CAs (like mosquitto's
    -L mqtts://), which do not include the test CA: refused."""
    done = cli("pub", "-L", f"mqtts://127.0.0.1:{mosquitto_tls}/a", "-m", "b")
    assert done.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in no_traceback(done)


def test_ws_and_tcp_listeners_share_one_broker(broker_cli) -> None:
    """`broker --port 0 --ws-port 0`: a subscriber on ws://host:port/mqtt
    gets what a publisher sends over plain TCP, and --ws -p works too."""
    pytest.importorskip("websockets")
    b = broker_cli("--port", "0", "--ws-port", "0", expect=["mqtt", "ws"])
    mqtt, ws = b.ports["mqtt"], b.ports["ws"]
    assert mqtt != ws
    t = topic()
    lines = exchange(["-L", f"ws://127.0.0.1:{ws}/mqtt", "-t", t], lambda n: ["-L", f"mqtt://127.0.0.1:{mqtt}/{t}", "-m", f"tcp {n}", "-q", "1"])
    assert lines and lines[0].startswith("tcp "), lines
    lines = exchange(["-p", str(mqtt), "-t", t], lambda n: ["--ws", "-p", str(ws), "--ws-path", "/anything", "-t", t, "-m", f"ws {n}", "-q", "2"])
    assert lines and lines[0].startswith("ws "), lines


def test_wss_url(broker_cli, test_ca: dict) -> None:
    """`broker --wss-port 0`: -L wss:// with --cafile."""
    pytest.importorskip("websockets")
    b = broker_cli("--wss-port", "0", "--certfile", test_ca["cert"], "--keyfile", test_ca["key"], expect=["wss"])
    url = f"wss://127.0.0.1:{b.ports['wss']}/mqtt"
    t = topic()
    lines = exchange(["-L", url, "--cafile", test_ca["ca"], "-t", t], lambda n: ["-L", url, "--cafile", test_ca["ca"], "-t", t, "-m", f"wss {n}", "-q", "1"])
    assert lines and lines[0].startswith("wss "), lines
    assert "mqtt" not in b.ports  # only the listener asked for


# ------------------------------------------------------- password and ACL files


@pytest.fixture
def auth_files(tmp_path: Path) -> Dict[str, str]:
    passwd = tmp_path / "passwd"
    passwd.write_text("# users\nalice:wonder land\nbob:builder\n")
    acl = tmp_path / "acl"
    acl.write_text("user alice\ntopic readwrite alice/#\ntopic deny alice/secret\n\nuser bob\ntopic write alice/#\n")
    return {"passwd": str(passwd), "acl": str(acl)}


def test_password_file(broker_cli, auth_files: Dict[str, str]) -> None:
    """--password-file: the right password gets in (user and password in
    the URL, percent-encoded), a wrong one is refused with 0x86, a client
    without a user name with 0x87 (no --allow-anonymous)."""
    b = broker_cli("--port", "0", "--password-file", auth_files["passwd"])
    port = b.ports["mqtt"]
    ok = cli("pub", "-L", f"mqtt://alice:wonder%20land@127.0.0.1:{port}/alice/x", "-m", "hi", "-q", "1")
    assert ok.returncode == 0, ok.stderr.decode()
    ok311 = cli("pub", "-p", str(port), "-u", "bob", "-P", "builder", "-V", "311", "-t", "alice/x", "-m", "hi")
    assert ok311.returncode == 0, ok311.stderr.decode()
    wrong = cli("pub", "-p", str(port), "-u", "alice", "-P", "wonderland", "-t", "alice/x", "-m", "hi")
    assert wrong.returncode == 1
    assert "0x86" in no_traceback(wrong)
    anonymous = cli("pub", "-p", str(port), "-t", "alice/x", "-m", "hi")
    assert anonymous.returncode == 1
    assert "0x87" in no_traceback(anonymous)
    b2 = broker_cli("--port", "0", "--password-file", auth_files["passwd"], "--allow-anonymous")
    anyone = cli("pub", "-p", str(b2.ports["mqtt"]), "-t", "a", "-m", "hi")
    assert anyone.returncode == 0, anyone.stderr.decode()


def test_acl_file(broker_cli, auth_files: Dict[str, str]) -> None:
    """--acl-file: alice (read alice/#, deny alice/secret) never gets what
    bob publishes to alice/secret, though it goes out first each round;
    bob's publish outside his grant is refused with 0x87."""
    b = broker_cli("--port", "0", "--password-file", auth_files["passwd"], "--acl-file", auth_files["acl"])
    port = str(b.ports["mqtt"])
    alice = ["-p", port, "-u", "alice", "-P", "wonder land"]
    bob = ["-p", port, "-u", "bob", "-P", "builder"]
    sub = subprocess.Popen([*PY, "sub", *alice, "-t", "alice/#", "-v", "-C", "2", "-W", "20", "-q", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for n in range(40):
            if sub.poll() is not None:
                break
            for t in ("alice/secret", "alice/open"):
                done = cli("pub", *bob, "-t", t, "-m", str(n), "-q", "1")
                assert done.returncode == 0, done.stderr.decode()
            time.sleep(0.1)
        out, err = sub.communicate(timeout=25)
    finally:
        sub.kill()
        sub.wait(timeout=10)
    assert sub.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 2 and all(line.startswith("alice/open ") for line in lines), lines
    denied = cli("pub", *bob, "-t", "carol/x", "-m", "no", "-q", "1")
    assert denied.returncode == 1
    assert "0x87" in no_traceback(denied)


def test_hashed_password_file_is_refused(tmp_path: Path) -> None:
    """mosquitto_passwd's hashed lines are not supported: the broker says
    so and exits 1 instead of starting with passwords nobody can match."""
    passwd = tmp_path / "passwd"
    passwd.write_text("alice:$7$101$c2FsdHNhbHQ=$aGFzaGhhc2g=\n")
    done = cli("broker", "--port", str(free_port()), "--password-file", str(passwd), timeout=20)
    assert done.returncode == 1
    err = no_traceback(done)
    assert "line 1" in err and "hashed" in err and "plain-text" in err, err


def test_malformed_acl_and_password_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("nocolon\n")
    done = cli("broker", "--port", str(free_port()), "--password-file", str(bad))
    assert done.returncode == 1
    assert "--password-file" in no_traceback(done) and "line 1" in done.stderr.decode()
    bad.write_text("topic sometimes a/b\nfrobnicate\n")
    done = cli("broker", "--port", str(free_port()), "--acl-file", str(bad))
    assert done.returncode == 1
    assert "--acl-file" in no_traceback(done)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "args, status, words",
    [
        (["pub", "-L", "http://127.0.0.1/t", "-m", "x"], 2, "unsupported URL scheme"),
        (["pub", "-L", "127.0.0.1:1883/t", "-m", "x"], 2, "not a URL"),
        (["pub", "-L", "mqtt://127.0.0.1:99999/t", "-m", "x"], 2, "bad port"),
        (["pub", "-L", "mqtt://127.0.0.1/t", "-t", "u", "-m", "x"], 2, "-t and the -L URL"),
        (["pub", "-L", "mqtt://127.0.0.1/t", "-p", "1883", "-m", "x"], 2, "-p/--port and -L"),
        (["pub", "-L", "mqtt://127.0.0.1/t", "--cafile", "ca.crt", "-m", "x"], 2, "mqtts://"),
        (["pub", "-L", "ws://127.0.0.1/mqtt", "--transport", "tcp", "-t", "t", "-m", "x"], 2, "contradicts"),
        (["pub", "-L", "mqtt://127.0.0.1", "-m", "x"], 2, "a topic is needed"),
        (["sub", "-p", "1"], 2, "a topic filter is needed"),
        (["pub", "-t", "t", "-m", "x", "--insecure"], 2, "--insecure needs TLS"),
        (["pub", "-t", "t", "-m", "x", "--cafile", "/nonexistent/ca.crt"], 1, "no such file"),
        (["pub", "-t", "t", "-m", "x", "--cafile", "/nonexistent/ca.crt", "--cert", "c.crt"], 2, "--cert and --key go together"),
        (["pub", "-t", "t", "-m", "x", "--ws-path", "/mqtt"], 2, "--ws-path needs"),
        (["broker", "--tls-port", "0"], 2, "--certfile and --keyfile"),
        (["broker", "--port", "0", "--certfile", "s.crt"], 2, "needs a TLS listener"),
        (["broker", "--port", "0", "--password-file", "/nonexistent/passwd"], 1, "no such file"),
        (["broker", "--port", "0", "--acl-file", "/nonexistent/acl"], 1, "no such file"),
    ],
)
def test_errors_are_messages(args: List[str], status: int, words: str) -> None:
    done = cli(*args)
    assert done.returncode == status, done.stderr.decode()
    assert words in no_traceback(done)


def test_missing_client_certificate_file(mosquitto_tls: int, test_ca: dict) -> None:
    done = cli("pub", "-p", str(mosquitto_tls), "--cafile", test_ca["ca"], "--cert", "/nonexistent/c.crt", "--key", test_ca["client_key"], "-t", "a", "-m", "b")
    assert done.returncode == 1
    assert "--cert /nonexistent/c.crt: no such file" in no_traceback(done)


def test_help_names_the_new_options() -> None:
    for command, options in (
        ("pub", ["-L", "--cafile", "--capath", "--cert", "--key", "--insecure", "--tls-version", "--ws", "--ws-path", "--transport"]),
        ("broker", ["--password-file", "--acl-file", "--tls-port", "--ws-port", "--wss-port", "--certfile", "--keyfile", "--cafile", "--require-certificate", "plain-text"]),
    ):
        done = cli(command, "--help")
        assert done.returncode == 0
        text = done.stdout.decode()
        assert all(o in text for o in options), (command, text)


# ------------------------------------------------------------ Client.from_url


def test_parse_url() -> None:
    from libmqtt.asyncio import _parse_url

    u = _parse_url("mqtt://us%40er:p%3Ass:w@host.example:1884/a/+/#")
    assert (u.host, u.port, u.username, u.password, u.path, u.transport, u.tls) == ("host.example", 1884, "us@er", "p:ss:w", "a/+/#", "tcp", False)
    assert _parse_url("MQTTS://h").port == 8883 and _parse_url("mqtts://h").tls
    assert _parse_url("mqtt://h/").path is None
    ws = _parse_url("wss://[::1]:9001/mqtt?x=1")
    assert (ws.host, ws.port, ws.path, ws.transport, ws.tls) == ("::1", 9001, "/mqtt?x=1", "websockets", True)
    assert _parse_url("ws://h").path is None and _parse_url("ws://h").port == 80
    assert _parse_url("ws://h/").path == "/"
    assert _parse_url("mqtt://u@h").password is None
    for bad in ("tcp://h", "h:1883", "mqtt://", "mqtt://h:0", "mqtt://h:x", "mqtt://:p@h", "mqtt://[::1"):
        with pytest.raises(ValueError):
            _parse_url(bad)


def test_from_url_rejects_contradictions(test_ca: dict) -> None:
    from libmqtt.asyncio import Client

    with pytest.raises(ValueError, match="topic"):
        Client.from_url("mqtt://h/a/b")
    with pytest.raises(ValueError, match="username"):
        Client.from_url("mqtt://u:p@h", username="v")
    with pytest.raises(ValueError, match="not TLS"):
        Client.from_url("mqtt://h", ssl=True)
    with pytest.raises(ValueError, match="ssl=False"):
        Client.from_url("mqtts://h", ssl=False)
    c = Client.from_url("ws://h:8080")
    assert (c.host, c.port, c._transport_kind, c._ws_path, c._ssl) == ("h", 8080, "websockets", "/mqtt", None)


def test_from_url_connects(mosquitto_tls: int, test_ca: dict, our_broker: int) -> None:
    """Client.from_url over mqtt:// (our broker), mqtts:// (mosquitto, the
    test CA) and ws:// (our broker's WebSocket listener): a QoS 1 round trip."""
    from libmqtt.asyncio import Client

    async def round_trip(url: str, **kw) -> None:
        t = topic()
        async with Client.from_url(url, **kw) as client:
            await client.subscribe(t, qos=1)
            await client.publish(t, b"from url", qos=1)
            message = await client.messages.get(timeout=10)
            assert (message.topic, message.payload) == (t, b"from url")

    ctx = ssl.create_default_context(cafile=test_ca["ca"])
    asyncio.run(asyncio.wait_for(round_trip(f"mqtt://127.0.0.1:{our_broker}"), 20))
    asyncio.run(asyncio.wait_for(round_trip(f"mqtts://127.0.0.1:{mosquitto_tls}", ssl=ctx), 20))
    pytest.importorskip("websockets")
    ws = ThreadBroker(transport="websockets").start()
    try:
        asyncio.run(asyncio.wait_for(round_trip(f"ws://127.0.0.1:{ws.port}/mqtt"), 20))
    finally:
        ws.stop()


def test_broker_store_keeps_a_persistent_session_across_a_kill(broker_cli, tmp_path) -> None:
    """broker --store: a QoS 1 message acknowledged for an offline
    persistent session survives SIGKILL and is delivered after the
    restart; a file that is not a store stops the start with a message."""
    store = str(tmp_path / "cli.store")
    b = broker_cli("--port", "0", "--store", store)
    port = str(b.ports["mqtt"])
    t = topic()
    keeper = ["-p", port, "-t", f"{t}/#", "-q", "1", "-i", "keeper", "-c", "-x", "3600"]
    left = cli("sub", *keeper, "-W", "1")
    assert left.returncode == 27, left.stderr.decode()  # timed out, session kept
    sent = cli("pub", "-p", port, "-t", f"{t}/a", "-m", "kept", "-q", "1")
    assert sent.returncode == 0, sent.stderr.decode()
    b.stop()  # SIGKILL
    b2 = broker_cli("--port", "0", "--store", store)
    keeper[1] = str(b2.ports["mqtt"])
    got = cli("sub", *keeper, "-v", "-C", "1", "-W", "10")
    assert got.returncode == 0, got.stderr.decode()
    assert got.stdout.decode().split() == [f"{t}/a", "kept"]
    notes = tmp_path / "notes.txt"
    notes.write_text("not a store")
    refused = cli("broker", "--port", "0", "--store", str(notes), timeout=20)
    assert refused.returncode != 0
    assert "--store" in no_traceback(refused)
