/*
 * client_min.c: the smallest useful MQTT client firmware, for measuring
 * what libmqtt adds to an image (make c-firmware-size). It is linked, not
 * run: the transport and clock are stubs a real port replaces.
 *
 * It uses what a telemetry device uses: the allocator, connect (3.1.1 or
 * 5.0, chosen at run time, so both protocol versions are linked), publish
 * QoS 0 and 1, subscribe, events, keep alive and reconnection after a cut.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mqtt.h"

/* The port: a transport and a millisecond clock (stubs here). */
extern size_t port_recv(uint8_t *buf, size_t cap);
extern void port_send(const uint8_t *buf, size_t len);
extern uint64_t port_now_ms(void);
extern int port_connected(void);

#ifdef USE_CODEC /* the size report's "+ codec" image */
size_t uses_codec(const uint8_t *buf, size_t len, uint8_t *out, size_t cap);
#endif
#ifdef USE_SERVER /* the size report's "+ server" image */
size_t uses_server(const uint8_t *buf, size_t len, uint8_t *out, size_t cap, uint64_t now);
#endif

static void *heap_alloc(void *ctx, size_t size, size_t align) {
    (void)ctx, (void)align; /* newlib's malloc aligns to 8 */
    return malloc(size);
}

static void heap_free(void *ctx, void *ptr, size_t size, size_t align) {
    (void)ctx, (void)size, (void)align;
    free(ptr);
}

static mqtt_bytes_view view(const char *s, size_t n) {
    mqtt_bytes_view v = {(const uint8_t *)s, n};
    return v;
}

int main(void) {
    static const mqtt_allocator heap = {heap_alloc, heap_free, NULL};
    static uint8_t buf[512];
    mqtt_client_options o;
    mqtt_client *c = NULL;
    mqtt_subscription sub = {0};
    mqtt_subscribe_options so = {0};
    mqtt_publish_options p = {0};
    mqtt_event ev;
    uint64_t id, deadline;
    uint16_t pid;
    size_t n;

    mqtt_set_allocator(&heap);
    mqtt_client_options_default(&o);
    o.version = port_now_ms() & 1 ? MQTT_VERSION_5 : MQTT_VERSION_3_1_1;
    o.client_id = view("dev1", 4);
    if (mqtt_client_new(&o, &c) != MQTT_STATUS_OK)
        return 1;
    mqtt_client_connect(c, port_now_ms());
    sub.filter = view("cmd/dev1", 8);
    sub.qos = 1;
    so.filters = &sub;
    so.filters_len = 1;
    mqtt_client_subscribe(c, &so, port_now_ms(), &pid);
    for (;;) {
        if (!port_connected()) {
            mqtt_client_transport_closed(c, port_now_ms());
            mqtt_client_connect(c, port_now_ms());
        }
        n = port_recv(buf, sizeof buf);
        if (n)
            mqtt_client_handle_input(c, buf, n, port_now_ms());
#ifdef USE_CODEC
        port_send(buf, uses_codec(buf, n, buf, sizeof buf));
#endif
#ifdef USE_SERVER
        port_send(buf, uses_server(buf, n, buf, sizeof buf, port_now_ms()));
#endif
        mqtt_client_poll_timeout(c, &deadline);
        if (port_now_ms() >= deadline)
            mqtt_client_handle_timeout(c, port_now_ms());
        while (mqtt_client_poll_event(c, &ev) == MQTT_STATUS_OK && ev.kind != MQTT_EVENT_NONE) {
            if (ev.kind == MQTT_EVENT_MESSAGE) {
                p.topic = view("state/dev1", 10);
                p.payload = ev.message.payload;
                p.qos = (uint8_t)(port_now_ms() & 1);
                mqtt_client_publish(c, &p, port_now_ms(), &id);
            }
        }
        while (mqtt_client_poll_transmit(c, buf, sizeof buf, &n) == MQTT_STATUS_OK && n > 0)
            port_send(buf, n);
    }
}
