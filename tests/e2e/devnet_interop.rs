//! The devnet against the official implementation.
//!
//! - `@atproto/repo` (from the realnet install) reads and verifies devnet repos — CIDs, MST,
//!   commit signature against the key of the DID document the devnet serves — and every Bluesky
//!   record passes the lexicon schema the reference AppView's indexer checks records with.
//! - The reference AppView's firehose indexer (`realnet.mjs reference-index`) replays the devnet's
//!   firehose from cursor 0, resolving identities against the devnet's PLC endpoint and handles
//!   against its `/.well-known/atproto-did`, with no handler error, and ends with the rows the
//!   devnet's ground truth predicts.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sluice_atproto::identity::DidDocument;
use sluice_devnet::collections::Collection;
use sluice_devnet::plan::{PlanEvent, PlannedWrite};
use sluice_devnet::{DevnetConfig, Network, NetworkConfig, RunningDevnet};
use tokio::process::Command;

use crate::support::{install_crypto_provider, node, realnet_dir, workspace_root};

async fn start_devnet(seed: u64, repos: u32, records: u64) -> RunningDevnet {
    let config = DevnetConfig::new(NetworkConfig::new(seed, repos).with_records(records));
    let network = tokio::task::spawn_blocking(move || Network::generate(config))
        .await
        .expect("generator thread")
        .expect("generate the devnet");
    RunningDevnet::start(network, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("serve the devnet")
}

/// The last line of `stdout` that parses as a JSON object.
fn last_json_line(stdout: &[u8]) -> Option<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .rev()
        .find_map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(Value::is_object)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atproto_repo_verifies_devnet_repos_and_the_reference_schemas_accept_their_records() {
    install_crypto_provider();
    let devnet = start_devnet(101, 60, 15_000).await;
    let network = devnet.network().clone();
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut manifest = Vec::new();
    let mut expected_records = 0i64;
    for repo in 0..network.model().repo_count() {
        let status = network.repo_status(repo).expect("repo status");
        if !status.active {
            continue;
        }
        let document = client
            .get(format!("{}/{}", devnet.url(), status.did))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("DID document")
            .bytes()
            .await
            .expect("DID document body");
        let key = DidDocument::from_json(&document)
            .and_then(|doc| doc.signing_key())
            .expect("a signing key in the DID document")
            .to_did_key();
        let car = client
            .get(format!(
                "{}/xrpc/com.atproto.sync.getRepo?did={}",
                devnet.url(),
                status.did
            ))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("getRepo")
            .bytes()
            .await
            .expect("getRepo body");
        let path = dir.path().join(format!("{repo}.car"));
        std::fs::write(&path, &car).expect("write the CAR");
        manifest.push(serde_json::json!({ "car": path, "did": status.did, "key": key }));
        expected_records += network.record_counts(repo).total();
    }
    let manifest_path = dir.path().join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).expect("json"))
        .expect("write the manifest");

    let script = workspace_root().join("tests/e2e/support/verify-devnet-repos.mjs");
    let output = Command::new(node())
        .arg(&script)
        .arg("--realnet-dir")
        .arg(realnet_dir())
        .arg(&manifest_path)
        .output()
        .await
        .expect("run the verifier");
    let report = last_json_line(&output.stdout).unwrap_or_else(|| {
        panic!(
            "the verifier printed no report:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    eprintln!("@atproto/repo on devnet repos: {report}");
    assert!(output.status.success(), "verifier failed: {report}");
    assert_eq!(report["verified"], manifest.len());
    assert_eq!(report["invalid_count"], 0, "{report}");
    assert_eq!(report["records"], expected_records);
    // Everything but the other apps' records went through a reference schema.
    let unvalidated: i64 = report["unvalidated_collections"]
        .as_object()
        .expect("object")
        .iter()
        .inspect(|(nsid, _)| assert!(!nsid.starts_with("app.bsky."), "{nsid} not validated"))
        .map(|(_, count)| count.as_i64().unwrap_or(0))
        .sum();
    assert_eq!(
        report["validated"].as_i64().unwrap_or(0) + unvalidated,
        expected_records
    );
    devnet.shutdown().await.expect("shutdown");
}

/// What the history holds, counted the way `reference-index` counts.
#[derive(Debug, Default)]
struct HistoryCounts {
    created: u64,
    updated: u64,
    deleted: u64,
    identity: u64,
    account: u64,
    sync: u64,
}

fn history_counts(network: &Network) -> HistoryCounts {
    let mut counts = HistoryCounts::default();
    let model = network.model();
    for repo in 0..model.repo_count() {
        for (_, event) in model.plan(repo).expect("plan") {
            match event {
                PlanEvent::Identity { .. } => counts.identity += 1,
                PlanEvent::Account { .. } => counts.account += 1,
                PlanEvent::Sync => counts.sync += 1,
                PlanEvent::Commit { writes } => {
                    for write in writes {
                        match write {
                            PlannedWrite::Create(_) => counts.created += 1,
                            PlannedWrite::Update(_) => counts.updated += 1,
                            PlannedWrite::Delete(_) => counts.deleted += 1,
                        }
                    }
                }
            }
        }
    }
    counts
}

/// A schema name the reference accepts (letters and underscores only).
fn schema_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let letters: String = (0..10)
        .map(|i| char::from(b'a' + ((nanos >> (i * 5)) % 26) as u8))
        .collect();
    format!("devnet_reference_{letters}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_indexer_indexes_the_devnet_firehose_without_errors() {
    let devnet = start_devnet(102, 200, 5_400).await;
    let network = devnet.network().clone();
    let expected = history_counts(&network);
    let head = network.history_events();
    let schema = schema_name();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let output = tokio::time::timeout(
        Duration::from_secs(900),
        Command::new(node())
            .arg(realnet_dir().join("realnet.mjs"))
            .arg("reference-index")
            .args(["--firehose", &devnet.firehose_url()])
            .args(["--plc", &devnet.url()])
            .args(["--pg-schema", &schema])
            .args(["--pg-url", &sluice_store::database_url()])
            .args(["--head-seq", &head.to_string()])
            .args(["--timeout-s", "800"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("reference-index finished in time")
    .expect("run reference-index");

    // Drop the schema whatever happened.
    let pool = sqlx::PgPool::connect(&sluice_store::database_url())
        .await
        .expect("connect to Postgres");
    let report = last_json_line(&output.stdout).map(|v| v["reference_index"].clone());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&pool)
    .await
    .expect("drop the schema");
    let report = report.unwrap_or_else(|| {
        panic!(
            "reference-index printed no report ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    });
    eprintln!("reference-index on the devnet firehose: {report}");
    assert!(output.status.success(), "{report}");
    assert_eq!(report["handler_errors"], 0, "{report}");
    assert_eq!(report["reached_head"], true, "{report}");
    assert_eq!(report["cursor"], head);
    assert_eq!(report["ops"]["created"], expected.created, "{report}");
    assert_eq!(report["ops"]["updated"], expected.updated, "{report}");
    assert_eq!(report["ops"]["deleted"], expected.deleted, "{report}");
    assert_eq!(report["other_events"]["identity"], expected.identity);
    assert_eq!(report["other_events"]["account"], expected.account);
    assert_eq!(report["other_events"]["sync"], expected.sync);

    // The rows: every live record of a collection the reference indexes, every account with
    // its handle verified.
    let mut totals: HashMap<Collection, i64> = HashMap::new();
    for repo in 0..network.model().repo_count() {
        let counts = network.record_counts(repo);
        for collection in Collection::ALL {
            *totals.entry(collection).or_default() += counts.get(collection);
        }
    }
    let indexed: i64 = Collection::ALL
        .iter()
        .filter(|c| c.nsid().starts_with("app.bsky.") || c.nsid().starts_with("chat.bsky."))
        .map(|c| totals[c])
        .sum();
    assert_eq!(report["rows"]["record"], indexed, "{report}");
    assert_eq!(
        report["rows"]["post"],
        totals[&Collection::Post],
        "{report}"
    );
    assert_eq!(
        report["rows"]["actor"],
        network.model().repo_count(),
        "{report}"
    );
    assert_eq!(
        report["rows"]["actor_with_handle"],
        network.model().repo_count(),
        "{report}"
    );
    devnet.shutdown().await.expect("shutdown");
}
