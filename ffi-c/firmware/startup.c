/*
 * startup.c: a minimal bare-metal start for QEMU's mps2-an385 (Cortex-M3)
 * with Arm semihosting for the console and the exit status.
 *
 *   - the vector table (initial stack pointer, reset and fault handlers);
 *   - the reset handler: enables the FPU when built for one (the
 *     Cortex-M4F link of the same program), paints the stack region (for
 *     the high-water mark), copies .data from its load address, zeroes
 *     .bss, runs the constructors, calls main and exit()s with its result;
 *   - the system calls newlib(-nano) needs: _write (semihosting SYS_WRITE
 *     to the host's stdout / stderr), _sbrk (the heap between .bss and the
 *     stack, see an385.ld), _exit (semihosting SYS_EXIT_EXTENDED, so the
 *     exit code becomes QEMU's), and stubs for the rest.
 *
 * Semihosting needs `-semihosting-config enable=on,target=native` on the
 * QEMU command line; without it the BKPT instruction faults.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "board.h"

/* ----- symbols of an385.ld --------------------------------------------- */

extern uint32_t __data_start__, __data_end__, __data_load__;
extern uint32_t __bss_start__, __bss_end__;
extern uint32_t __stack_bottom__, __stack_top__;
extern uint8_t __heap_start__, __heap_end__;
typedef void (*init_fn)(void);
extern init_fn __init_array_start[], __init_array_end[];

int main(void);

/* ----- semihosting ----------------------------------------------------- */

#define SYS_OPEN 0x01
#define SYS_WRITE 0x05
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define ADP_STOPPED_RUNTIME_ERROR_UNKNOWN 0x20023

/* One semihosting call: operation in r0, argument in r1, result in r0. */
static int semihost(int op, void *arg) {
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void board_exit(int code) {
    /* SYS_EXIT_EXTENDED: the reason and a subcode, which QEMU turns into
     * its exit status. */
    uint32_t block[2];
    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = (uint32_t)code;
    semihost(SYS_EXIT_EXTENDED, block);
    /* A host without the extension returns here: plain SYS_EXIT (on
     * 32-bit Arm the reason is the argument itself) only tells success
     * (status 0) from failure (status 1). */
    semihost(SYS_EXIT, (void *)(uintptr_t)(code == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                     : ADP_STOPPED_RUNTIME_ERROR_UNKNOWN));
    for (;;)
        __asm__ volatile("wfi");
}

/* The host's console: ":tt" opened for writing is stdout, for appending
 * stderr (the semihosting convention). -1 until opened. */
static int console[3] = {-1, -1, -1};

static int console_handle(int fd) {
    if (console[fd] < 0) {
        uint32_t args[3];
        args[0] = (uint32_t)(uintptr_t)":tt";
        args[1] = fd == 2 ? 8 : 4; /* "a" : "w" */
        args[2] = 3;               /* strlen(":tt") */
        console[fd] = semihost(SYS_OPEN, args);
    }
    return console[fd];
}

/* ----- newlib system calls --------------------------------------------- */

int _write(int fd, const char *buf, int len);
int _read(int fd, char *buf, int len);
int _close(int fd);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
int _lseek(int fd, int offset, int whence);
void *_sbrk(ptrdiff_t increment);
void _exit(int code);
int _kill(int pid, int sig);
int _getpid(void);

int _write(int fd, const char *buf, int len) {
    uint32_t args[3];
    int h;
    if (fd != 1 && fd != 2) {
        errno = EBADF;
        return -1;
    }
    h = console_handle(fd);
    if (h < 0) {
        errno = EIO;
        return -1;
    }
    args[0] = (uint32_t)h;
    args[1] = (uint32_t)(uintptr_t)buf;
    args[2] = (uint32_t)len;
    /* SYS_WRITE returns the number of bytes NOT written. */
    return len - semihost(SYS_WRITE, args);
}

int _read(int fd, char *buf, int len) {
    (void)fd, (void)buf, (void)len;
    return 0; /* no input: end of file */
}

int _close(int fd) {
    (void)fd;
    return -1;
}

int _fstat(int fd, struct stat *st) {
    (void)fd;
    st->st_mode = S_IFCHR; /* a terminal: stdio line-buffers it */
    return 0;
}

int _isatty(int fd) {
    return fd >= 0 && fd <= 2;
}

int _lseek(int fd, int offset, int whence) {
    (void)fd, (void)offset, (void)whence;
    return 0;
}

/* The heap for malloc: grows from the end of .bss towards the stack. */
void *_sbrk(ptrdiff_t increment) {
    static uint8_t *brk = &__heap_start__;
    uint8_t *old = brk;
    if (increment > &__heap_end__ - brk || increment < &__heap_start__ - brk) {
        errno = ENOMEM;
        return (void *)-1;
    }
    brk += increment;
    return old;
}

void _exit(int code) {
    board_exit(code);
}

int _kill(int pid, int sig) {
    (void)pid, (void)sig;
    errno = EINVAL;
    return -1;
}

int _getpid(void) {
    return 1;
}

/* ----- the stack's high-water mark ------------------------------------- */

#define STACK_PAINT 0xDEADBEEFu

size_t board_stack_high_water(void) {
    const volatile uint32_t *p = &__stack_bottom__;
    while (p < &__stack_top__ && *p == STACK_PAINT)
        p++;
    return (size_t)((uintptr_t)&__stack_top__ - (uintptr_t)p);
}

size_t board_stack_size(void) {
    return (size_t)((uintptr_t)&__stack_top__ - (uintptr_t)&__stack_bottom__);
}

/* ----- reset and faults ------------------------------------------------ */

void Reset_Handler(void) __attribute__((noreturn));
void Fault_Handler(void);

void Reset_Handler(void) {
    uint32_t *dst;
    const uint32_t *src;
    volatile uint32_t *paint;
    uintptr_t sp;
    init_fn *f;

#if defined(__ARM_FP)
    /* A build for a core with an FPU (Cortex-M4F): grant access to
     * coprocessors 10 and 11 (CPACR) before any floating-point code. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif

    /* Paint the stack below this frame (leave 64 bytes of margin). */
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (paint = &__stack_bottom__; (uintptr_t)paint < sp - 64; paint++)
        *paint = STACK_PAINT;

    for (src = &__data_load__, dst = &__data_start__; dst < &__data_end__;)
        *dst++ = *src++;
    for (dst = &__bss_start__; dst < &__bss_end__;)
        *dst++ = 0;
    for (f = __init_array_start; f < __init_array_end; f++)
        (*f)();

    exit(main()); /* flushes stdio, then _exit */
}

/* Any fault (HardFault, or an escalated MemManage / BusFault /
 * UsageFault): say so and fail the run with status 2. (`qemu-system-arm
 * -d int` shows where it happened.) */
void Fault_Handler(void) {
    /* No stdio here: its state may be what broke. */
    static const char msg[] = "FAULT: the firmware crashed\n";
    uint32_t args[3];
    args[0] = (uint32_t)console_handle(2);
    args[1] = (uint32_t)(uintptr_t)msg;
    args[2] = sizeof msg - 1;
    semihost(SYS_WRITE, args);
    board_exit(2);
}

static void Default_Handler(void) {
    board_exit(4);
}

/* The vector table, at address 0 (an385.ld puts .vectors first). */
typedef union {
    void (*handler)(void);
    void *stack;
} vector_t;

__attribute__((section(".vectors"), used)) static const vector_t vectors[16 + 32] = {
    [0] = {.stack = &__stack_top__},
    [1] = {.handler = Reset_Handler},
    [2] = {.handler = Default_Handler}, /* NMI */
    [3] = {.handler = Fault_Handler},   /* HardFault */
    [4] = {.handler = Fault_Handler},   /* MemManage */
    [5] = {.handler = Fault_Handler},   /* BusFault */
    [6] = {.handler = Fault_Handler},   /* UsageFault */
    [11] = {.handler = Default_Handler}, /* SVCall */
    [14] = {.handler = Default_Handler}, /* PendSV */
    [15] = {.handler = Default_Handler}, /* SysTick */
    /* External interrupts 0..31 stay 0: none is enabled. */
};
