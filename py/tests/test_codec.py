"""The codec through the Python API: golden bytes, round trips of every
packet type in both versions, and the streaming Decoder."""

import pytest

import libmqtt
from libmqtt import (
    Auth,
    ConnAck,
    Connect,
    Decoder,
    Disconnect,
    PingReq,
    PingResp,
    Properties,
    PubAck,
    PubComp,
    PubRec,
    PubRel,
    Publish,
    ReasonCode,
    SubAck,
    Subscribe,
    SubscribeFilter,
    UnsubAck,
    Unsubscribe,
    Will,
    decode,
    encode,
)

UP = (("origin", "test"), ("k", "v2"))

# Packets valid in both versions (no properties, no 5.0-only codes).
BOTH_VERSIONS = [
    Publish("a/b", b"xy"),
    Publish("a/b", b"\x00\xff" * 100, qos=1, packet_id=7, retain=True, dup=True),
    Publish("sensors/kitchen", b"", qos=2, packet_id=65535),
    PubAck(1),
    PubRec(2),
    PubRel(3),
    PubComp(65535),
    Subscribe(10, (SubscribeFilter("a/+", qos=1), SubscribeFilter("b/#", qos=2))),
    SubAck(10, (ReasonCode.GRANTED_QOS_1, ReasonCode.UNSPECIFIED_ERROR)),
    Unsubscribe(11, ("a/+", "b/#")),
    PingReq(),
    PingResp(),
    ConnAck(session_present=True),
    ConnAck(reason_code=ReasonCode.NOT_AUTHORIZED),
]

V5_ONLY = [
    Connect(
        "client-1",
        keep_alive=30,
        clean_start=False,
        will=Will("will/t", b"bye", qos=1, retain=True, properties=Properties(will_delay_interval=5, content_type="text/plain")),
        username="user",
        password=b"secret",
        properties=Properties(session_expiry_interval=3600, receive_maximum=10, user_properties=UP),
    ),
    ConnAck(
        properties=Properties(
            assigned_client_identifier="auto-1",
            server_keep_alive=20,
            maximum_qos=1,
            retain_available=False,
            topic_alias_maximum=5,
            reason_string="welcome",
        )
    ),
    Publish(
        "req/1",
        b"payload",
        qos=1,
        packet_id=9,
        properties=Properties(
            payload_format_indicator=True,
            message_expiry_interval=60,
            response_topic="resp/1",
            correlation_data=b"\x01\x02",
            content_type="text/plain",
            user_properties=UP,
        ),
    ),
    Publish("", b"x", properties=Properties(topic_alias=3)),
    Publish("t", b"x", properties=Properties(subscription_identifiers=(1, 268435455))),
    PubAck(5, ReasonCode.NO_MATCHING_SUBSCRIBERS, Properties(reason_string="nobody")),
    PubRec(6, ReasonCode.QUOTA_EXCEEDED),
    PubRel(7, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND),
    PubComp(8, properties=Properties(user_properties=UP)),
    Subscribe(
        12,
        (SubscribeFilter("a/#", qos=2, no_local=True, retain_as_published=True, retain_handling=2),),
        Properties(subscription_identifier=42),
    ),
    UnsubAck(13, (ReasonCode.SUCCESS, ReasonCode.NO_SUBSCRIPTION_EXISTED)),
    Disconnect(),
    Disconnect(ReasonCode.SERVER_MOVED, Properties(server_reference="other:1883", reason_string="moving")),
    Auth(ReasonCode.CONTINUE_AUTHENTICATION, Properties(authentication_method="SCRAM", authentication_data=b"\x00\x01")),
]


@pytest.mark.parametrize("packet", BOTH_VERSIONS + V5_ONLY, ids=repr)
def test_every_packet_round_trips_in_5_0(packet):
    wire = encode(packet)
    assert isinstance(wire, bytes)
    assert decode(wire) == packet


@pytest.mark.parametrize("packet", BOTH_VERSIONS, ids=repr)
def test_every_packet_round_trips_in_3_1_1(packet):
    assert decode(encode(packet, 4), 4) == packet


def test_connect_round_trips_in_3_1_1_by_its_own_level():
    packet = Connect("c", protocol_version=4, keep_alive=10, will=Will("w", b"x"), username="u", password=b"p")
    wire = encode(packet, 4)
    assert wire[:9] == b"\x10" + bytes([len(wire) - 2]) + b"\x00\x04MQTT\x04"  # [MQTT-3.1.2-1] [MQTT-3.1.2-2]
    # A CONNECT is read by the level it names, whatever version is given.
    assert decode(wire, 5) == packet


def test_connect_in_3_1_names_mqisdp_level_3():
    # MQTT 3.1: protocol name "MQIsdp", level 3; read by its own name and
    # level whatever version is given.
    packet = Connect("c", protocol_version=3, keep_alive=60, will=Will("w", b"x"), username="u", password=b"p")
    wire = encode(packet, 3)
    assert wire[:11] == b"\x10" + bytes([len(wire) - 2]) + b"\x00\x06MQIsdp\x03"
    assert decode(wire, 5) == packet
    # A 3.1 CONNACK has no Session Present; a 3.1 SUBACK no failure code.
    assert decode(b"\x20\x02\x01\x00", 3) == ConnAck()
    with pytest.raises(libmqtt.MQTTError):
        decode(b"\x90\x03\x00\x01\x80", 3)
    with pytest.raises(libmqtt.MQTTError):
        encode(ConnAck(session_present=True), 3)


def test_golden_bytes():
    assert encode(PingReq()) == b"\xc0\x00"
    assert encode(PingResp(), 4) == b"\xd0\x00"
    assert decode(b"\x20\x02\x00\x00", 4) == ConnAck()
    assert decode(b"\x20\x03\x01\x00\x00") == ConnAck(session_present=True)
    # 3.1.1 QoS 1 PUBLISH "a/b", id 3, payload "xy".
    assert encode(Publish("a/b", b"xy", qos=1, packet_id=3), 4) == b"\x32\x09\x00\x03a/b\x00\x03xy"
    # 5.0 adds an empty property block.
    assert encode(Publish("a/b", b"xy", qos=1, packet_id=3)) == b"\x32\x0a\x00\x03a/b\x00\x03\x00xy"
    # A 5.0 PUBACK with reason Success and no properties is four bytes.
    assert encode(PubAck(3)) == b"\x40\x02\x00\x03"
    # DISCONNECT, normal, no properties: two bytes.
    assert encode(Disconnect()) == b"\xe0\x00"


def test_decoded_types_are_plain_python():
    packet = decode(encode(Publish("t", b"abc", properties=Properties(user_properties=UP))))
    assert type(packet.payload) is bytes
    assert type(packet.topic) is str
    assert packet.properties.user_properties == UP
    assert isinstance(packet.properties.user_properties[0], tuple)
    ack = decode(b"\x40\x03\x00\x01\x10")
    assert ack.reason_code is ReasonCode.NO_MATCHING_SUBSCRIBERS
    assert decode(b"\x40\x02\x00\x01").properties is libmqtt.NO_PROPERTIES


def test_packets_are_immutable_and_comparable():
    p = Publish("t", b"x")
    with pytest.raises(Exception):
        p.topic = "u"  # type: ignore[misc]
    assert p == Publish("t", b"x") and p != Publish("t", b"y")
    assert not Properties() and Properties(reason_string="r")


def test_payload_may_be_bytearray_memoryview_or_str():
    base = encode(Publish("t", b"hi"))
    assert encode(Publish("t", bytearray(b"hi"))) == base  # type: ignore[arg-type]
    assert encode(Publish("t", memoryview(b"hi"))) == base  # type: ignore[arg-type]
    assert encode(Publish("t", "hi")) == base  # type: ignore[arg-type]


def test_decoder_accepts_one_byte_at_a_time():
    packets = [Publish("a", b"1", qos=1, packet_id=1), PubAck(1), PingResp(), Disconnect(ReasonCode.SERVER_BUSY)]
    stream = b"".join(encode(p) for p in packets)
    decoder = Decoder()
    out = []
    for i in range(len(stream)):
        decoder.feed(stream[i : i + 1])
        out.extend(decoder)
    assert out == packets
    assert decoder.buffered == 0
    assert decoder.next_packet() is None


def test_decoder_yields_every_buffered_packet_and_keeps_a_partial_one():
    decoder = Decoder(4)
    decoder.feed(encode(PingReq(), 4) * 3 + b"\x30")
    assert list(decoder) == [PingReq()] * 3
    assert decoder.buffered == 1
    decoder.feed(b"\x03\x00\x01t")
    assert decoder.next_packet() == Publish("t")


def test_decoder_version_can_change_after_connect():
    decoder = Decoder(4)
    decoder.set_version(5)
    decoder.feed(b"\x40\x03\x00\x01\x10")
    assert decoder.next_packet() == PubAck(1, ReasonCode.NO_MATCHING_SUBSCRIBERS)


def test_decoder_rejects_an_oversized_packet_from_its_header():
    decoder = Decoder(max_packet_size=100)
    decoder.feed(b"\x30\xff\xff\x03")  # claims 65,535 bytes; none of the body sent
    with pytest.raises(libmqtt.PacketTooLarge) as info:
        decoder.next_packet()
    assert info.value.reason_code == ReasonCode.PACKET_TOO_LARGE == 0x95


def test_reason_codes_are_the_specifications():
    assert len({int(c) for c in ReasonCode}) == 43
    assert ReasonCode.MALFORMED_PACKET == 0x81
    assert ReasonCode.NORMAL_DISCONNECTION is ReasonCode.SUCCESS is ReasonCode.GRANTED_QOS_0
    assert ReasonCode(0x9C) is ReasonCode.USE_ANOTHER_SERVER
    assert ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED == 0xA2
    assert ReasonCode.PACKET_TOO_LARGE.description == "Packet too large"
    assert ReasonCode.BANNED.is_error and not ReasonCode.GRANTED_QOS_2.is_error


def test_publish_and_message_behave_like_the_other_immutable_classes():
    import pickle

    p = Publish("a/b", b"x", qos=1, packet_id=2, properties=Properties(content_type="t"))
    with pytest.raises(AttributeError):
        p.topic = "c"  # type: ignore[misc]
    assert p == Publish("a/b", b"x", 1, False, False, 2, Properties(content_type="t"))
    assert p != Publish("a/b", b"x", qos=1, packet_id=3)
    assert hash(Publish("t", b"x")) == hash(Publish("t", b"x"))
    assert pickle.loads(pickle.dumps(p)) == p
    assert repr(Publish("t", b"x", retain=True)) == "Publish(topic='t', payload=b'x', qos=0, retain=True)"
    assert Publish("t").payload == b"" and Publish("t").properties is libmqtt.NO_PROPERTIES
    match p:
        case Publish("a/b", payload, qos=1):
            assert payload == b"x"
        case _:
            pytest.fail("no match")
    m = libmqtt.Message(p, 5)
    assert (m.topic, m.payload, m.qos, m.retain, m.properties, m.ack_token) == ("a/b", b"x", 1, False, p.properties, 5)
    assert m == libmqtt.Message(p, 5) and m != libmqtt.Message(p)
    assert pickle.loads(pickle.dumps(m)) == m
    match m:
        case libmqtt.Message(Publish(topic="a/b")):
            pass
        case _:
            pytest.fail("no match")


def test_input_may_be_any_bytes_like_buffer():
    wire = encode(PingResp())
    decoder = Decoder()
    decoder.feed(bytearray(wire))
    decoder.feed(memoryview(wire))
    assert list(decoder) == [PingResp(), PingResp()]
    with pytest.raises(TypeError):
        decoder.feed("text")  # type: ignore[arg-type]
