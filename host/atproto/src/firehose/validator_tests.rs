//! Tests of the stream validator: the indigo relay scenarios (every message decoded from its
//! JSON form and from real DAG-CBOR frame bytes) and commit chains built with [`Repo`].

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{TimeZone, Utc};

use super::tests::{frame_from_json, json_fixture};
use super::*;
use crate::crypto::{KeyAlgorithm, Keypair, PublicKey};
use crate::repo::{CommitDiff, RecordWrite, Repo, encode_record};

// --- the indigo relay scenarios -------------------------------------------------------------

struct Scenario {
    lenient: bool,
    accounts: Vec<(String, PublicKey, AccountStatus)>,
    /// Each message with its expected `drop` and `update` flags.
    messages: Vec<(Frame, bool, bool)>,
}

fn load_scenario(name: &str) -> Scenario {
    let json = json_fixture(&format!("indigo/relay-scenarios/{name}.json"));
    let accounts = json["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| {
            let identity = &account["identity"];
            let key = identity["keys"]["atproto"]["publicKeyMultibase"]
                .as_str()
                .unwrap();
            (
                identity["did"].as_str().unwrap().to_owned(),
                PublicKey::from_multibase(key).unwrap(),
                AccountStatus::parse(account["status"].as_str().unwrap()),
            )
        })
        .collect();
    let messages = json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| {
            let frame = frame_from_json(&message["frame"]["header"], &message["frame"]["body"]);
            assert_eq!(
                message["invalid"], false,
                "{name}: no scenario marks invalid"
            );
            (
                frame,
                message["drop"].as_bool().unwrap(),
                message["update"].as_bool().unwrap(),
            )
        })
        .collect();
    Scenario {
        lenient: json["lenient"].as_bool().unwrap_or(false),
        accounts,
        messages,
    }
}

/// Replays a scenario; `Err` names the first message whose verdict disagrees with its flags.
fn run_scenario(
    scenario: &Scenario,
    lenient: bool,
    keys: HashMap<String, PublicKey>,
) -> Result<Vec<Verdict>, String> {
    let config = ValidatorConfig {
        lenient,
        ..ValidatorConfig::default()
    };
    let mut validator = RepoStreamValidator::new(config, keys);
    for (did, _, status) in &scenario.accounts {
        validator.set_account_status(did, status.clone());
    }
    let mut verdicts = Vec::new();
    for (index, (frame, drop, update)) in scenario.messages.iter().enumerate() {
        let verdict = validator.validate(frame);
        if verdict.is_drop() != *drop || verdict.is_account_update() != *update {
            return Err(format!(
                "message #{index} ({}): expected drop={drop} update={update}, got {verdict:?}",
                frame.type_name()
            ));
        }
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

fn scenario_keys(scenario: &Scenario) -> HashMap<String, PublicKey> {
    scenario
        .accounts
        .iter()
        .map(|(did, key, _)| (did.clone(), key.clone()))
        .collect()
}

/// Runs a scenario in its own mode and returns its verdicts, panicking with the mismatch.
fn passes(name: &str, lenient: Option<bool>) -> Vec<Verdict> {
    let scenario = load_scenario(name);
    let lenient = lenient.unwrap_or(scenario.lenient);
    run_scenario(&scenario, lenient, scenario_keys(&scenario))
        .unwrap_or_else(|e| panic!("{name} (lenient: {lenient}): {e}"))
}

fn drop_labels(verdicts: &[Verdict]) -> Vec<&'static str> {
    verdicts
        .iter()
        .filter_map(|verdict| match verdict {
            Verdict::Drop(reason) => Some(reason.label()),
            _ => None,
        })
        .collect()
}

#[test]
fn post_lifecycle_chains_with_every_prev_data_verified() {
    let verdicts = passes("post_lifecycle", None);
    assert_eq!(verdicts.len(), 6);
    for verdict in &verdicts {
        let Verdict::Accept {
            commit: Some(commit),
            warnings,
        } = verdict
        else {
            panic!("{verdict:?}")
        };
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(commit.check_prev_data().is_verified());
        assert!(commit.signature_verified);
    }
}

#[test]
fn post_lifecycle_legacy_passes_only_when_lenient() {
    let verdicts = passes("post_lifecycle_legacy", Some(true));
    // Lenient: nothing dropped, the missing prevData noted.
    assert!(verdicts.iter().all(|v| !v.is_drop()));
    let scenario = load_scenario("post_lifecycle_legacy");
    let error = run_scenario(&scenario, false, scenario_keys(&scenario)).unwrap_err();
    assert!(error.contains("MissingPrevData"), "{error}");
}

#[test]
fn legacy_passes_and_fails_with_a_wrong_key() {
    passes("legacy", None);
    let scenario = load_scenario("legacy");
    let mut keys = scenario_keys(&scenario);
    let wrong =
        PublicKey::from_multibase("zQ3shbzd9YoCFQrzfdw2AGpxUHTjUhh69MXRh7hHBavx9wQon").unwrap();
    for key in keys.values_mut() {
        *key = wrong.clone();
    }
    let error = run_scenario(&scenario, scenario.lenient, keys).unwrap_err();
    assert!(error.contains("#commit"), "{error}");
    assert!(error.contains("BadSignature"), "{error}");
}

#[test]
fn rev_ordering_drops_backwards_and_repeated_revs() {
    let verdicts = passes("rev_ordering", None);
    assert_eq!(
        drop_labels(&verdicts),
        ["rev_not_increasing", "rev_not_increasing"]
    );
}

#[test]
fn seq_ordering_drops_repeated_and_backwards_seqs() {
    let verdicts = passes("seq_ordering", None);
    assert_eq!(
        drop_labels(&verdicts),
        ["seq_not_increasing", "seq_not_increasing"]
    );
}

#[test]
fn deactivation_drops_commits_while_inactive() {
    let verdicts = passes("deactivation", None);
    assert_eq!(drop_labels(&verdicts), ["account_inactive"]);
    // After reactivation, the first commit follows the dropped one: a gap, so a resync.
    assert!(matches!(
        verdicts.get(4),
        Some(Verdict::Resync {
            reason: ResyncReason::SinceGap { .. },
            commit: Some(_),
            ..
        })
    ));
}

#[test]
fn account_lifecycle_passes_strict_and_lenient() {
    for lenient in [false, true] {
        let verdicts = passes("account_lifecycle", Some(lenient));
        assert!(matches!(
            verdicts.get(2),
            Some(Verdict::Resync {
                reason: ResyncReason::SyncEvent,
                ..
            })
        ));
        assert!(matches!(
            verdicts.get(3),
            Some(Verdict::UpdateAccount {
                status: AccountStatus::Deleted,
                previous: AccountStatus::Active,
                ..
            })
        ));
    }
}

#[test]
fn every_scenario_message_is_tallied() {
    // The table of vectors tried and passed, one row per scenario file and mode.
    let runs = [
        ("account_lifecycle", false),
        ("account_lifecycle", true),
        ("deactivation", true),
        ("legacy", true),
        ("post_lifecycle", false),
        ("post_lifecycle_legacy", true),
        ("rev_ordering", false),
        ("seq_ordering", true),
    ];
    let mut total = 0;
    for (name, lenient) in runs {
        let count = passes(name, Some(lenient)).len();
        println!("relay scenario {name} (lenient: {lenient}): {count}/{count} messages");
        total += count;
    }
    assert_eq!(total, 4 + 4 + 8 + 3 + 6 + 6 + 4 + 4);
}

// --- commit chains built with a real repo ---------------------------------------------------

const DID: &str = "did:plc:validatortest0000000000";
const TIME: &str = "2025-01-01T00:00:00.000Z";

fn post(text: &str) -> Bytes {
    let value = ipld_core::ipld!({
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": TIME,
    });
    encode_record(&value).unwrap()
}

fn create(rkey: &str, text: &str) -> RecordWrite {
    RecordWrite::Create {
        path: format!("app.bsky.feed.post/{rkey}"),
        record: post(text),
    }
}

struct Chain {
    repo: Repo,
    seq: i64,
}

impl Chain {
    fn new() -> Self {
        Self {
            repo: Repo::new(DID, Keypair::generate(KeyAlgorithm::K256)),
            seq: 0,
        }
    }

    fn key(&self) -> PublicKey {
        self.repo.keypair().public_key()
    }

    fn validator(&self, lenient: bool) -> RepoStreamValidator<HashMap<String, PublicKey>> {
        let config = ValidatorConfig {
            lenient,
            ..ValidatorConfig::default()
        };
        RepoStreamValidator::new(config, HashMap::from([(DID.to_owned(), self.key())]))
    }

    fn diff(&mut self, writes: &[RecordWrite]) -> CommitDiff {
        self.repo.apply_writes(writes).unwrap()
    }

    fn event(&mut self, diff: &CommitDiff) -> CommitEvent {
        self.seq += 1;
        CommitEvent::from_commit_diff(diff, self.seq, TIME)
    }

    /// The next commit's frame, through the wire format.
    fn commit(&mut self, writes: &[RecordWrite]) -> Frame {
        let diff = self.diff(writes);
        let event = self.event(&diff);
        Frame::decode(&Frame::Commit(Box::new(event)).encode()).unwrap()
    }
}

fn frame(event: CommitEvent) -> Frame {
    Frame::Commit(Box::new(event))
}

fn accepted(verdict: Verdict) -> Box<ResolvedCommit> {
    match verdict {
        Verdict::Accept {
            commit: Some(commit),
            warnings,
        } if warnings.is_empty() => commit,
        other => panic!("expected a clean accept, got {other:?}"),
    }
}

fn resync_reason(verdict: &Verdict) -> &ResyncReason {
    match verdict {
        Verdict::Resync { reason, .. } => reason,
        other => panic!("expected a resync, got {other:?}"),
    }
}

fn drop_reason(verdict: &Verdict) -> &DropReason {
    match verdict {
        Verdict::Drop(reason) => reason,
        other => panic!("expected a drop, got {other:?}"),
    }
}

#[test]
fn a_chain_of_commits_is_accepted_with_its_records() {
    let mut chain = Chain::new();
    let mut validator = chain.validator(false);
    let batches = vec![
        vec![create("3k000000000a", "one"), create("3k000000000b", "two")],
        vec![RecordWrite::Update {
            path: "app.bsky.feed.post/3k000000000a".into(),
            record: post("one, edited"),
        }],
        vec![RecordWrite::Delete {
            path: "app.bsky.feed.post/3k000000000b".into(),
        }],
        (0..20)
            .map(|i| create(&format!("3k0000000{i:03}"), "many"))
            .collect(),
    ];
    for writes in batches {
        let frame = chain.commit(&writes);
        let commit = accepted(validator.validate(&frame));
        assert_eq!(commit.ops.len(), writes.len());
        for (op, write) in commit.ops.iter().zip(&writes) {
            match write {
                RecordWrite::Create { record, path } | RecordWrite::Update { record, path } => {
                    assert_eq!(&op.path, path);
                    assert_eq!(op.record.as_ref(), Some(record));
                }
                RecordWrite::Delete { path } => {
                    assert_eq!(&op.path, path);
                    assert_eq!(op.action, OpAction::Delete);
                    assert!(op.record.is_none());
                }
            }
        }
        let state = validator.repo_state(DID).unwrap();
        assert_eq!(state.data, Some(commit.commit.data));
        assert_eq!(state.rev.as_deref(), Some(commit.rev.as_str()));
        assert_eq!(state.last_seq, Some(commit.seq));
    }
}

#[test]
fn a_missed_commit_is_a_gap_then_the_chain_resumes() {
    let mut chain = Chain::new();
    let mut validator = chain.validator(false);
    accepted(validator.validate(&chain.commit(&[create("3k000000000a", "a")])));
    let _missed = chain.commit(&[create("3k000000000b", "b")]);
    let verdict = validator.validate(&chain.commit(&[create("3k000000000c", "c")]));
    assert!(matches!(
        resync_reason(&verdict),
        ResyncReason::PrevDataGap { .. }
    ));
    // The commit itself is sound: its records come with the resync.
    let Verdict::Resync {
        commit: Some(commit),
        ..
    } = verdict
    else {
        panic!()
    };
    assert_eq!(commit.ops.len(), 1);
    accepted(validator.validate(&chain.commit(&[create("3k000000000d", "d")])));
}

#[test]
fn a_commit_that_contradicts_its_prev_data_is_a_broken_commit() {
    let mut chain = Chain::new();
    let mut validator = chain.validator(false);
    accepted(validator.validate(&chain.commit(&[create("3k000000000a", "a")])));
    let diff = chain.diff(&[create("3k000000000b", "b")]);
    let mut event = chain.event(&diff);
    event.prev_data = Some(diff.commit.data);
    let verdict = validator.validate(&frame(event));
    assert!(matches!(
        resync_reason(&verdict),
        ResyncReason::BrokenCommit(ChainBreak::RootDiffers { .. })
    ));
    assert!(matches!(verdict, Verdict::Resync { commit: None, .. }));
    // The state moved on to the (signed) commit: the next one connects.
    accepted(validator.validate(&chain.commit(&[create("3k000000000c", "c")])));
}

#[test]
fn an_incomplete_proof_resyncs_when_strict_and_warns_when_lenient() {
    for lenient in [false, true] {
        let mut chain = Chain::new();
        let mut validator = chain.validator(lenient);
        accepted(validator.validate(&chain.commit(&[create("3k000000000a", "a")])));
        let mut diff = chain.diff(&[create("3k000000000b", "b")]);
        let root = diff.commit.data;
        diff.blocks.retain(|(cid, _)| *cid != root);
        let verdict = validator.validate(&frame(chain.event(&diff)));
        let expected = Unverifiable::ProofIncomplete {
            missing: root,
            location: crate::mst::KeyRange {
                after: None,
                before: Some("app.bsky.feed.post/3k000000000b".to_owned()),
            },
            prev_data: diff.prev_data,
        };
        if lenient {
            let Verdict::Accept {
                commit: Some(_),
                warnings,
            } = verdict
            else {
                panic!("{verdict:?}")
            };
            assert_eq!(warnings, [Warning::PrevDataUnchecked(expected)]);
        } else {
            assert!(
                matches!(resync_reason(&verdict), ResyncReason::Unverifiable(u) if *u == expected)
            );
        }
    }
}

#[test]
fn commits_without_their_records_resync() {
    let mut chain = Chain::new();
    let mut validator = chain.validator(false);
    let mut diff = chain.diff(&[create("3k000000000a", "a")]);
    let record = diff.ops[0].cid.unwrap();
    diff.blocks.retain(|(cid, _)| *cid != record);
    let verdict = validator.validate(&frame(chain.event(&diff)));
    assert!(matches!(
        resync_reason(&verdict),
        ResyncReason::MissingRecords(text) if text.contains(&record.to_string())
    ));
    let diff = chain.diff(&[create("3k000000000b", "b")]);
    let mut event = chain.event(&diff);
    event.too_big = true;
    let verdict = validator.validate(&frame(event));
    assert_eq!(resync_reason(&verdict).label(), "missing_records");
    // Both commits were authentic: the chain continues from the last one.
    accepted(validator.validate(&chain.commit(&[create("3k000000000c", "c")])));
}

#[test]
fn malformed_or_unauthentic_commits_are_dropped_and_change_nothing() {
    let mut chain = Chain::new();
    let mut validator = chain.validator(false);
    accepted(validator.validate(&chain.commit(&[create("3k000000000a", "a")])));
    let before = validator.repo_state(DID).cloned();
    // Another account with the same key: only the DID check can catch a frame naming it.
    let other = "did:plc:someoneelse000000000";
    validator.keys_mut().insert(other.to_owned(), chain.key());

    let diff = chain.diff(&[create("3k000000000b", "b")]);
    let good = chain.event(&diff);
    let mut next_seq = good.seq;
    let mut variant = |change: &dyn Fn(&mut CommitEvent)| {
        next_seq += 1;
        let mut event = good.clone();
        event.seq = next_seq;
        change(&mut event);
        frame(event)
    };
    let cases: Vec<(Frame, &str)> = vec![
        (variant(&|e| e.rev = "not-a-tid".into()), "invalid_rev"),
        (variant(&|e| e.repo = "not a did".into()), "invalid_did"),
        (variant(&|e| e.repo = other.into()), "invalid_commit"),
        (variant(&|e| e.rebase = true), "rebase"),
        (variant(&|e| e.time = "yesterday".into()), "invalid_time"),
        (
            variant(&|e| e.blocks = Bytes::from_static(b"\x0a")),
            "invalid_commit",
        ),
        (
            variant(&|e| e.ops[0].path = "bad path".into()),
            "invalid_commit",
        ),
    ];
    for (frame, label) in cases {
        let verdict = validator.validate(&frame);
        assert_eq!(drop_reason(&verdict).label(), label, "{verdict:?}");
    }
    // A wrong key: the signature is named.
    validator.keys_mut().insert(
        DID.to_owned(),
        Keypair::generate(KeyAlgorithm::P256).public_key(),
    );
    let verdict = validator.validate(&variant(&|_| {}));
    assert_eq!(drop_reason(&verdict).label(), "bad_signature");
    assert_eq!(validator.repo_state(DID).cloned(), before);

    // Limits and the clock.
    let strict = |config: ValidatorConfig| {
        let mut validator =
            RepoStreamValidator::new(config, HashMap::from([(DID.to_owned(), chain.key())]));
        validator.set_repo_state(DID, before.clone().unwrap());
        validator
    };
    let mut small = strict(ValidatorConfig {
        max_blocks_bytes: 10,
        ..ValidatorConfig::default()
    });
    assert_eq!(
        drop_reason(&small.validate(&variant(&|_| {}))).label(),
        "blocks_too_large"
    );
    let mut few = strict(ValidatorConfig {
        max_ops: 0,
        ..ValidatorConfig::default()
    });
    assert_eq!(
        drop_reason(&few.validate(&variant(&|_| {}))).label(),
        "too_many_ops"
    );
    let mut past = strict(ValidatorConfig::default());
    let long_ago = Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(
        drop_reason(&past.validate_at(&variant(&|_| {}), long_ago)).label(),
        "future_rev"
    );
    // Lenient mode lets the strict rules through with warnings.
    let mut lenient = strict(ValidatorConfig {
        lenient: true,
        ..ValidatorConfig::default()
    });
    let verdict = lenient.validate(&variant(&|e| e.rebase = true));
    let Verdict::Accept { warnings, .. } = verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(warnings, [Warning::Rebase]);
}

#[test]
fn an_unknown_key_asks_for_a_resync_without_trusting_the_commit() {
    let mut chain = Chain::new();
    let mut validator = RepoStreamValidator::new(ValidatorConfig::default(), |_: &str| None);
    let verdict = validator.validate(&chain.commit(&[create("3k000000000a", "a")]));
    assert!(matches!(
        verdict,
        Verdict::Resync {
            reason: ResyncReason::NoSigningKey,
            commit: None,
            ..
        }
    ));
    assert!(validator.repo_state(DID).is_none());
}

#[test]
fn sync_events_reset_the_chain_and_account_events_gate_commits() {
    let mut chain = Chain::new();
    let mut validator = chain.validator(false);
    accepted(validator.validate(&chain.commit(&[create("3k000000000a", "a")])));
    // The repo moves on without us; a #sync brings the state to its head.
    let _missed = chain.commit(&[create("3k000000000b", "b")]);
    let head = chain.repo.head().unwrap().1.clone();
    chain.seq += 1;
    let sync = Frame::Sync(SyncEvent::from_commit(&head, chain.seq, TIME));
    let sync = Frame::decode(&sync.encode()).unwrap();
    let verdict = validator.validate(&sync);
    assert!(matches!(resync_reason(&verdict), ResyncReason::SyncEvent));
    assert_eq!(validator.repo_state(DID).unwrap().data, Some(head.data));
    accepted(validator.validate(&chain.commit(&[create("3k000000000c", "c")])));

    // A #sync older than what was seen is dropped.
    chain.seq += 1;
    let stale = Frame::Sync(SyncEvent::from_commit(&head, chain.seq, TIME));
    assert_eq!(
        drop_reason(&validator.validate(&stale)).label(),
        "rev_not_increasing"
    );

    // Takedown: status update, then commits are dropped; identity events still pass.
    let account = |seq, active, status: Option<&str>| {
        Frame::Account(AccountEvent {
            seq,
            did: DID.into(),
            time: TIME.into(),
            active,
            status: status.map(str::to_owned),
            extra: Extra::new(),
        })
    };
    chain.seq += 1;
    let verdict = validator.validate(&account(chain.seq, false, Some("takendown")));
    assert!(matches!(
        verdict,
        Verdict::UpdateAccount {
            status: AccountStatus::Takendown,
            ..
        }
    ));
    let verdict = validator.validate(&chain.commit(&[create("3k000000000d", "d")]));
    assert_eq!(drop_reason(&verdict).label(), "account_inactive");
    chain.seq += 1;
    let identity = Frame::Identity(IdentityEvent {
        seq: chain.seq,
        did: DID.into(),
        time: TIME.into(),
        handle: Some("validator.test".into()),
        extra: Extra::new(),
    });
    assert!(matches!(
        validator.validate(&identity),
        Verdict::Accept { commit: None, .. }
    ));
    chain.seq += 1;
    let verdict = validator.validate(&account(chain.seq, false, None));
    assert!(matches!(
        verdict,
        Verdict::UpdateAccount { status: AccountStatus::Other(ref s), .. } if s == "inactive"
    ));
    chain.seq += 1;
    assert!(
        validator
            .validate(&account(chain.seq, true, None))
            .is_account_update()
    );
    // Back to active: the commit made while taken down is missing, so the next is a gap.
    let verdict = validator.validate(&chain.commit(&[create("3k000000000e", "e")]));
    assert_eq!(resync_reason(&verdict).label(), "prev_data_gap");

    // Frames with no repo rule are ignored and do not touch the seq.
    let last = validator.last_seq();
    let info = Frame::Info(InfoEvent {
        name: "OutdatedCursor".into(),
        message: None,
        extra: Extra::new(),
    });
    assert!(matches!(validator.validate(&info), Verdict::Ignore));
    let unknown = Frame::Unknown(UnknownMessage {
        t: "#handle".into(),
        body: Bytes::from_static(b"\xa0"),
    });
    assert!(matches!(validator.validate(&unknown), Verdict::Ignore));
    assert_eq!(validator.last_seq(), last);
}
