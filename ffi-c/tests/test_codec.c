/*
 * C tests of the codec API in include/mqtt.h (mqtt_decode, mqtt_encode,
 * mqtt_encode_publish and the view accessors), run by `make c-test` under
 * AddressSanitizer + UndefinedBehaviorSanitizer and under valgrind.
 *
 * 1. NULL and invalid arguments give the documented status.
 * 2. Exact bytes of small packets (PINGREQ, PUBACK 3.1.1, DISCONNECT).
 * 3. Encode then decode gives the same fields back, for every packet
 *    mqtt_encode accepts, with 5.0 properties; CONNECT comes from a real
 *    mqtt_client (with a will and user properties).
 * 4. Framing: every strict prefix of a packet is "incomplete" (consumed
 *    0); packets back to back are consumed one at a time.
 * 5. Malformed input is refused with the right reason code: QoS 3
 *    [MQTT-3.3.1-4] (0x81), a packet above max_packet_size (0x95), a
 *    reserved packet type (0x81), a SUBSCRIBE with the wrong fixed header
 *    flags [MQTT-3.8.1-1].
 * 6. Encoding refuses what a receiver would refuse (an unknown reason
 *    code, a reason code not allowed in the packet, a wildcard in a topic
 *    name [MQTT-3.3.2-2]) and reports the size needed when the buffer is
 *    too small.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"
#include "check.h"

static uint8_t buf[1024];

/* Encodes p, checks the size query first, then decodes it into *view. */
static size_t encode_decode(const mqtt_packet *p, uint8_t version, mqtt_packet_view *view) {
    size_t need = 0, n = 0, used = 0;
    EXPECT(mqtt_encode(p, version, NULL, 0, &need), MQTT_STATUS_BUFFER_TOO_SMALL);
    CHECK(need > 0);
    EXPECT(mqtt_encode(p, version, buf, need - 1, &n), MQTT_STATUS_BUFFER_TOO_SMALL);
    CHECK(n == need);
    EXPECT(mqtt_encode(p, version, buf, sizeof buf, &n), MQTT_STATUS_OK);
    CHECK(n == need);
    EXPECT(mqtt_decode(buf, n, version, 0, view, &used), MQTT_STATUS_OK);
    CHECK(used == n);
    CHECK(view->raw.ptr == buf && view->raw.len == n);
    CHECK(view->packet_type == p->packet_type);
    CHECK(view->version == version);
    return n;
}

/* ----- 1. arguments ---------------------------------------------------- */

static void test_arguments(void) {
    mqtt_packet_view v;
    mqtt_packet p;
    mqtt_publish_options po;
    mqtt_user_property up;
    mqtt_subscription sub;
    uint32_t id;
    size_t used = 7, n = 7;
    char why[128];
    const uint8_t ping[] = {0xC0, 0x00};

    EXPECT(mqtt_decode(ping, 2, MQTT_VERSION_5, 0, NULL, &used), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_decode(ping, 2, MQTT_VERSION_5, 0, &v, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_decode(NULL, 2, MQTT_VERSION_5, 0, &v, &used), MQTT_STATUS_NULL_ARGUMENT);
    CHECK(used == 0 && v.packet_type == 0);
    EXPECT(mqtt_decode(NULL, 0, MQTT_VERSION_5, 0, &v, &used), MQTT_STATUS_OK);
    CHECK(used == 0 && v.packet_type == 0);
    EXPECT(mqtt_decode(ping, 2, 6, 0, &v, &used), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_decode(ping, SIZE_MAX, MQTT_VERSION_5, 0, &v, &used),
           MQTT_STATUS_INVALID_ARGUMENT);

    memset(&p, 0, sizeof p);
    p.packet_type = MQTT_PACKET_PINGREQ;
    EXPECT(mqtt_encode(NULL, MQTT_VERSION_5, buf, sizeof buf, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_encode(&p, MQTT_VERSION_5, NULL, 8, &n), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_encode(&p, 6, buf, sizeof buf, &n), MQTT_STATUS_INVALID_ARGUMENT);
    p.packet_type = 0;
    EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, &n), MQTT_STATUS_INVALID_ARGUMENT);
    p.packet_type = 16;
    EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, &n), MQTT_STATUS_INVALID_ARGUMENT);
    p.packet_type = MQTT_PACKET_CONNECT;
    EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, &n), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_encode_check(&p, MQTT_VERSION_5, why, sizeof why), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(why, "cannot be encoded") != NULL);
    EXPECT(mqtt_encode_check(NULL, MQTT_VERSION_5, why, sizeof why), MQTT_STATUS_NULL_ARGUMENT);

    memset(&po, 0, sizeof po);
    po.topic = str_view("t");
    EXPECT(mqtt_encode_publish(NULL, 0, false, MQTT_VERSION_5, buf, sizeof buf, &n),
           MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_encode_publish(&po, 0, false, MQTT_VERSION_5, buf, sizeof buf, NULL),
           MQTT_STATUS_NULL_ARGUMENT);
    po.qos = 3;
    EXPECT(mqtt_encode_publish(&po, 1, false, MQTT_VERSION_5, buf, sizeof buf, &n),
           MQTT_STATUS_INVALID_ARGUMENT);
    po.qos = 0;
    po.topic.ptr = NULL; /* NULL with a length */
    EXPECT(mqtt_encode_publish(&po, 0, false, MQTT_VERSION_5, buf, sizeof buf, &n),
           MQTT_STATUS_NULL_ARGUMENT);

    EXPECT(mqtt_decode(ping, 2, MQTT_VERSION_5, 0, &v, &used), MQTT_STATUS_OK);
    EXPECT(mqtt_packet_view_user_property(NULL, 0, &up), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_packet_view_user_property(&v, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_packet_view_user_property(&v, 0, &up), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_packet_view_will_user_property(NULL, 0, &up), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_packet_view_will_user_property(&v, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_packet_view_will_user_property(&v, 0, &up), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_packet_view_subscription_identifier(NULL, 0, &id), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_packet_view_subscription_identifier(&v, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_packet_view_subscription_identifier(&v, 0, &id), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_packet_view_filter(NULL, 0, &sub), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_packet_view_filter(&v, 0, NULL), MQTT_STATUS_NULL_ARGUMENT);
    EXPECT(mqtt_packet_view_filter(&v, 0, &sub), MQTT_STATUS_INVALID_ARGUMENT);
    /* A view whose bytes were tampered with is refused, not trusted. */
    {
        uint8_t copy[2] = {0xC0, 0x00};
        EXPECT(mqtt_decode(copy, 2, MQTT_VERSION_5, 0, &v, &used), MQTT_STATUS_OK);
        copy[0] = 0x30;
        EXPECT(mqtt_packet_view_user_property(&v, 0, &up), MQTT_STATUS_INVALID_ARGUMENT);
        v.version = 9;
        EXPECT(mqtt_packet_view_filter(&v, 0, &sub), MQTT_STATUS_INVALID_ARGUMENT);
    }
}

/* ----- 2. exact bytes -------------------------------------------------- */

static void test_exact_bytes(void) {
    mqtt_packet p;
    size_t n = 0;
    memset(&p, 0, sizeof p);
    p.packet_type = MQTT_PACKET_PINGREQ;
    EXPECT(mqtt_encode(&p, MQTT_VERSION_3_1_1, buf, sizeof buf, &n), MQTT_STATUS_OK);
    CHECK(n == 2 && buf[0] == 0xC0 && buf[1] == 0x00);
    p.packet_type = MQTT_PACKET_PUBACK;
    p.packet_id = 7;
    EXPECT(mqtt_encode(&p, MQTT_VERSION_3_1_1, buf, sizeof buf, &n), MQTT_STATUS_OK);
    CHECK(n == 4 && buf[0] == 0x40 && buf[1] == 2 && buf[2] == 0 && buf[3] == 7);
    /* 5.0: Success without properties may omit the reason code. */
    EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, &n), MQTT_STATUS_OK);
    CHECK(n >= 4 && buf[0] == 0x40);
    p.packet_type = MQTT_PACKET_DISCONNECT;
    p.packet_id = 0;
    EXPECT(mqtt_encode(&p, MQTT_VERSION_3_1_1, buf, sizeof buf, &n), MQTT_STATUS_OK);
    CHECK(n == 2 && buf[0] == 0xE0 && buf[1] == 0x00);
    /* PUBREL has fixed header flags 0010 [MQTT-3.6.1-1]. */
    p.packet_type = MQTT_PACKET_PUBREL;
    p.packet_id = 1;
    EXPECT(mqtt_encode(&p, MQTT_VERSION_3_1_1, buf, sizeof buf, &n), MQTT_STATUS_OK);
    CHECK(n == 4 && buf[0] == 0x62);
}

/* ----- 3. round trips -------------------------------------------------- */

static void test_publish_round_trip(void) {
    mqtt_publish_options po;
    mqtt_user_property ups[2];
    mqtt_packet_view v;
    mqtt_user_property up;
    size_t n = 0, used = 0;
    memset(&po, 0, sizeof po);
    po.topic = str_view("sensors/1/temp");
    po.payload = str_view("21.5");
    po.qos = 2;
    po.retain = true;
    po.payload_format_indicator.present = true;
    po.payload_format_indicator.value = 1;
    po.message_expiry_interval.present = true;
    po.message_expiry_interval.value = 60;
    po.content_type = str_view("text/plain");
    po.response_topic = str_view("reply/here");
    po.correlation_data = str_view("\x01\x02");
    ups[0].key = str_view("unit");
    ups[0].value = str_view("C");
    ups[1].key = str_view("unit");
    ups[1].value = str_view("celsius");
    po.user_properties.ptr = ups;
    po.user_properties.len = 2;
    EXPECT(mqtt_encode_publish(&po, 300, true, MQTT_VERSION_5, buf, sizeof buf, &n),
           MQTT_STATUS_OK);
    CHECK(buf[0] == (0x30 | 0x08 | 0x04 | 0x01)); /* DUP, QoS 2, RETAIN */
    EXPECT(mqtt_decode(buf, n, MQTT_VERSION_5, 0, &v, &used), MQTT_STATUS_OK);
    CHECK(used == n && v.packet_type == MQTT_PACKET_PUBLISH);
    CHECK(view_eq(v.topic, "sensors/1/temp") && view_eq(v.payload, "21.5"));
    CHECK(v.qos == 2 && v.retain && v.dup && v.packet_id == 300);
    CHECK(v.payload.ptr >= buf && v.payload.ptr < buf + n); /* a view, no copy */
    CHECK(v.properties.payload_format_indicator.present &&
          v.properties.payload_format_indicator.value == 1);
    CHECK(v.properties.message_expiry_interval.present &&
          v.properties.message_expiry_interval.value == 60);
    CHECK(view_eq(v.properties.content_type, "text/plain"));
    CHECK(view_eq(v.properties.response_topic, "reply/here"));
    CHECK(view_eq(v.properties.correlation_data, "\x01\x02"));
    CHECK(v.properties.topic_alias.present == false);
    CHECK(v.properties.user_properties.len == 0 && v.properties.user_properties.ptr == NULL);
    CHECK(v.user_property_count == 2 && v.subscription_identifier_count == 0);
    EXPECT(mqtt_packet_view_user_property(&v, 1, &up), MQTT_STATUS_OK);
    CHECK(view_eq(up.key, "unit") && view_eq(up.value, "celsius"));
    EXPECT(mqtt_packet_view_user_property(&v, 2, &up), MQTT_STATUS_INVALID_ARGUMENT);

    /* 3.1.1 drops nothing it cannot carry silently: properties refuse. */
    EXPECT(mqtt_encode_publish(&po, 300, false, MQTT_VERSION_3_1_1, buf, sizeof buf, &n),
           MQTT_STATUS_INVALID_ARGUMENT);
    memset(&po.payload_format_indicator, 0, sizeof po.payload_format_indicator);
    memset(&po.message_expiry_interval, 0, sizeof po.message_expiry_interval);
    po.content_type.ptr = po.response_topic.ptr = po.correlation_data.ptr = NULL;
    po.content_type.len = po.response_topic.len = po.correlation_data.len = 0;
    po.user_properties.ptr = NULL;
    po.user_properties.len = 0;
    EXPECT(mqtt_encode_publish(&po, 300, false, MQTT_VERSION_3_1_1, buf, sizeof buf, &n),
           MQTT_STATUS_OK);
    EXPECT(mqtt_decode(buf, n, MQTT_VERSION_3_1_1, 0, &v, &used), MQTT_STATUS_OK);
    CHECK(view_eq(v.topic, "sensors/1/temp") && v.user_property_count == 0);
    CHECK(v.properties.content_type.ptr == NULL);

    /* A wildcard in a topic name is refused [MQTT-3.3.2-2]. */
    po.topic = str_view("sensors/+/temp");
    EXPECT(mqtt_encode_publish(&po, 1, false, MQTT_VERSION_5, buf, sizeof buf, &n),
           MQTT_STATUS_INVALID_ARGUMENT);
    /* QoS 1 needs a non-zero packet identifier [MQTT-2.2.1-3]. */
    po.topic = str_view("t");
    po.qos = 1;
    EXPECT(mqtt_encode_publish(&po, 0, false, MQTT_VERSION_5, buf, sizeof buf, &n),
           MQTT_STATUS_INVALID_ARGUMENT);
}

static void test_subscribe_round_trip(void) {
    mqtt_subscription f[2], got;
    mqtt_bytes_view uf[2];
    mqtt_packet p;
    mqtt_packet_view v;
    uint32_t id = 0;
    const uint8_t codes[] = {0x01, 0x87};

    memset(f, 0, sizeof f);
    f[0].filter = str_view("a/+");
    f[0].qos = 1;
    f[0].no_local = true;
    f[1].filter = str_view("b/#");
    f[1].qos = 2;
    f[1].retain_as_published = true;
    f[1].retain_handling = 2;
    memset(&p, 0, sizeof p);
    p.packet_type = MQTT_PACKET_SUBSCRIBE;
    p.packet_id = 9;
    p.subscribe.filters = f;
    p.subscribe.filters_len = 2;
    p.subscribe.subscription_identifier.present = true;
    p.subscribe.subscription_identifier.value = 268435455;
    encode_decode(&p, MQTT_VERSION_5, &v);
    CHECK(buf[0] == 0x82); /* [MQTT-3.8.1-1] */
    CHECK(v.packet_id == 9 && v.filter_count == 2 && v.subscription_identifier_count == 1);
    EXPECT(mqtt_packet_view_filter(&v, 1, &got), MQTT_STATUS_OK);
    CHECK(view_eq(got.filter, "b/#") && got.qos == 2 && !got.no_local &&
          got.retain_as_published && got.retain_handling == 2);
    EXPECT(mqtt_packet_view_filter(&v, 0, &got), MQTT_STATUS_OK);
    CHECK(view_eq(got.filter, "a/+") && got.qos == 1 && got.no_local);
    EXPECT(mqtt_packet_view_filter(&v, 2, &got), MQTT_STATUS_INVALID_ARGUMENT);
    EXPECT(mqtt_packet_view_subscription_identifier(&v, 0, &id), MQTT_STATUS_OK);
    CHECK(id == 268435455);
    EXPECT(mqtt_packet_view_subscription_identifier(&v, 1, &id), MQTT_STATUS_INVALID_ARGUMENT);
    /* No filter at all is a Protocol Error [MQTT-3.8.3-2]. */
    p.subscribe.filters_len = 0;
    {
        size_t n = 0;
        EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, &n), MQTT_STATUS_INVALID_ARGUMENT);
    }

    memset(&p, 0, sizeof p);
    p.packet_type = MQTT_PACKET_SUBACK;
    p.packet_id = 9;
    p.reason_codes.ptr = codes;
    p.reason_codes.len = 2;
    p.reason_string = str_view("one refused");
    encode_decode(&p, MQTT_VERSION_5, &v);
    CHECK(v.packet_id == 9 && v.reason_codes.len == 2);
    CHECK(v.reason_codes.ptr[0] == 0x01 && v.reason_codes.ptr[1] == 0x87);
    CHECK(view_eq(v.properties.reason_string, "one refused"));
    /* 0x04 is not a SUBACK code. */
    {
        const uint8_t bad[] = {0x04};
        size_t n = 0;
        p.reason_codes.ptr = bad;
        p.reason_codes.len = 1;
        EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, &n),
               MQTT_STATUS_INVALID_ARGUMENT);
        p.reason_codes.ptr = (const uint8_t *)"\x03";
        EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, &n),
               MQTT_STATUS_INVALID_ARGUMENT);
    }

    uf[0] = str_view("a/+");
    uf[1] = str_view("c");
    memset(&p, 0, sizeof p);
    p.packet_type = MQTT_PACKET_UNSUBSCRIBE;
    p.packet_id = 10;
    p.unsubscribe.filters = uf;
    p.unsubscribe.filters_len = 2;
    encode_decode(&p, MQTT_VERSION_3_1_1, &v);
    CHECK(buf[0] == 0xA2 && v.packet_id == 10 && v.filter_count == 2);
    EXPECT(mqtt_packet_view_filter(&v, 1, &got), MQTT_STATUS_OK);
    CHECK(view_eq(got.filter, "c") && got.qos == 0);

    memset(&p, 0, sizeof p);
    p.packet_type = MQTT_PACKET_UNSUBACK;
    p.packet_id = 10;
    encode_decode(&p, MQTT_VERSION_3_1_1, &v);
    CHECK(v.packet_id == 10 && v.reason_codes.len == 0);
    p.reason_codes.ptr = (const uint8_t *)"\x00\x11";
    p.reason_codes.len = 2;
    encode_decode(&p, MQTT_VERSION_5, &v);
    CHECK(v.reason_codes.len == 2 && v.reason_codes.ptr[1] == 0x11);
}

static void test_other_round_trips(void) {
    mqtt_packet p;
    mqtt_packet_view v;
    mqtt_user_property up, got;
    size_t n = 0;
    uint8_t t;

    up.key = str_view("k");
    up.value = str_view("v");
    for (t = MQTT_PACKET_PUBACK; t <= MQTT_PACKET_PUBCOMP; t++) {
        memset(&p, 0, sizeof p);
        p.packet_type = t;
        p.packet_id = 65535;
        p.reason_code = t == MQTT_PACKET_PUBREL || t == MQTT_PACKET_PUBCOMP ? 0x92 : 0x10;
        p.reason_string = str_view("why");
        p.user_properties.ptr = &up;
        p.user_properties.len = 1;
        encode_decode(&p, MQTT_VERSION_5, &v);
        CHECK(v.packet_id == 65535 && v.has_reason_code && v.reason_code == p.reason_code);
        CHECK(view_eq(v.properties.reason_string, "why") && v.user_property_count == 1);
        EXPECT(mqtt_packet_view_user_property(&v, 0, &got), MQTT_STATUS_OK);
        CHECK(view_eq(got.key, "k") && view_eq(got.value, "v"));
        /* 0x87 Not authorized is not a PUBREL/PUBCOMP code. */
        p.reason_code = 0x87;
        if (t == MQTT_PACKET_PUBREL || t == MQTT_PACKET_PUBCOMP)
            EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, &n),
                   MQTT_STATUS_INVALID_ARGUMENT);
        else
            EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, &n), MQTT_STATUS_OK);
        /* Packet identifier 0 is not allowed [MQTT-2.2.1-3]. */
        p.reason_code = 0;
        p.packet_id = 0;
        EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, &n),
               MQTT_STATUS_INVALID_ARGUMENT);
    }

    memset(&p, 0, sizeof p);
    p.packet_type = MQTT_PACKET_CONNACK;
    p.session_present = true;
    p.reason_string = str_view("welcome");
    encode_decode(&p, MQTT_VERSION_5, &v);
    CHECK(v.session_present && v.has_reason_code && v.reason_code == 0);
    CHECK(view_eq(v.properties.reason_string, "welcome"));
    /* Session Present must be 0 with a refusal [MQTT-3.2.2-6]. */
    p.reason_code = MQTT_RC_NOT_AUTHORIZED;
    EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf, sizeof buf, &n), MQTT_STATUS_INVALID_ARGUMENT);
    p.session_present = false;
    encode_decode(&p, MQTT_VERSION_5, &v);
    CHECK(v.reason_code == MQTT_RC_NOT_AUTHORIZED && !v.session_present);

    memset(&p, 0, sizeof p);
    p.packet_type = MQTT_PACKET_DISCONNECT;
    p.reason_code = MQTT_RC_DISCONNECT_WITH_WILL_MESSAGE;
    p.reason_string = str_view("bye");
    encode_decode(&p, MQTT_VERSION_5, &v);
    CHECK(v.reason_code == 0x04 && view_eq(v.properties.reason_string, "bye"));

    memset(&p, 0, sizeof p);
    p.packet_type = MQTT_PACKET_AUTH;
    p.reason_code = MQTT_RC_CONTINUE_AUTHENTICATION;
    encode_decode(&p, MQTT_VERSION_5, &v);
    CHECK(v.reason_code == 0x18);
    /* AUTH does not exist in 3.1.1. */
    EXPECT(mqtt_encode(&p, MQTT_VERSION_3_1_1, buf, sizeof buf, &n), MQTT_STATUS_INVALID_ARGUMENT);

    memset(&p, 0, sizeof p);
    p.packet_type = MQTT_PACKET_PINGRESP;
    encode_decode(&p, MQTT_VERSION_5, &v);
    CHECK(n > 0 || v.raw.len == 2);
}

/* CONNECT as a real client writes it, with a will and user properties. */
static void test_connect_from_client(void) {
    mqtt_client_options o;
    mqtt_will will;
    mqtt_user_property up[2], got;
    mqtt_client *c = NULL;
    mqtt_packet_view v;
    static uint8_t out[512];
    size_t n = 0, used = 0;

    up[0].key = str_view("site");
    up[0].value = str_view("lab");
    up[1].key = str_view("will-key");
    up[1].value = str_view("will-value");
    memset(&will, 0, sizeof will);
    will.topic = str_view("status/dev");
    will.payload = str_view("gone");
    will.qos = 1;
    will.retain = true;
    will.will_delay_interval.present = true;
    will.will_delay_interval.value = 5;
    will.content_type = str_view("text/plain");
    will.user_properties.ptr = &up[1];
    will.user_properties.len = 1;
    EXPECT(mqtt_client_options_default(&o), MQTT_STATUS_OK);
    o.client_id = str_view("dev-1");
    o.keep_alive = 30;
    o.clean_start = false;
    o.session_expiry_interval = 600;
    o.username = str_view("alice");
    o.password = str_view("secret");
    o.will = &will;
    o.receive_maximum = 10;
    o.request_problem_information.present = true;
    o.request_problem_information.value = 0;
    o.user_properties.ptr = up;
    o.user_properties.len = 1;
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_OK);
    EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_OK);
    EXPECT(mqtt_client_poll_transmit(c, out, sizeof out, &n), MQTT_STATUS_OK);
    mqtt_client_free(c);

    /* Decoded with version 3.1.1 on purpose: CONNECT names its own. */
    EXPECT(mqtt_decode(out, n, MQTT_VERSION_3_1_1, 0, &v, &used), MQTT_STATUS_OK);
    CHECK(used == n && v.packet_type == MQTT_PACKET_CONNECT && v.version == MQTT_VERSION_5);
    CHECK(view_eq(v.client_id, "dev-1") && v.keep_alive == 30 && !v.clean_start);
    CHECK(view_eq(v.username, "alice") && view_eq(v.password, "secret"));
    CHECK(v.properties.session_expiry_interval.present &&
          v.properties.session_expiry_interval.value == 600);
    CHECK(v.properties.receive_maximum.present && v.properties.receive_maximum.value == 10);
    CHECK(v.request_problem_information.present && v.request_problem_information.value == 0);
    CHECK(!v.request_response_information.present);
    CHECK(v.user_property_count == 1);
    EXPECT(mqtt_packet_view_user_property(&v, 0, &got), MQTT_STATUS_OK);
    CHECK(view_eq(got.key, "site") && view_eq(got.value, "lab"));
    CHECK(v.has_will);
    CHECK(view_eq(v.will.topic, "status/dev") && view_eq(v.will.payload, "gone"));
    CHECK(v.will.qos == 1 && v.will.retain);
    CHECK(v.will.will_delay_interval.present && v.will.will_delay_interval.value == 5);
    CHECK(view_eq(v.will.properties.content_type, "text/plain"));
    CHECK(v.will.user_property_count == 1);
    EXPECT(mqtt_packet_view_will_user_property(&v, 0, &got), MQTT_STATUS_OK);
    CHECK(view_eq(got.key, "will-key") && view_eq(got.value, "will-value"));
    EXPECT(mqtt_packet_view_will_user_property(&v, 1, &got), MQTT_STATUS_INVALID_ARGUMENT);
}

/* ----- 4. framing ------------------------------------------------------ */

static void test_framing(void) {
    mqtt_publish_options po;
    mqtt_packet p;
    mqtt_packet_view v;
    size_t n1 = 0, n2 = 0, used = 0, cut;
    memset(&po, 0, sizeof po);
    po.topic = str_view("x/y");
    po.payload = str_view("payload bytes");
    po.qos = 1;
    EXPECT(mqtt_encode_publish(&po, 5, false, MQTT_VERSION_5, buf, sizeof buf, &n1),
           MQTT_STATUS_OK);
    memset(&p, 0, sizeof p);
    p.packet_type = MQTT_PACKET_PINGRESP;
    EXPECT(mqtt_encode(&p, MQTT_VERSION_5, buf + n1, sizeof buf - n1, &n2), MQTT_STATUS_OK);
    for (cut = 0; cut < n1; cut++) {
        used = 99;
        EXPECT(mqtt_decode(buf, cut, MQTT_VERSION_5, 0, &v, &used), MQTT_STATUS_OK);
        CHECK(used == 0 && v.packet_type == 0);
    }
    EXPECT(mqtt_decode(buf, n1 + n2, MQTT_VERSION_5, 0, &v, &used), MQTT_STATUS_OK);
    CHECK(used == n1 && v.packet_type == MQTT_PACKET_PUBLISH);
    EXPECT(mqtt_decode(buf + used, n1 + n2 - used, MQTT_VERSION_5, 0, &v, &used),
           MQTT_STATUS_OK);
    CHECK(used == n2 && v.packet_type == MQTT_PACKET_PINGRESP);
}

/* ----- 5. malformed ---------------------------------------------------- */

static void test_malformed(void) {
    mqtt_packet_view v;
    size_t used = 0;
    /* PUBLISH with both QoS bits set [MQTT-3.3.1-4]. */
    const uint8_t qos3[] = {0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01};
    /* A reserved packet type 0. */
    const uint8_t type0[] = {0x00, 0x00};
    /* SUBSCRIBE with flags 0000 instead of 0010 [MQTT-3.8.1-1]. */
    const uint8_t subflags[] = {0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00};
    /* A remaining length of five bytes [MQTT-1.5.5-1]. */
    const uint8_t varint[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    uint8_t big[300];

    EXPECT(mqtt_decode(qos3, sizeof qos3, MQTT_VERSION_5, 0, &v, &used), MQTT_STATUS_MALFORMED);
    CHECK(used == 0 && v.packet_type == 0 && v.has_reason_code && v.reason_code == 0x81);
    EXPECT(mqtt_decode(type0, sizeof type0, MQTT_VERSION_5, 0, &v, &used),
           MQTT_STATUS_MALFORMED);
    CHECK(v.has_reason_code && v.reason_code >= 0x80);
    EXPECT(mqtt_decode(subflags, sizeof subflags, MQTT_VERSION_3_1_1, 0, &v, &used),
           MQTT_STATUS_MALFORMED);
    CHECK(v.reason_code == 0x81);
    EXPECT(mqtt_decode(varint, sizeof varint, MQTT_VERSION_5, 0, &v, &used),
           MQTT_STATUS_MALFORMED);
    CHECK(v.reason_code == 0x81);

    /* Too large for max_packet_size: refused from the fixed header alone,
     * before the body arrives (only 3 of its bytes are given). */
    memset(big, 0, sizeof big);
    big[0] = 0x30;
    big[1] = 0xAC; /* remaining length 300 = 0xAC 0x02 */
    big[2] = 0x02;
    EXPECT(mqtt_decode(big, 3, MQTT_VERSION_5, 100, &v, &used), MQTT_STATUS_MALFORMED);
    CHECK(v.reason_code == MQTT_RC_PACKET_TOO_LARGE && used == 0);
    EXPECT(mqtt_decode(big, 3, MQTT_VERSION_5, 0, &v, &used), MQTT_STATUS_OK);
    CHECK(used == 0); /* without the limit: just incomplete */
}

/* MQTT 3.1: a client with MQTT_VERSION_3_1 writes "MQIsdp" level 3; the
   codec reads it back as version 3; the client refuses an identifier
   outside 1 to 23 characters; a 3.1 SUBACK has no failure code. */
static void test_mqtt_3_1(void) {
    static const uint8_t expected[] = {0x10, 0x0F, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',
                                       0x03, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c'};
    static const uint8_t suback_failure[] = {0x90, 0x03, 0x00, 0x01, 0x80};
    mqtt_client_options o;
    mqtt_client *c = NULL;
    mqtt_packet_view v;
    static uint8_t out[64];
    size_t n = 0, used = 0;

    EXPECT(mqtt_client_options_default(&o), MQTT_STATUS_OK);
    o.version = MQTT_VERSION_3_1;
    o.client_id = str_view("c");
    o.keep_alive = 60;
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_OK);
    EXPECT(mqtt_client_connect(c, 0), MQTT_STATUS_OK);
    EXPECT(mqtt_client_poll_transmit(c, out, sizeof out, &n), MQTT_STATUS_OK);
    mqtt_client_free(c);
    CHECK(n == sizeof expected && memcmp(out, expected, n) == 0);
    EXPECT(mqtt_decode(out, n, MQTT_VERSION_5, 0, &v, &used), MQTT_STATUS_OK);
    CHECK(used == n && v.packet_type == MQTT_PACKET_CONNECT && v.version == MQTT_VERSION_3_1);
    CHECK(view_eq(v.client_id, "c"));

    /* 3.1 takes 1 to 23 characters: refused with the options. */
    o.client_id = str_view("");
    c = NULL;
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(c == NULL);
    o.client_id = str_view("abcdefghijklmnopqrstuvwx"); /* 24 */
    EXPECT(mqtt_client_new(&o, &c), MQTT_STATUS_INVALID_ARGUMENT);
    CHECK(c == NULL);

    CHECK(mqtt_decode(suback_failure, sizeof suback_failure, MQTT_VERSION_3_1, 0, &v, &used) !=
          MQTT_STATUS_OK);
    EXPECT(mqtt_decode(suback_failure, sizeof suback_failure, MQTT_VERSION_3_1_1, 0, &v, &used),
           MQTT_STATUS_OK);
}

int main(void) {
    test_arguments();
    test_exact_bytes();
    test_publish_round_trip();
    test_subscribe_round_trip();
    test_other_round_trips();
    test_connect_from_client();
    test_framing();
    test_malformed();
    test_mqtt_3_1();
    if (failures) {
        fprintf(stderr, "test_codec: %d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("test_codec: %d checks passed\n", checks);
    return 0;
}
