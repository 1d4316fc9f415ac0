//! Heap allocations per message in the client publish → ack loop of
//! `src/client.rs`, counted with a counting global allocator (this binary
//! only, so the timed benchmarks run on the plain system allocator).
//!
//! Run from /work/main/bench:   cargo bench --bench client_alloc
//!
//! For each implementation, version and QoS: build and connect the client,
//! run 100 batches as warm-up (buffers and queues reach their steady-state
//! capacity, and libmqtt's packet ids wrap past 65,535 once), then count
//! the allocations (`alloc` + `realloc`) of 100 more batches and divide by
//! the messages. Prints a table and writes `target/client-alloc.json`
//! (or the path in `CLIENT_ALLOC_JSON`), which `report.py --client-alloc`
//! reads. Goal: 0 per QoS 0 publish for libmqtt.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use libmqtt_bench::client::{check, Ours, PublishLoop, Rumqttc, BATCH, CASES};
use libmqtt_bench::fixtures::Version;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP_BATCHES: usize = 100;
const COUNTED_BATCHES: usize = 100;

/// Allocations per message in steady state.
fn per_message<L: PublishLoop>(version: Version, qos: u8) -> f64 {
    let mut l = L::new(version, qos, BATCH);
    check(&mut l, version, qos, BATCH, WARM_UP_BATCHES);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..COUNTED_BATCHES {
        std::hint::black_box(l.run_batch());
    }
    let n = ALLOCATIONS.load(Ordering::Relaxed) - before;
    n as f64 / (COUNTED_BATCHES * BATCH) as f64
}

fn main() {
    let mut rows = Vec::new();
    println!("heap allocations per message (publish + its acks), steady state,");
    println!("{COUNTED_BATCHES} batches of {BATCH} after {WARM_UP_BATCHES} warm-up batches");
    println!("{:<12} {:>10} {:>10}", "case", "libmqtt", "rumqttc");
    for (name, version, qos) in CASES {
        let ours = per_message::<Ours>(version, qos);
        let peer = per_message::<Rumqttc>(version, qos);
        println!("{name:<12} {ours:>10.3} {peer:>10.3}");
        rows.push(format!(
            "  {{\"case\": \"{name}\", \"libmqtt\": {ours}, \"rumqttc\": {peer}}}"
        ));
    }
    let json = format!(
        "{{\"batch\": {BATCH}, \"warm_up_batches\": {WARM_UP_BATCHES}, \
         \"counted_batches\": {COUNTED_BATCHES}, \"allocations_per_message\": [\n{}\n]}}\n",
        rows.join(",\n")
    );
    let path = std::env::var("CLIENT_ALLOC_JSON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/client-alloc.json").to_string()
    });
    std::fs::write(&path, json).expect("write the JSON");
    eprintln!("wrote {path}");
}
