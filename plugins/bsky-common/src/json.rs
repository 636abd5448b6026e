//! `JSON.stringify` of a record value the way the reference AppView produces it when it stores
//! a part of a record as text (`descriptionFacets`): the reference decodes records from
//! DAG-CBOR, so object keys come in DAG-CBOR order (shorter first, then bytewise), except that
//! JavaScript puts integer-like keys first, in numeric order.

use ipld_core::ipld::Ipld;

/// The JSON text of `value`, with keys in the order described in the module documentation.
pub fn stringify(value: &Ipld) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Ipld, out: &mut String) {
    match value {
        Ipld::Null => out.push_str("null"),
        Ipld::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Ipld::Integer(number) => out.push_str(&number.to_string()),
        Ipld::Float(number) => out.push_str(
            &serde_json::Number::from_f64(*number)
                .map_or_else(|| "null".to_owned(), |n| n.to_string()),
        ),
        Ipld::String(text) => write_string(text, out),
        Ipld::Bytes(bytes) => {
            // `lexStringify` writes bytes as {"$bytes": base64 without padding}.
            out.push_str("{\"$bytes\":");
            write_string(&base64_unpadded(bytes), out);
            out.push('}');
        }
        Ipld::Link(cid) => {
            out.push_str("{\"$link\":");
            write_string(&cid.to_string(), out);
            out.push('}');
        }
        Ipld::List(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Ipld::Map(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| key_order(a, b));
            out.push('{');
            for (index, key) in keys.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                if let Some(item) = map.get(*key) {
                    write(item, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_string(text: &str, out: &mut String) {
    // serde_json escapes exactly what JSON.stringify escapes for well-formed strings.
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned()));
}

/// JavaScript's property order for an object built in DAG-CBOR key order.
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (array_index(a), array_index(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a
            .len()
            .cmp(&b.len())
            .then_with(|| a.as_bytes().cmp(b.as_bytes())),
    }
}

/// A key JavaScript treats as an array index (canonical decimal below 2^32 − 1).
fn array_index(key: &str) -> Option<u32> {
    if key.is_empty() || (key.len() > 1 && key.starts_with('0')) {
        return None;
    }
    key.parse::<u32>().ok().filter(|index| *index != u32::MAX)
}

fn base64_unpadded(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for index in 0..=chunk.len() {
            let sextet = (n >> (18 - 6 * index)) & 63;
            out.push(char::from(ALPHABET[sextet as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_dag_cbor_order() {
        let facets = ipld_core::ipld!([{
            "index": {"byteStart": 0, "byteEnd": 5},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:a"}]
        }]);
        assert_eq!(
            stringify(&facets),
            r#"[{"index":{"byteEnd":5,"byteStart":0},"features":[{"did":"did:plc:a","$type":"app.bsky.richtext.facet#mention"}]}]"#
        );
    }

    #[test]
    fn integer_keys_first_and_escapes() {
        let value = ipld_core::ipld!({"b": "x\"\n\u{1}é", "10": 1, "2": null, "aa": true});
        assert_eq!(
            stringify(&value),
            "{\"2\":null,\"10\":1,\"b\":\"x\\\"\\n\\u0001é\",\"aa\":true}"
        );
        assert_eq!(
            stringify(&Ipld::Bytes(vec![1, 2, 3, 4])),
            r#"{"$bytes":"AQIDBA"}"#
        );
    }
}
