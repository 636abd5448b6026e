//! An in-memory MST that can be edited: insert, update, delete, root CID, changed blocks.
//!
//! The tree is mutable and owns its nodes. Each node caches its CID; an edit clears the cache
//! on the path it touches, so computing the new root re-encodes only those nodes (about one per
//! layer) and [`Mst::write_blocks`] hands out exactly the blocks that are new since the last
//! call. A tree may be *partial*: loaded from some blocks only, with the absent subtrees kept as
//! bare CIDs ("stubs"). Edits that need an absent node fail with [`MstError::MissingBlock`].

use bytes::Bytes;
use cid::Cid;

use super::node::{self, NodeEncoder};
use super::walk::MstEntry;
use super::{KeyRange, MstError, check_key, key_layer};
use crate::blockstore::BlockSource;
use crate::data::cid_for_dag_cbor;

/// A link to a subtree: the node itself, or only its CID when it was not loaded.
#[derive(Debug, Clone)]
enum Link {
    Node(Box<Node>),
    Stub(Box<Cid>),
}

#[derive(Debug, Clone)]
struct Node {
    layer: u8,
    left: Option<Link>,
    entries: Vec<Entry>,
    /// The node's CID, when it is known to be current.
    cid: Option<Cid>,
}

#[derive(Debug, Clone)]
struct Entry {
    key: Box<str>,
    value: Cid,
    right: Option<Link>,
}

impl Node {
    fn empty(layer: u8) -> Self {
        Self {
            layer,
            left: None,
            entries: Vec::new(),
            cid: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.left.is_none()
    }

    /// Index of the first entry whose key is not below `key`, and whether it is `key`.
    fn search(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|entry| (*entry.key).cmp(key))
    }

    /// The subtree link in gap `index` (0: before the first entry; i: after entry i-1).
    fn gap_mut(&mut self, index: usize) -> &mut Option<Link> {
        match index.checked_sub(1).and_then(|i| self.entries.get_mut(i)) {
            Some(entry) => &mut entry.right,
            None => &mut self.left,
        }
    }

    fn gap_range(&self, index: usize) -> KeyRange {
        let key = |i: usize| self.entries.get(i).map(|e| e.key.to_string());
        KeyRange {
            after: index.checked_sub(1).and_then(key),
            before: key(index),
        }
    }

    /// Encodes this node, computing (and caching) its children's CIDs first; new child blocks
    /// go to `sink`.
    fn encode(&mut self, sink: &mut dyn FnMut(Cid, Bytes)) -> (Cid, Bytes) {
        let left = self.left.as_mut().map(|link| link.cid(sink));
        let mut rights = Vec::with_capacity(self.entries.len());
        for entry in &mut self.entries {
            rights.push(entry.right.as_mut().map(|link| link.cid(sink)));
        }
        let mut encoder = NodeEncoder::new(self.entries.len(), left.as_ref());
        for (entry, right) in self.entries.iter().zip(&rights) {
            encoder.entry(entry.key.as_bytes(), &entry.value, right.as_ref());
        }
        let bytes = encoder.finish();
        (cid_for_dag_cbor(&bytes), Bytes::from(bytes))
    }

    /// The CID of a subtree, computed (and cached) if needed, emitting new blocks.
    fn cid(&mut self, sink: &mut dyn FnMut(Cid, Bytes)) -> Cid {
        if let Some(cid) = self.cid {
            return cid;
        }
        let (cid, bytes) = self.encode(sink);
        sink(cid, bytes);
        self.cid = Some(cid);
        cid
    }

    /// The node's block (re-encoded; children's CIDs come from the cache when current).
    fn block(&mut self) -> (Cid, Bytes) {
        let block = self.encode(&mut |_, _| {});
        self.cid = Some(block.0);
        block
    }
}

impl Link {
    fn cid(&mut self, sink: &mut dyn FnMut(Cid, Bytes)) -> Cid {
        match self {
            Link::Node(node) => node.cid(sink),
            Link::Stub(cid) => **cid,
        }
    }

    fn node_mut(&mut self, location: impl FnOnce() -> KeyRange) -> Result<&mut Node, MstError> {
        match self {
            Link::Node(node) => Ok(node),
            Link::Stub(cid) => Err(MstError::MissingBlock {
                cid: **cid,
                location: location(),
            }),
        }
    }

    fn into_node(self, location: impl FnOnce() -> KeyRange) -> Result<Box<Node>, MstError> {
        match self {
            Link::Node(node) => Ok(node),
            Link::Stub(cid) => Err(MstError::MissingBlock {
                cid: *cid,
                location: location(),
            }),
        }
    }
}

fn range_around(key: &str) -> impl FnOnce() -> KeyRange {
    let key = key.to_owned();
    move || KeyRange {
        after: None,
        before: Some(key),
    }
}

/// Wraps a subtree at `layer` in entry-less nodes until it sits at `target` (the chain the
/// tree has where a gap skips layers).
fn lift(mut link: Option<Link>, mut layer: u8, target: u8) -> Option<Link> {
    while link.is_some() && layer < target {
        layer += 1;
        link = Some(Link::Node(Box::new(Node {
            layer,
            left: link,
            entries: Vec::new(),
            cid: None,
        })));
    }
    link
}

/// Splits a subtree around `key` (which it does not hold) into the keys below and above it.
fn split(link: Option<Link>, key: &str) -> Result<(Option<Link>, Option<Link>), MstError> {
    let Some(link) = link else {
        return Ok((None, None));
    };
    let mut node = link.into_node(range_around(key))?;
    let index = node.search(key).unwrap_or_else(|i| i);
    let gap = node.gap_mut(index).take();
    let (low, high) = split(gap, key)?;
    let right_entries = node.entries.split_off(index);
    let right = Box::new(Node {
        layer: node.layer,
        left: high,
        entries: right_entries,
        cid: None,
    });
    *node.gap_mut(index) = low;
    node.cid = None;
    let keep = |node: Box<Node>| (!node.is_empty()).then_some(Link::Node(node));
    Ok((keep(node), keep(right)))
}

/// Joins two adjacent subtrees of the same layer (every key of `low` below every key of `high`).
fn merge(low: Option<Link>, high: Option<Link>, key: &str) -> Result<Option<Link>, MstError> {
    let (low, high) = match (low, high) {
        (None, other) | (other, None) => return Ok(other),
        (Some(low), Some(high)) => (low, high),
    };
    let mut low = low.into_node(range_around(key))?;
    let mut high = high.into_node(range_around(key))?;
    let last = low.entries.len();
    let inner_low = low.gap_mut(last).take();
    let inner_high = high.left.take();
    *low.gap_mut(last) = merge(inner_low, inner_high, key)?;
    low.entries.append(&mut high.entries);
    low.cid = None;
    Ok(Some(Link::Node(low)))
}

/// An in-memory Merkle Search Tree (see the module docs of [`crate::mst`]).
#[derive(Debug, Clone)]
pub struct Mst {
    root: Link,
    len: Option<usize>,
}

impl Default for Mst {
    fn default() -> Self {
        Self::new()
    }
}

impl Mst {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            root: Link::Node(Box::new(Node::empty(0))),
            len: Some(0),
        }
    }

    /// Builds a tree from entries in any order (a later duplicate key replaces an earlier one).
    pub fn from_entries<I>(entries: I) -> Result<Self, MstError>
    where
        I: IntoIterator<Item = (String, Cid)>,
    {
        let mut entries: Vec<(String, Cid)> = entries.into_iter().collect();
        // Sorted insertion touches the same path again and again: cache-friendly.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut tree = Self::new();
        for (key, value) in entries {
            tree.insert(&key, value)?;
        }
        Ok(tree)
    }

    /// Loads the tree rooted at `root` from `source`. Nodes that `source` lacks become stubs: the
    /// result is partial, and edits that need them fail. Loaded nodes are checked as in
    /// [`crate::mst::walk`].
    pub fn load<S: BlockSource>(root: Cid, source: &S) -> Result<Self, MstError> {
        let Some(bytes) = source.get_block(&root)? else {
            return Ok(Self {
                root: Link::Stub(Box::new(root)),
                len: None,
            });
        };
        let decoded = node::decode(&root, &bytes)?;
        let layer = match decoded.layer {
            Some(layer) => layer,
            None if decoded.left.is_some() => return Err(MstError::UntrimmedRoot { node: root }),
            None => 0,
        };
        let mut complete = true;
        let node = load_node(root, decoded, layer, (None, None), source, &mut complete)?;
        let mut tree = Self {
            root: Link::Node(node),
            len: None,
        };
        if complete {
            tree.len = Some(tree.count());
        }
        Ok(tree)
    }

    fn count(&self) -> usize {
        fn count_link(link: &Option<Link>) -> usize {
            match link {
                Some(Link::Node(node)) => count_node(node),
                _ => 0,
            }
        }
        fn count_node(node: &Node) -> usize {
            node.entries.len()
                + count_link(&node.left)
                + node
                    .entries
                    .iter()
                    .map(|e| count_link(&e.right))
                    .sum::<usize>()
        }
        match &self.root {
            Link::Node(node) => count_node(node),
            Link::Stub(_) => 0,
        }
    }

    /// Number of entries, when the tree is complete (`None` for a partial tree).
    pub fn len(&self) -> Option<usize> {
        self.len
    }

    /// Whether the tree is known to hold no entry.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Result<Option<Cid>, MstError> {
        let layer = key_layer(key.as_bytes());
        let mut link = &self.root;
        loop {
            let node = match link {
                Link::Node(node) => node,
                Link::Stub(cid) => {
                    return Err(MstError::MissingBlock {
                        cid: **cid,
                        location: range_around(key)(),
                    });
                }
            };
            if layer > node.layer || node.is_empty() {
                return Ok(None);
            }
            match node.search(key) {
                Ok(index) => return Ok(node.entries.get(index).map(|e| e.value)),
                Err(index) => {
                    if layer == node.layer {
                        return Ok(None);
                    }
                    let gap = match index.checked_sub(1) {
                        Some(i) => node.entries.get(i).and_then(|e| e.right.as_ref()),
                        None => node.left.as_ref(),
                    };
                    match gap {
                        Some(next) => link = next,
                        None => return Ok(None),
                    }
                }
            }
        }
    }

    /// Sets `key` to `value`; returns the previous value (`None`: the key was created).
    ///
    /// On error (a partial tree lacking a node the edit needs) the tree may be left half-edited:
    /// discard it.
    pub fn insert(&mut self, key: &str, value: Cid) -> Result<Option<Cid>, MstError> {
        check_key(key.as_bytes())?;
        let layer = key_layer(key.as_bytes());
        let root = self.root.node_mut(range_around(key))?;
        let previous = if root.is_empty() {
            *root = Node::empty(layer);
            insert_into(root, key, layer, value)?
        } else if layer > root.layer {
            let old_layer = root.layer;
            let placeholder = Link::Node(Box::new(Node::empty(0)));
            let old = std::mem::replace(&mut self.root, placeholder);
            let (low, high) = split(Some(old), key)?;
            let mut new_root = Node::empty(layer);
            new_root.left = lift(low, old_layer, layer - 1);
            new_root.entries.push(Entry {
                key: key.into(),
                value,
                right: lift(high, old_layer, layer - 1),
            });
            self.root = Link::Node(Box::new(new_root));
            None
        } else {
            insert_into(root, key, layer, value)?
        };
        if previous.is_none() {
            self.len = self.len.map(|n| n + 1);
        }
        Ok(previous)
    }

    /// Removes `key`; returns its value (`None`: it was not there and nothing changed).
    ///
    /// On error (a partial tree lacking a node the edit needs) the tree may be left half-edited:
    /// discard it.
    pub fn remove(&mut self, key: &str) -> Result<Option<Cid>, MstError> {
        check_key(key.as_bytes())?;
        let layer = key_layer(key.as_bytes());
        let root = self.root.node_mut(range_around(key))?;
        if layer > root.layer {
            return Ok(None);
        }
        let previous = remove_from(root, key, layer)?;
        if previous.is_some() {
            self.len = self.len.map(|n| n.saturating_sub(1));
            self.trim();
        }
        Ok(previous)
    }

    /// Drops entry-less nodes from the top (the root must hold keys), down to the empty tree.
    fn trim(&mut self) {
        loop {
            let Link::Node(root) = &mut self.root else {
                return;
            };
            if !root.entries.is_empty() {
                return;
            }
            match root.left.take() {
                Some(child) => self.root = child,
                None => {
                    **root = Node::empty(0);
                    return;
                }
            }
        }
    }

    /// The root CID (re-encoding only nodes changed since it was last computed).
    pub fn root_cid(&mut self) -> Cid {
        self.root.cid(&mut |_, _| {})
    }

    /// Computes the root CID and passes every node block that was (re-)encoded to `sink`: after
    /// edits, exactly the new nodes of the tree since the previous call.
    pub fn write_blocks(&mut self, mut sink: impl FnMut(Cid, Bytes)) -> Cid {
        self.root.cid(&mut sink)
    }

    /// Every node block and entry in walk order, the order repos are written in: a node, then
    /// its left subtree, then each entry followed by the subtree after it (so entries come in
    /// key order). Fails at the first absent node of a partial tree.
    pub fn walk_blocks(&mut self) -> Result<Vec<TreeItem>, MstError> {
        self.root_cid();
        let mut out = Vec::with_capacity(self.len.unwrap_or(0) * 4 / 3 + 1);
        let root = self.root.node_mut(KeyRange::default)?;
        walk_node(root, &mut out)?;
        Ok(out)
    }

    /// All entries in key order (partial trees: an error at the first absent node).
    pub fn entries(&self) -> Result<Vec<MstEntry>, MstError> {
        fn visit(link: &Link, out: &mut Vec<MstEntry>) -> Result<(), MstError> {
            match link {
                Link::Stub(cid) => Err(MstError::MissingBlock {
                    cid: **cid,
                    location: KeyRange {
                        after: out.last().map(|e| e.key.clone()),
                        before: None,
                    },
                }),
                Link::Node(node) => {
                    if let Some(left) = &node.left {
                        visit(left, out)?;
                    }
                    for entry in &node.entries {
                        out.push(MstEntry {
                            key: entry.key.to_string(),
                            value: entry.value,
                        });
                        if let Some(right) = &entry.right {
                            visit(right, out)?;
                        }
                    }
                    Ok(())
                }
            }
        }
        let mut out = Vec::with_capacity(self.len.unwrap_or(0));
        visit(&self.root, &mut out)?;
        Ok(out)
    }

    /// The blocks a reader needs to check `key`'s value (or absence) and to undo an insert or
    /// delete of it: every node on the path to where the key is or would be and, when the key
    /// is present, the rightmost spine of the subtree before it and the leftmost spine of the
    /// subtree after it (what a delete merges). Added to `proof` as `(cid, bytes)`.
    pub fn covering_proof(
        &mut self,
        key: &str,
        proof: &mut Vec<(Cid, Bytes)>,
    ) -> Result<(), MstError> {
        self.root_cid();
        let mut link = &mut self.root;
        loop {
            let node = link.node_mut(range_around(key))?;
            if node.is_empty() {
                proof.push(node.block());
                return Ok(());
            }
            proof.push(node.block());
            match node.search(key) {
                Ok(index) => {
                    if let Some(before) = node.gap_mut(index).as_mut() {
                        spine(before, key, true, proof)?;
                    }
                    if let Some(after) = node.gap_mut(index + 1).as_mut() {
                        spine(after, key, false, proof)?;
                    }
                    return Ok(());
                }
                Err(index) => {
                    // Absent: undoing its delete splits the subtrees down this path.
                    match node.gap_mut(index) {
                        Some(next) => link = next,
                        None => return Ok(()),
                    }
                }
            }
        }
    }
}

/// One item of [`Mst::walk_blocks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeItem {
    /// An MST node block.
    Node {
        /// Its CID.
        cid: Cid,
        /// Its DAG-CBOR bytes.
        bytes: Bytes,
    },
    /// An entry: a record path and the CID of the record it points to.
    Leaf {
        /// The record path.
        key: Box<str>,
        /// The record CID.
        value: Cid,
    },
}

fn walk_node(node: &mut Node, out: &mut Vec<TreeItem>) -> Result<(), MstError> {
    let (cid, bytes) = node.block();
    out.push(TreeItem::Node { cid, bytes });
    let walk_link = |link: &mut Option<Link>, out: &mut Vec<TreeItem>, range: KeyRange| match link {
        None => Ok(()),
        Some(link) => walk_node(link.node_mut(|| range)?, out),
    };
    let range = node.gap_range(0);
    walk_link(&mut node.left, out, range)?;
    for index in 0..node.entries.len() {
        let range = node.gap_range(index + 1);
        let Some(entry) = node.entries.get_mut(index) else {
            break;
        };
        out.push(TreeItem::Leaf {
            key: entry.key.clone(),
            value: entry.value,
        });
        walk_link(&mut entry.right, out, range)?;
    }
    Ok(())
}

/// Adds the nodes of one edge of a subtree: its rightmost (`rightmost`) or leftmost path.
fn spine(
    link: &mut Link,
    key: &str,
    rightmost: bool,
    proof: &mut Vec<(Cid, Bytes)>,
) -> Result<(), MstError> {
    let mut link = link;
    loop {
        let node = link.node_mut(range_around(key))?;
        proof.push(node.block());
        let index = if rightmost { node.entries.len() } else { 0 };
        match node.gap_mut(index) {
            Some(next) => link = next,
            None => return Ok(()),
        }
    }
}

fn insert_into(node: &mut Node, key: &str, layer: u8, value: Cid) -> Result<Option<Cid>, MstError> {
    let search = node.search(key);
    if layer == node.layer {
        match search {
            Ok(index) => {
                let Some(entry) = node.entries.get_mut(index) else {
                    return Ok(None);
                };
                let previous = entry.value;
                if previous != value {
                    entry.value = value;
                    node.cid = None;
                }
                Ok(Some(previous))
            }
            Err(index) => {
                let gap = node.gap_mut(index).take();
                let (low, high) = split(gap, key)?;
                *node.gap_mut(index) = low;
                node.entries.insert(
                    index,
                    Entry {
                        key: key.into(),
                        value,
                        right: high,
                    },
                );
                node.cid = None;
                Ok(None)
            }
        }
    } else {
        // The key belongs further down: into the subtree of its gap, created if absent.
        let index = search.unwrap_or_else(|i| i);
        let range = node.gap_range(index);
        let child_layer = node.layer - 1;
        let gap = node.gap_mut(index);
        let child = gap.get_or_insert_with(|| Link::Node(Box::new(Node::empty(child_layer))));
        let child = child.node_mut(|| range)?;
        let previous = insert_into(child, key, layer, value)?;
        if previous != Some(value) {
            node.cid = None;
        }
        Ok(previous)
    }
}

fn remove_from(node: &mut Node, key: &str, layer: u8) -> Result<Option<Cid>, MstError> {
    let search = node.search(key);
    if layer == node.layer {
        let Ok(index) = search else {
            return Ok(None);
        };
        let entry = node.entries.remove(index);
        let low = node.gap_mut(index).take();
        *node.gap_mut(index) = merge(low, entry.right, key)?;
        node.cid = None;
        return Ok(Some(entry.value));
    }
    let index = search.unwrap_or_else(|i| i);
    let range = node.gap_range(index);
    let gap = node.gap_mut(index);
    let Some(child) = gap.as_mut() else {
        return Ok(None);
    };
    let child_node = child.node_mut(|| range)?;
    let previous = remove_from(child_node, key, layer)?;
    if previous.is_some() {
        if child_node.is_empty() {
            *gap = None;
        }
        node.cid = None;
    }
    Ok(previous)
}

/// Turns a decoded node (and, recursively, whatever of its subtree `source` holds) into tree
/// nodes, checking layers and that its keys fall strictly between `lower` and `upper`.
fn load_node<S: BlockSource>(
    cid: Cid,
    decoded: node::DecodedNode,
    layer: u8,
    bounds: (Option<&str>, Option<&str>),
    source: &S,
    complete: &mut bool,
) -> Result<Box<Node>, MstError> {
    if let Some(found) = decoded.layer.filter(|&found| found != layer) {
        return Err(MstError::WrongLayer {
            node: cid,
            key: decoded.key_at(0).unwrap_or_default().to_owned(),
            key_layer: found,
            node_layer: layer,
        });
    }
    let out_of_order = |previous: &str, key: &str| MstError::KeysOutOfOrder {
        node: cid,
        previous: previous.to_owned(),
        key: key.to_owned(),
    };
    if let (Some(lower), Some(first)) = (bounds.0, decoded.key_at(0))
        && first <= lower
    {
        return Err(out_of_order(lower, first));
    }
    if let (Some(upper), Some(last)) = (bounds.1, decoded.entries.last().map(|e| decoded.key(e)))
        && last >= upper
    {
        return Err(out_of_order(last, upper));
    }
    let keys: Vec<&str> = decoded.entries.iter().map(|e| decoded.key(e)).collect();
    let mut load_link = |child: Option<Cid>, gap: usize| -> Result<Option<Link>, MstError> {
        let Some(child) = child else {
            return Ok(None);
        };
        let Some(child_layer) = layer.checked_sub(1) else {
            return Err(MstError::SubtreeBelowLayerZero { node: cid, child });
        };
        let Some(bytes) = source.get_block(&child)? else {
            *complete = false;
            return Ok(Some(Link::Stub(Box::new(child))));
        };
        let child_decoded = node::decode(&child, &bytes)?;
        if child_decoded.layer.is_none() && child_decoded.left.is_none() {
            return Err(MstError::EmptyNode { node: child });
        }
        let lower = match gap.checked_sub(1) {
            Some(i) => keys.get(i).copied(),
            None => bounds.0,
        };
        let upper = keys.get(gap).copied().or(bounds.1);
        Ok(Some(Link::Node(load_node(
            child,
            child_decoded,
            child_layer,
            (lower, upper),
            source,
            complete,
        )?)))
    };
    let left = load_link(decoded.left, 0)?;
    let mut entries = Vec::with_capacity(decoded.entries.len());
    for (index, entry) in decoded.entries.iter().enumerate() {
        entries.push(Entry {
            key: decoded.key(entry).into(),
            value: entry.value,
            right: load_link(entry.right, index + 1)?,
        });
    }
    Ok(Box::new(Node {
        layer,
        left,
        entries,
        cid: Some(cid),
    }))
}
