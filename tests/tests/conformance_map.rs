//! The conformance maps (`tests/conformance/mqtt-3.1.1.map`,
//! `tests/conformance/mqtt-5.0.map`) agree with the sources: every line
//! well formed, every id once, known roles and statuses, a reason for every
//! `n/a`, every test a `tested` entry names exists, and every statement id
//! a test or a source file cites (`[MQTT-x.y.z-n]`) is in a map (the map of
//! the version the text names, if it names one: `3.1.1 [MQTT-...]`). Each
//! failure points at a file and line. The checks live in
//! `mqtt_tests::conformance`, shared with `make conformance`.

use mqtt_tests::conformance::{check, load, repo_root};

#[test]
fn maps_agree_with_the_sources() {
    let report = check(&repo_root());
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    assert!(
        report.problems.is_empty(),
        "{} conformance map problem(s):\n{}",
        report.problems.len(),
        report
            .problems
            .iter()
            .map(|p| format!("  {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The 3.1.1 map is complete: the statements of each section are numbered
/// 1..n without a gap, and the sections are those of the specification
/// (OASIS Standard, 29 October 2014), with their counts.
#[test]
fn the_3_1_1_map_lists_every_statement() {
    let (map, _) = load(&repo_root(), "3.1.1").expect("the 3.1.1 map");
    let expected: &[(&str, usize)] = &[
        ("1.5.3", 3),
        ("2.2.2", 2),
        ("2.3.1", 7),
        ("3.1.0", 2),
        ("3.1.2", 24),
        ("3.1.3", 11),
        ("3.1.4", 5),
        ("3.2.0", 1),
        ("3.2.2", 6),
        ("3.3.1", 12),
        ("3.3.2", 3),
        ("3.3.4", 1),
        ("3.3.5", 2),
        ("3.6.1", 1),
        ("3.8.1", 1),
        ("3.8.3", 4),
        ("3.8.4", 6),
        ("3.9.3", 2),
        ("3.10.1", 1),
        ("3.10.3", 2),
        ("3.10.4", 6),
        ("3.12.4", 1),
        ("3.14.1", 1),
        ("3.14.4", 3),
        ("4.1.0", 2),
        ("4.3.1", 1),
        ("4.3.2", 2),
        ("4.3.3", 2),
        ("4.4.0", 1),
        ("4.5.0", 2),
        ("4.6.0", 6),
        ("4.7.1", 3),
        ("4.7.2", 1),
        ("4.7.3", 4),
        ("4.8.0", 2),
        ("6.0.0", 4),
        ("7.0.0", 2),
        ("7.1.1", 1),
        ("7.1.2", 1),
    ];
    let mut want = Vec::new();
    for (section, n) in expected {
        for i in 1..=*n {
            want.push(format!("MQTT-{section}-{i}"));
        }
    }
    let got: Vec<String> = map.entries.iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        got, want,
        "the 3.1.1 map's ids, in the specification's order"
    );
}
