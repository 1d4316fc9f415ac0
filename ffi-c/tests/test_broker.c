/*
 * C tests of the broker API in include/mqtt.h, run by `make c-test` under
 * AddressSanitizer + UndefinedBehaviorSanitizer and under valgrind: the C
 * client against the C broker in one process, bytes moved by hand.
 *
 * 1. Every broker function with NULL and invalid arguments returns the
 *    documented status (and never crashes); bad options are explained.
 * 2. QoS 0, 1 and 2 round trips, 5.0 and 3.1.1 ([MQTT-4.3.1-1],
 *    [MQTT-4.3.2-1], [MQTT-4.3.3-1]: the message arrives once, the
 *    publisher's completion event follows its acknowledgement).
 * 3. Retained messages: a later subscriber gets the retained message with
 *    RETAIN set [MQTT-3.3.1-6]; an empty retained payload clears it
 *    [MQTT-3.3.1-10].
 * 4. The will is published when the transport closes without DISCONNECT
 *    [MQTT-3.1.2-8], and not after a normal DISCONNECT [MQTT-3.1.2-10].
 * 5. Limits: max_connections refuses the CONNECT beyond it (0x97);
 *    password authentication refuses a wrong password (0x86).
 * 6. A panic inside the library (test-only path) becomes MQTT_STATUS_PANIC
 *    and poisons only that handle.
 * 7. The single-connection server role (mqtt_server) against the client:
 *    CONNECT decided by the application, SUBSCRIBE answered, a QoS 1
 *    message acknowledged by hand (with 0x87 Not authorized), a message
 *    to the client, the will on transport close, and NULL arguments.
 * 8. Durability (persistence on): the store is taken before the output
 *    it makes true; a broker restored from it delivers a persistent
 *    session's queued QoS 1 messages and keeps retained messages; a torn
 *    or damaged store reports its damage and keeps the whole batches; a
 *    small buffer loses nothing; foreign, newer and non-empty cases have
 *    their own status.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"
#include "check.h"

/* Built with the test-panic feature only; not part of the header. */
mqtt_status mqtt_broker_test_panic(mqtt_broker *b);
mqtt_status mqtt_server_test_panic(mqtt_server *s);

/* ----- an in-process "network" ---------------------------------------- */

#define MAX_PEERS 4
#define MAX_SEEN 16

/* What one client saw: events are copied out because their views only
 * live until the next call on the client. */
typedef struct {
    int connected, disconnected, subscribed, completed;
    int refused_code; /* CONNACK reason code of a refusal, -1 none */
    int completed_code;
    int messages;
    char topic[MAX_SEEN][64];
    char payload[MAX_SEEN][64];
    uint8_t qos[MAX_SEEN];
    int retain[MAX_SEEN];
} seen_t;

typedef struct {
    mqtt_client *client;
    uint64_t conn; /* 0: transport closed */
    seen_t seen;
} peer_t;

typedef struct {
    mqtt_broker *broker;
    peer_t peers[MAX_PEERS];
    int npeers;
    uint64_t now;
    /* With persistence: the store (everything mqtt_broker_poll_store
     * handed out, appended), as a driver's file would hold it. */
    uint8_t *store;
    size_t store_len, store_cap;
} world_t;

static void copy_view(char *dst, size_t cap, mqtt_bytes_view v) {
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    if (n > 0)
        memcpy(dst, v.ptr, n);
    dst[n] = '\0';
}

static void read_events(peer_t *p) {
    mqtt_event ev;
    for (;;) {
        EXPECT(mqtt_client_poll_event(p->client, &ev), MQTT_STATUS_OK);
        if (ev.kind == MQTT_EVENT_NONE)
            return;
        switch (ev.kind) {
        case MQTT_EVENT_CONNECTED:
            p->seen.connected++;
            break;
        case MQTT_EVENT_DISCONNECTED:
            p->seen.disconnected++;
            if (ev.disconnect_reason == MQTT_DISCONNECT_REFUSED)
                p->seen.refused_code = ev.reason_code;
            break;
        case MQTT_EVENT_SUBSCRIBED:
            p->seen.subscribed++;
            break;
        case MQTT_EVENT_PUBLISH_COMPLETED:
            p->seen.completed++;
            p->seen.completed_code = ev.reason_code;
            break;
        case MQTT_EVENT_MESSAGE:
            if (p->seen.messages < MAX_SEEN) {
                int i = p->seen.messages;
                copy_view(p->seen.topic[i], sizeof p->seen.topic[i], ev.message.topic);
                copy_view(p->seen.payload[i], sizeof p->seen.payload[i], ev.message.payload);
                p->seen.qos[i] = ev.message.qos;
                p->seen.retain[i] = ev.message.retain;
            }
            p->seen.messages++;
            break;
        default:
            break;
        }
    }
}

static peer_t *peer_of(world_t *w, uint64_t conn) {
    int i;
    for (i = 0; i < w->npeers; i++)
        if (w->peers[i].conn == conn)
            return &w->peers[i];
    return NULL;
}

/* Appends what mqtt_broker_poll_store hands out to w->store, in 7-byte
 * chunks (a batch comes over several calls, nothing is lost), checking it
 * adds up to what mqtt_broker_store_len announced. A real driver fsyncs
 * here, before sending any output. */
static void take_store(world_t *w) {
    size_t need = 0, got = 0, n = 0;
    EXPECT(mqtt_broker_store_len(w->broker, w->now, &need), MQTT_STATUS_OK);
    for (;;) {
        if (w->store_len + 7 > w->store_cap) {
            w->store_cap = w->store_cap * 2 + 64;
            w->store = realloc(w->store, w->store_cap);
            if (w->store == NULL)
                abort();
        }
        EXPECT(mqtt_broker_poll_store(w->broker, w->now, w->store + w->store_len, 7, &n),
               MQTT_STATUS_OK);
        if (n == 0)
            break;
        w->store_len += n;
        got += n;
    }
    CHECK(got == need);
}

/* Moves bytes until nobody has any, then closes what the broker asks. */
static void pump(world_t *w) {
    static uint8_t buf[4096];
    int moved = 1, rounds = 0, i;
    while (moved && rounds++ < 1000) {
        size_t n = 0, need = 0;
        uint64_t conn = 0;
        moved = 0;
        for (i = 0; i < w->npeers; i++) {
            peer_t *p = &w->peers[i];
            if (p->conn == 0)
                continue;
            for (;;) {
                EXPECT(mqtt_client_poll_transmit(p->client, buf, sizeof buf, &n), MQTT_STATUS_OK);
                if (n == 0)
                    break;
                EXPECT(mqtt_broker_handle_input(w->broker, p->conn, buf, n, w->now),
                       MQTT_STATUS_OK);
                moved = 1;
            }
        }
        /* Durable first, then the output that relies on it. */
        if (w->store != NULL)
            take_store(w);
        for (;;) {
            uint64_t peek = 0;
            EXPECT(mqtt_broker_output_len(w->broker, &peek, &need), MQTT_STATUS_OK);
            /* Odd chunk sizes: the output is a stream per connection. */
            EXPECT(mqtt_broker_poll_output(w->broker, &conn, buf, 5, &n), MQTT_STATUS_OK);
            if (n == 0) {
                CHECK(need == 0 && conn == 0 && peek == 0);
                break;
            }
            CHECK(conn == peek && n <= need);
            moved = 1;
            {
                peer_t *p = peer_of(w, conn);
                CHECK(p != NULL);
                if (p != NULL)
                    EXPECT(mqtt_client_handle_input(p->client, buf, n, w->now), MQTT_STATUS_OK);
            }
        }
        for (;;) {
            EXPECT(mqtt_broker_poll_close(w->broker, &conn), MQTT_STATUS_OK);
            if (conn == 0)
                break;
            {
                peer_t *p = peer_of(w, conn);
                CHECK(p != NULL);
                EXPECT(mqtt_broker_connection_closed(w->broker, conn, w->now), MQTT_STATUS_OK);
                if (p != NULL) {
                    EXPECT(mqtt_client_transport_closed(p->client, w->now), MQTT_STATUS_OK);
                    p->conn = 0;
                }
            }
            moved = 1;
        }
    }
    CHECK(rounds < 1000);
    for (i = 0; i < w->npeers; i++)
        read_events(&w->peers[i]);
}

static void world_init(world_t *w, const mqtt_broker_options *o) {
    memset(w, 0, sizeof *w);
    w->now = 1000;
    EXPECT(mqtt_broker_new(o, &w->broker), MQTT_STATUS_OK);
}

/* A client, its transport opened and CONNECT sent (not pumped yet). */
static peer_t *add_peer(world_t *w, uint8_t version, const char *id, const mqtt_will *will,
                        const char *user, const char *pass) {
    mqtt_client_options o;
    peer_t *p = &w->peers[w->npeers++];
    EXPECT(mqtt_client_options_default(&o), MQTT_STATUS_OK);
    o.version = version;
    o.client_id = str_view(id);
    o.will = will;
    if (user)
        o.username = str_view(user);
    if (pass)
        o.password = str_view(pass);
    EXPECT(mqtt_client_new(&o, &p->client), MQTT_STATUS_OK);
    p->seen.refused_code = -1;
    EXPECT(mqtt_broker_connection_opened(w->broker, w->now, &p->conn), MQTT_STATUS_OK);
    CHECK(p->conn != 0);
    EXPECT(mqtt_client_connect(p->client, w->now), MQTT_STATUS_OK);
    return p;
}

static void world_free(world_t *w) {
    int i;
    for (i = 0; i < w->npeers; i++) {
        if (w->peers[i].conn != 0)
            EXPECT(mqtt_broker_connection_closed(w->broker, w->peers[i].conn, w->now),
                   MQTT_STATUS_OK);
        mqtt_client_free(w->peers[i].client);
    }
    mqtt_broker_free(w->broker);
    free(w->store);
    w->store = NULL;
}

static void subscribe(world_t *w, peer_t *p, const char *filter, uint8_t qos) {
    mqtt_subscription s;
    mqtt_subscribe_options o;
    memset(&s, 0, sizeof s);
    memset(&o, 0, sizeof o);
    s.filter = str_view(filter);
    s.qos = qos;
    o.filters = &s;
    o.filters_len = 1;
    EXPECT(mqtt_client_subscribe(p->client, &o, w->now, NULL), MQTT_STATUS_OK);
    pump(w);
}

static void publish(world_t *w, peer_t *p, const char *topic, const char *payload, uint8_t qos,
                    bool retain) {
    mqtt_publish_options o;
    memset(&o, 0, sizeof o);
    o.topic = str_view(topic);
    o.payload = str_view(payload);
    o.qos = qos;
    o.retain = retain;
    EXPECT(mqtt_client_publish(p->client, &o, w->now, NULL), MQTT_STATUS_OK);
    pump(w);
}

/* ----- 1. arguments ---------------------------------------------------- */

static void test_arguments(void) {
    mqtt_broker_options o;
    mqtt_broker *b = NULL;
    uint64_t conn = 0, deadline = 0;
    size_t n = 0;
    uint8_t buf[8];
    char why[128];
    mqtt_bytes_view err;
    mqtt_broker_stats st;

    EXPECT(mqtt_broker_options_default(NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_options_default(&o), MQTT_STATUS_OK);
    CHECK(o.max_connections == 10000 && o.max_subscriptions_per_client == 256);
    CHECK(o.receive_maximum == 65535 && o.maximum_qos == 2 && o.connect_timeout_ms == 10000);
    CHECK(o.passwords.ptr == NULL && o.acl.ptr == NULL);

    EXPECT(mqtt_broker_new(&o, NULL), MQTT_STATUS_NULL_ARGUMENT);
    b = (mqtt_broker *)1;
    o.maximum_qos = 3;
    EXPECT(mqtt_broker_new(&o, &b), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(b == NULL);
    EXPECT(mqtt_broker_options_check(&o, why, sizeof why), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(why, "maximum_qos") != NULL);
    EXPECT(mqtt_broker_options_check(NULL, why, sizeof why), MQTT_STATUS_NULL_ARGUMENT);
    o.maximum_qos = 2;
    o.receive_maximum = 0;
    EXPECT(mqtt_broker_new(&o, &b), MQTT_STATUS_INVALID_ARGUMENT);
    o.receive_maximum = 10;
    o.max_inflight = 0;
    EXPECT(mqtt_broker_new(&o, &b), MQTT_STATUS_INVALID_ARGUMENT);
    o.max_inflight = 10;
    o.queue_full_policy = 7;
    EXPECT(mqtt_broker_new(&o, &b), MQTT_STATUS_INVALID_ARGUMENT);
    o.queue_full_policy = MQTT_BROKER_QUEUE_DROP_OLDEST;
    o.passwords.ptr = NULL;
    o.passwords.len = 3;
    EXPECT(mqtt_broker_new(&o, &b), MQTT_STATUS_NULL_ARGUMENT);
    o.passwords = str_view("no colon on this line\n");
    EXPECT(mqtt_broker_new(&o, &b), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_broker_options_check(&o, why, sizeof why), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(why, "passwords") != NULL && strstr(why, "line 1") != NULL);
    o.passwords = str_view("alice:secret\n");
    o.acl = str_view("frobnicate a/b\n");
    EXPECT(mqtt_broker_new(&o, &b), MQTT_STATUS_INVALID_ARGUMENT);
    o.acl.ptr = (const uint8_t *)"\xff";
    o.acl.len = 1;
    EXPECT(mqtt_broker_new(&o, &b), MQTT_STATUS_INVALID_ARGUMENT);
    o.acl = str_view("topic readwrite #\n");
    EXPECT(mqtt_broker_options_check(&o, NULL, 0), MQTT_STATUS_OK);
    EXPECT(mqtt_broker_new(&o, &b), MQTT_STATUS_OK);
    CHECK(b != NULL);
    mqtt_broker_free(b);
    mqtt_broker_free(NULL);

    EXPECT(mqtt_broker_new(NULL, &b), MQTT_STATUS_OK);
    /* NULL handle. */
    EXPECT(mqtt_broker_connection_opened(NULL, 0, &conn), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_handle_input(NULL, 1, buf, 1, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_handle_timeout(NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_connection_closed(NULL, 1, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_poll_output(NULL, &conn, buf, sizeof buf, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_output_len(NULL, &conn, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_poll_close(NULL, &conn), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_poll_timeout(NULL, &deadline), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_get_stats(NULL, &st), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_last_error(NULL, &err), MQTT_STATUS_NULL_ARGUMENT);
    /* NULL outputs. */
    EXPECT(mqtt_broker_connection_opened(b, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_poll_output(b, NULL, buf, sizeof buf, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_poll_output(b, &conn, buf, sizeof buf, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_output_len(b, NULL, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_output_len(b, &conn, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_poll_close(b, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_poll_timeout(b, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_get_stats(b, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_last_error(b, NULL), MQTT_STATUS_NULL_ARGUMENT);

    /* Nothing open yet: no deadline, no output, no close. */
    EXPECT(mqtt_broker_poll_timeout(b, &deadline), MQTT_STATUS_OK);
    CHECK(deadline == MQTT_NO_DEADLINE);
    conn = 99;
    EXPECT(mqtt_broker_poll_close(b, &conn), MQTT_STATUS_OK);
    CHECK(conn == 0);

    /* Unknown connections. */
    EXPECT(mqtt_broker_handle_input(b, 0, buf, 1, 0), MQTT_STATUS_UNKNOWN_CONNECTION);
    EXPECT(mqtt_broker_handle_input(b, 42, buf, 1, 0), MQTT_STATUS_UNKNOWN_CONNECTION);
    EXPECT(mqtt_broker_last_error(b, &err), MQTT_STATUS_OK);
    CHECK(view_eq(err, "connection 42 is not open"));
    EXPECT(mqtt_broker_connection_closed(b, 42, 0), MQTT_STATUS_UNKNOWN_CONNECTION);

    EXPECT(mqtt_broker_connection_opened(b, 0, &conn), MQTT_STATUS_OK);
    CHECK(conn != 0);
    EXPECT(mqtt_broker_poll_timeout(b, &deadline), MQTT_STATUS_OK);
    CHECK(deadline == 10000); /* the connect timeout */
    /* Bad buffers. */
    EXPECT(mqtt_broker_handle_input(b, conn, NULL, 1, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_handle_input(b, conn, NULL, 0, 0), MQTT_STATUS_OK);
    EXPECT(mqtt_broker_handle_input(b, conn, buf, SIZE_MAX, 0), MQTT_STATUS_INVALID_ARGUMENT);
    {
        uint64_t to = 7;
        EXPECT(mqtt_broker_poll_output(b, &to, NULL, 4, &n), MQTT_STATUS_NULL_ARGUMENT);
        EXPECT(mqtt_broker_poll_output(b, &to, NULL, 0, &n), MQTT_STATUS_OK);
        CHECK(n == 0 && to == 0);
    }
    EXPECT(mqtt_broker_get_stats(b, &st), MQTT_STATUS_OK);
    CHECK(st.connections == 1 && st.sessions == 0 && st.retained_messages == 0);

    /* Garbage instead of CONNECT: the broker asks to close it. */
    {
        uint64_t open = conn, closing = 0;
        const uint8_t junk[] = {0xF0, 0x00};
        EXPECT(mqtt_broker_handle_input(b, open, junk, sizeof junk, 1), MQTT_STATUS_OK);
        EXPECT(mqtt_broker_poll_close(b, &closing), MQTT_STATUS_OK);
        CHECK(closing == open);
        EXPECT(mqtt_broker_connection_closed(b, open, 2), MQTT_STATUS_OK);
        EXPECT(mqtt_broker_connection_closed(b, open, 2), MQTT_STATUS_UNKNOWN_CONNECTION);
        EXPECT(mqtt_broker_handle_input(b, open, junk, sizeof junk, 2),
               MQTT_STATUS_UNKNOWN_CONNECTION);
        /* Its output (if any) is gone with it. */
        EXPECT(mqtt_broker_poll_output(b, &conn, buf, sizeof buf, &n), MQTT_STATUS_OK);
        CHECK(n == 0 && conn == 0);
    }

    /* The connect timeout closes a silent connection. */
    {
        uint64_t silent = 0, closing = 0;
        EXPECT(mqtt_broker_connection_opened(b, 100, &silent), MQTT_STATUS_OK);
        EXPECT(mqtt_broker_handle_timeout(b, 5000), MQTT_STATUS_OK);
        EXPECT(mqtt_broker_poll_close(b, &closing), MQTT_STATUS_OK);
        CHECK(closing == 0);
        EXPECT(mqtt_broker_poll_timeout(b, &deadline), MQTT_STATUS_OK);
        CHECK(deadline == 10100);
        EXPECT(mqtt_broker_handle_timeout(b, deadline), MQTT_STATUS_OK);
        EXPECT(mqtt_broker_poll_close(b, &closing), MQTT_STATUS_OK);
        CHECK(closing == silent);
        EXPECT(mqtt_broker_connection_closed(b, silent, deadline), MQTT_STATUS_OK);
        EXPECT(mqtt_broker_get_stats(b, &st), MQTT_STATUS_OK);
        CHECK(st.connections == 0);
    }
    mqtt_broker_free(b);
}

/* ----- 2. QoS round trips ---------------------------------------------- */

static void test_round_trips(uint8_t version) {
    world_t w;
    peer_t *sub, *pub;
    uint8_t qos;
    world_init(&w, NULL);
    sub = add_peer(&w, version, "sub", NULL, NULL, NULL);
    pub = add_peer(&w, version, "pub", NULL, NULL, NULL);
    pump(&w);
    CHECK(sub->seen.connected == 1 && pub->seen.connected == 1);
    subscribe(&w, sub, "t/#", 2);
    CHECK(sub->seen.subscribed == 1);
    for (qos = 0; qos <= 2; qos++) {
        char payload[16];
        int before = sub->seen.messages, done = pub->seen.completed;
        sprintf(payload, "qos %u", (unsigned)qos);
        w.now += 10;
        publish(&w, pub, "t/x", payload, qos, false);
        /* Exactly once, whatever the QoS, in this lossless transport. */
        CHECK(sub->seen.messages == before + 1);
        CHECK(strcmp(sub->seen.topic[before], "t/x") == 0);
        CHECK(strcmp(sub->seen.payload[before], payload) == 0);
        CHECK(sub->seen.qos[before] == qos);
        CHECK(sub->seen.retain[before] == 0);
        CHECK(pub->seen.completed == done + (qos > 0 ? 1 : 0));
        if (qos > 0)
            CHECK(pub->seen.completed_code == MQTT_RC_SUCCESS);
    }
    /* The subscription's QoS caps delivery [MQTT-3.8.4-8]. */
    subscribe(&w, sub, "capped", 1);
    publish(&w, pub, "capped", "x", 2, false);
    CHECK(sub->seen.messages == 4 && sub->seen.qos[3] == 1);
    {
        mqtt_broker_stats st;
        EXPECT(mqtt_broker_get_stats(w.broker, &st), MQTT_STATUS_OK);
        CHECK(st.connections == 2 && st.sessions == 2 && st.subscriptions == 2);
    }
    EXPECT(mqtt_client_disconnect(pub->client, NULL, w.now), MQTT_STATUS_OK);
    pump(&w);
    CHECK(pub->conn == 0); /* the broker asked to close it */
    world_free(&w);
}

/* ----- 3. retained ----------------------------------------------------- */

static void test_retained(void) {
    world_t w;
    peer_t *pub, *late, *later;
    mqtt_broker_stats st;
    world_init(&w, NULL);
    pub = add_peer(&w, MQTT_VERSION_5, "pub", NULL, NULL, NULL);
    pump(&w);
    publish(&w, pub, "room/temp", "20", 1, true);
    EXPECT(mqtt_broker_get_stats(w.broker, &st), MQTT_STATUS_OK);
    CHECK(st.retained_messages == 1);
    late = add_peer(&w, MQTT_VERSION_5, "late", NULL, NULL, NULL);
    pump(&w);
    subscribe(&w, late, "room/+", 1);
    CHECK(late->seen.messages == 1);
    CHECK(strcmp(late->seen.payload[0], "20") == 0 && late->seen.retain[0] == 1);
    /* A live message is not flagged retained for an existing subscriber. */
    publish(&w, pub, "room/temp", "21", 1, true);
    CHECK(late->seen.messages == 2 && late->seen.retain[1] == 0);
    /* An empty retained payload clears it. */
    publish(&w, pub, "room/temp", "", 1, true);
    EXPECT(mqtt_broker_get_stats(w.broker, &st), MQTT_STATUS_OK);
    CHECK(st.retained_messages == 0);
    later = add_peer(&w, MQTT_VERSION_3_1_1, "later", NULL, NULL, NULL);
    pump(&w);
    subscribe(&w, later, "room/#", 0);
    CHECK(later->seen.messages == 0);
    world_free(&w);
}

/* ----- 4. will --------------------------------------------------------- */

static void test_will(void) {
    world_t w;
    peer_t *watcher, *dying, *polite;
    mqtt_will will;
    world_init(&w, NULL);
    memset(&will, 0, sizeof will);
    will.topic = str_view("status/dying");
    will.payload = str_view("offline");
    will.qos = 1;
    watcher = add_peer(&w, MQTT_VERSION_5, "watcher", NULL, NULL, NULL);
    dying = add_peer(&w, MQTT_VERSION_5, "dying", &will, NULL, NULL);
    pump(&w);
    subscribe(&w, watcher, "status/#", 1);
    /* The transport drops: no DISCONNECT. */
    w.now += 5;
    EXPECT(mqtt_broker_connection_closed(w.broker, dying->conn, w.now), MQTT_STATUS_OK);
    EXPECT(mqtt_client_transport_closed(dying->client, w.now), MQTT_STATUS_OK);
    dying->conn = 0;
    pump(&w);
    CHECK(watcher->seen.messages == 1);
    CHECK(strcmp(watcher->seen.topic[0], "status/dying") == 0);
    CHECK(strcmp(watcher->seen.payload[0], "offline") == 0);

    /* A normal DISCONNECT discards the will. */
    will.topic = str_view("status/polite");
    polite = add_peer(&w, MQTT_VERSION_3_1_1, "polite", &will, NULL, NULL);
    pump(&w);
    EXPECT(mqtt_client_disconnect(polite->client, NULL, w.now), MQTT_STATUS_OK);
    pump(&w);
    CHECK(polite->conn == 0);
    CHECK(watcher->seen.messages == 1);
    world_free(&w);
}

/* ----- 5. limits and authentication ------------------------------------ */

static void test_limits(void) {
    world_t w;
    mqtt_broker_options o;
    peer_t *a, *b, *good, *bad;
    EXPECT(mqtt_broker_options_default(&o), MQTT_STATUS_OK);
    o.max_connections = 1;
    o.passwords = str_view("# users\nalice:secret\n");
    o.allow_anonymous = true;
    world_init(&w, &o);
    a = add_peer(&w, MQTT_VERSION_5, "a", NULL, NULL, NULL);
    pump(&w);
    b = add_peer(&w, MQTT_VERSION_5, "b", NULL, NULL, NULL);
    pump(&w);
    CHECK(a->seen.connected == 1);
    CHECK(b->seen.connected == 0 && b->seen.refused_code == MQTT_RC_QUOTA_EXCEEDED);
    CHECK(b->conn == 0);
    world_free(&w);

    o.max_connections = 10;
    world_init(&w, &o);
    good = add_peer(&w, MQTT_VERSION_5, "good", NULL, "alice", "secret");
    bad = add_peer(&w, MQTT_VERSION_5, "bad", NULL, "alice", "guess");
    pump(&w);
    CHECK(good->seen.connected == 1);
    CHECK(bad->seen.connected == 0 && bad->seen.refused_code == MQTT_RC_BAD_USER_NAME_OR_PASSWORD);
    world_free(&w);
}

/* ----- 6. panic -------------------------------------------------------- */

static void test_panic(void) {
    mqtt_broker *b = NULL, *other = NULL;
    uint64_t conn = 0;
    mqtt_bytes_view err;
    EXPECT(mqtt_broker_new(NULL, &b), MQTT_STATUS_OK);
    EXPECT(mqtt_broker_new(NULL, &other), MQTT_STATUS_OK);
    EXPECT(mqtt_broker_test_panic(b), MQTT_STATUS_PANIC);
    EXPECT(mqtt_broker_connection_opened(b, 0, &conn), MQTT_STATUS_PANIC);
    EXPECT(mqtt_broker_last_error(b, &err), MQTT_STATUS_OK);
    CHECK(err.len > 0);
    EXPECT(mqtt_broker_connection_opened(other, 0, &conn), MQTT_STATUS_OK);
    mqtt_broker_free(b);
    mqtt_broker_free(other);
}

/* ----- 7. the server role ---------------------------------------------- */

/* Moves bytes between a client and a server connection until both are
 * quiet. */
static void pump_pair(mqtt_client *c, mqtt_server *s, uint64_t now) {
    static uint8_t b[2048];
    int moved = 1, rounds = 0;
    while (moved && rounds++ < 100) {
        size_t n = 0;
        moved = 0;
        for (;;) {
            EXPECT(mqtt_client_poll_transmit(c, b, sizeof b, &n), MQTT_STATUS_OK);
            if (n == 0)
                break;
            EXPECT(mqtt_server_handle_input(s, b, n, now), MQTT_STATUS_OK);
            moved = 1;
        }
        for (;;) {
            EXPECT(mqtt_server_poll_transmit(s, b, 3, &n), MQTT_STATUS_OK);
            if (n == 0)
                break;
            EXPECT(mqtt_client_handle_input(c, b, n, now), MQTT_STATUS_OK);
            moved = 1;
        }
    }
    CHECK(rounds < 100);
}

static mqtt_server_event next_server_event(mqtt_server *s) {
    mqtt_server_event ev;
    EXPECT(mqtt_server_poll_event(s, &ev), MQTT_STATUS_OK);
    return ev;
}

static void test_server(void) {
    mqtt_server *s = NULL;
    mqtt_client *c = NULL;
    mqtt_client_options co;
    mqtt_broker_options bo;
    mqtt_will will;
    mqtt_server_event ev;
    mqtt_event cev;
    mqtt_subscription sub, got;
    mqtt_subscribe_options so;
    mqtt_publish_options po;
    mqtt_bytes_view err;
    uint64_t deadline = 0, pub_id = 0;
    uint16_t pid = 0;
    size_t n = 0;
    uint8_t b[8];
    const uint8_t granted[] = {1};
    const uint8_t two[] = {1, 1};

    /* Arguments. */
    EXPECT(mqtt_server_new(NULL, false, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_options_default(&bo), MQTT_STATUS_OK);
    bo.maximum_qos = 5;
    EXPECT(mqtt_server_new(&bo, false, 0, &s), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(s == NULL);
    EXPECT(mqtt_server_handle_input(NULL, b, 1, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_handle_timeout(NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_transport_closed(NULL, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_poll_transmit(NULL, b, sizeof b, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_poll_timeout(NULL, &deadline), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_poll_event(NULL, &ev), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_accept(NULL, 0, false, err), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_reject(NULL, 0, 0x87), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_acknowledge(NULL, 0, 1, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_suback(NULL, 0, 1, granted, 1), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_unsuback(NULL, 0, 1, granted, 1), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_publish(NULL, 0, &po, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_disconnect(NULL, 0, 0), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_last_error(NULL, &err), MQTT_STATUS_NULL_ARGUMENT);
    mqtt_server_free(NULL);

    EXPECT(mqtt_server_new(NULL, true, 0, &s), MQTT_STATUS_OK);
    EXPECT(mqtt_server_poll_transmit(s, b, sizeof b, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_poll_transmit(s, NULL, 4, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_poll_timeout(s, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_poll_event(s, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_publish(s, 0, NULL, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_server_poll_timeout(s, &deadline), MQTT_STATUS_OK);
    CHECK(deadline == 10000); /* the connect timeout */
    /* Nothing to decide yet. */
    err.ptr = NULL;
    err.len = 0;
    EXPECT(mqtt_server_accept(s, 0, false, err), MQTT_STATUS_INVALID_STATE);
    EXPECT(mqtt_server_last_error(s, &err), MQTT_STATUS_OK);
    CHECK(err.len > 0);
    EXPECT(mqtt_server_reject(s, 0, 0x03), MQTT_STATUS_INVALID_ARGUMENT);

    /* CONNECT, decided by the application. */
    memset(&will, 0, sizeof will);
    will.topic = str_view("dev/status");
    will.payload = str_view("lost");
    EXPECT(mqtt_client_options_default(&co), MQTT_STATUS_OK);
    co.client_id = str_view("dev");
    co.will = &will;
    EXPECT(mqtt_client_new(&co, &c), MQTT_STATUS_OK);
    EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_OK);
    pump_pair(c, s, 1);
    ev = next_server_event(s);
    CHECK(ev.kind == MQTT_SERVER_EVENT_CONNECT);
    CHECK(ev.packet.packet_type == MQTT_PACKET_CONNECT && view_eq(ev.packet.client_id, "dev"));
    CHECK(ev.packet.has_will && view_eq(ev.packet.will.topic, "dev/status"));
    err.ptr = NULL;
    err.len = 0;
    EXPECT(mqtt_server_reject(s, 1, MQTT_RC_SUCCESS), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_server_accept(s, 1, false, err), MQTT_STATUS_OK);
    EXPECT(mqtt_server_accept(s, 1, false, err), MQTT_STATUS_INVALID_STATE);
    pump_pair(c, s, 2);
    EXPECT(mqtt_client_poll_event(c, &cev), MQTT_STATUS_OK);
    CHECK(cev.kind == MQTT_EVENT_CONNECTED);

    /* SUBSCRIBE, answered by the application. */
    memset(&sub, 0, sizeof sub);
    sub.filter = str_view("cmd/#");
    sub.qos = 1;
    memset(&so, 0, sizeof so);
    so.filters = &sub;
    so.filters_len = 1;
    EXPECT(mqtt_client_subscribe(c, &so, 3, &pid), MQTT_STATUS_OK);
    pump_pair(c, s, 3);
    ev = next_server_event(s);
    CHECK(ev.kind == MQTT_SERVER_EVENT_SUBSCRIBE && ev.packet.packet_id == pid);
    CHECK(ev.packet.filter_count == 1);
    EXPECT(mqtt_packet_view_filter(&ev.packet, 0, &got), MQTT_STATUS_OK);
    CHECK(view_eq(got.filter, "cmd/#") && got.qos == 1);
    EXPECT(mqtt_server_suback(s, 3, pid, two, 2), MQTT_STATUS_INVALID_ARGUMENT); /* one per filter */
    EXPECT(mqtt_server_suback(s, 3, pid, granted, 1), MQTT_STATUS_OK);
    pump_pair(c, s, 4);
    EXPECT(mqtt_client_poll_event(c, &cev), MQTT_STATUS_OK);
    CHECK(cev.kind == MQTT_EVENT_SUBSCRIBED && cev.reason_codes.len == 1 &&
          cev.reason_codes.ptr[0] == 1);

    /* A QoS 1 message from the client, refused by hand with 0x87. */
    memset(&po, 0, sizeof po);
    po.topic = str_view("data/x");
    po.payload = str_view("42");
    po.qos = 1;
    EXPECT(mqtt_client_publish(c, &po, 5, &pub_id), MQTT_STATUS_OK);
    pump_pair(c, s, 5);
    ev = next_server_event(s);
    CHECK(ev.kind == MQTT_SERVER_EVENT_MESSAGE && ev.packet.qos == 1);
    CHECK(view_eq(ev.packet.topic, "data/x") && view_eq(ev.packet.payload, "42"));
    EXPECT(mqtt_server_acknowledge(s, 5, ev.packet.packet_id, MQTT_RC_NOT_AUTHORIZED),
           MQTT_STATUS_OK);
    pump_pair(c, s, 6);
    EXPECT(mqtt_client_poll_event(c, &cev), MQTT_STATUS_OK);
    CHECK(cev.kind == MQTT_EVENT_PUBLISH_COMPLETED && cev.publish_id == pub_id);
    CHECK(cev.reason_code == MQTT_RC_NOT_AUTHORIZED);

    /* A message to the client. */
    po.topic = str_view("cmd/reboot");
    po.payload = str_view("now");
    EXPECT(mqtt_server_publish(s, 7, &po, &pid), MQTT_STATUS_OK);
    CHECK(pid != 0);
    pump_pair(c, s, 7);
    EXPECT(mqtt_client_poll_event(c, &cev), MQTT_STATUS_OK);
    CHECK(cev.kind == MQTT_EVENT_MESSAGE && view_eq(cev.message.topic, "cmd/reboot"));
    ev = next_server_event(s);
    CHECK(ev.kind == MQTT_SERVER_EVENT_PUBLISH_COMPLETED && ev.packet_id == pid);
    CHECK(ev.has_reason_code && ev.reason_code == 0);

    /* The transport drops: the will, then the end. */
    EXPECT(mqtt_server_transport_closed(s, 8), MQTT_STATUS_OK);
    ev = next_server_event(s);
    CHECK(ev.kind == MQTT_SERVER_EVENT_WILL);
    CHECK(ev.packet.packet_type == MQTT_PACKET_PUBLISH && view_eq(ev.packet.topic, "dev/status"));
    CHECK(view_eq(ev.packet.payload, "lost"));
    ev = next_server_event(s);
    CHECK(ev.kind == MQTT_SERVER_EVENT_DISCONNECTED);
    CHECK(ev.close_reason == MQTT_CLOSE_TRANSPORT_CLOSED && view_eq(ev.text, "transport closed"));
    ev = next_server_event(s);
    CHECK(ev.kind == MQTT_SERVER_EVENT_NONE);
    EXPECT(mqtt_server_publish(s, 9, &po, NULL), MQTT_STATUS_NOT_CONNECTED);

    EXPECT(mqtt_server_test_panic(s), MQTT_STATUS_PANIC);
    EXPECT(mqtt_server_handle_timeout(s, 10), MQTT_STATUS_PANIC);
    mqtt_server_free(s);
    mqtt_client_free(c);

    /* A refusal ends the connection with the CONNACK in the event. */
    EXPECT(mqtt_server_new(NULL, false, 0, &s), MQTT_STATUS_OK);
    co.will = NULL;
    EXPECT(mqtt_client_new(&co, &c), MQTT_STATUS_OK);
    EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_OK);
    pump_pair(c, s, 1);
    ev = next_server_event(s);
    CHECK(ev.kind == MQTT_SERVER_EVENT_CONNECT);
    EXPECT(mqtt_server_reject(s, 1, MQTT_RC_NOT_AUTHORIZED), MQTT_STATUS_OK);
    ev = next_server_event(s);
    CHECK(ev.kind == MQTT_SERVER_EVENT_DISCONNECTED && ev.close_reason == MQTT_CLOSE_REJECTED);
    CHECK(ev.has_reason_code && ev.reason_code == MQTT_RC_NOT_AUTHORIZED);
    CHECK(ev.packet.packet_type == MQTT_PACKET_CONNACK);
    pump_pair(c, s, 2);
    EXPECT(mqtt_client_poll_event(c, &cev), MQTT_STATUS_OK);
    CHECK(cev.kind == MQTT_EVENT_DISCONNECTED && cev.disconnect_reason == MQTT_DISCONNECT_REFUSED);
    mqtt_server_free(s);
    mqtt_client_free(c);
}

/* ----- 8. durability ----------------------------------------------------- */

/* A 5.0 client keeping its session for an hour, transport opened and
 * CONNECT sent (not pumped yet). */
static peer_t *add_persistent_peer(world_t *w, const char *id) {
    mqtt_client_options o;
    peer_t *p = &w->peers[w->npeers++];
    EXPECT(mqtt_client_options_default(&o), MQTT_STATUS_OK);
    o.version = MQTT_VERSION_5;
    o.client_id = str_view(id);
    o.clean_start = false;
    o.session_expiry_interval = 3600;
    EXPECT(mqtt_client_new(&o, &p->client), MQTT_STATUS_OK);
    p->seen.refused_code = -1;
    EXPECT(mqtt_broker_connection_opened(w->broker, w->now, &p->conn), MQTT_STATUS_OK);
    EXPECT(mqtt_client_connect(p->client, w->now), MQTT_STATUS_OK);
    return p;
}

/* A world whose broker starts from `store` (len bytes) with persistence;
 * its own store starts as a snapshot of what was restored. */
static void world_restore(world_t *w, const uint8_t *store, size_t len,
                          mqtt_restore_report *r) {
    mqtt_broker_options o;
    size_t snap = 0;
    EXPECT(mqtt_broker_options_default(&o), MQTT_STATUS_OK);
    o.persistence = true;
    world_init(w, &o);
    w->now = 50000;
    memset(r, 0xAB, sizeof *r);
    EXPECT(mqtt_broker_restore(w->broker, store, len, w->now, r), MQTT_STATUS_OK);
    w->store_cap = 64;
    w->store = malloc(w->store_cap);
    if (w->store == NULL)
        abort();
    EXPECT(mqtt_broker_snapshot(w->broker, w->now, &snap), MQTT_STATUS_OK);
    CHECK(snap >= 16);
    take_store(w);
    CHECK(w->store_len == snap);
}

static void test_persistence(void) {
    world_t w, w2, w3;
    mqtt_broker_options o;
    mqtt_restore_report r;
    mqtt_broker *b = NULL;
    peer_t *keeper, *pub, *back, *late;
    uint8_t *saved, *bad, chunk[3], whole[4096];
    size_t saved_len, n = 0, len = 0, pieces = 0, total = 0;
    uint64_t conn = 0;
    int i;

    EXPECT(mqtt_broker_options_default(&o), MQTT_STATUS_OK);
    CHECK(o.persistence == false);
    o.persistence = true;
    world_init(&w, &o);
    /* A fresh store: the snapshot of the empty broker (store header). */
    w.store_cap = 64;
    w.store = malloc(w.store_cap);
    if (w.store == NULL)
        abort();
    EXPECT(mqtt_broker_snapshot(w.broker, w.now, &len), MQTT_STATUS_OK);
    take_store(&w);
    CHECK(w.store_len == len && len >= 16 && memcmp(w.store, "LMQTSTOR", 8) == 0);

    keeper = add_persistent_peer(&w, "keeper");
    pump(&w);
    CHECK(keeper->seen.connected == 1);
    subscribe(&w, keeper, "q/#", 1);
    CHECK(keeper->seen.subscribed == 1);
    /* The keeper goes offline; its session stays. */
    EXPECT(mqtt_broker_connection_closed(w.broker, keeper->conn, w.now), MQTT_STATUS_OK);
    EXPECT(mqtt_client_transport_closed(keeper->client, w.now), MQTT_STATUS_OK);
    keeper->conn = 0;
    pub = add_peer(&w, MQTT_VERSION_5, "pub", NULL, NULL, NULL);
    pump(&w);
    publish(&w, pub, "q/1", "one", 1, false);
    publish(&w, pub, "q/2", "two", 1, false);
    /* The rule: the record of a QoS 1 message comes before its PUBACK. */
    {
        mqtt_publish_options po;
        static uint8_t buf[256];
        uint64_t c = 0;
        memset(&po, 0, sizeof po);
        po.topic = str_view("q/3");
        po.payload = str_view("three");
        po.qos = 1;
        EXPECT(mqtt_client_publish(pub->client, &po, w.now, NULL), MQTT_STATUS_OK);
        EXPECT(mqtt_client_poll_transmit(pub->client, buf, sizeof buf, &n), MQTT_STATUS_OK);
        EXPECT(mqtt_broker_handle_input(w.broker, pub->conn, buf, n, w.now), MQTT_STATUS_OK);
        EXPECT(mqtt_broker_output_len(w.broker, &c, &len), MQTT_STATUS_OK);
        CHECK(c == pub->conn && len > 0); /* the PUBACK, waiting */
        EXPECT(mqtt_broker_store_len(w.broker, w.now, &len), MQTT_STATUS_OK);
        CHECK(len > 0); /* and the record that makes it true */
        pump(&w);
        CHECK(pub->seen.completed == 3);
    }
    publish(&w, pub, "r/x", "kept", 1, true);
    CHECK(keeper->seen.messages == 0);
    take_store(&w);

    /* The crash: the broker is gone, the store is what remains. */
    saved_len = w.store_len;
    saved = malloc(saved_len);
    if (saved == NULL)
        abort();
    memcpy(saved, w.store, saved_len);
    world_free(&w);

    world_restore(&w2, saved, saved_len, &r);
    CHECK(r.valid_len == saved_len && r.discarded_bytes == 0 && r.discarded_records == 0);
    CHECK(r.damage == MQTT_STORE_DAMAGE_NONE && r.damage_offset == 0);
    CHECK(r.sessions == 1 && r.expired_sessions == 0 && r.subscriptions == 1);
    CHECK(r.messages == 3 && r.expired_messages == 0 && r.retained == 1 && r.wills == 0);
    CHECK(r.batches > 1 && r.records > 0 && r.has_last_commit && r.last_commit_ms == 1000);
    back = add_persistent_peer(&w2, "keeper");
    pump(&w2);
    CHECK(back->seen.connected == 1);
    CHECK(back->seen.messages == 3);
    if (back->seen.messages == 3) {
        CHECK(strcmp(back->seen.topic[0], "q/1") == 0 && strcmp(back->seen.payload[0], "one") == 0);
        CHECK(strcmp(back->seen.payload[1], "two") == 0);
        CHECK(strcmp(back->seen.payload[2], "three") == 0);
        for (i = 0; i < 3; i++)
            CHECK(back->seen.qos[i] == 1);
    }
    late = add_peer(&w2, MQTT_VERSION_5, "late", NULL, NULL, NULL);
    pump(&w2);
    subscribe(&w2, late, "r/#", 1);
    CHECK(late->seen.messages == 1 && strcmp(late->seen.payload[0], "kept") == 0 &&
          late->seen.retain[0] == 1);
    /* The delivered messages were acknowledged: the new store (snapshot
     * plus batches) restores a session with nothing queued. */
    take_store(&w2);
    world_restore(&w3, w2.store, w2.store_len, &r);
    CHECK(r.sessions == 1 && r.messages == 0 && r.retained == 1 && r.damage == MQTT_STORE_DAMAGE_NONE);
    world_free(&w3);
    /* A broker with a connection cannot restore. */
    EXPECT(mqtt_broker_restore(w2.broker, saved, saved_len, w2.now, &r), MQTT_STATUS_NOT_EMPTY);
    world_free(&w2);

    /* Torn: the last batch cut short by a crash is discarded whole. */
    world_restore(&w2, saved, saved_len - 3, &r);
    CHECK(r.valid_len < saved_len - 3 && r.valid_len >= 16);
    CHECK(r.discarded_bytes == saved_len - 3 - r.valid_len);
    CHECK(r.damage == MQTT_STORE_DAMAGE_TRUNCATED && r.damage_offset >= r.valid_len);
    CHECK(r.sessions == 1 && r.messages == 3 && r.retained == 0); /* the retained batch was last */
    world_free(&w2);
    /* Damaged: one flipped byte in the middle ends the valid prefix there. */
    bad = malloc(saved_len);
    if (bad == NULL)
        abort();
    memcpy(bad, saved, saved_len);
    bad[saved_len / 2] ^= 0x40;
    world_restore(&w2, bad, saved_len, &r);
    CHECK(r.damage == MQTT_STORE_DAMAGE_CHECKSUM || r.damage == MQTT_STORE_DAMAGE_TOO_LONG ||
          r.damage == MQTT_STORE_DAMAGE_TRUNCATED);
    CHECK(r.damage_offset <= saved_len / 2 && r.damage_offset >= r.valid_len);
    CHECK(r.valid_len + r.discarded_bytes == saved_len && r.discarded_bytes > 0);
    CHECK(r.messages < 3 || r.retained == 0);
    world_free(&w2);

    /* Refused stores, each with its status; nothing written to the report. */
    EXPECT(mqtt_broker_new(&o, &b), MQTT_STATUS_OK);
    memset(&r, 0, sizeof r);
    EXPECT(mqtt_broker_restore(b, (const uint8_t *)"not a store at all", 18, 1, &r),
           MQTT_STATUS_NOT_A_STORE);
    CHECK(r.valid_len == 0);
    memcpy(bad, saved, 16);
    bad[8] = 99; /* format version 99 */
    EXPECT(mqtt_broker_restore(b, bad, 16, 1, &r), MQTT_STATUS_STORE_TOO_NEW);
    {
        mqtt_bytes_view err;
        EXPECT(mqtt_broker_last_error(b, &err), MQTT_STATUS_OK);
        CHECK(err.len > 0 && memchr(err.ptr, '9', err.len) != NULL);
    }
    CHECK(strcmp(mqtt_status_str(MQTT_STATUS_NOT_A_STORE), "not a libmqtt store") == 0);
    EXPECT(mqtt_broker_restore(b, NULL, 5, 1, &r), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_restore(NULL, saved, saved_len, 1, &r), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_poll_store(b, 1, NULL, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_poll_store(b, 1, NULL, 5, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_store_len(b, 1, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_snapshot(b, 1, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_broker_snapshot(NULL, 1, &len), MQTT_STATUS_NULL_ARGUMENT);
    /* Empty data is an empty store; the report says nothing was there. */
    memset(&r, 0xAB, sizeof r);
    EXPECT(mqtt_broker_restore(b, NULL, 0, 1, &r), MQTT_STATUS_OK);
    CHECK(r.valid_len == 0 && r.batches == 0 && !r.has_last_commit && r.sessions == 0);
    /* Then the saved store, report not wanted. */
    EXPECT(mqtt_broker_restore(b, saved, saved_len, 2, NULL), MQTT_STATUS_OK);

    /* Buffers too small lose nothing: a snapshot taken 3 bytes at a time,
     * with a 0-byte call in the middle, equals one taken whole. */
    EXPECT(mqtt_broker_snapshot(b, 2, &len), MQTT_STATUS_OK);
    CHECK(len > 16 && len <= sizeof whole);
    EXPECT(mqtt_broker_poll_store(b, 2, chunk, 0, &n), MQTT_STATUS_OK);
    CHECK(n == 0);
    for (;;) {
        size_t left = 0;
        EXPECT(mqtt_broker_store_len(b, 2, &left), MQTT_STATUS_OK);
        CHECK(left == len - total);
        EXPECT(mqtt_broker_poll_store(b, 2, chunk, sizeof chunk, &n), MQTT_STATUS_OK);
        if (n == 0)
            break;
        CHECK(total + n <= sizeof whole);
        if (total + n <= sizeof whole)
            memcpy(whole + total, chunk, n);
        total += n;
        pieces++;
    }
    CHECK(total == len && pieces == (len + 2) / 3);
    {
        uint8_t *again = malloc(len);
        if (again == NULL)
            abort();
        EXPECT(mqtt_broker_snapshot(b, 2, &n), MQTT_STATUS_OK);
        CHECK(n == len);
        EXPECT(mqtt_broker_poll_store(b, 2, again, len, &n), MQTT_STATUS_OK);
        CHECK(n == len && memcmp(again, whole, len) == 0);
        EXPECT(mqtt_broker_poll_store(b, 2, again, len, &n), MQTT_STATUS_OK);
        CHECK(n == 0);
        free(again);
    }
    /* Persistence off: nothing to store, ever. */
    EXPECT(mqtt_broker_connection_opened(b, 3, &conn), MQTT_STATUS_OK);
    mqtt_broker_free(b);
    EXPECT(mqtt_broker_new(NULL, &b), MQTT_STATUS_OK);
    EXPECT(mqtt_broker_connection_opened(b, 3, &conn), MQTT_STATUS_OK);
    EXPECT(mqtt_broker_store_len(b, 3, &len), MQTT_STATUS_OK);
    CHECK(len == 0);
    mqtt_broker_free(b);
    free(bad);
    free(saved);
}

int main(void) {
    test_arguments();
    test_round_trips(MQTT_VERSION_5);
    test_round_trips(MQTT_VERSION_3_1_1);
    test_retained();
    test_will();
    test_limits();
    test_panic();
    test_server();
    test_persistence();
    if (failures) {
        fprintf(stderr, "test_broker: %d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("test_broker: %d checks passed\n", checks);
    return 0;
}
