/*
 * test_firmware.c: libmqtt on bare metal, tested under QEMU (mps2-an385,
 * Cortex-M3) by `make c-firmware-test`.
 *
 * One image holds the library's client (mqtt_client_*) and broker engine
 * (mqtt_broker_*), built without std (features firmware,client,server).
 * The "network" is in memory: bytes are copied from each client's
 * mqtt_client_poll_transmit into mqtt_broker_handle_input, and from
 * mqtt_broker_poll_output into the right client's mqtt_client_handle_input.
 * Time is a tick counter that the test advances by hand.
 *
 * The platform hooks come first: a counting allocator over newlib-nano's
 * malloc (bytes in use and high-water mark), a panic hook (prints where
 * and fails the run) and a log hook (prints). Then, every step checked:
 *
 *   1. the heap one connected client needs, measured alone;
 *   2. "dev1" (MQTT 5.0, with a will carrying 5.0 properties), "app"
 *      (3.1.1) and "mon" (5.0, an observer: a 3.1.1 subscriber cannot
 *      see properties, so mon checks them) connect; subscriptions;
 *   3. PUBLISH QoS 0, 1 and 2 both ways, dev1's with 5.0 properties (user
 *      property, content type, message expiry), which arrive intact;
 *   4. keep alive from the fake clock: at dev1's deadline a PINGREQ goes
 *      out and the PINGRESP comes back;
 *   5. a malformed packet on a raw connection (a PUBLISH with QoS 3): the
 *      broker answers DISCONNECT 0x81 (Malformed Packet) and closes;
 *   6. dev1 is cut without DISCONNECT: its will reaches the subscribers;
 *   7. a session survives a reboot: a QoS 1 publish whose PUBACK is lost,
 *      the session exported to "flash", the handle freed, a new handle
 *      imports it, reconnects, resends the PUBLISH (DUP) and completes it;
 *   8. everything freed: no byte of the heap is left in use;
 *   9. a durable broker (persistence on): its store written to "flash"
 *      in 64-byte pages before its output, the broker freed, a new one
 *      restored from the flash hands a kept session its queued QoS 1
 *      message; nothing left on the heap.
 *
 * It prints `heap-hwm-client: N`, `heap-hwm: N` and `stack-hwm: N`
 * (bytes) for the size report, and exits non-zero if any check failed:
 * QEMU's exit status is the program's (semihosting, see startup.c).
 */
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"
#include "board.h"

/* ----- checks ---------------------------------------------------------- */

/* CHECK, EXPECT and str_view: the harness of the hosted C tests (failures
 * go to stderr, which semihosting prints like stdout). */
#include "check.h"

#define EXPECT_OK(expr) EXPECT(expr, MQTT_STATUS_OK)

/* Copies a view into a NUL-terminated buffer (cut to fit). */
static void copy_view(char *dst, size_t cap, mqtt_bytes_view v) {
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    if (n > 0 && v.ptr != NULL)
        memcpy(dst, v.ptr, n);
    dst[n] = '\0';
}

/* ----- platform hooks -------------------------------------------------- */

/* The counting allocator: libmqtt's every byte comes through here. */
static struct {
    size_t current;    /* bytes in use now */
    size_t high_water; /* most bytes in use at once */
    size_t peak;       /* most bytes in use since the last heap_mark() */
    unsigned long allocs, frees, failed;
} heap;

static void *heap_alloc(void *ctx, size_t size, size_t align) {
    void *p;
    (void)ctx;
    /* newlib's malloc aligns to 8 bytes; larger alignments need memalign. */
    p = align <= 8 ? malloc(size ? size : 1) : memalign(align, size ? size : 1);
    if (p == NULL) {
        heap.failed++;
        return NULL;
    }
    heap.allocs++;
    heap.current += size;
    if (heap.current > heap.high_water)
        heap.high_water = heap.current;
    if (heap.current > heap.peak)
        heap.peak = heap.current;
    return p;
}

static void heap_free(void *ctx, void *ptr, size_t size, size_t align) {
    (void)ctx, (void)align;
    heap.frees++;
    heap.current -= size;
    free(ptr);
}

/* Starts a peak measurement: returns the bytes in use now. */
static size_t heap_mark(void) {
    heap.peak = heap.current;
    return heap.current;
}

/* A panic in the library is a bug: report where, fail the run. */
static void on_panic(void *ctx, mqtt_bytes_view file, uint32_t line) {
    (void)ctx;
    printf("PANIC in libmqtt at %.*s:%lu\n", (int)file.len, (const char *)file.ptr,
           (unsigned long)line);
    fflush(stdout);
    board_exit(3);
}

static void on_log(void *ctx, mqtt_log_level level, mqtt_bytes_view msg) {
    static const char *const names[] = {"?", "error", "warn", "info", "debug"};
    (void)ctx;
    printf("  [libmqtt %s] %.*s\n", names[level <= 4 ? level : 0], (int)msg.len,
           (const char *)msg.ptr);
}

/* ----- the in-memory network ------------------------------------------- */

/* Splits a byte stream into MQTT packets (fixed header and Remaining
 * Length), whatever the chunking, and counts them by type: what went over
 * the "wire" can then be checked (PINGREQ, PUBLISH with DUP, ...). */
typedef struct {
    int state; /* 0: fixed header byte next, 1: Remaining Length, 2: body */
    uint32_t remaining, multiplier;
    unsigned count[16];     /* packets seen, by type (MQTT_PACKET_*) */
    unsigned dup_publishes; /* PUBLISH packets with the DUP flag */
} stream_t;

static void stream_feed(stream_t *s, const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s->state == 0) {
            uint8_t h = p[i++];
            s->count[h >> 4]++;
            if ((h >> 4) == MQTT_PACKET_PUBLISH && (h & 0x08))
                s->dup_publishes++;
            s->remaining = 0;
            s->multiplier = 1;
            s->state = 1;
        } else if (s->state == 1) {
            uint8_t b = p[i++];
            s->remaining += (uint32_t)(b & 0x7F) * s->multiplier;
            s->multiplier *= 128;
            if (!(b & 0x80))
                s->state = s->remaining > 0 ? 2 : 0;
        } else {
            size_t take = n - i < s->remaining ? n - i : s->remaining;
            i += take;
            s->remaining -= (uint32_t)take;
            if (s->remaining == 0)
                s->state = 0;
        }
    }
}

#define MAX_MSGS 12

/* A message a client received, copied out of its event (event views only
 * live until the next call on the client). */
typedef struct {
    char topic[40], payload[40], content_type[24], prop_key[16], prop_value[16];
    uint8_t qos;
    bool has_expiry;
    uint32_t expiry;
    size_t user_properties;
} msg_t;

/* One end of a transport: a client, or a raw connection driven by hand. */
typedef struct {
    const char *name;
    mqtt_client *client; /* NULL: raw, the test writes its bytes */
    uint64_t conn;       /* the broker's id of the transport; 0: closed */
    bool drop_rx;        /* the link loses what the broker sends */
    stream_t tx, rx;     /* packets client -> broker, broker -> client */
    /* what the client reported */
    int connected, disconnected, subscribed, pongs, completed, nmsgs;
    bool session_present;
    mqtt_disconnect_reason disconnect_reason;
    uint64_t last_completed_id;
    uint8_t last_completed_rc;
    msg_t msgs[MAX_MSGS];
    /* a raw connection: the bytes the broker sent it */
    uint8_t raw[256];
    size_t raw_len;
} peer_t;

#define MAX_PEERS 8
static peer_t peers[MAX_PEERS];
static int npeers;
static mqtt_broker *broker;
static uint64_t now = 1000; /* the fake clock, milliseconds */
static uint8_t wire[1024];  /* one chunk in flight */

static peer_t *peer_of(uint64_t conn) {
    int i;
    for (i = 0; i < npeers; i++)
        if (peers[i].conn == conn)
            return &peers[i];
    return NULL;
}

static void read_events(peer_t *p) {
    mqtt_event ev;
    for (;;) {
        EXPECT_OK(mqtt_client_poll_event(p->client, &ev));
        if (ev.kind == MQTT_EVENT_NONE)
            return;
        switch (ev.kind) {
        case MQTT_EVENT_CONNECTED:
            p->connected++;
            p->session_present = ev.session_present;
            break;
        case MQTT_EVENT_DISCONNECTED:
            p->disconnected++;
            p->disconnect_reason = ev.disconnect_reason;
            break;
        case MQTT_EVENT_SUBSCRIBED:
            p->subscribed++;
            break;
        case MQTT_EVENT_PONG:
            p->pongs++;
            break;
        case MQTT_EVENT_PUBLISH_COMPLETED:
            p->completed++;
            p->last_completed_id = ev.publish_id;
            p->last_completed_rc = ev.reason_code;
            break;
        case MQTT_EVENT_MESSAGE:
            if (p->nmsgs < MAX_MSGS) {
                msg_t *m = &p->msgs[p->nmsgs];
                const mqtt_properties *pr = &ev.properties;
                memset(m, 0, sizeof *m);
                copy_view(m->topic, sizeof m->topic, ev.message.topic);
                copy_view(m->payload, sizeof m->payload, ev.message.payload);
                copy_view(m->content_type, sizeof m->content_type, pr->content_type);
                m->qos = ev.message.qos;
                m->has_expiry = pr->message_expiry_interval.present;
                m->expiry = pr->message_expiry_interval.value;
                m->user_properties = pr->user_properties.len;
                if (pr->user_properties.len > 0) {
                    copy_view(m->prop_key, sizeof m->prop_key, pr->user_properties.ptr[0].key);
                    copy_view(m->prop_value, sizeof m->prop_value,
                              pr->user_properties.ptr[0].value);
                }
            }
            p->nmsgs++;
            break;
        default:
            break;
        }
    }
}

/* Moves bytes until nobody has any left, closes the transports the broker
 * asks to close, then collects every client's events. */
static void pump(void) {
    int moved = 1, rounds = 0, i;
    while (moved && rounds++ < 100) {
        size_t n = 0;
        uint64_t conn = 0;
        moved = 0;
        for (i = 0; i < npeers; i++) {
            peer_t *p = &peers[i];
            if (p->client == NULL || p->conn == 0)
                continue;
            for (;;) {
                EXPECT_OK(mqtt_client_poll_transmit(p->client, wire, sizeof wire, &n));
                if (n == 0)
                    break;
                stream_feed(&p->tx, wire, n);
                EXPECT_OK(mqtt_broker_handle_input(broker, p->conn, wire, n, now));
                moved = 1;
            }
        }
        for (;;) {
            peer_t *p;
            EXPECT_OK(mqtt_broker_poll_output(broker, &conn, wire, sizeof wire, &n));
            if (n == 0)
                break;
            moved = 1;
            p = peer_of(conn);
            CHECK(p != NULL);
            if (p == NULL || p->drop_rx)
                continue;
            stream_feed(&p->rx, wire, n);
            if (p->client != NULL) {
                EXPECT_OK(mqtt_client_handle_input(p->client, wire, n, now));
            } else if (p->raw_len + n <= sizeof p->raw) {
                memcpy(p->raw + p->raw_len, wire, n);
                p->raw_len += n;
            }
        }
        for (;;) {
            peer_t *p;
            EXPECT_OK(mqtt_broker_poll_close(broker, &conn));
            if (conn == 0)
                break;
            moved = 1;
            p = peer_of(conn);
            CHECK(p != NULL);
            EXPECT_OK(mqtt_broker_connection_closed(broker, conn, now));
            if (p != NULL) {
                if (p->client != NULL)
                    EXPECT_OK(mqtt_client_transport_closed(p->client, now));
                p->conn = 0;
            }
        }
    }
    CHECK(rounds < 100);
    for (i = 0; i < npeers; i++)
        if (peers[i].client != NULL)
            read_events(&peers[i]);
}

/* A new, empty peer. */
static peer_t *new_peer(const char *name) {
    peer_t *p;
    if (npeers == MAX_PEERS) {
        printf("FAIL: more than MAX_PEERS peers\n");
        board_exit(1);
    }
    p = &peers[npeers++];
    memset(p, 0, sizeof *p);
    p->name = name;
    return p;
}

/* The options every client of the test starts from. */
static mqtt_client_options client_options(uint8_t version, const char *id) {
    mqtt_client_options o;
    EXPECT_OK(mqtt_client_options_default(&o));
    o.version = version;
    o.client_id = str_view(id);
    return o;
}

/* A new client: its transport opens, CONNECT is queued (pump sends it). */
static peer_t *add_client(const char *name, const mqtt_client_options *o) {
    peer_t *p = new_peer(name);
    EXPECT_OK(mqtt_client_new(o, &p->client));
    EXPECT_OK(mqtt_broker_connection_opened(broker, now, &p->conn));
    EXPECT_OK(mqtt_client_connect(p->client, now));
    return p;
}

static void subscribe(peer_t *p, const char *filter, uint8_t qos) {
    mqtt_subscription s;
    mqtt_subscribe_options o;
    int before = p->subscribed;
    memset(&s, 0, sizeof s);
    memset(&o, 0, sizeof o);
    s.filter = str_view(filter);
    s.qos = qos;
    o.filters = &s;
    o.filters_len = 1;
    EXPECT_OK(mqtt_client_subscribe(p->client, &o, now, NULL));
    pump();
    CHECK(p->subscribed == before + 1);
}

/* The 5.0 properties dev1 attaches to its messages. */
static const mqtt_user_property telemetry_props[] = {{{(const uint8_t *)"unit", 4},
                                                      {(const uint8_t *)"celsius", 7}}};

static uint64_t publish(peer_t *p, const char *topic, const char *payload, uint8_t qos,
                        bool with_properties) {
    mqtt_publish_options o;
    uint64_t id = 0;
    memset(&o, 0, sizeof o);
    o.topic = str_view(topic);
    o.payload = str_view(payload);
    o.qos = qos;
    if (with_properties) {
        o.content_type = str_view("text/plain");
        o.message_expiry_interval.present = true;
        o.message_expiry_interval.value = 600;
        o.user_properties.ptr = telemetry_props;
        o.user_properties.len = 1;
    }
    EXPECT_OK(mqtt_client_publish(p->client, &o, now, &id));
    return id;
}

/* The last message p received is (topic, payload, qos). */
static bool got(const peer_t *p, const char *topic, const char *payload, uint8_t qos) {
    const msg_t *m;
    if (p->nmsgs == 0 || p->nmsgs > MAX_MSGS)
        return false;
    m = &p->msgs[p->nmsgs - 1];
    return strcmp(m->topic, topic) == 0 && strcmp(m->payload, payload) == 0 && m->qos == qos;
}

/* ----- 1. the heap of one connected client ------------------------------ */

/* A client with the default options, connected by a hand-written CONNACK
 * (no broker involved, so only the client's bytes are counted). */
static size_t measure_client_heap(size_t *peak) {
    static const uint8_t connack_v5[] = {0x20, 0x03, 0x00, 0x00, 0x00};
    static const uint8_t connack_v311[] = {0x20, 0x02, 0x00, 0x00};
    mqtt_client_options o;
    mqtt_client *c = NULL;
    mqtt_connection_state state = MQTT_CONNECTION_STATE_DISCONNECTED;
    mqtt_event ev;
    size_t before, in_use, n = 0;

    EXPECT_OK(mqtt_client_options_default(&o));
    o.client_id = str_view("probe");
    before = heap_mark();
    EXPECT_OK(mqtt_client_new(&o, &c));
    EXPECT_OK(mqtt_client_connect(c, now));
    do /* CONNECT goes nowhere */
        EXPECT_OK(mqtt_client_poll_transmit(c, wire, sizeof wire, &n));
    while (n > 0);
    if (o.version == MQTT_VERSION_5)
        EXPECT_OK(mqtt_client_handle_input(c, connack_v5, sizeof connack_v5, now));
    else
        EXPECT_OK(mqtt_client_handle_input(c, connack_v311, sizeof connack_v311, now));
    EXPECT_OK(mqtt_client_poll_event(c, &ev));
    CHECK(ev.kind == MQTT_EVENT_CONNECTED);
    EXPECT_OK(mqtt_client_state(c, &state));
    CHECK(state == MQTT_CONNECTION_STATE_CONNECTED);
    in_use = heap.current - before;
    *peak = heap.peak - before;

    /* A QoS 0 publish without properties, sent at once, allocates nothing
     * (once the transmit buffer has its size): topic and payload are
     * encoded from the caller's bytes. */
    {
        mqtt_publish_options p;
        unsigned long allocs = 0;
        size_t base;
        int i;
        memset(&p, 0, sizeof p);
        p.topic = str_view("probe/t");
        p.payload = str_view("0123456789abcdef0123456789abcdef");
        for (i = 0; i < 110; i++) {
            if (i == 10)
                allocs = heap.allocs;
            EXPECT_OK(mqtt_client_publish(c, &p, now, NULL));
            do
                EXPECT_OK(mqtt_client_poll_transmit(c, wire, sizeof wire, &n));
            while (n > 0);
        }
        CHECK(heap.allocs == allocs);
        printf("heap-allocations-per-qos0-publish: %lu (100 publishes)\n", heap.allocs - allocs);

        /* Each QoS 1 message in flight (no PUBACK yet) holds its copy and
         * its entry in the window. */
        p.qos = 1;
        base = heap.current;
        for (i = 0; i < 8; i++) {
            EXPECT_OK(mqtt_client_publish(c, &p, now, NULL));
            do
                EXPECT_OK(mqtt_client_poll_transmit(c, wire, sizeof wire, &n));
            while (n > 0);
        }
        CHECK(heap.current > base);
        printf("heap-per-inflight-qos1: %lu (topic 7 B, payload 32 B, 8 in flight)\n",
               (unsigned long)((heap.current - base) / 8));
    }
    mqtt_client_free(c);
    CHECK(heap.current == before);
    return in_use;
}

/* ----- the test -------------------------------------------------------- */

int main(void) {
    mqtt_allocator allocator;
    mqtt_will will;
    mqtt_client_options o_dev1, o_app, o_mon, o_persist;
    peer_t *dev1, *app, *mon, *raw, *dev, *dev_again;
    mqtt_client_stats st;
    size_t client_heap, client_peak;
    static const mqtt_user_property will_props[] = {{{(const uint8_t *)"reason", 6},
                                                     {(const uint8_t *)"link lost", 9}}};
    uint8_t qos;

    printf("libmqtt bare-metal test (QEMU, semihosting)\n");

    /* --- platform hooks: the allocator before anything allocates ------ */
    allocator.alloc = heap_alloc;
    allocator.free = heap_free;
    allocator.ctx = NULL;
    EXPECT_OK(mqtt_set_allocator(&allocator));
    EXPECT(mqtt_set_allocator(&allocator), MQTT_STATUS_INVALID_STATE); /* only once */
    EXPECT_OK(mqtt_set_panic_hook(on_panic, NULL));
    EXPECT(mqtt_set_log_hook(on_log, NULL, 0), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_set_log_hook(on_log, NULL, 5), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT_OK(mqtt_set_log_hook(on_log, NULL, MQTT_LOG_INFO));

    /* Topic matching needs no allocation and no handle. */
    {
        bool m = false;
        EXPECT_OK(mqtt_topic_matches(str_view("devices/+/status"), str_view("devices/dev1/status"), &m));
        CHECK(m);
        EXPECT_OK(mqtt_topic_matches(str_view("cmd/#"), str_view("devices/dev1/status"), &m));
        CHECK(!m);
        EXPECT_OK(mqtt_topic_matches(str_view("#"), str_view("$SYS/uptime"), &m));
        CHECK(!m);
        EXPECT(mqtt_topic_matches(str_view("a/#/b"), str_view("a/x/b"), &m), MQTT_STATUS_INVALID_ARGUMENT);
    }

    /* --- 1. heap of one connected client ------------------------------ */
    client_heap = measure_client_heap(&client_peak);
    CHECK(client_heap > 0 && heap.current == 0);

    /* --- 2. connect --------------------------------------------------- */
    EXPECT_OK(mqtt_broker_new(NULL, &broker));

    /* dev1's will: published by the broker if dev1 vanishes. */
    memset(&will, 0, sizeof will);
    will.topic = str_view("devices/dev1/status");
    will.payload = str_view("offline");
    will.qos = 1;
    will.payload_format_indicator.present = true;
    will.payload_format_indicator.value = 1; /* UTF-8 */
    will.message_expiry_interval.present = true;
    will.message_expiry_interval.value = 3600;
    will.content_type = str_view("text/plain");
    will.user_properties.ptr = will_props;
    will.user_properties.len = 1;

    o_dev1 = client_options(MQTT_VERSION_5, "dev1");
    o_dev1.keep_alive = 10; /* seconds: the PINGREQ of step 4 */
    o_dev1.will = &will;
    o_app = client_options(MQTT_VERSION_3_1_1, "app");
    o_mon = client_options(MQTT_VERSION_5, "mon");
    dev1 = add_client("dev1", &o_dev1);
    app = add_client("app", &o_app);
    mon = add_client("mon", &o_mon);
    pump();
    CHECK(dev1->connected == 1 && app->connected == 1 && mon->connected == 1);
    CHECK(dev1->tx.count[MQTT_PACKET_CONNECT] == 1 && dev1->rx.count[MQTT_PACKET_CONNACK] == 1);
    {
        mqtt_broker_stats bs;
        EXPECT_OK(mqtt_broker_get_stats(broker, &bs));
        CHECK(bs.connections == 3);
    }

    now += 10;
    subscribe(app, "devices/#", 2);         /* 3.1.1: everything the devices say */
    subscribe(mon, "devices/#", 2);         /* 5.0: the same, with properties */
    subscribe(dev1, "cmd/dev1/#", 2);       /* dev1's commands */

    /* --- 3. QoS 0, 1, 2 both ways ------------------------------------- */
    for (qos = 0; qos <= 2; qos++) {
        char payload[24];
        int app_before = app->nmsgs, mon_before = mon->nmsgs, dev_before = dev1->nmsgs;
        int done_dev = dev1->completed, done_app = app->completed;
        uint64_t id;

        /* dev1 -> app and mon, with 5.0 properties. */
        now += 10;
        sprintf(payload, "21.%u", (unsigned)qos);
        id = publish(dev1, "devices/dev1/temp", payload, qos, true);
        pump();
        CHECK(app->nmsgs == app_before + 1 && got(app, "devices/dev1/temp", payload, qos));
        CHECK(mon->nmsgs == mon_before + 1 && got(mon, "devices/dev1/temp", payload, qos));
        if (mon->nmsgs == mon_before + 1) {
            const msg_t *m = &mon->msgs[mon->nmsgs - 1];
            CHECK(strcmp(m->content_type, "text/plain") == 0);
            CHECK(m->user_properties == 1 && strcmp(m->prop_key, "unit") == 0 &&
                  strcmp(m->prop_value, "celsius") == 0);
            CHECK(m->has_expiry && m->expiry == 600); /* no time spent in the broker */
        }
        if (app->nmsgs == app_before + 1) /* 3.1.1 carries no properties */
            CHECK(app->msgs[app->nmsgs - 1].content_type[0] == '\0' &&
                  app->msgs[app->nmsgs - 1].user_properties == 0);
        if (qos > 0) {
            CHECK(dev1->completed == done_dev + 1 && dev1->last_completed_id == id);
            CHECK(dev1->last_completed_rc == MQTT_RC_SUCCESS);
        }

        /* app (3.1.1) -> dev1 (5.0). */
        now += 10;
        sprintf(payload, "led on %u", (unsigned)qos);
        id = publish(app, "cmd/dev1/led", payload, qos, false);
        pump();
        CHECK(dev1->nmsgs == dev_before + 1 && got(dev1, "cmd/dev1/led", payload, qos));
        if (qos > 0)
            CHECK(app->completed == done_app + 1 && app->last_completed_id == id);
    }
    EXPECT_OK(mqtt_client_get_stats(dev1->client, &st));
    CHECK(st.messages_sent[0] == 1 && st.messages_sent[1] == 1 && st.messages_sent[2] == 1);
    CHECK(st.messages_received[0] == 1 && st.messages_received[1] == 1 &&
          st.messages_received[2] == 1);
    CHECK(st.connections == 1 && st.inflight == 0 && st.queued == 0);

    /* --- 4. keep alive ------------------------------------------------ */
    {
        uint64_t deadline = 0, b_deadline = 0;
        mqtt_client_stats before;
        unsigned pings = dev1->tx.count[MQTT_PACKET_PINGREQ];
        int pongs = dev1->pongs;
        int i;

        EXPECT_OK(mqtt_client_get_stats(dev1->client, &before));
        EXPECT_OK(mqtt_client_poll_timeout(dev1->client, &deadline));
        /* 10 s after dev1 last sent something (its last PUBACK/PUBCOMP). */
        CHECK(deadline != MQTT_NO_DEADLINE && deadline > now && deadline <= now + 10000);
        /* Nothing happens before the deadline... */
        EXPECT_OK(mqtt_client_handle_timeout(dev1->client, deadline - 1));
        pump();
        CHECK(dev1->tx.count[MQTT_PACKET_PINGREQ] == pings);
        /* ...at the deadline, every handle learns the time, as a main loop
         * would tell them. dev1 pings; the others (keep alive 60 s) and
         * the broker (1.5 x keep alive) have nothing to do yet. */
        now = deadline;
        for (i = 0; i < npeers; i++)
            EXPECT_OK(mqtt_client_handle_timeout(peers[i].client, now));
        EXPECT_OK(mqtt_broker_poll_timeout(broker, &b_deadline));
        if (b_deadline <= now)
            EXPECT_OK(mqtt_broker_handle_timeout(broker, now));
        pump();
        CHECK(dev1->tx.count[MQTT_PACKET_PINGREQ] == pings + 1);
        CHECK(dev1->rx.count[MQTT_PACKET_PINGRESP] == 1);
        CHECK(dev1->pongs == pongs + 1);
        CHECK(app->tx.count[MQTT_PACKET_PINGREQ] == 0 && mon->tx.count[MQTT_PACKET_PINGREQ] == 0);
        EXPECT_OK(mqtt_client_get_stats(dev1->client, &st));
        CHECK(st.packets_sent == before.packets_sent + 1);
        CHECK(st.packets_received == before.packets_received + 1);
        /* The next PINGREQ is due 10 s later. */
        EXPECT_OK(mqtt_client_poll_timeout(dev1->client, &deadline));
        CHECK(deadline == now + 10000);
        CHECK(dev1->connected == 1 && dev1->disconnected == 0);
    }

    /* --- 5. a malformed packet ---------------------------------------- */
    {
        /* CONNECT, MQTT 5.0, clean start, keep alive 60, no properties,
         * client id "raw". */
        static const uint8_t connect[] = {0x10, 16,  0x00, 0x04, 'M',  'Q', 'T', 'T', 0x05,
                                          0x02, 0x00, 60,  0x00, 0x00, 3,   'r', 'a', 'w'};
        /* PUBLISH with both QoS bits set (QoS 3 does not exist), topic
         * "a", packet id 1: a Malformed Packet [MQTT-3.3.1-4]. */
        static const uint8_t bad_publish[] = {0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01};
        mqtt_broker_stats bs;

        raw = new_peer("raw");
        EXPECT_OK(mqtt_broker_connection_opened(broker, now, &raw->conn));
        stream_feed(&raw->tx, connect, sizeof connect);
        EXPECT_OK(mqtt_broker_handle_input(broker, raw->conn, connect, sizeof connect, now));
        pump();
        /* CONNACK: flags, reason code 0 (Success), properties. */
        CHECK(raw->raw_len >= 4 && raw->raw[0] == 0x20 && raw->raw[3] == MQTT_RC_SUCCESS);
        CHECK(raw->rx.count[MQTT_PACKET_CONNACK] == 1 && raw->conn != 0);

        raw->raw_len = 0;
        now += 10;
        EXPECT_OK(mqtt_broker_handle_input(broker, raw->conn, bad_publish, sizeof bad_publish,
                                           now));
        pump();
        /* DISCONNECT 0x81, then the broker asked to close (pump closed it). */
        CHECK(raw->raw_len >= 3 && raw->raw[0] == 0xE0 && raw->raw[2] == MQTT_RC_MALFORMED_PACKET);
        CHECK(raw->rx.count[MQTT_PACKET_DISCONNECT] == 1);
        CHECK(raw->conn == 0);
        EXPECT_OK(mqtt_broker_get_stats(broker, &bs));
        CHECK(bs.connections == 3);
        /* Nobody else noticed. */
        CHECK(dev1->disconnected == 0 && app->disconnected == 0 && mon->disconnected == 0);
    }

    /* --- 6. dev1 vanishes: its will ----------------------------------- */
    {
        int app_before = app->nmsgs, mon_before = mon->nmsgs;
        now += 10;
        /* The link drops: no DISCONNECT; both ends learn of it. */
        EXPECT_OK(mqtt_broker_connection_closed(broker, dev1->conn, now));
        EXPECT_OK(mqtt_client_transport_closed(dev1->client, now));
        dev1->conn = 0;
        pump();
        CHECK(dev1->disconnected == 1 && dev1->disconnect_reason == MQTT_DISCONNECT_TRANSPORT_CLOSED);
        CHECK(app->nmsgs == app_before + 1 && got(app, "devices/dev1/status", "offline", 1));
        CHECK(mon->nmsgs == mon_before + 1 && got(mon, "devices/dev1/status", "offline", 1));
        if (mon->nmsgs == mon_before + 1) {
            const msg_t *m = &mon->msgs[mon->nmsgs - 1];
            CHECK(strcmp(m->content_type, "text/plain") == 0);
            CHECK(m->user_properties == 1 && strcmp(m->prop_key, "reason") == 0 &&
                  strcmp(m->prop_value, "link lost") == 0);
            CHECK(m->has_expiry && m->expiry == 3600);
        }
        mqtt_client_free(dev1->client);
        dev1->client = NULL;
    }

    /* --- 7. a session survives a reboot ------------------------------- */
    {
        static uint8_t flash[512]; /* where a device would keep it */
        size_t need = 0, len = 0;
        uint64_t id;
        int mon_before;

        /* dev1 comes back with a persistent session. */
        o_persist = client_options(MQTT_VERSION_5, "dev1");
        o_persist.clean_start = false;
        o_persist.session_expiry_interval = 3600;
        now += 1000;
        dev = add_client("dev1 (persistent)", &o_persist);
        pump();
        CHECK(dev->connected == 1 && !dev->session_present);

        /* A QoS 1 message; the broker gets it, the PUBACK is lost. */
        now += 10;
        mon_before = mon->nmsgs;
        dev->drop_rx = true;
        id = publish(dev, "devices/dev1/log", "rebooting", 1, false);
        pump();
        CHECK(mon->nmsgs == mon_before + 1 && got(mon, "devices/dev1/log", "rebooting", 1));
        CHECK(dev->completed == 0);
        EXPECT_OK(mqtt_client_get_stats(dev->client, &st));
        CHECK(st.inflight == 1);

        /* Save the session: the size first, then the bytes. */
        EXPECT(mqtt_client_session_export(dev->client, NULL, 0, &need),
               MQTT_STATUS_BUFFER_TOO_SMALL);
        CHECK(need > 0 && need <= sizeof flash);
        EXPECT_OK(mqtt_client_session_export(dev->client, flash, sizeof flash, &len));
        CHECK(len == need);
        printf("session exported: %lu bytes\n", (unsigned long)len);

        /* Reboot: the handle is gone, the broker sees the link drop. */
        mqtt_client_free(dev->client);
        dev->client = NULL;
        EXPECT_OK(mqtt_broker_connection_closed(broker, dev->conn, now));
        dev->conn = 0;
        pump();

        /* After the reboot: the same options, the session from flash. */
        now += 5000;
        dev_again = new_peer("dev1 (after reboot)");
        EXPECT_OK(mqtt_client_new(&o_persist, &dev_again->client));
        EXPECT(mqtt_client_session_import(dev_again->client, now, flash, 3),
               MQTT_STATUS_INVALID_ARGUMENT); /* cut short: refused */
        EXPECT_OK(mqtt_client_session_import(dev_again->client, now, flash, len));
        EXPECT_OK(mqtt_broker_connection_opened(broker, now, &dev_again->conn));
        EXPECT_OK(mqtt_client_connect(dev_again->client, now));
        pump();
        CHECK(dev_again->connected == 1 && dev_again->session_present);
        /* The PUBLISH went out again with DUP, and completed this time. */
        CHECK(dev_again->tx.dup_publishes == 1);
        CHECK(dev_again->completed == 1 && dev_again->last_completed_id == id);
        CHECK(dev_again->last_completed_rc == MQTT_RC_SUCCESS);
        /* QoS 1 is at least once: the subscriber has it (again). */
        CHECK(mon->nmsgs >= mon_before + 1 && got(mon, "devices/dev1/log", "rebooting", 1));
        printf("subscriber got the QoS 1 message %d time(s)\n", mon->nmsgs - mon_before);
        EXPECT_OK(mqtt_client_get_stats(dev_again->client, &st));
        CHECK(st.retransmits == 1 && st.inflight == 0 && st.connections == 1);
        /* Importing is only for a client that is not connected. */
        EXPECT(mqtt_client_session_import(dev_again->client, now, flash, len),
               MQTT_STATUS_INVALID_STATE);
    }

    /* --- 8. goodbye: DISCONNECT, free everything, no leak -------------- */
    {
        int i;
        now += 10;
        for (i = 0; i < npeers; i++)
            if (peers[i].client != NULL && peers[i].conn != 0)
                EXPECT_OK(mqtt_client_disconnect(peers[i].client, NULL, now));
        pump();
        for (i = 0; i < npeers; i++) {
            CHECK(peers[i].conn == 0); /* the broker closed every transport */
            mqtt_client_free(peers[i].client);
            peers[i].client = NULL;
        }
        mqtt_broker_free(broker);
        broker = NULL;
        CHECK(heap.current == 0);
    }

    /* --- 9. a durable broker: its store in "flash", restored ----------- */
    {
        /* CONNECT 3.1.1, keep the session (clean session 0), client "k";
         * the same with clean session 1, client "p". */
        static const uint8_t connect_k[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 60, 0, 1, 'k'};
        static const uint8_t connect_p[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'p'};
        /* SUBSCRIBE id 1 to "q" at QoS 1; PUBLISH QoS 1 id 1 "q" "x". */
        static const uint8_t subscribe[] = {0x82, 6, 0, 1, 0, 1, 'q', 1};
        static const uint8_t publish[] = {0x32, 6, 0, 1, 'q', 0, 1, 'x'};
        static uint8_t store[1024]; /* the flash area */
        static uint8_t out[128];
        size_t store_len = 0, n = 0, got = 0;
        uint64_t k = 0, p = 0, who = 0;
        mqtt_broker_options bo;
        mqtt_restore_report r;
        mqtt_broker *b = NULL;
        int puback_after_store = 0;

        EXPECT_OK(mqtt_broker_options_default(&bo));
        bo.persistence = true;
        EXPECT_OK(mqtt_broker_new(&bo, &b));
        EXPECT_OK(mqtt_broker_snapshot(b, now, &n));
        for (;;) { /* 64 bytes at a time: a flash page */
            EXPECT_OK(mqtt_broker_poll_store(b, now, store + store_len, 64, &n));
            if (n == 0)
                break;
            store_len += n;
        }
        CHECK(store_len >= 16 && memcmp(store, "LMQTSTOR", 8) == 0);
        EXPECT_OK(mqtt_broker_connection_opened(b, now, &k));
        EXPECT_OK(mqtt_broker_handle_input(b, k, connect_k, sizeof connect_k, now));
        EXPECT_OK(mqtt_broker_handle_input(b, k, subscribe, sizeof subscribe, now));
        EXPECT_OK(mqtt_broker_connection_closed(b, k, now));
        EXPECT_OK(mqtt_broker_connection_opened(b, now, &p));
        EXPECT_OK(mqtt_broker_handle_input(b, p, connect_p, sizeof connect_p, now));
        EXPECT_OK(mqtt_broker_handle_input(b, p, publish, sizeof publish, now));
        /* The records first (into flash), then the output (the PUBACK). */
        for (;;) {
            EXPECT_OK(mqtt_broker_poll_store(b, now, store + store_len, 64, &n));
            if (n == 0 || store_len + n > sizeof store - 64)
                break;
            store_len += n;
        }
        CHECK(n == 0);
        for (;;) {
            EXPECT_OK(mqtt_broker_poll_output(b, &who, out, sizeof out, &n));
            if (n == 0)
                break;
            if (who == p && out[n >= 4 ? n - 4 : 0] == 0x40)
                puback_after_store = 1;
        }
        CHECK(puback_after_store);
        mqtt_broker_free(b); /* the power goes */
        b = NULL;

        now += 1000;
        EXPECT_OK(mqtt_broker_new(&bo, &b));
        EXPECT_OK(mqtt_broker_restore(b, store, store_len, now, &r));
        CHECK(r.valid_len == store_len && r.damage == MQTT_STORE_DAMAGE_NONE);
        CHECK(r.sessions == 1 && r.subscriptions == 1 && r.messages == 1);
        EXPECT_OK(mqtt_broker_connection_opened(b, now, &k));
        EXPECT_OK(mqtt_broker_handle_input(b, k, connect_k, sizeof connect_k, now));
        for (;;) {
            EXPECT_OK(mqtt_broker_poll_output(b, &who, out + got, sizeof out - got, &n));
            if (n == 0)
                break;
            got += n;
        }
        /* CONNACK with Session Present, then the message kept across. */
        CHECK(got >= 4 + 8 && out[0] == 0x20 && out[2] == 0x01 && out[3] == 0x00);
        CHECK((out[4] & 0xF6) == 0x32 && out[got - 1] == 'x');
        printf("durable broker: store %lu bytes, restored %lu session(s), %lu message(s)\n",
               (unsigned long)store_len, (unsigned long)r.sessions, (unsigned long)r.messages);
        EXPECT_OK(mqtt_broker_connection_closed(b, k, now));
        mqtt_broker_free(b);
        CHECK(heap.current == 0);
    }

    printf("heap-hwm-client: %lu\n", (unsigned long)client_heap);
    printf("heap-peak-client: %lu\n", (unsigned long)client_peak);
    printf("heap-hwm: %lu\n", (unsigned long)heap.high_water);
    printf("heap-in-use-at-end: %lu (%lu allocations, %lu frees, %lu failed)\n",
           (unsigned long)heap.current, heap.allocs, heap.frees, heap.failed);
    printf("stack-hwm: %lu (of %lu)\n", (unsigned long)board_stack_high_water(),
           (unsigned long)board_stack_size());
    printf("%d checks, %d failed\n", checks, failures);
    printf(failures == 0 ? "firmware test: PASS\n" : "firmware test: FAIL\n");
    return failures == 0 ? 0 : 1;
}
