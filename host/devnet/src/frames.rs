//! Firehose frames: repo events and labels encoded with Sluice's frame codec, faults applied.

use bytes::Bytes;
use cid::Cid;
use sluice_atproto::crypto::{KeyAlgorithm, Keypair};
use sluice_atproto::data::cid_for_dag_cbor;
use sluice_atproto::firehose::{
    AccountEvent, CommitEvent, ErrorFrame, Extra, Frame, IdentityEvent, InfoEvent, LabelsEvent,
    SyncEvent,
};
use sluice_atproto::label::Label;

use crate::car;
use crate::content::datetime;
use crate::draw::{Draw, Topic};
use crate::faults::{Faults, FrameFault};
use crate::history::{RepoEvent, TimedEvent};
use crate::model::Model;
use crate::repo::{CommitData, SignedCommit};

/// The key forged commits are signed with (not any account's).
fn forger_key(seed: u64) -> Keypair {
    Keypair::generate_with(
        KeyAlgorithm::K256,
        &mut Draw::new(seed, Topic::Key, u64::MAX, 0, 0),
    )
}

/// Encodes a repo event as the frame with sequence number `seq`, with its fault if it has one.
pub fn encode_event(model: &Model, faults: &Faults, seq: u64, event: &TimedEvent) -> Bytes {
    let did = model
        .account(event.repo)
        .map_or_else(String::new, |a| a.did.clone());
    let time = datetime(event.micros);
    let seq_i64 = i64::try_from(seq).unwrap_or(i64::MAX);
    let is_commit = matches!(event.event, RepoEvent::Commit(_));
    let fault = faults.frame_fault(seq, is_commit);
    let frame = match &event.event {
        RepoEvent::Identity { handle } => Frame::Identity(IdentityEvent {
            seq: seq_i64,
            did,
            time,
            handle: Some(handle.clone()),
            extra: Extra::new(),
        }),
        RepoEvent::Account { active, status } => Frame::Account(AccountEvent {
            seq: seq_i64,
            did,
            time,
            active: *active,
            status: status.map(str::to_owned),
            extra: Extra::new(),
        }),
        RepoEvent::Sync(commit) => Frame::Sync(SyncEvent {
            seq: seq_i64,
            did,
            blocks: Bytes::from(car::car(
                &commit.cid,
                [(&commit.cid, commit.bytes.as_ref())],
            )),
            rev: commit.rev().to_owned(),
            time,
            extra: Extra::new(),
        }),
        RepoEvent::Commit(data) => {
            let forged;
            let data = match fault {
                Some(FrameFault::ForgedSignature) => {
                    forged = forge(model.seed(), &did, data);
                    &forged
                }
                _ => data.as_ref(),
            };
            let prev_data = match fault {
                Some(FrameFault::BrokenPrevData) => Some(wrong_root(seq)),
                _ => data.prev_data,
            };
            Frame::Commit(Box::new(CommitEvent {
                seq: seq_i64,
                repo: did,
                commit: data.commit.cid,
                rev: data.commit.rev().to_owned(),
                since: data.since.clone(),
                blocks: Bytes::from(data.car_slice()),
                ops: data.ops.clone(),
                blobs: Vec::new(),
                time,
                prev_data,
                rebase: false,
                too_big: false,
                extra: Extra::new(),
            }))
        }
    };
    let mut bytes = frame.encode();
    if fault == Some(FrameFault::Malformed) {
        bytes.truncate(bytes.len() / 2);
    }
    Bytes::from(bytes)
}

/// The same commit signed by the forger's key.
fn forge(seed: u64, did: &str, data: &CommitData) -> CommitData {
    let commit = SignedCommit::sign(
        did,
        data.commit.commit.data,
        data.commit.rev(),
        &forger_key(seed),
    );
    let mut blocks = data.blocks.clone();
    if let Some(first) = blocks.first_mut() {
        *first = (commit.cid, commit.bytes.clone());
    }
    CommitData {
        commit,
        since: data.since.clone(),
        prev_data: data.prev_data,
        ops: data.ops.clone(),
        blocks,
    }
}

/// A CID that is no repo's root.
fn wrong_root(seq: u64) -> Cid {
    cid_for_dag_cbor(format!("not the previous root {seq}").as_bytes())
}

/// A `#labels` frame.
pub fn encode_labels(seq: u64, labels: Vec<Label>) -> Bytes {
    Bytes::from(
        Frame::Labels(LabelsEvent {
            seq: i64::try_from(seq).unwrap_or(i64::MAX),
            labels,
            extra: Extra::new(),
        })
        .encode(),
    )
}

/// An error frame (the server closes the stream after it).
pub fn encode_error(error: &str, message: &str) -> Bytes {
    Bytes::from(
        Frame::Error(ErrorFrame {
            error: error.to_owned(),
            message: Some(message.to_owned()),
            extra: Extra::new(),
        })
        .encode(),
    )
}

/// An `#info` frame.
pub fn encode_info(name: &str, message: &str) -> Bytes {
    Bytes::from(
        Frame::Info(InfoEvent {
            name: name.to_owned(),
            message: Some(message.to_owned()),
            extra: Extra::new(),
        })
        .encode(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::FaultConfig;
    use crate::history::HistoryStream;
    use crate::model::NetworkConfig;
    use sluice_atproto::firehose::{CarSlice, check_prev_data, resolve_commit};

    #[test]
    fn frames_decode_and_faults_show() {
        let model = Model::build(NetworkConfig::new(51, 10).with_records(1_000));
        let faults = Faults::new(
            51,
            FaultConfig {
                malformed_frames: 0.05,
                forged_signatures: 0.05,
                broken_prev_data: 0.05,
                ..FaultConfig::default()
            },
        );
        let mut stream = HistoryStream::from_cursor(&model, 4, 0);
        let mut seen = [0u32; 4];
        while let Some(event) = stream.next_event() {
            let (seq, event) = event.unwrap();
            let bytes = encode_event(&model, &faults, seq, &event);
            let fault = faults.frame_fault(seq, matches!(event.event, RepoEvent::Commit(_)));
            let decoded = Frame::decode(&bytes);
            if fault == Some(FrameFault::Malformed) {
                assert!(decoded.is_err());
                seen[0] += 1;
                continue;
            }
            let frame = decoded.unwrap();
            assert_eq!(frame.seq(), Some(seq as i64));
            let Frame::Commit(commit) = frame else {
                continue;
            };
            let account = model.account(event.repo).unwrap();
            assert_eq!(commit.repo, account.did);
            let slice = CarSlice::parse(&commit.blocks).unwrap();
            let resolved = resolve_commit(&commit, None).unwrap();
            let signed = resolve_commit(&commit, Some(&account.keypair.public_key())).is_ok();
            let chained =
                check_prev_data(resolved.commit.data, &commit.ops, commit.prev_data, &slice)
                    .is_verified();
            match fault {
                Some(FrameFault::ForgedSignature) => {
                    assert!(!signed && chained);
                    seen[1] += 1;
                }
                Some(FrameFault::BrokenPrevData) => {
                    assert!(signed && !chained);
                    seen[2] += 1;
                }
                _ => {
                    assert!(signed && chained);
                    seen[3] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    }
}
