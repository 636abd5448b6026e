//! Namespaced identifiers (NSIDs): `com.example.fooBar`.
//!
//! Syntax (<https://atproto.com/specs/nsid>): a domain authority in reversed order followed by a
//! name; at least three period-separated segments, at most 317 characters, ASCII letters, digits
//! and hyphens only. Every segment is 1 to 63 characters and does not start or end with a
//! hyphen; the first segment does not start with a digit; the name (last segment) is a letter
//! followed by letters and digits.

use super::error::{SyntaxError, SyntaxKind};
use super::string_conversions;

/// Longest NSID accepted: a 253-character domain, a period and a 63-character name.
const MAX_LEN: usize = 253 + 1 + 63;

/// Longest segment, in bytes.
const MAX_SEGMENT_LEN: usize = 63;

/// A syntactically valid NSID, kept exactly as written (case is significant in the name).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nsid(String);

impl Nsid {
    /// Parses and validates an NSID.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        check(s).map_err(|reason| SyntaxError::new(SyntaxKind::Nsid, s, reason))?;
        Ok(Self(s.to_owned()))
    }

    /// The NSID as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The NSID as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The name: the last segment (`fooBar` in `com.example.fooBar`).
    pub fn name(&self) -> &str {
        self.0.rsplit('.').next().unwrap_or_default()
    }

    /// The authority as a domain name in normal order, lower-cased (`example.com` for
    /// `com.example.fooBar`). Allocates.
    pub fn authority(&self) -> String {
        let domain_part = self.0.rsplit_once('.').map_or("", |(domain, _name)| domain);
        let mut authority = String::with_capacity(domain_part.len());
        for (i, segment) in domain_part.rsplit('.').enumerate() {
            if i > 0 {
                authority.push('.');
            }
            authority.push_str(segment);
        }
        authority.make_ascii_lowercase();
        authority
    }

    /// The segments in written order (`com`, `example`, `fooBar`).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl TryFrom<String> for Nsid {
    type Error = SyntaxError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match check(&s) {
            Ok(()) => Ok(Self(s)),
            Err(reason) => Err(SyntaxError::new(SyntaxKind::Nsid, &s, reason)),
        }
    }
}

impl From<Nsid> for String {
    fn from(nsid: Nsid) -> Self {
        nsid.0
    }
}

impl std::fmt::Debug for Nsid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nsid({:?})", self.0)
    }
}

string_conversions!(Nsid, "an NSID string");

/// Checks NSID syntax; the error is the reason.
pub(crate) fn check(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 317 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err("disallowed character (ASCII letters, digits, hyphens and periods only)");
    }
    let Some((domain, name)) = s.rsplit_once('.') else {
        return Err("needs at least three segments");
    };
    let mut domain_segments = 0usize;
    for segment in domain.split('.') {
        check_segment(segment)?;
        domain_segments += 1;
    }
    check_segment(name)?;
    if domain_segments < 2 {
        return Err("needs at least three segments");
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("first segment can not start with a digit");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("name (last segment) must start with a letter");
    }
    if name.contains('-') {
        return Err("name (last segment) can only hold letters and digits");
    }
    Ok(())
}

fn check_segment(segment: &str) -> Result<(), &'static str> {
    if segment.is_empty() {
        return Err("empty segment");
    }
    if segment.len() > MAX_SEGMENT_LEN {
        return Err("segment longer than 63 characters");
    }
    if segment.starts_with('-') || segment.ends_with('-') {
        return Err("segment can not start or end with a hyphen");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let nsid = Nsid::parse("app.bsky.feed.post").unwrap();
        assert_eq!(nsid.name(), "post");
        assert_eq!(nsid.authority(), "feed.bsky.app");
        assert_eq!(
            nsid.segments().collect::<Vec<_>>(),
            ["app", "bsky", "feed", "post"]
        );

        let mixed = Nsid::parse("One.Two.fooBar").unwrap();
        assert_eq!(mixed.authority(), "two.one");
        assert_eq!(mixed.name(), "fooBar");
        assert_eq!(mixed.as_str(), "One.Two.fooBar");
    }

    #[test]
    fn errors_say_why() {
        assert_eq!(
            Nsid::parse("a..b").unwrap_err().to_string(),
            r#"invalid NSID "a..b": empty segment"#
        );
        assert_eq!(
            Nsid::parse("com.example").unwrap_err().reason(),
            "needs at least three segments"
        );
        assert_eq!(
            Nsid::parse("com.example.fooBar.2").unwrap_err().reason(),
            "name (last segment) must start with a letter"
        );
        assert_eq!(
            Nsid::parse("a-0.b-1.c-3").unwrap_err().reason(),
            "name (last segment) can only hold letters and digits"
        );
        assert_eq!(
            Nsid::parse("0two.example.foo").unwrap_err().reason(),
            "first segment can not start with a digit"
        );
    }
}
