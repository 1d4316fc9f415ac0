/*
 * Measurement (not a test): heap bytes per broker connection in steady
 * state, from glibc's mallinfo2(): one broker (default options), 100
 * connections opened, each sends a 5.0 CONNECT (its own client id, clean
 * start) and a SUBSCRIBE to one filter, and the broker's output (CONNACK,
 * SUBACK) is drained. Checks the broker's stats agree (100 connections,
 * 100 subscriptions) before printing.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

#define CONNS 100

static void drain(mqtt_broker *b) {
    uint8_t buf[512];
    uint64_t conn;
    size_t n;
    do {
        mqtt_broker_poll_output(b, &conn, buf, sizeof buf, &n);
    } while (n > 0);
}

int main(void) {
    /* CONNECT 5.0: "MQTT", level 5, clean start, keep alive 60, no
     * properties, client id "c000" (patched per connection). */
    uint8_t connect[] = {0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0,
                         0, 4, 'c', '0', '0', '0'};
    /* SUBSCRIBE 5.0: packet id 1, no properties, "sensors/+/temp" QoS 1. */
    const uint8_t subscribe[] = {0x82, 20, 0, 1, 0, 0, 14, 's', 'e', 'n', 's', 'o', 'r',
                                 's', '/', '+', '/', 't', 'e', 'm', 'p', 0x01};
    static uint64_t ids[CONNS];
    mqtt_broker_options o;
    mqtt_broker_stats st;
    mqtt_broker *b;
    size_t base, empty, after;
    int i;

    mqtt_broker_options_default(&o);
    base = mallinfo2().uordblks;
    if (mqtt_broker_new(&o, &b) != MQTT_STATUS_OK) return 1;
    empty = mallinfo2().uordblks;
    for (i = 0; i < CONNS; i++) {
        connect[16] = (uint8_t)('0' + i / 100);
        connect[17] = (uint8_t)('0' + i / 10 % 10);
        connect[18] = (uint8_t)('0' + i % 10);
        if (mqtt_broker_connection_opened(b, 0, &ids[i]) != MQTT_STATUS_OK ||
            mqtt_broker_handle_input(b, ids[i], connect, sizeof connect, 1) != MQTT_STATUS_OK ||
            mqtt_broker_handle_input(b, ids[i], subscribe, sizeof subscribe, 2) != MQTT_STATUS_OK) {
            fprintf(stderr, "connection %d refused\n", i);
            return 1;
        }
        drain(b);
    }
    after = mallinfo2().uordblks;
    mqtt_broker_get_stats(b, &st);
    if (st.connections != CONNS || st.subscriptions != CONNS) {
        fprintf(stderr, "stats: %zu connections, %zu subscriptions (expected %d)\n", st.connections,
                st.subscriptions, CONNS);
        return 1;
    }
    printf("broker handle: %zu bytes; heap per broker connection: %zu bytes (connected 5.0, one "
           "subscription, steady state, %d connections)\n",
           empty - base, (after - empty) / CONNS, CONNS);
    for (i = 0; i < CONNS; i++)
        mqtt_broker_connection_closed(b, ids[i], 3);
    mqtt_broker_free(b);
    return 0;
}
