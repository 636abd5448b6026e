//! Tests of the tree, the walker and the proofs together.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use cid::Cid;
use proptest::prelude::*;

use super::node::NodeEncoder;
use super::*;
use crate::data::cid_for_dag_cbor;
use crate::test_fixtures::read_fixture;

fn value(i: usize) -> Cid {
    cid_for_dag_cbor(format!("record {i}").as_bytes())
}

/// All node blocks of a tree, as a block source.
fn blocks_of(tree: &mut Mst) -> (Cid, HashMap<Cid, Bytes>) {
    let root = tree.root_cid();
    let blocks = tree
        .walk_blocks()
        .unwrap()
        .into_iter()
        .filter_map(|item| match item {
            TreeItem::Node { cid, bytes } => Some((cid, bytes)),
            TreeItem::Leaf { .. } => None,
        })
        .collect();
    (root, blocks)
}

fn built(keys: &[String]) -> Mst {
    Mst::from_entries(keys.iter().enumerate().map(|(i, k)| (k.clone(), value(i)))).unwrap()
}

fn example_keys() -> Vec<String> {
    String::from_utf8(read_fixture("interop-tests/mst/example_keys.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofCase {
    comment: String,
    leaf_value: String,
    keys: Vec<String>,
    adds: Vec<String>,
    dels: Vec<String>,
    root_before_commit: String,
    root_after_commit: String,
    blocks_in_proof: Vec<String>,
}

fn permutations(items: &[MstOp]) -> Vec<Vec<MstOp>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            out.push(tail);
        }
    }
    out
}

#[test]
fn commit_proof_fixtures_build_prove_and_invert() {
    let cases: Vec<ProofCase> = serde_json::from_slice(&read_fixture(
        "interop-tests/firehose/commit-proof-fixtures.json",
    ))
    .unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let name = &case.comment;
        let leaf = Cid::try_from(case.leaf_value.as_str()).unwrap();
        let mut tree = Mst::new();
        for key in &case.keys {
            tree.insert(key, leaf).unwrap();
        }
        assert_eq!(
            tree.root_cid().to_string(),
            case.root_before_commit,
            "{name}: before"
        );
        for key in &case.adds {
            assert_eq!(tree.insert(key, leaf).unwrap(), None, "{name}");
        }
        for key in &case.dels {
            assert_eq!(tree.remove(key).unwrap(), Some(leaf), "{name}");
        }
        let root_after = tree.root_cid();
        assert_eq!(
            root_after.to_string(),
            case.root_after_commit,
            "{name}: after"
        );

        let mut proof = Vec::new();
        for key in case.adds.iter().chain(&case.dels) {
            tree.covering_proof(key, &mut proof).unwrap();
        }
        let proof: HashMap<Cid, Bytes> = proof.into_iter().collect();
        for expected in &case.blocks_in_proof {
            let cid = Cid::try_from(expected.as_str()).unwrap();
            assert!(proof.contains_key(&cid), "{name}: proof lacks {expected}");
        }
        for (cid, bytes) in &proof {
            assert_eq!(cid_for_dag_cbor(bytes), *cid, "{name}: proof block hash");
        }

        // The ops of the commit, and their inversion in every order.
        let mut ops: Vec<MstOp> = case
            .adds
            .iter()
            .map(|key| MstOp::Create {
                key: key.clone(),
                cid: leaf,
            })
            .collect();
        ops.extend(case.dels.iter().map(|key| MstOp::Delete {
            key: key.clone(),
            prev: leaf,
        }));
        let orders = permutations(&ops);
        assert!(!orders.is_empty());
        for order in orders {
            let before = invert_ops(root_after, &order, &proof)
                .unwrap_or_else(|e| panic!("{name}: inverting {order:?}: {e}"));
            assert_eq!(
                before.to_string(),
                case.root_before_commit,
                "{name}: {order:?}"
            );
        }
    }
}

#[test]
fn a_proof_missing_a_needed_node_fails_cleanly() {
    let keys = example_keys();
    let mut tree = built(&keys[..40]);
    let added = "A9/999999";
    tree.insert(added, value(999)).unwrap();
    let root_after = tree.root_cid();
    let mut proof = Vec::new();
    tree.covering_proof(added, &mut proof).unwrap();
    // Drop the root: nothing can be inverted.
    let blocks: HashMap<Cid, Bytes> = proof
        .into_iter()
        .filter(|(c, _)| *c != root_after)
        .collect();
    let op = MstOp::Create {
        key: added.to_owned(),
        cid: value(999),
    };
    let error = invert_ops(root_after, std::slice::from_ref(&op), &blocks).unwrap_err();
    assert!(
        matches!(error, MstError::MissingBlock { cid, .. } if cid == root_after),
        "{error}"
    );
    // A wrong claimed value is a mismatch, not a silent success.
    let mut proof = Vec::new();
    tree.covering_proof(added, &mut proof).unwrap();
    let blocks: HashMap<Cid, Bytes> = proof.into_iter().collect();
    let wrong = MstOp::Create {
        key: added.to_owned(),
        cid: value(1),
    };
    assert!(matches!(
        invert_ops(root_after, &[wrong], &blocks),
        Err(MstError::OpMismatch { .. })
    ));
}

#[test]
fn walking_a_built_tree_gives_back_the_sorted_example_keys() {
    let keys = example_keys();
    let mut tree = built(&keys);
    assert_eq!(tree.len(), Some(keys.len()));
    let (root, blocks) = blocks_of(&mut tree);
    let walked: Vec<String> = walk(root, &blocks).map(|e| e.unwrap().key).collect();
    let sorted: Vec<String> = keys
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(walked, sorted);
    // And loading it back gives the same tree.
    let mut loaded = Mst::load(root, &blocks).unwrap();
    assert_eq!(loaded.len(), Some(keys.len()));
    assert_eq!(loaded.root_cid(), root);
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(loaded.get(key).unwrap(), Some(value(i)));
    }
    assert_eq!(loaded.get("Z0/000000").unwrap(), None);
}

#[test]
fn the_empty_tree_has_the_well_known_root() {
    let mut tree = Mst::new();
    assert_eq!(
        tree.root_cid().to_string(),
        "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
    );
    let (root, blocks) = blocks_of(&mut tree);
    assert_eq!(walk(root, &blocks).count(), 0);
}

#[test]
fn write_blocks_hands_out_only_changed_nodes() {
    let keys = example_keys();
    let mut tree = built(&keys);
    let mut first = 0;
    tree.write_blocks(|_, _| first += 1);
    assert!(first > 10);
    let mut again = 0;
    tree.write_blocks(|_, _| again += 1);
    assert_eq!(again, 0);
    tree.insert("app.bsky.feed.post/3kaaaaaaaaaaa", value(1))
        .unwrap();
    let mut changed = Vec::new();
    let root = tree.write_blocks(|cid, _| changed.push(cid));
    assert!(!changed.is_empty() && changed.len() < first / 2);
    assert_eq!(changed.last(), Some(&root));
}

#[test]
fn updates_return_the_previous_value() {
    let mut tree = Mst::new();
    assert_eq!(tree.insert("a/b", value(1)).unwrap(), None);
    assert_eq!(tree.insert("a/b", value(2)).unwrap(), Some(value(1)));
    assert_eq!(tree.get("a/b").unwrap(), Some(value(2)));
    assert_eq!(tree.remove("a/b").unwrap(), Some(value(2)));
    assert_eq!(tree.remove("a/b").unwrap(), None);
    assert!(tree.is_empty());
    assert!(matches!(
        tree.insert("no-slash", value(1)),
        Err(MstError::InvalidKey { .. })
    ));
}

// --- malformed trees --------------------------------------------------------------------------

struct Store(HashMap<Cid, Bytes>);

impl Store {
    fn new() -> Self {
        Self(HashMap::new())
    }

    /// Writes a node with `entries` (key, right link) as given, unchecked.
    fn node(&mut self, left: Option<Cid>, entries: &[(&str, Option<Cid>)]) -> Cid {
        let mut encoder = NodeEncoder::new(entries.len(), left.as_ref());
        for (key, right) in entries {
            encoder.entry(key.as_bytes(), &value(0), right.as_ref());
        }
        let bytes = encoder.finish();
        let cid = cid_for_dag_cbor(&bytes);
        self.0.insert(cid, Bytes::from(bytes));
        cid
    }

    fn walk_error(&self, root: Cid) -> MstError {
        let result: Result<Vec<_>, _> = walk(root, &self.0).collect();
        let error = result.unwrap_err();
        // The loader agrees.
        assert!(Mst::load(root, &self.0).and_then(|t| t.entries()).is_err());
        error
    }
}

/// Example keys by layer.
fn keys_at(layer: u8) -> Vec<String> {
    example_keys()
        .into_iter()
        .filter(|k| key_layer(k.as_bytes()) == layer)
        .collect()
}

#[test]
fn keys_out_of_order_across_nodes_are_detected() {
    let zeros = keys_at(0);
    let ones = keys_at(1);
    let mut store = Store::new();
    // A child that holds a key above its parent's following key.
    let (low, high) = (&ones[0], &zeros[zeros.len() - 1]);
    assert!(high > low);
    let child = store.node(None, &[(high.as_str(), None)]);
    let root = store.node(Some(child), &[(low.as_str(), None)]);
    assert!(matches!(
        store.walk_error(root),
        MstError::KeysOutOfOrder { .. }
    ));
}

#[test]
fn keys_out_of_order_within_a_node_are_detected() {
    let zeros = keys_at(0);
    let mut store = Store::new();
    let root = store.node(
        None,
        &[(zeros[1].as_str(), None), (zeros[0].as_str(), None)],
    );
    assert!(matches!(
        store.walk_error(root),
        MstError::KeysOutOfOrder { .. }
    ));
}

#[test]
fn a_key_in_a_node_of_the_wrong_layer_is_detected() {
    let zeros = keys_at(0);
    let twos = keys_at(2);
    let mut store = Store::new();
    // A layer-2 root whose child (which must be layer 1) holds a layer-0 key.
    let child = store.node(None, &[(zeros[0].as_str(), None)]);
    let first = twos.iter().find(|k| **k > zeros[0]).unwrap();
    let root = store.node(Some(child), &[(first.as_str(), None)]);
    match store.walk_error(root) {
        MstError::WrongLayer {
            key_layer,
            node_layer,
            ..
        } => {
            assert_eq!(key_layer, 0);
            assert_eq!(node_layer, 1);
        }
        other => panic!("unexpected {other}"),
    }
    // Mixed layers inside one node.
    let mut store = Store::new();
    let mut mixed = [zeros[0].as_str(), twos[0].as_str()];
    mixed.sort();
    let root = store.node(None, &[(mixed[0], None), (mixed[1], None)]);
    assert!(matches!(
        store.walk_error(root),
        MstError::WrongLayer { .. }
    ));
}

#[test]
fn empty_intermediate_nodes_and_untrimmed_roots_are_detected() {
    let ones = keys_at(1);
    let mut store = Store::new();
    let empty = store.node(None, &[]);
    let root = store.node(Some(empty), &[(ones[0].as_str(), None)]);
    assert!(matches!(store.walk_error(root), MstError::EmptyNode { node } if node == empty));

    let mut store = Store::new();
    let zeros = keys_at(0);
    let leaf = store.node(None, &[(zeros[0].as_str(), None)]);
    let root = store.node(Some(leaf), &[]);
    assert!(matches!(
        store.walk_error(root),
        MstError::UntrimmedRoot { .. }
    ));

    let mut store = Store::new();
    let below = store.node(None, &[(zeros[1].as_str(), None)]);
    let root = store.node(Some(below), &[(zeros[2].as_str(), None)]);
    assert!(matches!(
        store.walk_error(root),
        MstError::SubtreeBelowLayerZero { .. }
    ));
}

#[test]
fn a_missing_node_is_named_with_its_key_range() {
    let ones = keys_at(1);
    let mut store = Store::new();
    let absent = cid_for_dag_cbor(b"not stored");
    let root = store.node(
        None,
        &[(ones[0].as_str(), Some(absent)), (ones[1].as_str(), None)],
    );
    let result: Result<Vec<_>, _> = walk(root, &store.0).collect();
    match result.unwrap_err() {
        MstError::MissingBlock { cid, location } => {
            assert_eq!(cid, absent);
            assert_eq!(location.after.as_deref(), Some(ones[0].as_str()));
            assert_eq!(location.before.as_deref(), Some(ones[1].as_str()));
        }
        other => panic!("unexpected {other}"),
    }
    // The walk reports the hole and goes on past it.
    let items: Vec<_> = walk(root, &store.0).collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap().key, ones[0]);
    assert!(items[1].is_err());
    assert_eq!(items[2].as_ref().unwrap().key, ones[1]);
    // The loader keeps it as a stub: the tree is partial.
    let tree = Mst::load(root, &store.0).unwrap();
    assert_eq!(tree.len(), None);
    assert!(tree.entries().is_err());
}

#[test]
fn bad_key_syntax_in_a_node_is_detected() {
    let mut store = Store::new();
    let root = store.node(None, &[("no-slash-here", None)]);
    assert!(matches!(
        store.walk_error(root),
        MstError::InvalidKey { .. }
    ));
}

// --- properties -------------------------------------------------------------------------------

fn key_strategy() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "app.bsky.feed.post",
            "app.bsky.feed.like",
            "app.bsky.graph.follow",
            "com.example.x",
        ]),
        "[a-z2-7]{1,13}",
    )
        .prop_map(|(collection, rkey)| format!("{collection}/{rkey}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_key_set_walks_back_sorted(keys in prop::collection::vec(key_strategy(), 0..300)) {
        let mut tree = built(&keys);
        let (root, blocks) = blocks_of(&mut tree);
        let walked: Vec<String> = walk(root, &blocks).map(|e| e.unwrap().key).collect();
        let expected: Vec<String> = keys.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        prop_assert_eq!(walked, expected);
    }

    #[test]
    fn the_root_depends_only_on_the_key_set(keys in prop::collection::vec(key_strategy(), 1..200), seed in any::<u64>()) {
        let map: BTreeMap<String, Cid> = keys.iter().map(|k| (k.clone(), value(k.len()))).collect();
        let mut sorted = Mst::new();
        for (k, v) in &map {
            sorted.insert(k, *v).unwrap();
        }
        // Insert in a scrambled order.
        let mut scrambled: Vec<(&String, &Cid)> = map.iter().collect();
        let len = scrambled.len();
        for i in 0..len {
            let j = (seed.wrapping_mul(i as u64 + 7).rotate_left(13) as usize) % len;
            scrambled.swap(i, j);
        }
        let mut other = Mst::new();
        for (k, v) in scrambled {
            other.insert(k, *v).unwrap();
        }
        prop_assert_eq!(sorted.root_cid(), other.root_cid());
    }

    #[test]
    fn insert_then_delete_restores_the_root(keys in prop::collection::vec(key_strategy(), 0..200), extra in prop::collection::vec(key_strategy(), 1..20)) {
        let mut tree = built(&keys);
        let before = tree.root_cid();
        let present: BTreeSet<&String> = keys.iter().collect();
        let new: Vec<&String> = extra.iter().filter(|k| !present.contains(k)).collect::<BTreeSet<_>>().into_iter().collect();
        for key in &new {
            prop_assert_eq!(tree.insert(key, value(7)).unwrap(), None);
        }
        for key in new.iter().rev() {
            prop_assert_eq!(tree.remove(key).unwrap(), Some(value(7)));
        }
        prop_assert_eq!(tree.root_cid(), before);
        // And the rebuilt-from-scratch tree agrees (edits keep the canonical shape).
        let mut fresh = built(&keys);
        prop_assert_eq!(fresh.root_cid(), before);
    }

    #[test]
    fn proofs_invert_any_single_create_or_delete(keys in prop::collection::vec(key_strategy(), 1..200), pick in any::<prop::sample::Index>(), extra in key_strategy()) {
        let mut tree = built(&keys);
        let before = tree.root_cid();
        // A create of a new key…
        if tree.get(&extra).unwrap().is_none() {
            tree.insert(&extra, value(5)).unwrap();
            let after = tree.root_cid();
            let mut proof = Vec::new();
            tree.covering_proof(&extra, &mut proof).unwrap();
            let proof: HashMap<Cid, Bytes> = proof.into_iter().collect();
            let op = MstOp::Create { key: extra.clone(), cid: value(5) };
            prop_assert_eq!(invert_ops(after, &[op], &proof).unwrap(), before);
            tree.remove(&extra).unwrap();
        }
        // …and a delete of an existing one.
        let key = pick.get(&keys).clone();
        let prev = tree.get(&key).unwrap().unwrap();
        tree.remove(&key).unwrap();
        let after = tree.root_cid();
        let mut proof = Vec::new();
        tree.covering_proof(&key, &mut proof).unwrap();
        let proof: HashMap<Cid, Bytes> = proof.into_iter().collect();
        let op = MstOp::Delete { key, prev };
        prop_assert_eq!(invert_ops(after, &[op], &proof).unwrap(), before);
    }
}
