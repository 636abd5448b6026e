//! Turning verified firehose messages into the stream entries' JSON (the reference's shapes,
//! see [`sluice_queue::events`]).

use serde_json::value::RawValue;
use sluice_atproto::data::dag_cbor_to_json_string;
use sluice_atproto::firehose::{self, ResolvedCommit};
use sluice_atproto::repo::OpAction;
use sluice_queue::events::{AccountEvent, DeleteEvent, IdentityEvent, RecordEvent};
use sluice_queue::{FirehoseEvent, StreamPayload as _};

use crate::collections::CollectionMatcher;

/// The entries of one commit, and what was left out.
#[derive(Debug, Default)]
pub struct CommitEntries {
    /// `create` / `update` / `delete` events as JSON, in op order.
    pub events: Vec<String>,
    /// Ops left out because no plugin claims their collection.
    pub filtered: usize,
    /// Ops left out because their record is not valid DAG-CBOR (path and error).
    pub bad_records: Vec<(String, String)>,
}

/// The events of a verified commit, keeping only claimed collections.
pub fn commit_entries(commit: &ResolvedCommit, claimed: &CollectionMatcher) -> CommitEntries {
    let mut out = CommitEntries::default();
    let commit_cid = commit.commit_cid.to_string();
    for op in &commit.ops {
        if !claimed.claims(op.collection()) {
            out.filtered += 1;
            continue;
        }
        let event = match (op.action, &op.record, op.cid) {
            (OpAction::Delete, _, _) => FirehoseEvent::Delete(DeleteEvent {
                seq: commit.seq,
                time: commit.time.clone(),
                did: commit.did.clone(),
                commit: commit_cid.clone(),
                rev: commit.rev.clone(),
                collection: op.collection().to_owned(),
                rkey: op.rkey().to_owned(),
            }),
            (action, Some(bytes), Some(cid)) => {
                let record = match dag_cbor_to_json_string(bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|json| RawValue::from_string(json).map_err(|e| e.to_string()))
                {
                    Ok(record) => record,
                    Err(error) => {
                        out.bad_records.push((op.path.clone(), error));
                        continue;
                    }
                };
                let event = RecordEvent {
                    seq: commit.seq,
                    time: commit.time.clone(),
                    did: commit.did.clone(),
                    commit: commit_cid.clone(),
                    rev: commit.rev.clone(),
                    collection: op.collection().to_owned(),
                    rkey: op.rkey().to_owned(),
                    cid: cid.to_string(),
                    record,
                };
                if action == OpAction::Update {
                    FirehoseEvent::Update(event)
                } else {
                    FirehoseEvent::Create(event)
                }
            }
            // A resolved create or update always has its record and CID.
            _ => continue,
        };
        match event.to_json() {
            Ok(json) => out.events.push(json),
            Err(error) => out.bad_records.push((op.path.clone(), error.to_string())),
        }
    }
    out
}

/// The `identity` event of an `#identity` message.
pub fn identity_entry(event: &firehose::IdentityEvent) -> Option<String> {
    FirehoseEvent::Identity(IdentityEvent {
        seq: event.seq,
        time: event.time.clone(),
        did: event.did.clone(),
        handle: event.handle.clone(),
    })
    .to_json()
    .ok()
}

/// The `account` event of an `#account` message.
pub fn account_entry(event: &firehose::AccountEvent) -> Option<String> {
    FirehoseEvent::Account(AccountEvent {
        seq: event.seq,
        time: event.time.clone(),
        did: event.did.clone(),
        active: event.active,
        status: event.status.clone(),
    })
    .to_json()
    .ok()
}
