/* Links the handle-less codec into client_min.c's image (size report). */
#include <stdbool.h>

#include "mqtt.h"

size_t uses_codec(const uint8_t *buf, size_t len, uint8_t *out, size_t cap);

size_t uses_codec(const uint8_t *buf, size_t len, uint8_t *out, size_t cap) {
    mqtt_packet_view v;
    mqtt_publish_options p = {0};
    size_t used = 0, written = 0;
    if (mqtt_decode(buf, len, MQTT_VERSION_5, 0, &v, &used) != MQTT_STATUS_OK)
        return 0;
    p.topic = v.topic;
    p.payload = v.payload;
    mqtt_encode_publish(&p, 1, false, MQTT_VERSION_5, out, cap, &written);
    return written;
}
