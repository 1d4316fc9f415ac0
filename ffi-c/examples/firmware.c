/*
 * firmware.c: the whole MQTT lifecycle in one program, the way a device
 * without an operating system would drive libmqtt: no sockets, no clock,
 * static buffers. A client and a broker run side by side; the "transport"
 * between them is a pair of byte buffers, and time is a tick counter.
 *
 * connect, subscribe, publish QoS 1, receive it, disconnect.
 *
 * Build: gcc -std=c99 -Iinclude ffi-c/examples/firmware.c libmqtt.a \
 *          -lpthread -ldl -lm
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

static uint64_t ticks;           /* the fake clock, in milliseconds */
static uint8_t wire[2048];       /* one chunk in flight on the "transport" */
static uint64_t conn;            /* the broker's name for our connection */

#define MUST(call)                                                         \
    do {                                                                   \
        mqtt_status s_ = (call);                                           \
        if (s_ != MQTT_STATUS_OK) {                                        \
            printf("%s failed: %s\n", #call, mqtt_status_str(s_));         \
            return 1;                                                      \
        }                                                                  \
    } while (0)

static mqtt_bytes_view text(const char *s) {
    mqtt_bytes_view v;
    v.ptr = (const uint8_t *)s;
    v.len = strlen(s);
    return v;
}

/* Moves bytes both ways until neither side has anything to send, and
 * prints the client's events. Returns the number of messages received. */
static int pump(mqtt_client *c, mqtt_broker *b) {
    int messages = 0, moved = 1;
    while (moved) {
        size_t n = 0;
        uint64_t to = 0;
        mqtt_event ev;
        moved = 0;
        while (mqtt_client_poll_transmit(c, wire, sizeof wire, &n) == MQTT_STATUS_OK && n > 0) {
            mqtt_broker_handle_input(b, conn, wire, n, ticks);
            moved = 1;
        }
        while (mqtt_broker_poll_output(b, &to, wire, sizeof wire, &n) == MQTT_STATUS_OK && n > 0) {
            if (to == conn) /* the only connection */
                mqtt_client_handle_input(c, wire, n, ticks);
            moved = 1;
        }
        while (mqtt_client_poll_event(c, &ev) == MQTT_STATUS_OK && ev.kind != MQTT_EVENT_NONE) {
            switch (ev.kind) {
            case MQTT_EVENT_CONNECTED:
                printf("[%4llu ms] connected as %.*s\n", (unsigned long long)ticks,
                       (int)ev.client_id.len, (const char *)ev.client_id.ptr);
                break;
            case MQTT_EVENT_SUBSCRIBED:
                printf("[%4llu ms] subscribed, granted QoS %u\n", (unsigned long long)ticks,
                       (unsigned)ev.reason_codes.ptr[0]);
                break;
            case MQTT_EVENT_PUBLISH_COMPLETED:
                printf("[%4llu ms] publish %llu acknowledged: %s\n", (unsigned long long)ticks,
                       (unsigned long long)ev.publish_id, mqtt_reason_code_str(ev.reason_code));
                break;
            case MQTT_EVENT_MESSAGE:
                printf("[%4llu ms] message on %.*s (QoS %u): %.*s\n", (unsigned long long)ticks,
                       (int)ev.message.topic.len, (const char *)ev.message.topic.ptr,
                       (unsigned)ev.message.qos, (int)ev.message.payload.len,
                       (const char *)ev.message.payload.ptr);
                messages++;
                break;
            case MQTT_EVENT_DISCONNECTED:
                printf("[%4llu ms] disconnected: %.*s\n", (unsigned long long)ticks,
                       (int)ev.text.len, (const char *)ev.text.ptr);
                break;
            default:
                break;
            }
        }
    }
    return messages;
}

int main(void) {
    mqtt_client_options co;
    mqtt_subscription sub;
    mqtt_subscribe_options so;
    mqtt_publish_options po;
    mqtt_client *c = NULL;
    mqtt_broker *b = NULL;
    uint64_t publish_id = 0, closing = 0;
    int received;

    MUST(mqtt_broker_new(NULL, &b)); /* default limits */
    MUST(mqtt_client_options_default(&co));
    co.client_id = text("sensor-1");
    MUST(mqtt_client_new(&co, &c));

    /* The transport "opens": both sides learn of it. */
    MUST(mqtt_broker_connection_opened(b, ticks, &conn));
    MUST(mqtt_client_connect(c, ticks));
    pump(c, b);

    ticks += 10;
    memset(&sub, 0, sizeof sub);
    sub.filter = text("sensors/+/temperature");
    sub.qos = 1;
    memset(&so, 0, sizeof so);
    so.filters = &sub;
    so.filters_len = 1;
    MUST(mqtt_client_subscribe(c, &so, ticks, NULL));
    pump(c, b);

    ticks += 10;
    memset(&po, 0, sizeof po);
    po.topic = text("sensors/1/temperature");
    po.payload = text("21.5");
    po.qos = 1;
    MUST(mqtt_client_publish(c, &po, ticks, &publish_id));
    printf("[%4llu ms] publish %llu sent\n", (unsigned long long)ticks,
           (unsigned long long)publish_id);
    received = pump(c, b);

    ticks += 10;
    MUST(mqtt_client_disconnect(c, NULL, ticks));
    pump(c, b);
    /* The broker asks for the transport to be closed; it "closes". */
    MUST(mqtt_broker_poll_close(b, &closing));
    if (closing == conn)
        printf("[%4llu ms] broker closed the transport\n", (unsigned long long)ticks);
    MUST(mqtt_broker_connection_closed(b, conn, ticks));

    mqtt_client_free(c);
    mqtt_broker_free(b);
    if (received != 1 || closing != conn) {
        printf("unexpected: %d messages received, close of %llu\n", received,
               (unsigned long long)closing);
        return 1;
    }
    printf("done\n");
    return 0;
}
