/*
 * board.h: what startup.c gives the firmware on QEMU's mps2-an385
 * (Cortex-M3) besides the C library: the end of the program with an exit
 * status the host sees, and the stack's high-water mark.
 *
 * Console output goes through newlib's stdio (printf), whose _write
 * startup.c implements with Arm semihosting; so does exit().
 */
#ifndef MQTT_FIRMWARE_BOARD_H
#define MQTT_FIRMWARE_BOARD_H

#include <stddef.h>

/* Ends the program: QEMU exits with `code` as its own exit status
 * (semihosting SYS_EXIT_EXTENDED). Does not flush stdio: exit() does, and
 * then ends up here. Safe from a fault handler. */
void board_exit(int code) __attribute__((noreturn));

/* The deepest the stack has been, in bytes, since reset: the reset
 * handler paints the stack region with a pattern; this scans for the
 * lowest word that no longer holds it. */
size_t board_stack_high_water(void);

/* The size of the stack region (STACK_SIZE in an385.ld). */
size_t board_stack_size(void);

#endif /* MQTT_FIRMWARE_BOARD_H */
