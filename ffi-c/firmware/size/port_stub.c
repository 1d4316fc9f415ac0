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

/* The flash a durable broker stores its state in (the "+ durability"
 * image): 4 KB, appended to. */
uint8_t port_flash[4096];
size_t port_flash_len;

void port_flash_append(const uint8_t *data, size_t len) {
    size_t i;
    for (i = 0; i < len && port_flash_len < sizeof port_flash; i++)
        port_flash[port_flash_len++] = data[i];
}
