//! What the library needs from the platform, and the hooks it offers:
//! the allocator of bare-metal builds (`mqtt_set_allocator`), the panic
//! hook (`mqtt_set_panic_hook`) and the log hook (`mqtt_set_log_hook`).
//!
//! These are the only process-wide settings of the library. Set them once,
//! at start-up, before any handle is created or used from another thread.
//! They are kept in atomics (loads and stores only, which every Cortex-M
//! has), so reading them is never undefined behaviour; a hook changed while
//! another thread calls the library may be seen with the old context.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use crate::mqtt_status;
use crate::types::mqtt_bytes_view;

/// How serious a log message is: one of the `MQTT_LOG_*` values.
/// `mqtt_set_log_hook` takes the least serious level to pass on. A plain
/// integer (not an enum) in both directions, so that any value C passes
/// is defined behaviour; values outside 1 to 4 are refused.
pub type mqtt_log_level = u32;
/// A bug in the library was caught (a panic).
pub const MQTT_LOG_ERROR: mqtt_log_level = 1;
/// A call failed; the message is the text `*_last_error` gives.
pub const MQTT_LOG_WARN: mqtt_log_level = 2;
/// The connection changed state (connected, closed and why).
pub const MQTT_LOG_INFO: mqtt_log_level = 3;
/// Details for debugging.
pub const MQTT_LOG_DEBUG: mqtt_log_level = 4;

/// Receives the library's log messages: `level`, and the message as a view
/// valid only during the call (UTF-8, no NUL). It must not call back into
/// libmqtt. The library never formats with `printf` and never writes to a
/// console itself.
pub type mqtt_log_hook =
    Option<unsafe extern "C" fn(ctx: *mut c_void, level: mqtt_log_level, message: mqtt_bytes_view)>;

/// Called when the library panics, which is a bug: no input, from the
/// network or from the caller, may cause one. `file` and `line` locate the
/// panic in the library's source (bare-metal builds; hosted builds pass an
/// absent view and 0). In a bare-metal build the library cannot go on: the
/// hook should log and reset the device; if it returns, the library spins
/// forever. In a hosted build the hook returns, and the call that panicked
/// returns `MQTT_STATUS_PANIC`.
pub type mqtt_panic_hook =
    Option<unsafe extern "C" fn(ctx: *mut c_void, file: mqtt_bytes_view, line: u32)>;

/// The memory functions of a bare-metal build.
///
/// `alloc` returns `size` bytes aligned to `align` (a power of two, at most
/// the largest alignment of a C type on the platform in practice), or NULL
/// when there is no memory: the library then calls the panic hook, so size
/// the heap with the formula in the README. `free` gets back a pointer from
/// `alloc` with the same `size` and `align`, so a simple arena or a pool
/// allocator can serve it. Both may be called from any thread that uses a
/// handle.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mqtt_allocator {
    /// Allocates; NULL when out of memory.
    pub alloc:
        Option<unsafe extern "C" fn(ctx: *mut c_void, size: usize, align: usize) -> *mut c_void>,
    /// Frees what `alloc` returned.
    pub free:
        Option<unsafe extern "C" fn(ctx: *mut c_void, ptr: *mut c_void, size: usize, align: usize)>,
    /// Passed to both functions.
    pub ctx: *mut c_void,
}

/// A C function pointer and its context, in two atomics.
struct HookSlot {
    function: AtomicPtr<()>,
    ctx: AtomicPtr<c_void>,
}

impl HookSlot {
    const fn new() -> Self {
        Self {
            function: AtomicPtr::new(core::ptr::null_mut()),
            ctx: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    fn set(&self, function: *mut (), ctx: *mut c_void) {
        self.ctx.store(ctx, Ordering::Release);
        self.function.store(function, Ordering::Release);
    }

    /// The function (NULL when unset) and its context.
    fn get(&self) -> (*mut (), *mut c_void) {
        let f = self.function.load(Ordering::Acquire);
        (f, self.ctx.load(Ordering::Acquire))
    }
}

static LOG: HookSlot = HookSlot::new();
static LOG_LEVEL: AtomicU32 = AtomicU32::new(0);
static PANIC: HookSlot = HookSlot::new();

/// Sends `message` to the log hook if one is set for `level`.
pub(crate) fn log(level: mqtt_log_level, message: &[u8]) {
    if level > LOG_LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let (f, ctx) = LOG.get();
    if f.is_null() {
        return;
    }
    // SAFETY: `f` was stored from an `mqtt_log_hook` by `mqtt_set_log_hook`;
    // the view borrows `message` for the call only, as documented.
    unsafe {
        let hook: unsafe extern "C" fn(*mut c_void, mqtt_log_level, mqtt_bytes_view) =
            core::mem::transmute(f);
        hook(ctx, level, mqtt_bytes_view::of(message));
    }
}

/// Calls the panic hook, if set.
fn call_panic_hook(file: mqtt_bytes_view, line: u32) {
    let (f, ctx) = PANIC.get();
    if !f.is_null() {
        // SAFETY: `f` was stored from an `mqtt_panic_hook` by
        // `mqtt_set_panic_hook`.
        unsafe {
            let hook: unsafe extern "C" fn(*mut c_void, mqtt_bytes_view, u32) =
                core::mem::transmute(f);
            hook(ctx, file, line);
        }
    }
}

/// A panic was caught (hosted builds): log it and call the hook.
#[cfg(feature = "std")]
pub(crate) fn panicked() {
    log(MQTT_LOG_ERROR, b"internal error: a panic was caught");
    call_panic_hook(mqtt_bytes_view::NONE, 0);
}

/// Sets the log hook (NULL: no logging, the default) with its context, and
/// the least serious level passed on (`MQTT_LOG_WARN` passes errors and
/// warnings). Messages come from the thread that made the call.
#[no_mangle]
pub extern "C" fn mqtt_set_log_hook(
    hook: mqtt_log_hook,
    ctx: *mut c_void,
    level: mqtt_log_level,
) -> mqtt_status {
    if !(MQTT_LOG_ERROR..=MQTT_LOG_DEBUG).contains(&level) {
        return mqtt_status::MQTT_STATUS_INVALID_ARGUMENT;
    }
    LOG_LEVEL.store(level, Ordering::Relaxed);
    LOG.set(hook.map_or(core::ptr::null_mut(), |f| f as *mut ()), ctx);
    mqtt_status::MQTT_STATUS_OK
}

/// Sets the panic hook (NULL: none, the default) with its context. See
/// `mqtt_panic_hook` for when it is called and what it should do.
#[no_mangle]
pub extern "C" fn mqtt_set_panic_hook(hook: mqtt_panic_hook, ctx: *mut c_void) -> mqtt_status {
    PANIC.set(hook.map_or(core::ptr::null_mut(), |f| f as *mut ()), ctx);
    mqtt_status::MQTT_STATUS_OK
}

/// The allocator of bare-metal builds, in atomics.
struct AllocatorSlot {
    alloc: AtomicPtr<()>,
    free: AtomicPtr<()>,
    ctx: AtomicPtr<c_void>,
}

static ALLOCATOR: AllocatorSlot = AllocatorSlot {
    alloc: AtomicPtr::new(core::ptr::null_mut()),
    free: AtomicPtr::new(core::ptr::null_mut()),
    ctx: AtomicPtr::new(core::ptr::null_mut()),
};

/// Registers the memory functions of a bare-metal build. Call it once,
/// before anything else that allocates (creating any handle, encoding,
/// decoding): every byte the library holds then comes from `allocator`.
/// Until it is called, every allocation fails (the panic hook runs). A
/// second call is `MQTT_STATUS_INVALID_STATE` (memory already handed out
/// would go back to the wrong allocator). `allocator` is copied.
///
/// Hosted builds use the system allocator: there this returns
/// `MQTT_STATUS_INVALID_STATE` and changes nothing.
///
/// # Safety
/// `allocator` is NULL or points to a readable `mqtt_allocator`.
#[no_mangle]
pub unsafe extern "C" fn mqtt_set_allocator(allocator: *const mqtt_allocator) -> mqtt_status {
    if allocator.is_null() {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: checked non-NULL; readable by the caller's promise.
    let a = unsafe { allocator.read() };
    let (Some(alloc), Some(free)) = (a.alloc, a.free) else {
        return mqtt_status::MQTT_STATUS_NULL_ARGUMENT;
    };
    if cfg!(feature = "std") || !ALLOCATOR.alloc.load(Ordering::Acquire).is_null() {
        return mqtt_status::MQTT_STATUS_INVALID_STATE;
    }
    ALLOCATOR.ctx.store(a.ctx, Ordering::Release);
    ALLOCATOR.free.store(free as *mut (), Ordering::Release);
    ALLOCATOR.alloc.store(alloc as *mut (), Ordering::Release);
    mqtt_status::MQTT_STATUS_OK
}

/// The global allocator and panic handler of bare-metal builds.
#[cfg(all(feature = "firmware", not(feature = "std")))]
mod bare_metal {
    use core::alloc::{GlobalAlloc, Layout};
    use core::ffi::c_void;
    use core::sync::atomic::Ordering;

    use super::{call_panic_hook, ALLOCATOR};
    use crate::types::mqtt_bytes_view;

    /// Forwards to the functions given to `mqtt_set_allocator`.
    struct Registered;

    // SAFETY: the registered functions promise (mqtt_allocator's docs)
    // to return NULL or `size` bytes aligned to `align`, and take back
    // what they gave; before registration every allocation fails.
    unsafe impl GlobalAlloc for Registered {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let f = ALLOCATOR.alloc.load(Ordering::Acquire);
            if f.is_null() {
                return core::ptr::null_mut();
            }
            // SAFETY: stored from an mqtt_allocator.alloc by mqtt_set_allocator.
            unsafe {
                let alloc: unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void =
                    core::mem::transmute(f);
                alloc(
                    ALLOCATOR.ctx.load(Ordering::Acquire),
                    layout.size(),
                    layout.align(),
                )
                .cast()
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let f = ALLOCATOR.free.load(Ordering::Acquire);
            // SAFETY: `ptr` came from `alloc` above, so the allocator was
            // registered and `f` was stored from its `free`.
            unsafe {
                let free: unsafe extern "C" fn(*mut c_void, *mut c_void, usize, usize) =
                    core::mem::transmute(f);
                free(
                    ALLOCATOR.ctx.load(Ordering::Acquire),
                    ptr.cast(),
                    layout.size(),
                    layout.align(),
                );
            }
        }
    }

    #[global_allocator]
    static GLOBAL: Registered = Registered;

    /// A panic (a bug, or memory exhausted): the hook, then stop. The
    /// message is not formatted, so no formatting code is linked.
    #[panic_handler]
    fn on_panic(info: &core::panic::PanicInfo) -> ! {
        let (file, line) = info
            .location()
            .map_or((&[][..], 0), |l| (l.file().as_bytes(), l.line()));
        call_panic_hook(mqtt_bytes_view::of(file), line);
        loop {
            core::hint::spin_loop();
        }
    }
}
