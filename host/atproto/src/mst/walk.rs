//! Walking a stored MST in key order, checking its structure as it goes.
//!
//! The walker holds one decoded node per level of the tree (about ten for a repo of a million
//! records), never the whole tree. Each node is checked: keys valid and increasing across the
//! whole walk, every key in a node of its own layer, subtrees exactly one layer down, no empty
//! nodes except the root of an empty tree, no untrimmed root. A missing node is reported with its
//! CID and the key range it would have covered, and the walk goes on after that subtree (so a
//! partial repo yields all it has); after any other error the walk ends.

use cid::Cid;

use super::node::{self, DecodedNode};
use super::{KeyRange, MstError};
use crate::blockstore::BlockSource;

/// One entry of the tree: a record path and its record's CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MstEntry {
    /// The record path, `collection/rkey`.
    pub key: String,
    /// The record's CID.
    pub value: Cid,
}

/// A node being walked, and how far.
struct Frame {
    cid: Cid,
    node: DecodedNode,
    layer: u8,
    /// 0: visit the left subtree; 2i+1: yield entry i; 2i+2: visit the subtree after entry i.
    step: usize,
}

/// An iterator over the entries of a stored tree in key order (see the module docs).
pub struct MstWalker<S> {
    source: S,
    stack: Vec<Frame>,
    pending_root: Option<Cid>,
    previous_key: Vec<u8>,
    has_previous: bool,
    nodes: u64,
    finished: bool,
}

/// Walks the tree rooted at `root`, reading nodes from `source`.
pub fn walk<S: BlockSource>(root: Cid, source: S) -> MstWalker<S> {
    MstWalker {
        source,
        stack: Vec::with_capacity(16),
        pending_root: Some(root),
        previous_key: Vec::with_capacity(64),
        has_previous: false,
        nodes: 0,
        finished: false,
    }
}

impl<S: BlockSource> MstWalker<S> {
    /// Number of MST nodes read so far.
    pub fn nodes_read(&self) -> u64 {
        self.nodes
    }

    /// The block source the walker reads from.
    pub fn source(&self) -> &S {
        &self.source
    }

    fn load(
        &mut self,
        cid: &Cid,
        location: impl FnOnce() -> KeyRange,
    ) -> Result<DecodedNode, MstError> {
        let Some(bytes) = self.source.get_block(cid)? else {
            return Err(MstError::MissingBlock {
                cid: *cid,
                location: location(),
            });
        };
        self.nodes += 1;
        node::decode(cid, &bytes)
    }

    fn previous_key(&self) -> Option<String> {
        self.has_previous
            .then(|| String::from_utf8_lossy(&self.previous_key).into_owned())
    }

    fn push_root(&mut self, root: Cid) -> Result<(), MstError> {
        let node = self.load(&root, KeyRange::default)?;
        let Some(layer) = node.layer else {
            if node.left.is_some() {
                return Err(MstError::UntrimmedRoot { node: root });
            }
            // The empty tree.
            return Ok(());
        };
        self.stack.push(Frame {
            cid: root,
            node,
            layer,
            step: 0,
        });
        Ok(())
    }

    /// Descends from the frame on top of the stack into `child`, one layer down.
    fn push_child(&mut self, child: Cid, before: Option<String>) -> Result<(), MstError> {
        let (parent_cid, parent_layer) = match self.stack.last() {
            Some(frame) => (frame.cid, frame.layer),
            None => return Ok(()),
        };
        let Some(layer) = parent_layer.checked_sub(1) else {
            return Err(MstError::SubtreeBelowLayerZero {
                node: parent_cid,
                child,
            });
        };
        let after = self.previous_key();
        let node = self.load(&child, || KeyRange { after, before })?;
        match node.layer {
            Some(found) if found != layer => {
                let key = node.key_at(0).unwrap_or_default().to_owned();
                return Err(MstError::WrongLayer {
                    node: child,
                    key,
                    key_layer: found,
                    node_layer: layer,
                });
            }
            None if node.left.is_none() => return Err(MstError::EmptyNode { node: child }),
            _ => {}
        }
        self.stack.push(Frame {
            cid: child,
            node,
            layer,
            step: 0,
        });
        Ok(())
    }

    fn advance(&mut self) -> Result<Option<MstEntry>, MstError> {
        if let Some(root) = self.pending_root.take() {
            self.push_root(root)?;
        }
        loop {
            let Some(frame) = self.stack.last_mut() else {
                return Ok(None);
            };
            let step = frame.step;
            frame.step += 1;
            if step == 0 {
                if let Some(left) = frame.node.left {
                    let before = frame.node.key_at(0).map(str::to_owned);
                    self.push_child(left, before)?;
                }
                continue;
            }
            let index = (step - 1) / 2;
            let Some(entry) = frame.node.entries.get(index) else {
                self.stack.pop();
                continue;
            };
            if step % 2 == 0 {
                if let Some(right) = entry.right {
                    let before = frame.node.key_at(index + 1).map(str::to_owned);
                    self.push_child(right, before)?;
                }
                continue;
            }
            let key = frame.node.key(entry);
            if self.has_previous && key.as_bytes() <= self.previous_key.as_slice() {
                return Err(MstError::KeysOutOfOrder {
                    node: frame.cid,
                    previous: String::from_utf8_lossy(&self.previous_key).into_owned(),
                    key: key.to_owned(),
                });
            }
            self.previous_key.clear();
            self.previous_key.extend_from_slice(key.as_bytes());
            self.has_previous = true;
            return Ok(Some(MstEntry {
                key: key.to_owned(),
                value: entry.value,
            }));
        }
    }
}

impl<S: BlockSource> Iterator for MstWalker<S> {
    type Item = Result<MstEntry, MstError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.advance() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(error) => {
                // An absent subtree is skipped (the walk goes on past it, in order); any other
                // error ends the walk.
                self.finished = !matches!(error, MstError::MissingBlock { .. });
                Some(Err(error))
            }
        }
    }
}

impl<S: BlockSource> std::iter::FusedIterator for MstWalker<S> {}
