//! Record keys: the last part of a record's path in a repository (`self`, a TID, …).
//!
//! Syntax (<https://atproto.com/specs/record-key>): 1 to 512 characters from ASCII letters,
//! digits and `.-_:~`, and neither `.` nor `..`.

use super::error::{SyntaxError, SyntaxKind};
use super::string_conversions;

/// Longest record key accepted, in bytes.
const MAX_LEN: usize = 512;

/// A syntactically valid record key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey(String);

impl RecordKey {
    /// Parses and validates a record key.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        check(s).map_err(|reason| SyntaxError::new(SyntaxKind::RecordKey, s, reason))?;
        Ok(Self(s.to_owned()))
    }

    /// The record key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The record key as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Wraps a string already known to be a valid record key (a TID's text).
    pub(crate) fn from_valid(s: String) -> Self {
        debug_assert!(check(&s).is_ok());
        Self(s)
    }
}

impl TryFrom<String> for RecordKey {
    type Error = SyntaxError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match check(&s) {
            Ok(()) => Ok(Self(s)),
            Err(reason) => Err(SyntaxError::new(SyntaxKind::RecordKey, &s, reason)),
        }
    }
}

impl From<RecordKey> for String {
    fn from(rkey: RecordKey) -> Self {
        rkey.0
    }
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordKey({:?})", self.0)
    }
}

string_conversions!(RecordKey, "a record key string");

/// Checks record key syntax; the error is the reason.
pub(crate) fn check(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if s.len() > MAX_LEN {
        return Err("longer than 512 characters");
    }
    if s == "." || s == ".." {
        return Err("can not be \".\" or \"..\"");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'~'))
    {
        return Err("disallowed character (ASCII letters, digits and .-_:~ only)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_alone_are_rejected_but_allowed_inside() {
        assert_eq!(
            RecordKey::parse("..").unwrap_err().reason(),
            "can not be \".\" or \"..\""
        );
        assert_eq!(RecordKey::parse("...").unwrap().as_str(), "...");
        assert_eq!(RecordKey::parse("self.").unwrap().to_string(), "self.");
    }

    #[test]
    fn length_limit_is_512() {
        assert!(RecordKey::parse(&"o".repeat(512)).is_ok());
        assert_eq!(
            RecordKey::parse(&"o".repeat(513)).unwrap_err().reason(),
            "longer than 512 characters"
        );
    }
}
