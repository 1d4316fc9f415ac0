//! MQTT codec benchmarks: libmqtt vs. peer crates, plus a memcpy reference.
//!
//! Run from /work/main/bench:   cargo bench            (then: python3 report.py)
//! Subset:                      cargo bench -- publish_small
//!
//! Benchmark IDs are `{case}/{op}/{impl}` (`op` = `decode` | `encode`); the
//! machine-speed reference is `reference/memcpy/4KiB`.
//!
//! Method (identical for every implementation):
//! * each implementation's packet value is built once, outside timing;
//! * decode input = the bytes produced by that implementation's own encoder
//!   (checked once, outside timing, to be identical across implementations
//!   wherever the wire form is unique, and cross-decodable everywhere);
//! * one iteration decodes exactly one packet and drops the result, or encodes
//!   one packet into a reused buffer reserved once (8 KiB) and cleared by the
//!   encode call;
//! * decoders that consume their input (rumqttc's `BytesMut::split_to`) get a
//!   fresh copy per iteration, made outside timing in batches of 64 so the
//!   inputs stay cache-hot (`iter_batched_ref` + `BatchSize::NumIterations`);
//!   libmqtt's owned decode advances a `Bytes` and instead clones its
//!   (Arc-backed) input inside the timed call, a refcount increment that any
//!   real caller pays too (see `src/ours.rs`);
//! * validation: every decode row includes that decoder's own checks; on
//!   encode, libmqtt checks the rules between fields but not the topic name
//!   or filters, which its types validated when the packet was built (as
//!   mqtt-protocol's `TopicName::new` / `TopicFilter::new` do; rumqttc and
//!   mqttrs do not check them at all). See `src/ours.rs`;
//! * adapters whose decoder or encoder duplicates another adapter's skip that
//!   row (`Codec::BENCH_DECODE` / `BENCH_ENCODE`): `libmqtt-ref` is a decode
//!   row only, `libmqtt-slice` an encode row only.
//!
//! Case (f), `trie_match_100k/match/{libmqtt,linear-scan}`, times subscription
//! lookup among 100,000 filters (see `src/trie.rs`).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};
use libmqtt_bench::fixtures::{self, Case};
use libmqtt_bench::{check_case, for_each_codec, trie, wire_of, Codec, ENC_CAPACITY};

/// Fresh inputs prepared per timed batch for consuming decoders.
const FRESH_BATCH: u64 = 64;

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50)
}

/// Machine-speed reference: copy 4096 bytes into another buffer.
fn bench_reference(c: &mut Criterion) {
    let src: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    let mut dst = vec![0u8; 4096];
    let mut g = c.benchmark_group("reference/memcpy");
    g.throughput(Throughput::Bytes(4096));
    g.bench_function("4KiB", |b| {
        b.iter(|| {
            black_box(&mut dst[..]).copy_from_slice(black_box(&src[..]));
            black_box(&dst);
        })
    });
    g.finish();
}

fn bench_decode<C: Codec>(g: &mut BenchmarkGroup<'_, WallTime>, case: Case) {
    if !C::BENCH_DECODE {
        return;
    }
    let Some(wire) = wire_of::<C>(case) else {
        return;
    };
    if C::FRESH_INPUT_PER_DECODE {
        g.bench_function(C::NAME, |b| {
            b.iter_batched_ref(
                || C::make_input(&wire),
                |input| {
                    black_box(C::decode(input));
                },
                BatchSize::NumIterations(FRESH_BATCH),
            )
        });
    } else {
        let mut input = C::make_input(&wire);
        g.bench_function(C::NAME, |b| {
            b.iter(|| {
                black_box(C::decode(black_box(&mut input)));
            })
        });
    }
}

fn bench_encode<C: Codec>(g: &mut BenchmarkGroup<'_, WallTime>, case: Case) {
    // e.g. `libmqtt-ref` shares its encoder with `libmqtt`.
    if !C::BENCH_ENCODE {
        return;
    }
    let Some(pkt) = C::build(case) else { return };
    let mut buf = C::new_enc_buf(ENC_CAPACITY);
    g.bench_function(C::NAME, |b| {
        b.iter(|| black_box(C::encode(black_box(&pkt), &mut buf)))
    });
}

fn bench_codecs(c: &mut Criterion) {
    for case in Case::ALL {
        // Outside timing: all implementations agree on this packet.
        let check = check_case(case);
        let names: Vec<&str> = check.wires.iter().map(|(n, _)| *n).collect();
        let len = check.wires[0].1.len();
        eprintln!(
            "# {}: {} bytes; impls: {}; wire bytes {}",
            case.name(),
            len,
            names.join(", "),
            if check.identical {
                "identical"
            } else {
                "DIFFER (legal: property order)"
            }
        );

        let mut g = c.benchmark_group(format!("{}/decode", case.name()));
        g.throughput(Throughput::Bytes(len as u64));
        macro_rules! dec {
            ($c:ty) => {
                bench_decode::<$c>(&mut g, case)
            };
        }
        for_each_codec!(dec);
        g.finish();

        let mut g = c.benchmark_group(format!("{}/encode", case.name()));
        g.throughput(Throughput::Bytes(len as u64));
        macro_rules! enc {
            ($c:ty) => {
                bench_encode::<$c>(&mut g, case)
            };
        }
        for_each_codec!(enc);
        g.finish();
    }
}

/// (f) `trie_match_100k/match/{libmqtt,linear-scan}`: count the filters,
/// among 100,000, that match one topic name (see `src/trie.rs`). The filter
/// list and the trie are built once, outside timing, and checked to agree.
fn bench_trie_match(c: &mut Criterion) {
    let filters = fixtures::trie_filters();
    let trie = trie::build_trie(&filters);
    let n = trie::check(&filters, &trie);
    eprintln!(
        "# trie_match_100k: {} filters, topic {:?}, {} matches",
        filters.len(),
        fixtures::TRIE_TOPIC,
        n
    );
    let mut g = c.benchmark_group("trie_match_100k/match");
    g.bench_function("linear-scan", |b| {
        b.iter(|| trie::linear_scan_count(black_box(&filters), black_box(fixtures::TRIE_TOPIC)))
    });
    g.bench_function("libmqtt", |b| {
        b.iter(|| trie::trie_count(black_box(&trie), black_box(fixtures::TRIE_TOPIC)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_reference, bench_codecs, bench_trie_match
}
criterion_main!(benches);
