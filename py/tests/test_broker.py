"""The broker engine binding, with real clients of this package connected
to it in memory: a sans-IO network of Python objects moving bytes."""

import pytest

import libmqtt
from libmqtt import Broker, Client, Connected, DisconnectKind, Message, PublishCompleted, ReasonCode, Subscribed


class Net:
    """Clients wired to one broker in memory, in virtual time."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.now = 0.0
        self.clients = {}  # conn -> Client
        self.events = {}  # conn -> list of events

    def attach(self, client: Client) -> int:
        conn = self.broker.connection_opened(self.now)
        self.clients[conn] = client
        self.events[conn] = []
        client.connect(self.now)
        self.run()
        return conn

    def run(self, steps: int = 50) -> None:
        """Moves bytes both ways until nothing moves (bounded)."""
        for _ in range(steps):
            moved = False
            for conn, client in list(self.clients.items()):
                data = client.data_to_send()
                if data:
                    moved = True
                    self.broker.receive_data(conn, data, self.now)
                self.events[conn].extend(client.events())
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
                return
        raise AssertionError("livelock: bytes still moving")

    def take(self, conn: int):
        out, self.events[conn] = self.events[conn], []
        return out


@pytest.mark.parametrize("version", [4, 5])
def test_publish_subscribe_through_the_engine(version):
    net = Net(Broker())
    sub = Client("sub", version=version)
    pub = Client("pub", version=version)
    s = net.attach(sub)
    p = net.attach(pub)
    assert isinstance(net.take(s)[0], Connected) and isinstance(net.take(p)[0], Connected)
    assert net.broker.connection_count == 2
    sid = sub.subscribe("sensors/#", qos=1)
    net.run()
    assert net.take(s) == [Subscribed(sid, (ReasonCode.GRANTED_QOS_1,))]
    for qos in (0, 1, 2):
        pid = pub.publish("sensors/1", f"q{qos}".encode(), qos=qos)
        net.run()
        [msg] = net.take(s)
        assert isinstance(msg, Message)
        # Delivered at the lower of the publish and subscription QoS [MQTT-3.8.4-8].
        assert (msg.topic, msg.payload, msg.qos) == ("sensors/1", f"q{qos}".encode(), min(qos, 1))
        if qos:
            assert net.take(p) == [PublishCompleted(pid)]


def test_retained_message_reaches_a_later_subscriber():
    net = Net(Broker())
    pub = Client("pub")
    p = net.attach(pub)
    pub.publish("status", b"up", qos=1, retain=True)
    net.run()
    sub = Client("sub")
    s = net.attach(sub)
    net.take(s)
    sub.subscribe("status")
    net.run()
    msgs = [e for e in net.take(s) if isinstance(e, Message)]
    assert [(m.topic, m.payload, m.retain) for m in msgs] == [("status", b"up", True)]
    del p


def test_passwords_refuse_a_bad_login():
    broker = Broker(passwords={"alice": "secret"}, allow_anonymous=False)
    net = Net(broker)
    good = net.attach(Client("a", username="alice", password=b"secret"))
    assert isinstance(net.take(good)[0], Connected)
    bad = net.attach(Client("b", username="alice", password=b"wrong"))
    [event] = net.take(bad)
    assert event.kind is DisconnectKind.REFUSED
    assert event.reason_code is ReasonCode.BAD_USER_NAME_OR_PASSWORD
    anon = net.attach(Client("c"))
    [event] = net.take(anon)
    assert event.reason_code is ReasonCode.NOT_AUTHORIZED


def test_acl_denies_a_subscription():
    broker = Broker(acl="topic read public/#\n")
    net = Net(broker)
    c = Client("c")
    conn = net.attach(c)
    net.take(conn)
    ok = c.subscribe("public/x")
    denied = c.subscribe("private/x")
    net.run()
    events = net.take(conn)
    assert Subscribed(ok, (ReasonCode.SUCCESS,)) in events
    assert Subscribed(denied, (ReasonCode.NOT_AUTHORIZED,)) in events


def test_bad_configuration_is_a_value_error():
    with pytest.raises(ValueError):
        Broker(acl="frobnicate everything\n")
    with pytest.raises(ValueError):
        Broker(password_file="no colon here\n")


def test_keep_alive_is_enforced_by_the_engine_clock():
    broker = Broker()
    net = Net(broker)
    c = Client("c", keep_alive=10)
    conn = net.attach(c)
    net.take(conn)
    deadline = broker.next_timeout()
    assert deadline is not None and 10.0 < deadline <= 15.0  # 1.5 x keep alive
    broker.handle_timeout(deadline)
    assert broker.connections_to_close() == [conn]
    assert "Broker" in repr(broker)


from libmqtt import broker as hooks  # noqa: E402


class Auth:
    def __init__(self):
        self.seen = []
        self.closed = []

    def authenticate_connect(self, info):
        self.seen.append(info)
        if info.username == "later":
            return hooks.PENDING
        if info.username == "boom":
            raise RuntimeError("hook failed")
        if info.password == b"ok":
            return hooks.Accept()
        return hooks.Reject(ReasonCode.BANNED)

    def connection_closed(self, conn):
        self.closed.append(conn)


def test_python_authenticator_decides():
    broker = Broker()
    auth = Auth()
    broker.set_authenticator(auth)
    net = Net(broker)
    ok = net.attach(Client("a", username="u", password=b"ok"))
    assert isinstance(net.take(ok)[0], Connected)
    info = auth.seen[0]
    assert (info.client_id, info.username, info.password, info.protocol_version) == ("a", "u", b"ok", 5)
    assert info.connect.client_id == "a"
    banned = net.attach(Client("b", username="u", password=b"no"))
    [event] = net.take(banned)
    assert event.reason_code is ReasonCode.BANNED
    assert banned in auth.closed


def test_pending_authentication_is_completed_later():
    broker = Broker()
    broker.set_authenticator(Auth())
    net = Net(broker)
    conn = net.attach(Client("p", username="later"))
    assert net.take(conn) == []
    broker.complete_authentication(conn, hooks.Accept(), 1.0)
    net.run()
    assert isinstance(net.take(conn)[0], Connected)
    with pytest.raises(ValueError):
        broker.complete_authentication(conn, True, 1.0)  # nothing pending now


def test_an_exception_in_a_hook_refuses_and_is_raised_again():
    broker = Broker()
    broker.set_authenticator(Auth())
    client = Client("x", username="boom")
    conn = broker.connection_opened(0.0)
    client.connect(0.0)
    with pytest.raises(RuntimeError, match="hook failed"):
        broker.receive_data(conn, client.data_to_send(), 0.0)
    [(_, connack)] = broker.outputs()
    client.receive_data(connack, 0.0)
    [event] = client.events()
    assert event.reason_code is ReasonCode.UNSPECIFIED_ERROR


def test_python_authorizer_checks_publish_and_subscribe():
    class Authz:
        def authorize(self, client_id, username, topic, access):
            return not topic.startswith("secret") or access == "read" and client_id == "admin"

    broker = Broker()
    broker.set_authorizer(Authz())
    net = Net(broker)
    c = Client("c")
    conn = net.attach(c)
    net.take(conn)
    denied = c.subscribe("secret/x")
    allowed = c.subscribe("public/x")
    net.run()
    events = net.take(conn)
    assert Subscribed(denied, (ReasonCode.NOT_AUTHORIZED,)) in events
    assert Subscribed(allowed, (ReasonCode.SUCCESS,)) in events
    pid = c.publish("secret/y", b"x", qos=1)
    net.run()
    [done] = net.take(conn)
    assert done.id == pid and done.reason_code is ReasonCode.NOT_AUTHORIZED


def test_python_authorizer_sees_a_shared_subscription_without_its_prefix():
    # Without authorize_subscription, the filter is checked as the core's
    # default does: `$share/{group}/` removed, read access.
    seen = []

    class Authz:
        def authorize(self, client_id, username, topic, access):
            seen.append((topic, access))
            return not topic.startswith("secret")

    broker = Broker()
    broker.set_authorizer(Authz())
    net = Net(broker)
    c = Client("c")
    conn = net.attach(c)
    net.take(conn)
    denied = c.subscribe("$share/g/secret/x")
    net.run()
    assert Subscribed(denied, (ReasonCode.NOT_AUTHORIZED,)) in net.take(conn)
    assert ("secret/x", "read") in seen


@pytest.mark.parametrize("report", [True, False])
def test_a_message_nobody_subscribed_to_gets_no_matching_subscribers(report):
    """5.0: 0x10 No matching subscribers by default, 0x00 with the option off."""
    net = Net(Broker(no_matching_subscribers=report))
    pub = Client("pub")
    p = net.attach(pub)
    net.take(p)
    pid = pub.publish("nobody", b"x", qos=1)
    net.run()
    [done] = net.take(p)
    assert isinstance(done, PublishCompleted) and done.id == pid
    assert done.reason_code == (ReasonCode.NO_MATCHING_SUBSCRIBERS if report else ReasonCode.SUCCESS)
