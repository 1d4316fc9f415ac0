/*
 * A small POSIX driver for the sans-IO client of mqtt.h, shared by pub.c
 * and sub.c: a TCP socket, poll(), and a monotonic millisecond clock. The
 * library does no I/O; everything about sockets and time is here.
 */
#ifndef LIBMQTT_EXAMPLE_DRIVER_H
#define LIBMQTT_EXAMPLE_DRIVER_H

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "mqtt.h"

typedef struct {
    const char *host;
    const char *port;
    const char *topic;
    int qos;
    int version; /* MQTT_VERSION_3_1, MQTT_VERSION_3_1_1 or MQTT_VERSION_5 */
    const char *message;
    long count;
    long timeout_s;
    const char *client_id;
} example_args;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static mqtt_bytes_view view(const char *s) {
    mqtt_bytes_view v;
    v.ptr = (const uint8_t *)s;
    v.len = strlen(s);
    return v;
}

static void usage(const char *prog, const char *extra) {
    fprintf(stderr,
            "usage: %s [-h host] [-p port] [-t topic] [-q 0|1|2] [-V 31|311|5] [-n count]\n"
            "          [-i client-id] [-T timeout-seconds]%s\n",
            prog, extra);
}

/* Parses the common options; returns 0 on success. */
static int parse_args(int argc, char **argv, example_args *a, const char *extra_usage) {
    int i;
    a->host = "127.0.0.1";
    a->port = "1883";
    a->topic = "libmqtt/example";
    a->qos = 1;
    a->version = MQTT_VERSION_5;
    a->message = "hello from libmqtt (C)";
    a->count = 1;
    a->timeout_s = 10;
    a->client_id = "";
    for (i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(f, "--help") == 0) {
            usage(argv[0], extra_usage);
            return 1;
        }
        if (v == NULL) {
            fprintf(stderr, "%s needs a value\n", f);
            usage(argv[0], extra_usage);
            return 1;
        }
        i++;
        if (strcmp(f, "-h") == 0) a->host = v;
        else if (strcmp(f, "-p") == 0) a->port = v;
        else if (strcmp(f, "-t") == 0) a->topic = v;
        else if (strcmp(f, "-q") == 0) a->qos = atoi(v);
        else if (strcmp(f, "-V") == 0) {
            /* mosquitto_pub's spelling: 31 (MQTT 3.1), 311 (3.1.1), 5; and 3 for 3.1.1, as before */
            if (strcmp(v, "31") == 0 || strcmp(v, "mqttv31") == 0) a->version = MQTT_VERSION_3_1;
            else if (strcmp(v, "311") == 0 || strcmp(v, "3") == 0 || strcmp(v, "mqttv311") == 0) a->version = MQTT_VERSION_3_1_1;
            else if (strcmp(v, "5") == 0 || strcmp(v, "mqttv5") == 0) a->version = MQTT_VERSION_5;
            else a->version = -1;
        }
        else if (strcmp(f, "-m") == 0) a->message = v;
        else if (strcmp(f, "-n") == 0) a->count = atol(v);
        else if (strcmp(f, "-i") == 0) a->client_id = v;
        else if (strcmp(f, "-T") == 0) a->timeout_s = atol(v);
        else {
            fprintf(stderr, "unknown option %s\n", f);
            usage(argv[0], extra_usage);
            return 1;
        }
    }
    if (a->qos < 0 || a->qos > 2 || a->version < 0 || a->count < 0) {
        fprintf(stderr, "-q must be 0, 1 or 2; -V 31, 311 or 5; -n >= 0\n");
        return 1;
    }
    return 0;
}

/* Opens a TCP connection; -1 on failure. */
static int tcp_connect(const char *host, const char *port) {
    struct addrinfo hints, *res, *ai;
    int fd = -1, one = 1, rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s:%s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "cannot connect to %s:%s: %s\n", host, port, strerror(errno));
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Sends everything the client has; -1 when the socket failed. */
static int flush_output(mqtt_client *c, int fd) {
    static uint8_t buf[64 * 1024];
    for (;;) {
        size_t n = 0, off = 0;
        if (mqtt_client_poll_transmit(c, buf, sizeof buf, &n) != MQTT_STATUS_OK) return -1;
        if (n == 0) return 0;
        while (off < n) {
            ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                return -1;
            }
            off += (size_t)w;
        }
    }
}

/*
 * One turn of the loop: send what is pending, wait for input or the
 * client's deadline (at most until `until`; not at all when `busy`: the
 * caller has more to do), feed what came in, fire the timer. Returns -1
 * when the transport is gone.
 */
static int drive_once(mqtt_client *c, int fd, uint64_t until, int busy) {
    static uint8_t buf[64 * 1024];
    uint64_t deadline = MQTT_NO_DEADLINE, now;
    struct pollfd pfd;
    int wait_ms, rc;
    if (flush_output(c, fd) < 0) {
        mqtt_client_transport_closed(c, now_ms());
        return -1;
    }
    mqtt_client_poll_timeout(c, &deadline);
    if (until < deadline) deadline = until;
    now = now_ms();
    wait_ms = busy || deadline <= now ? 0 : (deadline - now > 1000 ? 1000 : (int)(deadline - now));
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    rc = poll(&pfd, 1, wait_ms);
    if (rc < 0 && errno != EINTR) return -1;
    if (rc > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
        /* Everything already received (a few reads at most), then back to
         * the caller with the events. */
        int reads;
        for (reads = 0; reads < 8; reads++) {
            ssize_t r = recv(fd, buf, sizeof buf, reads == 0 ? 0 : MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
            if (r <= 0) {
                mqtt_client_transport_closed(c, now_ms());
                return -1;
            }
            mqtt_client_handle_input(c, buf, (size_t)r, now_ms());
            if ((size_t)r < sizeof buf) break;
        }
    }
    now = now_ms();
    mqtt_client_poll_timeout(c, &deadline);
    if (deadline != MQTT_NO_DEADLINE && now >= deadline) mqtt_client_handle_timeout(c, now);
    return 0;
}

/* Creates the client and connects it; NULL on failure. */
static mqtt_client *start_client(const example_args *a, int fd) {
    mqtt_client_options o;
    mqtt_client *c = NULL;
    char why[256];
    mqtt_client_options_default(&o);
    o.version = (uint8_t)a->version;
    o.client_id = view(a->client_id);
    o.keep_alive = 30;
    if (mqtt_client_new(&o, &c) != MQTT_STATUS_OK) {
        mqtt_client_options_check(&o, why, sizeof why);
        fprintf(stderr, "bad options: %s\n", why);
        return NULL;
    }
    if (mqtt_client_connect(c, now_ms()) != MQTT_STATUS_OK) {
        mqtt_client_free(c);
        return NULL;
    }
    (void)fd;
    return c;
}

static void print_view(FILE *f, mqtt_bytes_view v) {
    if (v.len > 0) fwrite(v.ptr, 1, v.len, f);
}

/* Reports a disconnection on stderr. */
static void report_disconnect(const mqtt_event *ev) {
    fprintf(stderr, "disconnected: ");
    print_view(stderr, ev->text);
    fprintf(stderr, "\n");
}

#endif
