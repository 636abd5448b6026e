//! CID string syntax (Lexicon's `cid` format), without decoding.
//!
//! A CID string here is a multibase-encoded CIDv1: 8 to 256 characters, a known multibase prefix
//! character, then only characters of that base's alphabet. Legacy CIDv0 strings (`Qm…`, bare
//! base58) are rejected, as atproto requires. To decode a CID (and check its multihash), use
//! [`crate::Cid`].

use super::error::{SyntaxError, SyntaxKind};

const MIN_LEN: usize = 8;
const MAX_LEN: usize = 256;

const BASE58_BTC: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const BASE58_FLICKR: &str = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
const BASE32_Z: &str = "ybndrfg8ejkmcpqxot1uwisza345h769";

/// True when `s` has CID string syntax (see [`validate_cid_syntax`]).
pub fn is_valid_cid_syntax(s: &str) -> bool {
    check(s).is_ok()
}

/// Checks CID string syntax: 8 to 256 characters, a multibase prefix (`b` for base32, `z` for
/// base58btc, `f` for hex, `m` for base64, …) and only that base's characters; CIDv0 rejected.
pub fn validate_cid_syntax(s: &str) -> Result<(), SyntaxError> {
    check(s).map_err(|reason| SyntaxError::new(SyntaxKind::Cid, s, reason))
}

fn check(s: &str) -> Result<(), &'static str> {
    if s.len() < MIN_LEN {
        return Err("shorter than 8 characters");
    }
    if s.len() > MAX_LEN {
        return Err("longer than 256 characters");
    }
    let mut chars = s.bytes();
    let prefix = chars.next().unwrap_or_default();
    let in_alphabet: fn(u8) -> bool = match prefix {
        b'Q' | b'1' => return Err("CIDv0 (base58 without a multibase prefix) is not allowed"),
        b'0' => |b| matches!(b, b'0' | b'1'),
        b'7' => |b| matches!(b, b'0'..=b'7'),
        b'9' => |b| b.is_ascii_digit(),
        b'f' => |b| matches!(b, b'0'..=b'9' | b'a'..=b'f'),
        b'F' => |b| matches!(b, b'0'..=b'9' | b'A'..=b'F'),
        b'b' => |b| matches!(b, b'a'..=b'z' | b'2'..=b'7'),
        b'B' => |b| matches!(b, b'A'..=b'Z' | b'2'..=b'7'),
        b'c' => |b| matches!(b, b'a'..=b'z' | b'2'..=b'7' | b'='),
        b'C' => |b| matches!(b, b'A'..=b'Z' | b'2'..=b'7' | b'='),
        b'v' => |b| matches!(b, b'0'..=b'9' | b'a'..=b'v'),
        b'V' => |b| matches!(b, b'0'..=b'9' | b'A'..=b'V'),
        b't' => |b| matches!(b, b'0'..=b'9' | b'a'..=b'v' | b'='),
        b'T' => |b| matches!(b, b'0'..=b'9' | b'A'..=b'V' | b'='),
        b'h' => |b| BASE32_Z.as_bytes().contains(&b),
        b'k' => |b| matches!(b, b'0'..=b'9' | b'a'..=b'z'),
        b'K' => |b| matches!(b, b'0'..=b'9' | b'A'..=b'Z'),
        b'z' => |b| BASE58_BTC.as_bytes().contains(&b),
        b'Z' => |b| BASE58_FLICKR.as_bytes().contains(&b),
        b'm' => |b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'),
        b'M' => |b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='),
        b'u' => |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'),
        b'U' => |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='),
        _ => return Err("does not start with a known multibase prefix"),
    };
    if !chars.all(in_alphabet) {
        return Err("character outside the alphabet of its multibase encoding");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_multibase_form_of_a_real_cid_has_cid_syntax() {
        let cid =
            crate::Cid::try_from("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")
                .unwrap();
        assert!(is_valid_cid_syntax(&cid.to_string()));
        for base in [
            multibase::Base::Base16Lower,
            multibase::Base::Base32Upper,
            multibase::Base::Base36Lower,
            multibase::Base::Base64,
            multibase::Base::Base64Url,
        ] {
            let text = cid.to_string_of_base(base).unwrap();
            assert!(is_valid_cid_syntax(&text), "{base:?}: {text}");
        }
        let base58 = cid.to_string_of_base(multibase::Base::Base58Btc).unwrap();
        assert!(is_valid_cid_syntax(&base58), "{base58}");
    }

    #[test]
    fn errors_say_why() {
        let reason = |s: &str| validate_cid_syntax(s).unwrap_err().reason().to_owned();
        assert_eq!(reason("noop"), "shorter than 8 characters");
        assert_eq!(
            reason("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR"),
            "CIDv0 (base58 without a multibase prefix) is not allowed"
        );
        assert_eq!(
            reason("bafybeiBADCASE"),
            "character outside the alphabet of its multibase encoding"
        );
        assert_eq!(
            reason("example.com"),
            "does not start with a known multibase prefix"
        );
    }
}
