//! The same plugin gives the same row operations natively and as a WASM component, on real
//! posts (the fixture CARs) and on updates and deletes (derived deletes).

use sluice_plugin_host::guest_build;
use sluice_plugin_host::types::{Action, RecordOp, Source, StoredRecord};
use sluice_plugin_host::{EngineConfig, LoadOptions, Plugin, PluginEngine};
use sluice_plugin_sdk::types as guest;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// Every post of the real repo CARs, as creates, and as updates and deletes over themselves.
fn real_post_ops() -> Vec<RecordOp> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/real");
    let mut ops = Vec::new();
    for car in ["repo-stream/little.car", "indigo/paul_staging.repo.car"] {
        let bytes = std::fs::read(format!("{root}/{car}")).unwrap();
        let repo = block_on(sluice_atproto::repo::RepoReader::read(
            bytes.as_slice(),
            &sluice_atproto::repo::ReadOptions::default(),
        ))
        .unwrap();
        let did = repo.commit().did.clone();
        let posts: Vec<_> = repo
            .records()
            .filter_map(Result::ok)
            .filter(|record| record.collection() == "app.bsky.feed.post")
            .collect();
        for (index, record) in posts.iter().enumerate() {
            let stored = StoredRecord {
                cid: record.cid.to_string(),
                body: record.bytes.to_vec(),
            };
            // An update over the previous post's body, and a delete, for every fifth post.
            let (action, previous) = match index % 5 {
                1 => (Action::Update, posts.get(index - 1)),
                2 => (Action::Delete, Some(record)),
                _ => (Action::Create, None),
            };
            ops.push(RecordOp {
                action,
                did: did.clone(),
                collection: record.collection().to_owned(),
                rkey: record.rkey().to_owned(),
                record: (action != Action::Delete).then(|| stored.clone()),
                previous: previous.map(|previous| StoredRecord {
                    cid: previous.cid.to_string(),
                    body: previous.bytes.to_vec(),
                }),
                rev: repo.commit().rev.clone().unwrap_or_default(),
                indexed_at: "2024-11-05T10:00:00.000Z".into(),
                source: Source::Backfill,
            });
        }
    }
    ops
}

fn to_guest(op: &RecordOp) -> guest::RecordOp {
    let stored = |record: &StoredRecord| guest::StoredRecord {
        cid: record.cid.clone(),
        body: record.body.clone(),
    };
    guest::RecordOp {
        action: match op.action {
            Action::Create => guest::Action::Create,
            Action::Update => guest::Action::Update,
            Action::Delete => guest::Action::Delete,
        },
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

#[test]
fn native_and_wasm_agree_on_real_posts() {
    let ops = real_post_ops();
    assert!(ops.len() > 100, "the fixtures hold {} posts", ops.len());

    let guest_ops: Vec<guest::RecordOp> = ops.iter().map(to_guest).collect();
    let native = sluice_plugin_sdk::runtime::index_records::<sluice_bench_post_plugin::BenchPost>(
        &guest_ops,
        &[],
    );

    let engine = PluginEngine::new(EngineConfig::default()).unwrap();
    let path = guest_build::build("sluice-bench-post-plugin").unwrap();
    let plugin = block_on(Plugin::load_file(
        &engine,
        &path,
        LoadOptions { builtin: true },
    ))
    .unwrap();
    let mut worker = plugin.worker();
    let wasm = block_on(worker.call_records(&ops, &[])).unwrap();

    assert_eq!(native.len(), wasm.len());
    let mut deletes = 0;
    for (index, (native, wasm)) in native.iter().zip(&wasm).enumerate() {
        // Both sides are generated from the same WIT; their Debug forms name the same cases and
        // fields in the same order.
        assert_eq!(
            format!("{native:?}"),
            format!("{wasm:?}"),
            "operation {index}"
        );
        deletes += format!("{wasm:?}").matches("Delete(Delete").count();
    }
    assert!(deletes > 0, "deletes and updates derived row deletes");
}
