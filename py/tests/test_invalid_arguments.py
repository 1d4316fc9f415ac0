"""Every invalid argument of the binding raises the library's documented
error types, never a bare ``OverflowError`` (issue 13): an integer out of
its field's range raises :class:`libmqtt.InvalidArgument` (an
``MQTTError`` and a ``ValueError``) naming the field; a QoS or Retain
Handling out of range the codec's exception, as 3 does."""

from __future__ import annotations

import asyncio

import pytest

import libmqtt
from libmqtt import InvalidArgument, MQTTError
from libmqtt.server import ServerConnection

HUGE = 2**70


def connected_client(**options) -> libmqtt.Client:
    client = libmqtt.Client("c", **options)
    client.connect(now=0.0)
    client.data_to_send()
    client.receive_data(b"\x20\x03\x00\x00\x00", now=0.0)
    client.events()
    return client


def check(call, field: str, cls=InvalidArgument) -> None:
    with pytest.raises(cls) as info:
        call()
    err = info.value
    assert isinstance(err, MQTTError) and not isinstance(err, OverflowError)
    assert field in str(err), f"{field!r} not named in {err!r}"
    if cls is InvalidArgument:
        assert isinstance(err, ValueError) and err.field == field


CLIENT_OPTIONS = [
    "keep_alive",
    "session_expiry_interval",
    "receive_maximum",
    "maximum_packet_size",
    "topic_alias_maximum",
    "max_inflight",
    "max_queued",
    "max_transmit_buffer",
]


@pytest.mark.parametrize("value", [-1, HUGE, -HUGE])
@pytest.mark.parametrize("field", CLIENT_OPTIONS)
def test_client_options(field: str, value: int) -> None:
    check(lambda: libmqtt.Client("c", **{field: value}), field)


@pytest.mark.parametrize("field", ["connect_timeout", "ping_timeout"])
def test_client_times(field: str) -> None:
    check(lambda: libmqtt.Client("c", **{field: -1.0}), field)
    check(lambda: libmqtt.Client("c", **{field: float("nan")}), field)


def test_client_enumerations_and_version() -> None:
    check(lambda: libmqtt.Client("c", version=-1), "version")
    check(lambda: libmqtt.Client("c", version=6), "version")
    check(lambda: libmqtt.Client("c", queue_full="never"), "queue_full")
    check(lambda: libmqtt.Client("c", session_lost="maybe"), "session_lost")


@pytest.mark.parametrize("value", [-1, 2**32, HUGE])
@pytest.mark.parametrize("field", ["message_expiry_interval", "topic_alias", "subscription_identifiers"])
def test_publish_properties(field: str, value: int) -> None:
    """As keywords and inside a Properties object: PUBLISH's integers."""
    client = connected_client()
    if field == "message_expiry_interval":
        check(lambda: client.publish("t", b"x", 1, message_expiry_interval=value), field)
    props = libmqtt.Properties(**{field: (value,) if field == "subscription_identifiers" else value})
    check(lambda: client.publish("t", b"x", 1, properties=props), field)
    assert client.data_to_send() == b""  # nothing was sent


@pytest.mark.parametrize("value", [-1, 2**32, HUGE])
def test_subscribe_and_disconnect(value: int) -> None:
    client = connected_client()
    check(lambda: client.subscribe("t", subscription_identifier=value), "subscription_identifier")
    check(lambda: client.disconnect(session_expiry_interval=value), "session_expiry_interval")
    check(lambda: client.disconnect(reason_code=value), "reason_code")
    check(lambda: client.acknowledge(-1), "ack_token")
    check(lambda: client.connection_lost(now=-1.0), "now")
    assert client.state == "connected"


@pytest.mark.parametrize("value", [-1, 3, 256, HUGE])
def test_qos_and_retain_handling_raise_the_codec_errors(value: int) -> None:
    """qos=-1 raises what qos=3 raises (MalformedPacket, kind InvalidQoS),
    naming the value; the same for Retain Handling (ProtocolError)."""
    client = connected_client()
    for call in (
        lambda: client.publish("t", b"x", qos=value),
        lambda: client.subscribe("t", qos=value),
        lambda: client.subscribe(("t", value)),
        lambda: client.subscribe(libmqtt.SubscribeFilter("t", qos=value)),
        lambda: libmqtt.Client("c", will=libmqtt.Will("w", b"x", qos=value)),
        lambda: server_publish(value),
    ):
        with pytest.raises(libmqtt.MalformedPacket) as info:
            call()
        assert info.value.kind == "InvalidQoS"
    if 0 <= value < 256:  # a Publish object holds any byte; encoding checks it
        with pytest.raises(libmqtt.MalformedPacket):
            libmqtt.encode(libmqtt.Publish("t", b"x", qos=value))
    else:
        check(lambda: libmqtt.Publish("t", b"x", qos=value), "qos")
    with pytest.raises(libmqtt.MalformedPacket) as info:
        client.publish("t", b"x", qos=value)
    assert info.value.kind == "InvalidQoS" and str(value) in str(info.value)
    with pytest.raises(libmqtt.ProtocolError) as info:
        client.subscribe("t", retain_handling=value)
    assert info.value.kind == "InvalidRetainHandling"


def server_publish(qos: int) -> None:
    ServerConnection().publish("t", b"x", qos=qos)


def test_packets_and_codec() -> None:
    check(lambda: libmqtt.Publish("t", qos=1, packet_id=-1), "packet_id")
    check(lambda: libmqtt.Publish("t", qos=-1), "qos")
    check(lambda: libmqtt.encode(libmqtt.PubAck(packet_id=-1)), "packet_id")
    check(lambda: libmqtt.encode(libmqtt.Subscribe(packet_id=70000, filters=(libmqtt.SubscribeFilter("a"),))), "packet_id")
    check(lambda: libmqtt.encode(libmqtt.Connect(keep_alive=-5)), "keep_alive")
    check(lambda: libmqtt.encode(libmqtt.Connect(protocol_version=-5)), "protocol_version")
    check(lambda: libmqtt.encode(libmqtt.Disconnect(reason_code=-1)), "reason_code")
    check(
        lambda: libmqtt.encode(libmqtt.Connect(properties=libmqtt.Properties(receive_maximum=-1))), "receive_maximum"
    )
    check(lambda: libmqtt.encode(libmqtt.PingReq(), version=-1), "version")
    check(lambda: libmqtt.decode(b"\xc0\x00", version=HUGE), "version")
    check(lambda: libmqtt.decode(b"\xc0\x00", max_packet_size=-1), "max_packet_size")
    check(lambda: libmqtt.Decoder(max_packet_size=-1), "max_packet_size")
    check(lambda: libmqtt.Decoder().set_max_packet_size(-1), "max_packet_size")
    check(lambda: libmqtt.Decoder().set_version(-1), "version")
    check(lambda: libmqtt.Message(libmqtt.Publish("t"), ack_token=-1), "ack_token")


@pytest.mark.parametrize(
    "field",
    ["receive_maximum", "maximum_packet_size", "topic_alias_maximum", "server_keep_alive", "max_queued", "max_inflight", "max_input_before_accept"],
)
def test_server_connection_options(field: str) -> None:
    check(lambda: ServerConnection(**{field: -1}), field)


def test_server_connection_commands() -> None:
    server = ServerConnection()
    check(lambda: ServerConnection(connect_timeout=-1.0), "connect_timeout")
    check(lambda: server.acknowledge(-1), "packet_id")
    check(lambda: server.suback(-1, [0]), "packet_id")
    check(lambda: server.unsuback(HUGE, [0]), "packet_id")
    check(lambda: server.receive_data(b"", now=-1.0), "now")


@pytest.mark.parametrize(
    "field",
    [
        "max_connections",
        "max_sessions",
        "max_subscriptions_per_client",
        "max_queued_messages",
        "max_retained_messages",
        "max_retained_bytes",
        "max_topic_levels",
    ],
)
def test_broker_options(field: str) -> None:
    check(lambda: libmqtt.Broker(**{field: -1}), field)


def test_broker_connection_ids() -> None:
    broker = libmqtt.Broker()
    check(lambda: broker.receive_data(-1, b"", 0.0), "conn")
    check(lambda: broker.connection_closed(-1, 0.0), "conn")
    check(lambda: broker.complete_authentication(-1, True, 0.0), "conn")


def test_wrong_types_stay_type_errors() -> None:
    """An argument of the wrong type is a TypeError (as in Python), not a
    value error."""
    client = connected_client()
    with pytest.raises(TypeError):
        client.publish("t", b"x", qos="1")
    with pytest.raises(TypeError) as info:
        client.publish("t", b"x", properties=libmqtt.Properties(topic_alias="1"))
    assert "topic_alias" in str(info.value)


def test_asyncio_client_raises_before_sending(our_broker: int) -> None:
    """Through the asyncio driver: message_expiry_interval=-1, topic_alias
    and subscription_identifier=-1 raise InvalidArgument; the client goes on."""
    from libmqtt.asyncio import Client

    async def main() -> None:
        async with Client("127.0.0.1", our_broker, client_id="args") as c:
            check_async = [
                (c.publish("t", b"x", qos=1, message_expiry_interval=-1), "message_expiry_interval"),
                (c.publish("t", b"x", qos=1, properties=libmqtt.Properties(topic_alias=-1)), "topic_alias"),
                (c.subscribe("t", subscription_identifier=-1), "subscription_identifier"),
                (c.subscribe("t", qos=1, retain_handling=-1), "retain_handling"),
            ]
            for coro, field in check_async:
                with pytest.raises(MQTTError) as info:
                    await coro
                assert field in str(info.value)
            assert isinstance(await c.publish("t", b"x", qos=1), libmqtt.PublishCompleted)

    asyncio.run(asyncio.wait_for(main(), 20))
