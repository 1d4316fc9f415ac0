"""paho-mqtt 2.x against a broker on 127.0.0.1: one scenario per run.

Usage: paho_interop.py SCENARIO --port PORT --version 31|311|5 [--tag TAG]

Scenarios: qos, retained, will, session, shared, user-property (5 only).
Exits 0 when the scenario passed; otherwise prints what went wrong and
exits 1. Every wait is bounded (WAIT seconds). Run by
tests/tests/interop_broker.rs with the .venv that `make setup` creates.
"""

import argparse
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

WAIT = 10.0
HOST = "127.0.0.1"


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Peer:
    """One paho client with its network loop in a thread; messages and
    acknowledgements land in queues."""

    def __init__(self, args, client_id="", clean=True, expiry=None, will=None):
        self.v5 = args.version == "5"
        protocol = {"31": mqtt.MQTTv31, "311": mqtt.MQTTv311, "5": mqtt.MQTTv5}[args.version]
        # paho makes up a client id for 3.1 (which needs 1 to 23
        # characters) when given none.
        kwargs = {"client_id": client_id, "protocol": protocol}
        if not self.v5:
            kwargs["clean_session"] = clean
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
        self.port = args.port
        self.clean = clean
        self.expiry = expiry
        self.messages = queue.Queue()
        self.subacks = queue.Queue()
        self.connacks = queue.Queue()
        self.client.on_connect = lambda c, u, flags, rc, props: self.connacks.put((flags, rc))
        self.client.on_subscribe = lambda c, u, mid, rcs, props: self.subacks.put((mid, rcs))
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)
        if will is not None:
            topic, payload, qos = will
            self.client.will_set(topic, payload, qos=qos)

    def connect(self):
        """Connects; returns the CONNACK flags (session_present)."""
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.expiry or 0
            self.client.connect(HOST, self.port, keepalive=30, clean_start=self.clean, properties=props)
        else:
            self.client.connect(HOST, self.port, keepalive=30)
        self.client.loop_start()
        try:
            flags, rc = self.connacks.get(timeout=WAIT)
        except queue.Empty:
            raise Failure("no CONNACK within %ss" % WAIT)
        check(not rc.is_failure, "CONNACK refused: %s" % rc)
        return flags

    def subscribe(self, topic, qos):
        result, mid = self.client.subscribe(topic, qos)
        check(result == mqtt.MQTT_ERR_SUCCESS, "subscribe not sent: %s" % result)
        try:
            got_mid, rcs = self.subacks.get(timeout=WAIT)
        except queue.Empty:
            raise Failure("no SUBACK for %s within %ss" % (topic, WAIT))
        check(got_mid == mid, "SUBACK for %s, expected %s" % (got_mid, mid))
        check(not rcs[0].is_failure, "subscription to %s refused: %s" % (topic, rcs[0]))
        check(rcs[0].value == qos, "granted QoS %s, asked %s" % (rcs[0].value, qos))

    def publish(self, topic, payload, qos, retain=False, properties=None):
        """Publishes and waits until the QoS flow completed."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout=WAIT)
        check(info.is_published(), "publish to %s (QoS %s) not completed within %ss" % (topic, qos, WAIT))

    def receive(self, what):
        try:
            return self.messages.get(timeout=WAIT)
        except queue.Empty:
            raise Failure("no message within %ss: expected %s" % (WAIT, what))

    def close(self):
        """A normal DISCONNECT."""
        self.client.disconnect()
        self.client.loop_stop()


def scenario_qos(args):
    base = "paho/%s/qos" % args.tag
    sub = Peer(args)
    sub.connect()
    sub.subscribe(base + "/#", 2)
    pub = Peer(args)
    pub.connect()
    for qos in (0, 1, 2):
        payload = ("qos %d" % qos).encode()
        pub.publish("%s/%d" % (base, qos), payload, qos)
        msg = sub.receive(payload)
        check(msg.payload == payload, "payload %r, expected %r" % (msg.payload, payload))
        check(msg.topic == "%s/%d" % (base, qos), "topic %s" % msg.topic)
        # Granted QoS 2, so delivered at the QoS it was published with.
        check(msg.qos == qos, "delivered at QoS %d, published at %d" % (msg.qos, qos))
    pub.close()
    sub.close()


def scenario_retained(args):
    base = "paho/%s/retained" % args.tag
    pub = Peer(args)
    pub.connect()
    pub.publish(base + "/a", b"kept", 1, retain=True)
    # Stored [MQTT-3.3.1-5] and sent to a later subscriber (3.1.1:
    # [MQTT-3.3.1-6]; 5.0: [MQTT-3.3.1-9]) with RETAIN 1 (3.1.1: [MQTT-3.3.1-8]).
    late = Peer(args)
    late.connect()
    late.subscribe(base + "/#", 1)
    msg = late.receive("the retained message")
    check(msg.payload == b"kept" and msg.retain, "got %r retain=%s" % (msg.payload, msg.retain))
    # A live delivery has RETAIN 0 (3.1.1: [MQTT-3.3.1-9]; 5.0: [MQTT-3.3.1-12]).
    pub.publish(base + "/b", b"live", 1, retain=False)
    msg = late.receive("the live message")
    check(msg.payload == b"live" and not msg.retain, "live %r retain=%s" % (msg.payload, msg.retain))
    late.close()
    # An empty retained payload clears it (3.1.1: [MQTT-3.3.1-10]; 5.0: [MQTT-3.3.1-6]).
    pub.publish(base + "/a", b"", 1, retain=True)
    pub.publish(base + "/z", b"sentinel", 1, retain=True)
    later = Peer(args)
    later.connect()
    later.subscribe(base + "/#", 1)
    msg = later.receive("the sentinel")
    check(msg.topic == base + "/z", "after clearing, got %s %r first" % (msg.topic, msg.payload))
    pub.publish(base + "/z", b"", 1, retain=True)
    later.close()
    pub.close()


def scenario_will(args):
    topic = "paho/%s/will" % args.tag
    sub = Peer(args)
    sub.connect()
    sub.subscribe(topic, 1)
    # The will client runs in a child process killed with SIGKILL: the
    # broker sees the connection end without DISCONNECT.
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "will-client", "--port", str(args.port),
         "--version", args.version, "--tag", args.tag],
        stdout=subprocess.PIPE, text=True)
    try:
        line = read_line(child, WAIT)
        check(line.strip() == "connected", "will client said %r" % line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # [MQTT-3.1.2-8]: the will is published when the connection is lost.
    msg = sub.receive("the will")
    check(msg.topic == topic and msg.payload == b"gone", "got %s %r" % (msg.topic, msg.payload))
    sub.close()


def read_line(child, timeout):
    box = []
    reader = threading.Thread(target=lambda: box.append(child.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    check(box, "the will client did not connect within %ss" % timeout)
    return box[0]


def will_client(args):
    peer = Peer(args, will=("paho/%s/will" % args.tag, b"gone", 1))
    peer.connect()
    print("connected", flush=True)
    time.sleep(WAIT * 3)


def scenario_session(args):
    topic = "paho/%s/session" % args.tag
    client_id = "paho-session-%s" % args.tag
    first = Peer(args, client_id=client_id, clean=False, expiry=3600)
    flags = first.connect()
    first.subscribe(topic, 1)
    first.close()
    pub = Peer(args)
    pub.connect()
    pub.publish(topic, b"while you were away", 1)
    pub.close()
    again = Peer(args, client_id=client_id, clean=False, expiry=3600)
    flags = again.connect()
    # [MQTT-3.2.2-2] (5.0: [MQTT-3.2.2-3]): the session was kept. A 3.1
    # CONNACK has no Session Present: 0 there.
    check(flags.session_present != (args.version == "31"), "session present %r on resume" % flags.session_present)
    # QoS 1 messages for the offline session are kept (3.1.1: [MQTT-3.1.2-5];
    # 5.0: section 4.1) and delivered on resume.
    msg = again.receive("the queued message")
    check(msg.payload == b"while you were away" and msg.qos == 1, "got %r qos %d" % (msg.payload, msg.qos))
    again.close()
    # Leave no session behind: connect clean once.
    cleaner = Peer(args, client_id=client_id, clean=True)
    cleaner.connect()
    cleaner.close()


def scenario_shared(args):
    topic = "paho/%s/shared" % args.tag
    subs = [Peer(args), Peer(args)]
    for s in subs:
        s.connect()
        s.subscribe("$share/g/" + topic, 1)
    pub = Peer(args)
    pub.connect()
    count = 20
    for i in range(count):
        pub.publish(topic, b"m%d" % i, 1)
    got = [[], []]
    deadline = time.monotonic() + WAIT
    while sum(map(len, got)) < count and time.monotonic() < deadline:
        for i, s in enumerate(subs):
            try:
                got[i].append(s.messages.get(timeout=0.05).payload)
            except queue.Empty:
                pass
    every = sorted(got[0] + got[1])
    # Each message to exactly one member of the group (5.0 section 4.8.2).
    check(every == sorted(b"m%d" % i for i in range(count)), "received %r" % (got,))
    check(got[0] and got[1], "one member got nothing: %r" % (got,))
    pub.close()
    for s in subs:
        s.close()


def scenario_user_property(args):
    check(args.version == "5", "user properties are MQTT 5.0 only")
    topic = "paho/%s/props" % args.tag
    sub = Peer(args)
    sub.connect()
    sub.subscribe(topic, 1)
    pub = Peer(args)
    pub.connect()
    props = Properties(PacketTypes.PUBLISH)
    pairs = [("k", "v1"), ("a", "b"), ("k", "v2")]
    props.UserProperty = pairs
    props.ContentType = "text/plain"
    pub.publish(topic, b"with properties", 1, properties=props)
    msg = sub.receive("the message with user properties")
    got = getattr(msg.properties, "UserProperty", None)
    # Forwarded unaltered [MQTT-3.3.2-17], in order [MQTT-3.3.2-18]; the
    # Content Type too [MQTT-3.3.2-20].
    check(got == pairs, "user properties %r, sent %r" % (got, pairs))
    check(getattr(msg.properties, "ContentType", None) == "text/plain", "content type lost")
    pub.close()
    sub.close()


SCENARIOS = {
    "qos": scenario_qos,
    "retained": scenario_retained,
    "will": scenario_will,
    "will-client": will_client,
    "session": scenario_session,
    "shared": scenario_shared,
    "user-property": scenario_user_property,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", choices=["31", "311", "5"], required=True)
    parser.add_argument("--tag", default=str(os.getpid()))
    args = parser.parse_args()
    if not paho.mqtt.__version__.startswith("2."):
        print("paho-mqtt 2.x needed, found %s: run `make setup`" % paho.mqtt.__version__, flush=True)
        os._exit(1)
    try:
        SCENARIOS[args.scenario](args)
    except Exception as e:  # a Failure, or paho's own (refused connection...)
        print("FAILED %s (MQTT %s): %s: %s" % (args.scenario, args.version, type(e).__name__, e), flush=True)
        os._exit(1)
    print("ok %s (MQTT %s)" % (args.scenario, args.version), flush=True)
    # Skip interpreter teardown with network threads still around.
    os._exit(0)


if __name__ == "__main__":
    main()
