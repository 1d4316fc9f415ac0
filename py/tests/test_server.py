"""The server role binding: a Client and a ServerConnection of this
package wired back to back in memory."""

import pytest

import libmqtt
from libmqtt import Client, Connected, Message, Publish, PublishCompleted, ReasonCode, Subscribed
from libmqtt.server import (
    CloseKind,
    ConnectRequested,
    Disconnected,
    MessageReceived,
    Ping,
    ServerConnection,
    ServerSession,
    SubscribeRequested,
    WillPublish,
)


class Pair:
    def __init__(self, client: Client, server: ServerConnection) -> None:
        self.client, self.server = client, server
        self.now = 0.0
        self.client_events = []
        self.server_events = []

    def run(self) -> None:
        for _ in range(50):
            a = self.client.data_to_send()
            if a:
                self.server.receive_data(a, self.now)
            b = self.server.data_to_send()
            if b:
                self.client.receive_data(b, self.now)
            self.client_events += self.client.events()
            self.server_events += self.server.events()
            if not a and not b:
                return
        raise AssertionError("livelock")

    def take(self):
        c, s = self.client_events, self.server_events
        self.client_events, self.server_events = [], []
        return c, s


def connected_pair(version=5, **client_options):
    pair = Pair(Client("c1", version=version, **client_options), ServerConnection())
    pair.client.connect(0.0)
    pair.run()
    _, [req] = pair.take()
    assert isinstance(req, ConnectRequested)
    assert req.connect.client_id == "c1" and req.connect.protocol_version == version
    pair.server.accept()
    pair.run()
    [ev], _ = pair.take()
    assert isinstance(ev, Connected)
    assert pair.server.state == "connected"
    return pair


@pytest.mark.parametrize("version", [4, 5])
def test_connect_subscribe_publish_both_ways(version):
    pair = connected_pair(version)
    sid = pair.client.subscribe("a/#", qos=1)
    pair.run()
    _, [req] = pair.take()
    assert isinstance(req, SubscribeRequested) and req.subscribe.packet_id == sid
    pair.server.suback(sid, [ReasonCode.GRANTED_QOS_1])
    pair.run()
    assert pair.take()[0] == [Subscribed(sid, (ReasonCode.GRANTED_QOS_1,))]
    pid = pair.server.publish("a/b", b"down", qos=1)
    pair.run()
    client_events, server_events = pair.take()
    [msg] = client_events
    assert isinstance(msg, Message) and msg.payload == b"down"
    assert server_events == [libmqtt.server.PublishCompleted(pid)]
    up = pair.client.publish("x/y", b"up", qos=2)
    pair.run()
    client_events, server_events = pair.take()
    assert server_events == [MessageReceived(Publish("x/y", b"up", qos=2, packet_id=up))]
    assert client_events == [PublishCompleted(up)]


def test_reject_and_will():
    pair = Pair(Client("c1", username="u", password=b"bad"), ServerConnection())
    pair.client.connect(0.0)
    pair.run()
    pair.take()
    pair.server.reject(ReasonCode.BAD_USER_NAME_OR_PASSWORD)
    pair.run()
    [ev], [closed] = pair.take()
    assert ev.reason_code is ReasonCode.BAD_USER_NAME_OR_PASSWORD
    assert isinstance(closed, Disconnected) and closed.kind is CloseKind.REJECTED

    pair = connected_pair(will=libmqtt.Will("gone", b"c1 lost"))
    pair.server.connection_lost(1.0)
    _, events = pair.take()
    pair.server_events = []
    events += pair.server.events()
    assert WillPublish(libmqtt.Will("gone", b"c1 lost")) in events
    [closed] = [e for e in events if isinstance(e, Disconnected)]
    assert closed.kind is CloseKind.TRANSPORT_CLOSED and closed.publishes_will


def test_ping_and_keep_alive():
    pair = connected_pair(keep_alive=10)
    pair.now = 10.0
    pair.client.handle_timeout(10.0)
    pair.run()
    assert pair.take()[1] == [Ping()]
    deadline = pair.server.next_timeout()
    assert deadline == pytest.approx(25.0)  # 1.5 x keep alive after the PINGREQ
    pair.server.handle_timeout(deadline)
    [closed] = pair.server.events()
    assert closed.kind is CloseKind.KEEP_ALIVE_TIMEOUT
    assert closed.reason_code is ReasonCode.KEEP_ALIVE_TIMEOUT


def test_session_is_handed_to_the_next_connection():
    pair = connected_pair(session_expiry_interval=60)
    pair.server.publish("t", b"1", qos=1)
    pair.server.data_to_send()  # sent, never acknowledged: the link is cut
    pair.server.connection_lost(1.0)
    pair.client.connection_lost(1.0)
    session = pair.server.take_session()
    assert isinstance(session, ServerSession) and not session.is_empty
    server2 = ServerConnection()
    pair2 = Pair(pair.client, server2)
    pair.client.connect(2.0)
    pair2.run()
    server2.accept(session=session)
    pair2.run()
    client_events, _ = pair2.take()
    msgs = [e for e in client_events if isinstance(e, Message)]
    assert [(m.topic, m.payload) for m in msgs] == [("t", b"1")]
    with pytest.raises(ValueError):
        server2.accept(session=session)  # consumed


def test_server_command_errors():
    server = ServerConnection()
    with pytest.raises(libmqtt.ServerError) as info:
        server.accept()
    assert info.value.kind == "InvalidState"
    pair = connected_pair()
    with pytest.raises(libmqtt.ServerError) as info:
        pair.server.suback(99, [0])
    with pytest.raises(libmqtt.TopicNameInvalid):
        pair.server.publish("a/+", b"x")
