"""One benchmark client process: a publisher or a subscriber, on one library.

    python clients.py LIB ROLE --port P --topic T --qos Q --count N [--window W]

LIB is ``libmqtt`` (the ``libmqtt.asyncio.Client`` driver), ``libmqtt-sync``
(``libmqtt.sync.Client``, paho-mqtt's API: the very same program as
``paho`` with the other import), ``libmqtt-sansio``
(a blocking-socket loop around the sans-IO ``libmqtt.Client``, batching every
packet ready together into one write), ``paho`` (paho-mqtt 2.x, network
thread from ``loop_start``) or ``gmqtt``. ROLE is ``pub`` or ``sub``. Every
client speaks MQTT 5.0 to the broker on 127.0.0.1.

The subscriber prints ``READY`` once its SUBACK is in, then, at the end (all
N received, or nothing for ``--idle`` seconds), one JSON line. The publisher
prints one JSON line once its N messages are sent and, at QoS 1 and 2,
acknowledged. The JSON holds ``count``, ``t_start`` / ``t_end``
(``time.monotonic()``, shared by all processes of the machine) and ``cpu``:
the process's CPU seconds (user + system, every thread) between ``t_start``
(publisher: before the first publish; subscriber: once subscribed) and
``t_end`` (the last acknowledgement, or the last message received).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time

PAYLOAD = bytes(range(64))  # 64 bytes


def report(**fields) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def ready() -> None:
    sys.stdout.write("READY\n")
    sys.stdout.flush()


# ----------------------------------------------------------------- libmqtt


async def libmqtt_pub(a) -> None:
    from libmqtt.asyncio import Client

    opts = {"max_inflight": a.window} if a.window else {}
    async with Client("127.0.0.1", a.port, client_id=a.client_id, reconnect=False, **opts) as c:
        publish = c.publish
        topic, qos = a.topic, a.qos
        t0, c0 = time.monotonic(), time.process_time()
        if qos == 0:
            for _ in range(a.count):
                await publish(topic, PAYLOAD, 0)
            # QoS 0 is done when written: wait until the transport buffer is out.
            await c._drain()
        else:
            # `publish` returns at PUBACK / PUBCOMP: `window` tasks publishing
            # in turn keep `window` messages in flight.
            per, extra = divmod(a.count, a.window)

            async def worker(n: int) -> None:
                for _ in range(n):
                    await publish(topic, PAYLOAD, qos)

            await asyncio.gather(*(worker(per + (i < extra)) for i in range(a.window)))
        t1, c1 = time.monotonic(), time.process_time()
    report(count=a.count, t_start=t0, t_end=t1, cpu=c1 - c0)


async def libmqtt_sub(a) -> None:
    from libmqtt.asyncio import Client

    async with Client("127.0.0.1", a.port, client_id=a.client_id, reconnect=False) as c:
        await c.subscribe(a.topic, a.qos)
        count = 0
        t_last = time.monotonic()
        c0 = time.process_time()
        c1 = c0
        ready()

        async def watchdog() -> None:
            seen = -1
            while True:
                await asyncio.sleep(a.idle)
                if count == seen:
                    await c.close()
                    return
                seen = count

        dog = asyncio.ensure_future(watchdog())
        async for _ in c.messages:
            count += 1
            if count >= a.count:
                break
        t_last, c1 = time.monotonic(), time.process_time()
        dog.cancel()
    report(count=count, t_start=0.0, t_end=t_last, cpu=c1 - c0)


# ------------------------------------------------- libmqtt sans-IO, blocking


class SansIO:
    """A blocking socket around the sans-IO ``libmqtt.Client``."""

    def __init__(self, a) -> None:
        import libmqtt

        self.lib = libmqtt
        self.core = libmqtt.Client(a.client_id, max_inflight=a.window if a.window else None)
        self.sock = socket.create_connection(("127.0.0.1", a.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.core.connect(time.monotonic())
        self.flush()
        self.wait_for(libmqtt.Connected)

    def flush(self) -> None:
        data = self.core.data_to_send()
        if data:
            self.sock.sendall(data)

    def read(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.core.receive_data(data, time.monotonic())
        return True

    def wait_for(self, kind):
        while True:
            for event in self.core.events():
                if isinstance(event, kind):
                    self.flush()
                    return event
            self.flush()
            if not self.read():
                raise ConnectionError("closed")

    def close(self) -> None:
        self.core.disconnect(now=time.monotonic())
        self.flush()
        self.sock.close()


def sansio_pub(a) -> None:
    import libmqtt

    s = SansIO(a)
    core, sock = s.core, s.sock
    publish, data_to_send, events = core.publish, core.data_to_send, core.events
    Completed = libmqtt.PublishCompleted
    topic, qos, n = a.topic, a.qos, a.count
    t0, c0 = time.monotonic(), time.process_time()
    if qos == 0:
        batch = 256
        sent = 0
        while sent < n:
            k = min(batch, n - sent)
            for _ in range(k):
                publish(topic, PAYLOAD, 0)
            sent += k
            sock.sendall(data_to_send())
    else:
        sent = done = reads = 0
        window = a.window
        while done < n:
            while sent < n and sent - done < window:
                publish(topic, PAYLOAD, qos)
                sent += 1
            data = data_to_send()
            if data:
                sock.sendall(data)
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            reads += 1
            core.receive_data(data, time.monotonic())
            for event in events():
                if isinstance(event, Completed):
                    done += 1
    t1, c1 = time.monotonic(), time.process_time()
    s.close()
    report(count=n, t_start=t0, t_end=t1, cpu=c1 - c0, reads=reads if qos else 0)


def sansio_sub(a) -> None:
    import libmqtt

    s = SansIO(a)
    core, sock = s.core, s.sock
    core.subscribe(a.topic, a.qos, now=time.monotonic())
    s.flush()
    s.wait_for(libmqtt.Subscribed)
    Msg = libmqtt.Message
    receive_data, events, data_to_send = core.receive_data, core.events, core.data_to_send
    sock.settimeout(a.idle)
    count = reads = 0
    c0 = time.process_time()
    t_last = time.monotonic()
    ready()
    try:
        while count < a.count:
            data = sock.recv(65536)
            if not data:
                break
            reads += 1
            receive_data(data, time.monotonic())
            for event in events():
                if isinstance(event, Msg):
                    count += 1
            out = data_to_send()
            if out:
                sock.sendall(out)
    except socket.timeout:
        pass
    t_last, c1 = time.monotonic(), time.process_time()
    s.close()
    report(count=count, t_start=0.0, t_end=t_last, cpu=c1 - c0, reads=reads)


# -------------------------------------------------------------------- paho


def paho_client(a):
    if a.lib == "libmqtt-sync":
        import libmqtt.sync as mqtt
    else:
        import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=a.client_id, protocol=mqtt.MQTTv5)
    return mqtt, c


def paho_pub(a) -> None:
    import threading

    mqtt, c = paho_client(a)
    if a.window:
        c.max_inflight_messages_set(a.window)
    done = threading.Event()
    acked = 0
    n = a.count
    # paho takes every publish at once and queues what exceeds its inflight
    # limit, but numbers them all at once too: more than 65,535 queued QoS 1/2
    # messages reuse message ids and some are never acknowledged. So the
    # publisher waits, as the others do, while `window` await their ack.
    slots = threading.Semaphore(a.window) if a.qos else None

    def on_publish(client, userdata, mid, reason_code, properties):
        nonlocal acked
        acked += 1
        if slots is not None:
            slots.release()
        if acked >= n:
            done.set()

    connected = threading.Event()
    c.on_connect = lambda *args: connected.set()
    c.on_publish = on_publish
    c.connect("127.0.0.1", a.port)
    c.loop_start()
    if not connected.wait(10):
        raise SystemExit("paho: no CONNACK")
    publish, topic, qos = c.publish, a.topic, a.qos
    t0, c0 = time.monotonic(), time.process_time()
    if slots is None:
        for _ in range(n):
            publish(topic, PAYLOAD, qos)
    else:
        take = slots.acquire
        for _ in range(n):
            take()
            publish(topic, PAYLOAD, qos)
    # on_publish: QoS 0 once written, QoS 1 at PUBACK, QoS 2 at PUBCOMP.
    done.wait(600)
    t1, c1 = time.monotonic(), time.process_time()
    c.disconnect()
    c.loop_stop()
    report(count=acked, t_start=t0, t_end=t1, cpu=c1 - c0)


def paho_sub(a) -> None:
    mqtt, c = paho_client(a)
    state = {"subscribed": False, "count": 0, "t_last": time.monotonic()}
    n = a.count

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        state["subscribed"] = True

    count = 0

    def on_message(client, userdata, message):
        nonlocal count
        count += 1

    c.on_subscribe = on_subscribe
    c.on_message = on_message
    c.on_connect = lambda client, *args: client.subscribe(a.topic, a.qos)
    c.connect("127.0.0.1", a.port)
    while not state["subscribed"]:
        c.loop(1.0)
    c0 = time.process_time()
    t_last = time.monotonic()
    ready()
    loop = c.loop
    last_seen = 0
    while count < n:
        loop(0.5)
        if count != last_seen:
            last_seen = count
            t_last = time.monotonic()
        elif time.monotonic() - t_last > a.idle:
            break
    t_last, c1 = time.monotonic() if count >= n else t_last, time.process_time()
    c.disconnect()
    report(count=count, t_start=0.0, t_end=t_last, cpu=c1 - c0)


# ------------------------------------------------------------------- gmqtt


def gmqtt_storage(window: int):
    """gmqtt has no inflight limit of its own: a ``persistent_storage`` (its
    constructor's extension point) that lets the publisher wait while
    ``window`` QoS 1/2 messages await PUBACK / PUBCOMP."""
    from gmqtt.storage import PersistentStorage

    class WindowStorage(PersistentStorage):
        def __init__(self) -> None:
            super().__init__()
            self.waiter = None

        def remove_message_by_mid(self, mid):
            super().remove_message_by_mid(mid)
            w = self.waiter
            if w is not None and len(self._messages) < window and not w.done():
                w.set_result(None)

        async def slot(self) -> None:
            while len(self._messages) >= window:
                self.waiter = asyncio.get_running_loop().create_future()
                await self.waiter
                self.waiter = None

    return WindowStorage()


async def gmqtt_pub(a) -> None:
    import gmqtt
    from gmqtt.mqtt.constants import MQTTv50

    storage = gmqtt_storage(a.window or 65535)
    c = gmqtt.Client(a.client_id, persistent_storage=storage)
    await c.connect("127.0.0.1", a.port, version=MQTTv50)
    publish, topic, qos = c.publish, a.topic, a.qos
    t0, c0 = time.monotonic(), time.process_time()
    if qos == 0:
        for i in range(a.count):
            publish(topic, PAYLOAD, qos=0)
            if i % 64 == 63:
                await asyncio.sleep(0)  # let the loop run (reads, writes)
        transport = c._connection._transport
        while transport.get_write_buffer_size():
            await asyncio.sleep(0.001)
    else:
        slot = storage.slot
        for _ in range(a.count):
            await slot()
            publish(topic, PAYLOAD, qos=qos)
        await storage.wait_empty()
    t1, c1 = time.monotonic(), time.process_time()
    await c.disconnect()
    report(count=a.count, t_start=t0, t_end=t1, cpu=c1 - c0)


async def gmqtt_sub(a) -> None:
    import gmqtt
    from gmqtt.mqtt.constants import MQTTv50

    loop = asyncio.get_running_loop()
    subscribed = loop.create_future()
    finished = loop.create_future()
    c = gmqtt.Client(a.client_id)
    count = 0
    n = a.count

    def on_message(client, topic, payload, qos, properties):
        nonlocal count
        count += 1
        if count >= n and not finished.done():
            finished.set_result(None)
        return 0

    c.on_message = on_message
    c.on_subscribe = lambda *args: subscribed.done() or subscribed.set_result(None)
    await c.connect("127.0.0.1", a.port, version=MQTTv50)
    c.subscribe(a.topic, qos=a.qos)
    await subscribed
    c0 = time.process_time()
    ready()
    seen = -1
    while not finished.done():
        try:
            await asyncio.wait_for(asyncio.shield(finished), a.idle)
        except asyncio.TimeoutError:
            if count == seen:
                break
            seen = count
    t_last, c1 = time.monotonic(), time.process_time()
    await c.disconnect()
    report(count=count, t_start=0.0, t_end=t_last, cpu=c1 - c0)


# -------------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("lib", choices=["libmqtt", "libmqtt-sync", "libmqtt-sansio", "paho", "gmqtt"])
    p.add_argument("role", choices=["pub", "sub"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--qos", type=int, default=0)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--window", type=int, default=0, help="QoS 1/2 messages in flight (publisher)")
    p.add_argument("--idle", type=float, default=10.0, help="subscriber: stop after this long without a message")
    a = p.parse_args()
    a.client_id = f"bench-{a.lib}-{a.role}-{time.monotonic_ns() % 1000000}"
    fn = {
        ("libmqtt", "pub"): libmqtt_pub,
        ("libmqtt", "sub"): libmqtt_sub,
        ("libmqtt-sansio", "pub"): sansio_pub,
        ("libmqtt-sansio", "sub"): sansio_sub,
        ("paho", "pub"): paho_pub,
        ("paho", "sub"): paho_sub,
        ("libmqtt-sync", "pub"): paho_pub,
        ("libmqtt-sync", "sub"): paho_sub,
        ("gmqtt", "pub"): gmqtt_pub,
        ("gmqtt", "sub"): gmqtt_sub,
    }[(a.lib, a.role)]
    if asyncio.iscoroutinefunction(fn):
        asyncio.run(fn(a))
    else:
        fn(a)


if __name__ == "__main__":
    main()
