use std::collections::HashMap;

use bytes::Bytes;
use sluice_atproto::firehose::{CarSlice, check_prev_data};

use super::*;
use crate::model::NetworkConfig;
use crate::repo::Snapshot;

fn model() -> Model {
    Model::build(NetworkConfig::new(41, 25).with_records(2_500))
}

#[test]
fn the_schedule_interleaves_every_event_once_in_order() {
    let model = model();
    let mut next: HashMap<u32, u64> = HashMap::new();
    let mut last_seq = 0;
    let mut switches = 0;
    let mut previous_repo = None;
    for step in Schedule::new(&model, 8) {
        assert_eq!(step.seq, last_seq + 1);
        last_seq = step.seq;
        let expected = next.entry(step.repo).or_insert(0);
        assert_eq!(step.position, *expected, "repo {}", step.repo);
        *expected += 1;
        if previous_repo.is_some_and(|r| r != step.repo) {
            switches += 1;
        }
        previous_repo = Some(step.repo);
    }
    assert_eq!(last_seq, model.history_events());
    for repo in 0..model.repo_count() {
        assert_eq!(next[&repo], model.repo(repo).unwrap().events);
    }
    assert!(switches as u64 > last_seq / 2, "{switches} switches");
}

#[test]
fn replaying_the_history_verifies_and_ends_at_each_repos_snapshot() {
    let model = model();
    let mut stream = HistoryStream::from_cursor(&model, 8, 0);
    let mut heads: HashMap<u32, SignedCommit> = HashMap::new();
    let mut last_rev: HashMap<u32, String> = HashMap::new();
    let mut commits = 0;
    while let Some(event) = stream.next_event() {
        let (_, event) = event.unwrap();
        let account = model.account(event.repo).unwrap();
        match event.event {
            RepoEvent::Commit(data) => {
                commits += 1;
                let commit = &data.commit.commit;
                commit
                    .verify_for(&account.did, &account.keypair.public_key())
                    .unwrap();
                assert_eq!(data.since.as_ref(), last_rev.get(&event.repo));
                let rev = commit.rev.clone().unwrap();
                if let Some(previous) = last_rev.get(&event.repo) {
                    assert!(rev > *previous);
                }
                let slice = CarSlice::parse(&Bytes::from(data.car_slice())).unwrap();
                assert_eq!(slice.root(), Some(data.commit.cid));
                for op in &data.ops {
                    if let Some(cid) = op.cid {
                        assert!(slice.contains(&cid), "record block of {}", op.path);
                    }
                }
                let check = check_prev_data(commit.data, &data.ops, data.prev_data, &slice);
                assert!(check.is_verified(), "{check:?}");
                last_rev.insert(event.repo, rev);
                heads.insert(event.repo, data.commit.clone());
            }
            RepoEvent::Sync(commit) => {
                commit
                    .commit
                    .verify_for(&account.did, &account.keypair.public_key())
                    .unwrap();
                last_rev.insert(event.repo, commit.rev().to_owned());
                heads.insert(event.repo, *commit);
            }
            RepoEvent::Identity { .. } | RepoEvent::Account { .. } => {}
        }
    }
    assert_eq!(stream.seq(), model.history_events());
    assert_eq!(stream.active_repos(), 0);
    assert!(commits > 500);
    let generator = Generator::new(&model);
    for repo in 0..model.repo_count() {
        let snapshot = Snapshot::end_of_history(&generator, repo).unwrap();
        assert_eq!(&heads[&repo], snapshot.commit(), "repo {repo}");
    }
}

#[test]
fn resuming_at_a_cursor_gives_the_same_events() {
    let model = model();
    let summary = |event: &TimedEvent| match &event.event {
        RepoEvent::Commit(data) => format!("{} commit {}", event.repo, data.commit.cid),
        RepoEvent::Sync(commit) => format!("{} sync {}", event.repo, commit.cid),
        RepoEvent::Identity { handle } => format!("{} identity {handle}", event.repo),
        RepoEvent::Account { active, status } => {
            format!("{} account {active} {status:?}", event.repo)
        }
    };
    let mut full = HistoryStream::from_cursor(&model, 8, 0);
    let mut all = Vec::new();
    while let Some(event) = full.next_event() {
        let (seq, event) = event.unwrap();
        all.push((seq, summary(&event)));
    }
    for cursor in [1u64, 17, all.len() as u64 / 2, all.len() as u64 - 3] {
        let mut resumed = HistoryStream::from_cursor(&model, 8, cursor);
        let mut tail = Vec::new();
        while let Some(event) = resumed.next_event() {
            let (seq, event) = event.unwrap();
            tail.push((seq, summary(&event)));
        }
        assert_eq!(tail.as_slice(), &all[cursor as usize..], "cursor {cursor}");
    }
    let past_the_end = HistoryStream::from_cursor(&model, 8, all.len() as u64 + 5).next_event();
    assert!(past_the_end.is_none());
}
