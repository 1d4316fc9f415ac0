"""The PUBLISH fast paths of ``encode`` and ``decode``: the topic cached on
the object, the size computed without a sizing pass when there are no
properties, and properties on a PUBLISH decoded in place."""

import pytest

import libmqtt
from libmqtt import Properties, Publish, decode, encode


# Payload sizes putting the Remaining Length on each side of the 1/2 and
# 2/3 byte boundaries of its variable byte integer (spec 2.1.4).
@pytest.mark.parametrize("size", [0, 1, 117, 118, 119, 120, 121, 122, 255, 16_370, 16_374, 16_375, 16_376, 16_377, 70_000])
@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("version", [4, 5])
def test_publish_encodes_to_its_exact_size_around_the_length_boundaries(size, qos, version):
    payload = bytes(i % 251 for i in range(size))
    packet = Publish("a/b", payload, qos=qos, packet_id=9 if qos else 0)
    wire = encode(packet, version)
    # Remaining length: topic (2 + 3), packet id (QoS 1), property length in 5.0.
    remaining = 5 + (2 if qos else 0) + (1 if version == 5 else 0) + size
    assert wire[0] == 0x30 | (qos << 1)
    assert wire.endswith(payload)
    assert len(wire) == remaining + 1 + (1 if remaining < 128 else 2 if remaining < 16384 else 3)
    assert decode(wire, version) == packet


def test_encoding_the_same_publish_again_gives_the_same_bytes_in_both_versions():
    packet = Publish("sensors/é/7", b"x", qos=0)
    first = encode(packet)
    assert encode(packet) == first
    assert encode(packet, 4) == encode(packet, 4) != first
    decoded = decode(first)
    assert encode(decoded) == first


def test_an_invalid_topic_fails_every_time_it_is_encoded():
    packet = Publish("a/+", b"")
    for _ in range(2):
        with pytest.raises(libmqtt.TopicNameInvalid):  # [MQTT-3.3.2-2]
            encode(packet)
    packet = Publish("a\x00b", b"")
    for _ in range(2):
        with pytest.raises(libmqtt.MQTTError):  # [MQTT-1.5.4-2]
            encode(packet)


def test_a_publish_with_properties_decodes_them_and_its_payload():
    props = Properties(message_expiry_interval=30, content_type="text/plain", user_properties=(("k", "v"),))
    packet = Publish("t", b"payload", qos=2, packet_id=3, properties=props)
    back = decode(encode(packet))
    assert back == packet
    assert back.properties.content_type == "text/plain"
    assert back.payload == b"payload"
    with pytest.raises(libmqtt.ProtocolError):
        encode(packet, 4)  # no properties in 3.1.1


def test_a_publish_without_properties_shares_the_empty_properties():
    assert decode(encode(Publish("t", b"p"))).properties is libmqtt.NO_PROPERTIES
