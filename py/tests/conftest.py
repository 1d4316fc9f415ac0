"""Fixtures of the asyncio driver tests: a real mosquitto and our own
asyncio broker, each on a free 127.0.0.1 port, stopped at teardown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

MOSQUITTO = os.environ.get("MOSQUITTO", shutil.which("mosquitto") or "/usr/sbin/mosquitto")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 10.0) -> None:
    """Waits until something accepts on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def serving(args: list, port: int) -> Iterator[int]:
    """Runs the broker command ``args`` (listening on 127.0.0.1:``port``)
    until the block ends; yields the port once it accepts connections."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=10)


def run_mosquitto(conf: Path, port: int, extra: str = "") -> "contextlib.AbstractContextManager[int]":
    """mosquitto on 127.0.0.1:``port``, no persistence, anonymous clients
    allowed, with the ``extra`` configuration lines; the file is ``conf``."""
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.skip("mosquitto is not installed (make setup installs it)")
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra}")
    return serving([MOSQUITTO, "-c", str(conf)], port)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A mosquitto broker on a free loopback port; yields the port."""
    with run_mosquitto(tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf", free_port()) as port:
        yield port


class ThreadBroker:
    """Our asyncio Broker on its own event loop in a thread, so that tests
    running their own ``asyncio.run`` can share it."""

    def __init__(self, **options: object) -> None:
        self.options = options
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Future
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        from libmqtt.asyncio import Broker

        try:
            async with Broker(port=0, **self.options) as broker:
                self.broker = broker
                self.port = broker.port
                self._stop = self._loop.create_future()
                self._ready.set()
                await self._stop
        except BaseException as exc:  # pragma: no cover - reported by start()
            self.error = exc
            self._ready.set()

    def start(self) -> "ThreadBroker":
        self._thread.start()
        self._ready.wait(10)
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))
        self._thread.join(10)


@pytest.fixture(scope="session")
def our_broker() -> Iterator[int]:
    """Our asyncio Broker (libmqtt.asyncio.Broker) on a free loopback port."""
    broker = ThreadBroker().start()
    try:
        yield broker.port
    finally:
        broker.stop()


@pytest.fixture(params=["mosquitto", "libmqtt"])
def broker_port(request: pytest.FixtureRequest) -> int:
    """Each test runs against mosquitto and against our broker."""
    return request.getfixturevalue("mosquitto" if request.param == "mosquitto" else "our_broker")


@pytest.fixture(scope="session")
def test_ca() -> Iterator[dict]:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost,
    made with the openssl command line at test time. Yields the paths
    (``ca``, ``cert``, ``key``; ``client_cert``, ``client_key``: a client
    certificate of the same CA; ``wrong_name_cert``, ``wrong_name_key``: a
    server certificate of the same CA for ``wrong.example`` only;
    ``other_ca``: an unrelated CA)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command line is not installed")
    # Not under pytest's private (0700) temporary directory: mosquitto
    # started as root drops to its own user and must read these files.
    d = Path(tempfile.mkdtemp(prefix="libmqtt-tls-"))
    d.chmod(0o755)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def sh(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=30, cwd=d)

    sh("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=libmqtt test CA")
    sh("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    sh("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    (d / "server.key").chmod(0o644)  # a throwaway test key
    # A client certificate (same CA), a server certificate that names
    # another host (same CA), and an unrelated CA.
    sh("req", *ec, "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=libmqtt test client")
    (d / "client.cnf").write_text("extendedKeyUsage=clientAuth\n")
    sh("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.crt", "-days", "2", "-extfile", "client.cnf")
    sh("req", *ec, "-keyout", "wrong-name.key", "-out", "wrong-name.csr", "-subj", "/CN=wrong.example")
    (d / "wrong-name.cnf").write_text("subjectAltName=DNS:wrong.example\n")
    sh("x509", "-req", "-in", "wrong-name.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "wrong-name.crt", "-days", "2", "-extfile", "wrong-name.cnf")
    sh("req", "-x509", *ec, "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "2", "-subj", "/CN=another CA")
    for key in ("client.key", "wrong-name.key"):
        (d / key).chmod(0o644)
    try:
        yield {
            "ca": str(d / "ca.crt"),
            "cert": str(d / "server.crt"),
            "key": str(d / "server.key"),
            "client_cert": str(d / "client.crt"),
            "client_key": str(d / "client.key"),
            "wrong_name_cert": str(d / "wrong-name.crt"),
            "wrong_name_key": str(d / "wrong-name.key"),
            "other_ca": str(d / "other-ca.crt"),
        }
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def mosquitto_tls(test_ca: dict) -> Iterator[int]:
    """mosquitto with a TLS listener on a free loopback port (test CA)."""
    conf = Path(test_ca["ca"]).parent / "mosquitto.conf"
    with run_mosquitto(conf, free_port(), _tls_lines(test_ca)) as port:
        yield port


@pytest.fixture(scope="session")
def mosquitto_tls_client_cert(test_ca: dict) -> Iterator[int]:
    """mosquitto with a TLS listener that requires a client certificate
    signed by the test CA (``require_certificate true``)."""
    conf = Path(test_ca["ca"]).parent / "mosquitto-client-cert.conf"
    with run_mosquitto(conf, free_port(), _tls_lines(test_ca) + "require_certificate true\n") as port:
        yield port


def _tls_lines(test_ca: dict) -> str:
    """mosquitto's TLS lines for the test CA's server certificate."""
    return f"cafile {test_ca['ca']}\ncertfile {test_ca['cert']}\nkeyfile {test_ca['key']}\n"
