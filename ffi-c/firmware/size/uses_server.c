/* Links the broker engine into client_min.c's image (size report): a
 * device that is also a small local broker. */
#include "mqtt.h"

size_t uses_server(const uint8_t *buf, size_t len, uint8_t *out, size_t cap, uint64_t now);

size_t uses_server(const uint8_t *buf, size_t len, uint8_t *out, size_t cap, uint64_t now) {
    static mqtt_broker *b;
    static uint64_t conn;
    uint64_t who = 0, deadline = 0;
    size_t n = 0;
    if (!b) {
        mqtt_broker_options o;
        mqtt_broker_options_default(&o);
        if (mqtt_broker_new(&o, &b) != MQTT_STATUS_OK)
            return 0;
        mqtt_broker_connection_opened(b, now, &conn);
    }
    mqtt_broker_handle_input(b, conn, buf, len, now);
    mqtt_broker_poll_timeout(b, &deadline);
    if (now >= deadline)
        mqtt_broker_handle_timeout(b, now);
    while (mqtt_broker_poll_close(b, &who) == MQTT_STATUS_OK && who != 0)
        mqtt_broker_connection_closed(b, who, now);
    mqtt_broker_poll_output(b, &who, out, cap, &n);
    return n;
}
