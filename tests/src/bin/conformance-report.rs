//! Prints the coverage of the conformance maps (`make conformance`): for
//! each MQTT version and each role, how many normative statements are
//! tested, not applicable and still to do, and the tested share of the
//! applicable ones (tested / (tested + todo)). With `--todo`, also lists
//! the statements still to do. Exits 1 if the maps do not pass the
//! consistency checks (the same as `tests/tests/conformance_map.rs`).

use mqtt_tests::conformance::{check, coverage, load, repo_root, Counts, Status, VERSIONS};

fn percent(c: &Counts) -> String {
    match c.percent() {
        Some(p) => format!("{p:.1}%"),
        None => "-".to_string(),
    }
}

fn main() {
    let list_todo = std::env::args().any(|a| a == "--todo");
    let root = repo_root();
    println!(
        "{:<8} {:<8} {:>6} {:>5} {:>5} {:>6} {:>9}",
        "version", "role", "tested", "n/a", "todo", "total", "covered"
    );
    for v in VERSIONS {
        let (map, _) = match load(&root, v) {
            Ok(m) => m,
            Err(e) => {
                println!("{v:<8} {e}");
                continue;
            }
        };
        if map.entries.is_empty() {
            println!("{v:<8} (no statements in {} yet)", map.file.display());
            continue;
        }
        let (per, total) = coverage(&map);
        let rows = per
            .iter()
            .map(|(role, c)| (role.as_str(), *c))
            .chain(std::iter::once(("all", total)));
        for (name, c) in rows {
            println!(
                "{:<8} {:<8} {:>6} {:>5} {:>5} {:>6} {:>9}",
                v,
                name,
                c.tested,
                c.not_applicable,
                c.todo,
                c.total(),
                percent(&c)
            );
        }
        if list_todo {
            for e in map.entries.iter().filter(|e| e.status == Status::Todo) {
                println!(
                    "    todo {} ({}): {} {}",
                    e.id,
                    e.role.as_str(),
                    e.paraphrase,
                    if e.evidence.is_empty() {
                        String::new()
                    } else {
                        format!("[{}]", e.evidence)
                    }
                );
            }
        }
    }
    println!("covered = tested / (tested + todo): the applicable statements a test checks");
    let report = check(&root);
    for n in &report.notes {
        println!("note: {n}");
    }
    if !report.problems.is_empty() {
        eprintln!("{} conformance map problem(s):", report.problems.len());
        for p in &report.problems {
            eprintln!("  {p}");
        }
        std::process::exit(1);
    }
}
