//! How validation treats the cases where implementations differ. Each expectation here was
//! checked against the reference AppView's validator (`@atproto/lex-schema`, strict, validate
//! mode) on the same schema and values.

mod common;

use ipld_core::ipld::Ipld;
use serde_json::json;
use sluice_lexicon::{Catalog, ErrorKind, RecordError, ValidationError, ValidationOptions};

const RAW_CID: &str = "bafkreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq";
const CBOR_CID: &str = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq";

fn catalog() -> Catalog {
    let mut builder = Catalog::builder();
    builder
        .add_json(
            &json!({
                "lexicon": 1,
                "id": "com.example.thing",
                "defs": {
                    "main": {
                        "type": "record",
                        "key": "tid",
                        "record": {
                            "type": "object",
                            "required": ["count"],
                            "nullable": ["note", "maybe"],
                            "properties": {
                                "count": {"type": "integer", "minimum": 0},
                                "note": {"type": "string", "maxGraphemes": 3},
                                "maybe": {"type": "string"},
                                "flag": {"type": "boolean"},
                                "ref": {"type": "ref", "ref": "#part"},
                                "open": {"type": "union", "refs": ["#part", "com.example.other"]},
                                "closed": {"type": "union", "refs": ["#part"], "closed": true},
                                "anything": {"type": "unknown"},
                                "image": {"type": "blob", "accept": ["image/*"], "maxSize": 1000},
                                "token": {"type": "ref", "ref": "#mark"},
                                "inline": {"type": "object", "properties": {"a": {"type": "integer"}}},
                                "items": {"type": "array", "items": {"type": "ref", "ref": "#part"}}
                            }
                        }
                    },
                    "part": {"type": "object", "properties": {"a": {"type": "integer"}}},
                    "mark": {"type": "token"}
                }
            })
            .to_string(),
            "thing",
        )
        .unwrap()
        .add_json(
            &json!({
                "lexicon": 1,
                "id": "com.example.other",
                "defs": {"main": {"type": "object", "required": ["z"], "properties": {"z": {"type": "string"}}}}
            })
            .to_string(),
            "other",
        )
        .unwrap();
    builder.build()
}

/// Validates `{"$type": "com.example.thing", "count": 1, ...extra}`.
fn check(extra: serde_json::Value, options: ValidationOptions) -> Result<(), ValidationError> {
    let mut record = json!({"$type": "com.example.thing", "count": 1});
    if let (Some(record), serde_json::Value::Object(extra)) = (record.as_object_mut(), extra) {
        record.extend(extra);
    }
    catalog()
        .record("com.example.thing")
        .unwrap()
        .validate_with(&common::lenient_ipld(&record), options)
}

fn valid(extra: serde_json::Value) -> bool {
    check(extra, ValidationOptions::REFERENCE).is_ok()
}

fn error(extra: serde_json::Value) -> ValidationError {
    check(extra, ValidationOptions::REFERENCE).unwrap_err()
}

fn blob(cid: &str, mime_type: &str, size: i64) -> serde_json::Value {
    json!({"$type": "blob", "ref": {"$link": cid}, "mimeType": mime_type, "size": size})
}

#[test]
fn records_need_their_own_type() {
    let catalog = catalog();
    let schema = catalog.record("com.example.thing").unwrap();
    let record = |t: Option<&str>| {
        let mut map = std::collections::BTreeMap::from([("count".to_owned(), Ipld::Integer(1))]);
        if let Some(t) = t {
            map.insert("$type".to_owned(), Ipld::String(t.to_owned()));
        }
        Ipld::Map(map)
    };
    assert!(schema.validate(&record(Some("com.example.thing"))).is_ok());
    for wrong in [
        None,
        Some("com.example.thing#main"),
        Some("com.example.other"),
    ] {
        let error = schema.validate(&record(wrong)).unwrap_err();
        assert!(
            matches!(error.kind(), ErrorKind::WrongDollarType { .. }),
            "{error}"
        );
        assert_eq!(error.path(), "record/$type");
    }
    assert!(schema.validate(&Ipld::List(vec![])).is_err());
}

#[test]
fn required_nullable_and_unknown_properties() {
    let missing = check_raw(json!({"$type": "com.example.thing"})).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "record: required property \"count\" is missing"
    );
    assert!(valid(json!({"note": null, "maybe": null})));
    assert_eq!(
        error(json!({"flag": null})).to_string(),
        "record/flag: must be a boolean, not null"
    );
    // Properties the lexicon does not name are not looked at, floats included.
    assert!(valid(json!({"extra": {"deep": [1, "x"]}})));
}

/// Validates a whole record given as atproto JSON, through `sluice_atproto::data`.
fn check_raw(record: serde_json::Value) -> Result<(), RecordError> {
    catalog().validate_record_json("com.example.thing", &record, ValidationOptions::REFERENCE)
}

#[test]
fn integers_are_safe_integers() {
    assert!(valid(json!({"count": 9_007_199_254_740_991_i64})));
    let error = error(json!({"count": 9_007_199_254_740_992_i64}));
    assert!(
        matches!(error.kind(), ErrorKind::UnsafeInteger(_)),
        "{error}"
    );
    assert_eq!(
        error_of(json!({"count": -1})),
        "record/count: value -1 is below the minimum of 0"
    );
}

fn error_of(record_extra: serde_json::Value) -> String {
    error(record_extra).to_string()
}

#[test]
fn graphemes_are_clusters() {
    // Three family emoji: many code points and bytes, three graphemes.
    assert!(valid(json!({"note": "👩‍👩‍👦‍👦👩‍👩‍👦‍👦👩‍👩‍👦‍👦"})));
    assert!(!valid(json!({"note": "abcd"})));
}

#[test]
fn named_objects_reject_a_foreign_type() {
    assert!(valid(json!({"ref": {"a": 1}})));
    assert!(valid(
        json!({"ref": {"$type": "com.example.thing#part", "a": 1}})
    ));
    let error = error(json!({"ref": {"$type": "com.example.thing#other", "a": 1}}));
    assert_eq!(
        error.to_string(),
        "record/ref/$type: must be \"com.example.thing#part\", not \"com.example.thing#other\""
    );
    assert!(!valid(json!({"ref": {"$type": 5}})));
    // Inline objects do not look at $type.
    assert!(valid(json!({"inline": {"$type": "anything", "a": 1}})));
    assert_eq!(
        error_of(json!({"items": [{"a": 1}, {"a": "x"}]})),
        "record/items/1/a: must be an integer, not a string"
    );
}

#[test]
fn unions_match_types_exactly() {
    assert!(valid(
        json!({"open": {"$type": "com.example.thing#part", "a": 1}})
    ));
    assert!(!valid(
        json!({"open": {"$type": "com.example.thing#part", "a": "x"}})
    ));
    // A main definition's $type is the bare NSID; the variant is validated.
    assert!(valid(
        json!({"open": {"$type": "com.example.other", "z": "ok"}})
    ));
    assert!(!valid(json!({"open": {"$type": "com.example.other"}})));
    // Another spelling is another type: accepted unvalidated by an open union...
    assert!(valid(json!({"open": {"$type": "com.example.other#main"}})));
    assert!(valid(
        json!({"open": {"$type": "org.elsewhere.thing", "zzz": 1.5}})
    ));
    // ...rejected by a closed one.
    assert!(!valid(
        json!({"closed": {"$type": "com.example.thing#main", "a": 1}})
    ));
    assert!(valid(
        json!({"closed": {"$type": "com.example.thing#part", "a": 1}})
    ));
    // No $type, or not a string.
    assert!(matches!(
        error(json!({"open": {"a": 1}})).kind(),
        ErrorKind::UnionWithoutType
    ));
    assert!(matches!(
        error(json!({"open": {"$type": 5}})).kind(),
        ErrorKind::TypeNotString
    ));
}

#[test]
fn unknown_is_any_object_of_data_model_values() {
    assert!(valid(json!({"anything": {"a": [1, {"b": null}]}})));
    assert!(valid(
        json!({"anything": {"$type": "com.example.thing#part", "a": "not checked"}})
    ));
    // A blob is an object too.
    assert!(valid(json!({"anything": blob(RAW_CID, "text/plain", 5)})));
    for not_object in [
        json!(false),
        json!([1]),
        json!({"$bytes": "AAAA"}),
        json!({"$link": CBOR_CID}),
    ] {
        assert!(!valid(json!({"anything": not_object})), "{not_object}");
    }
}

#[test]
fn floats_inside_unknown_are_rejected() {
    let mut map = std::collections::BTreeMap::new();
    map.insert("a".to_owned(), Ipld::Float(1.5));
    let record = Ipld::Map(std::collections::BTreeMap::from([
        (
            "$type".to_owned(),
            Ipld::String("com.example.thing".to_owned()),
        ),
        ("count".to_owned(), Ipld::Integer(1)),
        ("anything".to_owned(), Ipld::Map(map)),
    ]));
    let error = catalog()
        .record("com.example.thing")
        .unwrap()
        .validate(&record)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "record/anything/a: holds a float, which the data model does not allow"
    );
}

#[test]
fn tokens_are_their_name() {
    assert!(valid(json!({"token": "com.example.thing#mark"})));
    assert!(!valid(json!({"token": "com.example.thing#other"})));
    assert!(!valid(json!({"token": 1})));
}

#[test]
fn blobs() {
    assert!(valid(json!({"image": blob(RAW_CID, "image/png", 1000)})));
    let too_big = error(json!({"image": blob(RAW_CID, "image/png", 1001)}));
    assert!(
        matches!(
            too_big.kind(),
            ErrorKind::TooBig {
                what: "blob size",
                ..
            }
        ),
        "{too_big}"
    );
    assert_eq!(
        error_of(json!({"image": blob(RAW_CID, "text/plain", 10)})),
        "record/image/mimeType: \"text/plain\" is not an accepted type (image/*)"
    );
    // The reference wants a raw CID; the interop vectors do not.
    let cbor = json!({"image": blob(CBOR_CID, "image/png", 10)});
    assert!(matches!(
        error(cbor.clone()).kind(),
        ErrorKind::BlobCidNotRaw(_)
    ));
    assert!(check(cbor, ValidationOptions::SPEC).is_ok());
    // Malformed blobs.
    for bad in [
        json!({"$type": "blob", "ref": {"$link": RAW_CID}, "mimeType": "png", "size": 1}),
        json!({"$type": "blob", "ref": {"$link": RAW_CID}, "mimeType": "image/png", "size": -1}),
        json!({"$type": "blob", "ref": {"$link": RAW_CID}, "mimeType": "image/png", "size": 1, "x": 1}),
        json!({"$type": "blob", "ref": RAW_CID, "mimeType": "image/png", "size": 1}),
    ] {
        assert!(matches!(
            error(json!({"image": bad})).kind(),
            ErrorKind::NotABlob(_)
        ));
    }
}

#[test]
fn legacy_blobs_only_when_allowed() {
    let legacy = json!({"image": {"cid": RAW_CID, "mimeType": "image/jpeg"}});
    assert!(matches!(
        error(legacy.clone()).kind(),
        ErrorKind::LegacyBlob
    ));
    let lenient = ValidationOptions {
        allow_legacy_blobs: true,
        ..ValidationOptions::REFERENCE
    };
    assert!(check(legacy, lenient).is_ok());
    // `accept` still applies; the CID must still be raw.
    assert!(
        check(
            json!({"image": {"cid": RAW_CID, "mimeType": "text/plain"}}),
            lenient
        )
        .is_err()
    );
    assert!(
        check(
            json!({"image": {"cid": CBOR_CID, "mimeType": "image/jpeg"}}),
            lenient
        )
        .is_err()
    );
}

#[test]
fn unknown_collections_are_reported_apart() {
    let result = catalog().validate_record("org.elsewhere.thing", &Ipld::Null);
    assert!(matches!(result, Err(RecordError::NoLexicon(ref c)) if c == "org.elsewhere.thing"));
}

#[test]
fn unresolved_refs_fail_only_when_reached() {
    let mut builder = Catalog::builder();
    builder
        .add_json(
            &json!({"lexicon": 1, "id": "com.example.partial", "defs": {"main": {
                "type": "record", "key": "any", "record": {"type": "object", "properties": {
                    "missing": {"type": "ref", "ref": "com.example.absent#thing"}
                }}
            }}})
            .to_string(),
            "partial",
        )
        .unwrap();
    let catalog = builder.build();
    assert_eq!(catalog.unresolved_refs().len(), 1);
    let schema = catalog.record("com.example.partial").unwrap();
    let record = |extra: Option<Ipld>| {
        let mut map = std::collections::BTreeMap::from([(
            "$type".to_owned(),
            Ipld::String("com.example.partial".to_owned()),
        )]);
        if let Some(extra) = extra {
            map.insert("missing".to_owned(), extra);
        }
        Ipld::Map(map)
    };
    assert!(schema.validate(&record(None)).is_ok());
    let error = schema
        .validate(&record(Some(Ipld::Integer(1))))
        .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::UnresolvedRef(_)),
        "{error}"
    );
}

#[test]
fn record_keys() {
    let catalog = catalog();
    let schema = catalog.record("com.example.thing").unwrap();
    assert!(schema.accepts_key("3jzfcijpj2z2a"));
    assert!(!schema.accepts_key("self"));
}

#[test]
fn duplicate_documents_are_refused() {
    let text = json!({"lexicon": 1, "id": "com.example.dup", "defs": {}}).to_string();
    let mut builder = Catalog::builder();
    builder.add_json(&text, "first").unwrap();
    let error = builder.add_json(&text, "second").unwrap_err();
    assert_eq!(
        error.to_string(),
        "com.example.dup is defined twice (first and second)"
    );
}

#[test]
fn deep_nesting_is_bounded() {
    let mut value = Ipld::Integer(1);
    for _ in 0..(sluice_lexicon::MAX_DEPTH + 10) {
        value = Ipld::Map(std::collections::BTreeMap::from([("a".to_owned(), value)]));
    }
    let record = Ipld::Map(std::collections::BTreeMap::from([
        (
            "$type".to_owned(),
            Ipld::String("com.example.thing".to_owned()),
        ),
        ("count".to_owned(), Ipld::Integer(1)),
        ("anything".to_owned(), value),
    ]));
    let error = catalog()
        .record("com.example.thing")
        .unwrap()
        .validate(&record)
        .unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::TooDeep(_)), "{error}");
}
