//! Generic URIs (Lexicon's `uri` format): a quick shape check, not a full RFC 3986 parser.
//!
//! A scheme (an ASCII letter, then letters, digits, `+`, `-` or `.`), a colon, then at least one
//! more character; no whitespace or control characters anywhere; at most 8192 bytes. Non-ASCII
//! characters after the scheme are accepted, as the reference implementation accepts them (links
//! in real records often carry unescaped Unicode), so that no record it accepts is rejected here.

use super::error::{SyntaxError, SyntaxKind};
use super::string_conversions;

/// Longest URI accepted, in bytes.
const MAX_LEN: usize = 8192;

/// A URI with valid Lexicon `uri` syntax, kept as written.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uri(String);

impl Uri {
    /// Parses and validates a URI.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        check(s).map_err(|reason| SyntaxError::new(SyntaxKind::Uri, s, reason))?;
        Ok(Self(s.to_owned()))
    }

    /// The URI as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URI as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The scheme, as written (`https` in `https://example.com`).
    pub fn scheme(&self) -> &str {
        self.0.split_once(':').map_or("", |(scheme, _rest)| scheme)
    }
}

impl TryFrom<String> for Uri {
    type Error = SyntaxError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match check(&s) {
            Ok(()) => Ok(Self(s)),
            Err(reason) => Err(SyntaxError::new(SyntaxKind::Uri, &s, reason)),
        }
    }
}

impl From<Uri> for String {
    fn from(uri: Uri) -> Self {
        uri.0
    }
}

impl std::fmt::Debug for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Uri({:?})", self.0)
    }
}

string_conversions!(Uri, "a URI string");

fn check(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 8192 bytes");
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return Err("needs a scheme followed by \":\"");
    };
    if !scheme.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("scheme must start with an ASCII letter");
    }
    if !scheme
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Err("scheme can only hold ASCII letters, digits, \"+\", \"-\" and \".\"");
    }
    if rest.is_empty() {
        return Err("nothing after the scheme");
    }
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_and_rest() {
        let uri = Uri::parse("microsoft.windows.camera:thing").unwrap();
        assert_eq!(uri.scheme(), "microsoft.windows.camera");
        assert_eq!(
            Uri::parse("https://例え.jp/パス").unwrap().scheme(),
            "https"
        );
    }

    #[test]
    fn errors_say_why() {
        let reason = |s: &str| Uri::parse(s).unwrap_err().reason().to_owned();
        assert_eq!(reason("http:"), "nothing after the scheme");
        assert_eq!(
            reason("-http://example.com"),
            "scheme must start with an ASCII letter"
        );
        assert_eq!(reason("example.com"), "needs a scheme followed by \":\"");
        assert_eq!(
            reason("https://example.com/a\u{3000}b"),
            "contains whitespace or control characters"
        );
    }
}
