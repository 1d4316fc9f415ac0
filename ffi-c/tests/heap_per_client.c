/*
 * Measurement (not a test): heap bytes per client handle in steady state,
 * from glibc's mallinfo2(): 100 clients created, connected (5.0 CONNACK
 * fed), one subscription acknowledged, output and events drained.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

#define CLIENTS 100

static void drain(mqtt_client *c) {
    uint8_t buf[512];
    size_t n;
    mqtt_event ev;
    do {
        mqtt_client_poll_transmit(c, buf, sizeof buf, &n);
    } while (n > 0);
    do {
        mqtt_client_poll_event(c, &ev);
    } while (ev.kind != MQTT_EVENT_NONE);
}

int main(void) {
    static mqtt_client *clients[CLIENTS];
    const uint8_t connack[] = {0x20, 0x03, 0x00, 0x00, 0x00};
    size_t before, after, fresh;
    int i;
    mqtt_client_options o;
    mqtt_subscription s;
    mqtt_subscribe_options so;
    mqtt_client_options_default(&o);
    o.client_id.ptr = (const uint8_t *)"heap-client";
    o.client_id.len = 11;
    memset(&s, 0, sizeof s);
    s.filter.ptr = (const uint8_t *)"sensors/+/temp";
    s.filter.len = 14;
    s.qos = 1;
    memset(&so, 0, sizeof so);
    so.filters = &s;
    so.filters_len = 1;

    before = mallinfo2().uordblks;
    for (i = 0; i < CLIENTS; i++)
        mqtt_client_new(&o, &clients[i]);
    fresh = mallinfo2().uordblks;
    for (i = 0; i < CLIENTS; i++) {
        uint16_t pid = 0;
        uint8_t suback[] = {0x90, 0x04, 0, 0, 0x00, 0x01};
        mqtt_client_connect(clients[i], 0);
        mqtt_client_handle_input(clients[i], connack, sizeof connack, 1);
        mqtt_client_subscribe(clients[i], &so, 2, &pid);
        drain(clients[i]);
        suback[2] = (uint8_t)(pid >> 8);
        suback[3] = (uint8_t)pid;
        mqtt_client_handle_input(clients[i], suback, sizeof suback, 3);
        drain(clients[i]);
    }
    after = mallinfo2().uordblks;
    printf("heap per client handle: %zu bytes new, %zu bytes connected and subscribed (steady state, 5.0)\n",
           (fresh - before) / CLIENTS, (after - before) / CLIENTS);
    for (i = 0; i < CLIENTS; i++)
        mqtt_client_free(clients[i]);
    return 0;
}
