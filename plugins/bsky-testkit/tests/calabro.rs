//! Every record of a real account (`fixtures/real/shrike/calabro.car`: 4,347 records, every
//! embed type) through the Bluesky plugins, in the repo's key order as a backfill delivers
//! them: no record of a claimed collection may fail, and the row operations are snapshotted.

use std::collections::BTreeMap;

use sluice_atproto::repo::{ReadOptions, RepoReader};
use sluice_bsky_testkit::{Host, OpResult, PluginHandle};
use sluice_plugin_sdk::types::{RowOp, Source};

/// The fixture, relative to this crate (the checkout's parent holds `shared/`).
fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ))
    .join(path)
}

/// When the records are indexed: the day after the repo's last commit (rev `3miwohn2gsf2b`,
/// 2026-04-07), so the last week's records notify and older ones do not.
const INDEXED_AT: &str = "2026-04-08T00:00:00.000Z";

#[tokio::test]
async fn every_record_of_a_real_repo() {
    let bytes = std::fs::read(fixture("real/shrike/calabro.car")).unwrap();
    let repo = RepoReader::read(bytes.as_slice(), &ReadOptions::default())
        .await
        .unwrap();
    let did = repo.commit().did.to_string();
    let mut host = Host::new(vec![
        PluginHandle::of::<sluice_bsky_feed::BskyFeed>(),
        PluginHandle::of::<sluice_bsky_graph::BskyGraph>(),
        PluginHandle::of::<sluice_bsky_actor::BskyActor>(),
        PluginHandle::of::<sluice_bsky_labels::BskyLabels>(),
    ]);
    let claimed: Vec<String> = [
        sluice_bsky_feed::COLLECTIONS
            .iter()
            .map(|c| (*c).to_owned())
            .collect::<Vec<_>>(),
        sluice_bsky_graph::COLLECTIONS
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
        sluice_bsky_actor::COLLECTIONS
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
    ]
    .concat();

    // (collection, outcome) → count; (collection, row op) → count.
    let mut outcomes: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut row_ops: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut records = 0;
    for record in repo.records() {
        let record = record.unwrap();
        records += 1;
        let collection = record.collection().to_owned();
        let uri = format!("at://{did}/{}", record.path());
        let result = host.create(
            &uri,
            &record.cid.to_string(),
            record.bytes.to_vec(),
            INDEXED_AT,
        );
        let outcome = match &result {
            OpResult::Indexed { ops, .. } => {
                for op in ops {
                    *row_ops
                        .entry((collection.clone(), describe(op)))
                        .or_default() += 1;
                }
                "indexed".to_owned()
            }
            OpResult::Skipped(error) => format!("skipped: {error:?}"),
            OpResult::Parked(reason) => format!("parked: {reason}"),
        };
        if claimed.contains(&collection) && !matches!(result, OpResult::Indexed { .. }) {
            failures.push(format!("{uri}: {outcome}"));
        }
        let outcome = if claimed.contains(&collection) {
            outcome
        } else {
            "not claimed".to_owned()
        };
        *outcomes.entry((collection, outcome)).or_default() += 1;
    }
    assert_eq!(records, 4347);
    assert!(failures.is_empty(), "{failures:#?}");
    let replays = host
        .log
        .iter()
        .filter(|(_, source, _)| *source == Source::Replay)
        .count();

    let mut summary = String::new();
    summary.push_str(&format!(
        "records: {records}, replays: {replays}\n\n== outcomes\n"
    ));
    let mut unclaimed = 0;
    for ((collection, outcome), count) in &outcomes {
        if outcome == "not claimed" {
            unclaimed += count;
        } else {
            summary.push_str(&format!("{collection}: {outcome} {count}\n"));
        }
    }
    summary.push_str(&format!(
        "(other collections, not claimed: {unclaimed})\n\n== row operations\n"
    ));
    for ((collection, op), count) in &row_ops {
        summary.push_str(&format!("{collection}: {op} {count}\n"));
    }
    summary.push_str("\n== tables\n");
    for table in host.tables().names() {
        let rows = host.rows(&table);
        if !rows.is_empty() {
            summary.push_str(&format!("{table}: {}\n", rows.len()));
        }
    }
    summary.push_str(&format!("\nawaited records: {}\n", host.awaits().len()));
    insta::assert_snapshot!(summary);
}

/// `upsert table` / `delete table (columns)` / `increment table.column`.
fn describe(op: &RowOp) -> String {
    match op {
        RowOp::Upsert(upsert) => format!("upsert {}", upsert.table),
        RowOp::Delete(delete) => format!(
            "delete {} ({})",
            delete.table,
            delete
                .matching
                .iter()
                .map(|c| c.column.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        RowOp::Increment(increment) => {
            format!("increment {}.{}", increment.table, increment.column)
        }
    }
}
