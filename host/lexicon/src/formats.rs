//! String formats, checked as the reference AppView checks them (its lexicon validator in
//! strict mode, the default).
//!
//! Every format uses the strict parser of `sluice_atproto::syntax`, with two adjustments to
//! the reference's behaviour:
//! - `datetime`: the reference checks the RFC 3339 shape, then lets JavaScript's `Date` read
//!   the value, which rolls a day past the end of its month into the next (`2023-02-30` is
//!   `2023-03-02`) instead of rejecting it; the instant, in UTC, must fall in years 0000–9999.
//! - `cid`: the string must decode as a CID and be that CID's canonical string form (the
//!   reference re-encodes and compares), not only have CID syntax.

use chrono::{Datelike, TimeDelta};
use cid::Cid;
use sluice_atproto::syntax::{
    AtIdentifier, AtUri, Datetime, Did, Handle, Language, Nsid, RecordKey, Tid, Uri,
    validate_cid_syntax,
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

fn check_cid(value: &str) -> Result<(), String> {
    validate_cid_syntax(value).map_err(|e| e.reason().to_owned())?;
    let cid = Cid::try_from(value).map_err(|e| format!("does not decode as a CID: {e}"))?;
    if cid.to_string() != value {
        return Err("is not the CID's canonical string form".to_owned());
    }
    Ok(())
}

fn check_datetime(value: &str) -> Result<(), String> {
    let error = match Datetime::parse(value) {
        Ok(_) => return Ok(()),
        Err(error) => error,
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
        assert!(check(StringFormat::Cid, "123").is_err());
        assert!(check(StringFormat::Cid, &cid.to_uppercase()).is_err());
    }

    #[test]
    fn languages_are_strict() {
        assert!(check(StringFormat::Language, "en").is_ok());
        assert!(check(StringFormat::Language, "pt-BR").is_ok());
        assert!(check(StringFormat::Language, "123").is_err());
        assert!(check(StringFormat::Language, "de-1996-1996").is_err());
    }
}
