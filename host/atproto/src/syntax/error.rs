//! The one error type of the syntax module.

use std::borrow::Cow;
use std::fmt;

/// Which kind of identifier a [`SyntaxError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyntaxKind {
    /// [`super::AtIdentifier`]: a DID or a handle.
    AtIdentifier,
    /// [`super::AtUri`].
    AtUri,
    /// A CID string ([`super::is_valid_cid_syntax`]).
    Cid,
    /// [`super::Datetime`].
    Datetime,
    /// [`super::Did`].
    Did,
    /// [`super::Handle`].
    Handle,
    /// [`super::Language`].
    Language,
    /// [`super::Nsid`].
    Nsid,
    /// [`super::RecordKey`].
    RecordKey,
    /// [`super::Tid`].
    Tid,
    /// [`super::Uri`].
    Uri,
}

impl SyntaxKind {
    /// The kind's name as used in error messages (`"DID"`, `"AT-URI"`, `"record key"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::AtIdentifier => "AT identifier",
            Self::AtUri => "AT-URI",
            Self::Cid => "CID",
            Self::Datetime => "datetime",
            Self::Did => "DID",
            Self::Handle => "handle",
            Self::Language => "language tag",
            Self::Nsid => "NSID",
            Self::RecordKey => "record key",
            Self::Tid => "TID",
            Self::Uri => "URI",
        }
    }
}

impl fmt::Display for SyntaxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Inputs longer than this are abbreviated in error messages (identifiers can be 8 KB long).
const MAX_QUOTED_INPUT: usize = 96;

/// A string that is not a valid identifier of some kind.
///
/// Displays as `invalid <kind> "<input>": <reason>`, e.g. `invalid NSID "a..b": empty segment`.
/// Long inputs are abbreviated (ending in `…`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {input:?}: {reason}")]
pub struct SyntaxError {
    kind: SyntaxKind,
    input: String,
    reason: Cow<'static, str>,
}

impl SyntaxError {
    /// An error about `input` (abbreviated when long) of kind `kind`.
    pub(crate) fn new(kind: SyntaxKind, input: &str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            input: abbreviate(input),
            reason: reason.into(),
        }
    }

    /// Which kind of identifier was expected.
    pub fn kind(&self) -> SyntaxKind {
        self.kind
    }

    /// The rejected input, abbreviated with a trailing `…` when it was long.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why the input was rejected.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The input itself when short, else its first characters followed by `…`.
fn abbreviate(input: &str) -> String {
    if input.len() <= MAX_QUOTED_INPUT {
        return input.to_owned();
    }
    let mut end = MAX_QUOTED_INPUT;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    let mut short = String::with_capacity(end + '…'.len_utf8());
    short.push_str(input.get(..end).unwrap_or_default());
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_kind_input_and_reason() {
        let err = SyntaxError::new(SyntaxKind::Nsid, "a..b", "empty segment");
        assert_eq!(err.to_string(), r#"invalid NSID "a..b": empty segment"#);
        assert_eq!(err.kind(), SyntaxKind::Nsid);
        assert_eq!(err.reason(), "empty segment");
    }

    #[test]
    fn long_inputs_are_abbreviated_on_a_char_boundary() {
        let long = "é".repeat(200);
        let err = SyntaxError::new(SyntaxKind::Handle, &long, "too long");
        assert!(err.input().ends_with('…'));
        assert!(err.input().len() <= MAX_QUOTED_INPUT + '…'.len_utf8());
        assert!(long.starts_with(err.input().trim_end_matches('…')));
    }
}
