"""A device that announces "online" (retained) and leaves a will saying
"offline": when it dies without DISCONNECT the broker publishes the will
(paho-mqtt 2.x)."""

import os

import paho.mqtt.client as mqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))
STATUS = os.environ.get("MQTT_TOPIC", "devices/sensor-7/status")


def on_connect(client, userdata, flags, reason_code, properties):
    client.publish(STATUS, "online", qos=1, retain=True)


def on_publish(client, userdata, mid, reason_code, properties):
    print("online", flush=True)


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sensor-7", protocol=mqtt.MQTTv311)
mqttc.will_set(STATUS, payload="offline", qos=1, retain=True)
mqttc.on_connect = on_connect
mqttc.on_publish = on_publish
mqttc.connect(HOST, PORT, keepalive=30)
mqttc.loop_forever()  # until the process is killed: then the will goes out
