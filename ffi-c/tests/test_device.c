/*
 * C tests of what a device needs beside the client state machine, run by
 * `make c-test` under AddressSanitizer + UndefinedBehaviorSanitizer and
 * under valgrind (hosted build; the bare-metal build runs the same API in
 * QEMU, ffi-c/firmware/):
 *
 * 1. Session export into a caller buffer and import into a new client
 *    after a "reboot": a QoS 1 message in flight is sent again with DUP and
 *    completed; damaged bytes and a wrong state are refused.
 * 2. Client statistics.
 * 3. Topic name / filter checks and matching.
 * 4. The reconnect backoff with caller-supplied jitter.
 * 5. The log hook and the panic hook; the allocator is refused in a
 *    hosted build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"
#include "check.h"

/* Built with the test-panic feature only; not part of the header. */
mqtt_status mqtt_client_test_panic(mqtt_client *c);

static size_t drain(mqtt_client *c, uint8_t *buf, size_t cap) {
    size_t n = 0;
    EXPECT(mqtt_client_poll_transmit(c, buf, cap, &n), MQTT_STATUS_OK);
    return n;
}

static void feed(mqtt_client *c, const uint8_t *bytes, size_t len, uint64_t now) {
    EXPECT(mqtt_client_handle_input(c, bytes, len, now), MQTT_STATUS_OK);
}

static mqtt_event next_event(mqtt_client *c) {
    mqtt_event ev;
    memset(&ev, 0xAB, sizeof ev);
    EXPECT(mqtt_client_poll_event(c, &ev), MQTT_STATUS_OK);
    return ev;
}

/* A 5.0 client with a session that outlives the connection. */
static mqtt_client *persistent_client(void) {
    mqtt_client_options o;
    mqtt_client *c = NULL;
    EXPECT(mqtt_client_options_default(&o), MQTT_STATUS_OK);
    o.client_id = str_view("sensor-7");
    o.clean_start = false;
    o.session_expiry_interval = 3600;
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_OK);
    CHECK(c != NULL);
    return c;
}

/* CONNECT out, then a CONNACK with the given Session Present flag. */
static void connect_with(mqtt_client *c, uint8_t session_present, uint64_t now) {
    uint8_t out[128];
    const uint8_t connack[] = {0x20, 0x03, session_present, 0x00, 0x00};
    mqtt_event ev;
    EXPECT(mqtt_client_connect(c, now), MQTT_STATUS_OK);
    CHECK(drain(c, out, sizeof out) > 0 && out[0] == 0x10);
    feed(c, connack, sizeof connack, now + 1);
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_CONNECTED);
    CHECK(ev.session_present == (session_present != 0));
}

static void test_session_survives_reboot(void) {
    static uint8_t flash[512]; /* where a device would keep it */
    uint8_t out[256];
    size_t n, len = 0, needed = 0;
    uint64_t id = 0;
    uint16_t pid;
    mqtt_publish_options p;
    mqtt_event ev;
    mqtt_client_stats st;
    mqtt_client *c = persistent_client();

    connect_with(c, 0, 1000);
    memset(&p, 0, sizeof p);
    p.topic = str_view("meter/7");
    p.payload = str_view("42 kWh");
    p.qos = 1;
    EXPECT(mqtt_client_publish(c, &p, 1010, &id), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n > 4 && out[0] == 0x32); /* PUBLISH QoS 1, no DUP */
    pid = (uint16_t)((out[2 + 2 + 7] << 8) | out[2 + 2 + 7 + 1]);
    CHECK(pid != 0);
    /* The PUBACK never comes: the device loses power. */

    EXPECT(mqtt_client_get_stats(c, &st), MQTT_STATUS_OK);
    CHECK(st.connections == 1);
    CHECK(st.messages_sent[1] == 1);
    CHECK(st.inflight == 1);
    CHECK(st.packets_received == 1);
    CHECK(st.bytes_received == 5);

    /* Too small a buffer: the size needed, nothing written. */
    EXPECT(mqtt_client_session_export(c, NULL, 0, &needed), MQTT_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed > 0 && needed <= sizeof flash);
    EXPECT(mqtt_client_session_export(c, flash, needed - 1, &len), MQTT_STATUS_BUFFER_TOO_SMALL);
    CHECK(len == needed);
    EXPECT(mqtt_client_session_export(c, flash, sizeof flash, &len), MQTT_STATUS_OK);
    CHECK(len == needed);
    EXPECT(mqtt_client_session_export(c, flash, sizeof flash, NULL), MQTT_STATUS_NULL_ARGUMENT);
    /* Import needs a disconnected client. */
    EXPECT(mqtt_client_session_import(c, 1020, flash, len), MQTT_STATUS_INVALID_STATE);
    mqtt_client_free(c);

    /* After the reboot: a new handle, the session from "flash". */
    c = persistent_client();
    /* Damaged or cut bytes are refused and change nothing. */
    EXPECT(mqtt_client_session_import(c, 5000, flash, len - 1), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_client_session_import(c, 5000, flash + 1, len - 1), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_client_session_import(c, 5000, NULL, len), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_session_import(c, 5000, flash, len), MQTT_STATUS_OK);
    EXPECT(mqtt_client_get_stats(c, &st), MQTT_STATUS_OK);
    CHECK(st.queued + st.inflight == 1);

    /* The server kept the session: the message goes again, with DUP. */
    EXPECT(mqtt_client_connect(c, 5000), MQTT_STATUS_OK);
    n = drain(c, out, sizeof out);
    CHECK(n > 0 && out[0] == 0x10);
    {
        const uint8_t connack[] = {0x20, 0x03, 0x01, 0x00, 0x00};
        feed(c, connack, sizeof connack, 5001);
    }
    ev = next_event(c);
    CHECK(ev.kind == MQTT_EVENT_CONNECTED && ev.session_present);
    n = drain(c, out, sizeof out);
    CHECK(n > 4 && out[0] == 0x3A); /* PUBLISH QoS 1 with DUP */
    CHECK((uint16_t)((out[2 + 2 + 7] << 8) | out[2 + 2 + 7 + 1]) == pid);
    CHECK(n > 6 && memcmp(out + n - 6, "42 kWh", 6) == 0);
    {
        const uint8_t puback[] = {0x40, 0x02, (uint8_t)(pid >> 8), (uint8_t)pid};
        feed(c, puback, sizeof puback, 5002);
    }
    do {
        ev = next_event(c);
    } while (ev.kind != MQTT_EVENT_NONE && ev.kind != MQTT_EVENT_PUBLISH_COMPLETED);
    CHECK(ev.kind == MQTT_EVENT_PUBLISH_COMPLETED);
    CHECK(ev.publish_id == id);
    CHECK(ev.has_reason_code && ev.reason_code == MQTT_RC_SUCCESS);
    EXPECT(mqtt_client_get_stats(c, &st), MQTT_STATUS_OK);
    CHECK(st.inflight == 0 && st.queued == 0);
    CHECK(st.retransmits == 1);
    EXPECT(mqtt_client_get_stats(c, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_client_get_stats(NULL, &st), MQTT_STATUS_NULL_ARGUMENT);
    mqtt_client_free(c);
}

static int matches(const char *filter, const char *topic) {
    bool m = false;
    EXPECT(mqtt_topic_matches(str_view(filter), str_view(topic), &m), MQTT_STATUS_OK);
    return m;
}

static void test_topics(void) {
    bool m = true;
    const uint8_t bad_utf8[] = {'a', 0xFF};
    mqtt_bytes_view bad = {bad_utf8, sizeof bad_utf8};

    EXPECT(mqtt_topic_name_check(str_view("sensors/kitchen/temp")), MQTT_STATUS_OK);
    EXPECT(mqtt_topic_name_check(str_view("")), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_topic_name_check(str_view("a/+/b")), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_topic_name_check(str_view("a/#")), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_topic_name_check(bad), MQTT_STATUS_INVALID_ARGUMENT);
    {
        mqtt_bytes_view null_with_len = {NULL, 3};
        EXPECT(mqtt_topic_name_check(null_with_len), MQTT_STATUS_NULL_ARGUMENT);
    }

    EXPECT(mqtt_topic_filter_check(str_view("a/+/c/#")), MQTT_STATUS_OK);
    EXPECT(mqtt_topic_filter_check(str_view("$share/g/a/#")), MQTT_STATUS_OK);
    EXPECT(mqtt_topic_filter_check(str_view("a/#/c")), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_topic_filter_check(str_view("a/b+")), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_topic_filter_check(str_view("$share/g")), MQTT_STATUS_INVALID_ARGUMENT);

    CHECK(matches("sport/tennis/+", "sport/tennis/player1"));
    CHECK(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
    CHECK(matches("sport/#", "sport"));                /* [MQTT-4.7.1-2] */
    CHECK(matches("sport/#", "sport/tennis/player1"));
    CHECK(matches("+/+", "/finance"));
    CHECK(!matches("#", "$SYS/uptime"));               /* [MQTT-4.7.2-1] */
    CHECK(!matches("+/monitor", "$SYS/monitor"));
    CHECK(matches("$SYS/#", "$SYS/uptime"));
    CHECK(!matches("a/b", "a/c"));
    EXPECT(mqtt_topic_matches(str_view("a/#/b"), str_view("a/x/b"), &m), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_topic_matches(str_view("a/+"), str_view("a/+"), &m), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_topic_matches(str_view("a/+"), str_view("a/b"), NULL), MQTT_STATUS_NULL_ARGUMENT);
    CHECK(m); /* not written on error */
}

static void test_backoff(void) {
    mqtt_backoff b;
    uint64_t d = 0;
    uint32_t i;
    EXPECT(mqtt_backoff_init(&b, 1000, 60000), MQTT_STATUS_OK);
    CHECK(b.attempt == 0 && b.multiplier == 2);
    /* Equal jitter: between half the cap and the cap, set by `random`. */
    EXPECT(mqtt_backoff_next(&b, 0, &d), MQTT_STATUS_OK);
    CHECK(d >= 500 && d <= 1000);
    EXPECT(mqtt_backoff_next(&b, UINT32_MAX, &d), MQTT_STATUS_OK);
    CHECK(d >= 1000 && d <= 2000);
    for (i = 0; i < 40; i++)
        EXPECT(mqtt_backoff_next(&b, i * 2654435761u, &d), MQTT_STATUS_OK);
    CHECK(d >= 30000 && d <= 60000); /* capped, never overflows */
    CHECK(b.attempt == 42);
    EXPECT(mqtt_backoff_reset(&b), MQTT_STATUS_OK);
    EXPECT(mqtt_backoff_next(&b, 12345, &d), MQTT_STATUS_OK);
    CHECK(d >= 500 && d <= 1000);
    {
        /* Deterministic: the same inputs, the same delay. */
        mqtt_backoff a, c;
        uint64_t da = 0, dc = 0;
        EXPECT(mqtt_backoff_init(&a, 100, 10000), MQTT_STATUS_OK);
        c = a;
        EXPECT(mqtt_backoff_next(&a, 777, &da), MQTT_STATUS_OK);
        EXPECT(mqtt_backoff_next(&c, 777, &dc), MQTT_STATUS_OK);
        CHECK(da == dc);
    }
    EXPECT(mqtt_backoff_init(&b, 0, 100), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_backoff_init(&b, 200, 100), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_backoff_init(NULL, 1, 100), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_backoff_next(&b, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_backoff_reset(NULL), MQTT_STATUS_NULL_ARGUMENT);
}

/* What the log hook received. */
static int log_calls;
static mqtt_log_level last_level;
static char last_message[256];

static void log_hook(void *ctx, mqtt_log_level level, mqtt_bytes_view msg) {
    size_t n = msg.len < sizeof last_message - 1 ? msg.len : sizeof last_message - 1;
    CHECK(ctx == &log_calls);
    log_calls++;
    last_level = level;
    memcpy(last_message, msg.ptr, n);
    last_message[n] = 0;
}

static int panic_calls;

static void panic_hook(void *ctx, mqtt_bytes_view file, uint32_t line) {
    CHECK(ctx == &panic_calls);
    /* Hosted builds catch the panic: no location, and the call returns. */
    CHECK(file.ptr == NULL && line == 0);
    panic_calls++;
}

static void *never_alloc(void *ctx, size_t size, size_t align) {
    (void)ctx, (void)size, (void)align;
    return NULL;
}

static void never_free(void *ctx, void *ptr, size_t size, size_t align) {
    (void)ctx, (void)ptr, (void)size, (void)align;
}

static void test_hooks(void) {
    mqtt_client *c = persistent_client();
    mqtt_publish_options p;
    uint64_t id;

    /* Warnings: a refused call logs the text *_last_error gives. */
    EXPECT(mqtt_set_log_hook(log_hook, &log_calls, MQTT_LOG_WARN), MQTT_STATUS_OK);
    memset(&p, 0, sizeof p);
    p.topic = str_view("a/+");
    EXPECT(mqtt_client_publish(c, &p, 0, &id), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(log_calls == 1);
    CHECK(last_level == MQTT_LOG_WARN);
    CHECK(strstr(last_message, "topic") != NULL);
    /* Below the level set: nothing. */
    EXPECT(mqtt_set_log_hook(log_hook, &log_calls, MQTT_LOG_ERROR), MQTT_STATUS_OK);
    EXPECT(mqtt_client_publish(c, &p, 0, &id), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(log_calls == 1);
    EXPECT(mqtt_set_log_hook(log_hook, &log_calls, (mqtt_log_level)9), MQTT_STATUS_INVALID_ARGUMENT);

    /* A caught panic: logged as an error, and the panic hook runs. */
    EXPECT(mqtt_set_panic_hook(panic_hook, &panic_calls), MQTT_STATUS_OK);
    EXPECT(mqtt_client_test_panic(c), MQTT_STATUS_PANIC);
    CHECK(panic_calls == 1);
    CHECK(log_calls == 2 && last_level == MQTT_LOG_ERROR);
    EXPECT(mqtt_set_panic_hook(NULL, NULL), MQTT_STATUS_OK);
    EXPECT(mqtt_set_log_hook(NULL, NULL, MQTT_LOG_DEBUG), MQTT_STATUS_OK);
    EXPECT(mqtt_client_publish(c, &p, 0, &id), MQTT_STATUS_PANIC);
    CHECK(log_calls == 2 && panic_calls == 1);
    mqtt_client_free(c);

    /* Hosted builds use the system allocator. */
    {
        mqtt_allocator a;
        a.alloc = never_alloc;
        a.free = never_free;
        a.ctx = NULL;
        EXPECT(mqtt_set_allocator(&a), MQTT_STATUS_INVALID_STATE);
        a.alloc = NULL;
        EXPECT(mqtt_set_allocator(&a), MQTT_STATUS_NULL_ARGUMENT);
        EXPECT(mqtt_set_allocator(NULL), MQTT_STATUS_NULL_ARGUMENT);
    }
    /* ... and still work. */
    c = persistent_client();
    connect_with(c, 0, 0);
    mqtt_client_free(c);
}

int main(void) {
    test_session_survives_reboot();
    test_topics();
    test_backoff();
    test_hooks();
    if (failures) {
        fprintf(stderr, "test_device: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("test_device: all %d checks passed\n", checks);
    return 0;
}
