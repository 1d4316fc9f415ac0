"""Every exception path of the codec bindings: the class, the reason code
and the core's error kind."""

import pytest

import libmqtt
from libmqtt import (
    MQTTError,
    PubAck,
    Properties,
    Publish,
    ReasonCode,
    Subscribe,
    SubscribeFilter,
    decode,
    encode,
)

MALFORMED = [
    # (bytes, version, kind, rule)
    (b"\x36\x03\x00\x01a", 5, "InvalidQoS", "[MQTT-3.3.1-4] QoS 3"),
    (b"\x38\x03\x00\x01a", 4, "DupWithQoS0", "[MQTT-3.3.1-2] DUP on QoS 0"),
    (b"\x30\xff\xff\xff\xff\x01", 5, "MalformedRemainingLength", "[MQTT-1.5.5-1] five-byte length"),
    (b"\x00\x00", 5, "InvalidPacketType", "reserved type 0"),
    (b"\x60\x02\x00\x01", 4, "ReservedFlags", "[MQTT-2.1.3-1] PUBREL without its flags"),
    (b"\x30\x04\x00\x02\xc3\x28", 4, "InvalidUtf8", "[MQTT-1.5.4-1] ill-formed UTF-8 topic"),
    (b"\x30\x04\x00\x02a\x00", 4, "NullCharacter", "[MQTT-1.5.4-2] U+0000 in topic"),
    (b"\xc0\x01\x00", 4, "TrailingBytes", "PINGREQ with a body"),
    (b"\x40\x01\x00", 4, "Truncated", "PUBACK cut short"),
    (b"\x30\x06\x00\x01t\x02\x7f\x00", 5, "UnknownProperty", "undefined property 0x7F"),
    (b"\x40\x08\x00\x01\x00\x04\x03\x00\x01x", 5, "PropertyNotAllowed", "spec 2.2.2.2 Content Type in PUBACK"),
    (b"\x30\x09\x00\x01t\x05\x11\x00\x00\x00\x01", 5, "PropertyNotAllowed", "spec 2.2.2.2 Session Expiry in PUBLISH"),
]


@pytest.mark.parametrize("data,version,kind,rule", MALFORMED, ids=lambda x: x if isinstance(x, str) else None)
def test_malformed_input_raises_malformed_packet_0x81(data, version, kind, rule):
    with pytest.raises(libmqtt.MalformedPacket) as info:
        decode(data, version)
    err = info.value
    assert err.reason_code == ReasonCode.MALFORMED_PACKET == 0x81, rule
    assert err.kind == kind, rule
    assert isinstance(err, MQTTError) and str(err)


def test_valid_neighbours_of_malformed_cases_decode():
    assert decode(b"\x62\x02\x00\x01", 4) == libmqtt.PubRel(1)
    assert decode(b"\x30\x05\x00\x01a\xc0\x80", 4).payload == b"\xc0\x80"


def test_incomplete_and_trailing_input():
    with pytest.raises(libmqtt.MalformedPacket) as info:
        decode(b"\x32\x09\x00\x03a/b")
    assert info.value.kind == "Incomplete"
    with pytest.raises(libmqtt.MalformedPacket) as info:
        decode(b"\xc0\x00\xc0\x00")
    assert info.value.kind == "TrailingBytes"


PROTOCOL_ERRORS = [
    (b"\x30\x08\x00\x01t\x04\x01\x00\x01\x00", "DuplicateProperty", "Payload Format Indicator twice"),
    (b"\x82\x03\x00\x01\x00", "EmptySubscribe", "[MQTT-3.8.3-2] SUBSCRIBE without a filter"),
    (b"\x30\x03\x00\x00\x00", "EmptyTopicWithoutAlias", "[MQTT-3.3.2-1] empty topic, no alias"),
    (b"\x32\x05\x00\x01t\x00\x00", "InvalidPacketIdentifier", "[MQTT-2.2.1-3] packet id 0 on QoS 1"),
    (b"\x82\x07\x00\x01\x00\x00\x01a\x03", "InvalidSubscriptionQoS", "Maximum QoS 3 in 5.0 options"),
]


@pytest.mark.parametrize("data,kind,rule", PROTOCOL_ERRORS, ids=lambda x: x if isinstance(x, str) else None)
def test_protocol_errors_raise_protocol_error_0x82(data, kind, rule):
    with pytest.raises(libmqtt.ProtocolError) as info:
        decode(data)
    assert info.value.reason_code == ReasonCode.PROTOCOL_ERROR == 0x82, rule
    assert info.value.kind == kind, rule


def test_other_reason_codes():
    cases = [
        # CONNECT naming protocol level 3 [MQTT-3.1.2-2]
        (b"\x10\x0c\x00\x04MQTT\x03\x02\x00\x3c\x00\x00", libmqtt.UnsupportedProtocolVersion, 0x84),
        # PUBLISH to a topic with a wildcard [MQTT-3.3.2-2]
        (b"\x30\x06\x00\x03a/#\x00", libmqtt.TopicNameInvalid, 0x90),
        # Topic Alias 0
        (b"\x30\x07\x00\x01t\x03\x23\x00\x00", libmqtt.TopicAliasInvalid, 0x94),
        # Payload Format Indicator 1 with a payload that is not UTF-8
        (b"\x30\x07\x00\x01t\x02\x01\x01\xff", libmqtt.PayloadFormatInvalid, 0x99),
        # SUBSCRIBE to an invalid filter [MQTT-4.7.1-1]
        (b"\x82\x0a\x00\x01\x00\x00\x04a/#b\x00", libmqtt.TopicFilterInvalid, 0x8F),
    ]
    for data, cls, code in cases:
        with pytest.raises(cls) as info:
            decode(data)
        assert info.value.reason_code == code, cls


def test_packet_too_large_0x95():
    wire = encode(Publish("t", b"x" * 100))
    with pytest.raises(libmqtt.PacketTooLarge) as info:
        decode(wire, max_packet_size=50)
    assert info.value.reason_code == 0x95
    assert decode(wire, max_packet_size=len(wire)).payload == b"x" * 100


def test_encoding_checks_the_same_rules():
    with pytest.raises(libmqtt.TopicNameInvalid):
        encode(Publish("a/+"))
    with pytest.raises(libmqtt.TopicFilterInvalid):
        encode(Subscribe(1, (SubscribeFilter("a/#/b"),)))
    with pytest.raises(libmqtt.ProtocolError) as info:
        encode(Subscribe(1, ()))
    assert info.value.kind == "EmptySubscribe"
    # Spec 2.2.2.2: a property not valid for the packet type is malformed.
    with pytest.raises(libmqtt.MalformedPacket) as info:
        encode(PubAck(1, properties=Properties(content_type="text/plain")))
    assert info.value.reason_code == 0x81
    assert info.value.kind == "PropertyNotAllowed"
    with pytest.raises(libmqtt.ProtocolError) as info:
        encode(PubAck(1, properties=Properties(reason_string="r")), 4)
    assert info.value.kind == "PropertiesInV311"
    with pytest.raises(libmqtt.MalformedPacket) as info:
        encode(Publish("t", qos=3, packet_id=1))
    assert info.value.kind == "InvalidQoS"
    with pytest.raises(libmqtt.MalformedPacket) as info:
        encode(Publish("a\x00b"))
    assert info.value.kind == "NullCharacter"
    with pytest.raises(libmqtt.ProtocolError) as info:
        encode(Publish("t", qos=1, packet_id=0))
    assert info.value.kind == "InvalidPacketIdentifier"
    with pytest.raises(libmqtt.MalformedPacket) as info:
        encode(PubAck(1, reason_code=0x7F))
    with pytest.raises(libmqtt.MalformedPacket):
        encode(PubAck(1, reason_code=ReasonCode.BANNED))  # not allowed in PUBACK


def test_arguments_that_are_not_mqtt():
    with pytest.raises(TypeError):
        encode("not a packet")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        decode(b"\xc0\x00", 6)
    with pytest.raises(TypeError):
        encode(Publish(17))  # type: ignore[arg-type]


def test_hierarchy():
    codec = [
        libmqtt.MalformedPacket,
        libmqtt.ProtocolError,
        libmqtt.UnsupportedProtocolVersion,
        libmqtt.TopicFilterInvalid,
        libmqtt.TopicNameInvalid,
        libmqtt.TopicAliasInvalid,
        libmqtt.PacketTooLarge,
        libmqtt.PayloadFormatInvalid,
        libmqtt.ClientError,
    ]
    for cls in codec:
        assert issubclass(cls, MQTTError) and issubclass(cls, Exception)
    for cls in [
        libmqtt.QueueFull,
        libmqtt.NotConnected,
        libmqtt.NoPacketIdentifier,
        libmqtt.QoSNotSupported,
        libmqtt.RetainNotSupported,
        libmqtt.FeatureNotSupported,
        libmqtt.InvalidState,
        libmqtt.UnknownAckToken,
    ]:
        assert issubclass(cls, libmqtt.ClientError)
    assert libmqtt.MalformedPacket().reason_code == 0x81
    assert libmqtt.QueueFull().reason_code is None
