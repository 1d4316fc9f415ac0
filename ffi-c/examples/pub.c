/*
 * pub: publish messages with libmqtt over a TCP socket.
 *
 *   pub -h 127.0.0.1 -p 1883 -t some/topic -q 1 -V 5 -m hello -n 10
 *
 * With -n N > 1 each payload is "<message> <i>". Waits until every QoS 1
 * and 2 message is acknowledged, then disconnects. Exit status 0 on
 * success.
 */
#define _POSIX_C_SOURCE 200809L
#include "driver.h"

int main(int argc, char **argv) {
    example_args a;
    mqtt_client *c;
    mqtt_event ev;
    mqtt_publish_options p;
    char payload[1024];
    long sent = 0, completed = 0;
    int fd, connected = 0, failed = 0, window_full = 0;
    uint64_t give_up;

    if (parse_args(argc, argv, &a, " [-m message]")) return 2;
    fd = tcp_connect(a.host, a.port);
    if (fd < 0) return 1;
    c = start_client(&a, fd);
    if (c == NULL) return 1;
    give_up = now_ms() + (uint64_t)a.timeout_s * 1000u;

    memset(&p, 0, sizeof p);
    p.topic = view(a.topic);
    p.qos = (uint8_t)a.qos;

    while (!failed) {
        if (now_ms() >= give_up) {
            fprintf(stderr, "timed out (%ld of %ld sent, %ld acknowledged)\n", sent, a.count, completed);
            failed = 1;
            break;
        }
        while (mqtt_client_poll_event(c, &ev) == MQTT_STATUS_OK && ev.kind != MQTT_EVENT_NONE) {
            if (ev.kind == MQTT_EVENT_CONNECTED) {
                connected = 1;
            } else if (ev.kind == MQTT_EVENT_PUBLISH_COMPLETED) {
                completed++;
                if (ev.reason_code >= 0x80)
                    fprintf(stderr, "publish refused: %s\n", mqtt_reason_code_str(ev.reason_code));
            } else if (ev.kind == MQTT_EVENT_PUBLISH_DROPPED) {
                fprintf(stderr, "publish dropped\n");
                failed = 1;
            } else if (ev.kind == MQTT_EVENT_DISCONNECTED) {
                report_disconnect(&ev);
                failed = 1;
            }
        }
        if (failed) break;
        /* Publish while the client takes more (QUEUE_FULL: let it drain). */
        window_full = 0;
        while (connected && sent < a.count) {
            mqtt_status st;
            if (a.count > 1)
                snprintf(payload, sizeof payload, "%s %ld", a.message, sent);
            else
                snprintf(payload, sizeof payload, "%s", a.message);
            p.payload = view(payload);
            st = mqtt_client_publish(c, &p, now_ms(), NULL);
            if (st == MQTT_STATUS_QUEUE_FULL) {
                window_full = 1;
                break;
            }
            if (st != MQTT_STATUS_OK) {
                mqtt_bytes_view why;
                mqtt_client_last_error(c, &why);
                fprintf(stderr, "publish: %s: %.*s\n", mqtt_status_str(st), (int)why.len, (const char *)why.ptr);
                failed = 1;
                break;
            }
            sent++;
            if (sent % 256 == 0) break; /* keep reading acknowledgements */
        }
        if (connected && sent == a.count && (a.qos == 0 || completed == a.count)) break;
        /* Wait for input only when there is nothing else to do. */
        if (drive_once(c, fd, give_up, connected && sent < a.count && !window_full) < 0) {
            fprintf(stderr, "connection lost\n");
            failed = 1;
        }
    }
    if (!failed) {
        mqtt_client_disconnect(c, NULL, now_ms());
        flush_output(c, fd);
        printf("published %ld message(s) to %s at QoS %d (MQTT %s)\n", sent, a.topic, a.qos,
               a.version == MQTT_VERSION_3_1 ? "3.1" : a.version == MQTT_VERSION_3_1_1 ? "3.1.1" : "5.0");
    }
    shutdown(fd, SHUT_WR);
    close(fd);
    mqtt_client_free(c);
    return failed ? 1 : 0;
}
