/*
 * The check harness shared by the C tests (test_client.c, test_broker.c,
 * test_codec.c): CHECK and EXPECT count every check and report each failure
 * with its file and line on stderr; each test's main prints the totals from
 * `checks` and `failures`. Include it once per program, after "mqtt.h".
 */
#ifndef MQTT_TESTS_CHECK_H
#define MQTT_TESTS_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                      \
        }                                                                  \
    } while (0)

#define EXPECT(expr, status)                                               \
    do {                                                                   \
        mqtt_status got_ = (expr);                                         \
        checks++;                                                          \
        if (got_ != (status)) {                                            \
            failures++;                                                    \
            fprintf(stderr, "%s:%d: %s returned %u (%s), expected %s\n",  \
                    __FILE__, __LINE__, #expr, (unsigned)got_,             \
                    mqtt_status_str(got_), #status);                       \
        }                                                                  \
    } while (0)

/* A view of the NUL-terminated string s (without the NUL). */
static inline mqtt_bytes_view str_view(const char *s) {
    mqtt_bytes_view v;
    v.ptr = (const uint8_t *)s;
    v.len = strlen(s);
    return v;
}

/* 1 if v holds exactly the bytes of s. An absent view (NULL ptr) never
 * matches, not even "": absent and empty are different answers. */
static inline int view_eq(mqtt_bytes_view v, const char *s) {
    size_t n = strlen(s);
    return v.ptr != NULL && v.len == n && (n == 0 || memcmp(v.ptr, s, n) == 0);
}

#endif /* MQTT_TESTS_CHECK_H */
