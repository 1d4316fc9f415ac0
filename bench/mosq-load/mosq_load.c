/*
 * mosq_load: a broker load generator on Debian's libmosquitto
 * (libmosquitto-dev), the third-party load beside bench/src/bin/mqtt-load.rs.
 * A benchmark tool, not a test.
 *
 * P publisher threads and S subscriber threads, each with its own
 * `struct mosquitto` driven by its own mosquitto_loop(). Publisher p
 * publishes to TOPIC/p; every subscriber subscribes to TOPIC/+, so each
 * should receive every message. The payload starts with the publisher
 * number and the message's sequence number (two little-endian 32-bit
 * words), so every subscriber counts, per message id, what it received:
 * unique messages, duplicates, and (from the publishers' counts) losses.
 *
 * Publishers keep a window of messages not yet written (QoS 0) or not yet
 * acknowledged (QoS 1): --inflight, also given to libmosquitto as its
 * max_inflight option (mosquitto_max_inflight_messages_set), so neither
 * the library's queue nor the broker's receive window is overrun.
 *
 * Timing: from the start signal (every subscription acknowledged, every
 * publisher connected) to the last message received by any subscriber.
 * The run ends when every subscriber has every message, or when no message
 * has arrived for --idle-ms after the publishers finished, or at --timeout.
 *
 *   mosq_load --port N [--host 127.0.0.1] [--qos 0|1] [--payload 64]
 *             [--publishers 1] [--subscribers 1] [--messages 20000 |
 *             --duration SECONDS] [--inflight 64] [--version 5|311|31]
 *             [--cafile F [--cert F --key F] [--insecure]]
 *             [--receive-max N] [--topic bench] [--idle-ms 2000] [--timeout 120]
 *
 * --receive-max: the 5.0 Receive Maximum the clients announce (libmosquitto's
 * default, 20, unless given): a broker keeps at most that many QoS 1
 * messages in flight to each subscriber and queues the rest (within its
 * max_queued_messages, dropping beyond it).
 *
 * --persistent: subscribers keep their session (client id ID_PREFIX + "sub" + i,
 * clean session false; 5.0: Session Expiry Interval --session-expiry, 3600
 * s unless given), so a broker must keep every QoS 1 message for them as
 * it would for an offline client (issue 18's durability benchmark). The
 * warm-up and the measured run may use the same ids: the session resumes.
 *
 * --retain: publishers set RETAIN and publish each message to a topic of its
 * own, TOPIC/p/seq (so --publishers P --messages M leaves P x M retained
 * messages in the broker; use --subscribers 0).
 *
 * --fill-sessions N: instead of the load, N persistent sessions (client id
 * ID_PREFIX + "s" + i, clean session false, 5.0: --session-expiry), each
 * with one subscription (TOPIC/s/i, --qos), made by --publishers threads
 * (connect, subscribe, disconnect); the source addresses are spread over
 * 127.0.0.1 to 127.0.0.16 (a host other than 127.0.0.1 keeps its own), so
 * TIME_WAIT sockets do not exhaust the ephemeral ports. Prints one JSON line
 * (sessions made, seconds).
 *
 * Output: one JSON line on stdout (keys as mqtt-load's --json, plus
 * "tool"). Exit status: 0 when the run ended normally (QoS 0 losses are
 * reported, not an error); 3 when a QoS 1 message is missing; 2 on the
 * overall timeout; 1 on a connection or protocol error; 64 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct args {
    const char *host;
    int port;
    int qos;
    int payload;
    int publishers;
    int subscribers;
    long messages;
    double duration;
    int inflight;
    int version;
    const char *cafile, *cert, *key;
    int insecure;
    int receive_max;
    const char *topic;
    double idle;
    double timeout;
    int persistent;
    long session_expiry;
    const char *id_prefix;
    int retain;
    long fill_sessions;
};

static struct args A = {
    "127.0.0.1", 0, 0, 64, 1, 1, 20000, 0.0, 64, MQTT_PROTOCOL_V5,
    NULL, NULL, NULL, 0, 0, "bench", 2.0, 120.0, 0, 3600, "mqload-", 0, 0,
};

/* Shared between threads. */
static atomic_int ready;           /* clients connected (and subscribed) */
static atomic_int go;              /* the start signal */
static atomic_int stop;            /* subscribers: leave the loop */
static atomic_int pubs_done;       /* publishers finished */
static atomic_long total_unique;   /* unique messages received, all subscribers */
static atomic_long last_rx_ns;     /* monotonic time of the last message received */
static atomic_long pub_end_ns;     /* monotonic time the last publisher finished */
static double t0_s;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- per-client state ---- */

struct pub {
    int index;
    struct mosquitto *m;
    int connected; /* 0 pending, 1 ok, -1 refused */
    long sent;     /* mosquitto_publish accepted */
    long done;     /* on_publish: written (QoS 0) or acknowledged (QoS 1) */
    long refused;  /* 5.0 PUBACK with a reason code >= 0x80 */
    int error;
    char errmsg[128];
};

/* A growable bit set: one per (subscriber, publisher). */
struct seen {
    unsigned char *bits;
    size_t bytes;
};

struct sub {
    int index;
    struct mosquitto *m;
    int connected;
    int subscribed; /* 0 pending, 1 ok, -1 refused */
    struct seen *seen; /* [publishers] */
    long unique;
    long duplicates;
    long bad_payload;
    long out_of_order;
    long *next; /* [publishers]: the next sequence number expected */
    int error;
    char errmsg[128];
};

static struct pub *PUBS;
static struct sub *SUBS;

static int seen_set(struct seen *s, uint32_t n) {
    size_t byte = n / 8;
    unsigned char bit = (unsigned char)(1u << (n % 8));
    if (byte >= s->bytes) {
        size_t want = s->bytes ? s->bytes : 4096;
        while (want <= byte) want *= 2;
        unsigned char *p = realloc(s->bits, want);
        if (!p) return -1;
        memset(p + s->bytes, 0, want - s->bytes);
        s->bits = p;
        s->bytes = want;
    }
    if (s->bits[byte] & bit) return 1;
    s->bits[byte] |= bit;
    return 0;
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- callbacks ---- */

static void on_connect_pub(struct mosquitto *m, void *u, int rc, int flags, const mosquitto_property *p) {
    (void)m; (void)flags; (void)p;
    ((struct pub *)u)->connected = rc == 0 ? 1 : -1;
}

static void on_publish_pub(struct mosquitto *m, void *u, int mid, int reason, const mosquitto_property *p) {
    (void)m; (void)mid; (void)p;
    struct pub *s = u;
    s->done++;
    if (reason >= 0x80) s->refused++;
}

static void on_connect_sub(struct mosquitto *m, void *u, int rc, int flags, const mosquitto_property *p) {
    (void)m; (void)flags; (void)p;
    ((struct sub *)u)->connected = rc == 0 ? 1 : -1;
}

static void on_subscribe_sub(struct mosquitto *m, void *u, int mid, int n, const int *granted,
                             const mosquitto_property *p) {
    (void)m; (void)mid; (void)p;
    struct sub *s = u;
    s->subscribed = (n == 1 && granted[0] >= 0 && granted[0] <= 2) ? 1 : -1;
}

static void on_message_sub(struct mosquitto *m, void *u, const struct mosquitto_message *msg,
                           const mosquitto_property *p) {
    (void)m; (void)p;
    struct sub *s = u;
    if (msg->payloadlen < 8) {
        s->bad_payload++;
        return;
    }
    const unsigned char *b = msg->payload;
    uint32_t pub = get32(b), seq = get32(b + 4);
    if (pub >= (uint32_t)A.publishers) {
        s->bad_payload++;
        return;
    }
    int r = seen_set(&s->seen[pub], seq);
    if (r < 0) {
        s->bad_payload++;
        return;
    }
    if (r == 1) {
        s->duplicates++;
        return;
    }
    if ((long)seq != s->next[pub]) s->out_of_order++;
    s->next[pub] = (long)seq + 1;
    s->unique++;
    atomic_fetch_add_explicit(&total_unique, 1, memory_order_relaxed);
    atomic_store_explicit(&last_rx_ns, now_ns(), memory_order_relaxed);
}

/* ---- client setup ---- */

/* A client: a generated id and a clean session unless `id` is given (then
 * clean session false: a persistent session). */
static struct mosquitto *client_id(const char *id, void *user, char *err, size_t errlen) {
    struct mosquitto *m = mosquitto_new(id, id == NULL, user);
    if (!m) {
        snprintf(err, errlen, "mosquitto_new failed");
        return NULL;
    }
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, A.version);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_max_inflight_messages_set(m, (unsigned int)A.inflight);
    /* 5.0: the Receive Maximum announced in CONNECT (libmosquitto's
     * default is 20; 0 here keeps it). */
    if (A.receive_max > 0) mosquitto_int_option(m, MOSQ_OPT_RECEIVE_MAXIMUM, A.receive_max);
    if (A.cafile) {
        int rc = mosquitto_tls_set(m, A.cafile, NULL, A.cert, A.key, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "mosquitto_tls_set: %s", mosquitto_strerror(rc));
            mosquitto_destroy(m);
            return NULL;
        }
        if (A.insecure) mosquitto_tls_insecure_set(m, true);
    }
    return m;
}

static struct mosquitto *client(void *user, char *err, size_t errlen) {
    return client_id(NULL, user, err, errlen);
}

/* CONNECT, with a Session Expiry Interval for a persistent 5.0 session. */
static int connect_client(struct mosquitto *m, int persistent, const char *bind) {
    mosquitto_property *props = NULL;
    if (persistent && A.version == MQTT_PROTOCOL_V5 &&
        mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, (uint32_t)A.session_expiry) !=
            MOSQ_ERR_SUCCESS)
        return MOSQ_ERR_NOMEM;
    int rc = mosquitto_connect_bind_v5(m, A.host, A.port, 60, bind, props);
    mosquitto_property_free_all(&props);
    return rc;
}

/* Loops until *flag != 0 or the deadline; returns 0 on success. */
static int wait_flag(struct mosquitto *m, volatile int *flag, double deadline, char *err, size_t errlen,
                     const char *what) {
    while (*flag == 0) {
        int rc = mosquitto_loop(m, 100, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "%s: %s", what, mosquitto_strerror(rc));
            return -1;
        }
        if (now_s() > deadline) {
            snprintf(err, errlen, "%s: timed out", what);
            return -1;
        }
    }
    if (*flag < 0) {
        snprintf(err, errlen, "%s: refused", what);
        return -1;
    }
    return 0;
}

static void *publisher(void *arg) {
    struct pub *s = arg;
    double deadline = now_s() + A.timeout;
    unsigned char *payload = calloc(1, (size_t)A.payload);
    char topic[256];
    snprintf(topic, sizeof topic, "%s/%d", A.topic, s->index);
    if (!payload) {
        snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
        goto fail;
    }
    memset(payload + 8, 'x', (size_t)A.payload - 8);
    put32(payload, (uint32_t)s->index);
    s->m = client(s, s->errmsg, sizeof s->errmsg);
    if (!s->m) goto fail;
    mosquitto_connect_v5_callback_set(s->m, on_connect_pub);
    mosquitto_publish_v5_callback_set(s->m, on_publish_pub);
    int rc = mosquitto_connect(s->m, A.host, A.port, 60);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(s->errmsg, sizeof s->errmsg, "connect: %s", mosquitto_strerror(rc));
        goto fail;
    }
    if (wait_flag(s->m, &s->connected, deadline, s->errmsg, sizeof s->errmsg, "publisher CONNACK")) goto fail;
    atomic_fetch_add(&ready, 1);
    while (!atomic_load(&go)) {
        mosquitto_loop(s->m, 1, 1);
        if (now_s() > deadline) {
            snprintf(s->errmsg, sizeof s->errmsg, "publisher: no start signal (timed out)");
            goto fail;
        }
    }
    double end = A.duration > 0 ? t0_s + A.duration : 0;
    for (;;) {
        if (A.duration > 0) {
            if ((s->sent & 63) == 0 && now_s() >= end) break;
        } else if (s->sent >= A.messages) {
            break;
        }
        if (s->sent - s->done >= A.inflight) {
            rc = mosquitto_loop(s->m, 100, 1);
            if (rc != MOSQ_ERR_SUCCESS) {
                snprintf(s->errmsg, sizeof s->errmsg, "publisher loop: %s", mosquitto_strerror(rc));
                goto fail;
            }
            if (now_s() > deadline) {
                snprintf(s->errmsg, sizeof s->errmsg, "publisher: timed out");
                goto fail;
            }
            continue;
        }
        put32(payload + 4, (uint32_t)s->sent);
        if (A.retain) snprintf(topic, sizeof topic, "%s/%d/%ld", A.topic, s->index, s->sent);
        rc = mosquitto_publish(s->m, NULL, topic, A.payload, payload, A.qos, A.retain != 0);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(s->errmsg, sizeof s->errmsg, "publish: %s", mosquitto_strerror(rc));
            goto fail;
        }
        s->sent++;
        /* Read acknowledgements now and then without waiting. */
        if ((s->sent & 31) == 0) mosquitto_loop(s->m, 0, 1);
    }
    while (s->done < s->sent) {
        rc = mosquitto_loop(s->m, 100, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(s->errmsg, sizeof s->errmsg, "publisher drain: %s", mosquitto_strerror(rc));
            goto fail;
        }
        if (now_s() > deadline) {
            snprintf(s->errmsg, sizeof s->errmsg, "publisher drain: timed out");
            goto fail;
        }
    }
    {
        long t = now_ns(), prev = atomic_load(&pub_end_ns);
        while (t > prev && !atomic_compare_exchange_weak(&pub_end_ns, &prev, t)) {
        }
    }
    mosquitto_disconnect(s->m);
    mosquitto_loop(s->m, 10, 1);
    free(payload);
    atomic_fetch_add(&pubs_done, 1);
    return NULL;
fail:
    s->error = 1;
    free(payload);
    if (!atomic_load(&go)) atomic_fetch_add(&ready, 1); /* do not hold up the start */
    atomic_fetch_add(&pubs_done, 1);
    return NULL;
}

static void *subscriber(void *arg) {
    struct sub *s = arg;
    double deadline = now_s() + A.timeout;
    char topic[256];
    snprintf(topic, sizeof topic, "%s/+", A.topic);
    char id[128];
    snprintf(id, sizeof id, "%ssub%d", A.id_prefix, s->index);
    s->m = client_id(A.persistent ? id : NULL, s, s->errmsg, sizeof s->errmsg);
    if (!s->m) goto fail;
    mosquitto_connect_v5_callback_set(s->m, on_connect_sub);
    mosquitto_subscribe_v5_callback_set(s->m, on_subscribe_sub);
    mosquitto_message_v5_callback_set(s->m, on_message_sub);
    int rc = connect_client(s->m, A.persistent, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(s->errmsg, sizeof s->errmsg, "connect: %s", mosquitto_strerror(rc));
        goto fail;
    }
    if (wait_flag(s->m, &s->connected, deadline, s->errmsg, sizeof s->errmsg, "subscriber CONNACK")) goto fail;
    rc = mosquitto_subscribe(s->m, NULL, topic, A.qos);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(s->errmsg, sizeof s->errmsg, "subscribe: %s", mosquitto_strerror(rc));
        goto fail;
    }
    if (wait_flag(s->m, &s->subscribed, deadline, s->errmsg, sizeof s->errmsg, "SUBACK")) goto fail;
    atomic_fetch_add(&ready, 1);
    while (!atomic_load(&stop)) {
        rc = mosquitto_loop(s->m, 50, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(s->errmsg, sizeof s->errmsg, "subscriber loop: %s", mosquitto_strerror(rc));
            goto fail;
        }
    }
    mosquitto_disconnect(s->m);
    mosquitto_loop(s->m, 10, 1);
    return NULL;
fail:
    s->error = 1;
    if (!atomic_load(&go)) atomic_fetch_add(&ready, 1);
    return NULL;
}

/* ---- --fill-sessions ---- */

static atomic_long fill_next;  /* next session number to make */
static atomic_long fill_made;  /* sessions made */
static atomic_int fill_failed; /* a thread gave up */

struct filler {
    int connected;
    int subscribed;
};

static void on_connect_fill(struct mosquitto *m, void *u, int rc, int flags, const mosquitto_property *p) {
    (void)m; (void)flags; (void)p;
    ((struct filler *)u)->connected = rc == 0 ? 1 : -1;
}

static void on_subscribe_fill(struct mosquitto *m, void *u, int mid, int n, const int *granted,
                              const mosquitto_property *p) {
    (void)m; (void)mid; (void)p;
    ((struct filler *)u)->subscribed = (n == 1 && granted[0] >= 0 && granted[0] <= 2) ? 1 : -1;
}

static void *filler(void *arg) {
    (void)arg;
    double deadline = now_s() + A.timeout;
    char err[256], id[128], topic[256], bind[32];
    for (;;) {
        long i = atomic_fetch_add(&fill_next, 1);
        if (i >= A.fill_sessions || atomic_load(&fill_failed)) break;
        struct filler f = {0, 0};
        snprintf(id, sizeof id, "%ss%ld", A.id_prefix, i);
        snprintf(topic, sizeof topic, "%s/s/%ld", A.topic, i);
        snprintf(bind, sizeof bind, "127.0.0.%ld", 1 + i % 16);
        struct mosquitto *m = client_id(id, &f, err, sizeof err);
        if (!m) goto fail;
        mosquitto_connect_v5_callback_set(m, on_connect_fill);
        mosquitto_subscribe_v5_callback_set(m, on_subscribe_fill);
        int rc = connect_client(m, 1, strcmp(A.host, "127.0.0.1") ? NULL : bind);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, sizeof err, "connect %s: %s", id, mosquitto_strerror(rc));
            goto fail_m;
        }
        if (wait_flag(m, &f.connected, deadline, err, sizeof err, "CONNACK")) goto fail_m;
        rc = mosquitto_subscribe(m, NULL, topic, A.qos);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, sizeof err, "subscribe: %s", mosquitto_strerror(rc));
            goto fail_m;
        }
        if (wait_flag(m, &f.subscribed, deadline, err, sizeof err, "SUBACK")) goto fail_m;
        mosquitto_disconnect(m);
        mosquitto_loop(m, 10, 1);
        mosquitto_destroy(m);
        atomic_fetch_add(&fill_made, 1);
        continue;
    fail_m:
        mosquitto_destroy(m);
    fail:
        fprintf(stderr, "mosq_load: session %ld: %s\n", i, err);
        atomic_store(&fill_failed, 1);
        break;
    }
    return NULL;
}

static int fill_sessions(void) {
    int n = A.publishers;
    pthread_t *t = calloc((size_t)n, sizeof *t);
    if (!t) return 1;
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, filler, NULL)) return 1;
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    double el = now_s() - t0;
    long made = atomic_load(&fill_made);
    printf("{\"tool\":\"mosq_load\",\"fill_sessions\":%ld,\"made\":%ld,\"seconds\":%.3f,\"per_s\":%.1f}\n",
           A.fill_sessions, made, el, (double)made / (el > 0 ? el : 1e-9));
    fflush(stdout);
    free(t);
    mosquitto_lib_cleanup();
    return made == A.fill_sessions ? 0 : 1;
}

/* ---- main ---- */

static void usage(void) {
    fprintf(stderr,
            "usage: mosq_load --port N [--host H] [--qos 0|1] [--payload 64] [--publishers 1]\n"
            "                 [--subscribers 1] [--messages 20000 | --duration SECONDS] [--inflight 64]\n"
            "                 [--version 5|311|31] [--cafile F [--cert F --key F] [--insecure]]\n"
            "                 [--receive-max N] [--topic bench] [--idle-ms 2000] [--timeout 120]\n"
            "                 [--persistent] [--session-expiry 3600] [--id-prefix mqload-] [--retain]\n"
            "                 [--fill-sessions N]\n");
}

static int parse(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--insecure")) {
            A.insecure = 1;
            continue;
        }
        if (!strcmp(f, "--persistent")) {
            A.persistent = 1;
            continue;
        }
        if (!strcmp(f, "--retain")) {
            A.retain = 1;
            continue;
        }
        if (i + 1 >= argc) return -1;
        const char *v = argv[++i];
        if (!strcmp(f, "--host")) A.host = v;
        else if (!strcmp(f, "--port")) A.port = atoi(v);
        else if (!strcmp(f, "--qos")) A.qos = atoi(v);
        else if (!strcmp(f, "--payload")) A.payload = atoi(v);
        else if (!strcmp(f, "--publishers")) A.publishers = atoi(v);
        else if (!strcmp(f, "--subscribers")) A.subscribers = atoi(v);
        else if (!strcmp(f, "--messages")) A.messages = atol(v);
        else if (!strcmp(f, "--duration")) A.duration = atof(v);
        else if (!strcmp(f, "--inflight")) A.inflight = atoi(v);
        else if (!strcmp(f, "--cafile")) A.cafile = v;
        else if (!strcmp(f, "--cert")) A.cert = v;
        else if (!strcmp(f, "--key")) A.key = v;
        else if (!strcmp(f, "--receive-max")) A.receive_max = atoi(v);
        else if (!strcmp(f, "--topic")) A.topic = v;
        else if (!strcmp(f, "--idle-ms")) A.idle = atof(v) / 1000.0;
        else if (!strcmp(f, "--timeout")) A.timeout = atof(v);
        else if (!strcmp(f, "--session-expiry")) A.session_expiry = atol(v);
        else if (!strcmp(f, "--id-prefix")) A.id_prefix = v;
        else if (!strcmp(f, "--fill-sessions")) A.fill_sessions = atol(v);
        else if (!strcmp(f, "--version")) {
            if (!strcmp(v, "5")) A.version = MQTT_PROTOCOL_V5;
            else if (!strcmp(v, "311") || !strcmp(v, "3") || !strcmp(v, "3.1.1")) A.version = MQTT_PROTOCOL_V311;
            else if (!strcmp(v, "31") || !strcmp(v, "3.1")) A.version = MQTT_PROTOCOL_V31;
            else return -1;
        } else return -1;
    }
    if (A.port <= 0 || A.port > 65535 || A.qos < 0 || A.qos > 2 || A.payload < 8 || A.publishers < 1 ||
        A.subscribers < 0 || A.inflight < 1 || A.receive_max < 0 || A.receive_max > 65535 ||
        (A.messages < 1 && A.duration <= 0) || A.timeout <= 0 || A.session_expiry < 0 ||
        A.session_expiry > 0xFFFFFFFFL || A.fill_sessions < 0 ||
        (A.cert && !A.key) || (A.key && !A.cert) || ((A.cert || A.insecure) && !A.cafile))
        return -1;
    return 0;
}

int main(int argc, char **argv) {
    if (parse(argc, argv)) {
        usage();
        return 64;
    }
    mosquitto_lib_init();
    if (A.fill_sessions > 0) return fill_sessions();
    PUBS = calloc((size_t)A.publishers, sizeof *PUBS);
    SUBS = calloc((size_t)(A.subscribers ? A.subscribers : 1), sizeof *SUBS);
    pthread_t *pt = calloc((size_t)A.publishers, sizeof *pt);
    pthread_t *st = calloc((size_t)(A.subscribers ? A.subscribers : 1), sizeof *st);
    if (!PUBS || !SUBS || !pt || !st) return 1;
    int nclients = A.publishers + A.subscribers;
    double deadline = now_s() + A.timeout;

    for (int i = 0; i < A.subscribers; i++) {
        SUBS[i].index = i;
        SUBS[i].seen = calloc((size_t)A.publishers, sizeof(struct seen));
        SUBS[i].next = calloc((size_t)A.publishers, sizeof(long));
        if (!SUBS[i].seen || !SUBS[i].next) return 1;
        if (pthread_create(&st[i], NULL, subscriber, &SUBS[i])) return 1;
    }
    for (int i = 0; i < A.publishers; i++) {
        PUBS[i].index = i;
        if (pthread_create(&pt[i], NULL, publisher, &PUBS[i])) return 1;
    }
    int timed_out = 0;
    while (atomic_load(&ready) < nclients) {
        if (now_s() > deadline) {
            timed_out = 1;
            break;
        }
        sleep_ms(1);
    }
    t0_s = now_s();
    long t0_ns = now_ns();
    atomic_store(&last_rx_ns, t0_ns);
    atomic_store(&go, 1);

    /* Wait for the publishers, then for the subscribers to have everything
     * (or to go quiet for --idle-ms, or the timeout). */
    while (atomic_load(&pubs_done) < A.publishers) {
        if (now_s() > deadline) {
            timed_out = 1;
            break;
        }
        sleep_ms(2);
    }
    long sent = 0;
    for (int i = 0; i < A.publishers; i++) sent += PUBS[i].sent;
    long expected = sent * A.subscribers;
    long idle_ns = (long)(A.idle * 1e9);
    while (!timed_out && atomic_load(&total_unique) < expected) {
        long quiet_since = atomic_load(&last_rx_ns);
        long ps = atomic_load(&pub_end_ns);
        if (ps > quiet_since) quiet_since = ps;
        if (now_ns() - quiet_since > idle_ns) break;
        if (now_s() > deadline) {
            timed_out = 1;
            break;
        }
        sleep_ms(2);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < A.publishers; i++) pthread_join(pt[i], NULL);
    for (int i = 0; i < A.subscribers; i++) pthread_join(st[i], NULL);

    sent = 0;
    long done = 0, refused = 0, received = 0, dups = 0, bad = 0, ooo = 0;
    int errors = 0;
    for (int i = 0; i < A.publishers; i++) {
        sent += PUBS[i].sent;
        done += PUBS[i].done;
        refused += PUBS[i].refused;
        if (PUBS[i].error) {
            errors++;
            fprintf(stderr, "mosq_load: publisher %d: %s\n", i, PUBS[i].errmsg);
        }
    }
    for (int i = 0; i < A.subscribers; i++) {
        received += SUBS[i].unique;
        dups += SUBS[i].duplicates;
        bad += SUBS[i].bad_payload;
        ooo += SUBS[i].out_of_order;
        if (SUBS[i].error) {
            errors++;
            fprintf(stderr, "mosq_load: subscriber %d: %s\n", i, SUBS[i].errmsg);
        }
    }
    expected = sent * A.subscribers;
    long lost = expected > received ? expected - received : 0;
    long last = atomic_load(&last_rx_ns), pend = atomic_load(&pub_end_ns);
    double wall = (double)(last - t0_ns) / 1e9;
    double pub_wall = (double)((pend > t0_ns ? pend : last) - t0_ns) / 1e9;
    if (wall <= 0) wall = 1e-9;
    if (pub_wall <= 0) pub_wall = 1e-9;
    const char *ver = A.version == MQTT_PROTOCOL_V5 ? "5.0" : A.version == MQTT_PROTOCOL_V311 ? "3.1.1" : "3.1";
    int major, minor, rev;
    mosquitto_lib_version(&major, &minor, &rev);
    printf("{\"tool\":\"mosq_load\",\"libmosquitto\":\"%d.%d.%d\",\"tls\":%s,\"qos\":%d,\"publishers\":%d,"
           "\"subscribers\":%d,\"messages_per_publisher\":%ld,\"duration_s\":%.3f,\"payload\":%d,"
           "\"version\":\"%s\",\"window\":%d,\"published\":%ld,\"acknowledged\":%ld,\"refused\":%ld,"
           "\"expected\":%ld,\"received\":%ld,\"lost\":%ld,\"duplicates\":%ld,\"out_of_order\":%ld,"
           "\"bad_payload\":%ld,\"wall_s\":%.6f,\"publish_s\":%.6f,\"received_per_s\":%.1f,"
           "\"published_per_s\":%.1f,\"errors\":%d,\"timed_out\":%s}\n",
           major, minor, rev, A.cafile ? "true" : "false", A.qos, A.publishers, A.subscribers,
           A.duration > 0 ? 0L : A.messages, A.duration, A.payload, ver, A.inflight, sent, done, refused,
           expected, received, lost, dups, ooo, bad, wall, pub_wall, (double)received / wall,
           (double)sent / pub_wall, errors, timed_out ? "true" : "false");
    fflush(stdout);
    mosquitto_lib_cleanup();
    if (timed_out) return 2;
    if (errors || bad) return 1;
    if (A.qos > 0 && lost > 0) return 3;
    return 0;
}
