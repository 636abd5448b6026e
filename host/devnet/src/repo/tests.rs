use std::collections::HashMap;

use sluice_atproto::repo::{ReadOptions, RepoReader};

use super::*;
use crate::collections::Collection;
use crate::model::NetworkConfig;

fn model() -> Model {
    Model::build(NetworkConfig::new(31, 12).with_records(2_500))
}

#[tokio::test]
async fn repos_pass_sluices_verifier_and_hold_what_the_model_counts() {
    let model = model();
    let generator = Generator::new(&model);
    for repo in 0..model.repo_count() {
        let account = model.account(repo).unwrap();
        let mut snapshot = Snapshot::end_of_history(&generator, repo).unwrap();
        let car = snapshot.to_car(&generator).unwrap();
        let reader = RepoReader::read(car.as_slice(), &ReadOptions::default())
            .await
            .unwrap();
        reader
            .commit()
            .verify_for(&account.did, &account.keypair.public_key())
            .unwrap();
        assert_eq!(reader.commit_cid(), snapshot.commit().cid);
        assert_eq!(reader.duplicate_blocks(), 0);
        let mut counts: HashMap<Collection, i64> = HashMap::new();
        let expected: Vec<(String, Cid)> = snapshot
            .records()
            .map(|(path, cid)| (path.to_owned(), *cid))
            .collect();
        let mut read = Vec::new();
        for record in reader.records() {
            let record = record.unwrap();
            *counts
                .entry(Collection::from_nsid(record.collection()).unwrap())
                .or_default() += 1;
            assert_eq!(
                record.record_type().unwrap().as_deref(),
                Some(record.collection())
            );
            read.push((record.path().to_owned(), record.cid));
        }
        assert_eq!(read, expected);
        let info = model.repo(repo).unwrap();
        for collection in Collection::ALL {
            assert_eq!(
                counts.get(&collection).copied().unwrap_or(0),
                info.counts.get(collection),
                "repo {repo} {collection:?}"
            );
        }
    }
}

#[test]
fn snapshots_are_deterministic() {
    let model = model();
    let generator = Generator::new(&model);
    let a = Snapshot::end_of_history(&generator, 3).unwrap();
    let b = Snapshot::end_of_history(&Generator::new(&model), 3).unwrap();
    assert_eq!(a.commit(), b.commit());
}

#[test]
fn the_car_is_streamed_in_chunks_and_can_stop_early() {
    let model = model();
    let generator = Generator::new(&model);
    let biggest = (0..model.repo_count())
        .max_by_key(|&r| model.repo(r).unwrap().slots)
        .unwrap();
    let mut snapshot = Snapshot::end_of_history(&generator, biggest).unwrap();
    let whole = snapshot.to_car(&generator).unwrap();
    let mut chunks = Vec::new();
    let written = snapshot
        .write_car(&generator, 4096, &mut |chunk| {
            chunks.push(chunk);
            true
        })
        .unwrap();
    assert_eq!(written as usize, whole.len());
    assert!(chunks.len() > 2);
    assert_eq!(chunks.concat(), whole);
    let mut calls = 0;
    let partial = snapshot
        .write_car(&generator, 4096, &mut |_| {
            calls += 1;
            false
        })
        .unwrap();
    assert_eq!(calls, 1);
    assert!((partial as usize) < whole.len());
}

#[test]
fn applying_writes_gives_the_tree_a_fresh_build_gives() {
    let model = model();
    let generator = Generator::new(&model);
    let account = model.account(2).unwrap();
    let records = end_of_history(&model, 2);
    let (first, rest) = records.split_at(records.len() / 2);
    let mut head = Snapshot::build(&generator, 2, first, "3l000000000aa")
        .unwrap()
        .into_head();
    let writes: Vec<ResolvedWrite> = rest
        .iter()
        .map(|p| ResolvedWrite::put(generator.record_at(p.id, p.version, p.micros).unwrap()))
        .collect();
    let diff = head
        .apply(&account.did, "3l000000000ab", &account.keypair, writes)
        .unwrap();
    assert_eq!(diff.since.as_deref(), Some("3l000000000aa"));
    assert_eq!(diff.ops.len(), rest.len());
    let fresh = Snapshot::build(&generator, 2, &records, "3l000000000ab").unwrap();
    assert_eq!(diff.commit, *fresh.commit());
}

#[test]
#[ignore]
fn speed_probe_repo() {
    let model = Model::build(NetworkConfig::new(1, 500).with_records(200_000));
    let generator = Generator::new(&model);
    let biggest = (0..model.repo_count())
        .max_by_key(|&r| model.repo(r).unwrap().slots)
        .unwrap();
    let t = std::time::Instant::now();
    let mut snapshot = Snapshot::end_of_history(&generator, biggest).unwrap();
    let built = t.elapsed();
    let t = std::time::Instant::now();
    let car = snapshot.to_car(&generator).unwrap();
    eprintln!(
        "{} records: build {built:?}, car {:?} ({} bytes)",
        snapshot.record_count(),
        t.elapsed(),
        car.len()
    );
    if std::env::var("PROBE_HISTORY").is_err() {
        for _ in 0..5 {
            let mut snapshot = Snapshot::end_of_history(&generator, biggest).unwrap();
            snapshot.to_car(&generator).unwrap();
        }
        return;
    }
    let t = std::time::Instant::now();
    let mut stream = crate::history::HistoryStream::from_cursor(&model, 64, 0);
    let mut n = 0;
    while t.elapsed().as_secs() < 10 {
        stream.next_event().unwrap().unwrap();
        n += 1;
    }
    eprintln!("history: {n} events in {:?}", t.elapsed());
}
