"""libmqtt.sync.Client (paho-mqtt 2.x style, threads) against a real
mosquitto and our asyncio Broker on 127.0.0.1, MQTT 3.1.1 and 5.0: CONNACK,
QoS 0/1/2 both ways, SUBACK codes, per-filter callbacks, wills, TLS (server
and client certificates made at test time), WebSocket, reconnect after the
broker is killed, thread safety and the bounded queues. Every wait is
bounded; each test has a hard limit (pytest's faulthandler is not needed:
the waits time out and fail)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

import libmqtt
import libmqtt.sync as mqtt
from conftest import MOSQUITTO, ThreadBroker, free_port, wait_listening

WAIT = 10.0


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=[mqtt.MQTTv311, mqtt.MQTTv5], ids=["v311", "v5"])
def protocol(request: pytest.FixtureRequest) -> int:
    return request.param


class Inbox:
    """Collects messages from on_message (network thread) for the test thread."""

    def __init__(self) -> None:
        self.messages: list = []
        self.cond = threading.Condition()

    def __call__(self, client, userdata, message) -> None:
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()

    def wait(self, n: int, timeout: float = WAIT) -> list:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.messages) >= n, timeout), f"{len(self.messages)} of {n} messages"
            return list(self.messages)


def started(client: mqtt.Client, port: int, **kw) -> mqtt.Client:
    client.connect("127.0.0.1", port, **kw)
    client.loop_start()
    return client


def stop(*clients: mqtt.Client) -> None:
    for c in clients:
        c.disconnect()
        c.loop_stop()


def subscribe_and_wait(client: mqtt.Client, topic, qos: int = 0, **kw) -> list:
    """Subscribes and returns the SUBACK's reason codes (via on_subscribe)."""
    box: dict = {}
    done = threading.Event()

    def on_subscribe(c, userdata, mid, codes, properties):
        if mid == box.get("mid"):
            box["codes"] = codes
            done.set()

    client.on_subscribe = on_subscribe
    with client._lock:  # the SUBACK must not beat the bookkeeping
        rc, mid = client.subscribe(topic, qos, **kw)
        box["mid"] = mid
    assert rc == mqtt.MQTT_ERR_SUCCESS
    assert done.wait(WAIT), "no SUBACK"
    return box["codes"]


# ------------------------------------------------------------------ basics


def test_connect_reports_connack(broker_port: int, protocol: int) -> None:
    """connect() returns after CONNACK with on_connect already run: flags,
    reason code (a ReasonCode with paho's is_failure), 5.0 properties."""
    seen = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, uid("c"), protocol=protocol)
    c.on_connect = lambda client, ud, flags, rc, props: seen.append((flags, rc, props))
    assert c.connect("127.0.0.1", broker_port, keepalive=30) == mqtt.MQTT_ERR_SUCCESS
    assert c.is_connected()
    (flags, rc, props), = seen
    assert flags.session_present is False and flags["session present"] == 0
    assert rc == 0 and rc == libmqtt.ReasonCode.SUCCESS and not rc.is_failure
    assert isinstance(props, mqtt.Properties)
    assert c.disconnect() == mqtt.MQTT_ERR_SUCCESS
    assert not c.is_connected()
    assert c.disconnect() == mqtt.MQTT_ERR_NO_CONN


def test_session_present_on_resume(broker_port: int, protocol: int) -> None:
    """A persistent session is resumed on the next connection (CONNACK
    session present) [MQTT-3.2.2-2]."""
    cid = uid("persist")
    kw = {"properties": props_session(300)} if protocol == mqtt.MQTTv5 else {}
    flags_seen = []
    for _ in range(2):
        c = mqtt.Client(cid, protocol=protocol, clean_session=None if protocol == 5 else False, clean_start=False if protocol == 5 else None)
        c.on_connect = lambda client, ud, flags, rc, props: flags_seen.append(flags.session_present)
        c.connect("127.0.0.1", broker_port, **kw)
        c.subscribe("keep/me", 1)
        c.loop(0.2)
        c.disconnect()
    assert flags_seen == [False, True]


def props_session(seconds: int) -> mqtt.Properties:
    p = mqtt.Properties(mqtt.PacketTypes.CONNECT)
    p.SessionExpiryInterval = seconds
    return p


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_qos_both_ways_wait_for_publish(broker_port: int, protocol: int, qos: int) -> None:
    """Publish at each QoS, wait_for_publish (QoS 0: written; 1: PUBACK; 2:
    PUBCOMP) and on_publish; the subscriber gets topic, payload, QoS and
    a packet id (mid) above 0 for QoS 1/2."""
    topic = uid("q")
    inbox = Inbox()
    sub = mqtt.Client(uid("s"), protocol=protocol)
    sub.on_message = inbox
    pub = mqtt.Client(uid("p"), protocol=protocol)
    published = []
    pub.on_publish = lambda client, ud, mid, rc, props: published.append((mid, rc))
    started(sub, broker_port)
    started(pub, broker_port)
    try:
        assert subscribe_and_wait(sub, topic, 2) == [libmqtt.ReasonCode.GRANTED_QOS_2]
        infos = [pub.publish(topic, b"m%d" % i, qos) for i in range(20)]
        for info in infos:
            assert info.rc == mqtt.MQTT_ERR_SUCCESS
            assert info.wait_for_publish(WAIT) is True and info.is_published()
        rc, mid = infos[0]  # unpacks like paho's
        assert (rc, mid) == (infos[0].rc, infos[0].mid)
        got = inbox.wait(20)
        assert [m.payload for m in got] == [b"m%d" % i for i in range(20)]
        assert all(m.topic == topic and m.qos == qos and not m.retain for m in got)
        assert all((m.mid > 0) == (qos > 0) for m in got)
        for _ in range(100):
            if len(published) == 20:
                break
            time.sleep(0.02)
        assert sorted(m for m, _ in published) == sorted(i.mid for i in infos)
        assert all(rc == 0 for _, rc in published)
    finally:
        stop(pub, sub)


def test_properties_v5_round_trip(broker_port: int) -> None:
    """5.0 properties by paho's names in, by both names out, in order."""
    topic = uid("props")
    inbox = Inbox()
    c = started(mqtt.Client(uid("p"), protocol=mqtt.MQTTv5), broker_port)
    c.on_message = inbox
    try:
        subscribe_and_wait(c, topic, 1)
        props = mqtt.Properties(mqtt.PacketTypes.PUBLISH)
        props.UserProperty = ("k", "v1")
        props.UserProperty = [("k", "v2"), ("unit", "°C")]
        props.ContentType = "text/plain"
        props.MessageExpiryInterval = 60
        c.publish(topic, "21.5", 1, properties=props).wait_for_publish(WAIT)
        m = inbox.wait(1)[0]
        assert m.payload == b"21.5"
        assert m.properties.UserProperty == [("k", "v1"), ("k", "v2"), ("unit", "°C")]
        assert m.properties.user_properties == (("k", "v1"), ("k", "v2"), ("unit", "°C"))
        assert m.properties.ContentType == "text/plain"
        with pytest.raises(AttributeError):
            m.properties.ResponseTopic  # absent, as in paho
    finally:
        stop(c)


def test_subscribe_forms_and_codes(broker_port: int, protocol: int) -> None:
    """subscribe(str, qos), ((topic, qos)), [list]: one SUBACK code per
    filter; invalid filters raise TopicFilterInvalid before anything is sent."""
    c = started(mqtt.Client(uid("s"), protocol=protocol), broker_port)
    try:
        base = uid("f")
        assert subscribe_and_wait(c, f"{base}/a", 1) == [1]
        assert subscribe_and_wait(c, (f"{base}/b", 2)) == [2]
        assert subscribe_and_wait(c, [(f"{base}/c", 0), (f"{base}/+/d", 1), (f"{base}/#", 2)]) == [0, 1, 2]
        if protocol == mqtt.MQTTv5:
            opts = mqtt.SubscribeOptions(qos=1, noLocal=True)
            assert subscribe_and_wait(c, f"{base}/e", options=opts) == [1]
        with pytest.raises(libmqtt.TopicFilterInvalid):
            c.subscribe("a/#/b", 0)
        with pytest.raises(libmqtt.TopicNameInvalid):
            c.publish("a/+", b"x")
        with pytest.raises(libmqtt.MalformedPacket):
            c.publish("a", b"x", qos=3)
        unsubscribed = threading.Event()
        c.on_unsubscribe = lambda client, ud, mid, codes, props: unsubscribed.set()
        assert c.unsubscribe(f"{base}/a")[0] == mqtt.MQTT_ERR_SUCCESS
        assert unsubscribed.wait(WAIT)
    finally:
        stop(c)


def test_per_filter_callbacks(broker_port: int) -> None:
    """message_callback_add: each matching filter's callback runs; on_message
    gets only what no filter took; message_callback_remove stops one."""
    base = uid("cb")
    temps, alls, others = Inbox(), Inbox(), Inbox()
    c = mqtt.Client(uid("c"), protocol=mqtt.MQTTv5)
    c.message_callback_add(f"{base}/+/temp", temps)
    c.message_callback_add(f"{base}/#", alls)
    c.on_message = others
    started(c, broker_port)
    try:
        subscribe_and_wait(c, f"{base}/#", 1)
        subscribe_and_wait(c, f"x{base}", 1)
        c.publish(f"{base}/7/temp", b"21", 1)
        c.publish(f"{base}/7/hum", b"40", 1)
        c.publish(f"x{base}", b"other", 1)
        assert [m.payload for m in temps.wait(1)] == [b"21"]
        assert sorted(m.payload for m in alls.wait(2)) == [b"21", b"40"]
        assert [m.payload for m in others.wait(1)] == [b"other"]
        c.message_callback_remove(f"{base}/+/temp")
        c.publish(f"{base}/8/temp", b"22", 1).wait_for_publish(WAIT)
        alls.wait(3)
        time.sleep(0.1)
        assert len(temps.messages) == 1
        with pytest.raises(libmqtt.TopicFilterInvalid):
            c.message_callback_add("a/#/b", temps)
    finally:
        stop(c)


def test_will_on_abrupt_close(broker_port: int, protocol: int) -> None:
    """[MQTT-3.1.2-8] a connection closed without DISCONNECT publishes the
    will; a normal disconnect() does not [MQTT-3.1.2-10]."""
    topic = uid("will")
    inbox = Inbox()
    watcher = mqtt.Client(uid("w"), protocol=protocol)
    watcher.on_message = inbox
    started(watcher, broker_port)
    try:
        subscribe_and_wait(watcher, topic, 1)
        polite = mqtt.Client(uid("polite"), protocol=protocol)
        polite.will_set(topic, b"polite", 1)
        polite.connect("127.0.0.1", broker_port)
        polite.disconnect()
        dying = mqtt.Client(uid("d"), protocol=protocol, reconnect_on_failure=False)
        dying.will_set(topic, "gone", qos=1, retain=False)
        dying.connect("127.0.0.1", broker_port)
        dying.socket().shutdown(socket.SHUT_RDWR)  # the network fails
        dying.loop(1.0)
        assert not dying.is_connected()
        (m,) = inbox.wait(1)
        assert (m.topic, m.payload, m.qos) == (topic, b"gone", 1)
    finally:
        stop(watcher)


def test_disconnect_from_callback_ends_loop_forever(broker_port: int, protocol: int) -> None:
    """The classic subscriber: loop_forever() returns after disconnect() in
    on_message; on_disconnect reports a normal disconnection."""
    topic = uid("lf")
    got, flags_rc = [], []
    c = mqtt.Client(uid("lf"), protocol=protocol)
    c.on_connect = lambda client, ud, flags, rc, props: client.subscribe(topic, 1)
    c.on_subscribe = lambda client, ud, mid, codes, props: client.publish(topic, b"ping", 1)

    def on_message(client, userdata, message):
        got.append(message.payload)
        client.disconnect()

    c.on_message = on_message
    c.on_disconnect = lambda client, ud, flags, rc, props: flags_rc.append((flags, rc))
    c.connect("127.0.0.1", broker_port)
    t = threading.Timer(WAIT, c.disconnect)
    t.start()
    try:
        assert c.loop_forever() == mqtt.MQTT_ERR_SUCCESS
    finally:
        t.cancel()
    assert got == [b"ping"]
    assert flags_rc == [(mqtt.DisconnectFlags(False), libmqtt.ReasonCode.NORMAL_DISCONNECTION)]


def test_wait_for_publish_in_callback_raises() -> None:
    """wait_for_publish on the network thread before the ack would wait for
    ever: InvalidState instead (paho hangs)."""
    broker = ThreadBroker().start()
    try:
        errors = []
        done = threading.Event()
        c = mqtt.Client("cb-wait", protocol=mqtt.MQTTv5)

        def on_connect(client, ud, flags, rc, props):
            info = client.publish("t", b"x", 1)
            try:
                info.wait_for_publish(1)
            except libmqtt.InvalidState as exc:
                errors.append(exc)
            done.set()

        c.on_connect = on_connect
        c.connect_async("127.0.0.1", broker.port)
        c.loop_start()
        assert done.wait(WAIT)
        assert len(errors) == 1 and isinstance(errors[0], libmqtt.MQTTError)
        stop(c)
    finally:
        broker.stop()


def test_connect_refused_and_transport_errors() -> None:
    """Bad credentials: on_connect gets 0x86 and connect() raises
    ConnectError with it; nothing listening: ConnectError (also a
    ConnectionError, as paho's socket error was)."""
    broker = ThreadBroker(passwords={"alice": "secret"}, allow_anonymous=False).start()
    try:
        seen = []
        c = mqtt.Client("x", protocol=mqtt.MQTTv5)
        c.on_connect = lambda client, ud, flags, rc, props: seen.append(rc)
        c.username_pw_set("alice", "wrong")
        with pytest.raises(mqtt.ConnectError) as info:
            c.connect("127.0.0.1", broker.port)
        assert info.value.reason_code == libmqtt.ReasonCode.BAD_USER_NAME_OR_PASSWORD
        assert seen == [libmqtt.ReasonCode.BAD_USER_NAME_OR_PASSWORD] and seen[0].is_failure
        ok = mqtt.Client("y", protocol=mqtt.MQTTv311)
        ok.username_pw_set("alice", "secret")
        ok.connect("127.0.0.1", broker.port)
        assert ok.is_connected()
        ok.disconnect()
    finally:
        broker.stop()
    with pytest.raises(mqtt.ConnectError) as info2:
        mqtt.Client().connect("127.0.0.1", free_port())
    assert isinstance(info2.value, ConnectionError) and isinstance(info2.value, libmqtt.MQTTError)


def test_publish_refused_raises_publish_error() -> None:
    """PUBACK 0x87 Not authorized: wait_for_publish raises PublishError with
    the code, on_publish gets it."""
    broker = ThreadBroker(acl="topic read #\n").start()
    try:
        codes = []
        c = mqtt.Client("ro", protocol=mqtt.MQTTv5)
        c.on_publish = lambda client, ud, mid, rc, props: codes.append(rc)
        started(c, broker.port)
        info = c.publish("denied", b"x", 1)
        with pytest.raises(mqtt.PublishError) as err:
            info.wait_for_publish(WAIT)
        assert err.value.reason_code == libmqtt.ReasonCode.NOT_AUTHORIZED
        stop(c)
        assert codes == [libmqtt.ReasonCode.NOT_AUTHORIZED]
    finally:
        broker.stop()


def test_bad_arguments_raise_typed_errors() -> None:
    with pytest.raises(libmqtt.UnsupportedProtocolVersion):
        mqtt.Client(protocol=6)
    with pytest.raises(libmqtt.InvalidArgument) as e:
        mqtt.Client(mqtt.CallbackAPIVersion.VERSION1)
    assert e.value.field == "callback_api_version"
    with pytest.raises(libmqtt.InvalidArgument) as e:
        mqtt.Client(transport="unix")
    assert e.value.field == "transport" and isinstance(e.value, ValueError)
    c = mqtt.Client(protocol=311)
    assert c.protocol == 4
    with pytest.raises(libmqtt.TopicNameInvalid):
        c.will_set("a/#", b"x")
    info = c.publish("t", b"x", 1)  # before connect: not queued, like paho
    assert info.rc == mqtt.MQTT_ERR_NO_CONN
    with pytest.raises(libmqtt.NotConnected):
        info.wait_for_publish(0.1)
    assert c.subscribe("t") == (mqtt.MQTT_ERR_NO_CONN, None)
    with pytest.raises(libmqtt.InvalidArgument) as e:
        c.publish("t", object())
    assert e.value.field == "payload"


def test_keep_alive_pings_on_the_network_thread(broker_port: int) -> None:
    """The core's deadline drives PINGREQ from the network thread."""
    c = started(mqtt.Client(uid("ka"), protocol=mqtt.MQTTv5), broker_port, keepalive=1)
    try:
        time.sleep(2.5)
        assert c.is_connected()
        assert c.core.stats()["packets_received"] >= 3  # CONNACK + 2 PINGRESP
    finally:
        stop(c)


# --------------------------------------------------------------- helpers


def test_topic_helpers() -> None:
    assert libmqtt.topic_matches("sport/+/player1", "sport/tennis/player1")
    assert libmqtt.topic_matches("sport/#", "sport")
    assert not libmqtt.topic_matches("#", "$SYS/uptime")
    assert mqtt.topic_matches_sub("a/+", "a/b")
    libmqtt.validate_topic_name("a/b")
    libmqtt.validate_topic_filter("$share/g/a/#")
    with pytest.raises(libmqtt.TopicNameInvalid) as e:
        libmqtt.validate_topic_name("a/+")
    assert e.value.kind == "WildcardInName" and e.value.reason_code == 0x90
    for bad in ("", "a/#/b", "a+", "$share//x"):
        with pytest.raises(libmqtt.TopicFilterInvalid):
            libmqtt.validate_topic_filter(bad)


def test_single_multiple_simple(broker_port: int, protocol: int) -> None:
    """The one-shot helpers, as paho's publish.single / publish.multiple /
    subscribe.simple."""
    topic = uid("one")
    mqtt.single(topic, "kept", qos=1, retain=True, hostname="127.0.0.1", port=broker_port, protocol=protocol)
    m = mqtt.simple(topic, qos=1, hostname="127.0.0.1", port=broker_port, protocol=protocol, timeout=WAIT)
    assert (m.topic, m.payload, m.retain) == (topic, b"kept", True)
    result: dict = {}

    def collect() -> None:
        result["msgs"] = mqtt.simple(f"{topic}/m/#", qos=1, msg_count=3, hostname="127.0.0.1", port=broker_port, protocol=protocol, timeout=WAIT)

    t = threading.Thread(target=collect)
    t.start()
    time.sleep(0.5)  # subscribed by then
    mqtt.multiple(
        [{"topic": f"{topic}/m/1", "payload": b"1", "qos": 1}, (f"{topic}/m/2", "2", 2, False), {"topic": f"{topic}/m/3", "payload": 3}],
        hostname="127.0.0.1",
        port=broker_port,
        protocol=protocol,
    )
    t.join(WAIT + 2)
    # [MQTT-4.6.0-6] orders messages of one QoS; these mix QoS 1, 2 and 0.
    assert sorted(x.payload for x in result["msgs"]) == [b"1", b"2", b"3"]
    mqtt.single(topic, None, qos=1, retain=True, hostname="127.0.0.1", port=broker_port)  # clear


# --------------------------------------------------------------- threads


def test_publish_from_many_threads(broker_port: int) -> None:
    """8 threads publish 150 QoS 1 messages each through one client (one lock
    around the core, one network thread): every message arrives once, in
    each thread's order."""
    topic = uid("mt")
    inbox = Inbox()
    sub = mqtt.Client(uid("s"), protocol=mqtt.MQTTv5)
    sub.on_message = inbox
    pub = mqtt.Client(uid("p"), protocol=mqtt.MQTTv5, max_inflight_messages=20)
    started(sub, broker_port)
    started(pub, broker_port)
    try:
        subscribe_and_wait(sub, topic, 1)
        errors = []

        def work(k: int) -> None:
            try:
                infos = [pub.publish(topic, f"{k}:{i}", 1) for i in range(150)]
                for info in infos:
                    assert info.wait_for_publish(WAIT * 2)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT * 3)
        assert not errors
        got = [m.payload.decode() for m in inbox.wait(1200, WAIT * 2)]
        assert len(got) == len(set(got)) == 1200
        for k in range(8):
            mine = [int(p.split(":")[1]) for p in got if p.startswith(f"{k}:")]
            assert mine == list(range(150))
    finally:
        stop(pub, sub)


def test_bounded_incoming_queue_backpressure(broker_port: int) -> None:
    """max_incoming_messages=5 and nobody reading: the network thread stops
    reading the socket (the queue holds at most 5 plus one read's worth);
    get_message() makes room and everything arrives, in order."""
    topic = uid("bq")
    sub = mqtt.Client(uid("s"), protocol=mqtt.MQTTv5, max_incoming_messages=5)
    started(sub, broker_port)
    pub = started(mqtt.Client(uid("p"), protocol=mqtt.MQTTv5), broker_port)
    try:
        assert sub.subscribe(topic, 1)[0] == 0
        time.sleep(0.3)
        infos = [pub.publish(topic, b"%d" % i, 1) for i in range(200)]
        for info in infos:
            assert info.wait_for_publish(WAIT)
        time.sleep(0.5)
        queued = len(sub._inbox)
        assert 5 <= queued < 200, queued  # paused, not everything buffered
        assert sub.core.stats()["messages_received"][1] < 200
        got = []
        while len(got) < 200:
            m = sub.get_message(WAIT)
            assert m is not None, f"stalled after {len(got)}"
            got.append(int(m.payload))
        assert got == list(range(200))
        assert sub.get_message(0.1) is None
    finally:
        stop(pub, sub)


def test_a_stalled_reader_keeps_its_connection(broker_port: int) -> None:
    """Reading paused for a full inbox for longer than the keep alive: the
    core is told (set_input_paused), so the unread PINGRESP is not a keep
    alive timeout: no disconnection, and every message arrives after."""
    topic = uid("stall")
    sub = mqtt.Client(uid("s"), protocol=mqtt.MQTTv5, max_incoming_messages=2)
    drops: list = []
    sub.on_disconnect = lambda client, ud, flags, rc, props: drops.append(rc)
    started(sub, broker_port, keepalive=1)
    pub = started(mqtt.Client(uid("p"), protocol=mqtt.MQTTv5), broker_port)
    try:
        assert sub.subscribe(topic, 1)[0] == 0
        time.sleep(0.3)
        for i in range(6):
            assert pub.publish(topic, b"%d" % i, 1).wait_for_publish(WAIT)
        time.sleep(3.5)  # three keep alive intervals, nothing read
        assert drops == [], drops
        got = []
        while len(got) < 6:
            m = sub.get_message(WAIT)
            assert m is not None, f"stalled after {len(got)}"
            got.append(int(m.payload))
        assert got == list(range(6))
        assert drops == []
    finally:
        stop(pub, sub)


def test_outgoing_queue_bound_without_loop() -> None:
    """max_inflight 1, max_queued 2, a server that never acknowledges, no
    network loop: the fourth QoS 1 publish is refused (rc
    MQTT_ERR_QUEUE_SIZE, QueueFull on wait), nothing grows without bound."""
    import asyncio

    ready = threading.Event()
    state: dict = {}

    async def main() -> None:
        async def serve(reader, writer):
            decoder = libmqtt.Decoder(5)
            while data := await reader.read(4096):
                decoder.feed(data)
                for packet in decoder:
                    if isinstance(packet, libmqtt.Connect):
                        writer.write(libmqtt.encode(libmqtt.ConnAck()))

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        state["port"] = server.sockets[0].getsockname()[1]
        state["stop"] = asyncio.get_running_loop().create_future()
        state["loop"] = asyncio.get_running_loop()
        ready.set()
        async with server:
            await state["stop"]

    t = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    t.start()
    assert ready.wait(WAIT)
    try:
        c = mqtt.Client("q", protocol=mqtt.MQTTv5, max_inflight_messages=1, max_queued_messages=2)
        c.connect("127.0.0.1", state["port"])
        infos = [c.publish("t", b"x", 1) for _ in range(4)]
        assert [i.rc for i in infos] == [0, 0, 0, mqtt.MQTT_ERR_QUEUE_SIZE]
        with pytest.raises(libmqtt.QueueFull):
            infos[3].wait_for_publish(0.1)
        assert infos[0].wait_for_publish(0.3) is False  # never acknowledged
        stats = c.core.stats()
        assert (stats["inflight"], stats["queued"]) == (1, 2)
        c.disconnect()
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set_result, None)
        t.join(WAIT)


# ------------------------------------------------------------------- TLS


def test_tls_against_mosquitto(mosquitto_tls: int, test_ca: dict, protocol: int) -> None:
    """tls_set(ca_certs=test CA): verified TLS to mosquitto, QoS 1 round trip."""
    topic = uid("tls")
    inbox = Inbox()
    c = mqtt.Client(uid("t"), protocol=protocol)
    c.tls_set(ca_certs=test_ca["ca"])
    c.on_message = inbox
    started(c, mosquitto_tls)
    try:
        subscribe_and_wait(c, topic, 1)
        c.publish(topic, b"secret", 1).wait_for_publish(WAIT)
        assert inbox.wait(1)[0].payload == b"secret"
    finally:
        stop(c)


def test_tls_untrusted_refused(mosquitto_tls: int) -> None:
    """Without the test CA the certificate does not verify: ConnectError."""
    c = mqtt.Client("untrusted")
    c.tls_set()  # the system's CAs
    with pytest.raises(mqtt.ConnectError):
        c.connect("127.0.0.1", mosquitto_tls)


@pytest.fixture(scope="module")
def client_cert(test_ca: dict) -> dict:
    """A client certificate signed by the test CA (openssl CLI, at test time)."""
    d = Path(test_ca["ca"]).parent
    openssl = shutil.which("openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def sh(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=30, cwd=d)

    if not (d / "client.crt").exists():
        sh("req", *ec, "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=sync-client")
        sh("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.crt", "-days", "2")
    return {"cert": str(d / "client.crt"), "key": str(d / "client.key")}


def mutual_tls_context(test_ca: dict) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=test_ca["ca"])
    ctx.load_cert_chain(test_ca["cert"], test_ca["key"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def test_tls_client_certificate(test_ca: dict, client_cert: dict) -> None:
    """Our broker requires a client certificate: with tls_set(certfile,
    keyfile) the client connects; without, the handshake fails."""
    broker = ThreadBroker(ssl=mutual_tls_context(test_ca)).start()
    try:
        c = mqtt.Client("with-cert", protocol=mqtt.MQTTv5)
        c.tls_set(ca_certs=test_ca["ca"], certfile=client_cert["cert"], keyfile=client_cert["key"])
        c.connect("127.0.0.1", broker.port)
        assert c.is_connected()
        assert c.publish("t", b"x", 1).wait_for_publish(WAIT)
        c.disconnect()
        bare = mqtt.Client("no-cert", protocol=mqtt.MQTTv5)
        bare.tls_set(ca_certs=test_ca["ca"])
        with pytest.raises(mqtt.ConnectError):
            bare.connect("127.0.0.1", broker.port)
    finally:
        broker.stop()


# -------------------------------------------------------------- WebSocket


def ws_round_trip(port: int, protocol: int, tls_ca: str | None = None) -> None:
    topic = uid("ws")
    inbox = Inbox()
    c = mqtt.Client(uid("ws"), protocol=protocol, transport="websockets")
    c.ws_set_options(path="/mqtt", headers={"X-Test": "1"})
    if tls_ca:
        c.tls_set(ca_certs=tls_ca)
    c.on_message = inbox
    started(c, port)
    try:
        subscribe_and_wait(c, topic, 2)
        for qos in (0, 1, 2):
            assert c.publish(topic, b"w%d" % qos, qos).wait_for_publish(WAIT)
        assert [(m.payload, m.qos) for m in inbox.wait(3)] == [(b"w0", 0), (b"w1", 1), (b"w2", 2)]
    finally:
        stop(c)


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["v311", "v5"])
def test_websocket_against_our_broker(protocol: int) -> None:
    """MQTT over WebSocket (websockets' sync client) to our broker's
    WebSocket listener (mosquitto as packaged here has none)."""
    pytest.importorskip("websockets")
    broker = ThreadBroker(transport="websockets").start()
    try:
        ws_round_trip(broker.port, protocol)
    finally:
        broker.stop()


def test_websocket_over_tls(test_ca: dict) -> None:
    pytest.importorskip("websockets")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(test_ca["cert"], test_ca["key"])
    broker = ThreadBroker(transport="websockets", ssl=ctx).start()
    try:
        ws_round_trip(broker.port, mqtt.MQTTv5, tls_ca=test_ca["ca"])
    finally:
        broker.stop()


# -------------------------------------------------------------- reconnect


class Mosquitto:
    """A mosquitto process with persistence that a test kills -9 and
    restarts on the same port."""

    def __init__(self) -> None:
        if not os.access(MOSQUITTO, os.X_OK):
            pytest.skip("mosquitto is not installed")
        self.port = free_port()
        # Not under pytest's private (0700) temporary directory: mosquitto
        # started as root runs as its own user and must write its database.
        tmp = self.dir = Path(tempfile.mkdtemp(prefix="libmqtt-persist-"))
        tmp.chmod(0o777)
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {tmp}/\nautosave_interval 1\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no goodbye, no final save
        self.proc.wait(10)


def test_reconnect_after_broker_killed_no_qos1_lost(protocol: int) -> None:
    """mosquitto is killed -9 while both clients are connected and restarted
    on the same port (its persistence keeps the subscriber's session). The
    clients reconnect by themselves (backoff with jitter) and resume their
    sessions: every QoS 1 message published before, during (queued by the
    core while offline) and after the outage arrives."""
    broker = Mosquitto()
    broker.start()
    topic = uid("rc")
    inbox = Inbox()
    connects = []
    persistent = dict(protocol=protocol, clean_session=False) if protocol == 4 else dict(protocol=protocol, clean_start=False)
    kw = {"properties": props_session(300)} if protocol == 5 else {}
    sub = mqtt.Client(uid("rs"), **persistent)
    pub = mqtt.Client(uid("rp"), **persistent)
    for c in (sub, pub):
        c.reconnect_delay_set(0.05, 0.5)
    sub.on_message = inbox
    sub.on_connect = lambda client, ud, flags, rc, props: connects.append(flags.session_present)
    try:
        started(sub, broker.port, **kw)
        started(pub, broker.port, **kw)
        subscribe_and_wait(sub, topic, 1)
        before = [pub.publish(topic, b"%d" % i, 1) for i in range(20)]
        for info in before:
            assert info.wait_for_publish(WAIT)
        inbox.wait(20)
        time.sleep(2.5)  # autosave_interval 1: the session is on disk
        broker.kill()
        during = [pub.publish(topic, b"%d" % i, 1) for i in range(20, 60)]  # offline: queued by the core
        assert all(i.rc == mqtt.MQTT_ERR_SUCCESS for i in during)
        time.sleep(0.5)
        assert not pub.is_connected() and not sub.is_connected()
        broker.start()
        for info in during:
            assert info.wait_for_publish(WAIT * 2)
        after = [pub.publish(topic, b"%d" % i, 1) for i in range(60, 80)]
        for info in after:
            assert info.wait_for_publish(WAIT)
        got = {int(m.payload) for m in inbox.wait(80, WAIT * 2)}
        assert got == set(range(80))
        assert connects[0] is False and len(connects) >= 2 and connects[-1] is True
    finally:
        stop(pub, sub)
        if broker.proc is not None and broker.proc.poll() is None:
            broker.kill()
        shutil.rmtree(broker.dir, ignore_errors=True)


def test_reconnect_our_broker_restarted_in_process(protocol: int) -> None:
    """Our broker closes every connection and its listener, then listens
    again on the same port with the same engine (sessions kept in memory):
    the clients reconnect and resume, QoS 1 messages published meanwhile
    all arrive."""
    broker = ThreadBroker().start()
    topic = uid("rc")
    inbox = Inbox()
    persistent = dict(protocol=protocol, clean_session=False) if protocol == 4 else dict(protocol=protocol, clean_start=False)
    kw = {"properties": props_session(300)} if protocol == 5 else {}
    sub = mqtt.Client(uid("rs"), **persistent)
    pub = mqtt.Client(uid("rp"), **persistent)
    for c in (sub, pub):
        c.reconnect_delay_set(0.05, 0.5)
    sub.on_message = inbox
    try:
        started(sub, broker.port, **kw)
        started(pub, broker.port, **kw)
        subscribe_and_wait(sub, topic, 1)
        first = [pub.publish(topic, b"%d" % i, 1) for i in range(30)]
        run_in(broker, broker.broker.close())  # every connection cut, listener closed
        second = [pub.publish(topic, b"%d" % i, 1) for i in range(30, 60)]
        time.sleep(0.3)
        run_in(broker, broker.broker.start())  # same port, same engine
        for info in first + second:
            assert info.wait_for_publish(WAIT * 2)
        got = {int(m.payload) for m in inbox.wait(60, WAIT * 2)}
        assert got == set(range(60))
    finally:
        stop(pub, sub)
        broker.stop()


def run_in(tb: ThreadBroker, coro) -> None:
    import asyncio

    asyncio.run_coroutine_threadsafe(coro, tb._loop).result(WAIT)


# ------------------------------------------------------------------ MQTT 3.1


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mqtt_3_1_qos_both_ways(broker_port: int, qos: int) -> None:
    """MQTTv31 ("MQIsdp", level 3) clients against mosquitto and our
    broker: the same QoS flows as 3.1.1."""
    test_qos_both_ways_wait_for_publish(broker_port, mqtt.MQTTv31, qos)


def test_mqtt_3_1_publisher_and_5_0_subscriber(broker_port: int) -> None:
    """Mixed versions: a 3.1 publisher (no client id given: one of at most
    23 characters is made up, as paho does) reaches a 5.0 subscriber,
    retained message included; a 3.1 CONNACK has no session present."""
    topic = uid("mix")
    inbox = Inbox()
    sub = mqtt.Client(uid("s5"), protocol=mqtt.MQTTv5)
    sub.on_message = inbox
    pub = mqtt.Client(protocol=mqtt.MQTTv31)
    assert pub.protocol == mqtt.MQTTv31 and 1 <= len(pub._client_id) <= 23
    flags_seen = []
    pub.on_connect = lambda client, ud, flags, rc, props: flags_seen.append(flags.session_present)
    started(sub, broker_port)
    started(pub, broker_port)
    try:
        assert flags_seen == [False]
        assert subscribe_and_wait(sub, topic + "/#", 2) == [libmqtt.ReasonCode.GRANTED_QOS_2]
        for qos in (0, 1, 2):
            assert pub.publish(f"{topic}/{qos}", b"from 3.1", qos).wait_for_publish(WAIT)
        got = inbox.wait(3)
        assert [(m.topic, m.qos, m.payload) for m in got] == [(f"{topic}/{q}", q, b"from 3.1") for q in (0, 1, 2)]
        assert pub.publish(f"{topic}/kept", b"kept", 1, retain=True).wait_for_publish(WAIT)
        late_inbox = Inbox()
        late = mqtt.Client(uid("late"), protocol=mqtt.MQTTv5)
        late.on_message = late_inbox
        started(late, broker_port)
        try:
            subscribe_and_wait(late, f"{topic}/kept", 1)
            (m,) = late_inbox.wait(1)
            assert m.retain and m.payload == b"kept"
            late.publish(f"{topic}/kept", b"", 1, retain=True).wait_for_publish(WAIT)
        finally:
            stop(late)
    finally:
        stop(pub, sub)
