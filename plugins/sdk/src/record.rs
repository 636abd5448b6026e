//! Records as a projection sees them: decoded into the plugin's type, with their identity.

use crate::error::Error;
use crate::types::RecordOp;

/// Decodes a record body into `T`. DAG-CBOR and JSON are told apart by their first byte (a CBOR
/// map starts with 0xa0..=0xbf, a JSON object with `{`). A body that does not decode is an
/// [`Error::InvalidRecord`].
pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    match body.first() {
        Some(b'{') => serde_json::from_slice(body).map_err(Error::invalid),
        Some(_) => serde_ipld_dagcbor::from_slice(body).map_err(Error::invalid),
        None => Err(Error::invalid("empty record body")),
    }
}

/// One version of a record: the new one of a create or update, or the previous one the host had
/// stored (when the SDK works out what to undo).
#[derive(Debug)]
pub struct Version<'a, T> {
    /// The operation it belongs to.
    pub op: &'a RecordOp,
    /// `at://did/collection/rkey`.
    pub uri: String,
    /// The CID of this version.
    pub cid: &'a str,
    /// Whether this is the previous version (being undone) rather than the new one.
    pub previous: bool,
    /// The decoded record.
    pub value: T,
}

impl<T> Version<'_, T> {
    /// The repo's DID.
    pub fn did(&self) -> &str {
        &self.op.did
    }

    /// The collection NSID.
    pub fn collection(&self) -> &str {
        &self.op.collection
    }

    /// The record key.
    pub fn rkey(&self) -> &str {
        &self.op.rkey
    }

    /// When the host indexed the operation (RFC 3339).
    pub fn indexed_at(&self) -> &str {
        &self.op.indexed_at
    }
}

/// The AT-URI of an operation's record.
pub(crate) fn op_uri(op: &RecordOp) -> String {
    format!("at://{}/{}/{}", op.did, op.collection, op.rkey)
}

/// Whether `text` is an atproto datetime: RFC 3339 with a `T`, seconds, optional fraction and a
/// `Z` or `±HH:MM` offset (`2024-11-05T10:00:00.000Z`). The host refuses timestamps that do not
/// parse, so check a record's datetimes before writing them as timestamps.
pub fn is_datetime(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let at = |index: usize, byte: u8| bytes.get(index) == Some(&byte);
    let two = |index: usize| -> Option<u32> {
        let s = bytes.get(index..index + 2)?;
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let prefix_ok = digits(0..4)
        && at(4, b'-')
        && digits(5..7)
        && at(7, b'-')
        && digits(8..10)
        && at(10, b'T')
        && digits(11..13)
        && at(13, b':')
        && digits(14..16)
        && at(16, b':')
        && digits(17..19);
    let year: Option<u32> = bytes
        .get(0..4)
        .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok());
    let ranges_ok = two(5).is_some_and(|m| (1..=12).contains(&m))
        && two(8).is_some_and(|d| {
            d >= 1
                && year
                    .zip(two(5))
                    .is_some_and(|(y, m)| d <= days_in_month(y, m))
        })
        && two(11).is_some_and(|h| h <= 23)
        && two(14).is_some_and(|m| m <= 59)
        && two(17).is_some_and(|s| s <= 60);
    if !prefix_ok || !ranges_ok {
        return false;
    }
    let mut rest = bytes.get(19..).unwrap_or_default();
    if let Some(fraction) = rest.strip_prefix(b".") {
        let count = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if count == 0 {
            return false;
        }
        rest = fraction.get(count..).unwrap_or_default();
    }
    match rest {
        b"Z" => true,
        [sign, h1, h2, b':', m1, m2] => {
            (*sign == b'+' || *sign == b'-') && [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// The days of `month` (1–12) in `year` (Gregorian: leap years every 4, not every 100, every 400).
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        for good in [
            "2024-11-05T10:00:00Z",
            "2024-11-05T10:00:00.123456Z",
            "1985-04-12T23:20:50.52+05:30",
            "2024-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "2024-12-31T00:00:00Z",
        ] {
            assert!(is_datetime(good), "{good}");
        }
        for bad in [
            "2024-11-05",
            "2024-11-05T10:00:00",
            "2024-13-05T10:00:00Z",
            "2024-11-05 10:00:00Z",
            "2024-11-05T10:00:00.Z",
            "2024-02-31T10:00:00Z",
            "2023-02-29T10:00:00Z",
            "1900-02-29T10:00:00Z",
            "2024-04-31T10:00:00Z",
            "2024-11-00T10:00:00Z",
            "",
        ] {
            assert!(!is_datetime(bad), "{bad}");
        }
    }

    #[test]
    fn decodes_cbor_and_json() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Status {
            status: String,
        }
        let json = br#"{"status":"ok"}"#;
        assert_eq!(
            decode::<Status>(json).unwrap(),
            Status {
                status: "ok".into()
            }
        );
        let cbor =
            serde_ipld_dagcbor::to_vec(&std::collections::BTreeMap::from([("status", "ok")]))
                .unwrap();
        assert_eq!(
            decode::<Status>(&cbor).unwrap(),
            Status {
                status: "ok".into()
            }
        );
        assert!(matches!(
            decode::<Status>(b""),
            Err(Error::InvalidRecord(_))
        ));
        assert!(matches!(
            decode::<Status>(&[0xa1, 0x61]),
            Err(Error::InvalidRecord(_))
        ));
    }
}
