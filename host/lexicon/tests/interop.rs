//! The Lexicon interop vectors (`fixtures/interop-tests/lexicon/`): schema documents to accept
//! or reject, and record values to validate against the vectors' catalog.

mod common;

use common::{shared, shared_json};
use serde::Deserialize;
use sluice_lexicon::document::LexiconDoc;
use sluice_lexicon::{Catalog, RecordError, ValidationOptions};

const DIR: &str = "fixtures/interop-tests/lexicon";

#[derive(Deserialize)]
struct DocumentCase {
    name: String,
    lexicon: serde_json::Value,
}

#[derive(Deserialize)]
struct RecordCase {
    name: String,
    rkey: String,
    data: serde_json::Value,
}

fn cases<T: for<'de> Deserialize<'de>>(file: &str) -> Vec<T> {
    serde_json::from_value(shared_json(&format!("{DIR}/{file}"))).unwrap()
}

fn vector_catalog() -> Catalog {
    Catalog::load_dir(shared(&format!("{DIR}/catalog"))).unwrap()
}

/// Prints one line of the vector table (`cargo test -- --nocapture` shows it).
fn report(file: &str, tried: usize, passed: usize) {
    println!("{file}: {tried} tried, {passed} passed");
}

#[test]
fn valid_lexicon_documents_load() {
    let cases: Vec<DocumentCase> = cases("lexicon-valid.json");
    let mut passed = 0;
    for case in &cases {
        match LexiconDoc::from_value(case.lexicon.clone()) {
            Ok(_) => passed += 1,
            Err(error) => println!("  {}: rejected: {error}", case.name),
        }
    }
    report("lexicon-valid.json", cases.len(), passed);
    assert_eq!(cases.len(), 3);
    assert_eq!(passed, cases.len());
}

#[test]
fn invalid_lexicon_documents_are_rejected() {
    let cases: Vec<DocumentCase> = cases("lexicon-invalid.json");
    let mut passed = 0;
    for case in &cases {
        match LexiconDoc::from_value(case.lexicon.clone()) {
            Ok(_) => println!("  {}: accepted", case.name),
            Err(error) => {
                println!("  {}: {error}", case.name);
                passed += 1;
            }
        }
    }
    report("lexicon-invalid.json", cases.len(), passed);
    assert_eq!(cases.len(), 7);
    assert_eq!(passed, cases.len());
}

#[test]
fn the_vector_catalog_loads() {
    let catalog = vector_catalog();
    assert_eq!(catalog.documents().len(), 5);
    assert_eq!(catalog.record_types(), ["example.lexicon.record"]);
    // The procedure's input refers to app.bsky.actor.defs, which the vector catalog lacks;
    // only data definitions are compiled, so that ref is never followed.
    assert_eq!(catalog.unresolved_refs(), []);
}

/// Rewrites every `{"$bytes": …}` to canonical base64 (no padding, zero trailing bits).
///
/// Two vectors write `{"$bytes": "123"}`: three characters whose last carries two stray bits.
/// The reference implementations decode it (to two bytes); `sluice_atproto::data` rejects it
/// as non-canonical. The lexicon vectors are about lexicons, not base64, so the test feeds
/// them the canonical spelling of the same bytes.
fn canonical_bytes(value: &mut serde_json::Value, rewritten: &mut usize) {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let lenient = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    match value {
        serde_json::Value::Object(map) => {
            if let (1, Some(serde_json::Value::String(text))) = (map.len(), map.get_mut("$bytes")) {
                let bytes = lenient.decode(text.as_bytes()).unwrap();
                let canonical = base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
                if *text != canonical {
                    *text = canonical;
                    *rewritten += 1;
                }
            }
            map.values_mut().for_each(|v| canonical_bytes(v, rewritten));
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|v| canonical_bytes(v, rewritten));
        }
        _ => {}
    }
}

/// The record vectors of a file, with `$bytes` made canonical.
fn record_cases(file: &str) -> Vec<RecordCase> {
    let mut cases: Vec<RecordCase> = cases(file);
    let mut rewritten = 0;
    for case in &mut cases {
        canonical_bytes(&mut case.data, &mut rewritten);
    }
    // One "$bytes": "123" in each file.
    assert_eq!(rewritten, 1, "{file}");
    cases
}

/// Validates one record vector from atproto JSON.
fn validate(
    catalog: &Catalog,
    case: &RecordCase,
    options: ValidationOptions,
) -> Result<(), RecordError> {
    let schema = catalog.record("example.lexicon.record").unwrap();
    assert!(
        schema.accepts_key(&case.rkey),
        "{}: rkey {}",
        case.name,
        case.rkey
    );
    catalog.validate_record_json("example.lexicon.record", &case.data, options)
}

#[test]
fn valid_records_validate() {
    let catalog = vector_catalog();
    let cases = record_cases("record-data-valid.json");
    let mut passed = 0;
    for case in &cases {
        match validate(&catalog, case, ValidationOptions::SPEC) {
            Ok(()) => passed += 1,
            Err(error) => println!("  {}: {error}", case.name),
        }
    }
    report("record-data-valid.json", cases.len(), passed);
    assert_eq!(cases.len(), 3);
    assert_eq!(passed, cases.len());
}

#[test]
fn invalid_records_fail_validation() {
    let catalog = vector_catalog();
    let cases = record_cases("record-data-invalid.json");
    let mut passed = 0;
    for case in &cases {
        match validate(&catalog, case, ValidationOptions::SPEC) {
            Ok(()) => println!("  {}: accepted", case.name),
            // Every vector is well-formed data: the failure must be the lexicon's.
            Err(RecordError::Invalid(error)) => {
                println!("  {}: {error}", case.name);
                passed += 1;
            }
            Err(other) => println!("  {}: not validated: {other}", case.name),
        }
    }
    report("record-data-invalid.json", cases.len(), passed);
    assert_eq!(cases.len(), 50);
    assert_eq!(passed, cases.len());
}

/// Under the reference's own rules, one vector differs: the "full" record's blobs name a
/// DAG-CBOR CID, and the reference requires a raw one. Everything else agrees.
#[test]
fn reference_options_differ_only_on_blob_cid_codecs() {
    let catalog = vector_catalog();
    for (file, valid) in [
        ("record-data-valid.json", true),
        ("record-data-invalid.json", false),
    ] {
        for case in record_cases(file) {
            let result = validate(&catalog, &case, ValidationOptions::REFERENCE);
            if case.name == "full" {
                let error = result.unwrap_err().to_string();
                assert!(error.contains("not a CIDv1 of raw bytes"), "{error}");
            } else {
                assert_eq!(result.is_ok(), valid, "{file}: {}", case.name);
            }
        }
    }
}
