"""Publisher, QoS 1, waiting for each PUBACK (moved to libmqtt.sync: only the import changed)."""

import os

import libmqtt.sync as mqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))
TOPIC = os.environ.get("MQTT_TOPIC", "demo/publisher")
COUNT = int(os.environ.get("MQTT_COUNT", "10"))

acked = []


def on_publish(client, userdata, mid, reason_code, properties):
    userdata.append(mid)


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
mqttc.on_publish = on_publish
mqttc.user_data_set(acked)
mqttc.connect(HOST, PORT)
mqttc.loop_start()

infos = []
for i in range(COUNT):
    infos.append(mqttc.publish(TOPIC, f"message {i}", qos=1))
for info in infos:
    info.wait_for_publish(timeout=10)
    assert info.is_published()

print(f"published {len(infos)} messages, {len(acked)} acknowledged")
mqttc.disconnect()
mqttc.loop_stop()
