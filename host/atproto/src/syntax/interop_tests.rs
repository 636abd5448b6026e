//! The atproto interop syntax vectors, run against every parser of this module.
//!
//! Two sets exist (see `fixtures/atproto/README.md`):
//!
//! - `interop-tests/syntax/`, the canonical atproto-interop-tests: **we follow it**, and every
//!   one of its vectors must pass.
//! - `atproto/interop-test-files/syntax/`, the monorepo's copy, which disagrees with the canonical
//!   set in places. Our verdicts differ from it on exactly the lines where we lean canonical:
//!   - `0000-01-01T00:00:00+01:00`: the copy calls it syntax-invalid; canonically (and here) it is
//!     valid syntax that fails the strict parse (it is a negative year in UTC);
//!   - `JA` and `jaja`: the copy calls them well-formed tags that fail a strict parse;
//!     canonically (and here) they are not well-formed (the primary language subtag must be two
//!     or three lower-case letters).
//!
//!   Where the copy only adds or drops vectors we agree with (letter-first TIDs, `de-419-DE`
//!   invalid), there is no difference to report.
//!
//! Vector files hold one value per line, never trimmed (leading and trailing spaces are part
//! of the test); `#` lines are comments and empty lines are skipped.

use std::collections::BTreeMap;

use super::{
    AtIdentifier, AtUri, Datetime, Did, Handle, Language, Nsid, RecordKey, Tid, Uri,
    is_valid_cid_syntax,
};
use crate::test_fixtures::{fixture, read_fixture};

const CANONICAL_SET: &str = "interop-tests/syntax";
const MONOREPO_SET: &str = "atproto/interop-test-files/syntax";

/// Every identifier kind the vector files cover.
const KINDS: [&str; 11] = [
    "atidentifier",
    "aturi",
    "cid",
    "datetime",
    "did",
    "handle",
    "language",
    "nsid",
    "recordkey",
    "tid",
    "uri",
];

/// What a vector file says about its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expectation {
    /// `<kind>_syntax_valid.txt`: passes the syntax check and the strict parse.
    Valid,
    /// `<kind>_syntax_invalid.txt`: fails the syntax check (so the strict parse too).
    Invalid,
    /// `<kind>_parse_invalid.txt`: passes the syntax check, fails the strict parse.
    ParseInvalid,
}

/// One vector file of a set.
struct VectorFile {
    name: String,
    kind: String,
    expectation: Expectation,
    lines: Vec<String>,
}

/// Every vector file of a set, by file name.
fn read_set(set: &str) -> Vec<VectorFile> {
    let dir = fixture(set);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".txt"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let (kind, expectation) = if let Some(kind) = name.strip_suffix("_syntax_valid.txt") {
                (kind, Expectation::Valid)
            } else if let Some(kind) = name.strip_suffix("_syntax_invalid.txt") {
                (kind, Expectation::Invalid)
            } else if let Some(kind) = name.strip_suffix("_parse_invalid.txt") {
                (kind, Expectation::ParseInvalid)
            } else {
                panic!("unexpected vector file {name}")
            };
            assert!(KINDS.contains(&kind), "vector file {name} of unknown kind");
            let text = String::from_utf8(read_fixture(&format!("{set}/{name}"))).unwrap();
            let lines = vector_lines(&text).map(str::to_owned).collect();
            VectorFile {
                kind: kind.to_owned(),
                expectation,
                lines,
                name,
            }
        })
        .collect()
}

/// The test values of a vector file: every line, untrimmed, except comments and empty lines.
fn vector_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Our verdict on a value of a kind: (passes the syntax check, passes the strict parse).
fn verdict(kind: &str, s: &str) -> (bool, bool) {
    let same = |ok: bool| (ok, ok);
    match kind {
        "atidentifier" => same(AtIdentifier::parse(s).is_ok()),
        "aturi" => same(AtUri::parse(s).is_ok()),
        "cid" => same(is_valid_cid_syntax(s)),
        "datetime" => (
            Datetime::validate_syntax(s).is_ok(),
            Datetime::parse(s).is_ok(),
        ),
        "did" => same(Did::parse(s).is_ok()),
        "handle" => same(Handle::parse(s).is_ok()),
        "language" => (
            Language::parse(s).is_ok(),
            Language::parse_strict(s).is_ok(),
        ),
        "nsid" => same(Nsid::parse(s).is_ok()),
        "recordkey" => same(RecordKey::parse(s).is_ok()),
        "tid" => same(Tid::parse(s).is_ok()),
        "uri" => same(Uri::parse(s).is_ok()),
        other => panic!("no parser for kind {other}"),
    }
}

/// True when our verdict is what the file expects.
fn agrees(expectation: Expectation, (syntax_ok, strict_ok): (bool, bool)) -> bool {
    match expectation {
        Expectation::Valid => syntax_ok && strict_ok,
        Expectation::Invalid => !syntax_ok && !strict_ok,
        Expectation::ParseInvalid => syntax_ok && !strict_ok,
    }
}

/// The outcome of running a vector set.
struct SetReport {
    /// Per file name: (vectors tried, vectors where our verdict agrees).
    counts: BTreeMap<String, (usize, usize)>,
    /// (file name, line) of every vector where our verdict differs.
    disagreements: Vec<(String, String)>,
}

/// Runs every vector of a set.
fn run_set(set: &str) -> SetReport {
    let mut counts = BTreeMap::new();
    let mut disagreements = Vec::new();
    for file in read_set(set) {
        let mut passed = 0;
        for line in &file.lines {
            if agrees(file.expectation, verdict(&file.kind, line)) {
                passed += 1;
            } else {
                disagreements.push((file.name.clone(), line.clone()));
            }
        }
        counts.insert(file.name, (file.lines.len(), passed));
    }
    SetReport {
        counts,
        disagreements,
    }
}

fn print_summary(set: &str, counts: &BTreeMap<String, (usize, usize)>) {
    let (tried, passed) = counts
        .values()
        .fold((0, 0), |(t, p), &(tried, passed)| (t + tried, p + passed));
    for (file, (file_tried, file_passed)) in counts {
        eprintln!("{set}/{file}: {file_passed}/{file_tried}");
    }
    eprintln!(
        "{set}: {tried} vectors tried, {passed} agree, {} differ",
        tried - passed
    );
}

#[test]
fn canonical_vectors_all_pass() {
    let SetReport {
        counts,
        disagreements: failures,
    } = run_set(CANONICAL_SET);
    print_summary(CANONICAL_SET, &counts);
    for kind in KINDS {
        for suffix in ["_syntax_valid.txt", "_syntax_invalid.txt"] {
            let file = format!("{kind}{suffix}");
            let tried = counts.get(&file).map_or(0, |&(tried, _)| tried);
            assert!(tried > 0, "{file} is missing or empty");
        }
    }
    for file in ["datetime_parse_invalid.txt", "language_parse_invalid.txt"] {
        assert!(
            counts.get(file).is_some_and(|&(tried, _)| tried > 0),
            "{file}"
        );
    }
    assert!(
        failures.is_empty(),
        "canonical vectors we get wrong: {failures:#?}"
    );
}

#[test]
fn monorepo_copy_differs_exactly_where_documented() {
    let SetReport {
        counts,
        disagreements: mut differences,
    } = run_set(MONOREPO_SET);
    print_summary(MONOREPO_SET, &counts);
    differences.sort();
    let documented: Vec<(String, String)> = [
        ("datetime_syntax_invalid.txt", "0000-01-01T00:00:00+01:00"),
        ("language_parse_invalid.txt", "JA"),
        ("language_parse_invalid.txt", "jaja"),
    ]
    .into_iter()
    .map(|(file, line)| (file.to_owned(), line.to_owned()))
    .collect();
    assert_eq!(differences, documented);
}

#[test]
fn vector_lines_are_not_trimmed() {
    let lines: Vec<&str> = vector_lines("# comment\n\n a \nb\n").collect();
    assert_eq!(lines, [" a ", "b"]);
    // And the files really do depend on it: some invalid vectors differ only by spaces.
    let aturi = String::from_utf8(read_fixture(&format!(
        "{CANONICAL_SET}/aturi_syntax_invalid.txt"
    )))
    .unwrap();
    assert!(vector_lines(&aturi).any(|line| line == "at://did:plc:asdf123 "));
}
