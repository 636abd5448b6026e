//! String formats, checked as the reference AppView checks them (its lexicon validator in
//! strict mode, the default).
//!
//! Every format uses the strict parser of `sluice_atproto::syntax`, with two adjustments to
//! the reference's behaviour:
//! - `datetime`: the reference checks the RFC 3339 shape, then lets JavaScript's `Date` read
//!   the value, which rolls a day past the end of its month into the next (`2023-02-30` is
//!   `2023-03-02`) instead of rejecting it; the instant, in UTC, must fall in years 0000–9999.
//! - `cid`: the string must decode as a CID and be that CID's canonical string form (the
//!   reference decodes, re-encodes and compares): base32 `b…` for a CIDv1, and, like the
//!   reference, a legacy CIDv0 `Qm…` (which the identifier syntax alone rejects).

use std::sync::LazyLock;

use chrono::{Datelike, TimeDelta};
use cid::Cid;
use data_encoding::{Encoding, Specification};
use sluice_atproto::syntax::{
    AtIdentifier, AtUri, Datetime, Did, Handle, Language, Nsid, RecordKey, Tid, Uri,
};

use crate::document::StringFormat;

/// Checks `value` against `format`; the error is the reason it fails.
pub(crate) fn check(format: StringFormat, value: &str) -> Result<(), String> {
    let reason = |e: sluice_atproto::syntax::SyntaxError| e.reason().to_owned();
    match format {
        StringFormat::AtIdentifier => AtIdentifier::parse(value).map(drop).map_err(reason),
        StringFormat::AtUri => AtUri::parse(value).map(drop).map_err(reason),
        StringFormat::Cid => check_cid(value),
        StringFormat::Datetime => check_datetime(value),
        StringFormat::Did => Did::parse(value).map(drop).map_err(reason),
        StringFormat::Handle => Handle::parse(value).map(drop).map_err(reason),
        StringFormat::Language => Language::parse_strict(value).map(drop).map_err(reason),
        StringFormat::Nsid => Nsid::parse(value).map(drop).map_err(reason),
        StringFormat::RecordKey => RecordKey::parse(value).map(drop).map_err(reason),
        StringFormat::Tid => Tid::parse(value).map(drop).map_err(reason),
        StringFormat::Uri => Uri::parse(value).map(drop).map_err(reason),
    }
}

/// Lower-case base32 without padding, rejecting stray trailing bits: multibase `b`, the
/// canonical string form of a CIDv1.
static BASE32_LOWER: LazyLock<Option<Encoding>> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols.push_str("abcdefghijklmnopqrstuvwxyz234567");
    spec.check_trailing_bits = true;
    spec.encoding().ok()
});

/// Longest CID handled without allocating (a CIDv1 with a 64-byte digest is 70 bytes).
const MAX_CID_BYTES: usize = 96;

fn check_cid(value: &str) -> Result<(), String> {
    if let Some(canonical) = canonical_v1_cid(value) {
        return if canonical {
            Ok(())
        } else {
            Err("is not a canonical CIDv1 string".to_owned())
        };
    }
    // Other multibases and CIDv0: decode and compare with the canonical encoding.
    let cid = Cid::try_from(value).map_err(|e| format!("does not decode as a CID: {e}"))?;
    if cid.to_string() != value {
        return Err("is not the CID's canonical string form".to_owned());
    }
    Ok(())
}

/// For a `b…` string (the usual case), whether it is a CIDv1's canonical string, decided
/// without allocating: it decodes strictly, the bytes are exactly one CIDv1, and that CID
/// encodes back to the same bytes (so to the same string, strict base32 being one-to-one).
/// `None` when this path does not apply.
fn canonical_v1_cid(value: &str) -> Option<bool> {
    let encoded = value.strip_prefix('b')?;
    let encoding = BASE32_LOWER.as_ref()?;
    let mut decoded = [0u8; MAX_CID_BYTES];
    let Ok(len) = encoding.decode_len(encoded.len()) else {
        return Some(false);
    };
    let buffer = decoded.get_mut(..len)?;
    let Ok(len) = encoding.decode_mut(encoded.as_bytes(), buffer) else {
        return Some(false);
    };
    let bytes = decoded.get(..len)?;
    let mut reader = bytes;
    let Ok(cid) = Cid::read_bytes(&mut reader) else {
        return Some(false);
    };
    if !reader.is_empty() || cid.version() != cid::Version::V1 {
        return Some(false);
    }
    let mut reencoded = [0u8; MAX_CID_BYTES];
    let mut writer: &mut [u8] = &mut reencoded;
    let Ok(written) = cid.write_bytes(&mut writer) else {
        return Some(false);
    };
    Some(reencoded.get(..written) == Some(bytes))
}

fn check_datetime(value: &str) -> Result<(), String> {
    let Err(error) = Datetime::parse(value) else {
        return Ok(());
    };
    // The one case the reference accepts and the strict parse does not: a day from 29 to 31
    // past the end of its month. The shape check fixes the day at bytes 8..10.
    let rolled = Datetime::validate_syntax(value)
        .ok()
        .and_then(|()| {
            let day: i64 = value.get(8..10)?.parse().ok()?;
            let first_of_month = format!("{}01{}", value.get(..8)?, value.get(10..)?);
            let start = Datetime::parse(&first_of_month).ok()?.to_utc();
            (29..=31)
                .contains(&day)
                .then(|| start.checked_add_signed(TimeDelta::days(day - 1)))
                .flatten()
        })
        .filter(|utc| (0..=9999).contains(&utc.year()));
    match rolled {
        Some(_) => Ok(()),
        None => Err(error.reason().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_roll_over_like_the_reference() {
        for (value, ok) in [
            ("2023-10-30T22:25:23Z", true),
            ("2023-02-30T00:00:00Z", true),
            ("2023-04-31T12:00:00.123+01:00", true),
            ("2023-02-32T00:00:00Z", false),
            ("2023-01-00T00:00:00Z", false),
            ("2023-01-01T23:59:60Z", false),
            ("2023-01-01T24:00:00Z", false),
            ("2023-01-01T00:00:00", false),
            ("2023-01-01T00:00:00-00:00", false),
            ("0000-01-01T00:00:00+01:00", false),
            ("9999-12-31T23:59:59-01:00", false),
        ] {
            assert_eq!(check(StringFormat::Datetime, value).is_ok(), ok, "{value}");
        }
    }

    #[test]
    fn cids_must_be_canonical() {
        let cid = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq";
        assert!(check(StringFormat::Cid, cid).is_ok());
        assert!(
            check(
                StringFormat::Cid,
                "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR"
            )
            .is_ok()
        );
        assert!(check(StringFormat::Cid, "123").is_err());
        assert!(check(StringFormat::Cid, &format!("/ipfs/{cid}")).is_err());
        assert!(check(StringFormat::Cid, &cid.to_uppercase()).is_err());
        // The same CID in base58btc is valid CID syntax but not canonical.
        let parsed = Cid::try_from(cid).unwrap();
        let base58 = parsed
            .to_string_of_base(cid::multibase::Base::Base58Btc)
            .unwrap();
        assert!(check(StringFormat::Cid, &base58).is_err());
        // A stray trailing bit or byte.
        let mut trailing = cid.to_owned();
        trailing.pop();
        trailing.push('r');
        assert!(check(StringFormat::Cid, &trailing).is_err());
        assert!(check(StringFormat::Cid, &format!("{cid}aa")).is_err());
    }

    proptest::proptest! {
        /// The allocation-free path agrees with decoding and re-encoding.
        #[test]
        fn fast_cid_check_agrees_with_the_round_trip(
            digest in proptest::collection::vec(proptest::num::u8::ANY, 32),
            codec in proptest::sample::select(vec![0x55u64, 0x71, 0x70]),
            cut in 0usize..8,
            flip in proptest::option::of((0usize..60, proptest::sample::select(b"abcdefghijklmnopqrstuvwxyz234567=AZ".to_vec()))),
        ) {
            let hash = cid::multihash::Multihash::<64>::wrap(0x12, &digest).unwrap();
            let mut text = Cid::new_v1(codec, hash).to_string();
            text.truncate(text.len() - cut);
            if let Some((at, c)) = flip
                && at < text.len()
                && at > 0
            {
                text.replace_range(at..=at, &(c as char).to_string());
            }
            let slow = Cid::try_from(text.as_str()).is_ok_and(|cid| cid.to_string() == text);
            if let Some(fast) = canonical_v1_cid(&text) {
                proptest::prop_assert_eq!(fast, slow, "{}", text);
            }
        }
    }

    #[test]
    fn languages_are_strict() {
        assert!(check(StringFormat::Language, "en").is_ok());
        assert!(check(StringFormat::Language, "pt-BR").is_ok());
        assert!(check(StringFormat::Language, "123").is_err());
        assert!(check(StringFormat::Language, "de-1996-1996").is_err());
    }
}
