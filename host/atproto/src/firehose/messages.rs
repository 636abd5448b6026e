//! The typed bodies of firehose messages, field for field as the lexicons define them
//! (`com.atproto.sync.subscribeRepos#…`, `com.atproto.label.subscribeLabels#…`).

use std::collections::BTreeMap;

use bytes::Bytes;
use cid::Cid;
use ipld_core::ipld::Ipld;

use super::car_slice::CarSlice;
use crate::commit::Commit;
use crate::label::Label;
use crate::repo::{CommitDiff, RepoOp};

/// Body fields this code does not know (or knows but could not express, such as an explicit
/// `null` where the lexicon says "absent"), kept so that re-encoding gives the same bytes.
/// When encoding, an entry here replaces the typed field of the same name.
pub type Extra = BTreeMap<String, Ipld>;

/// `#commit`: a repo commit with the blocks that changed.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitEvent {
    /// The stream sequence number.
    pub seq: i64,
    /// The account's DID.
    pub repo: String,
    /// The CID of the signed commit block (the CAR slice's root).
    pub commit: Cid,
    /// The commit's revision (a TID).
    pub rev: String,
    /// The previous commit's revision (`null` for a repo's first commit).
    pub since: Option<String>,
    /// The CAR slice: the commit block, the changed MST nodes and records, and (sync 1.1) the
    /// proof nodes needed to undo the ops.
    pub blocks: Bytes,
    /// The record operations.
    pub ops: Vec<RepoOp>,
    /// Deprecated: blobs referenced by the new records (usually empty).
    pub blobs: Vec<Cid>,
    /// When the event was emitted (datetime string, as sent).
    pub time: String,
    /// Sync 1.1: the MST root before this commit.
    pub prev_data: Option<Cid>,
    /// Deprecated (always false now).
    pub rebase: bool,
    /// Deprecated: the commit was too big to carry its blocks.
    pub too_big: bool,
    /// Unknown fields (e.g. the retired `prev`), kept for re-encoding.
    pub extra: Extra,
}

impl CommitEvent {
    /// The `#commit` a PDS emits for a commit built with [`crate::repo::Repo::apply_writes`]:
    /// its blocks (with the sync 1.1 proof) as the CAR slice, its ops, `since` and `prevData`.
    pub fn from_commit_diff(diff: &CommitDiff, seq: i64, time: impl Into<String>) -> Self {
        let blocks = CarSlice::write(
            diff.commit_cid,
            diff.blocks.iter().map(|(cid, bytes)| (*cid, bytes)),
        );
        Self {
            seq,
            repo: diff.commit.did.clone(),
            commit: diff.commit_cid,
            rev: diff.commit.rev.clone().unwrap_or_default(),
            since: diff.since.clone(),
            blocks: Bytes::from(blocks),
            ops: diff.ops.clone(),
            blobs: Vec::new(),
            time: time.into(),
            prev_data: diff.prev_data,
            rebase: false,
            too_big: false,
            extra: Extra::new(),
        }
    }
}

/// `#sync`: the repo's state was reset; consumers must fetch it afresh.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncEvent {
    /// The stream sequence number.
    pub seq: i64,
    /// The account's DID.
    pub did: String,
    /// A CAR slice holding only the signed commit block.
    pub blocks: Bytes,
    /// The commit's revision.
    pub rev: String,
    /// When the event was emitted.
    pub time: String,
    /// Unknown fields.
    pub extra: Extra,
}

impl SyncEvent {
    /// The `#sync` a PDS emits to reset a repo to `commit`: a CAR slice holding only the
    /// commit block.
    pub fn from_commit(commit: &Commit, seq: i64, time: impl Into<String>) -> Self {
        let (cid, bytes) = commit.to_block();
        Self {
            seq,
            did: commit.did.clone(),
            blocks: Bytes::from(CarSlice::write(cid, [(cid, bytes)])),
            rev: commit.rev.clone().unwrap_or_default(),
            time: time.into(),
            extra: Extra::new(),
        }
    }
}

/// `#identity`: the account's DID document or handle may have changed.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityEvent {
    /// The stream sequence number.
    pub seq: i64,
    /// The account's DID.
    pub did: String,
    /// When the event was emitted.
    pub time: String,
    /// The current handle, if the emitter checked it.
    pub handle: Option<String>,
    /// Unknown fields.
    pub extra: Extra,
}

/// `#account`: the account's hosting status changed.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountEvent {
    /// The stream sequence number.
    pub seq: i64,
    /// The account's DID.
    pub did: String,
    /// When the event was emitted.
    pub time: String,
    /// Whether the account is active (its repo may be served).
    pub active: bool,
    /// Why it is not active (`takendown`, `suspended`, `deleted`, `deactivated`,
    /// `desynchronized`, `throttled`, or another value).
    pub status: Option<String>,
    /// Unknown fields.
    pub extra: Extra,
}

/// `#info`: an informational message from the server (e.g. `OutdatedCursor`).
#[derive(Debug, Clone, PartialEq)]
pub struct InfoEvent {
    /// The kind of message.
    pub name: String,
    /// Human-readable text.
    pub message: Option<String>,
    /// Unknown fields.
    pub extra: Extra,
}

/// `#labels` (subscribeLabels): new labels and negations.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelsEvent {
    /// The stream sequence number.
    pub seq: i64,
    /// The labels.
    pub labels: Vec<Label>,
    /// Unknown fields.
    pub extra: Extra,
}

/// An error frame (`op: -1`); the server closes the stream after it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorFrame {
    /// The error name (e.g. `FutureCursor`, `ConsumerTooSlow`).
    pub error: String,
    /// Human-readable text.
    pub message: Option<String>,
    /// Unknown fields.
    pub extra: Extra,
}

/// A message of a type this code does not handle; callers count it and skip it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownMessage {
    /// The header's `t`.
    pub t: String,
    /// The body's DAG-CBOR bytes, untouched.
    pub body: Bytes,
}
