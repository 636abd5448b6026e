//! Tests of frame decoding and encoding, commit resolution and the `prevData` check, against
//! the shared fixtures (real production commits, the interop commit proofs, the indigo relay
//! scenarios' frames) and arbitrary input.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use cid::Cid;
use ipld_core::ipld::Ipld;
use proptest::prelude::*;

use super::*;
use crate::commit::Commit;
use crate::crypto::{KeyAlgorithm, Keypair};
use crate::data::{self, cid_for_dag_cbor, json_to_ipld};
use crate::label::Label;
use crate::mst::Mst;
use crate::test_fixtures::{fixture, read_fixture};

// --- helpers shared with the validator tests ------------------------------------------------

/// Reads a JSON fixture.
pub(super) fn json_fixture(relative: &str) -> serde_json::Value {
    serde_json::from_slice(&read_fixture(relative)).unwrap()
}

/// A frame's bytes from a header and a body in atproto JSON: two concatenated DAG-CBOR values.
pub(super) fn frame_bytes(header: &serde_json::Value, body: &serde_json::Value) -> Vec<u8> {
    let mut bytes = data::to_dag_cbor(&json_to_ipld(header).unwrap()).unwrap();
    bytes.extend(data::to_dag_cbor(&json_to_ipld(body).unwrap()).unwrap());
    bytes
}

/// Turns a JSON frame (`{header, body}`) into a typed frame twice — from the JSON directly and
/// from its DAG-CBOR wire form — checks that both agree and that re-encoding gives the wire
/// bytes back, and returns it.
pub(super) fn frame_from_json(header: &serde_json::Value, body: &serde_json::Value) -> Frame {
    let header_typed = FrameHeader {
        op: header["op"].as_i64().unwrap(),
        t: header["t"].as_str().map(str::to_owned),
    };
    let from_json = Frame::from_parts(&header_typed, json_to_ipld(body).unwrap()).unwrap();
    let wire = frame_bytes(header, body);
    let decoded = Frame::decode(&wire).unwrap();
    assert_eq!(decoded, from_json, "JSON and wire forms differ");
    assert_eq!(decoded.encode(), wire, "re-encoding changed the bytes");
    decoded
}

fn commit_header() -> serde_json::Value {
    serde_json::json!({"op": 1, "t": "#commit"})
}

fn real_commit_files() -> Vec<(String, serde_json::Value)> {
    let dir = fixture("real/indigo/firehose");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let body = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            (name, body)
        })
        .collect()
}

fn commit_of(frame: Frame) -> CommitEvent {
    match frame {
        Frame::Commit(event) => *event,
        other => panic!("expected a #commit, got {}", other.type_name()),
    }
}

// --- the four real production commits ------------------------------------------------------

#[test]
fn real_commits_decode_resolve_and_invert_as_indigo_found() {
    let files = real_commit_files();
    assert_eq!(files.len(), 4);
    let mut tried = 0;
    for (name, body) in files {
        let event = commit_of(frame_from_json(&commit_header(), &body));
        // The retired `prev: null` field is kept for re-encoding.
        assert_eq!(event.extra.get("prev"), Some(&Ipld::Null), "{name}");
        assert!(event.prev_data.is_none(), "{name}");
        let resolved = resolve_commit(&event, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(resolved.commit.did, event.repo);
        assert_eq!(resolved.ops.len(), event.ops.len());
        for op in &resolved.ops {
            let record = op.record.as_ref().unwrap();
            assert_eq!(cid_for_dag_cbor(record), op.cid.unwrap(), "{name}");
            let value: Ipld = data::from_dag_cbor(record).unwrap();
            let Ipld::Map(map) = value else {
                panic!("{name}: record is not a map")
            };
            assert_eq!(
                map.get("$type"),
                Some(&Ipld::String(op.collection().to_owned())),
                "{name}"
            );
        }
        let check = resolved.check_prev_data();
        if name.contains("4623075231") {
            // A normal PDS: the proof is complete (the top of the partial tree gets trimmed).
            let PrevDataCheck::CannotCheck(Unverifiable::NoPrevData { inverted }) = check else {
                panic!("{name}: {check:?}")
            };
            // Were prevData given, it would be checked: the right root verifies, another not.
            let ops = resolved.repo_ops();
            let data_root = resolved.commit.data;
            assert_eq!(
                check_prev_data(data_root, &ops, Some(inverted), &resolved.blocks),
                PrevDataCheck::Verified {
                    prev_data: inverted
                }
            );
            assert!(matches!(
                check_prev_data(data_root, &ops, Some(data_root), &resolved.blocks),
                PrevDataCheck::Mismatch(ChainBreak::RootDiffers { .. })
            ));
        } else {
            // bridgyfed: the slice is too thin to undo the ops; the missing node is named.
            let PrevDataCheck::CannotCheck(Unverifiable::ProofIncomplete {
                missing,
                prev_data: None,
                ..
            }) = check
            else {
                panic!("{name}: {check:?}")
            };
            assert!(!resolved.blocks.contains(&missing), "{name}");
        }
        // The outcome does not depend on the order the frame lists its ops in.
        let mut reversed = resolved.repo_ops();
        reversed.reverse();
        assert_eq!(
            check_prev_data(resolved.commit.data, &reversed, None, &resolved.blocks),
            check,
            "{name}"
        );
        tried += 1;
    }
    assert_eq!(tried, 4);
}

// --- the interop commit-proof vectors, through the frame path ------------------------------

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
}

/// A signed `#commit` frame for a tree change: the commit, the covering proof of every op,
/// no record blocks (the vectors name records by CID only).
fn proof_case_frame(case: &ProofCase, keypair: &Keypair) -> (Vec<u8>, Vec<RepoOp>) {
    let leaf = Cid::try_from(case.leaf_value.as_str()).unwrap();
    let mut tree = Mst::new();
    for key in &case.keys {
        tree.insert(key, leaf).unwrap();
    }
    for key in &case.adds {
        tree.insert(key, leaf).unwrap();
    }
    for key in &case.dels {
        tree.remove(key).unwrap();
    }
    let root_after = tree.root_cid();
    assert_eq!(root_after.to_string(), case.root_after_commit);
    let mut proof = Vec::new();
    for key in case.adds.iter().chain(&case.dels) {
        tree.covering_proof(key, &mut proof).unwrap();
    }
    let mut commit = Commit::new("did:plc:proofcase", root_after, "3kaaaaaaaaaaa", None);
    commit.sign(keypair);
    let (commit_cid, commit_bytes) = commit.to_block();
    let mut blocks = vec![(commit_cid, commit_bytes)];
    blocks.extend(proof);
    let mut ops: Vec<RepoOp> = case
        .adds
        .iter()
        .map(|key| RepoOp {
            action: OpAction::Create,
            path: key.clone(),
            cid: Some(leaf),
            prev: None,
        })
        .collect();
    ops.extend(case.dels.iter().map(|key| RepoOp {
        action: OpAction::Delete,
        path: key.clone(),
        cid: None,
        prev: Some(leaf),
    }));
    let event = CommitEvent {
        seq: 1,
        repo: "did:plc:proofcase".to_owned(),
        commit: commit_cid,
        rev: "3kaaaaaaaaaaa".to_owned(),
        since: Some("3jzzzzzzzzzzz".to_owned()),
        blocks: Bytes::from(CarSlice::write(commit_cid, blocks)),
        ops: ops.clone(),
        blobs: Vec::new(),
        time: "2025-01-01T00:00:00.000Z".to_owned(),
        prev_data: Some(Cid::try_from(case.root_before_commit.as_str()).unwrap()),
        rebase: false,
        too_big: false,
        extra: Extra::new(),
    };
    (Frame::Commit(Box::new(event)).encode(), ops)
}

#[test]
fn commit_proof_vectors_verify_through_frames() {
    let cases: Vec<ProofCase> = serde_json::from_slice(&read_fixture(
        "interop-tests/firehose/commit-proof-fixtures.json",
    ))
    .unwrap();
    assert_eq!(cases.len(), 6);
    let keypair = Keypair::generate(KeyAlgorithm::K256);
    let mut passed = 0;
    for case in &cases {
        let name = &case.comment;
        let (wire, ops) = proof_case_frame(case, &keypair);
        let event = commit_of(Frame::decode(&wire).unwrap());
        assert_eq!(event.ops, ops);

        // The records are not in the vectors: resolution names the first one missing.
        let error = resolve_commit(&event, Some(&keypair.public_key())).unwrap_err();
        if let Some(first_add) = case.adds.first() {
            let ResolveError::MissingRecord { path, cid } = &error else {
                panic!("{name}: {error}")
            };
            assert_eq!(path, first_add);
            assert_eq!(cid.to_string(), case.leaf_value);
        }

        // The proof is complete: undoing the ops gives prevData, in every op order.
        let blocks = CarSlice::parse(&event.blocks).unwrap();
        let commit = Commit::decode(blocks.get(&event.commit).unwrap()).unwrap();
        commit.verify(&keypair.public_key()).unwrap();
        for order in permutations(&ops) {
            assert_eq!(
                check_prev_data(commit.data, &order, event.prev_data, &blocks),
                PrevDataCheck::Verified {
                    prev_data: event.prev_data.unwrap()
                },
                "{name}: {order:?}"
            );
        }
        // A wrong prevData is a mismatch naming both roots.
        let wrong = commit.data;
        assert_eq!(
            check_prev_data(commit.data, &ops, Some(wrong), &blocks),
            PrevDataCheck::Mismatch(ChainBreak::RootDiffers {
                prev_data: wrong,
                inverted: event.prev_data.unwrap()
            }),
            "{name}"
        );
        // An op the tree contradicts (a create naming another record CID) is named.
        let mut bogus = ops.clone();
        bogus[0].cid = Some(wrong);
        let first_path = bogus[0].path.clone();
        assert!(
            matches!(
                check_prev_data(commit.data, &bogus, event.prev_data, &blocks),
                PrevDataCheck::Mismatch(ChainBreak::OpContradictsTree { ref path, expected, found })
                    if *path == first_path && expected == Some(wrong) && found.is_some()
            ),
            "{name}"
        );
        // Two ops on one path cannot be undone.
        let mut doubled = ops.clone();
        doubled.push(ops[0].clone());
        assert!(matches!(
            check_prev_data(commit.data, &doubled, event.prev_data, &blocks),
            PrevDataCheck::Mismatch(ChainBreak::InvalidTree(_))
        ));
        passed += 1;
    }
    assert_eq!(passed, cases.len());
}

fn permutations(items: &[RepoOp]) -> Vec<Vec<RepoOp>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for index in 0..items.len() {
        let mut rest = items.to_vec();
        let item = rest.remove(index);
        for mut tail in permutations(&rest) {
            tail.insert(0, item.clone());
            out.push(tail);
        }
    }
    out
}

#[test]
fn a_missing_proof_node_is_named() {
    // A tree large enough to have several layers; delete one key and drop one proof node.
    let keys: Vec<String> = (0..300)
        .map(|i| format!("app.bsky.feed.post/k{i:05}"))
        .collect();
    let leaf = cid_for_dag_cbor(b"\xa0");
    let mut tree = Mst::from_entries(keys.iter().map(|k| (k.clone(), leaf))).unwrap();
    let before = tree.root_cid();
    let key = &keys[150];
    tree.remove(key).unwrap();
    let after = tree.root_cid();
    let mut proof = Vec::new();
    tree.covering_proof(key, &mut proof).unwrap();
    let ops = [RepoOp {
        action: OpAction::Delete,
        path: key.clone(),
        cid: None,
        prev: Some(leaf),
    }];
    let full: HashMap<Cid, Bytes> = proof.iter().cloned().collect();
    assert_eq!(
        check_prev_data(after, &ops, Some(before), &full),
        PrevDataCheck::Verified { prev_data: before }
    );
    assert!(proof.len() > 1, "the proof should span several nodes");
    // Drop a node below the root: the check names it.
    let dropped = proof
        .iter()
        .map(|(cid, _)| *cid)
        .find(|cid| *cid != after)
        .unwrap();
    let thin: HashMap<Cid, Bytes> = proof
        .into_iter()
        .filter(|(cid, _)| *cid != dropped)
        .collect();
    match check_prev_data(after, &ops, Some(before), &thin) {
        PrevDataCheck::CannotCheck(Unverifiable::ProofIncomplete {
            missing, prev_data, ..
        }) => {
            assert_eq!(missing, dropped);
            assert_eq!(prev_data, Some(before));
        }
        other => panic!("{other:?}"),
    }
    // A legacy delete (no prev) cannot be undone.
    let legacy = [RepoOp {
        prev: None,
        ..ops[0].clone()
    }];
    assert!(matches!(
        check_prev_data(after, &legacy, Some(before), &full),
        PrevDataCheck::CannotCheck(Unverifiable::LegacyOp { .. })
    ));
}

// --- every message type: encode, decode, byte-exact round trips -----------------------------

fn sample_frames() -> Vec<Frame> {
    let keypair = Keypair::generate(KeyAlgorithm::P256);
    let mut label = Label {
        ver: Some(1),
        src: "did:plc:labeler".into(),
        uri: "at://did:plc:alice/app.bsky.feed.post/3k2a".into(),
        cid: Some(cid_for_dag_cbor(b"\xa0").to_string()),
        val: "porn".into(),
        neg: Some(false),
        cts: "2024-01-01T00:00:00.000Z".into(),
        exp: None,
        sig: None,
    };
    label.sign(&keypair).unwrap();
    let mut commit = Commit::new(
        "did:plc:alice",
        cid_for_dag_cbor(b"\xa0"),
        "3kaaaaaaaaaaa",
        None,
    );
    commit.sign(&keypair);
    let mut extra = Extra::new();
    extra.insert("future".to_owned(), Ipld::List(vec![Ipld::Integer(-3)]));
    vec![
        Frame::Sync(SyncEvent::from_commit(
            &commit,
            7,
            "2025-01-01T00:00:00.000Z",
        )),
        Frame::Identity(IdentityEvent {
            seq: 8,
            did: "did:plc:alice".into(),
            time: "2025-01-01T00:00:00.000Z".into(),
            handle: Some("alice.test".into()),
            extra: Extra::new(),
        }),
        Frame::Identity(IdentityEvent {
            seq: 9,
            did: "did:plc:alice".into(),
            time: "2025-01-01T00:00:00.000Z".into(),
            handle: None,
            extra: extra.clone(),
        }),
        Frame::Account(AccountEvent {
            seq: 10,
            did: "did:plc:alice".into(),
            time: "2025-01-01T00:00:00.000Z".into(),
            active: false,
            status: Some("takendown".into()),
            extra: Extra::new(),
        }),
        Frame::Info(InfoEvent {
            name: "OutdatedCursor".into(),
            message: Some("cursor too old".into()),
            extra: Extra::new(),
        }),
        Frame::Labels(LabelsEvent {
            seq: 11,
            labels: vec![label],
            extra: Extra::new(),
        }),
        Frame::Error(ErrorFrame {
            error: "FutureCursor".into(),
            message: None,
            extra,
        }),
        Frame::Unknown(UnknownMessage {
            t: "#tombstone".into(),
            body: Bytes::from(data::to_dag_cbor(&BTreeMap::from([("seq", 3)])).unwrap()),
        }),
    ]
}

#[test]
fn every_message_type_round_trips_byte_for_byte() {
    let mut frames = sample_frames();
    let file = real_commit_files().remove(0);
    frames.push(frame_from_json(&commit_header(), &file.1));
    for frame in frames {
        let bytes = frame.encode();
        let decoded = Frame::decode(&bytes).unwrap();
        assert_eq!(decoded, frame, "{}", frame.type_name());
        assert_eq!(decoded.encode(), bytes, "{}", frame.type_name());
        // The header is what the type says.
        let header: Ipld = serde_ipld_dagcbor::de::from_reader_once(&mut bytes.as_slice()).unwrap();
        let expected = frame.header();
        let Ipld::Map(map) = header else { panic!() };
        assert_eq!(map.get("op"), Some(&Ipld::Integer(expected.op.into())));
        assert_eq!(
            map.get("t"),
            expected.t.map(Ipld::String).as_ref(),
            "{}",
            frame.type_name()
        );
    }
}

#[test]
fn labels_survive_a_round_trip_with_their_signature() {
    let keypair = Keypair::generate(KeyAlgorithm::K256);
    let mut label = Label {
        ver: Some(1),
        src: "did:plc:labeler".into(),
        uri: "did:plc:alice".into(),
        cid: None,
        val: "!hide".into(),
        neg: None,
        cts: "2024-05-01T10:00:00.000Z".into(),
        exp: Some("2025-05-01T10:00:00.000Z".into()),
        sig: None,
    };
    label.sign(&keypair).unwrap();
    let frame = Frame::Labels(LabelsEvent {
        seq: 42,
        labels: vec![label.clone(), label],
        extra: Extra::new(),
    });
    let Frame::Labels(decoded) = Frame::decode(&frame.encode()).unwrap() else {
        panic!()
    };
    assert_eq!(decoded.labels.len(), 2);
    for label in &decoded.labels {
        label.verify(&keypair.public_key()).unwrap();
    }
    // The frame writes each label exactly as the label's own serde form encodes it.
    let Ok(Ipld::Map(body)) = frame.body_ipld() else {
        panic!()
    };
    let Some(Ipld::List(written)) = body.get("labels") else {
        panic!()
    };
    assert_eq!(
        data::to_dag_cbor(&written[0]).unwrap(),
        data::to_dag_cbor(&decoded.labels[0]).unwrap()
    );
}

#[test]
fn unknown_and_legacy_types_are_kept_not_failed() {
    for t in ["#handle", "#migrate", "#tombstone", "#somethingNew"] {
        for body in [
            data::to_dag_cbor(&BTreeMap::from([("seq", 5)])).unwrap(),
            // Not even valid DAG-CBOR: still not a failure, the body is not read.
            vec![0xff, 0x00],
        ] {
            let mut bytes = data::to_dag_cbor(&BTreeMap::from([
                ("op", Ipld::Integer(1)),
                ("t", Ipld::String(t.into())),
            ]))
            .unwrap();
            bytes.extend(&body);
            let frame = Frame::decode(&bytes).unwrap();
            let Frame::Unknown(unknown) = &frame else {
                panic!("{t}")
            };
            assert_eq!(unknown.t, t);
            assert_eq!(unknown.body.as_ref(), body.as_slice());
            assert_eq!(frame.encode(), bytes);
            assert_eq!(frame.seq(), None);
        }
    }
}

#[test]
fn explicit_nulls_and_unknown_fields_are_kept() {
    let body = serde_json::json!({
        "seq": 1, "did": "did:plc:a", "time": "2025-01-01T00:00:00Z",
        "handle": null, "zzz": {"nested": [1, 2]},
    });
    let frame = frame_from_json(&serde_json::json!({"op": 1, "t": "#identity"}), &body);
    let Frame::Identity(identity) = frame else {
        panic!()
    };
    assert_eq!(identity.handle, None);
    assert_eq!(identity.extra.get("handle"), Some(&Ipld::Null));
    assert!(identity.extra.contains_key("zzz"));
}

fn decode_error(header: serde_json::Value, body: serde_json::Value) -> FrameError {
    Frame::decode(&frame_bytes(&header, &body)).unwrap_err()
}

#[test]
fn malformed_frames_are_errors_that_name_the_problem() {
    let commit = commit_header();
    let (_, body) = real_commit_files().remove(0);

    let mut missing = body.clone();
    missing.as_object_mut().unwrap().remove("repo");
    assert_eq!(
        decode_error(commit.clone(), missing),
        FrameError::MissingField {
            t: "#commit".into(),
            field: "repo".into()
        }
    );

    let mut wrong = body.clone();
    wrong["seq"] = serde_json::json!("12");
    assert!(matches!(
        decode_error(commit.clone(), wrong),
        FrameError::WrongType { field, expected: "integer", found: "string", .. } if field == "seq"
    ));

    let mut bad_op = body.clone();
    bad_op["ops"][0]["action"] = serde_json::json!("upsert");
    let error = decode_error(commit.clone(), bad_op);
    assert!(
        matches!(&error, FrameError::InvalidField { field, .. } if field == "ops[0].action"),
        "{error}"
    );
    assert!(error.to_string().contains("upsert"));

    let mut bad_blob = body.clone();
    bad_blob["blobs"] = serde_json::json!(["x"]);
    assert!(matches!(
        decode_error(commit.clone(), bad_blob),
        FrameError::WrongType { field, .. } if field == "blobs[0]"
    ));

    assert!(matches!(
        decode_error(serde_json::json!({"op": 7}), serde_json::json!({})),
        FrameError::UnknownOp(7)
    ));
    assert!(matches!(
        decode_error(serde_json::json!({"op": 1}), serde_json::json!({})),
        FrameError::MissingType
    ));
    assert!(matches!(
        decode_error(serde_json::json!({"t": "#commit"}), serde_json::json!({})),
        FrameError::Header(_)
    ));
    assert!(matches!(
        decode_error(serde_json::json!({"op": -1}), serde_json::json!({"message": "x"})),
        FrameError::MissingField { field, .. } if field == "error"
    ));
    assert!(matches!(
        decode_error(commit.clone(), serde_json::json!([1])),
        FrameError::WrongType {
            expected: "map",
            ..
        }
    ));
    assert_eq!(Frame::decode(&[]), Err(FrameError::Empty));
    // Bytes after the body.
    let mut trailing = frame_bytes(&commit, &body);
    trailing.push(0x01);
    assert!(matches!(
        Frame::decode(&trailing),
        Err(FrameError::Body { t, .. }) if t == "#commit"
    ));
}

#[test]
fn resolution_errors_name_what_is_wrong() {
    let (_, body) = real_commit_files().pop().unwrap();
    let event = commit_of(frame_from_json(&commit_header(), &body));
    let other_key = Keypair::generate(KeyAlgorithm::K256).public_key();
    let error = resolve_commit(&event, Some(&other_key)).unwrap_err();
    assert!(
        matches!(&error, ResolveError::Commit { cid, .. } if *cid == event.commit),
        "{error}"
    );

    let mut wrong_repo = event.clone();
    wrong_repo.repo = "did:plc:someoneelse".into();
    assert!(matches!(
        resolve_commit(&wrong_repo, None),
        Err(ResolveError::DidMismatch { .. })
    ));
    let mut wrong_rev = event.clone();
    wrong_rev.rev = "3zzzzzzzzzzzz".into();
    assert!(matches!(
        resolve_commit(&wrong_rev, None),
        Err(ResolveError::RevMismatch { .. })
    ));
    let mut wrong_root = event.clone();
    wrong_root.commit = cid_for_dag_cbor(b"\xa0");
    assert!(matches!(
        resolve_commit(&wrong_root, None),
        Err(ResolveError::RootMismatch { .. })
    ));
    let mut missing_record = event.clone();
    let absent = cid_for_dag_cbor(b"\xa1\x61a\x01");
    missing_record.ops[0].cid = Some(absent);
    match resolve_commit(&missing_record, None) {
        Err(ResolveError::MissingRecord { path, cid }) => {
            assert_eq!(path, event.ops[0].path);
            assert_eq!(cid, absent);
        }
        other => panic!("{other:?}"),
    }
    let mut bad_path = event.clone();
    bad_path.ops[0].path = "no-slash".into();
    assert!(matches!(
        resolve_commit(&bad_path, None),
        Err(ResolveError::InvalidOp { index: 0, .. })
    ));
    let mut corrupt = event.clone();
    let mut blocks = corrupt.blocks.to_vec();
    let last = blocks.len() - 1;
    blocks[last] ^= 0x40;
    corrupt.blocks = Bytes::from(blocks);
    assert!(matches!(
        resolve_commit(&corrupt, None),
        Err(ResolveError::Car(_))
    ));
}

// --- JSON for inspection --------------------------------------------------------------------

#[test]
fn frame_json_shows_the_body_and_the_resolved_records() {
    let (name, body) = real_commit_files().pop().unwrap();
    let frame = frame_from_json(&commit_header(), &body);
    let json = frame_to_json(&frame);
    assert_eq!(
        json["header"],
        serde_json::json!({"op": 1, "t": "#commit"}),
        "{name}"
    );
    // The body is the captured event itself (same $link / $bytes conventions), `prev` included.
    assert_eq!(json["body"], body, "{name}");
    let blocks = &json["blocks"];
    assert_eq!(blocks["roots"][0], body["commit"]);
    assert_eq!(blocks["commit"]["did"], body["repo"]);
    assert_eq!(blocks["commit"]["rev"], body["rev"]);
    let records = blocks["records"].as_array().unwrap();
    assert_eq!(records.len(), body["ops"].as_array().unwrap().len());
    assert_eq!(records[0]["path"], body["ops"][0]["path"]);
    assert_eq!(records[0]["record"]["$type"], "app.bsky.actor.profile");

    // Other types, and frames whose slice is broken, still render.
    for frame in sample_frames() {
        let json = frame_to_json(&frame);
        assert_eq!(json["header"]["op"], frame.header().op);
        assert!(json["body"].is_object(), "{}", frame.type_name());
    }
    let Frame::Commit(mut event) = frame else {
        panic!()
    };
    event.blocks = Bytes::from_static(b"\x01");
    let json = frame_to_json(&Frame::Commit(event));
    assert!(json["blocks"]["error"].is_string());
}

// --- no input panics -------------------------------------------------------------------------

/// Every stage a frame goes through, on whatever decoded; must never panic.
fn exercise(bytes: &[u8]) {
    let Ok(frame) = Frame::decode(bytes) else {
        return;
    };
    let _ = frame.encode();
    let _ = frame_to_json(&frame);
    if let Frame::Commit(event) = &frame
        && let Ok(resolved) = resolve_commit(event, None)
    {
        let _ = resolved.check_prev_data();
    }
    if let Frame::Sync(event) = &frame {
        let _ = resolve_sync(event, None);
    }
    let keys = |_: &str| Some(Keypair::generate(KeyAlgorithm::K256).public_key());
    let mut validator = RepoStreamValidator::new(ValidatorConfig::default(), keys);
    let _ = validator.validate(&frame);
}

fn real_frames() -> Vec<Vec<u8>> {
    let mut frames: Vec<Vec<u8>> = real_commit_files()
        .iter()
        .map(|(_, body)| frame_bytes(&commit_header(), body))
        .collect();
    frames.extend(sample_frames().iter().map(Frame::encode));
    frames
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&bytes);
    }

    #[test]
    fn truncated_and_bit_flipped_frames_never_panic(
        which in any::<prop::sample::Index>(),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
        cut in any::<prop::sample::Index>(),
    ) {
        let frames = real_frames();
        let frame = which.get(&frames);
        let mut flipped = frame.clone();
        let position = position.index(flipped.len());
        flipped[position] ^= 1 << bit;
        exercise(&flipped);
        exercise(&frame[..cut.index(frame.len())]);
    }
}

// --- any well-formed event round-trips exactly ----------------------------------------------

fn arb_cid() -> impl Strategy<Value = Cid> {
    any::<[u8; 8]>().prop_map(|seed| cid_for_dag_cbor(&seed))
}

fn arb_extra() -> impl Strategy<Value = Extra> {
    proptest::collection::btree_map(
        "x-[a-z]{1,6}",
        prop_oneof![
            any::<i64>().prop_map(|i| Ipld::Integer(i.into())),
            ".{0,8}".prop_map(Ipld::String),
            Just(Ipld::Null),
            arb_cid().prop_map(Ipld::Link),
        ],
        0..3,
    )
}

fn arb_op() -> impl Strategy<Value = RepoOp> {
    (
        prop_oneof![
            Just(OpAction::Create),
            Just(OpAction::Update),
            Just(OpAction::Delete)
        ],
        "[a-z.]{1,12}/[a-z0-9]{1,13}",
        proptest::option::of(arb_cid()),
        proptest::option::of(arb_cid()),
    )
        .prop_map(|(action, path, cid, prev)| RepoOp {
            action,
            path,
            cid,
            prev,
        })
}

fn arb_commit() -> impl Strategy<Value = CommitEvent> {
    (
        (
            any::<i64>(),
            "did:[a-z]{3}:[a-z0-9]{1,24}",
            arb_cid(),
            "[2-7a-z]{13}",
        ),
        (
            proptest::option::of("[2-7a-z]{13}"),
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(arb_op(), 0..4),
            proptest::collection::vec(arb_cid(), 0..2),
        ),
        (
            ".{0,30}",
            proptest::option::of(arb_cid()),
            any::<bool>(),
            any::<bool>(),
        ),
        arb_extra(),
    )
        .prop_map(
            |(
                (seq, repo, commit, rev),
                (since, blocks, ops, blobs),
                (time, prev_data, rebase, too_big),
                extra,
            )| {
                CommitEvent {
                    seq,
                    repo,
                    commit,
                    rev,
                    since,
                    blocks: Bytes::from(blocks),
                    ops,
                    blobs,
                    time,
                    prev_data,
                    rebase,
                    too_big,
                    extra,
                }
            },
        )
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        arb_commit().prop_map(|event| Frame::Commit(Box::new(event))),
        (
            any::<i64>(),
            ".{0,20}",
            proptest::option::of(".{0,20}"),
            arb_extra()
        )
            .prop_map(|(seq, did, handle, extra)| Frame::Identity(IdentityEvent {
                seq,
                did,
                time: "2025-01-01T00:00:00Z".into(),
                handle,
                extra,
            })),
        (
            any::<i64>(),
            any::<bool>(),
            proptest::option::of("[a-z]{1,12}"),
            arb_extra()
        )
            .prop_map(|(seq, active, status, extra)| Frame::Account(AccountEvent {
                seq,
                did: "did:plc:x".into(),
                time: "t".into(),
                active,
                status,
                extra,
            })),
        (".{0,20}", proptest::option::of(".{0,20}"), arb_extra()).prop_map(
            |(error, message, extra)| Frame::Error(ErrorFrame {
                error,
                message,
                extra,
            })
        ),
    ]
}

proptest! {
    #[test]
    fn any_event_round_trips_exactly(frame in arb_frame()) {
        let bytes = frame.encode();
        let decoded = Frame::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &frame);
        prop_assert_eq!(decoded.encode(), bytes);
    }
}
