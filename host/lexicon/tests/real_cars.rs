//! Every record of every real repo CAR among the fixtures, validated against the built-in
//! lexicons, gets the verdict the reference AppView's validator gives it.
//!
//! `tests/data/reference-verdicts.json` holds the reference's verdicts, recorded by
//! `tools/reference-verdicts.mjs` (the reference reads each CAR and validates each record as
//! its indexer does): per file, the record count, the invalid records with the path of the
//! first problem, and the records whose collection has no lexicon (skipped). Every other
//! record is valid.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::shared;
use serde::Deserialize;
use sluice_atproto::repo::{ReadOptions, RepoReader};
use sluice_lexicon::{Catalog, ErrorKind, RecordError, ValidationOptions};

#[derive(Deserialize)]
struct FileVerdicts {
    records: usize,
    invalid: BTreeMap<String, Invalid>,
    skipped: Vec<String>,
    /// Set when the reference could not read the CAR.
    #[serde(default)]
    unreadable: Option<String>,
}

#[derive(Deserialize)]
struct Invalid {
    path: String,
}

#[derive(Default)]
struct Outcome {
    records: usize,
    unreadable: usize,
    /// Record key → error path and kind.
    invalid: BTreeMap<String, (String, ErrorKind)>,
    skipped: BTreeSet<String>,
}

async fn validate_car(catalog: &Catalog, file: &str, options: ValidationOptions) -> Outcome {
    let path = shared(&format!("fixtures/real/{file}"));
    let input = tokio::fs::File::open(&path).await.unwrap();
    let reader = RepoReader::read(tokio::io::BufReader::new(input), &ReadOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut outcome = Outcome::default();
    for record in reader.records() {
        let Ok(record) = record else {
            // A partial CAR: an MST node or record block is absent.
            outcome.unreadable += 1;
            continue;
        };
        outcome.records += 1;
        let value = record.to_ipld().unwrap();
        let from_cbor = catalog.validate_record_with(record.collection(), &value, options);
        // The same record through atproto JSON gets the same verdict.
        let json = record.to_json().unwrap();
        let from_json = catalog.validate_record_json(record.collection(), &json, options);
        assert_eq!(
            from_cbor.as_ref().err().map(ToString::to_string),
            from_json.as_ref().err().map(ToString::to_string),
            "{file}: {}",
            record.path()
        );
        match from_cbor {
            Ok(()) => {}
            Err(RecordError::NoLexicon(_)) => {
                outcome.skipped.insert(record.path().to_owned());
            }
            Err(RecordError::Invalid(error)) => {
                outcome.invalid.insert(
                    record.path().to_owned(),
                    (error.path().to_owned(), error.kind().clone()),
                );
            }
            Err(other) => panic!("{file}: {}: {other}", record.path()),
        }
    }
    outcome
}

fn reference_verdicts() -> BTreeMap<String, FileVerdicts> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/reference-verdicts.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn every_real_record_gets_the_reference_verdict() {
    let catalog = Catalog::builtin();
    let verdicts = reference_verdicts();
    assert!(verdicts.len() >= 17, "{} files", verdicts.len());
    let (mut total, mut total_invalid, mut total_skipped) = (0, 0, 0);
    for (file, expected) in &verdicts {
        let outcome = validate_car(&catalog, file, ValidationOptions::REFERENCE).await;
        println!(
            "{file}: {} records, {} valid, {} invalid, {} skipped (no lexicon), {} unreadable",
            outcome.records,
            outcome.records - outcome.invalid.len() - outcome.skipped.len(),
            outcome.invalid.len(),
            outcome.skipped.len(),
            outcome.unreadable
        );
        total += outcome.records;
        total_invalid += outcome.invalid.len();
        total_skipped += outcome.skipped.len();
        if expected.unreadable.is_some() {
            // The reference can not walk this partial CAR (`indigo/repo_slice.car`). Its one
            // record embeds a legacy blob, which the reference rejects as in
            // `paul_staging.repo.car`.
            assert_eq!(outcome.records, 1, "{file}");
            assert!(
                outcome
                    .invalid
                    .values()
                    .all(|(_, kind)| *kind == ErrorKind::LegacyBlob),
                "{file}"
            );
            assert_eq!(outcome.invalid.len(), 1, "{file}");
            continue;
        }
        assert_eq!(outcome.records, expected.records, "{file}");
        let expected_skipped: BTreeSet<String> = expected.skipped.iter().cloned().collect();
        assert_eq!(outcome.skipped, expected_skipped, "{file}: skipped");
        let expected_invalid: BTreeMap<&str, &str> = expected
            .invalid
            .iter()
            .map(|(key, invalid)| (key.as_str(), invalid.path.as_str()))
            .collect();
        let got_invalid: BTreeMap<&str, &str> = outcome
            .invalid
            .iter()
            .map(|(key, (path, _))| (key.as_str(), path.as_str()))
            .collect();
        assert_eq!(
            got_invalid, expected_invalid,
            "{file}: invalid records and where"
        );
    }
    println!("all: {total} records, {total_invalid} invalid, {total_skipped} skipped");
    assert!(total > 5000);
}

/// The 50 records of `paul_staging` and the one of `repo_slice` the reference rejects all
/// embed legacy blobs; with legacy blobs accepted they validate. The old follows of
/// `divy.repo` (subject an object, not a DID) stay invalid.
#[tokio::test]
async fn legacy_blobs_are_the_only_reason_old_records_fail() {
    let catalog = Catalog::builtin();
    let lenient = ValidationOptions {
        allow_legacy_blobs: true,
        ..ValidationOptions::REFERENCE
    };
    let strict = validate_car(
        &catalog,
        "indigo/paul_staging.repo.car",
        ValidationOptions::REFERENCE,
    )
    .await;
    assert_eq!(strict.invalid.len(), 50);
    assert!(
        strict
            .invalid
            .values()
            .all(|(_, kind)| *kind == ErrorKind::LegacyBlob)
    );
    for file in ["indigo/paul_staging.repo.car", "indigo/repo_slice.car"] {
        let outcome = validate_car(&catalog, file, lenient).await;
        assert!(outcome.invalid.is_empty(), "{file}: {:?}", outcome.invalid);
    }
    let divy = validate_car(&catalog, "indigo/divy.repo", lenient).await;
    assert_eq!(divy.invalid.len(), 5);
    assert!(
        divy.invalid
            .keys()
            .all(|key| key.starts_with("app.bsky.graph.follow/"))
    );
    assert_eq!(
        divy.skipped.iter().collect::<Vec<_>>(),
        ["app.bsky.system.declaration/self"]
    );
}
