//! AT-URIs: `at://authority[/collection[/rkey]]`.
//!
//! The form Lexicon's `at-uri` format accepts (<https://atproto.com/specs/at-uri-scheme>): the
//! lower-case scheme `at://`, an authority that is a DID or a handle, then optionally a
//! collection NSID and a record key, each after one `/`. No empty segments, no trailing slash,
//! no further path segments, no query and no fragment; at most 8192 characters.
//!
//! The URI is kept exactly as written (a handle authority is not lower-cased), so that values
//! copied from records round-trip unchanged.

use super::AtIdentifier;
use super::did::{self, Did};
use super::error::{SyntaxError, SyntaxKind};
use super::handle::{self, Handle};
use super::nsid::{self, Nsid};
use super::record_key::{self, RecordKey};
use super::string_conversions;

/// Longest AT-URI accepted, in bytes.
const MAX_LEN: usize = 8192;

const SCHEME: &str = "at://";

/// A syntactically valid AT-URI.
#[derive(Clone)]
pub struct AtUri {
    /// The whole URI.
    raw: String,
    /// Byte offset where the authority ends (the first `/` after it, or the end).
    authority_end: usize,
    /// Byte offset where the collection ends (the `/` before the record key, or the end);
    /// equal to `authority_end` when there is no collection.
    collection_end: usize,
}

impl AtUri {
    /// Parses and validates an AT-URI.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        let (authority_end, collection_end) =
            check(s).map_err(|reason| SyntaxError::new(SyntaxKind::AtUri, s, reason))?;
        Ok(Self {
            raw: s.to_owned(),
            authority_end,
            collection_end,
        })
    }

    /// The URI of a record: `at://<did>/<collection>/<rkey>`.
    pub fn for_record(did: &Did, collection: &Nsid, rkey: &RecordKey) -> Self {
        let mut raw = String::with_capacity(
            SCHEME.len() + did.as_str().len() + collection.as_str().len() + rkey.as_str().len() + 2,
        );
        raw.push_str(SCHEME);
        raw.push_str(did.as_str());
        let authority_end = raw.len();
        raw.push('/');
        raw.push_str(collection.as_str());
        let collection_end = raw.len();
        raw.push('/');
        raw.push_str(rkey.as_str());
        Self {
            raw,
            authority_end,
            collection_end,
        }
    }

    /// The URI as a string.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The URI as an owned string.
    pub fn into_string(self) -> String {
        self.raw
    }

    /// The authority as written: a DID or a handle.
    pub fn authority(&self) -> &str {
        self.raw
            .get(SCHEME.len()..self.authority_end)
            .unwrap_or_default()
    }

    /// The authority as a typed identifier (a handle is lower-cased). Allocates.
    pub fn at_identifier(&self) -> AtIdentifier {
        let authority = self.authority();
        if authority.starts_with("did:") {
            AtIdentifier::Did(Did::from_valid(authority.to_owned()))
        } else {
            AtIdentifier::Handle(Handle::from_valid(authority.to_ascii_lowercase()))
        }
    }

    /// The authority if it is a DID.
    pub fn did(&self) -> Option<&str> {
        let authority = self.authority();
        authority.starts_with("did:").then_some(authority)
    }

    /// The authority if it is a handle (as written, not lower-cased).
    pub fn handle(&self) -> Option<&str> {
        let authority = self.authority();
        (!authority.starts_with("did:")).then_some(authority)
    }

    /// The collection NSID, if the URI has a path.
    pub fn collection(&self) -> Option<&str> {
        if self.collection_end == self.authority_end {
            return None;
        }
        self.raw.get(self.authority_end + 1..self.collection_end)
    }

    /// The record key, if the URI names a record.
    pub fn rkey(&self) -> Option<&str> {
        if self.collection_end == self.raw.len() {
            return None;
        }
        self.raw.get(self.collection_end + 1..)
    }

    /// The path without its leading slash (`collection/rkey`), as used for repository keys;
    /// empty when the URI has no path.
    pub fn path(&self) -> &str {
        self.raw.get(self.authority_end + 1..).unwrap_or_default()
    }
}

impl TryFrom<String> for AtUri {
    type Error = SyntaxError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match check(&s) {
            Ok((authority_end, collection_end)) => Ok(Self {
                raw: s,
                authority_end,
                collection_end,
            }),
            Err(reason) => Err(SyntaxError::new(SyntaxKind::AtUri, &s, reason)),
        }
    }
}

impl From<AtUri> for String {
    fn from(uri: AtUri) -> Self {
        uri.raw
    }
}

impl PartialEq for AtUri {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for AtUri {}

impl std::hash::Hash for AtUri {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}

impl PartialOrd for AtUri {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AtUri {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.raw.cmp(&other.raw)
    }
}

impl std::fmt::Debug for AtUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AtUri({:?})", self.raw)
    }
}

string_conversions!(AtUri, "an AT-URI string");

/// Checks AT-URI syntax; returns where the authority and the collection end, or the reason.
fn check(s: &str) -> Result<(usize, usize), String> {
    if s.len() > MAX_LEN {
        return Err("longer than 8192 characters".into());
    }
    let Some(rest) = s.strip_prefix(SCHEME) else {
        return Err("must start with \"at://\"".into());
    };
    if s.contains('?') {
        return Err("query parts are not allowed".into());
    }
    if s.contains('#') {
        return Err("fragments are not allowed".into());
    }
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (rest, None),
    };
    check_authority(authority)?;
    let authority_end = SCHEME.len() + authority.len();
    let Some(path) = path else {
        return Ok((authority_end, authority_end));
    };
    if path.is_empty() {
        return Err("trailing slash".into());
    }
    let (collection, rkey) = match path.split_once('/') {
        Some((collection, rkey)) => (collection, Some(rkey)),
        None => (path, None),
    };
    if collection.is_empty() {
        return Err("empty path segment".into());
    }
    nsid::check(collection)
        .map_err(|reason| format!("collection is not a valid NSID: {reason}"))?;
    let collection_end = authority_end + 1 + collection.len();
    let Some(rkey) = rkey else {
        return Ok((authority_end, collection_end));
    };
    if rkey.is_empty() {
        return Err("trailing slash".into());
    }
    if rkey.contains('/') {
        return Err("more than two path segments (only /collection/rkey)".into());
    }
    record_key::check(rkey).map_err(|reason| format!("invalid record key: {reason}"))?;
    Ok((authority_end, collection_end))
}

fn check_authority(authority: &str) -> Result<(), String> {
    if authority.is_empty() {
        return Err("empty authority".into());
    }
    if authority.starts_with("did:") {
        did::check(authority).map_err(|reason| format!("authority is not a valid DID: {reason}"))
    } else {
        handle::check(authority)
            .map_err(|reason| format!("authority is not a valid handle: {reason}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_of_a_record_uri() {
        let uri =
            AtUri::parse("at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3jzfcijpj2z2a")
                .unwrap();
        assert_eq!(uri.authority(), "did:plc:ewvi7nxzyoun6zhxrhs64oiz");
        assert_eq!(uri.did(), Some("did:plc:ewvi7nxzyoun6zhxrhs64oiz"));
        assert_eq!(uri.handle(), None);
        assert_eq!(uri.collection(), Some("app.bsky.feed.post"));
        assert_eq!(uri.rkey(), Some("3jzfcijpj2z2a"));
        assert_eq!(uri.path(), "app.bsky.feed.post/3jzfcijpj2z2a");
        assert!(uri.at_identifier().is_did());
    }

    #[test]
    fn accessors_of_shorter_uris() {
        let authority_only = AtUri::parse("at://Alice.Test").unwrap();
        assert_eq!(authority_only.handle(), Some("Alice.Test"));
        assert_eq!(authority_only.did(), None);
        assert_eq!(authority_only.collection(), None);
        assert_eq!(authority_only.rkey(), None);
        assert_eq!(authority_only.path(), "");
        assert_eq!(authority_only.at_identifier().as_str(), "alice.test");
        assert_eq!(authority_only.to_string(), "at://Alice.Test");

        let collection = AtUri::parse("at://did:abc:123/io.nsid.someFunc").unwrap();
        assert_eq!(collection.collection(), Some("io.nsid.someFunc"));
        assert_eq!(collection.rkey(), None);
        assert_eq!(collection.path(), "io.nsid.someFunc");
    }

    #[test]
    fn for_record_builds_a_parseable_uri() {
        let did = Did::parse("did:plc:ewvi7nxzyoun6zhxrhs64oiz").unwrap();
        let collection = Nsid::parse("app.bsky.feed.like").unwrap();
        let rkey = RecordKey::parse("self").unwrap();
        let built = AtUri::for_record(&did, &collection, &rkey);
        assert_eq!(
            built.as_str(),
            "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.like/self"
        );
        let parsed = AtUri::parse(built.as_str()).unwrap();
        assert_eq!(parsed, built);
        assert_eq!(parsed.collection(), built.collection());
        assert_eq!(parsed.rkey(), built.rkey());
        assert_eq!(parsed.authority(), built.authority());
    }

    #[test]
    fn errors_say_which_part() {
        let reason = |s: &str| AtUri::parse(s).unwrap_err().reason().to_owned();
        assert_eq!(reason("at://did:plc:asdf123/"), "trailing slash");
        assert_eq!(reason("at://user.bsky.social//"), "empty path segment");
        assert_eq!(
            reason("at://did:plc:asdf123#/frag"),
            "fragments are not allowed"
        );
        assert!(reason("at://did:plc:asdf123/com.atproto.feed_post").starts_with("collection"));
        assert!(
            reason("at://did:plc:asdf123/com.atproto.feed.post/%30")
                .starts_with("invalid record key")
        );
        assert!(reason("at://name").starts_with("authority is not a valid handle"));
        assert!(reason("at://did:plc:").starts_with("authority is not a valid DID"));
        assert_eq!(reason("AT://did:plc:asdf123"), "must start with \"at://\"");
    }

    #[test]
    fn serde_as_string() {
        let uri: AtUri =
            serde_json::from_str(r#""at://did:plc:asdf123/app.bsky.feed.post/abc""#).unwrap();
        assert_eq!(uri.rkey(), Some("abc"));
        assert_eq!(
            serde_json::to_value(&uri).unwrap(),
            serde_json::json!("at://did:plc:asdf123/app.bsky.feed.post/abc")
        );
        assert!(serde_json::from_str::<AtUri>(r#""at://did:plc:asdf123/""#).is_err());
    }
}
