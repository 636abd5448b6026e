//! Undoing a commit's operations on its proof blocks (the sync 1.1 `prevData` check).
//!
//! A sync 1.1 `#commit` carries, besides the new records, the MST nodes that cover each
//! operation's key in the new tree ([`Mst::covering_proof`]). From those blocks alone a consumer
//! can load the new tree partially, undo every operation, and compare the resulting root with
//! the commit's `prevData`: if they match, the commit really is the previous state plus exactly
//! these operations.

use cid::Cid;

use super::{Mst, MstError};
use crate::blockstore::BlockSource;

/// One record operation of a commit, as the firehose describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MstOp {
    /// `key` was created with value `cid`.
    Create {
        /// The record path.
        key: String,
        /// The new record's CID.
        cid: Cid,
    },
    /// `key` changed from `prev` to `cid`.
    Update {
        /// The record path.
        key: String,
        /// The new record's CID.
        cid: Cid,
        /// The previous record's CID.
        prev: Cid,
    },
    /// `key` (whose value was `prev`) was deleted.
    Delete {
        /// The record path.
        key: String,
        /// The deleted record's CID.
        prev: Cid,
    },
}

impl MstOp {
    /// The record path the operation is on.
    pub fn key(&self) -> &str {
        match self {
            Self::Create { key, .. } | Self::Update { key, .. } | Self::Delete { key, .. } => key,
        }
    }

    /// The key's value after the operation (`None`: deleted).
    pub fn after(&self) -> Option<Cid> {
        match self {
            Self::Create { cid, .. } | Self::Update { cid, .. } => Some(*cid),
            Self::Delete { .. } => None,
        }
    }

    /// The key's value before the operation (`None`: did not exist).
    pub fn before(&self) -> Option<Cid> {
        match self {
            Self::Create { .. } => None,
            Self::Update { prev, .. } | Self::Delete { prev, .. } => Some(*prev),
        }
    }
}

/// Loads the tree `root_after` from `proof_blocks` (partially), undoes `ops` (last first),
/// checking that each key holds the value the op says it has after the commit, and returns the
/// root CID before the commit.
///
/// Fails with [`MstError::MissingBlock`] when the proof lacks a node the inversion needs, and
/// with [`MstError::OpMismatch`] when the tree contradicts an op.
pub fn invert_ops<S: BlockSource>(
    root_after: Cid,
    ops: &[MstOp],
    proof_blocks: &S,
) -> Result<Cid, MstError> {
    let mut tree = Mst::load(root_after, proof_blocks)?;
    for op in ops.iter().rev() {
        invert_op(&mut tree, op)?;
    }
    Ok(tree.root_cid())
}

/// Undoes one operation on a tree, checking the key's current value first.
pub(crate) fn invert_op(tree: &mut Mst, op: &MstOp) -> Result<(), MstError> {
    let key = op.key();
    let found = tree.get(key)?;
    if found != op.after() {
        return Err(MstError::OpMismatch {
            key: key.to_owned(),
            expected: op.after(),
            found,
        });
    }
    match op.before() {
        Some(prev) => {
            tree.insert(key, prev)?;
        }
        None => {
            tree.remove(key)?;
        }
    }
    Ok(())
}
