//! Helpers of the feed plugin's tests: a host with the Bluesky plugins, record builders.

#![allow(dead_code, unreachable_pub)]

use serde_json::{Value, json};
use sluice_bsky_testkit::{Host, OpResult, PluginHandle, fake_cid, json_record};

pub const ALICE: &str = "did:plc:alice";
pub const BOB: &str = "did:plc:bob";
pub const CAROL: &str = "did:plc:carol";
pub const DAN: &str = "did:plc:dan";

/// A host with the feed plugin (and the graph plugin, for follows and list items).
pub fn host() -> Host {
    Host::new(vec![
        PluginHandle::of::<sluice_bsky_feed::BskyFeed>(),
        PluginHandle::of::<sluice_bsky_graph::BskyGraph>(),
    ])
}

/// `at://did/collection/rkey`.
pub fn uri(did: &str, collection: &str, rkey: &str) -> String {
    format!("at://{did}/{collection}/{rkey}")
}

pub fn post_uri(did: &str, rkey: &str) -> String {
    uri(did, "app.bsky.feed.post", rkey)
}

/// A strong ref to a record URI (its CID derived from the URI).
pub fn strong(uri: &str) -> Value {
    json!({"uri": uri, "cid": fake_cid(uri)})
}

/// A record write: URI, record JSON, indexedAt.
#[derive(Debug, Clone)]
pub struct Write {
    pub uri: String,
    pub record: Option<Value>,
    pub indexed_at: String,
}

impl Write {
    pub fn create(uri: &str, record: Value, indexed_at: &str) -> Self {
        Self {
            uri: uri.to_owned(),
            record: Some(record),
            indexed_at: indexed_at.to_owned(),
        }
    }

    pub fn delete(uri: &str, indexed_at: &str) -> Self {
        Self {
            uri: uri.to_owned(),
            record: None,
            indexed_at: indexed_at.to_owned(),
        }
    }

    /// Applies it (create, or delete) and insists it was indexed.
    pub fn apply(&self, host: &mut Host) {
        let result = match &self.record {
            Some(record) => host.create(
                &self.uri,
                &fake_cid(&format!("{}{record}", self.uri)),
                json_record(record),
                &self.indexed_at,
            ),
            None => host.delete(&self.uri, &self.indexed_at),
        };
        assert!(
            matches!(result, OpResult::Indexed { .. }),
            "{} not indexed: {result:?}",
            self.uri
        );
    }
}

/// Every order of `items`.
pub fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for index in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(index);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            out.push(tail);
        }
    }
    out
}

/// Applies `writes` in every order and asserts every final state equals the first's; returns
/// it.
pub fn same_in_every_order(writes: &[Write]) -> String {
    let mut expected: Option<(String, Vec<String>)> = None;
    for order in permutations(writes) {
        let mut host = host();
        for write in &order {
            write.apply(&mut host);
        }
        let dump = host.dump(&[]);
        let names: Vec<String> = order.iter().map(|w| w.uri.clone()).collect();
        match &expected {
            None => expected = Some((dump, names)),
            Some((first, first_names)) => {
                assert_eq!(&dump, first, "order {names:?} differs from {first_names:?}");
            }
        }
    }
    expected.map(|(dump, _)| dump).unwrap_or_default()
}

/// A post record.
pub fn post(text: &str, created_at: &str) -> Value {
    json!({"$type": "app.bsky.feed.post", "text": text, "createdAt": created_at})
}

/// A reply record.
pub fn reply(text: &str, root: &str, parent: &str, created_at: &str) -> Value {
    json!({"$type": "app.bsky.feed.post", "text": text, "createdAt": created_at,
           "reply": {"root": strong(root), "parent": strong(parent)}})
}
