//! Client benchmark: publish → scripted acks, in memory, messages per second
//! on one core. libmqtt's sans-IO `Client` vs. rumqttc's `MqttState`; the
//! loops and the fairness choices are in `src/client.rs`.
//!
//! Run from /work/main/bench:   cargo bench --bench client
//!
//! Benchmark IDs are `client/{qos0,qos1,qos2}_{v311,v5}/{libmqtt,rumqttc}`;
//! one iteration is one batch of `BATCH` (1,000) messages, so Criterion's
//! throughput (`Throughput::Elements`) is messages/s. `report.py` turns the
//! time per batch into messages/s for the client table.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use libmqtt_bench::client::{check, Ours, PublishLoop, Rumqttc, BATCH, CASES};
use libmqtt_bench::fixtures::Version;

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50)
}

fn bench_loop<L: PublishLoop>(g: &mut BenchmarkGroup<'_, WallTime>, version: Version, qos: u8) {
    let mut l = L::new(version, qos, BATCH);
    // Outside timing: the loop does the whole exchange (and is warm).
    check(&mut l, version, qos, BATCH, 3);
    g.bench_function(L::NAME, |b| b.iter(|| black_box(l.run_batch())));
}

fn bench_client(c: &mut Criterion) {
    for (name, version, qos) in CASES {
        let mut g = c.benchmark_group(format!("client/{name}"));
        g.throughput(Throughput::Elements(BATCH as u64));
        bench_loop::<Rumqttc>(&mut g, version, qos);
        bench_loop::<Ours>(&mut g, version, qos);
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_client
}
criterion_main!(benches);
