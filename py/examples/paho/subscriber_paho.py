"""Subscriber with loop_forever, stopping after COUNT messages (paho-mqtt 2.x)."""

import os

import paho.mqtt.client as mqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))
TOPIC = os.environ.get("MQTT_TOPIC", "demo/#")
COUNT = int(os.environ.get("MQTT_COUNT", "5"))


def on_connect(client, userdata, flags, reason_code, properties):
    if reason_code.is_failure:
        print(f"Failed to connect: {reason_code}. loop_forever() will retry connection")
    else:
        client.subscribe(TOPIC, qos=1)


def on_subscribe(client, userdata, mid, reason_code_list, properties):
    if reason_code_list[0].is_failure:
        print(f"Broker rejected you subscription: {reason_code_list[0]}")
    else:
        print(f"Broker granted the following QoS: {reason_code_list[0].value}", flush=True)


def on_message(client, userdata, message):
    userdata.append(message.payload)
    if len(userdata) >= COUNT:
        client.unsubscribe(TOPIC)


def on_unsubscribe(client, userdata, mid, reason_code_list, properties):
    client.disconnect()


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
mqttc.on_connect = on_connect
mqttc.on_message = on_message
mqttc.on_subscribe = on_subscribe
mqttc.on_unsubscribe = on_unsubscribe

mqttc.user_data_set([])
mqttc.connect(HOST, PORT)
mqttc.loop_forever()
print(f"Received the following message: {mqttc.user_data_get()}")
