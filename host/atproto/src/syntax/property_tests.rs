//! Property tests: no parser panics on any string, and what parses round-trips.

use proptest::prelude::*;

use super::{
    AtIdentifier, AtUri, Datetime, Did, Handle, Language, Nsid, RecordKey, Tid, Uri,
    is_valid_cid_syntax,
};

/// Runs every parser on `s`; asserts that each accepted value displays as something that parses
/// to the same value again.
fn parse_everything(s: &str) {
    macro_rules! round_trip {
        ($ty:ty, $parse:path) => {
            if let Ok(value) = $parse(s) {
                let again: $ty = $parse(&value.to_string()).expect("a parsed value re-parses");
                assert_eq!(again, value);
                let owned: $ty = <$ty>::try_from(s.to_owned()).expect("owned parse agrees");
                assert_eq!(owned, value);
            }
        };
    }
    round_trip!(AtIdentifier, AtIdentifier::parse);
    round_trip!(AtUri, AtUri::parse);
    round_trip!(Datetime, Datetime::parse);
    round_trip!(Did, Did::parse);
    round_trip!(Handle, Handle::parse);
    round_trip!(Language, Language::parse);
    round_trip!(Language, Language::parse_strict);
    round_trip!(Nsid, Nsid::parse);
    round_trip!(RecordKey, RecordKey::parse);
    round_trip!(Tid, Tid::parse);
    round_trip!(Uri, Uri::parse);
    let _ = is_valid_cid_syntax(s);
    let _ = Datetime::validate_syntax(s);
    if let Ok(uri) = AtUri::parse(s) {
        let _ = (
            uri.authority(),
            uri.collection(),
            uri.rkey(),
            uri.path(),
            uri.at_identifier(),
        );
    }
    if let Ok(did) = Did::parse(s) {
        let _ = (did.method(), did.identifier(), did.is_strict_plc());
    }
    if let Ok(nsid) = Nsid::parse(s) {
        let _ = (nsid.authority(), nsid.name());
    }
    let normalized = Datetime::normalize(s);
    assert!(
        Datetime::parse(&normalized).is_ok(),
        "normalize({s:?}) gave {normalized:?}"
    );
}

/// Strings near the identifier grammars: a likely prefix, then characters they care about.
fn near_identifiers() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![
        Just(""),
        Just("at://"),
        Just("did:"),
        Just("did:plc:"),
        Just("at://did:plc:abc/"),
        Just("com.example."),
        Just("x-"),
        Just("1985-04-12T"),
        Just("2023-02-28T23:59:"),
        Just("bafy"),
        Just("https:"),
    ];
    let body = "[a-zA-Z0-9.:%/#?_~@+ -]{0,80}";
    (prefix, body).prop_map(|(prefix, body)| format!("{prefix}{body}"))
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        parse_everything(&s);
    }

    #[test]
    fn near_identifiers_never_panic(s in near_identifiers()) {
        parse_everything(&s);
    }

    #[test]
    fn long_strings_never_panic(
        unit in "[a-z0-9.:/-]{1,4}|é|💩",
        repeat in 1usize..5000,
        prefix in prop_oneof![Just(""), Just("at://did:plc:x/"), Just("did:web:"), Just("en-")],
    ) {
        parse_everything(&format!("{prefix}{}", unit.repeat(repeat)));
    }

    #[test]
    fn tids_round_trip_their_parts(micros in 0u64..(1 << 53), clock_id in 0u16..1024) {
        let tid = Tid::from_parts(micros, clock_id);
        let parsed = Tid::parse(tid.as_str()).unwrap();
        prop_assert_eq!(parsed.timestamp_micros(), micros);
        prop_assert_eq!(parsed.clock_id(), clock_id);
    }

    #[test]
    fn tid_order_is_integer_order(a in 0u64..(1 << 63), b in 0u64..(1 << 63)) {
        let (ta, tb) = (Tid::from_integer(a), Tid::from_integer(b));
        prop_assert_eq!(ta.cmp(&tb), a.cmp(&b));
        prop_assert_eq!(ta.as_str().cmp(tb.as_str()), a.cmp(&b));
    }
}
