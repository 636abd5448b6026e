//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

/// A path under the shared material (`../shared` beside the checkout, or `SLUICE_SHARED_DIR`).
pub fn shared(relative: &str) -> PathBuf {
    std::env::var_os("SLUICE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join(relative)
}

/// Reads and parses a JSON file under the shared material.
pub fn shared_json(relative: &str) -> serde_json::Value {
    let path = shared(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// JSON to IPLD with the atproto conventions (`{"$link": cid}`, `{"$bytes": base64}`) but
/// none of the data model's checks, like the reference's lenient `jsonToLex`: tests can build
/// values `sluice_atproto::data` refuses (floats, malformed blobs, non-string `$type`s). A
/// `$link` or `$bytes` object that does not decode stays an object.
pub fn lenient_ipld(value: &serde_json::Value) -> ipld_core::ipld::Ipld {
    use base64::Engine as _;
    use ipld_core::ipld::Ipld;
    match value {
        serde_json::Value::Null => Ipld::Null,
        serde_json::Value::Bool(b) => Ipld::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Ipld::Integer(i.into()),
            None => Ipld::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Ipld::String(s.clone()),
        serde_json::Value::Array(items) => Ipld::List(items.iter().map(lenient_ipld).collect()),
        serde_json::Value::Object(map) => {
            let special = match (map.len(), map.get("$link"), map.get("$bytes")) {
                (1, Some(serde_json::Value::String(link)), _) => {
                    cid::Cid::try_from(link.as_str()).ok().map(Ipld::Link)
                }
                (1, _, Some(serde_json::Value::String(bytes))) => {
                    let engine = base64::engine::GeneralPurpose::new(
                        &base64::alphabet::STANDARD,
                        base64::engine::GeneralPurposeConfig::new()
                            .with_decode_allow_trailing_bits(true)
                            .with_decode_padding_mode(
                                base64::engine::DecodePaddingMode::Indifferent,
                            ),
                    );
                    engine.decode(bytes).ok().map(Ipld::Bytes)
                }
                _ => None,
            };
            special.unwrap_or_else(|| {
                Ipld::Map(
                    map.iter()
                        .map(|(k, v)| (k.clone(), lenient_ipld(v)))
                        .collect(),
                )
            })
        }
    }
}
