//! The conformance maps (`tests/conformance/mqtt-<version>.map`): one line
//! per normative statement of a specification version, with who it binds,
//! whether a test checks it, and which. This module parses the maps and
//! checks them against the sources, for the consistency test
//! (`tests/tests/conformance_map.rs`) and the coverage report
//! (`src/bin/conformance-report.rs`, `make conformance`).
//!
//! The format, one statement a line, five fields separated by ` | `:
//!
//! ```text
//! MQTT-3.1.3-7 | client | tested | An empty client identifier needs Clean Session 1 | client_rules::empty_client_id_requires_clean_session
//! ```
//!
//! id, role (`client`, `server`, `both`, `codec`), status (`tested`, `n/a`,
//! `todo`), a paraphrase in our words, and the evidence: for `tested` a
//! comma-separated list of tests (`<stem>::<fn>` for `tests/tests/<stem>.rs`,
//! nested modules allowed, also the `v311::`/`v5::` tests `both_versions!`
//! makes, `mqtt-core::<module path>::<fn>` for a unit
//! test in `core/src`, or `py::<stem>::<fn>` for a pytest function in
//! `py/tests/<stem>.py`), for `n/a` a reason (`na: why`), for `todo` a note
//! or nothing. Lines starting with `#` and blank lines are comments.
//! Dependency-free on purpose: plain string handling.

use std::fmt;
use std::path::{Path, PathBuf};

/// The specification versions with a map, in report order: the map file
/// of version `v` is `tests/conformance/mqtt-<v>.map`.
pub const VERSIONS: [&str; 2] = ["3.1.1", "5.0"];

/// Who a normative statement binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// The client's behaviour.
    Client,
    /// The server's behaviour.
    Server,
    /// Client and server behaviour alike.
    Both,
    /// A rule about well-formed packets that the codec enforces for both
    /// sides.
    Codec,
}

impl Role {
    /// Every role, in report order.
    pub const ALL: [Role; 4] = [Role::Client, Role::Server, Role::Both, Role::Codec];

    /// The role's spelling in a map.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
            Role::Both => "both",
            Role::Codec => "codec",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Whether a statement is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// At least one named test checks it.
    Tested,
    /// Not applicable to libmqtt (the evidence says why).
    NotApplicable,
    /// Applicable and not yet checked (or not yet honoured).
    Todo,
}

impl Status {
    /// The status's spelling in a map.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Tested => "tested",
            Status::NotApplicable => "n/a",
            Status::Todo => "todo",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        [Status::Tested, Status::NotApplicable, Status::Todo]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// One normative statement of a map.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The statement id without brackets, e.g. `MQTT-3.1.3-7`.
    pub id: String,
    /// Who it binds.
    pub role: Role,
    /// Whether it is checked.
    pub status: Status,
    /// The statement in our words.
    pub paraphrase: String,
    /// Tests (tested), the reason (n/a) or a note (todo).
    pub evidence: String,
    /// The line of the map (1-based).
    pub line: usize,
}

impl Entry {
    /// The tests named by a `tested` entry (empty for other statuses).
    pub fn tests(&self) -> Vec<&str> {
        if self.status != Status::Tested {
            return Vec::new();
        }
        self.evidence
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    }
}

/// A problem found in a map or a source file, at a place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, relative to the repository root.
    pub file: PathBuf,
    /// The line (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// A parsed map file.
#[derive(Clone, Debug)]
pub struct Map {
    /// The specification version, e.g. `3.1.1`.
    pub version: String,
    /// The file, relative to the repository root.
    pub file: PathBuf,
    /// The statements, in file order.
    pub entries: Vec<Entry>,
}

impl Map {
    /// The entry with this id, if any.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }
}

/// The repository root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The map file of a version, relative to the repository root.
pub fn map_path(version: &str) -> PathBuf {
    PathBuf::from(format!("tests/conformance/mqtt-{version}.map"))
}

/// Whether `s` is a statement id: `MQTT-` then three dot-separated numbers,
/// a dash and a number (`MQTT-3.1.3-7`); two numbers occur once, in 5.0
/// section 4.2 (`MQTT-4.2-1`, as the spec's body prints it).
pub fn is_statement_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("MQTT-") else {
        return false;
    };
    let Some((section, n)) = rest.split_once('-') else {
        return false;
    };
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = section.split('.').collect();
    (parts.len() == 3 || section == "4.2") && parts.iter().all(|p| numeric(p)) && numeric(n)
}

/// Parses a map's text; `file` is used in the problems' places. Returns the
/// well-formed entries and a problem for every malformed line, duplicated
/// id, unknown role or status, and `n/a` entry without a reason.
pub fn parse(version: &str, file: &Path, text: &str) -> (Map, Vec<Problem>) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut problems = Vec::new();
    let problem = |line: usize, message: String| Problem {
        file: file.to_path_buf(),
        line,
        message,
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = raw.split(" | ").collect();
        // An empty evidence field leaves the line ending in " |".
        let fields: Vec<&str> = if fields.len() == 4 && fields[3].ends_with(" |") {
            let (p, _) = fields[3].rsplit_once(" |").expect("ends with it");
            vec![fields[0], fields[1], fields[2], p, ""]
        } else {
            fields
        };
        if fields.len() != 5 {
            problems.push(problem(
                line,
                format!(
                    "malformed line: {} fields separated by ' | ', expected 5 (id | role | status | paraphrase | evidence)",
                    fields.len()
                ),
            ));
            continue;
        }
        let id = fields[0].trim();
        if !is_statement_id(id) {
            problems.push(problem(
                line,
                format!("malformed id {id:?}: expected MQTT-x.y.z-n"),
            ));
            continue;
        }
        let Some(role) = Role::parse(fields[1].trim()) else {
            problems.push(problem(
                line,
                format!(
                    "{id}: unknown role {:?} (client, server, both, codec)",
                    fields[1].trim()
                ),
            ));
            continue;
        };
        let Some(status) = Status::parse(fields[2].trim()) else {
            problems.push(problem(
                line,
                format!(
                    "{id}: unknown status {:?} (tested, n/a, todo)",
                    fields[2].trim()
                ),
            ));
            continue;
        };
        let paraphrase = fields[3].trim();
        if paraphrase.is_empty() {
            problems.push(problem(line, format!("{id}: empty paraphrase")));
        }
        let evidence = fields[4].trim();
        match status {
            Status::NotApplicable => {
                let reason = evidence.strip_prefix("na:").map(str::trim);
                if reason.is_none_or(str::is_empty) {
                    problems.push(problem(
                        line,
                        format!("{id}: an n/a entry needs a reason ('na: why')"),
                    ));
                }
            }
            Status::Tested if evidence.is_empty() => {
                problems.push(problem(line, format!("{id}: a tested entry names no test")));
            }
            _ => {}
        }
        if let Some(first) = entries.iter().find(|e| e.id == id) {
            problems.push(problem(
                line,
                format!("{id}: duplicated id (first at line {})", first.line),
            ));
            continue;
        }
        entries.push(Entry {
            id: id.to_string(),
            role,
            status,
            paraphrase: paraphrase.to_string(),
            evidence: evidence.to_string(),
            line,
        });
    }
    let map = Map {
        version: version.to_string(),
        file: file.to_path_buf(),
        entries,
    };
    (map, problems)
}

/// Reads and parses the map of `version` under `root`.
pub fn load(root: &Path, version: &str) -> Result<(Map, Vec<Problem>), String> {
    let rel = map_path(version);
    let text = std::fs::read_to_string(root.join(&rel))
        .map_err(|e| format!("{}: cannot read: {e}", rel.display()))?;
    Ok(parse(version, &rel, &text))
}

/// Whether a Rust source names a test `fn name` at module path `modules`
/// (inline `mod` blocks, outermost first): the function is annotated
/// `#[test]` (or another `...test]` attribute), or sits inside a
/// `proptest!` block, or is made by `both_versions!` (modules `v311`, `v5`).
/// A textual check: it finds each `mod` in turn and the
/// function after the last.
pub fn source_has_test(source: &str, modules: &[&str], name: &str) -> bool {
    if let ["v311" | "v5"] = modules {
        if in_both_versions(source, name) {
            return true;
        }
    }
    let lines: Vec<&str> = source.lines().collect();
    let mut start = 0;
    for m in modules {
        let decl = format!("mod {m} ");
        let decl_brace = format!("mod {m}{{");
        match lines[start..].iter().position(|l| {
            let t = l.trim_start();
            let t = t.strip_prefix("pub ").unwrap_or(t);
            let t = t.strip_prefix("pub(crate) ").unwrap_or(t);
            t.starts_with(&decl) || t.starts_with(&decl_brace)
        }) {
            Some(p) => start += p + 1,
            None => return false,
        }
    }
    let needle = format!("fn {name}(");
    let needle_generic = format!("fn {name}<");
    let in_proptest = proptest_lines(&lines);
    lines.iter().enumerate().skip(start).any(|(i, l)| {
        let t = l.trim_start();
        let t = t.strip_prefix("async ").unwrap_or(t);
        if !(t.starts_with(&needle) || t.starts_with(&needle_generic)) {
            return false;
        }
        if in_proptest[i] {
            return true;
        }
        // Walk back over attributes, doc comments and blank lines.
        lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.is_empty() || l.starts_with("#[") || l.starts_with("//"))
            .any(|l| l.starts_with("#[") && l.ends_with("test]"))
    })
}

/// Whether `name` is listed in a `both_versions!(...)` invocation
/// (`mqtt_tests::both_versions`), which makes the tests `v311::name` and
/// `v5::name`.
fn in_both_versions(source: &str, name: &str) -> bool {
    let mut rest = source;
    while let Some(p) = rest.find("both_versions!(") {
        let body = &rest[p + "both_versions!(".len()..];
        let end = body.find(')').unwrap_or(body.len());
        if body[..end]
            .split(|c: char| c == ',' || c.is_whitespace())
            .any(|t| t == name)
        {
            return true;
        }
        rest = &body[end..];
    }
    false
}

/// For each line, whether it lies inside a `proptest! { ... }` block.
fn proptest_lines(lines: &[&str]) -> Vec<bool> {
    let mut inside = vec![false; lines.len()];
    let mut depth: i64 = 0;
    let mut active = false;
    for (i, l) in lines.iter().enumerate() {
        let code = l.split("//").next().unwrap_or("");
        if !active && code.contains("proptest!") {
            active = true;
            depth = 0;
        }
        if active {
            inside[i] = true;
            depth += code.matches('{').count() as i64;
            depth -= code.matches('}').count() as i64;
            if depth <= 0 && code.contains('}') {
                active = false;
            }
        }
    }
    inside
}

/// Checks that a test named in a map exists; `Err` says why not.
pub fn check_test_exists(root: &Path, test: &str) -> Result<(), String> {
    let segments: Vec<&str> = test.split("::").collect();
    if segments.len() < 2 || segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "{test:?} is not <stem>::<fn>, mqtt-core::<path>::<fn> or py::<stem>::<fn>"
        ));
    }
    let (name, path) = segments.split_last().expect("two or more");
    if path[0] == "py" {
        // A pytest function in py/tests/<stem>.py.
        let [_, stem] = path else {
            return Err(format!("{test:?} is not py::<file stem>::<fn>"));
        };
        let rel = PathBuf::from(format!("py/tests/{stem}.py"));
        let source = std::fs::read_to_string(root.join(&rel))
            .map_err(|_| format!("{test}: no test file {}", rel.display()))?;
        let def = format!("def {name}(");
        let found = name.starts_with("test")
            && source.lines().any(|l| {
                let t = l.trim_start();
                t.strip_prefix("async ").unwrap_or(t).starts_with(&def)
            });
        return if found {
            Ok(())
        } else {
            Err(format!(
                "{test}: no pytest test {name} in {}",
                rel.display()
            ))
        };
    }
    if path[0] == "mqtt-core" {
        let mut dir = root.join("core/src");
        let mut file = dir.join("lib.rs");
        let mut rest = &path[1..];
        while let Some((seg, tail)) = rest.split_first() {
            let flat = dir.join(format!("{seg}.rs"));
            let nested = dir.join(seg).join("mod.rs");
            if flat.is_file() {
                file = flat;
            } else if nested.is_file() {
                file = nested;
            } else {
                break;
            }
            dir = dir.join(seg);
            rest = tail;
        }
        let source = std::fs::read_to_string(&file)
            .map_err(|e| format!("{test}: cannot read {}: {e}", file.display()))?;
        if source_has_test(&source, rest, name) {
            Ok(())
        } else {
            Err(format!(
                "{test}: no test fn {name} (module path {:?}) in {}",
                rest.join("::"),
                file.strip_prefix(root).unwrap_or(&file).display()
            ))
        }
    } else {
        let rel = PathBuf::from(format!("tests/tests/{}.rs", path[0]));
        let source = std::fs::read_to_string(root.join(&rel))
            .map_err(|_| format!("{test}: no test file {}", rel.display()))?;
        if source_has_test(&source, &path[1..], name) {
            Ok(())
        } else {
            Err(format!("{test}: no test fn {name} in {}", rel.display()))
        }
    }
}

/// A statement id cited in a source file.
#[derive(Clone, Debug)]
pub struct Citation {
    /// The file, relative to the repository root.
    pub file: PathBuf,
    /// The line (1-based).
    pub line: usize,
    /// The id without brackets.
    pub id: String,
    /// The version the text right before the id names (`3.1.1 [MQTT-...]`,
    /// `5.0: MQTT-...`), if any.
    pub version: Option<&'static str>,
}

/// The length of the `x.y.z-n` that starts `tail`, or 0 when it does not
/// start with one (a range such as `3.1.2-4..6` yields `3.1.2-4`).
fn id_tail_len(tail: &str) -> usize {
    let b = tail.as_bytes();
    let mut i = 0;
    for sep in [b'.', b'.', b'-', 0] {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return 0;
        }
        if sep == 0 {
            return i;
        }
        if i >= b.len() || b[i] != sep {
            return 0;
        }
        i += 1;
    }
    i
}

/// The ids cited in one source text: every `MQTT-x.y.z-n`.
pub fn citations_in(file: &Path, text: &str) -> Vec<Citation> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut from = 0;
        while let Some(p) = line[from..].find("MQTT-") {
            let at = from + p;
            let tail = &line[at + 5..];
            let len = id_tail_len(tail);
            let candidate = format!("MQTT-{}", &tail[..len]);
            if is_statement_id(&candidate) {
                let before = line[..at].trim_end_matches(['[', '(', ' ', ':', '`', '*']);
                let version = if before.ends_with("3.1.1") {
                    Some("3.1.1")
                } else if before.ends_with("5.0") || before.ends_with("v5") {
                    Some("5.0")
                } else {
                    None
                };
                out.push(Citation {
                    file: file.to_path_buf(),
                    line: i + 1,
                    id: candidate,
                    version,
                });
            }
            from = at + 5;
        }
    }
    out
}

/// The folders whose sources may cite statement ids, relative to the
/// repository root, with the file extensions read there.
pub const CITING_SOURCES: [(&str, &[&str]); 6] = [
    ("tests/tests", &["rs"]),
    ("tests/src", &["rs"]),
    ("core/src", &["rs"]),
    ("ffi-c/tests", &["c", "h", "sh"]),
    ("py/tests", &["py"]),
    ("tests/py", &["py"]),
];

/// Every citation in the citing sources (those folders that exist).
pub fn all_citations(root: &Path) -> Vec<Citation> {
    let mut files = Vec::new();
    for (dir, exts) in CITING_SOURCES {
        collect_files(&root.join(dir), exts, &mut files);
    }
    files.sort();
    // This module's own examples and unit tests cite made-up ids.
    let own = root.join("tests/src/conformance.rs");
    files.retain(|f| *f != own);
    let mut out = Vec::new();
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            let rel = f.strip_prefix(root).unwrap_or(&f).to_path_buf();
            out.extend(citations_in(&rel, &text));
        }
    }
    out
}

fn collect_files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, exts, out);
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| exts.contains(&x))
        {
            out.push(p);
        }
    }
}

/// The result of checking the maps against the sources.
#[derive(Debug, Default)]
pub struct Report {
    /// Everything wrong, each at its place.
    pub problems: Vec<Problem>,
    /// Notes that do not fail the check (e.g. a placeholder map: citations
    /// that only it could hold are not checked).
    pub notes: Vec<String>,
}

/// Checks both maps and every citation under `root`: malformed lines,
/// duplicated ids, unknown roles or statuses, `n/a` without a reason,
/// tests named in a map that do not exist, and citations of ids in no map.
///
/// A map with no entries is a placeholder (its version's statements are
/// not written yet): a citation found in no map is then reported only if
/// it names the version of a map that has entries.
pub fn check(root: &Path) -> Report {
    let mut report = Report::default();
    let mut maps = Vec::new();
    for v in VERSIONS {
        match load(root, v) {
            Ok((map, problems)) => {
                report.problems.extend(problems);
                maps.push(map);
            }
            Err(e) => report.problems.push(Problem {
                file: map_path(v),
                line: 0,
                message: e,
            }),
        }
    }
    for map in &maps {
        for e in &map.entries {
            for t in e.tests() {
                if let Err(why) = check_test_exists(root, t) {
                    report.problems.push(Problem {
                        file: map.file.clone(),
                        line: e.line,
                        message: format!("{}: {why}", e.id),
                    });
                }
            }
        }
    }
    let placeholder = |v: &str| maps.iter().any(|m| m.version == v && m.entries.is_empty());
    let any_placeholder = VERSIONS.iter().any(|v| placeholder(v));
    let mut unchecked = 0usize;
    for c in all_citations(root) {
        let known = |v: &str| {
            maps.iter()
                .any(|m| m.version == v && m.get(&c.id).is_some())
        };
        let found = match c.version {
            Some(v) => known(v),
            None => VERSIONS.iter().any(|v| known(v)),
        };
        if found {
            continue;
        }
        let decidable = match c.version {
            Some(v) => !placeholder(v),
            None => !any_placeholder,
        };
        if decidable {
            let which = match c.version {
                Some(v) => format!("the {v} map ({})", map_path(v).display()),
                None => "either map".to_string(),
            };
            report.problems.push(Problem {
                file: c.file.clone(),
                line: c.line,
                message: format!("cites [{}], which is not in {which}", c.id),
            });
        } else {
            unchecked += 1;
        }
    }
    if unchecked > 0 {
        report.notes.push(format!(
            "{unchecked} citations found in no map were not checked: a map is still a placeholder"
        ));
    }
    report
}

/// Counts of one role in one map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Statements checked by a test.
    pub tested: usize,
    /// Statements that do not apply.
    pub not_applicable: usize,
    /// Applicable statements not yet checked.
    pub todo: usize,
}

impl Counts {
    /// All statements counted.
    pub fn total(&self) -> usize {
        self.tested + self.not_applicable + self.todo
    }

    /// Tested as a share of the applicable statements (tested + todo), in
    /// percent; `None` when none applies.
    pub fn percent(&self) -> Option<f64> {
        let applicable = self.tested + self.todo;
        (applicable > 0).then(|| 100.0 * self.tested as f64 / applicable as f64)
    }

    fn add(&mut self, status: Status) {
        match status {
            Status::Tested => self.tested += 1,
            Status::NotApplicable => self.not_applicable += 1,
            Status::Todo => self.todo += 1,
        }
    }
}

/// The counts of a map per role (in [`Role::ALL`] order) and in total.
pub fn coverage(map: &Map) -> (Vec<(Role, Counts)>, Counts) {
    let mut per: Vec<(Role, Counts)> = Role::ALL.iter().map(|r| (*r, Counts::default())).collect();
    let mut total = Counts::default();
    for e in &map.entries {
        total.add(e.status);
        if let Some((_, c)) = per.iter_mut().find(|(r, _)| *r == e.role) {
            c.add(e.status);
        }
    }
    (per, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_recognised() {
        assert!(is_statement_id("MQTT-3.1.3-7"));
        assert!(is_statement_id("MQTT-4.12.0-1"));
        assert!(!is_statement_id("MQTT-3.1.3"));
        assert!(!is_statement_id("MQTT-3.1-7"));
        assert!(is_statement_id("MQTT-4.2-1"));
        assert!(!is_statement_id("MQTT-3.1.3-"));
        assert!(!is_statement_id("[MQTT-3.1.3-7]"));
    }

    #[test]
    fn a_map_with_every_kind_of_problem() {
        let text = "# comment\n\
            MQTT-1.1.1-1 | client | tested | fine | a::b\n\
            MQTT-1.1.1-2 | server | todo | fine, no note |\n\
            MQTT-1.1.1-1 | client | todo | duplicate | \n\
            MQTT-1.1.1-3 | broker | todo | bad role | \n\
            MQTT-1.1.1-4 | codec | done | bad status | \n\
            MQTT-1.1.1-5 | both | n/a | no reason | \n\
            MQTT-1.1.1-6 | both | n/a | a reason | na: because\n\
            MQTT-1.1.1-7 | both | tested | four fields\n\
            MQTT-1.1.1 | both | tested | bad id | x::y\n";
        let (map, problems) = parse("9", Path::new("m.map"), text);
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7, 9, 10], "{problems:#?}");
        let ids: Vec<&str> = map.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "MQTT-1.1.1-1",
                "MQTT-1.1.1-2",
                "MQTT-1.1.1-5",
                "MQTT-1.1.1-6"
            ]
        );
        assert!(problems[0]
            .to_string()
            .starts_with("m.map:4: MQTT-1.1.1-1: duplicated"));
    }

    #[test]
    fn tests_are_found_by_attribute_module_and_proptest_block() {
        let src = "#[test]\nfn plain() {}\n\
            fn helper() {}\n\
            mod inner {\n    /// doc\n    #[test]\n    #[ignore]\n    fn nested() {}\n}\n\
            proptest! {\n    #[test]\n    fn prop(x in 0u8..) { let _ = x; }\n}\n\
            #[tokio::test]\nasync fn io() {}\n";
        assert!(source_has_test(src, &[], "plain"));
        assert!(!source_has_test(src, &[], "helper"));
        assert!(source_has_test(src, &["inner"], "nested"));
        assert!(!source_has_test(src, &["other"], "nested"));
        assert!(source_has_test(src, &[], "prop"));
        assert!(source_has_test(src, &[], "io"));
        assert!(!source_has_test(src, &[], "missing"));
        let generated = "both_versions!(\n    first,\n    second_one,\n);\n";
        assert!(source_has_test(generated, &["v311"], "second_one"));
        assert!(source_has_test(generated, &["v5"], "first"));
        assert!(!source_has_test(generated, &["v5"], "second"));
        assert!(!source_has_test(generated, &[], "first"));
    }

    #[test]
    fn named_tests_are_found_in_every_kind_of_place() {
        let root = repo_root();
        for ok in [
            "conformance_map::maps_agree_with_the_sources",
            "mqtt-core::topic::name::tests::empty_name_is_rejected_mqtt_4_7_3_1",
            "py::test_asyncio_transports::test_websocket_client_and_broker",
        ] {
            assert_eq!(check_test_exists(&root, ok), Ok(()), "{ok}");
        }
        for missing in [
            "conformance_map::no_such_test",
            "no_such_file::a_test",
            "mqtt-core::topic::name::tests::no_such_test",
            "mqtt-core::topic::name::no_such_module::empty_name_is_rejected_mqtt_4_7_3_1",
            "py::test_asyncio_transports::run",
            "py::a::b::c",
            "lonely",
        ] {
            assert!(check_test_exists(&root, missing).is_err(), "{missing}");
        }
    }

    #[test]
    fn citations_carry_an_explicit_version() {
        let c = citations_in(
            Path::new("f.rs"),
            "// [MQTT-3.1.2-4..6] and 3.1.1 [MQTT-3.8.3-4], 5.0: MQTT-3.3.2-20.\n",
        );
        let got: Vec<(&str, Option<&str>)> = c.iter().map(|c| (c.id.as_str(), c.version)).collect();
        assert_eq!(
            got,
            vec![
                ("MQTT-3.1.2-4", None),
                ("MQTT-3.8.3-4", Some("3.1.1")),
                ("MQTT-3.3.2-20", Some("5.0")),
            ]
        );
    }

    #[test]
    fn coverage_counts_per_role() {
        let text = "MQTT-1.1.1-1 | client | tested | a | x::y\n\
            MQTT-1.1.1-2 | client | todo | b | \n\
            MQTT-1.1.1-3 | server | n/a | c | na: why\n";
        let (map, problems) = parse("9", Path::new("m.map"), text);
        assert!(problems.is_empty());
        let (per, total) = coverage(&map);
        assert_eq!(per[0].1.tested, 1);
        assert_eq!(per[0].1.percent(), Some(50.0));
        assert_eq!(per[1].1.percent(), None);
        assert_eq!(total.total(), 3);
    }
}
