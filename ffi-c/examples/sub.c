/*
 * sub: subscribe with libmqtt over a TCP socket and print messages.
 *
 *   sub -h 127.0.0.1 -p 1883 -t 'some/#' -q 1 -V 5 -n 10
 *
 * Prints "subscribed" once the SUBACK arrives, then one line per message:
 * "<topic> <payload>". Exits after -n messages (0: run until -T seconds).
 */
#define _POSIX_C_SOURCE 200809L
#include "driver.h"

int main(int argc, char **argv) {
    example_args a;
    mqtt_client *c;
    mqtt_event ev;
    mqtt_subscription s;
    mqtt_subscribe_options so;
    long received = 0;
    int fd, failed = 0, done = 0;
    uint64_t give_up;

    if (parse_args(argc, argv, &a, "") != 0) return 2;
    fd = tcp_connect(a.host, a.port);
    if (fd < 0) return 1;
    c = start_client(&a, fd);
    if (c == NULL) return 1;
    give_up = now_ms() + (uint64_t)a.timeout_s * 1000u;

    memset(&s, 0, sizeof s);
    s.filter = view(a.topic);
    s.qos = (uint8_t)a.qos;
    memset(&so, 0, sizeof so);
    so.filters = &s;
    so.filters_len = 1;
    /* Queued now, sent as soon as CONNACK arrives. */
    if (mqtt_client_subscribe(c, &so, now_ms(), NULL) != MQTT_STATUS_OK) {
        mqtt_bytes_view why;
        mqtt_client_last_error(c, &why);
        fprintf(stderr, "subscribe: %.*s\n", (int)why.len, (const char *)why.ptr);
        mqtt_client_free(c);
        close(fd);
        return 1;
    }
    while (!failed && !done) {
        if (now_ms() >= give_up) {
            if (a.count > 0) {
                fprintf(stderr, "timed out after %ld of %ld messages\n", received, a.count);
                failed = 1;
            }
            break;
        }
        while (mqtt_client_poll_event(c, &ev) == MQTT_STATUS_OK && ev.kind != MQTT_EVENT_NONE) {
            if (ev.kind == MQTT_EVENT_SUBSCRIBED) {
                if (ev.reason_codes.len != 1 || ev.reason_codes.ptr[0] >= 0x80) {
                    fprintf(stderr, "subscription refused\n");
                    failed = 1;
                } else {
                    printf("subscribed\n");
                    fflush(stdout);
                }
            } else if (ev.kind == MQTT_EVENT_MESSAGE) {
                print_view(stdout, ev.message.topic);
                putchar(' ');
                print_view(stdout, ev.message.payload);
                putchar('\n');
                received++;
                if (a.count > 0 && received >= a.count) done = 1;
            } else if (ev.kind == MQTT_EVENT_DISCONNECTED) {
                report_disconnect(&ev);
                failed = 1;
            }
        }
        if (failed || done) break;
        if (drive_once(c, fd, give_up, 0) < 0) {
            fprintf(stderr, "connection lost\n");
            failed = 1;
        }
    }
    if (!failed) {
        /* Acknowledgements of the last messages go out before DISCONNECT. */
        mqtt_client_disconnect(c, NULL, now_ms());
        flush_output(c, fd);
    }
    shutdown(fd, SHUT_WR);
    close(fd);
    mqtt_client_free(c);
    return failed ? 1 : 0;
}
