//! AT-URIs as the reference AppView handles them: `at://AUTHORITY/COLLECTION/RKEY`.

/// The collection of posts.
pub const POST: &str = "app.bsky.feed.post";
/// The collection of thread gates (record key = the gated post's record key).
pub const THREADGATE: &str = "app.bsky.feed.threadgate";
/// The collection of post gates (record key = the gated post's record key).
pub const POSTGATE: &str = "app.bsky.feed.postgate";
/// The collection of lists.
pub const LIST: &str = "app.bsky.graph.list";

/// The parts of an AT-URI naming a record (or a collection, or a repo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtUri<'a> {
    /// The repo: a DID (or, in old records, a handle).
    pub authority: &'a str,
    /// The collection NSID, empty when the URI names only a repo.
    pub collection: &'a str,
    /// The record key, empty when the URI names no record.
    pub rkey: &'a str,
}

impl<'a> AtUri<'a> {
    /// Splits `at://authority[/collection[/rkey]]`. `None` when it does not start with `at://`
    /// or has no authority. A query or fragment stays part of the last segment, as the reference
    /// compares whole strings anyway.
    pub fn parse(uri: &'a str) -> Option<Self> {
        let rest = uri.strip_prefix("at://")?;
        let mut parts = rest.splitn(3, '/');
        let authority = parts.next().filter(|a| !a.is_empty())?;
        let collection = parts.next().unwrap_or_default();
        let rkey = parts.next().unwrap_or_default();
        Some(Self {
            authority,
            collection,
            rkey,
        })
    }

    /// Whether it names a record of `collection`.
    pub fn is_record_of(&self, collection: &str) -> bool {
        self.collection == collection && !self.rkey.is_empty() && !self.rkey.contains('/')
    }
}

/// `at://did/collection/rkey`.
pub fn record_uri(did: &str, collection: &str, rkey: &str) -> String {
    format!("at://{did}/{collection}/{rkey}")
}

/// The repo (authority) of an AT-URI: who gets notified about it. `None` for anything that is
/// not an AT-URI.
pub fn authority(uri: &str) -> Option<&str> {
    AtUri::parse(uri).map(|parsed| parsed.authority)
}

/// The URI of the record in `gate_collection` with the same repo and key as the post `post_uri`
/// (its thread gate or post gate). Like the reference, a URI that is not a post's is returned
/// unchanged (so that a lookup of it finds no gate).
pub fn gate_uri(post_uri: &str, gate_collection: &str) -> String {
    match AtUri::parse(post_uri) {
        Some(parsed) if parsed.collection == POST && !parsed.rkey.is_empty() => {
            record_uri(parsed.authority, gate_collection, parsed.rkey)
        }
        _ => post_uri.to_owned(),
    }
}

/// Whether `uri` names a post (`at://…/app.bsky.feed.post/…`).
pub fn is_post_uri(uri: &str) -> bool {
    AtUri::parse(uri).is_some_and(|parsed| parsed.is_record_of(POST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_record_uris() {
        let uri = AtUri::parse("at://did:plc:abc/app.bsky.feed.post/3k2a").unwrap();
        assert_eq!(uri.authority, "did:plc:abc");
        assert_eq!(uri.collection, POST);
        assert_eq!(uri.rkey, "3k2a");
        assert!(uri.is_record_of(POST));
        assert!(AtUri::parse("https://x").is_none());
        assert!(AtUri::parse("at:///x").is_none());
        let repo = AtUri::parse("at://did:plc:abc").unwrap();
        assert_eq!((repo.collection, repo.rkey), ("", ""));
        assert!(!repo.is_record_of(POST));
    }

    #[test]
    fn gate_uris_follow_the_post() {
        assert_eq!(
            gate_uri("at://did:plc:a/app.bsky.feed.post/3k", THREADGATE),
            "at://did:plc:a/app.bsky.feed.threadgate/3k"
        );
        assert_eq!(
            gate_uri("at://did:plc:a/app.bsky.feed.post/3k", POSTGATE),
            "at://did:plc:a/app.bsky.feed.postgate/3k"
        );
        // Not a post: unchanged, as the reference does.
        assert_eq!(
            gate_uri("at://did:plc:a/app.bsky.graph.list/3k", THREADGATE),
            "at://did:plc:a/app.bsky.graph.list/3k"
        );
        assert!(is_post_uri("at://did:plc:a/app.bsky.feed.post/3k"));
        assert!(!is_post_uri("at://did:plc:a/app.bsky.feed.like/3k"));
        assert_eq!(authority("at://did:plc:a/x/y"), Some("did:plc:a"));
    }
}
