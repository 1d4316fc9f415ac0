//! C ABI for libmqtt. The C library (`libmqtt.a` / `libmqtt.so`) and its
//! header `include/mqtt.h` are built here; until that issue lands this crate
//! only re-exports the core so the workspace layout is in place.

pub use mqtt_core;
