//! Gives `libmqtt.so` the SONAME `libmqtt.so.0` (the ABI major version), so
//! programs linked against it look for `libmqtt.so.0` at run time and
//! `make install` can lay out `libmqtt.so.0.X.Y` with its two symlinks.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // ELF platforms with a GNU-compatible linker; elsewhere no SONAME.
    if matches!(
        target.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmqtt.so.0");
    }
}
