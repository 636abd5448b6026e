//! The atproto Merkle Search Tree (MST): the sorted map from record path to record CID that a
//! repo commit signs.
//!
//! Keys are record paths `collection/rkey`. Each key has a *layer*: the number of leading zero
//! bits of its sha-256, counted in 2-bit steps (fanout 4). A node holds the keys of one layer that
//! fall between two keys of a higher layer, in order, with links to subtrees of the layer below in
//! the gaps (`l` before the first entry, `t` after each entry). Nodes are DAG-CBOR
//! `{l, e: [{p, k, v, t}]}` where each key is stored as the length `p` of the prefix it shares
//! with the previous key of the node plus the rest `k`. The shape of the tree depends only on its
//! keys, so equal maps have equal root CIDs.
//!
//! - [`walk`]: read a tree from blocks, in key order, checking its structure (streaming, for
//!   whole-repo reads).
//! - [`Mst`]: an in-memory tree to build and edit: insert, update, delete, root CID, the blocks
//!   that changed, covering proofs; it may be partial (loaded from a commit's proof blocks).
//! - [`invert_ops`]: undo a commit's operations on its proof blocks to recover the previous root
//!   (the sync 1.1 `prevData` check).

// Errors name the CIDs involved (a CID is ~90 bytes); they are rare, so their size costs
// nothing on the success path, and boxing them would only add noise.
#![allow(clippy::result_large_err)]

mod node;
mod proof;
mod tree;
pub mod walk;

use cid::Cid;

pub use proof::{MstOp, invert_ops};
pub use tree::{Mst, TreeItem};
pub use walk::{MstEntry, MstWalker, walk};

#[cfg(test)]
mod tree_tests;

use crate::blockstore::BlockstoreError;

/// Longest MST key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Why a tree could not be read, built or edited.
#[derive(Debug, thiserror::Error)]
pub enum MstError {
    /// A key is not `collection/rkey` made of `[A-Za-z0-9_~.:-]`, at most 1024 bytes.
    #[error("invalid MST key {key:?}: {reason}")]
    InvalidKey {
        /// The key (lossily decoded when not UTF-8).
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Keys are not in strictly increasing order.
    #[error("MST keys out of order in node {node}: {key:?} comes after {previous:?}")]
    KeysOutOfOrder {
        /// The node where the out-of-order key was found.
        node: Cid,
        /// The key before.
        previous: String,
        /// The key that should have sorted after it.
        key: String,
    },
    /// A key sits in a node of the wrong layer.
    #[error("MST key {key:?} has layer {key_layer} but sits in node {node} at layer {node_layer}")]
    WrongLayer {
        /// The node.
        node: Cid,
        /// The key.
        key: String,
        /// The key's own layer (from its hash).
        key_layer: u8,
        /// The layer the node is at.
        node_layer: u8,
    },
    /// A node links to a subtree although it is at layer 0.
    #[error("MST node {node} is at layer 0 but links to a subtree {child}")]
    SubtreeBelowLayerZero {
        /// The node.
        node: Cid,
        /// The link it should not have.
        child: Cid,
    },
    /// A node other than the root of an empty tree has no entries and no subtree.
    #[error("MST node {node} is empty but is not the root of an empty tree")]
    EmptyNode {
        /// The node.
        node: Cid,
    },
    /// The root has no entries of its own, only a subtree: the tree was not trimmed.
    #[error("MST root {node} has no entries, only a subtree link (the tree is not trimmed)")]
    UntrimmedRoot {
        /// The root node.
        node: Cid,
    },
    /// An entry's prefix length is longer than the previous key (or non-zero on the first).
    #[error(
        "MST node {node}: entry {index} claims a {prefix}-byte prefix of a {available}-byte key"
    )]
    BadPrefix {
        /// The node.
        node: Cid,
        /// Index of the entry in the node.
        index: usize,
        /// The prefix length it claims.
        prefix: u64,
        /// The length of the previous key.
        available: usize,
    },
    /// A node block is not a valid MST node.
    #[error("MST node {node} is not a valid node: {reason}")]
    Decode {
        /// The block.
        node: Cid,
        /// What is wrong.
        reason: String,
    },
    /// A block of the tree is not available.
    #[error("MST node {cid} is missing ({location})")]
    MissingBlock {
        /// The absent block.
        cid: Cid,
        /// Where in the tree it hangs, in key terms.
        location: KeyRange,
    },
    /// An operation to undo does not match the tree it is applied to.
    #[error(
        "MST operation on {key:?} does not match the tree: expected {expected:?}, found {found:?}"
    )]
    OpMismatch {
        /// The key.
        key: String,
        /// The value the operation says the key has after the commit (`None`: absent).
        expected: Option<Cid>,
        /// The value the tree has.
        found: Option<Cid>,
    },
    /// The block source failed.
    #[error(transparent)]
    Blockstore(#[from] BlockstoreError),
}

/// Where a subtree hangs: between two keys (either may be open).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    /// The last key before the subtree, if any.
    pub after: Option<String>,
    /// The first key after the subtree, if any.
    pub before: Option<String>,
}

impl std::fmt::Display for KeyRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.after, &self.before) {
            (None, None) => f.write_str("the whole tree"),
            (Some(after), None) => write!(f, "the keys after {after:?}"),
            (None, Some(before)) => write!(f, "the keys before {before:?}"),
            (Some(after), Some(before)) => {
                write!(f, "the keys between {after:?} and {before:?}")
            }
        }
    }
}

/// The layer of a key: leading zero bits of its sha-256, in 2-bit steps.
pub fn key_layer(key: &[u8]) -> u8 {
    let digest = crate::data::sha256(key);
    let mut zero_bits = 0u32;
    for byte in digest {
        if byte == 0 {
            zero_bits += 8;
        } else {
            zero_bits += byte.leading_zeros();
            break;
        }
    }
    // At most 256 / 2 = 128: fits a u8.
    u8::try_from(zero_bits / 2).unwrap_or(u8::MAX)
}

/// Length of the common prefix of two byte strings.
pub fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn is_key_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'~' | b'-' | b':' | b'.')
}

/// Checks MST key syntax: `collection/rkey`, both parts non-empty, `[A-Za-z0-9_~.:-]`, at most
/// [`MAX_KEY_LEN`] bytes.
pub fn check_key(key: &[u8]) -> Result<(), MstError> {
    let invalid = |reason| MstError::InvalidKey {
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    if key.len() > MAX_KEY_LEN {
        return Err(invalid("longer than 1024 bytes"));
    }
    let Some(slash) = key.iter().position(|&b| b == b'/') else {
        return Err(invalid("no '/' between collection and record key"));
    };
    let (collection, rkey) = (&key[..slash], &key[slash + 1..]);
    if collection.is_empty() || rkey.is_empty() {
        return Err(invalid("empty collection or record key"));
    }
    if !collection.iter().copied().all(is_key_char) || !rkey.iter().copied().all(is_key_char) {
        return Err(invalid(
            "characters outside [A-Za-z0-9_~.:-] (or a second '/')",
        ));
    }
    Ok(())
}

/// Whether `key` is a valid MST key (see [`check_key`]).
pub fn is_valid_key(key: &str) -> bool {
    check_key(key.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::read_fixture;

    #[derive(serde::Deserialize)]
    struct Height {
        key: String,
        height: u8,
    }

    #[derive(serde::Deserialize)]
    struct Prefix {
        left: String,
        right: String,
        len: usize,
    }

    #[test]
    fn key_heights_match_the_interop_fixture() {
        let cases: Vec<Height> =
            serde_json::from_slice(&read_fixture("interop-tests/mst/key_heights.json")).unwrap();
        assert_eq!(cases.len(), 9);
        for case in cases {
            assert_eq!(
                key_layer(case.key.as_bytes()),
                case.height,
                "{:?}",
                case.key
            );
        }
    }

    #[test]
    fn common_prefixes_match_the_interop_fixture() {
        let cases: Vec<Prefix> =
            serde_json::from_slice(&read_fixture("interop-tests/mst/common_prefix.json")).unwrap();
        assert_eq!(cases.len(), 13);
        for case in cases {
            assert_eq!(
                common_prefix_len(case.left.as_bytes(), case.right.as_bytes()),
                case.len,
                "{:?} / {:?}",
                case.left,
                case.right
            );
        }
    }

    #[test]
    fn every_example_key_has_the_layer_its_name_says() {
        let text = String::from_utf8(read_fixture("interop-tests/mst/example_keys.txt")).unwrap();
        let keys: Vec<&str> = text.lines().filter(|line| !line.is_empty()).collect();
        assert_eq!(keys.len(), 156);
        for key in keys {
            let expected = key.as_bytes()[1] - b'0';
            assert_eq!(key_layer(key.as_bytes()), expected, "{key}");
            assert!(is_valid_key(key), "{key}");
        }
    }

    #[test]
    fn key_syntax() {
        for good in [
            "app.bsky.feed.post/3jui7kd54zh2y",
            "a/b",
            "com.example.thing/self",
            "x/a:b~c_d-e.f",
        ] {
            assert!(is_valid_key(good), "{good}");
        }
        let long = format!("a/{}", "b".repeat(1023));
        for bad in [
            "",
            "nokey",
            "/rkey",
            "collection/",
            "a/b/c",
            "a/b c",
            "a/é",
            long.as_str(),
        ] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
    }
}
