/*
 * port_stub.c: a do-nothing port for client_min.c, compiled apart so that
 * the compiler cannot see through it and drop code paths of the client.
 */
#include <stddef.h>
#include <stdint.h>

static volatile uint64_t ticks;
static volatile int link_up = 1;

size_t port_recv(uint8_t *buf, size_t cap) {
    (void)buf;
    return cap & (size_t)ticks;
}

void port_send(const uint8_t *buf, size_t len) {
    ticks += buf[0] + len;
}

uint64_t port_now_ms(void) {
    return ticks++;
}

int port_connected(void) {
    return link_up;
}
