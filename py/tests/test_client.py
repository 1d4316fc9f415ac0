"""The sans-IO client driven against scripted server bytes, in virtual
time: what it sends, the events it reports, the errors of its commands."""

import pytest

import libmqtt
from libmqtt import (
    Client,
    ConnAck,
    Connect,
    Connected,
    Decoder,
    Disconnect,
    Disconnected,
    DisconnectKind,
    Message,
    PingReq,
    PingResp,
    Pong,
    Properties,
    PubAck,
    PubComp,
    PubRec,
    PubRel,
    Publish,
    PublishCompleted,
    ReasonCode,
    SubAck,
    Subscribe,
    Subscribed,
    UnsubAck,
    Unsubscribe,
    Unsubscribed,
    Will,
    encode,
)


class Server:
    """A scripted server: reads what the client sends, answers with bytes."""

    def __init__(self, client: Client, version: int = 5) -> None:
        self.client = client
        self.version = version
        self.decoder = Decoder(version)

    def received(self):
        """The packets the client has sent since the last call."""
        self.decoder.feed(self.client.data_to_send())
        return list(self.decoder)

    def send(self, packet, now: float) -> None:
        self.client.receive_data(encode(packet, self.version), now)


def connected(version: int = 5, **options):
    client = Client("py-test", version=version, **options)
    server = Server(client, version)
    client.connect(0.0)
    [connect] = server.received()
    assert isinstance(connect, Connect)
    server.send(ConnAck(), 0.010)
    [event] = client.events()
    assert isinstance(event, Connected)
    return client, server


def test_help_is_useful():
    doc = Client.__doc__ or ""
    for word in ("sans-IO", "receive_data", "data_to_send", "next_event", "next_timeout", "handle_timeout", "seconds"):
        assert word in doc, word
    assert "Publishes a message" in (Client.publish.__doc__ or "")
    assert Client.__text_signature__.startswith("(client_id='', *, version=5")
    assert libmqtt.__doc__ and "Client" in libmqtt.__doc__


def test_connect_sends_connect_and_connack_reports_connected():
    client = Client("sensor-7", keep_alive=30, username="u", password=b"p",
                    will=Will("status/7", b"offline", qos=1, retain=True),
                    session_expiry_interval=60, user_properties=[("app", "test")])
    server = Server(client)
    assert client.state == "disconnected"
    client.connect(now=100.0)
    assert client.state == "connecting"
    [connect] = server.received()
    assert connect == Connect(
        "sensor-7", 5, True, 30, Will("status/7", b"offline", 1, True), "u", b"p",
        Properties(session_expiry_interval=60, user_properties=(("app", "test"),)),
    )
    assert client.next_timeout() == pytest.approx(130.0)  # CONNACK timeout (30 s)
    server.send(ConnAck(properties=Properties(server_keep_alive=20)), 100.25)
    event = client.next_event()
    assert isinstance(event, Connected)
    assert event.session_present is False and event.keep_alive == 20
    assert event.client_id == "sensor-7"
    assert event.connack.properties.server_keep_alive == 20
    assert client.next_event() is None
    assert client.state == "connected" and client.keep_alive == 20
    # The next deadline is the PINGREQ: Server Keep Alive after the last
    # packet sent (CONNECT, at 100.0) [MQTT-3.1.2-22].
    assert client.next_timeout() == pytest.approx(120.0)


def test_qos1_publish_is_completed_by_puback():
    client, server = connected()
    pid = client.publish("sensors/7/temp", b"21.5", qos=1, now=1.0)
    assert pid == 1
    [publish] = server.received()
    assert publish == Publish("sensors/7/temp", b"21.5", qos=1, packet_id=1)
    assert client.events() == []
    server.send(PubAck(pid), 1.5)
    assert client.events() == [PublishCompleted(pid, ReasonCode.SUCCESS)]


def test_puback_with_an_error_code_reports_the_refusal():
    client, server = connected()
    pid = client.publish("t", b"x", qos=1)
    server.received()
    server.send(PubAck(pid, ReasonCode.NOT_AUTHORIZED, Properties(reason_string="acl")), 1.0)
    [done] = client.events()
    assert done.reason_code is ReasonCode.NOT_AUTHORIZED
    assert done.properties.reason_string == "acl"


def test_qos2_publish_goes_through_pubrec_pubrel_pubcomp():  # [MQTT-4.3.3]
    client, server = connected()
    pid = client.publish("t", "text payload", qos=2)
    [publish] = server.received()
    assert publish.qos == 2 and publish.payload == b"text payload"
    server.send(PubRec(pid), 1.0)
    assert server.received() == [PubRel(pid)]
    assert client.events() == []
    server.send(PubComp(pid), 1.1)
    assert client.events() == [PublishCompleted(pid)]


def test_qos0_publish_has_a_local_id_and_no_completion():
    client, server = connected()
    pid = client.publish("t", b"x")
    assert pid > 65535
    assert server.received() == [Publish("t", b"x")]
    assert client.events() == []


def test_publish_properties_as_keywords():
    client, server = connected()
    client.publish("req", b"?", qos=1, response_topic="resp/7", correlation_data=b"\x07",
                   message_expiry_interval=30, content_type="text/plain",
                   user_properties=[("a", "1")])
    [p] = server.received()
    assert p.properties == Properties(message_expiry_interval=30, content_type="text/plain",
                                      response_topic="resp/7", correlation_data=b"\x07",
                                      user_properties=(("a", "1"),))


def test_subscribe_and_unsubscribe():
    client, server = connected()
    pid = client.subscribe(["a/+", ("b/#", 2)], qos=1, no_local=True, subscription_identifier=5)
    [sub] = server.received()
    assert isinstance(sub, Subscribe) and sub.packet_id == pid
    assert [(f.filter, f.qos, f.no_local) for f in sub.filters] == [("a/+", 1, True), ("b/#", 2, True)]
    assert sub.properties.subscription_identifier == 5
    server.send(SubAck(pid, (ReasonCode.GRANTED_QOS_1, ReasonCode.GRANTED_QOS_2)), 1.0)
    assert client.events() == [Subscribed(pid, (ReasonCode.GRANTED_QOS_1, ReasonCode.GRANTED_QOS_2))]
    assert [f.filter for f in client.subscriptions()] == ["a/+", "b/#"]
    upid = client.unsubscribe("a/+")
    assert server.received() == [Unsubscribe(upid, ("a/+",))]
    server.send(UnsubAck(upid, (ReasonCode.SUCCESS,)), 2.0)
    assert client.events() == [Unsubscribed(upid, (ReasonCode.SUCCESS,))]


def test_an_inbound_qos1_message_is_delivered_and_acknowledged():  # [MQTT-4.3.2]
    client, server = connected()
    server.send(Publish("a/b", b"hello", qos=1, packet_id=42, properties=Properties(user_properties=(("k", "v"),))), 1.0)
    [msg] = client.events()
    assert isinstance(msg, Message)
    assert (msg.topic, msg.payload, msg.qos, msg.ack_token) == ("a/b", b"hello", 1, None)
    assert msg.properties.user_properties == (("k", "v"),)
    assert server.received() == [PubAck(42)]


def test_manual_acknowledgement():
    client, server = connected(manual_ack=True)
    server.send(Publish("a", b"1", qos=1, packet_id=1), 1.0)
    server.send(Publish("a", b"2", qos=1, packet_id=2), 1.0)
    first, second = client.events()
    assert first.ack_token and second.ack_token
    assert server.received() == []
    client.acknowledge(second.ack_token)
    assert server.received() == []  # acks leave in arrival order [MQTT-4.6.0-2]
    with pytest.raises(libmqtt.UnknownAckToken):
        client.acknowledge(second.ack_token)  # twice
    client.acknowledge(first.ack_token)
    assert server.received() == [PubAck(1), PubAck(2)]


def test_keep_alive_ping_and_timeout():
    client, server = connected(keep_alive=10)
    assert client.next_timeout() == pytest.approx(10.0)  # CONNECT sent at 0.0
    client.handle_timeout(5.0)  # early: nothing
    assert server.received() == []
    client.handle_timeout(client.next_timeout())
    assert server.received() == [PingReq()]
    server.send(PingResp(), 10.5)
    assert client.events() == [Pong()]
    # No PINGRESP this time: the connection ends with 0x8D.
    client.handle_timeout(client.next_timeout())
    assert server.received() == [PingReq()]
    client.handle_timeout(client.next_timeout())
    assert server.received() == [Disconnect(ReasonCode.KEEP_ALIVE_TIMEOUT)]
    [event] = client.events()
    assert event.kind is DisconnectKind.KEEP_ALIVE_TIMEOUT
    assert event.reason_code is ReasonCode.KEEP_ALIVE_TIMEOUT
    assert client.state == "disconnected"


def test_a_malformed_packet_from_the_server_closes_with_0x81():  # [MQTT-4.13.1-1]
    client, server = connected()
    client.receive_data(b"\x36\x03\x00\x01a", 1.0)  # QoS 3
    [event] = client.events()
    assert isinstance(event, Disconnected)
    assert event.kind is DisconnectKind.PROTOCOL_VIOLATION
    assert event.reason_code is ReasonCode.MALFORMED_PACKET
    assert "QoS" in event.message
    assert server.received() == [Disconnect(ReasonCode.MALFORMED_PACKET)]


def test_refused_connection():
    client = Client("c")
    server = Server(client)
    client.connect(0.0)
    server.received()
    server.send(ConnAck(reason_code=ReasonCode.BAD_USER_NAME_OR_PASSWORD), 0.1)
    [event] = client.events()
    assert event.kind is DisconnectKind.REFUSED
    assert event.reason_code is ReasonCode.BAD_USER_NAME_OR_PASSWORD
    assert event.packet == ConnAck(reason_code=ReasonCode.BAD_USER_NAME_OR_PASSWORD)


def test_server_redirect():
    client, server = connected()
    server.send(Disconnect(ReasonCode.USE_ANOTHER_SERVER, Properties(server_reference="b:1883")), 1.0)
    [event] = client.events()
    assert event.kind is DisconnectKind.BY_SERVER
    assert event.redirect == libmqtt.Redirect(False, "b:1883")


def test_session_resumes_after_a_cut_with_dup():  # [MQTT-4.4.0-1]
    client, server = connected(session_expiry_interval=300)
    pid = client.publish("t", b"x", qos=1)
    server.received()
    client.connection_lost(2.0)
    [event] = client.events()
    assert event.kind is DisconnectKind.TRANSPORT_CLOSED
    client.connect(3.0)
    [connect] = server.received()
    assert connect.clean_start is False
    server.send(ConnAck(session_present=True), 3.1)
    assert isinstance(client.next_event(), Connected)
    assert server.received() == [Publish("t", b"x", qos=1, packet_id=pid, dup=True)]
    server.send(PubAck(pid), 3.2)
    assert client.events() == [PublishCompleted(pid)]


def test_local_disconnect():
    client, server = connected()
    client.disconnect(ReasonCode.DISCONNECT_WITH_WILL_MESSAGE, reason_string="bye")
    assert server.received() == [Disconnect(ReasonCode.DISCONNECT_WITH_WILL_MESSAGE, Properties(reason_string="bye"))]
    [event] = client.events()
    assert event.kind is DisconnectKind.LOCAL
    with pytest.raises(libmqtt.NotConnected):
        client.disconnect()


def test_mqtt_3_1_1_client():
    client, server = connected(version=4)
    assert client.version == 4
    pid = client.publish("t", b"x", qos=1)
    assert server.received() == [Publish("t", b"x", qos=1, packet_id=pid)]
    server.send(PubAck(pid), 1.0)
    assert client.events() == [PublishCompleted(pid)]


def test_mqtt_3_1_1_empty_client_id_needs_clean_session():
    """[MQTT-3.1.3-7] (3.1.1) a zero-byte Client Identifier needs Clean
    Session 1: the options are refused (InvalidArgument, a ValueError,
    naming the rule) before anything is sent; 5.0 allows them."""
    with pytest.raises(libmqtt.InvalidArgument) as info:
        Client("", version=4, clean_start=False)
    assert info.value.field == "client_id" and isinstance(info.value, ValueError)
    assert "[MQTT-3.1.3-7]" in str(info.value)
    for version, clean_start in [(4, True), (5, False)]:
        client = Client("", version=version, clean_start=clean_start)
        client.connect(0.0)
        (connect,) = Server(client, version).received()
        assert connect.client_id == "" and connect.clean_start == clean_start


def test_command_errors():
    client = Client("c")
    with pytest.raises(libmqtt.NotConnected):
        client.publish("t", b"x")  # QoS 0 is not queued offline by default
    client.connect(0.0)
    with pytest.raises(libmqtt.InvalidState):
        client.connect(0.0)
    with pytest.raises(libmqtt.TopicNameInvalid) as info:
        client.publish("a/#", b"x", qos=1)
    assert info.value.reason_code == 0x90
    with pytest.raises(libmqtt.TopicFilterInvalid):
        client.subscribe("a/#/b")
    with pytest.raises(libmqtt.MalformedPacket):
        client.publish("t", b"x", qos=3)
    with pytest.raises(libmqtt.UnknownAckToken):
        client.acknowledge(12345)
    with pytest.raises(libmqtt.InvalidState):
        client.authenticate(b"data")  # no authentication method


def test_queue_bound_refuses_new_commands():
    client = Client("c", max_queued=2)
    client.publish("t", b"1", qos=1)
    client.publish("t", b"2", qos=1)
    assert not client.can_queue
    with pytest.raises(libmqtt.QueueFull):
        client.publish("t", b"3", qos=1)


def test_server_limits_refuse_commands():
    client = Client("c")
    server = Server(client)
    client.connect(0.0)
    server.received()
    server.send(ConnAck(properties=Properties(maximum_qos=1, retain_available=False,
                                              wildcard_subscription_available=False)), 0.1)
    client.events()
    with pytest.raises(libmqtt.QoSNotSupported) as info:
        client.publish("t", b"x", qos=2)
    assert info.value.reason_code is ReasonCode.QOS_NOT_SUPPORTED
    with pytest.raises(libmqtt.RetainNotSupported):
        client.publish("t", b"x", retain=True)
    with pytest.raises(libmqtt.FeatureNotSupported) as info:
        client.subscribe("a/+")
    assert info.value.reason_code is ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED


def test_time_is_float_seconds():
    client = Client("c", connect_timeout=2.5)
    with pytest.raises(ValueError):
        client.connect(-1.0)
    with pytest.raises(ValueError):
        client.connect(float("nan"))
    client.connect(1000.0)
    assert client.next_timeout() == 1002.5
    client.handle_timeout(1002.5)
    [event] = client.events()
    assert event.kind is DisconnectKind.CONNECT_TIMEOUT


def test_session_export_and_import():
    client, server = connected(session_expiry_interval=300)
    client.publish("t", b"x", qos=1)
    server.received()
    saved = client.export_session()
    assert isinstance(saved, bytes) and saved
    fresh = Client("py-test", session_expiry_interval=300)
    fresh.import_session(saved, now=10.0)
    fresh_server = Server(fresh)
    fresh.connect(10.0)
    fresh_server.received()
    fresh_server.send(ConnAck(session_present=True), 10.1)
    fresh.events()
    [again] = fresh_server.received()
    assert again == Publish("t", b"x", qos=1, packet_id=1, dup=True)


def test_stats_and_repr():
    client, server = connected()
    client.publish("t", b"x", qos=1)
    stats = client.stats()
    assert stats["inflight"] == 1 and stats["packets_received"] == 1
    assert "py-test" in repr(client)
