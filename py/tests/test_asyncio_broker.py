"""Our asyncio Broker (libmqtt.asyncio.Broker) with a real third-party
client, paho-mqtt 2.x, and with hooks; on 127.0.0.1, bounded in time."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

import libmqtt
from libmqtt.asyncio import Broker, Client

paho_client = pytest.importorskip("paho.mqtt.client")
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402


def paho(protocol: int, client_id: str):
    c = paho_client.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    return c


@pytest.mark.parametrize("protocol", [4, 5], ids=["v311", "v5"])
def test_paho_pub_sub_every_qos(our_broker: int, protocol: int) -> None:
    """paho-mqtt subscribes and publishes at QoS 0, 1, 2 through our broker."""
    proto = paho_client.MQTTv311 if protocol == 4 else paho_client.MQTTv5
    topic = f"paho/{uuid.uuid4().hex[:8]}"
    got: list = []
    subscribed = threading.Event()
    all_in = threading.Event()

    sub = paho(proto, f"ps-{uuid.uuid4().hex[:6]}")

    def on_connect(client, userdata, flags, rc, props=None):
        client.subscribe(f"{topic}/#", qos=2)

    def on_subscribe(client, userdata, mid, rcs, props=None):
        subscribed.set()

    def on_message(client, userdata, msg):
        got.append((msg.topic, msg.payload, msg.qos))
        if len(got) == 3:
            all_in.set()

    sub.on_connect = on_connect
    sub.on_subscribe = on_subscribe
    sub.on_message = on_message
    sub.connect("127.0.0.1", our_broker)
    sub.loop_start()
    pub = paho(proto, f"pp-{uuid.uuid4().hex[:6]}")
    pub.connect("127.0.0.1", our_broker)
    pub.loop_start()
    try:
        assert subscribed.wait(10)
        for qos in (0, 1, 2):
            info = pub.publish(f"{topic}/{qos}", b"m%d" % qos, qos=qos)
            info.wait_for_publish(10)
            assert info.is_published()
        assert all_in.wait(10)
        assert sorted(got) == [(f"{topic}/{q}", b"m%d" % q, q) for q in (0, 1, 2)]
    finally:
        pub.disconnect()
        sub.disconnect()
        pub.loop_stop()
        sub.loop_stop()


def test_paho_receives_from_our_asyncio_client(our_broker: int) -> None:
    """A paho subscriber gets a 5.0 message with user properties from our client."""
    topic = f"mix/{uuid.uuid4().hex[:8]}"
    got: list = []
    ready = threading.Event()
    arrived = threading.Event()
    sub = paho(paho_client.MQTTv5, f"mx-{uuid.uuid4().hex[:6]}")
    sub.on_connect = lambda c, u, f, rc, p=None: c.subscribe(topic, qos=1)
    sub.on_subscribe = lambda c, u, mid, rcs, p=None: ready.set()

    def on_message(client, userdata, msg):
        got.append((msg.payload, getattr(msg.properties, "UserProperty", None)))
        arrived.set()

    sub.on_message = on_message
    sub.connect("127.0.0.1", our_broker)
    sub.loop_start()
    try:
        assert ready.wait(10)

        async def main() -> None:
            async with Client("127.0.0.1", our_broker, client_id="mix-pub") as c:
                await c.publish(topic, b"hello paho", qos=1, user_properties=[("from", "libmqtt")])

        asyncio.run(asyncio.wait_for(main(), 10))
        assert arrived.wait(10)
        assert got == [(b"hello paho", [("from", "libmqtt")])]
    finally:
        sub.disconnect()
        sub.loop_stop()


def test_broker_port_zero_and_hooks() -> None:
    """`Broker(port=0)` picks a free port; the authenticator and authorizer
    hooks decide who connects and who publishes where."""

    class Auth:
        def authenticate_connect(self, info):
            return info.username == "alice"

    class Acl:
        def authorize(self, client_id, username, topic, access):
            return not topic.startswith("secret")

    async def main() -> None:
        async with Broker(port=0, authenticator=Auth(), authorizer=Acl()) as broker:
            assert broker.port > 0
            with pytest.raises(libmqtt.asyncio.ConnectError) as info:
                async with Client("127.0.0.1", broker.port, client_id="eve", username="eve"):
                    pass
            assert info.value.reason_code == libmqtt.ReasonCode.NOT_AUTHORIZED
            async with Client("127.0.0.1", broker.port, client_id="alice", username="alice") as c:
                await c.subscribe("#", qos=1)
                with pytest.raises(libmqtt.asyncio.PublishError):
                    await c.publish("secret/x", b"no", qos=1)
                await c.publish("open/x", b"yes", qos=1)
                message = await c.messages.get(5)
                assert message.payload == b"yes"

    asyncio.run(asyncio.wait_for(main(), 20))


def test_broker_closes_clients_on_exit() -> None:
    """Closing the broker closes its connections; a client without
    reconnect then ends, its messages iterator finishing."""

    async def main() -> None:
        broker = Broker(port=0)
        await broker.start()
        async with Client("127.0.0.1", broker.port, client_id="c", reconnect=False) as c:
            await broker.close()
            messages = [m async for m in c.messages]
            assert messages == []

    asyncio.run(asyncio.wait_for(main(), 20))


def test_raising_hook_refuses_and_broker_goes_on() -> None:
    """An authenticator that raises refuses that client (0x80 Unspecified
    error, as libmqtt.broker documents) and the broker keeps serving."""

    class Flaky:
        def authenticate_connect(self, info):
            if info.client_id == "boom":
                raise RuntimeError("hook bug")
            return True

    async def main() -> None:
        async with Broker(port=0, authenticator=Flaky()) as broker:
            with pytest.raises(libmqtt.asyncio.ConnectError) as info:
                async with Client("127.0.0.1", broker.port, client_id="boom"):
                    pass
            assert info.value.reason_code == libmqtt.ReasonCode.UNSPECIFIED_ERROR
            async with Client("127.0.0.1", broker.port, client_id="fine") as c:
                await c.subscribe("a", qos=1)
                await c.publish("a", b"still up", qos=1)
                assert (await c.messages.get(5)).payload == b"still up"

    asyncio.run(asyncio.wait_for(main(), 20))
