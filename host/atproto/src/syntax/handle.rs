//! Handles: DNS names that name accounts (`alice.bsky.social`).
//!
//! Syntax (<https://atproto.com/specs/handle>): at most 253 ASCII characters, at least two
//! dot-separated labels of 1 to 63 letters, digits and hyphens, no label starting or ending with
//! a hyphen, and a last label (the TLD) that starts with a letter. Handles are case-insensitive;
//! a [`Handle`] always holds the lower-case form.
//!
//! Some TLDs are valid syntax but never acceptable for an account (`.local`, `.onion`, …):
//! [`Handle::has_allowed_tld`] checks that policy separately.

use super::error::{SyntaxError, SyntaxKind};
use super::string_conversions;

/// Longest handle accepted, in bytes.
const MAX_LEN: usize = 253;

/// Longest DNS label, in bytes.
const MAX_LABEL_LEN: usize = 63;

/// The handle shown for accounts whose handle does not resolve.
const INVALID_HANDLE: &str = "handle.invalid";

/// TLDs that are valid syntax but must never be accepted as an account's handle.
const DISALLOWED_TLDS: [&str; 8] = [
    "alt",
    "arpa",
    "example",
    "internal",
    "invalid",
    "local",
    "localhost",
    "onion",
];

/// A syntactically valid handle, normalised to lower case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(String);

impl Handle {
    /// Parses and validates a handle, lower-casing it.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        check(s).map_err(|reason| SyntaxError::new(SyntaxKind::Handle, s, reason))?;
        Ok(Self(s.to_ascii_lowercase()))
    }

    /// Wraps a string already known to be a valid, lower-case handle.
    pub(crate) fn from_valid(s: String) -> Self {
        debug_assert!(check(&s).is_ok() && !s.bytes().any(|b| b.is_ascii_uppercase()));
        Self(s)
    }

    /// The special handle `handle.invalid`, shown for accounts whose handle does not resolve.
    pub fn invalid() -> Self {
        Self(INVALID_HANDLE.to_owned())
    }

    /// The handle (lower case).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The handle as an owned string (lower case).
    pub fn into_string(self) -> String {
        self.0
    }

    /// The last label, e.g. `social` for `alice.bsky.social`.
    pub fn tld(&self) -> &str {
        self.0.rsplit('.').next().unwrap_or_default()
    }

    /// False when the TLD is one that may never be an account's handle (`.local`, `.arpa`,
    /// `.invalid`, `.localhost`, `.internal`, `.example`, `.alt`, `.onion`). `.test` is allowed.
    pub fn has_allowed_tld(&self) -> bool {
        !DISALLOWED_TLDS.contains(&self.tld())
    }

    /// True for the special `handle.invalid`.
    pub fn is_invalid_handle(&self) -> bool {
        self.0 == INVALID_HANDLE
    }
}

impl TryFrom<String> for Handle {
    type Error = SyntaxError;

    fn try_from(mut s: String) -> Result<Self, Self::Error> {
        match check(&s) {
            Ok(()) => {
                s.make_ascii_lowercase();
                Ok(Self(s))
            }
            Err(reason) => Err(SyntaxError::new(SyntaxKind::Handle, &s, reason)),
        }
    }
}

impl From<Handle> for String {
    fn from(handle: Handle) -> Self {
        handle.0
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({:?})", self.0)
    }
}

string_conversions!(Handle, "a handle string");

/// Checks handle syntax (any case); the error is the reason.
pub(crate) fn check(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if s.len() > MAX_LEN {
        return Err("longer than 253 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err("disallowed character (ASCII letters, digits, hyphens and periods only)");
    }
    let mut labels = 0usize;
    let mut last = "";
    for label in s.split('.') {
        check_label(label)?;
        labels += 1;
        last = label;
    }
    if labels < 2 {
        return Err("needs at least two labels (a domain name)");
    }
    if !last.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("last label (the TLD) must start with a letter");
    }
    Ok(())
}

/// Checks one DNS label, already known to hold only letters, digits and hyphens.
fn check_label(label: &str) -> Result<(), &'static str> {
    if label.is_empty() {
        return Err("empty label");
    }
    if label.len() > MAX_LABEL_LEN {
        return Err("label longer than 63 characters");
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err("label can not start or end with a hyphen");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_lower_cases() {
        let handle = Handle::parse("XX.LCS.MIT.EDU").unwrap();
        assert_eq!(handle.as_str(), "xx.lcs.mit.edu");
        assert_eq!(
            handle,
            Handle::try_from("xx.lcs.mit.edu".to_owned()).unwrap()
        );
        assert_eq!(handle.tld(), "edu");
    }

    #[test]
    fn tld_policy_is_separate_from_syntax() {
        let onion = Handle::parse("expyuzz4wqqyqhjn.onion").unwrap();
        assert!(!onion.has_allowed_tld());
        assert!(!Handle::parse("laptop.LOCAL").unwrap().has_allowed_tld());
        assert!(Handle::parse("john.test").unwrap().has_allowed_tld());
        assert!(
            Handle::parse("alice.bsky.social")
                .unwrap()
                .has_allowed_tld()
        );
    }

    #[test]
    fn handle_invalid_is_recognised() {
        assert!(Handle::invalid().is_invalid_handle());
        assert!(Handle::parse("Handle.Invalid").unwrap().is_invalid_handle());
        assert!(!Handle::parse("handle.valid").unwrap().is_invalid_handle());
    }

    #[test]
    fn errors_say_why() {
        let err = Handle::parse("cn.8").unwrap_err();
        assert_eq!(
            err.reason(),
            "last label (the TLD) must start with a letter"
        );
        assert_eq!(
            Handle::parse("john..test").unwrap_err().reason(),
            "empty label"
        );
        assert_eq!(
            Handle::parse("john").unwrap_err().reason(),
            "needs at least two labels (a domain name)"
        );
    }

    #[test]
    fn deserializing_normalises() {
        let handle: Handle = serde_json::from_str(r#""Alice.Bsky.Social""#).unwrap();
        assert_eq!(handle.as_str(), "alice.bsky.social");
        assert!(serde_json::from_str::<Handle>(r#""alice""#).is_err());
    }
}
