//! Mutations of real records get the reference AppView's verdict, and the same error path.
//!
//! `tests/data/reference-mutations.json` is recorded by `tools/reference-mutations.mjs`: 34
//! real records (one of each record type and post shape among the fixtures), and 4,076
//! mutations of them (a value deleted, or replaced by a wrong type, an unsafe integer, a long
//! string, a good or bad blob, a CID, an odd datetime, a foreign `$type`, …), each with the
//! reference validator's verdict and the path of its first problem.

mod common;

use serde::Deserialize;
use serde_json::Value;
use sluice_lexicon::{Catalog, ValidationOptions};

#[derive(Deserialize)]
struct Recorded {
    values: Vec<Value>,
    bases: Vec<Base>,
    cases: Vec<Case>,
}

/// One mutation: base record index, path, `set` or `delete`, value index (for `set`), the
/// reference's verdict, and the path of its first problem.
type Case = (
    usize,
    Vec<Value>,
    String,
    Option<usize>,
    bool,
    Option<String>,
);

#[derive(Deserialize)]
struct Base {
    collection: String,
    record: Value,
}

/// Applies one mutation: delete the value at `path`, or set it to `value`.
fn mutate(record: &mut Value, path: &[Value], value: Option<&Value>) {
    let Some((last, parents)) = path.split_last() else {
        panic!("empty path");
    };
    let mut parent = record;
    for key in parents {
        parent = match key {
            Value::String(key) => &mut parent[key.as_str()],
            index => &mut parent[usize::try_from(index.as_u64().unwrap()).unwrap()],
        };
    }
    match (parent, last, value) {
        (Value::Object(map), Value::String(key), Some(value)) => {
            map.insert(key.clone(), value.clone());
        }
        (Value::Object(map), Value::String(key), None) => {
            map.remove(key);
        }
        (Value::Array(items), index, value) => {
            let index = usize::try_from(index.as_u64().unwrap()).unwrap();
            match value {
                Some(value) => items[index] = value.clone(),
                None => {
                    items.remove(index);
                }
            }
        }
        (parent, last, _) => panic!("can not mutate {last} of {parent}"),
    }
}

#[test]
fn mutated_records_get_the_reference_verdict_and_path() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/reference-mutations.json"
    );
    let recorded: Recorded = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(recorded.cases.len(), 4076);
    let catalog = Catalog::builtin();
    let (mut valid, mut invalid) = (0, 0);
    for (base_index, path, op, value, reference_valid, reference_path) in &recorded.cases {
        let base = &recorded.bases[*base_index];
        let mut record = base.record.clone();
        let value = match op.as_str() {
            "delete" => None,
            _ => Some(&recorded.values[value.unwrap()]),
        };
        mutate(&mut record, path, value);
        let result = catalog
            .record(&base.collection)
            .unwrap()
            .validate_with(&common::lenient_ipld(&record), ValidationOptions::REFERENCE);
        let what = format!("{} {path:?} {op} {value:?}", base.collection);
        assert_eq!(result.is_ok(), *reference_valid, "{what}: {result:?}");
        if let Err(error) = result {
            assert_eq!(
                Some(error.path()),
                reference_path.as_deref(),
                "{what}: {error}"
            );
            invalid += 1;
        } else {
            valid += 1;
        }
    }
    println!(
        "{} mutations: {valid} valid, {invalid} invalid, all as the reference",
        recorded.cases.len()
    );
}
