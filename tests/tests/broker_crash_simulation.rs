//! The deterministic simulation of `mqtt_tests::broker_crash_sim`: the
//! scenarios of `broker_sim` (several of our clients with persistent
//! sessions, over links that split, delay and cut) against a durable
//! broker engine with an in-memory store, which crashes one to four times
//! per seed (after a step's output, before it, or while its batch was
//! written, tearing it) and is rebuilt from its store; see the module docs
//! for the properties checked (acknowledged QoS 1 delivered at least once
//! and QoS 2 exactly once across crashes, subscriptions and retained
//! messages kept, restores that apply exactly the whole batches, snapshots
//! that restore to what the log restores to). Seeds run on up to four
//! threads.
//!
//! * `BROKER_CRASH_SIM_SEEDS=n` runs n seeds (default 3,000) from
//!   `BROKER_CRASH_SIM_SEED_START` (default 0):
//!   `BROKER_CRASH_SIM_SEEDS=1000000 cargo test --release -p mqtt-tests
//!   --test broker_crash_simulation` for a long run.
//! * `BROKER_CRASH_SIM_SEED=s BROKER_CRASH_SIM_TRACE=1` replays one seed
//!   with a trace.
//!
//! A failure prints the seed (and the scenario drawn from it).

use mqtt_tests::broker_crash_sim::run;
use mqtt_tests::broker_sim::{run_seeds, seeds_from_env};

#[test]
fn broker_crash_simulation_seeds() {
    let (start, count, trace) = seeds_from_env("BROKER_CRASH_SIM", 3_000);
    let (total, failures) = run_seeds(start, count, trace, run);
    eprintln!("seeds {start}..{}: {total:?}", start + count);
    assert!(
        failures.is_empty(),
        "{} seed(s) failed (replay one with BROKER_CRASH_SIM_SEED=<seed> BROKER_CRASH_SIM_TRACE=1): {failures:?}",
        failures.len()
    );
    if count >= 1_000 {
        // The scenarios exercise what they are meant to: crashes of each
        // kind, with state to rebuild, and the traffic across them.
        assert!(total.crashes > count, "{total:?}");
        assert!(total.torn_crashes > count / 5, "{total:?}");
        assert!(total.unsent_crashes > count / 5, "{total:?}");
        assert!(total.discarded_bytes > 0, "{total:?}");
        assert!(total.compactions > count / 10, "{total:?}");
        assert!(total.restored_sessions > count, "{total:?}");
        assert!(total.restored_subscriptions > count / 2, "{total:?}");
        assert!(total.restored_messages > count / 10, "{total:?}");
        assert!(total.resumes > count, "{total:?}");
        assert!(total.owed > count, "{total:?}");
        assert!(total.qos2_duplicates_to_broker > 0, "{total:?}");
        assert!(total.qos2_duplicates_to_clients > 0, "{total:?}");
        assert!(total.retained_final_present > count / 20, "{total:?}");
        assert!(total.wills_received > 0, "{total:?}");
    }
}

/// A few seeds, with the coverage assertions scaled down: a seed range
/// small enough to run first, so a broken store or restore shows up with
/// a short message.
#[test]
fn the_first_hundred_crash_seeds_crash_restore_and_deliver() {
    let (total, failures) = run_seeds(0, 100, false, run);
    assert!(failures.is_empty(), "failed seeds {failures:?}");
    assert!(total.crashes > 100 && total.torn_crashes > 10, "{total:?}");
    assert!(total.restored_sessions > 100, "{total:?}");
    assert!(total.deliveries > 100 && total.owed > 50, "{total:?}");
}

/// The same seed gives the same run, crashes included.
#[test]
fn a_crash_seed_replays_identically() {
    for seed in [1, 42, 4242] {
        assert_eq!(run(seed, false), run(seed, false), "seed {seed}");
    }
}
