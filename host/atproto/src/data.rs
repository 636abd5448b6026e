//! The atproto data model: DAG-CBOR ⇄ atproto JSON, and CID computation.
//!
//! Records travel as DAG-CBOR inside repos and firehose frames, and as "atproto JSON" in Redis
//! streams and APIs. atproto JSON writes a CID link as `{"$link": "<cid>"}` and bytes as
//! `{"$bytes": "<base64, no padding>"}`. The conversion here is exact both ways, and the JSON side
//! enforces the data model's rules (no floats, well-formed `$link` / `$bytes` / blob objects,
//! `$type` a non-empty string).

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cid::Cid;
use ipld_core::ipld::Ipld;
use multihash::Multihash;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Multicodec code of DAG-CBOR, the codec of every repo block.
pub const DAG_CBOR: u64 = 0x71;
/// Multicodec code of raw bytes (blobs).
pub const RAW: u64 = 0x55;
/// Multihash code of sha2-256, the only hash atproto uses.
pub const SHA2_256: u64 = 0x12;

/// Why a value could not be encoded, decoded or converted.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The CID names a hash function other than sha2-256.
    #[error("CID {cid} uses hash function 0x{code:x}; only sha2-256 (0x12) is accepted")]
    UnsupportedHash {
        /// The offending CID.
        cid: Cid,
        /// Its multihash code.
        code: u64,
    },
    /// The bytes do not hash to the CID that names them.
    #[error("block {cid} does not match its CID: the bytes hash to {computed}")]
    HashMismatch {
        /// The CID the block claimed.
        cid: Cid,
        /// The CID its bytes really have (same codec).
        computed: Cid,
    },
    /// DAG-CBOR encoding failed.
    #[error("DAG-CBOR encoding failed: {0}")]
    Encode(String),
    /// The bytes are not valid DAG-CBOR for the expected shape.
    #[error("invalid DAG-CBOR: {0}")]
    Decode(String),
    /// A JSON document breaks the atproto data model.
    #[error("invalid atproto JSON at {path}: {reason}")]
    Json {
        /// Where in the document (a JSON pointer, `""` for the top).
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The sha2-256 digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn cid_v1(codec: u64, bytes: &[u8]) -> Cid {
    let digest = sha256(bytes);
    // A 32-byte digest always fits a 64-byte multihash.
    let hash = Multihash::<64>::wrap(SHA2_256, &digest).unwrap_or_default();
    Cid::new_v1(codec, hash)
}

/// The CIDv1 (sha2-256) of a DAG-CBOR block.
pub fn cid_for_dag_cbor(bytes: &[u8]) -> Cid {
    cid_v1(DAG_CBOR, bytes)
}

/// The CIDv1 (sha2-256) of raw bytes, as blobs are named.
pub fn cid_for_raw(bytes: &[u8]) -> Cid {
    cid_v1(RAW, bytes)
}

/// Checks that `bytes` hash to `cid` (sha2-256 only).
pub fn verify_block(cid: &Cid, bytes: &[u8]) -> Result<(), DataError> {
    let hash = cid.hash();
    if hash.code() != SHA2_256 || hash.size() != 32 {
        return Err(DataError::UnsupportedHash {
            cid: *cid,
            code: hash.code(),
        });
    }
    let digest = sha256(bytes);
    if hash.digest() != digest {
        return Err(DataError::HashMismatch {
            cid: *cid,
            computed: cid_v1(cid.codec(), bytes),
        });
    }
    Ok(())
}

/// Encodes a value as DAG-CBOR (canonical: map keys sorted by length, then bytes).
pub fn to_dag_cbor<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, DataError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| DataError::Encode(e.to_string()))
}

/// Decodes DAG-CBOR bytes into `T`.
pub fn from_dag_cbor<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DataError> {
    serde_ipld_dagcbor::from_slice(bytes).map_err(|e| DataError::Decode(e.to_string()))
}

/// Converts an IPLD value to atproto JSON.
pub fn ipld_to_json(value: &Ipld) -> serde_json::Value {
    match value {
        Ipld::Null => serde_json::Value::Null,
        Ipld::Bool(b) => serde_json::Value::Bool(*b),
        Ipld::Integer(i) => integer_to_json(*i),
        Ipld::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Ipld::String(s) => serde_json::Value::String(s.clone()),
        Ipld::Bytes(b) => {
            let mut object = serde_json::Map::with_capacity(1);
            object.insert(
                "$bytes".to_owned(),
                serde_json::Value::String(STANDARD_NO_PAD.encode(b)),
            );
            serde_json::Value::Object(object)
        }
        Ipld::List(items) => serde_json::Value::Array(items.iter().map(ipld_to_json).collect()),
        Ipld::Map(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), ipld_to_json(v)))
                .collect(),
        ),
        Ipld::Link(cid) => {
            let mut object = serde_json::Map::with_capacity(1);
            object.insert(
                "$link".to_owned(),
                serde_json::Value::String(cid.to_string()),
            );
            serde_json::Value::Object(object)
        }
    }
}

fn integer_to_json(i: i128) -> serde_json::Value {
    if let Ok(v) = i64::try_from(i) {
        serde_json::Value::from(v)
    } else if let Ok(v) = u64::try_from(i) {
        serde_json::Value::from(v)
    } else {
        // DAG-CBOR integers fit in 64 bits; anything else cannot come from a decoder.
        serde_json::Value::Null
    }
}

/// Serialises an IPLD value as atproto JSON without building a `serde_json::Value` first:
/// `serde_json::to_string(&AtprotoJson(&ipld))`.
#[derive(Debug, Clone, Copy)]
pub struct AtprotoJson<'a>(pub &'a Ipld);

impl Serialize for AtprotoJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Ipld::Null => serializer.serialize_unit(),
            Ipld::Bool(b) => serializer.serialize_bool(*b),
            Ipld::Integer(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    serializer.serialize_i64(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    serializer.serialize_u64(v)
                } else {
                    serializer.serialize_unit()
                }
            }
            Ipld::Float(f) => serializer.serialize_f64(*f),
            Ipld::String(s) => serializer.serialize_str(s),
            Ipld::Bytes(b) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("$bytes", &STANDARD_NO_PAD.encode(b))?;
                map.end()
            }
            Ipld::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&AtprotoJson(item))?;
                }
                seq.end()
            }
            Ipld::Map(entries) => {
                // DAG-CBOR's key order (shorter keys first, then bytewise), the order in which
                // a decoder meets the keys: what the reference AppView's `JSON.stringify` of a
                // decoded record writes, so stored record JSON is byte-for-byte the same.
                let mut ordered: Vec<(&String, &Ipld)> = entries.iter().collect();
                ordered.sort_by(|(a, _), (b, _)| dag_cbor_key_order(a, b));
                let mut map = serializer.serialize_map(Some(ordered.len()))?;
                for (k, v) in ordered {
                    map.serialize_entry(k, &AtprotoJson(v))?;
                }
                map.end()
            }
            Ipld::Link(cid) => {
                let mut map = serializer.serialize_map(Some(1))?;
                // Cid's Display is base32 multibase for v1; write it without an extra allocation
                // beyond the one string.
                let mut text = String::with_capacity(64);
                let _ = write!(text, "{cid}");
                map.serialize_entry("$link", &text)?;
                map.end()
            }
        }
    }
}

/// DAG-CBOR's canonical order of map keys: by encoded length, then bytewise.
pub fn dag_cbor_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// Decodes a DAG-CBOR record and renders it as an atproto JSON string, map keys in DAG-CBOR
/// order.
pub fn dag_cbor_to_json_string(bytes: &[u8]) -> Result<String, DataError> {
    let value: Ipld = from_dag_cbor(bytes)?;
    serde_json::to_string(&AtprotoJson(&value)).map_err(|e| DataError::Encode(e.to_string()))
}

/// Converts atproto JSON to IPLD, enforcing the data model (see the module docs).
pub fn json_to_ipld(value: &serde_json::Value) -> Result<Ipld, DataError> {
    let mut path = String::new();
    convert_json(value, &mut path)
}

/// Converts an atproto JSON record (the top level must be an object) to IPLD.
pub fn record_from_json(value: &serde_json::Value) -> Result<Ipld, DataError> {
    if !value.is_object() {
        return Err(json_error("", "a record must be a JSON object"));
    }
    json_to_ipld(value)
}

/// Converts an atproto JSON record to its DAG-CBOR bytes and their CID.
pub fn record_json_to_dag_cbor(value: &serde_json::Value) -> Result<(Vec<u8>, Cid), DataError> {
    let ipld = record_from_json(value)?;
    let bytes = to_dag_cbor(&ipld)?;
    let cid = cid_for_dag_cbor(&bytes);
    Ok((bytes, cid))
}

/// Base64 as atproto JSON readers accept it: padding optional, stray trailing bits ignored (the
/// reference's decoder accepts `"123"`, whose last character carries bits beyond the data).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn json_error(path: &str, reason: impl Into<String>) -> DataError {
    DataError::Json {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn convert_json(value: &serde_json::Value, path: &mut String) -> Result<Ipld, DataError> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => Ipld::Null,
        Value::Bool(b) => Ipld::Bool(*b),
        Value::Number(n) => convert_number(n, path)?,
        Value::String(s) => Ipld::String(s.clone()),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                let _ = write!(path, "/{index}");
                out.push(convert_json(item, path)?);
                path.truncate(len);
            }
            Ipld::List(out)
        }
        Value::Object(object) => convert_object(object, path)?,
    })
}

fn convert_number(n: &serde_json::Number, path: &str) -> Result<Ipld, DataError> {
    if let Some(i) = n.as_i64() {
        return Ok(Ipld::Integer(i.into()));
    }
    if let Some(u) = n.as_u64() {
        return Ok(Ipld::Integer(u.into()));
    }
    match n.as_f64() {
        // A float with no fractional part is an integer written loosely (e.g. `123.0`).
        Some(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
            // Exact: |f| < 2^53 and integral.
            #[allow(clippy::cast_possible_truncation)]
            Ok(Ipld::Integer(i128::from(f as i64)))
        }
        _ => Err(json_error(
            path,
            format!("{n} is a float; the data model allows only integers"),
        )),
    }
}

fn convert_object(
    object: &serde_json::Map<String, serde_json::Value>,
    path: &mut String,
) -> Result<Ipld, DataError> {
    use serde_json::Value;
    if let Some(link) = object.get("$link") {
        if object.len() != 1 {
            return Err(json_error(path, "a $link object must have no other keys"));
        }
        let Value::String(text) = link else {
            return Err(json_error(path, "$link must be a string"));
        };
        let cid = Cid::try_from(text.as_str())
            .map_err(|e| json_error(path, format!("$link {text:?} is not a CID: {e}")))?;
        return Ok(Ipld::Link(cid));
    }
    if let Some(bytes) = object.get("$bytes") {
        if object.len() != 1 {
            return Err(json_error(path, "a $bytes object must have no other keys"));
        }
        let Value::String(text) = bytes else {
            return Err(json_error(path, "$bytes must be a base64 string"));
        };
        let decoded = LENIENT_BASE64
            .decode(text)
            .map_err(|e| json_error(path, format!("$bytes is not base64: {e}")))?;
        return Ok(Ipld::Bytes(decoded));
    }
    if let Some(kind) = object.get("$type") {
        match kind {
            Value::String(s) if !s.is_empty() => {
                if s == "blob" {
                    check_blob(object, path)?;
                }
            }
            Value::String(_) => return Err(json_error(path, "$type must not be empty")),
            _ => return Err(json_error(path, "$type must be a string")),
        }
    }
    let mut map = BTreeMap::new();
    for (key, item) in object {
        let len = path.len();
        path.push('/');
        path.push_str(key);
        let converted = convert_json(item, path)?;
        path.truncate(len);
        map.insert(key.clone(), converted);
    }
    Ok(Ipld::Map(map))
}

fn check_blob(
    object: &serde_json::Map<String, serde_json::Value>,
    path: &str,
) -> Result<(), DataError> {
    use serde_json::Value;
    match object.get("ref") {
        Some(Value::Object(r)) if r.contains_key("$link") => {}
        _ => return Err(json_error(path, "a blob needs a `ref` link")),
    }
    match object.get("mimeType") {
        Some(Value::String(_)) => {}
        _ => return Err(json_error(path, "a blob needs a string `mimeType`")),
    }
    match object.get("size") {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        _ => return Err(json_error(path, "a blob needs an integer `size`")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::read_fixture;

    #[derive(serde::Deserialize)]
    struct RoundTrip {
        json: serde_json::Value,
        cbor_base64: String,
        cid: String,
    }

    #[derive(serde::Deserialize)]
    struct Case {
        note: String,
        json: serde_json::Value,
    }

    #[test]
    fn json_text_keeps_dag_cbor_key_order() {
        let record = serde_json::json!({
            "$type": "app.bsky.feed.post",
            "text": "hi",
            "createdAt": "2024-01-01T00:00:00.000Z",
            "embed": {"$type": "app.bsky.embed.external", "external": {"uri": "https://a.example", "title": "t", "description": "d"}},
            "langs": ["en"],
        });
        let (cbor, _) = record_json_to_dag_cbor(&record).unwrap();
        let text = dag_cbor_to_json_string(&cbor).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"text":"hi","$type":"app.bsky.feed.post","embed":{"$type":"app.bsky.embed.external","#,
                r#""external":{"uri":"https://a.example","title":"t","description":"d"}},"#,
                r#""langs":["en"],"createdAt":"2024-01-01T00:00:00.000Z"}"#
            )
        );
    }

    #[test]
    fn data_model_fixtures_round_trip_exactly() {
        let cases: Vec<RoundTrip> = serde_json::from_slice(&read_fixture(
            "interop-tests/data-model/data-model-fixtures.json",
        ))
        .unwrap();
        assert_eq!(cases.len(), 3);
        for case in cases {
            let expected_cbor = STANDARD_NO_PAD.decode(&case.cbor_base64).unwrap();
            // JSON → CBOR → CID
            let (cbor, cid) = record_json_to_dag_cbor(&case.json).unwrap();
            assert_eq!(cbor, expected_cbor, "CBOR of {}", case.cid);
            assert_eq!(cid.to_string(), case.cid);
            // CBOR → JSON
            let ipld: Ipld = from_dag_cbor(&expected_cbor).unwrap();
            assert_eq!(ipld_to_json(&ipld), case.json);
            let text = dag_cbor_to_json_string(&expected_cbor).unwrap();
            let reparsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(reparsed, case.json);
            verify_block(&cid, &expected_cbor).unwrap();
        }
    }

    #[test]
    fn data_model_valid_documents_are_accepted() {
        let cases: Vec<Case> = serde_json::from_slice(&read_fixture(
            "interop-tests/data-model/data-model-valid.json",
        ))
        .unwrap();
        assert_eq!(cases.len(), 5);
        for case in cases {
            record_from_json(&case.json).unwrap_or_else(|e| panic!("{}: {e}", case.note));
        }
    }

    #[test]
    fn data_model_invalid_documents_are_rejected() {
        let cases: Vec<Case> = serde_json::from_slice(&read_fixture(
            "interop-tests/data-model/data-model-invalid.json",
        ))
        .unwrap();
        assert_eq!(cases.len(), 12);
        for case in cases {
            let result = record_from_json(&case.json);
            assert!(result.is_err(), "{} was accepted", case.note);
        }
    }

    #[test]
    fn real_blocks_reencode_byte_for_byte() {
        for name in [
            "real/shrike/record_post.cbor",
            "real/shrike/record_like.cbor",
            "real/shrike/record_profile.cbor",
            "real/shrike/commit.cbor",
            "real/shrike/mst_node_small.cbor",
            "real/shrike/mst_node_large.cbor",
            "real/indigo/feedpost_record.cbor",
            "real/indigo/post_richtext_link.cbor",
        ] {
            let bytes = read_fixture(name);
            let ipld: Ipld = from_dag_cbor(&bytes).unwrap();
            assert_eq!(to_dag_cbor(&ipld).unwrap(), bytes, "{name}");
            // And through atproto JSON and back.
            let json = ipld_to_json(&ipld);
            let back = json_to_ipld(&json).unwrap();
            assert_eq!(to_dag_cbor(&back).unwrap(), bytes, "{name} via JSON");
        }
    }

    #[test]
    fn a_corrupted_block_is_named() {
        let bytes = to_dag_cbor(&Ipld::String("hello".into())).unwrap();
        let cid = cid_for_dag_cbor(&bytes);
        let mut corrupted = bytes.clone();
        corrupted[1] ^= 1;
        let error = verify_block(&cid, &corrupted).unwrap_err();
        assert!(matches!(error, DataError::HashMismatch { .. }));
        assert!(error.to_string().contains(&cid.to_string()));
    }

    #[test]
    fn bytes_accept_padding_and_stray_trailing_bits() {
        for (text, expected) in [
            ("123", vec![0xd7, 0x6d]),
            ("aGk=", b"hi".to_vec()),
            ("aGk", b"hi".to_vec()),
        ] {
            let value = json_to_ipld(&serde_json::json!({ "$bytes": text })).unwrap();
            assert_eq!(value, Ipld::Bytes(expected), "{text}");
        }
        assert!(json_to_ipld(&serde_json::json!({ "$bytes": "!!" })).is_err());
    }

    #[test]
    fn floats_are_rejected_with_their_path() {
        let json = serde_json::json!({"a": {"b": [1, 2.5]}});
        let error = json_to_ipld(&json).unwrap_err();
        assert!(error.to_string().contains("/a/b/1"), "{error}");
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = from_dag_cbor::<Ipld>(&bytes);
            let _ = dag_cbor_to_json_string(&bytes);
        }
    }
}
