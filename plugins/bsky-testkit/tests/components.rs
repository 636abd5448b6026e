//! The Bluesky plugins as WASM components in the real plugin host: they build for
//! `wasm32-wasip2`, the host accepts their declarations (as built-in plugins writing core
//! tables), every row operation they produce for a real repo passes the host's checks, and the
//! components produce exactly what the plugins produce natively.

use sluice_atproto::repo::{ReadOptions, RepoReader};
use sluice_plugin_host::types::{
    Action, IdentityEvent, Label, NetworkEvent, RecordOp, Source, StoredRecord,
};
use sluice_plugin_host::{
    DriverOptions, EngineConfig, LoadOptions, MemoryResolver, OpResult, Plugin, PluginEngine,
    guest_build,
};
use sluice_plugin_sdk::types as guest;

fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ))
    .join(path)
}

/// The Bluesky plugins: package, and the native runtime of the same plugin.
type Native = fn(&[guest::RecordOp], &[guest::Answer]) -> Vec<guest::Outcome>;
const PLUGINS: [(&str, Native); 3] = [
    (
        "sluice-bsky-feed",
        sluice_plugin_sdk::runtime::index_records::<sluice_bsky_feed::BskyFeed>,
    ),
    (
        "sluice-bsky-graph",
        sluice_plugin_sdk::runtime::index_records::<sluice_bsky_graph::BskyGraph>,
    ),
    (
        "sluice-bsky-actor",
        sluice_plugin_sdk::runtime::index_records::<sluice_bsky_actor::BskyActor>,
    ),
];

async fn load(engine: &PluginEngine, package: &str) -> Plugin {
    let path = guest_build::build(package).unwrap();
    Plugin::load_file(engine, &path, LoadOptions { builtin: true })
        .await
        .unwrap_or_else(|error| panic!("{package}: {error}"))
}

/// Every record of calabro.car as a backfilled create.
async fn calabro_ops() -> Vec<RecordOp> {
    let bytes = std::fs::read(fixture("real/shrike/calabro.car")).unwrap();
    let repo = RepoReader::read(bytes.as_slice(), &ReadOptions::default())
        .await
        .unwrap();
    let did = repo.commit().did.to_string();
    repo.records()
        .map(|record| {
            let record = record.unwrap();
            RecordOp {
                action: Action::Create,
                did: did.clone(),
                collection: record.collection().to_owned(),
                rkey: record.rkey().to_owned(),
                record: Some(StoredRecord {
                    cid: record.cid.to_string(),
                    body: record.bytes.to_vec(),
                }),
                previous: None,
                rev: repo.commit().rev.clone().unwrap_or_default(),
                indexed_at: "2026-04-08T00:00:00.000Z".into(),
                source: Source::Backfill,
            }
        })
        .collect()
}

fn to_guest(op: &RecordOp) -> guest::RecordOp {
    let stored = |record: &StoredRecord| guest::StoredRecord {
        cid: record.cid.clone(),
        body: record.body.clone(),
    };
    guest::RecordOp {
        action: guest::Action::Create,
        did: op.did.clone(),
        collection: op.collection.clone(),
        rkey: op.rkey.clone(),
        record: op.record.as_ref().map(stored),
        previous: op.previous.as_ref().map(stored),
        rev: op.rev.clone(),
        indexed_at: op.indexed_at.clone(),
        source: guest::Source::Backfill,
    }
}

/// Runs one operation natively as the host does with every lookup answered "absent".
fn native_run(native: Native, op: &guest::RecordOp) -> String {
    let mut answers: Vec<guest::Answer> = Vec::new();
    loop {
        match native(std::slice::from_ref(op), &answers)
            .into_iter()
            .next()
        {
            Some(guest::Outcome::Needs(lookups)) => {
                for lookup in lookups {
                    let found = match &lookup {
                        guest::Lookup::Record(_) => guest::Found::Record(None),
                        guest::Lookup::Rows(_) => guest::Found::Rows(Vec::new()),
                    };
                    answers.push(guest::Answer { lookup, found });
                }
            }
            Some(guest::Outcome::Indexed(indexed)) => return format!("{indexed:?}"),
            other => return format!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn components_load_check_and_agree_with_native_on_a_real_repo() {
    let engine = PluginEngine::new(EngineConfig::default()).unwrap();
    let ops = calabro_ops().await;
    let mut indexed = 0;
    for (package, native) in PLUGINS {
        let plugin = load(&engine, package).await;
        let collections = plugin.declaration().info().collections.clone();
        let mine: Vec<RecordOp> = ops
            .iter()
            .filter(|op| collections.contains(&op.collection))
            .cloned()
            .collect();
        let mut worker = plugin.worker();
        let report = worker
            .index_records(&mine, &MemoryResolver::default(), DriverOptions::default())
            .await
            .unwrap();
        for (op, result) in mine.iter().zip(&report.results) {
            let OpResult::Indexed(wasm) = result else {
                panic!(
                    "{package}: {}/{} was not indexed: {result:?}",
                    op.collection, op.rkey
                );
            };
            indexed += 1;
            assert_eq!(
                format!("{wasm:?}"),
                native_run(native, &to_guest(op)),
                "{package}: {}/{}",
                op.collection,
                op.rkey
            );
        }
    }
    assert_eq!(indexed, 4347 - 76, "every record of a claimed collection");
}

#[tokio::test]
async fn event_plugins_load_and_index_events() {
    let engine = PluginEngine::new(EngineConfig::default()).unwrap();
    let labels = load(&engine, "sluice-bsky-labels").await;
    let actor = load(&engine, "sluice-bsky-actor").await;
    let label = NetworkEvent::Label(Label {
        src: "did:plc:labeler".into(),
        uri: "at://did:plc:alice/app.bsky.feed.post/3k".into(),
        cid: None,
        val: "porn".into(),
        neg: false,
        cts: "2024-05-01T10:00:00.000Z".into(),
        exp: None,
    });
    let identity = NetworkEvent::Identity(IdentityEvent {
        did: "did:plc:alice".into(),
        handle: Some("alice.test".into()),
    });
    for (plugin, event) in [(labels, label), (actor, identity)] {
        let report = plugin
            .worker()
            .index_events(
                std::slice::from_ref(&event),
                &MemoryResolver::default(),
                DriverOptions::default(),
            )
            .await
            .unwrap();
        assert!(
            matches!(&report.results[0], OpResult::Indexed(indexed) if !indexed.ops.is_empty()),
            "{:?}",
            report.results
        );
    }
}
