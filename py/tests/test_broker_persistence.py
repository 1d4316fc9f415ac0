"""The broker engine's durability (issue 18) from Python: the sans-IO
``Broker`` with ``persistence=True`` (``poll_store`` before ``outputs``,
``snapshot``, ``restore`` and its report and exceptions), and the asyncio
broker with ``store_path`` restarted (cleanly, and after SIGKILL in a
child process) keeping persistent sessions' queued QoS 1 messages and
retained messages. Real clients of this package; 127.0.0.1, bounded."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import libmqtt
from libmqtt import Broker, Client, Connected, Message, PublishCompleted
from libmqtt.broker import RestoreReport, StoreDamage


class DurableNet:
    """Clients wired to one broker in memory; every batch of records is
    appended to ``self.store`` before any output is delivered (the
    driver's rule), and the output checked to follow it."""

    def __init__(self, broker: Broker, store: bytes = b"", now: float = 1000.0) -> None:
        self.broker = broker
        self.now = now
        self.store = bytearray(store)
        self.clients = {}
        self.events = {}

    def attach(self, client: Client) -> int:
        conn = self.broker.connection_opened(self.now)
        self.clients[conn] = client
        self.events[conn] = []
        client.connect(self.now)
        self.run()
        return conn

    def detach(self, conn: int) -> None:
        self.clients.pop(conn).connection_lost(self.now)
        self.broker.connection_closed(conn, self.now)
        self.run()

    def persist(self) -> None:
        batch = self.broker.poll_store(self.now)
        if batch is not None:
            assert isinstance(batch, bytes) and batch
            self.store += batch

    def run(self, steps: int = 50) -> None:
        for _ in range(steps):
            moved = False
            for conn, client in list(self.clients.items()):
                data = client.data_to_send()
                if data:
                    moved = True
                    self.broker.receive_data(conn, data, self.now)
                self.events[conn].extend(client.events())
            self.persist()  # durable first
            for conn, data in self.broker.outputs():
                moved = True
                if conn in self.clients:
                    self.clients[conn].receive_data(data, self.now)
                    self.events[conn].extend(self.clients[conn].events())
            for conn in self.broker.connections_to_close():
                moved = True
                if conn in self.clients:
                    self.clients.pop(conn).connection_lost(self.now)
                self.broker.connection_closed(conn, self.now)
            if not moved:
                self.persist()
                return
        raise AssertionError("livelock: bytes still moving")

    def take(self, conn: int):
        out, self.events[conn] = self.events[conn], []
        return out


def keeper_client() -> Client:
    return Client("keeper", clean_start=False, session_expiry_interval=3600)


def queued_store() -> bytes:
    """A store after: keeper subscribed to q/# at QoS 1 and went offline,
    three QoS 1 messages for it were acknowledged to the publisher, and
    one retained message."""
    broker = Broker(persistence=True)
    net = DurableNet(broker, broker.snapshot(1000.0))
    keeper = keeper_client()
    k = net.attach(keeper)
    keeper.subscribe("q/#", qos=1)
    net.run()
    net.detach(k)
    pub = Client("pub")
    p = net.attach(pub)
    net.take(p)
    for i in range(3):
        pid = pub.publish(f"q/{i}", f"m{i}".encode(), qos=1)
        net.run()
        assert net.take(p) == [PublishCompleted(pid)]
    pub.publish("r/x", b"kept", qos=1, retain=True)
    net.run()
    assert broker.queued_for("keeper") == 3
    return bytes(net.store)


def test_the_record_of_a_qos1_message_comes_before_its_puback():
    broker = Broker(persistence=True)
    net = DurableNet(broker)
    sub = keeper_client()
    net.attach(sub)
    sub.subscribe("q/#", qos=1)
    net.run()
    pub = Client("pub")
    p = net.attach(pub)
    pub.publish("q/1", b"x", qos=1)
    broker.receive_data(p, pub.data_to_send(), net.now)
    # Records are waiting, and so is the PUBACK they make true.
    batch = broker.poll_store(net.now)
    assert batch is not None and len(batch) > 8
    assert any(conn == p for conn, _ in broker.outputs())
    assert broker.poll_store(net.now) is None


def test_persistence_off_records_nothing():
    broker = Broker()
    net = DurableNet(broker)
    c = keeper_client()
    net.attach(c)
    c.subscribe("a", qos=1)
    net.run()
    assert broker.poll_store(net.now) is None
    assert net.store == bytearray()


def test_crash_and_restore_delivers_the_queued_messages_and_keeps_retained():
    store = queued_store()
    broker = Broker(persistence=True)
    report = broker.restore(store, 2000.0)
    assert isinstance(report, RestoreReport)
    assert report.valid_len == len(store)
    assert (report.discarded_bytes, report.discarded_records, report.damage) == (0, 0, None)
    assert (report.sessions, report.subscriptions, report.messages, report.retained) == (1, 1, 3, 1)
    assert report.expired_sessions == 0 and report.expired_messages == 0 and report.wills == 0
    assert report.batches > 1 and report.records > 0
    assert report.last_commit == 1000.0
    net = DurableNet(broker, broker.snapshot(2000.0), now=2000.0)
    keeper = keeper_client()
    k = net.attach(keeper)
    events = net.take(k)
    assert isinstance(events[0], Connected) and events[0].session_present
    messages = [e for e in events if isinstance(e, Message)]
    assert [(m.topic, m.payload, m.qos) for m in messages] == [
        ("q/0", b"m0", 1),
        ("q/1", b"m1", 1),
        ("q/2", b"m2", 1),
    ]
    late = Client("late")
    lt = net.attach(late)
    late.subscribe("r/#", qos=1)
    net.run()
    [retained] = [e for e in net.take(lt) if isinstance(e, Message)]
    assert (retained.topic, retained.payload, retained.retain) == ("r/x", b"kept", True)
    # Acknowledged since: the new store restores an empty queue.
    again = Broker(persistence=True)
    r2 = again.restore(bytes(net.store), 2100.0)
    assert (r2.sessions, r2.messages, r2.retained) == (1, 0, 1)


def test_a_torn_store_keeps_its_whole_batches_and_reports_the_rest():
    store = queued_store()
    broker = Broker(persistence=True)
    report = broker.restore(store[:-3], 2000.0)
    assert 16 <= report.valid_len < len(store) - 3
    assert report.discarded_bytes == len(store) - 3 - report.valid_len
    assert isinstance(report.damage, StoreDamage)
    assert report.damage.kind == "truncated" and report.damage.offset >= report.valid_len
    assert report.damage.message
    # The retained message's batch was the last one: lost, the rest kept.
    assert (report.sessions, report.messages, report.retained) == (1, 3, 0)


def test_a_flipped_byte_ends_the_valid_prefix():
    store = bytearray(queued_store())
    store[len(store) // 2] ^= 0x40
    report = Broker(persistence=True).restore(store, 2000.0)  # any buffer
    assert report.damage is not None
    assert report.damage.kind in ("checksum", "too_long", "truncated", "record")
    assert report.valid_len <= report.damage.offset <= len(store) // 2
    assert report.valid_len + report.discarded_bytes == len(store)


def test_refused_stores_raise_typed_errors():
    with pytest.raises(libmqtt.NotAStore) as info:
        Broker().restore(b"hello, this is not a store", 0.0)
    assert isinstance(info.value, libmqtt.StoreError) and isinstance(info.value, ValueError)
    assert isinstance(info.value, libmqtt.MQTTError) and info.value.reason_code is None
    header = bytearray(Broker().snapshot(0.0)[:16])
    header[8:12] = (7).to_bytes(4, "little")
    with pytest.raises(libmqtt.StoreTooNew) as too_new:
        Broker().restore(bytes(header), 0.0)
    assert (too_new.value.found, too_new.value.supported) == (7, 1)
    busy = Broker(persistence=True)
    busy.connection_opened(0.0)
    with pytest.raises(libmqtt.BrokerNotEmpty):
        busy.restore(b"", 0.0)
    with pytest.raises(TypeError):
        Broker().restore("a str", 0.0)
    empty = Broker().restore(b"", 0.0)
    assert empty.valid_len == 0 and empty.batches == 0 and empty.last_commit is None


# ----------------------------------------------------------------- asyncio

from libmqtt.asyncio import Broker as AsyncBroker  # noqa: E402
from libmqtt.asyncio import Client as AsyncClient  # noqa: E402


async def fill(port: int) -> None:
    """keeper subscribes and leaves; three QoS 1 messages (acknowledged,
    so durable) and one retained message arrive while it is away."""
    async with AsyncClient("127.0.0.1", port, client_id="keeper", clean_start=False, session_expiry=3600, reconnect=False) as k:
        await k.subscribe("q/#", qos=1)
    async with AsyncClient("127.0.0.1", port, client_id="pub", reconnect=False) as p:
        for i in range(3):
            await p.publish(f"q/{i}", f"m{i}".encode(), qos=1)
        await p.publish("r/x", b"kept", qos=1, retain=True)


async def check(port: int) -> None:
    """keeper comes back to its three messages; a new subscriber gets the
    retained one."""
    async with AsyncClient("127.0.0.1", port, client_id="keeper", clean_start=False, session_expiry=3600, reconnect=False) as k:
        got = [await k.messages.get(5) for _ in range(3)]
        assert [(m.topic, m.payload, m.qos) for m in got] == [("q/0", b"m0", 1), ("q/1", b"m1", 1), ("q/2", b"m2", 1)]
    async with AsyncClient("127.0.0.1", port, client_id="late", reconnect=False) as late:
        await late.subscribe("r/#", qos=1)
        m = await late.messages.get(5)
        assert (m.topic, m.payload, m.retain) == ("r/x", b"kept", True)


def test_asyncio_broker_restarted_with_a_store_keeps_sessions_and_retained(tmp_path):
    path = tmp_path / "broker.store"

    async def main() -> None:
        async with AsyncBroker(port=0, store_path=path) as broker:
            assert broker.restore_report.valid_len == 0
            await fill(broker.port)
        assert path.read_bytes()[:8] == b"LMQTSTOR"
        assert not os.path.exists(str(path) + ".tmp")
        async with AsyncBroker(port=0, store_path=str(path)) as broker:
            r = broker.restore_report
            assert (r.sessions, r.messages, r.retained, r.damage) == (1, 3, 1, None)
            await check(broker.port)
        # Delivered and acknowledged: nothing queued after a third start.
        async with AsyncBroker(port=0, store_path=path) as broker:
            assert (broker.restore_report.sessions, broker.restore_report.messages) == (1, 0)

    asyncio.run(asyncio.wait_for(main(), 30))


def test_asyncio_broker_whose_store_cannot_be_written_stops_before_acknowledging(tmp_path):
    """A write to the store fails (here: the descriptor made read-only):
    the QoS 1 message is not acknowledged, the broker sends nothing more
    and closes its connections, and `store_error` says why."""
    path = tmp_path / "broker.store"

    async def main() -> None:
        async with AsyncBroker(port=0, store_path=path) as broker:
            async with AsyncClient("127.0.0.1", broker.port, client_id="keeper", clean_start=False, session_expiry=3600, reconnect=False) as k:
                await k.subscribe("q/#", qos=1)
            fd = broker._store_fd
            broker._store_fd = os.open(path, os.O_RDONLY)
            os.close(fd)
            async with AsyncClient("127.0.0.1", broker.port, client_id="pub", reconnect=False) as p:
                with pytest.raises(Exception):
                    await asyncio.wait_for(p.publish("q/1", b"m", qos=1), 5)
            assert isinstance(broker.store_error, OSError)
            with pytest.raises(OSError):
                await asyncio.wait_for(asyncio.open_connection("127.0.0.1", broker.port), 2)

    asyncio.run(asyncio.wait_for(main(), 30))


def test_asyncio_broker_refuses_a_file_that_is_not_a_store(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"my precious notes, not a store")

    async def main() -> None:
        with pytest.raises(libmqtt.NotAStore):
            await AsyncBroker(port=0, store_path=path).start()

    asyncio.run(asyncio.wait_for(main(), 10))
    assert path.read_bytes() == b"my precious notes, not a store"


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from libmqtt.asyncio import Broker

    async def main():
        broker = Broker(port=0, store_path=sys.argv[1])
        await broker.start()
        print(broker.port, flush=True)
        await broker.serve_forever()

    asyncio.run(main())
    """
)


def start_child(path) -> "tuple[subprocess.Popen, int]":
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    line = ""
    try:
        # The child prints its port once listening (bounded by the test's timeout).
        line = proc.stdout.readline()  # type: ignore[union-attr]
        return proc, int(line)
    except ValueError:
        proc.kill()
        proc.wait(10)
        raise AssertionError(f"the broker child did not start: {line!r}")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_asyncio_broker_killed_keeps_what_it_acknowledged(tmp_path):
    path = tmp_path / "broker.store"
    proc, port = start_child(path)
    try:
        asyncio.run(asyncio.wait_for(fill(port), 20))
    finally:
        proc.kill()  # SIGKILL: no close(), no snapshot, only the appended batches
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    report = Broker(persistence=True).restore(path.read_bytes(), time.time())
    assert (report.sessions, report.messages, report.retained) == (1, 3, 1)
    proc, port = start_child(path)
    try:
        asyncio.run(asyncio.wait_for(check(port), 20))
    finally:
        proc.terminate()
        proc.wait(10)
