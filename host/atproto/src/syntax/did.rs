//! Decentralized identifiers (`did:method:identifier`).
//!
//! The generic W3C DID syntax as atproto restricts it (<https://atproto.com/specs/did>):
//! `did:` in lower case, a method of lower-case ASCII letters, then a method-specific identifier
//! of ASCII letters, digits and `._:%-` that does not end in `:`, where every `%` starts a
//! two-hex-digit escape. At most 2048 characters. Any method is accepted; `plc` and `web` (the
//! two atproto supports) are recognised by [`Did::method`].

use super::error::{SyntaxError, SyntaxKind};
use super::string_conversions;

/// Longest DID accepted, in bytes (atproto's hard limit).
const MAX_LEN: usize = 2048;

/// Length of the base32 part of a `did:plc` identifier.
const PLC_IDENTIFIER_LEN: usize = 24;

/// A syntactically valid DID, e.g. `did:plc:ewvi7nxzyoun6zhxrhs64oiz` or `did:web:example.com`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Did(String);

/// The method of a [`Did`]: the two atproto uses are named, any other is kept as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DidMethod<'a> {
    /// `did:plc`, resolved through the PLC directory.
    Plc,
    /// `did:web`, resolved over HTTPS from the named host.
    Web,
    /// Any other method (valid DID syntax, but not used by atproto).
    Other(&'a str),
}

impl DidMethod<'_> {
    /// The method name as written in the DID (`"plc"`, `"web"`, …).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Plc => "plc",
            Self::Web => "web",
            Self::Other(name) => name,
        }
    }
}

impl Did {
    /// Parses and validates a DID.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        check(s).map_err(|reason| SyntaxError::new(SyntaxKind::Did, s, reason))?;
        Ok(Self(s.to_owned()))
    }

    /// Wraps a string already known to be a valid DID.
    pub(crate) fn from_valid(s: String) -> Self {
        debug_assert!(check(&s).is_ok());
        Self(s)
    }

    /// The DID as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The DID as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The method (`plc`, `web` or another).
    pub fn method(&self) -> DidMethod<'_> {
        match self.method_name() {
            "plc" => DidMethod::Plc,
            "web" => DidMethod::Web,
            other => DidMethod::Other(other),
        }
    }

    /// True for `did:plc:…` (syntax only; see [`Did::is_strict_plc`] for the PLC form).
    pub fn is_plc(&self) -> bool {
        self.0.starts_with("did:plc:")
    }

    /// True for `did:web:…`.
    pub fn is_web(&self) -> bool {
        self.0.starts_with("did:web:")
    }

    /// The method-specific identifier: everything after `did:<method>:`.
    pub fn identifier(&self) -> &str {
        let after_prefix = self.0.get(4..).unwrap_or_default();
        after_prefix
            .split_once(':')
            .map_or("", |(_method, identifier)| identifier)
    }

    /// True when this is a `did:plc` in the form the PLC directory issues: `did:plc:` followed
    /// by exactly 24 lower-case base32 characters (`a-z`, `2-7`).
    pub fn is_strict_plc(&self) -> bool {
        self.check_strict_plc().is_ok()
    }

    /// Like [`Did::is_strict_plc`], but says why not.
    pub fn check_strict_plc(&self) -> Result<(), SyntaxError> {
        let fail = |reason| Err(SyntaxError::new(SyntaxKind::Did, &self.0, reason));
        let Some(identifier) = self.0.strip_prefix("did:plc:") else {
            return fail("not a did:plc");
        };
        if identifier.len() != PLC_IDENTIFIER_LEN {
            return fail("did:plc identifier must be 24 characters");
        }
        if !identifier
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        {
            return fail("did:plc identifier must be lower-case base32 (a-z, 2-7)");
        }
        Ok(())
    }

    fn method_name(&self) -> &str {
        let after_prefix = self.0.get(4..).unwrap_or_default();
        after_prefix
            .split_once(':')
            .map_or("", |(method, _identifier)| method)
    }
}

impl TryFrom<String> for Did {
    type Error = SyntaxError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match check(&s) {
            Ok(()) => Ok(Self(s)),
            Err(reason) => Err(SyntaxError::new(SyntaxKind::Did, &s, reason)),
        }
    }
}

impl From<Did> for String {
    fn from(did: Did) -> Self {
        did.0
    }
}

impl std::fmt::Debug for Did {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Did({:?})", self.0)
    }
}

string_conversions!(Did, "a DID string");

/// Checks DID syntax; the error is the reason.
pub(crate) fn check(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 2048 characters");
    }
    let Some(rest) = s.strip_prefix("did:") else {
        return Err("must start with \"did:\"");
    };
    let Some((method, identifier)) = rest.split_once(':') else {
        return Err("needs a method and a method-specific identifier (did:method:identifier)");
    };
    if method.is_empty() {
        return Err("empty method");
    }
    if !method.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err("method must be lower-case ASCII letters");
    }
    if identifier.is_empty() {
        return Err("empty method-specific identifier");
    }
    let bytes = identifier.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b':' | b'-' => i += 1,
            b'%' => {
                let escape_ok = matches!(
                    (bytes.get(i + 1), bytes.get(i + 2)),
                    (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit()
                );
                if !escape_ok {
                    return Err("\"%\" must start a two-hex-digit escape");
                }
                i += 3;
            }
            _ => return Err("disallowed character (ASCII letters, digits and ._:%- only)"),
        }
    }
    if s.ends_with(':') {
        return Err("can not end with \":\"");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_recognised() {
        let plc = Did::parse("did:plc:ewvi7nxzyoun6zhxrhs64oiz").unwrap();
        assert_eq!(plc.method(), DidMethod::Plc);
        assert!(plc.is_plc() && !plc.is_web());
        assert_eq!(plc.identifier(), "ewvi7nxzyoun6zhxrhs64oiz");

        let web = Did::parse("did:web:localhost%3A1234").unwrap();
        assert_eq!(web.method(), DidMethod::Web);
        assert!(web.is_web() && !web.is_plc());
        assert_eq!(web.identifier(), "localhost%3A1234");

        let other =
            Did::parse("did:key:zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N").unwrap();
        assert_eq!(other.method(), DidMethod::Other("key"));
        assert_eq!(other.method().as_str(), "key");
    }

    #[test]
    fn strict_plc_form() {
        assert!(
            Did::parse("did:plc:7iza6de2dwap2sbkpav7c6c6")
                .unwrap()
                .is_strict_plc()
        );
        for loose in [
            "did:plc:asdf123",                   // too short
            "did:plc:7iza6de2dwap2sbkpav7c6c61", // 25 chars
            "did:plc:7iza6de2dwap2sbkpav7c6c1",  // '1' is not base32
            "did:plc:7IZA6DE2DWAP2SBKPAV7C6C6",  // upper case
            "did:web:7iza6de2dwap2sbkpav7c6c6",  // not plc
        ] {
            let did = Did::parse(loose).unwrap();
            assert!(!did.is_strict_plc(), "{loose}");
        }
    }

    #[test]
    fn percent_must_start_an_escape() {
        assert!(Did::parse("did:method:val%BB").is_ok());
        let err = Did::parse("did:method:val%zz").unwrap_err();
        assert!(err.reason().contains('%'), "{err}");
        assert!(Did::parse("did:method:val%B").is_err());
    }

    #[test]
    fn errors_say_why() {
        let err = Did::parse("did:METHOD:val").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid DID "did:METHOD:val": method must be lower-case ASCII letters"#
        );
        assert_eq!(err.kind(), SyntaxKind::Did);
    }

    #[test]
    fn serde_round_trip_validates() {
        let did: Did = serde_json::from_str(r#""did:plc:ewvi7nxzyoun6zhxrhs64oiz""#).unwrap();
        assert_eq!(
            serde_json::to_string(&did).unwrap(),
            r#""did:plc:ewvi7nxzyoun6zhxrhs64oiz""#
        );
        let err = serde_json::from_str::<Did>(r#""did:plc:""#).unwrap_err();
        assert!(err.to_string().contains("invalid DID"), "{err}");
    }
}
