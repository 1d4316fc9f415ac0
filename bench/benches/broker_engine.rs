//! Broker engine benchmarks, in memory (see `src/broker.rs` for the
//! fixtures and the fairness notes).
//!
//! Run from /work/main/bench:   cargo bench --bench broker_engine
//!
//! * `broker_route/{hit,miss}/{libmqtt,linear-scan}`: one routing decision
//!   among 100,000 subscriptions of 1,000 clients (`SubscriptionTable::route`
//!   vs. a brute-force scan with rumqttc's matcher).
//! * `broker_fanout/qos{0,1}_to_{N}/libmqtt`: the whole `Broker`, 1,000
//!   connected subscribers, one PUBLISH from one publisher delivered to `N`
//!   of them (and, for QoS 1, every PUBACK fed back). Throughput is in
//!   deliveries, so Criterion's elements/s is messages delivered per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use libmqtt_bench::broker::{
    build_table, check_routing, route_ours, routing_subscriptions, Fanout, LinearTable, CLIENTS,
    HIT_TOPIC, MISS_TOPIC,
};
use mqtt_core::codec::QoS;

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30)
}

fn bench_route(c: &mut Criterion) {
    let subs = routing_subscriptions();
    let mut table = build_table(&subs);
    let mut linear = LinearTable::new(subs);
    check_routing(&mut table, &mut linear);
    for (name, topic) in [("hit", HIT_TOPIC), ("miss", MISS_TOPIC)] {
        let mut g = c.benchmark_group(format!("broker_route/{name}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("linear-scan", |b| {
            b.iter(|| black_box(linear.route(black_box(topic)).len()))
        });
        g.bench_function("libmqtt", |b| {
            b.iter(|| black_box(route_ours(&mut table, black_box(topic))))
        });
        g.finish();
    }
}

fn bench_fanout(c: &mut Criterion) {
    for (qname, qos) in [("qos0", QoS::AtMostOnce), ("qos1", QoS::AtLeastOnce)] {
        for fanout in [1usize, 100, CLIENTS as usize] {
            let mut f = Fanout::new(CLIENTS as usize, fanout, qos);
            f.check(3);
            let mut g = c.benchmark_group(format!("broker_fanout/{qname}_to_{fanout}"));
            g.throughput(Throughput::Elements(fanout as u64));
            g.bench_function("libmqtt", |b| b.iter(|| black_box(f.publish_once())));
            g.finish();
            f.check(1);
        }
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_route, bench_fanout
}
criterion_main!(benches);
