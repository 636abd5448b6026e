//! The sync 1.1 `prevData` check.
//!
//! A sync 1.1 `#commit` carries, beside the new records, the MST nodes that cover each op's key
//! in the new tree, and `prevData`, the MST root before the commit. Loading the new tree from
//! the slice (partially), undoing the ops (a create is removed, an update is put back to its
//! `prev`, a delete is re-inserted with its `prev`) and hashing the result must give
//! `prevData`: then the commit is exactly the previous state plus these ops, and a consumer who
//! saw the previous state has missed nothing.

use cid::Cid;

use crate::blockstore::BlockSource;
use crate::mst::{self, KeyRange, MstError};
use crate::repo::{OpAction, RepoOp};

/// The outcome of the `prevData` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrevDataCheck {
    /// Undoing the ops gives `prevData`: the commit is exactly its ops.
    Verified {
        /// The previous root (equal to the frame's `prevData`).
        prev_data: Cid,
    },
    /// The commit contradicts itself: its ops do not lead from `prevData` to its tree.
    Mismatch(ChainBreak),
    /// The check cannot be made (a legacy commit, or a proof that is not complete).
    CannotCheck(Unverifiable),
}

impl PrevDataCheck {
    /// Whether the commit was verified.
    pub fn is_verified(&self) -> bool {
        matches!(self, Self::Verified { .. })
    }
}

/// How a commit's ops contradict its tree or its `prevData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// Undoing the ops gives another root than `prevData`.
    RootDiffers {
        /// The frame's `prevData`.
        prev_data: Cid,
        /// The root obtained by undoing the ops.
        inverted: Cid,
    },
    /// The new tree does not hold what an op says it holds after the commit.
    OpContradictsTree {
        /// The op's path.
        path: String,
        /// The value the op says the key has after the commit (`None`: absent).
        expected: Option<Cid>,
        /// The value the tree has.
        found: Option<Cid>,
    },
    /// The proof blocks do not form a valid MST (or an op's path is not a valid key).
    InvalidTree(String),
}

/// Why the check could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unverifiable {
    /// The frame has no `prevData` (a commit from before sync 1.1). `inverted` is the previous
    /// root the ops lead back to, when the proof allowed undoing them.
    NoPrevData {
        /// The root obtained by undoing the ops.
        inverted: Cid,
    },
    /// An update or delete has no `prev` (a pre-sync-1.1 op): it cannot be undone.
    LegacyOp {
        /// The op's path.
        path: String,
        /// Its action.
        action: OpAction,
    },
    /// The slice lacks an MST node needed to undo the ops.
    ProofIncomplete {
        /// The absent node.
        missing: Cid,
        /// Where it hangs in the tree.
        location: KeyRange,
        /// The frame's `prevData`, if it has one.
        prev_data: Option<Cid>,
    },
}

/// Loads the tree `data` (the commit's MST root) from `blocks`, undoes `ops`, and compares the
/// root obtained with `prev_data`. Without `prev_data` the ops are still undone, so that the
/// outcome says whether the proof was complete.
///
/// The ops of one commit touch distinct keys, so they can be undone in any order and give the
/// same root; but on a partial tree, which nodes are needed depends on the order, and a thin
/// proof may suffice for one order and not another. The ops are therefore undone in one
/// canonical order, whatever order the frame lists them in: by path, ascending (the order the
/// reference implementation uses, so both reach the same verdict on the same commit).
pub fn check_prev_data<S: BlockSource>(
    data: Cid,
    ops: &[RepoOp],
    prev_data: Option<Cid>,
    blocks: &S,
) -> PrevDataCheck {
    let mut sorted: Vec<&RepoOp> = ops.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let duplicate = sorted.windows(2).find_map(|pair| match pair {
        [a, b] if a.path == b.path => Some(a.path.clone()),
        _ => None,
    });
    if let Some(path) = duplicate {
        return PrevDataCheck::Mismatch(ChainBreak::InvalidTree(format!(
            "the commit has two ops on {path}"
        )));
    }
    // `invert_ops` undoes the last op first: hand it the ops in descending order.
    sorted.reverse();
    let mut mst_ops = Vec::with_capacity(ops.len());
    for op in sorted {
        match op.to_mst_op() {
            Some(mst_op) => mst_ops.push(mst_op),
            None if op.action == OpAction::Create => {
                return PrevDataCheck::Mismatch(ChainBreak::InvalidTree(format!(
                    "create of {} has no cid",
                    op.path
                )));
            }
            None => {
                return PrevDataCheck::CannotCheck(Unverifiable::LegacyOp {
                    path: op.path.clone(),
                    action: op.action,
                });
            }
        }
    }
    let inverted = match mst::invert_ops(data, &mst_ops, blocks) {
        Ok(root) => root,
        Err(MstError::MissingBlock { cid, location }) => {
            return PrevDataCheck::CannotCheck(Unverifiable::ProofIncomplete {
                missing: cid,
                location,
                prev_data,
            });
        }
        Err(MstError::OpMismatch {
            key,
            expected,
            found,
        }) => {
            return PrevDataCheck::Mismatch(ChainBreak::OpContradictsTree {
                path: key,
                expected,
                found,
            });
        }
        Err(other) => return PrevDataCheck::Mismatch(ChainBreak::InvalidTree(other.to_string())),
    };
    match prev_data {
        None => PrevDataCheck::CannotCheck(Unverifiable::NoPrevData { inverted }),
        Some(prev_data) if prev_data == inverted => PrevDataCheck::Verified { prev_data },
        Some(prev_data) => PrevDataCheck::Mismatch(ChainBreak::RootDiffers {
            prev_data,
            inverted,
        }),
    }
}
