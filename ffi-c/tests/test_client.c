/*
 * C tests of the client API in include/mqtt.h, run by `make c-test` under
 * AddressSanitizer + UndefinedBehaviorSanitizer and under valgrind.
 *
 * 1. Every function with NULL and invalid arguments returns the documented
 *    status (and never crashes).
 * 2. A full lifecycle, 5.0 and 3.1.1, against scripted server bytes:
 *    CONNECT out, CONNACK in, SUBSCRIBE/SUBACK, PUBLISH/PUBACK, an incoming
 *    PUBLISH with properties, keep alive PINGREQ/PINGRESP at the deadline,
 *    DISCONNECT; a refused CONNACK; a protocol violation.
 * 3. A panic inside the library (test-only path) becomes MQTT_STATUS_PANIC.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"
#include "check.h"

/* Built with the test-panic feature only; not part of the header. */
mqtt_status mqtt_test_panic(void);
mqtt_status mqtt_client_test_panic(mqtt_client *c);

/* Everything the client has to send, into buf; returns its length. */
static size_t drain(mqtt_client *c, uint8_t *buf, size_t cap) {
    size_t total = 0, n = 0, ready = 0;
    EXPECT(mqtt_client_transmit_len(c, &ready), MQTT_STATUS_OK);
    do {
        /* Small chunks: the output is a stream and may split packets. */
        size_t chunk = cap - total < 7 ? cap - total : 7;
        EXPECT(mqtt_client_poll_transmit(c, buf + total, chunk, &n), MQTT_STATUS_OK);
        total += n;
    } while (n > 0 && total < cap);
    CHECK(total >= ready);
    return total;
}

static mqtt_client *new_client(uint8_t version, const char *id) {
    mqtt_client_options o;
    mqtt_client *c = NULL;
    EXPECT(mqtt_client_options_default(&o), MQTT_STATUS_OK);
    o.version = version;
    o.client_id = str_view(id);
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_OK);
    CHECK(c != NULL);
    return c;
}

static void feed(mqtt_client *c, const uint8_t *bytes, size_t len, uint64_t now) {
    /* One byte at a time: the decoder takes any chunking. */
    size_t i;
    for (i = 0; i < len; i++)
        EXPECT(mqtt_client_handle_input(c, bytes + i, 1, now), MQTT_STATUS_OK);
}

static mqtt_event next_event(mqtt_client *c) {
    mqtt_event ev;
    memset(&ev, 0xAB, sizeof ev); /* every field must be written */
    EXPECT(mqtt_client_poll_event(c, &ev), MQTT_STATUS_OK);
    return ev;
}

static void test_null_and_invalid_arguments(void) {
    mqtt_client_options o;
    mqtt_client *c = NULL;
    mqtt_client *bad = (mqtt_client *)1; /* must be overwritten with NULL */
    mqtt_event ev;
    mqtt_bytes_view v;
    size_t n = 0;
    uint64_t t = 0;
    uint16_t pid = 0;
    uint8_t buf[64];
    mqtt_connection_state st;
    mqtt_publish_options p;
    mqtt_subscription sub;
    mqtt_subscribe_options so;
    mqtt_unsubscribe_options uo;
    mqtt_disconnect_options d;
    mqtt_user_property up;
    char why[128];
    unsigned s;

    /* status and reason code names: never NULL */
    for (s = 0; s < 20; s++)
        CHECK(mqtt_status_str(s) != NULL && strlen(mqtt_status_str(s)) > 0);
    CHECK(strcmp(mqtt_status_str(MQTT_STATUS_OK), "ok") == 0);
    CHECK(strcmp(mqtt_status_str(999), "unknown status") == 0);
    CHECK(strcmp(mqtt_reason_code_str(MQTT_RC_NOT_AUTHORIZED), "Not authorized") == 0);
    CHECK(strcmp(mqtt_reason_code_str(0x03), "unknown reason code") == 0);

    /* NULL everywhere */
    EXPECT(mqtt_client_options_default(NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_options_default(&o), MQTT_STATUS_OK);
    EXPECT(mqtt_client_new(NULL, &c), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_new(&o, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_options_check(NULL, why, sizeof why), MQTT_STATUS_NULL_ARGUMENT);
    mqtt_client_free(NULL); /* ignored */
    EXPECT(mqtt_client_connect(NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_handle_input(NULL, buf, 1, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_handle_timeout(NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_transport_closed(NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_poll_transmit(NULL, buf, sizeof buf, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_transmit_len(NULL, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_poll_timeout(NULL, &t), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_poll_event(NULL, &ev), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_state(NULL, &st), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_last_error(NULL, &v), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_publish(NULL, &p, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_subscribe(NULL, &so, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_unsubscribe(NULL, &uo, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_disconnect(NULL, NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_acknowledge(NULL, 1, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_authenticate(NULL, o.client_id, o.client_id, o.user_properties, 0), MQTT_STATUS_NULL_ARGUMENT);

    /* invalid options: the handle pointer is cleared, the reason given */
    o.version = 6;
    EXPECT(mqtt_client_new(&o, &bad), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    EXPECT(mqtt_client_options_check(&o, why, sizeof why), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(why, "version 6") != NULL);
    o.version = MQTT_VERSION_5;
    o.client_id.ptr = NULL;
    o.client_id.len = 3; /* NULL with a length */
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_NULL_ARGUMENT);
    o.client_id.ptr = (const uint8_t *)"\xff\xfe";
    o.client_id.len = 2; /* not UTF-8 */
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_INVALID_ARGUMENT);
    o.client_id.ptr = (const uint8_t *)"x";
    o.client_id.len = SIZE_MAX; /* impossible length */
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_INVALID_ARGUMENT);
    o.client_id = str_view("ok-id");
    o.queue_full_policy = 7;
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_INVALID_ARGUMENT);
    o.queue_full_policy = MQTT_QUEUE_FULL_REJECT_NEW;
    o.request_problem_information.present = true;
    o.request_problem_information.value = 2;
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_INVALID_ARGUMENT);
    o.request_problem_information.present = false;
    up.key = str_view("k");
    up.value.ptr = (const uint8_t *)"\xc0";
    up.value.len = 1;
    o.user_properties.ptr = &up;
    o.user_properties.len = 1;
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_INVALID_ARGUMENT);
    o.user_properties.ptr = NULL;
    o.user_properties.len = 0;
    /* [MQTT-3.1.3-7] 3.1.1: an empty client id needs clean_start, refused
     * before anything is sent; 5.0 allows it. */
    o.version = MQTT_VERSION_3_1_1;
    o.client_id = str_view("");
    o.clean_start = false;
    EXPECT(mqtt_client_new(&o, &bad), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    EXPECT(mqtt_client_options_check(&o, why, sizeof why), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(why, "[MQTT-3.1.3-7]") != NULL);
    o.clean_start = true;
    EXPECT(mqtt_client_options_check(&o, why, sizeof why), MQTT_STATUS_OK);
    o.version = MQTT_VERSION_5;
    o.clean_start = false;
    EXPECT(mqtt_client_options_check(&o, why, sizeof why), MQTT_STATUS_OK);
    o.clean_start = true;
    o.client_id = str_view("ok-id");
    EXPECT(mqtt_client_options_check(&o, why, sizeof why), MQTT_STATUS_OK);
    CHECK(why[0] == '\0');
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_OK);
    CHECK(c != NULL);

    /* NULL outputs on a live handle */
    EXPECT(mqtt_client_poll_transmit(c, buf, sizeof buf, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_poll_transmit(c, NULL, 0, &n), MQTT_STATUS_OK);
    CHECK(n == 0);
    EXPECT(mqtt_client_transmit_len(c, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_poll_timeout(c, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_poll_timeout(c, &t), MQTT_STATUS_OK);
    CHECK(t == MQTT_NO_DEADLINE);
    EXPECT(mqtt_client_poll_event(c, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_state(c, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_last_error(c, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_publish(c, NULL, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_subscribe(c, NULL, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_unsubscribe(c, NULL, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_handle_input(c, NULL, 5, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_handle_input(c, NULL, 0, 0), MQTT_STATUS_OK);
    EXPECT(mqtt_client_handle_input(c, buf, SIZE_MAX, 0), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_client_poll_transmit(c, NULL, 10, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_poll_transmit(c, buf, SIZE_MAX, &n), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_client_state(c, &st), MQTT_STATUS_OK);
    CHECK(st == MQTT_CONNECTION_STATE_DISCONNECTED);

    /* invalid commands */
    memset(&p, 0, sizeof p);
    p.topic = str_view("a/+"); /* wildcard in a topic name */
    EXPECT(mqtt_client_publish(c, &p, 0, NULL), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_client_last_error(c, &v), MQTT_STATUS_OK);
    CHECK(v.len > 0);
    p.topic = str_view("a/b");
    p.qos = 3;
    EXPECT(mqtt_client_publish(c, &p, 0, NULL), MQTT_STATUS_INVALID_ARGUMENT);
    p.qos = 0;
    p.payload.ptr = NULL;
    p.payload.len = 4;
    EXPECT(mqtt_client_publish(c, &p, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    p.payload.len = 0;
    p.payload_format_indicator.present = true;
    p.payload_format_indicator.value = 9;
    EXPECT(mqtt_client_publish(c, &p, 0, NULL), MQTT_STATUS_INVALID_ARGUMENT);
    p.payload_format_indicator.present = false;

    memset(&so, 0, sizeof so);
    EXPECT(mqtt_client_subscribe(c, &so, 0, &pid), MQTT_STATUS_INVALID_ARGUMENT); /* no filters */
    so.filters_len = 1;
    EXPECT(mqtt_client_subscribe(c, &so, 0, &pid), MQTT_STATUS_NULL_ARGUMENT);
    memset(&sub, 0, sizeof sub);
    sub.filter = str_view("a/#");
    sub.retain_handling = 3;
    so.filters = &sub;
    EXPECT(mqtt_client_subscribe(c, &so, 0, &pid), MQTT_STATUS_INVALID_ARGUMENT);
    sub.retain_handling = 0;
    sub.filter = str_view("a/#/b"); /* # not last */
    EXPECT(mqtt_client_subscribe(c, &so, 0, &pid), MQTT_STATUS_INVALID_ARGUMENT);

    memset(&uo, 0, sizeof uo);
    EXPECT(mqtt_client_unsubscribe(c, &uo, 0, &pid), MQTT_STATUS_INVALID_ARGUMENT);
    uo.filters_len = 2;
    EXPECT(mqtt_client_unsubscribe(c, &uo, 0, &pid), MQTT_STATUS_NULL_ARGUMENT);

    memset(&d, 0, sizeof d);
    EXPECT(mqtt_client_disconnect(c, NULL, 0), MQTT_STATUS_NOT_CONNECTED);
    d.reason_code = 0x03; /* not a reason code */
    EXPECT(mqtt_client_disconnect(c, &d, 0), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_client_acknowledge(c, 12345, 0), MQTT_STATUS_UNKNOWN_ACK_TOKEN);

    EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_OK);
    EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_INVALID_STATE);
    EXPECT(mqtt_client_state(c, &st), MQTT_STATUS_OK);
    CHECK(st == MQTT_CONNECTION_STATE_CONNECTING);
    mqtt_client_free(c);
}

/* Reads a big-endian u16. */
static uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static void test_lifecycle_v5(void) {
    uint8_t out[256];
    size_t n;
    uint64_t t = 0, id = 0;
    uint16_t pid = 0, sent_pid;
    mqtt_event ev;
    mqtt_publish_options p;
    mqtt_subscription sub;
    mqtt_subscribe_options so;
    mqtt_unsubscribe_options uo;
    mqtt_user_property up;
    mqtt_bytes_view filter;
    mqtt_connection_state st;
    mqtt_client *c = new_client(MQTT_VERSION_5, "c-test");

    /* CONNECT */
    EXPECT(mqtt_client_connect(c, 1000), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n > 10 && out[0] == 0x10);
    CHECK(memcmp(out + 4, "MQTT\x05", 5) == 0); /* protocol name, level 5 */
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_NONE);

    /* CONNACK with Server Keep Alive 10 and a reason string */
    {
        const uint8_t connack[] = {0x20, 0x0C, 0x00, 0x00, 0x09, 0x13, 0x00, 0x0A,
                                   0x1F, 0x00, 0x03, 'h', 'e', 'y'};
        feed(c, connack, sizeof connack, 1010);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_CONNECTED);
    CHECK(ev.has_reason_code && ev.reason_code == MQTT_RC_SUCCESS);
    CHECK(!ev.session_present);
    CHECK(view_eq(ev.client_id, "c-test"));
    CHECK(ev.keep_alive == 10);
    CHECK(ev.properties.server_keep_alive.present && ev.properties.server_keep_alive.value == 10);
    CHECK(view_eq(ev.properties.reason_string, "hey"));
    CHECK(ev.properties.content_type.ptr == NULL);
    CHECK(ev.properties.user_properties.len == 0);
    CHECK(ev.disconnect_reason == MQTT_DISCONNECT_NONE);
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_NONE);
    EXPECT(mqtt_client_state(c, &st), MQTT_STATUS_OK);
    CHECK(st == MQTT_CONNECTION_STATE_CONNECTED);

    /* SUBSCRIBE / SUBACK */
    memset(&sub, 0, sizeof sub);
    sub.filter = str_view("a/+");
    sub.qos = 1;
    memset(&so, 0, sizeof so);
    so.filters = &sub;
    so.filters_len = 1;
    so.subscription_identifier.present = true;
    so.subscription_identifier.value = 7;
    EXPECT(mqtt_client_subscribe(c, &so, 1020, &pid), MQTT_STATUS_OK);
    CHECK(pid != 0);
    n = drain(c, out, sizeof out);
    CHECK(n > 0 && out[0] == 0x82 && be16(out + 2) == pid);
    {
        uint8_t suback[] = {0x90, 0x04, 0, 0, 0x00, 0x01};
        suback[2] = (uint8_t)(pid >> 8);
        suback[3] = (uint8_t)pid;
        feed(c, suback, sizeof suback, 1030);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_SUBSCRIBED);
    CHECK(ev.packet_id == pid);
    CHECK(ev.reason_codes.len == 1 && ev.reason_codes.ptr[0] == MQTT_RC_GRANTED_QOS_1);

    /* PUBLISH QoS 1 with properties / PUBACK */
    memset(&p, 0, sizeof p);
    p.topic = str_view("a/b");
    p.payload = str_view("hello");
    p.qos = 1;
    p.message_expiry_interval.present = true;
    p.message_expiry_interval.value = 60;
    p.content_type = str_view("text/plain");
    up.key = str_view("k");
    up.value = str_view("v");
    p.user_properties.ptr = &up;
    p.user_properties.len = 1;
    EXPECT(mqtt_client_publish(c, &p, 1040, &id), MQTT_STATUS_OK);
    CHECK(id != 0);
    n = drain(c, out, sizeof out);
    CHECK(n > 0 && out[0] == 0x32);
    sent_pid = be16(out + 2 + 2 + 3);
    CHECK(memmem(out, n, "text/plain", 10) != NULL);
    CHECK(memmem(out, n, "hello", 5) != NULL);
    {
        uint8_t puback[] = {0x40, 0x02, 0, 0};
        puback[2] = (uint8_t)(sent_pid >> 8);
        puback[3] = (uint8_t)sent_pid;
        feed(c, puback, sizeof puback, 1050);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_PUBLISH_COMPLETED);
    CHECK(ev.publish_id == id);
    CHECK(ev.has_reason_code && ev.reason_code == MQTT_RC_SUCCESS);

    /* An incoming QoS 0 PUBLISH with a user property and content type */
    {
        const uint8_t publish[] = {
            0x30, 24, 0x00, 0x03, 'a', '/', 'b', 16,
            0x26, 0x00, 0x02, 'k', '1', 0x00, 0x02, 'v', '1',
            0x03, 0x00, 0x04, 't', 'e', 'x', 't',
            'h', 'i'};
        feed(c, publish, sizeof publish, 1060);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_MESSAGE);
    CHECK(view_eq(ev.message.topic, "a/b"));
    CHECK(view_eq(ev.message.payload, "hi"));
    CHECK(ev.message.qos == 0 && !ev.message.retain && !ev.message.has_ack_token);
    CHECK(ev.properties.user_properties.len == 1);
    if (ev.properties.user_properties.len == 1) {
        CHECK(view_eq(ev.properties.user_properties.ptr[0].key, "k1"));
        CHECK(view_eq(ev.properties.user_properties.ptr[0].value, "v1"));
    }
    CHECK(view_eq(ev.properties.content_type, "text"));
    CHECK(!ev.properties.message_expiry_interval.present);

    /* Keep alive: the deadline is 10 s after the last packet sent */
    EXPECT(mqtt_client_poll_timeout(c, &t), MQTT_STATUS_OK);
    CHECK(t == 1040 + 10000);
    EXPECT(mqtt_client_handle_timeout(c, t - 1), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n == 0);
    EXPECT(mqtt_client_handle_timeout(c, t), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n == 2 && out[0] == 0xC0 && out[1] == 0x00);
    {
        const uint8_t pingresp[] = {0xD0, 0x00};
        feed(c, pingresp, sizeof pingresp, t + 5);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_PONG);

    /* UNSUBSCRIBE / UNSUBACK */
    filter = str_view("a/+");
    memset(&uo, 0, sizeof uo);
    uo.filters = &filter;
    uo.filters_len = 1;
    EXPECT(mqtt_client_unsubscribe(c, &uo, t + 10, &pid), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n > 0 && out[0] == 0xA2 && be16(out + 2) == pid);
    {
        uint8_t unsuback[] = {0xB0, 0x04, 0, 0, 0x00, 0x00};
        unsuback[2] = (uint8_t)(pid >> 8);
        unsuback[3] = (uint8_t)pid;
        feed(c, unsuback, sizeof unsuback, t + 20);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_UNSUBSCRIBED);
    CHECK(ev.packet_id == pid && ev.reason_codes.len == 1 && ev.reason_codes.ptr[0] == 0);

    /* DISCONNECT */
    EXPECT(mqtt_client_disconnect(c, NULL, t + 30), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n >= 2 && out[0] == 0xE0);
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_DISCONNECTED);
    CHECK(ev.disconnect_reason == MQTT_DISCONNECT_LOCAL);
    CHECK(ev.text.len > 0);
    EXPECT(mqtt_client_transport_closed(c, t + 40), MQTT_STATUS_OK);
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_NONE);
    EXPECT(mqtt_client_poll_timeout(c, &t), MQTT_STATUS_OK);
    CHECK(t == MQTT_NO_DEADLINE);
    mqtt_client_free(c);
}

static void test_lifecycle_v311(void) {
    uint8_t out[256];
    size_t n;
    uint64_t id = 0;
    uint16_t sent_pid;
    mqtt_event ev;
    mqtt_publish_options p;
    mqtt_client *c = new_client(MQTT_VERSION_3_1_1, "c-test-311");

    /* A publish queued while disconnected goes out after CONNACK. */
    memset(&p, 0, sizeof p);
    p.topic = str_view("q/1");
    p.payload = str_view("queued");
    p.qos = 1;
    EXPECT(mqtt_client_publish(c, &p, 0, &id), MQTT_STATUS_OK);
    EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n > 10 && out[0] == 0x10 && memcmp(out + 4, "MQTT\x04", 5) == 0);
    {
        const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
        feed(c, connack, sizeof connack, 5);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_CONNECTED && ev.keep_alive == 60);
    n = drain(c, out, sizeof out);
    CHECK(n > 0 && out[0] == 0x32);
    sent_pid = be16(out + 2 + 2 + 3);
    {
        uint8_t puback[] = {0x40, 0x02, 0, 0};
        puback[2] = (uint8_t)(sent_pid >> 8);
        puback[3] = (uint8_t)sent_pid;
        feed(c, puback, sizeof puback, 10);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_PUBLISH_COMPLETED && ev.publish_id == id);

    /* The transport drops: the client reports it and waits for connect. */
    EXPECT(mqtt_client_transport_closed(c, 20), MQTT_STATUS_OK);
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_DISCONNECTED);
    CHECK(ev.disconnect_reason == MQTT_DISCONNECT_TRANSPORT_CLOSED);
    CHECK(!ev.has_reason_code);
    mqtt_client_free(c);
}

/* Reading paused (mqtt_client_set_input_paused): PINGREQ still goes out
 * every keep alive, the unread PINGRESP is no timeout; on resume the wait
 * restarts and a silent server is then noticed. */
static void test_input_paused(void) {
    uint8_t out[64];
    size_t n;
    mqtt_event ev;
    mqtt_client_options o;
    mqtt_client *c = NULL;
    EXPECT(mqtt_client_options_default(&o), MQTT_STATUS_OK);
    o.version = MQTT_VERSION_3_1_1;
    o.client_id = str_view("c-paused");
    o.keep_alive = 10;
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_OK);
    EXPECT(mqtt_client_set_input_paused(NULL, 0, 1), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_OK);
    (void)drain(c, out, sizeof out);
    {
        const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
        feed(c, connack, sizeof connack, 0);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_CONNECTED);
    EXPECT(mqtt_client_handle_timeout(c, 10000), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n == 2 && out[0] == 0xc0);
    EXPECT(mqtt_client_set_input_paused(c, 10500, 1), MQTT_STATUS_OK);
    EXPECT(mqtt_client_handle_timeout(c, 20000), MQTT_STATUS_OK); /* past the PINGRESP wait */
    n = drain(c, out, sizeof out);
    CHECK(n == 2 && out[0] == 0xc0); /* the next PINGREQ, still connected */
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_NONE);
    EXPECT(mqtt_client_set_input_paused(c, 21000, 0), MQTT_STATUS_OK);
    EXPECT(mqtt_client_handle_timeout(c, 30999), MQTT_STATUS_OK);
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_NONE);
    EXPECT(mqtt_client_handle_timeout(c, 31000), MQTT_STATUS_OK); /* 10 s after resuming */
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_DISCONNECTED && ev.disconnect_reason == MQTT_DISCONNECT_KEEP_ALIVE_TIMEOUT);
    mqtt_client_free(c);
}

static void test_refused_and_violation(void) {
    uint8_t out[256];
    size_t n;
    mqtt_event ev;
    mqtt_client *c = new_client(MQTT_VERSION_5, "refused");

    EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_OK);
    (void)drain(c, out, sizeof out);
    {
        const uint8_t connack[] = {0x20, 0x03, 0x00, 0x87, 0x00}; /* Not authorized */
        feed(c, connack, sizeof connack, 1);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_DISCONNECTED);
    CHECK(ev.disconnect_reason == MQTT_DISCONNECT_REFUSED);
    CHECK(ev.has_reason_code && ev.reason_code == MQTT_RC_NOT_AUTHORIZED);

    /* Again, and this time the server sends a reserved packet type. */
    EXPECT(mqtt_client_connect(c, 100), MQTT_STATUS_OK);
    (void)drain(c, out, sizeof out);
    {
        const uint8_t connack[] = {0x20, 0x03, 0x00, 0x00, 0x00};
        const uint8_t junk[] = {0x00, 0x00};
        feed(c, connack, sizeof connack, 101);
        ev = next_event(c);
        CHECK(ev.kind == MQTT_EVENT_CONNECTED);
        feed(c, junk, sizeof junk, 102);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_DISCONNECTED);
    CHECK(ev.disconnect_reason == MQTT_DISCONNECT_PROTOCOL_VIOLATION);
    CHECK(ev.has_reason_code && ev.reason_code == MQTT_RC_MALFORMED_PACKET);
    CHECK(ev.text.len > 0);
    n = drain(c, out, sizeof out);
    CHECK(n >= 3 && out[0] == 0xE0 && out[2] == MQTT_RC_MALFORMED_PACKET);

    /* Connect timeout at the deadline. */
    {
        uint64_t t = 0;
        EXPECT(mqtt_client_connect(c, 1000), MQTT_STATUS_OK);
        EXPECT(mqtt_client_poll_timeout(c, &t), MQTT_STATUS_OK);
        CHECK(t == 1000 + 30000);
        EXPECT(mqtt_client_handle_timeout(c, t), MQTT_STATUS_OK);
        ev = next_event(c);
        CHECK(ev.kind == MQTT_EVENT_DISCONNECTED);
        CHECK(ev.disconnect_reason == MQTT_DISCONNECT_CONNECT_TIMEOUT);
    }
    mqtt_client_free(c);
}

/* Enhanced authentication (5.0): CONNECT carries the method, the server
 * challenges with AUTH 0x18, the client answers, CONNACK accepts. */
static void test_enhanced_auth(void) {
    uint8_t out[256];
    size_t n;
    mqtt_event ev;
    mqtt_client_options o;
    mqtt_client *c = NULL;
    mqtt_user_properties none = {NULL, 0};
    EXPECT(mqtt_client_options_default(&o), MQTT_STATUS_OK);
    o.client_id = str_view("auth");
    o.authentication_method = str_view("M");
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_OK);
    EXPECT(mqtt_client_authenticate(c, str_view("x"), str_view("r"), none, 0), MQTT_STATUS_NOT_CONNECTED);
    EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n > 0 && memmem(out, n, "\x15\x00\x01M", 4) != NULL); /* Authentication Method */
    EXPECT(mqtt_client_authenticate(c, str_view("x"), str_view("r"), none, 1), MQTT_STATUS_INVALID_STATE);
    {
        /* AUTH 0x18, method "M", data "c1" */
        const uint8_t auth[] = {0xF0, 0x0B, 0x18, 0x09, 0x15, 0x00, 0x01, 'M', 0x16, 0x00, 0x02, 'c', '1'};
        feed(c, auth, sizeof auth, 2);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_AUTH_CHALLENGE);
    CHECK(ev.has_reason_code && ev.reason_code == MQTT_RC_CONTINUE_AUTHENTICATION);
    CHECK(view_eq(ev.properties.authentication_method, "M"));
    CHECK(view_eq(ev.properties.authentication_data, "c1"));
    EXPECT(mqtt_client_authenticate(c, str_view("r1"), str_view("because"), none, 3), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n > 3 && out[0] == 0xF0 && out[2] == 0x18 && memmem(out, n, "r1", 2) != NULL);
    {
        const uint8_t connack[] = {0x20, 0x07, 0x00, 0x00, 0x04, 0x15, 0x00, 0x01, 'M'};
        feed(c, connack, sizeof connack, 4);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_CONNECTED);
    CHECK(view_eq(ev.properties.authentication_method, "M"));
    mqtt_client_free(c);
}

/* Manual acknowledgement: a QoS 1 message is acknowledged only when the
 * application says so, with the token from the event. */
static void test_manual_ack(void) {
    uint8_t out[256];
    size_t n;
    mqtt_event ev;
    mqtt_client_options o;
    mqtt_client *c = NULL;
    uint64_t token;
    EXPECT(mqtt_client_options_default(&o), MQTT_STATUS_OK);
    o.version = MQTT_VERSION_3_1_1;
    o.client_id = str_view("manual");
    o.manual_ack = true;
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_OK);
    EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_OK);
    (void)drain(c, out, sizeof out);
    {
        const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
        /* QoS 1 PUBLISH "t" id 9 payload "p" */
        const uint8_t publish[] = {0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x09, 'p'};
        feed(c, connack, sizeof connack, 1);
        ev = next_event(c);
        CHECK(ev.kind == MQTT_EVENT_CONNECTED);
        feed(c, publish, sizeof publish, 2);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_MESSAGE && ev.message.qos == 1 && ev.message.packet_id == 9);
    CHECK(ev.message.has_ack_token);
    token = ev.message.ack_token;
    n = drain(c, out, sizeof out);
    CHECK(n == 0); /* no PUBACK yet */
    EXPECT(mqtt_client_acknowledge(c, token, 3), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n == 4 && out[0] == 0x40 && out[3] == 9);
    mqtt_client_free(c);
}

/* Touches every byte a view points to, so the sanitizers and valgrind see
 * a dangling or short view. */
static unsigned touch(mqtt_bytes_view v) {
    unsigned sum = 0;
    size_t i;
    for (i = 0; i < v.len; i++) sum += v.ptr[i];
    return sum;
}

static unsigned touch_event(const mqtt_event *ev) {
    unsigned sum = touch(ev->client_id) + touch(ev->reason_codes) + touch(ev->text) +
                   touch(ev->message.topic) + touch(ev->message.payload) +
                   touch(ev->properties.content_type) + touch(ev->properties.response_topic) +
                   touch(ev->properties.correlation_data) + touch(ev->properties.reason_string) +
                   touch(ev->properties.assigned_client_identifier) +
                   touch(ev->properties.server_reference) + touch(ev->properties.authentication_data);
    size_t i;
    for (i = 0; i < ev->properties.user_properties.len; i++)
        sum += touch(ev->properties.user_properties.ptr[i].key) +
               touch(ev->properties.user_properties.ptr[i].value);
    for (i = 0; i < ev->properties.subscription_identifiers_len; i++)
        sum += ev->properties.subscription_identifiers[i];
    return sum;
}

/* Arbitrary server bytes after a CONNACK, in arbitrary chunks, with
 * commands and timers between: every call answers with a status, every
 * view is readable. Deterministic (a fixed linear congruential sequence). */
static void test_arbitrary_input(void) {
    uint32_t x = 12345u;
    unsigned seed, sink = 0;
    for (seed = 0; seed < 300; seed++) {
        mqtt_client *c = new_client(seed % 2 ? MQTT_VERSION_5 : MQTT_VERSION_3_1_1, "fuzz");
        uint8_t in[512], out[128];
        size_t n, len, i;
        uint64_t now = 0, t;
        mqtt_event ev;
        mqtt_publish_options p;
        EXPECT(mqtt_client_connect(c, now), MQTT_STATUS_OK);
        (void)drain(c, out, sizeof out);
        in[0] = 0x20;
        in[1] = seed % 2 ? 3 : 2;
        in[2] = 0;
        in[3] = 0;
        in[4] = 0;
        len = 5 + 100 + seed % 400;
        /* Mostly plausible packet types, some garbage. */
        for (i = 5; i < len; i++) {
            x = x * 1103515245u + 12345u;
            in[i] = (uint8_t)(x >> 16);
            if (i % 23 == 5) in[i] = (uint8_t)((in[i] & 0x0F) | 0x30);
        }
        memset(&p, 0, sizeof p);
        p.topic = str_view("t");
        p.payload = str_view("x");
        p.qos = (uint8_t)(seed % 3);
        for (i = seed % 2 ? 5 : 4; i < len;) {
            size_t chunk = 1 + (i * 7 + seed) % 37;
            mqtt_status st;
            if (chunk > len - i) chunk = len - i;
            EXPECT(mqtt_client_handle_input(c, in + i, chunk, ++now), MQTT_STATUS_OK);
            i += chunk;
            do {
                EXPECT(mqtt_client_poll_event(c, &ev), MQTT_STATUS_OK);
                sink += touch_event(&ev);
            } while (ev.kind != MQTT_EVENT_NONE);
            do {
                EXPECT(mqtt_client_poll_transmit(c, out, sizeof out, &n), MQTT_STATUS_OK);
            } while (n > 0);
            st = mqtt_client_publish(c, &p, ++now, NULL);
            CHECK(st == MQTT_STATUS_OK || st == MQTT_STATUS_QUEUE_FULL || st == MQTT_STATUS_NOT_CONNECTED ||
                  st == MQTT_STATUS_QOS_NOT_SUPPORTED || st == MQTT_STATUS_RETAIN_NOT_SUPPORTED ||
                  st == MQTT_STATUS_PACKET_TOO_LARGE);
            EXPECT(mqtt_client_poll_timeout(c, &t), MQTT_STATUS_OK);
            if (t != MQTT_NO_DEADLINE && t <= now + 1000) EXPECT(mqtt_client_handle_timeout(c, t), MQTT_STATUS_OK);
        }
        mqtt_client_free(c);
    }
    CHECK(sink != 1); /* keeps the reads */
}

static void test_panic_is_a_status(void) {
    EXPECT(mqtt_test_panic(), MQTT_STATUS_PANIC);
    /* and the program goes on */
    EXPECT(mqtt_test_panic(), MQTT_STATUS_PANIC);
    {
        /* A panic on a handle poisons it: every later call says so, and
         * it can still be freed. */
        mqtt_client *c = new_client(MQTT_VERSION_5, "panic");
        mqtt_event ev;
        mqtt_bytes_view v;
        EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_OK);
        EXPECT(mqtt_client_test_panic(c), MQTT_STATUS_PANIC);
        EXPECT(mqtt_client_poll_event(c, &ev), MQTT_STATUS_PANIC);
        EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_PANIC);
        EXPECT(mqtt_client_last_error(c, &v), MQTT_STATUS_OK);
        CHECK(v.len > 0);
        mqtt_client_free(c);
    }
}

int main(void) {
    test_null_and_invalid_arguments();
    test_lifecycle_v5();
    test_lifecycle_v311();
    test_refused_and_violation();
    test_input_paused();
    test_enhanced_auth();
    test_manual_ack();
    test_arbitrary_input();
    test_panic_is_a_status();
    if (failures) {
        fprintf(stderr, "test_client: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("test_client: all %d checks passed\n", checks);
    return 0;
}
