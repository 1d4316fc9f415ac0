//! A quick, noise-resistant side-by-side of the codec rows, for development
//! on a busy machine (the report still comes from `benches/codec.rs`).
//!
//! Every implementation of a row runs in short timed batches, the
//! implementations interleaved, many rounds; the figure is the fastest
//! batch per implementation (ns per packet), which other load on the
//! machine can only make slower. Same adapters, inputs and buffers as
//! `codec.rs`.
//!
//! `cargo bench --bench codec_quick -- [substring of case/op]`

// A benchmark reads the clock: the core's sans-IO rule does not apply here.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::Instant;

use libmqtt_bench::fixtures::Case;
use libmqtt_bench::{for_each_codec, wire_of, Codec, ENC_CAPACITY};

const BATCH: usize = 64;
const ROUNDS: usize = 400;

type Runner = Box<dyn FnMut() -> f64>;

fn decode_runner<C: Codec + 'static>(case: Case) -> Option<Runner> {
    if !C::BENCH_DECODE {
        return None;
    }
    let wire = wire_of::<C>(case)?;
    if C::FRESH_INPUT_PER_DECODE {
        let mut inputs: Vec<C::Input> = Vec::with_capacity(BATCH);
        Some(Box::new(move || {
            inputs.clear();
            inputs.extend((0..BATCH).map(|_| C::make_input(&wire)));
            let t = Instant::now();
            for input in inputs.iter_mut() {
                black_box(C::decode(black_box(input)));
            }
            t.elapsed().as_nanos() as f64 / BATCH as f64
        }))
    } else {
        let mut input = C::make_input(&wire);
        Some(Box::new(move || {
            let t = Instant::now();
            for _ in 0..BATCH {
                black_box(C::decode(black_box(&mut input)));
            }
            t.elapsed().as_nanos() as f64 / BATCH as f64
        }))
    }
}

fn encode_runner<C: Codec + 'static>(case: Case) -> Option<Runner> {
    if !C::BENCH_ENCODE {
        return None;
    }
    let pkt = C::build(case)?;
    let mut buf = C::new_enc_buf(ENC_CAPACITY);
    Some(Box::new(move || {
        let t = Instant::now();
        for _ in 0..BATCH {
            black_box(C::encode(black_box(&pkt), &mut buf));
        }
        t.elapsed().as_nanos() as f64 / BATCH as f64
    }))
}

/// `--one CASE/OP IMPL ITERS`: runs one implementation only, ITERS times
/// (for `perf stat -e cycles:u,instructions:u`: the difference between two
/// ITERS is the cost per packet, whatever else runs on the machine).
fn run_one(id: &str, name: &str, iters: usize) {
    for case in Case::ALL {
        for op in ["decode", "encode"] {
            if format!("{}/{op}", case.name()) != id {
                continue;
            }
            macro_rules! one {
                ($c:ty) => {
                    if <$c as Codec>::NAME == name {
                        let r = if op == "decode" {
                            decode_runner::<$c>(case)
                        } else {
                            encode_runner::<$c>(case)
                        };
                        if let Some(mut r) = r {
                            for _ in 0..iters / BATCH {
                                r();
                            }
                            return;
                        }
                    }
                };
            }
            for_each_codec!(one);
        }
    }
    panic!("no such row: {id} {name}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--one") {
        let iters = args[i + 3].parse().expect("ITERS");
        return run_one(&args[i + 1], &args[i + 2], iters);
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for case in Case::ALL {
        for op in ["decode", "encode"] {
            let id = format!("{}/{op}", case.name());
            if !filter.is_empty() && !filter.iter().any(|f| id.contains(f.as_str())) {
                continue;
            }
            let mut runners: Vec<(&'static str, Runner)> = Vec::new();
            macro_rules! add {
                ($c:ty) => {
                    let r = if op == "decode" {
                        decode_runner::<$c>(case)
                    } else {
                        encode_runner::<$c>(case)
                    };
                    if let Some(r) = r {
                        runners.push((<$c as Codec>::NAME, r));
                    }
                };
            }
            for_each_codec!(add);
            let mut best = vec![f64::INFINITY; runners.len()];
            for _ in 0..ROUNDS {
                for (i, (_, r)) in runners.iter_mut().enumerate() {
                    best[i] = best[i].min(r());
                }
            }
            let line: Vec<String> = runners
                .iter()
                .zip(&best)
                .map(|((n, _), b)| format!("{n} {b:.1}"))
                .collect();
            println!("{id:28} {}", line.join(" | "));
        }
    }
}
