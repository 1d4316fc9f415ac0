/*
 * Benchmark peer (not a test): the same job as examples/sub.c done with
 * Debian's libmosquitto (libmosquitto-dev): subscribe to TOPIC at QOS,
 * MQTT 5.0, print "subscribed" (flushed) once the SUBACK is in, then one
 * line "<topic> <payload>" per message, exit after N messages.
 * Single-threaded loop.
 *   mosq_sub PORT TOPIC QOS N
 */
#define _POSIX_C_SOURCE 200809L
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>

static long received = 0;
static int state = 0; /* 0 connecting, 1 connected, 2 subscribed, -1 failed */

static void on_connect(struct mosquitto *m, void *u, int rc) {
    (void)m;
    (void)u;
    state = rc == 0 ? 1 : -1;
}

static void on_subscribe(struct mosquitto *m, void *u, int mid, int n, const int *granted) {
    (void)m;
    (void)u;
    (void)mid;
    if (n < 1 || granted[0] > 2) {
        state = -1;
        return;
    }
    state = 2;
    printf("subscribed\n");
    fflush(stdout);
}

static void on_message(struct mosquitto *m, void *u, const struct mosquitto_message *msg) {
    (void)m;
    (void)u;
    printf("%s %.*s\n", msg->topic, msg->payloadlen, (const char *)msg->payload);
    received++;
}

int main(int argc, char **argv) {
    struct mosquitto *m;
    int port, qos, rc;
    long n;
    const char *topic;
    if (argc != 5) {
        fprintf(stderr, "usage: mosq_sub PORT TOPIC QOS N\n");
        return 2;
    }
    port = atoi(argv[1]);
    topic = argv[2];
    qos = atoi(argv[3]);
    n = atol(argv[4]);
    mosquitto_lib_init();
    m = mosquitto_new(NULL, true, NULL);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) return 1;
    while (state == 0) mosquitto_loop(m, 100, 1);
    if (state < 0) return 1;
    if (mosquitto_subscribe(m, NULL, topic, qos) != MOSQ_ERR_SUCCESS) return 1;
    while (state >= 0 && received < n) {
        rc = mosquitto_loop(m, 100, 64);
        if (rc != MOSQ_ERR_SUCCESS) return 1;
    }
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return state < 0;
}
