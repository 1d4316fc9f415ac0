"""A TLS client: verifies the server with a CA file, optionally presents a
client certificate, round-trips one QoS 1 message (moved to libmqtt.sync: only the import changed)."""

import os
import threading

import libmqtt.sync as mqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "8883"))
CA = os.environ.get("MQTT_CAFILE")
CERT = os.environ.get("MQTT_CERTFILE")
KEY = os.environ.get("MQTT_KEYFILE")
TOPIC = os.environ.get("MQTT_TOPIC", "demo/tls")

received = threading.Event()


def on_connect(client, userdata, flags, reason_code, properties):
    client.subscribe(TOPIC, qos=1)


def on_subscribe(client, userdata, mid, reason_code_list, properties):
    client.publish(TOPIC, b"over TLS", qos=1)


def on_message(client, userdata, message):
    print(f"{message.topic}: {message.payload.decode()} (QoS {message.qos})")
    received.set()


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
mqttc.tls_set(ca_certs=CA, certfile=CERT, keyfile=KEY)
mqttc.on_connect = on_connect
mqttc.on_subscribe = on_subscribe
mqttc.on_message = on_message
mqttc.connect(HOST, PORT)
mqttc.loop_start()
ok = received.wait(10)
mqttc.disconnect()
mqttc.loop_stop()
raise SystemExit(0 if ok else 1)
