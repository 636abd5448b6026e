//! Re-index requests (written by the plugin registry helper; `sluice plugin reindex`).
//!
//! `sluice plugin reindex NAME` pages through the `record` table and queues every live record of
//! the plugin's collections in the stream [`REINDEX_STREAM`] (`firehose_reindex`, field `event`,
//! JSON `{"type": "reindex", "did": "did:…", "uri": "at://did:…/collection/rkey"}`). The indexer
//! reads that stream last, after live and backfill, in the same consumer group
//! (`firehose_group`), so a re-index only uses what live indexing leaves over.
//!
//! An entry becomes [`Item::Reindex`]: inside the batch's transaction the record's *stored*
//! version is locked and run through the plugin that claims its collection now, as an `update`
//! whose previous version is itself, with source `replay` — exactly how an await's waiter is
//! re-run. Nothing about the record changes; the plugin's rows are upserted again (its derived
//! deletes find nothing to delete, both versions being the same), so rows that only an older
//! plugin version produced stay (`sluice plugin reindex --truncate` empties a third-party
//! plugin's own tables first). Aggregates stay exact: a count changes only when a row is really
//! inserted or deleted. A record deleted (or a collection no plugin claims any more) by the time
//! the entry is read is skipped. The entry carries the DID so that the indexer's sharding keeps
//! it on the worker of its repo.

use serde::{Deserialize, Serialize};
use sluice_atproto::syntax::{Did, Nsid, RecordKey};
use sluice_queue::{Delivery, StreamPayload};

use crate::input::Item;

/// The stream re-index requests are queued in.
pub const REINDEX_STREAM: &str = "firehose_reindex";

/// One re-index request (`{"type": "reindex", "did", "uri"}` in field `event`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "reindex")]
pub struct ReindexEvent {
    /// The repo (for sharding by repo).
    pub did: String,
    /// The record: `at://<did>/<collection>/<rkey>`.
    pub uri: String,
}

impl StreamPayload for ReindexEvent {
    const FIELD: &'static str = "event";
}

impl ReindexEvent {
    /// The request for a record.
    pub fn new(did: impl Into<String>, uri: impl Into<String>) -> Self {
        Self {
            did: did.into(),
            uri: uri.into(),
        }
    }
}

/// Reads a delivery as a re-index request: `None` when it is not one, `Some(Err)` when it is
/// one with a malformed DID or URI.
pub fn parse_reindex(delivery: &Delivery) -> Option<Result<Item, String>> {
    let event: ReindexEvent = delivery.payload().ok()?;
    Some(check(&event).map(|()| Item::Reindex {
        did: event.did,
        uri: event.uri,
    }))
}

fn check(event: &ReindexEvent) -> Result<(), String> {
    Did::parse(&event.did).map_err(|e| format!("did {:?}: {e}", event.did))?;
    let rest = event
        .uri
        .strip_prefix("at://")
        .and_then(|rest| rest.strip_prefix(event.did.as_str()))
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(|| format!("uri {:?} is not at://{}/…", event.uri, event.did))?;
    let (collection, rkey) = rest
        .split_once('/')
        .ok_or_else(|| format!("uri {:?} has no record key", event.uri))?;
    Nsid::parse(collection).map_err(|e| format!("collection {collection:?}: {e}"))?;
    RecordKey::parse(rkey).map_err(|e| format!("rkey {rkey:?}: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(json: &str) -> Delivery {
        Delivery {
            stream: REINDEX_STREAM.into(),
            id: "1-0".into(),
            fields: vec![("event".into(), json.as_bytes().to_vec())],
        }
    }

    #[test]
    fn requests_round_trip_and_are_checked() {
        let event = ReindexEvent::new("did:plc:abc", "at://did:plc:abc/app.bsky.feed.post/3k2a");
        let json = event.to_json().unwrap();
        assert_eq!(
            json,
            r#"{"type":"reindex","did":"did:plc:abc","uri":"at://did:plc:abc/app.bsky.feed.post/3k2a"}"#
        );
        assert_eq!(
            parse_reindex(&delivery(&json)),
            Some(Ok(Item::Reindex {
                did: "did:plc:abc".into(),
                uri: "at://did:plc:abc/app.bsky.feed.post/3k2a".into(),
            }))
        );
        let other_repo = r#"{"type":"reindex","did":"did:plc:abc","uri":"at://did:plc:xyz/app.bsky.feed.post/3k2a"}"#;
        assert!(matches!(parse_reindex(&delivery(other_repo)), Some(Err(_))));
        let no_rkey =
            r#"{"type":"reindex","did":"did:plc:abc","uri":"at://did:plc:abc/app.bsky.feed.post"}"#;
        assert!(matches!(parse_reindex(&delivery(no_rkey)), Some(Err(_))));
        let firehose = r#"{"type":"identity","seq":1,"time":"t","did":"did:plc:abc"}"#;
        assert_eq!(parse_reindex(&delivery(firehose)), None);
    }
}
