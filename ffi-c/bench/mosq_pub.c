/*
 * Benchmark peer (not a test): the same job as examples/pub.c done with
 * Debian's libmosquitto (libmosquitto-dev): N messages of one payload at
 * QoS 0 or 1, MQTT 5.0, single-threaded loop, done when every message is
 * written (QoS 0) or acknowledged (QoS 1).
 *   mosq_pub PORT TOPIC QOS N PAYLOAD
 */
#define _POSIX_C_SOURCE 200809L
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long done = 0;
static int connected = 0;

static void on_connect(struct mosquitto *m, void *u, int rc) {
    (void)m;
    (void)u;
    connected = rc == 0 ? 1 : -1;
}

static void on_publish(struct mosquitto *m, void *u, int mid) {
    (void)m;
    (void)u;
    (void)mid;
    done++;
}

int main(int argc, char **argv) {
    struct mosquitto *m;
    int port, qos, rc;
    long n, i;
    const char *topic, *payload;
    if (argc != 6) {
        fprintf(stderr, "usage: mosq_pub PORT TOPIC QOS N PAYLOAD\n");
        return 2;
    }
    port = atoi(argv[1]);
    topic = argv[2];
    qos = atoi(argv[3]);
    n = atol(argv[4]);
    payload = argv[5];
    mosquitto_lib_init();
    m = mosquitto_new(NULL, true, NULL);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_publish_callback_set(m, on_publish);
    if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) return 1;
    while (connected == 0) mosquitto_loop(m, 100, 1);
    if (connected < 0) return 1;
    for (i = 0; i < n; i++) {
        rc = mosquitto_publish(m, NULL, topic, (int)strlen(payload), payload, qos, false);
        if (rc != MOSQ_ERR_SUCCESS) return 1;
        if (i % 256 == 255) mosquitto_loop(m, 0, 1);
    }
    while (done < n) {
        rc = mosquitto_loop(m, 100, 1);
        if (rc != MOSQ_ERR_SUCCESS) return 1;
    }
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    printf("published %ld\n", n);
    return 0;
}
