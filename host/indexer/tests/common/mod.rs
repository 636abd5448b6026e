//! What the indexer's database tests share: the real Bluesky plugins on a fresh migrated schema,
//! backfill entries, and one batch indexed at the first attempt.

use std::sync::Arc;

use sluice_indexer::batch::BatchReport;
use sluice_indexer::identity::RecentlyAnnounced;
use sluice_indexer::input::{Item, NewVersion, RecordChange};
use sluice_indexer::{
    BatchContext, BatchOptions, Entry, NoHandles, PluginFiles, PluginWorkers, PrepareOptions,
    PreparedPlugins, index_batch,
};
use sluice_plugin_host::types::{Action, Source};
use sluice_plugin_host::{EngineConfig, PluginEngine};
use sluice_store::TestDb;

/// The Bluesky plugins that index posts, gates, likes and follows, prepared on a fresh
/// migrated schema.
pub(crate) async fn prepared(db: &TestDb) -> PluginWorkers {
    let files = tokio::task::spawn_blocking(|| {
        ["sluice-bsky-feed", "sluice-bsky-graph"]
            .map(|package| sluice_plugin_host::guest_build::build(package).expect(package))
    })
    .await
    .expect("building the plugins");
    let engine = PluginEngine::new(EngineConfig::default()).expect("engine");
    let set = PluginFiles {
        builtin: files.to_vec(),
        ..PluginFiles::default()
    }
    .load(&engine)
    .await
    .expect("loading the plugins");
    let options = PrepareOptions {
        store_schema: db.schema().to_owned(),
        plugin_schema_prefix: format!("{}_", db.schema()),
        allow_plugin_migrations: true,
    };
    let prepared = PreparedPlugins::prepare(db.pool(), Arc::new(set), &options)
        .await
        .expect("preparing the plugins");
    PluginWorkers::new(Arc::new(prepared))
}

/// A backfill `create` of `record` at `did/collection/rkey`.
pub(crate) fn create(
    delivery: usize,
    did: &str,
    collection: &str,
    rkey: &str,
    record: &serde_json::Value,
) -> Entry {
    let (cbor, cid) =
        sluice_atproto::data::record_json_to_dag_cbor(record).expect("a valid record");
    let json = sluice_atproto::data::dag_cbor_to_json_string(&cbor).expect("record JSON");
    Entry {
        delivery,
        item: Item::Record(RecordChange {
            action: Action::Create,
            did: did.to_owned(),
            collection: collection.to_owned(),
            rkey: rkey.to_owned(),
            uri: format!("at://{did}/{collection}/{rkey}"),
            rev: "3lzzzzzzzzz22".to_owned(),
            commit: String::new(),
            new: Some(NewVersion {
                cid: cid.to_string(),
                json,
                cbor,
            }),
            indexed_at: "2026-01-01T00:00:00.000Z".to_owned(),
            source: Source::Backfill,
        }),
    }
}

/// Indexes `entries` as one batch, which must commit at the first attempt.
pub(crate) async fn index(
    db: &TestDb,
    workers: &mut PluginWorkers,
    entries: &[Entry],
) -> BatchReport {
    let announced = RecentlyAnnounced::new(100);
    let ctx = BatchContext {
        pool: db.pool(),
        handles: &NoHandles,
        announced: &announced,
        options: BatchOptions::default(),
    };
    index_batch(&ctx, workers, entries, false)
        .await
        .expect("the batch commits at the first attempt")
}

/// The single text column of every row `sql` returns.
pub(crate) async fn strings(db: &TestDb, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}
