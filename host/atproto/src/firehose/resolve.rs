//! Resolving a `#commit` (or `#sync`) against its CAR slice: the signed commit block is found,
//! decoded, checked against the frame (same account, same rev) and optionally verified; each
//! create or update op is paired with its record block.

use bytes::Bytes;
use cid::Cid;

use super::car_slice::CarSlice;
use super::messages::{CommitEvent, SyncEvent};
use super::prev_data::{PrevDataCheck, check_prev_data};
use crate::car::CarError;
use crate::commit::{Commit, CommitError};
use crate::crypto::PublicKey;
use crate::mst;
use crate::repo::{OpAction, RepoOp};

/// Why a `#commit` or `#sync` could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The CAR slice is malformed or a block does not match its CID.
    #[error("blocks: {0}")]
    Car(#[from] CarError),
    /// The CAR slice's root is not the CID the frame names as its commit.
    #[error("the CAR slice's root {car_root} is not the frame's commit {frame_commit}")]
    RootMismatch {
        /// The frame's `commit` field.
        frame_commit: Cid,
        /// The slice's first root.
        car_root: Cid,
    },
    /// The commit block is not in the slice.
    #[error("the commit block {0} is not in the CAR slice")]
    MissingCommit(Cid),
    /// The commit block is malformed, or its signature does not verify.
    #[error("commit {cid}: {source}")]
    Commit {
        /// The commit block's CID.
        cid: Cid,
        /// What is wrong.
        source: CommitError,
    },
    /// The signed commit is for another account than the frame says.
    #[error("the frame is for {frame} but its signed commit is for {commit}")]
    DidMismatch {
        /// The frame's `repo` / `did`.
        frame: String,
        /// The commit's `did`.
        commit: String,
    },
    /// The signed commit has another rev than the frame says.
    #[error("the frame has rev {frame} but its signed commit has rev {commit:?}")]
    RevMismatch {
        /// The frame's `rev`.
        frame: String,
        /// The commit's `rev` (absent in a version 2 commit).
        commit: Option<String>,
    },
    /// An op is malformed: a bad path, or fields that do not fit its action.
    #[error("op #{index} ({path}): {reason}")]
    InvalidOp {
        /// Position of the op in the frame.
        index: usize,
        /// The op's path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A create or update names a record block the slice does not carry.
    #[error("op {path}: record block {cid} is not in the CAR slice")]
    MissingRecord {
        /// The op's path.
        path: String,
        /// The record CID the op names.
        cid: Cid,
    },
}

/// One op of a resolved commit.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedOp {
    /// What happened.
    pub action: OpAction,
    /// The record path `collection/rkey`.
    pub path: String,
    /// The new record's CID (`None` for a delete).
    pub cid: Option<Cid>,
    /// The previous record's CID (sync 1.1; `None` for a create or a legacy op).
    pub prev: Option<Cid>,
    /// The new record's DAG-CBOR bytes (`None` for a delete).
    pub record: Option<Bytes>,
}

impl ResolvedOp {
    /// The collection NSID (the path before the `/`).
    pub fn collection(&self) -> &str {
        self.path
            .split_once('/')
            .map_or("", |(collection, _)| collection)
    }

    /// The record key (the path after the `/`).
    pub fn rkey(&self) -> &str {
        self.path.split_once('/').map_or("", |(_, rkey)| rkey)
    }

    /// The op as the frame listed it.
    pub fn to_repo_op(&self) -> RepoOp {
        RepoOp {
            action: self.action,
            path: self.path.clone(),
            cid: self.cid,
            prev: self.prev,
        }
    }
}

/// A `#commit` whose signed commit was found and checked and whose ops were resolved.
#[derive(Debug, Clone)]
pub struct ResolvedCommit {
    /// The stream sequence number.
    pub seq: i64,
    /// The account.
    pub did: String,
    /// The commit's rev.
    pub rev: String,
    /// The previous rev, as the frame says.
    pub since: Option<String>,
    /// The frame's `time`.
    pub time: String,
    /// The commit block's CID.
    pub commit_cid: Cid,
    /// The decoded commit (its `data` is the new MST root).
    pub commit: Commit,
    /// Sync 1.1: the MST root before the commit, as the frame says.
    pub prev_data: Option<Cid>,
    /// Whether the commit signature was checked.
    pub signature_verified: bool,
    /// The ops with their records.
    pub ops: Vec<ResolvedOp>,
    /// The verified blocks of the slice.
    pub blocks: CarSlice,
}

impl ResolvedCommit {
    /// The ops as the frame listed them.
    pub fn repo_ops(&self) -> Vec<RepoOp> {
        self.ops.iter().map(ResolvedOp::to_repo_op).collect()
    }

    /// The sync 1.1 check of this commit (see [`check_prev_data`]).
    pub fn check_prev_data(&self) -> PrevDataCheck {
        check_prev_data(
            self.commit.data,
            &self.repo_ops(),
            self.prev_data,
            &self.blocks,
        )
    }
}

/// A `#sync` whose signed commit was found and checked.
#[derive(Debug, Clone)]
pub struct ResolvedSync {
    /// The stream sequence number.
    pub seq: i64,
    /// The account.
    pub did: String,
    /// The commit's rev.
    pub rev: String,
    /// The commit block's CID.
    pub commit_cid: Cid,
    /// The decoded commit (its `data` is the repo's MST root now).
    pub commit: Commit,
    /// Whether the commit signature was checked.
    pub signature_verified: bool,
}

/// Finds, decodes and checks the signed commit at the slice's root.
fn load_commit(
    blocks: &CarSlice,
    expected_root: Option<Cid>,
    did: &str,
    rev: &str,
    key: Option<&PublicKey>,
) -> Result<(Cid, Commit), ResolveError> {
    let car_root = blocks
        .root()
        .ok_or_else(|| CarError::Header("no roots".to_owned()))?;
    if let Some(frame_commit) = expected_root
        && frame_commit != car_root
    {
        return Err(ResolveError::RootMismatch {
            frame_commit,
            car_root,
        });
    }
    let bytes = blocks
        .get(&car_root)
        .ok_or(ResolveError::MissingCommit(car_root))?;
    let commit = Commit::decode(bytes).map_err(|source| ResolveError::Commit {
        cid: car_root,
        source,
    })?;
    if commit.did != did {
        return Err(ResolveError::DidMismatch {
            frame: did.to_owned(),
            commit: commit.did,
        });
    }
    if commit.rev.as_deref() != Some(rev) {
        return Err(ResolveError::RevMismatch {
            frame: rev.to_owned(),
            commit: commit.rev,
        });
    }
    if let Some(key) = key {
        commit.verify(key).map_err(|source| ResolveError::Commit {
            cid: car_root,
            source,
        })?;
    }
    Ok((car_root, commit))
}

/// Checks that an op's fields fit its action and its path is a record path.
fn check_op(index: usize, op: &RepoOp) -> Result<(), ResolveError> {
    let invalid = |reason: String| ResolveError::InvalidOp {
        index,
        path: op.path.clone(),
        reason,
    };
    mst::check_key(op.path.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    match (op.action, op.cid, op.prev) {
        (OpAction::Create, None, _) | (OpAction::Update, None, _) => {
            Err(invalid("a create or update needs a `cid`".to_owned()))
        }
        (OpAction::Create, Some(_), Some(_)) => {
            Err(invalid("a create cannot have a `prev`".to_owned()))
        }
        (OpAction::Delete, Some(_), _) => Err(invalid("a delete cannot have a `cid`".to_owned())),
        _ => Ok(()),
    }
}

/// A `#commit`'s slice parsed and its signed commit checked, before the ops are resolved.
pub(super) struct OpenedCommit {
    pub(super) commit_cid: Cid,
    pub(super) commit: Commit,
    pub(super) blocks: CarSlice,
}

/// Parses a `#commit`'s slice and checks its signed commit (see [`resolve_commit`]).
pub(super) fn open_commit(
    event: &CommitEvent,
    key: Option<&PublicKey>,
) -> Result<OpenedCommit, ResolveError> {
    let blocks = CarSlice::parse(&event.blocks)?;
    let (commit_cid, commit) =
        load_commit(&blocks, Some(event.commit), &event.repo, &event.rev, key)?;
    Ok(OpenedCommit {
        commit_cid,
        commit,
        blocks,
    })
}

/// Checks every op and pairs each create and update with its record block.
pub(super) fn resolve_ops(
    ops: &[RepoOp],
    blocks: &CarSlice,
) -> Result<Vec<ResolvedOp>, ResolveError> {
    let mut resolved = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        check_op(index, op)?;
        let record = match (op.action, op.cid) {
            (OpAction::Create | OpAction::Update, Some(cid)) => Some(
                blocks
                    .get(&cid)
                    .cloned()
                    .ok_or_else(|| ResolveError::MissingRecord {
                        path: op.path.clone(),
                        cid,
                    })?,
            ),
            _ => None,
        };
        resolved.push(ResolvedOp {
            action: op.action,
            path: op.path.clone(),
            cid: op.cid,
            prev: op.prev,
            record,
        });
    }
    Ok(resolved)
}

impl OpenedCommit {
    /// Completes the resolution with the resolved ops.
    pub(super) fn into_resolved(
        self,
        event: &CommitEvent,
        ops: Vec<ResolvedOp>,
        signature_verified: bool,
    ) -> ResolvedCommit {
        ResolvedCommit {
            seq: event.seq,
            did: event.repo.clone(),
            rev: event.rev.clone(),
            since: event.since.clone(),
            time: event.time.clone(),
            commit_cid: self.commit_cid,
            commit: self.commit,
            prev_data: event.prev_data,
            signature_verified,
            ops,
            blocks: self.blocks,
        }
    }
}

/// Resolves a `#commit`: parses and verifies its CAR slice, checks the signed commit against
/// the frame (root, account, rev) and, when `key` is given, its signature; then pairs every
/// create and update with its record block.
pub fn resolve_commit(
    event: &CommitEvent,
    key: Option<&PublicKey>,
) -> Result<ResolvedCommit, ResolveError> {
    let opened = open_commit(event, key)?;
    let ops = resolve_ops(&event.ops, &opened.blocks)?;
    Ok(opened.into_resolved(event, ops, key.is_some()))
}

/// Resolves a `#sync`: parses its CAR slice and checks the signed commit at its root against
/// the frame (account, rev) and, when `key` is given, its signature.
pub fn resolve_sync(
    event: &SyncEvent,
    key: Option<&PublicKey>,
) -> Result<ResolvedSync, ResolveError> {
    let blocks = CarSlice::parse(&event.blocks)?;
    let (commit_cid, commit) = load_commit(&blocks, None, &event.did, &event.rev, key)?;
    Ok(ResolvedSync {
        seq: event.seq,
        did: event.did.clone(),
        rev: event.rev.clone(),
        commit_cid,
        commit,
        signature_verified: key.is_some(),
    })
}
