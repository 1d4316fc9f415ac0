/* Links the broker engine into client_min.c's image (size report): a
 * device that is also a small local broker. With -DUSE_PERSIST (the "+
 * durability" row) the broker keeps its state in flash: restored at start
 * from a store, records taken before the output (port_flash_* stands for
 * the device's flash driver). */
#include "mqtt.h"

size_t uses_server(const uint8_t *buf, size_t len, uint8_t *out, size_t cap, uint64_t now);
#ifdef USE_PERSIST
/* The stored bytes (memory-mapped flash) and an append. */
extern const uint8_t port_flash[];
extern size_t port_flash_len;
void port_flash_append(const uint8_t *data, size_t len);
#endif

size_t uses_server(const uint8_t *buf, size_t len, uint8_t *out, size_t cap, uint64_t now) {
    static mqtt_broker *b;
    static uint64_t conn;
    uint64_t who = 0, deadline = 0;
    size_t n = 0;
    if (!b) {
        mqtt_broker_options o;
        mqtt_broker_options_default(&o);
#ifdef USE_PERSIST
        o.persistence = true;
#endif
        if (mqtt_broker_new(&o, &b) != MQTT_STATUS_OK)
            return 0;
#ifdef USE_PERSIST
        {
            mqtt_restore_report r;
            size_t snap = 0;
            if (mqtt_broker_restore(b, port_flash, port_flash_len, now, &r) != MQTT_STATUS_OK)
                return 0;
            mqtt_broker_snapshot(b, now, &snap); /* compacted into a fresh area */
        }
#endif
        mqtt_broker_connection_opened(b, now, &conn);
    }
    mqtt_broker_handle_input(b, conn, buf, len, now);
    mqtt_broker_poll_timeout(b, &deadline);
    if (now >= deadline)
        mqtt_broker_handle_timeout(b, now);
    while (mqtt_broker_poll_close(b, &who) == MQTT_STATUS_OK && who != 0)
        mqtt_broker_connection_closed(b, who, now);
#ifdef USE_PERSIST
    while (mqtt_broker_poll_store(b, now, out, cap, &n) == MQTT_STATUS_OK && n != 0)
        port_flash_append(out, n);
#endif
    mqtt_broker_poll_output(b, &who, out, cap, &n);
    return n;
}
