//! `sluice plugin`: work with indexer plugins.
//!
//! `install`, `list`, `remove` and `reindex` work on the plugin registry in Postgres (module
//! [`registry`]); `test` needs no database.
//!
//! `sluice plugin test FILE.wasm --ops OPS.jsonl` runs a plugin on record operations from a file
//! (or on the records of a repo CAR with `--car`) without a database and prints, per operation,
//! the checked row operations as a JSON line: the plugin author's inner loop and the basis of
//! snapshot tests.
//!
//! An operation line is a JSON object, either in the shape of a firehose event of the Redis
//! streams (`{"type": "create", "did", "collection", "rkey", "cid", "record", "rev", "time"}`) or
//! with `"action"` and `"uri"` instead; `record` (and `previous.record`) are atproto JSON. `cid`
//! is computed when absent; `indexedAt` defaults to `time`, else the record's `createdAt`.
//!
//! Lookups are answered from `--answers` (JSON lines: `{"record": "at://…", "value": {…} | null}`
//! or `{"rows": ROW-QUERY, "found": [ROW, …]}` in the output's typed form), else as absent.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde::Deserialize;
use sluice_plugin_host::types::{
    Action, Answer, Found, Lookup, RecordEncoding, RecordOp, Row, RowQuery, Source, StoredRecord,
};
use sluice_plugin_host::{
    DriverOptions, EngineConfig, LoadOptions, MemoryResolver, OpResult, Plugin, PluginEngine,
};

/// Arguments of `sluice plugin`.
#[derive(Debug, Args)]
pub(crate) struct PluginArgs {
    #[command(subcommand)]
    command: PluginCommand,
}

/// The `sluice plugin` subcommands.
#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run a plugin on operations from a file (or the records of a CAR) without a database and
    /// print its row operations as JSON lines. Exits 1 when an operation was parked.
    Test(TestArgs),
    /// Check a plugin and install it in the registry (Postgres): every indexer switches to it
    /// within seconds, at a batch boundary.
    Install(registry::InstallArgs),
    /// Show the installed plugins and which version each indexer runs.
    List(registry::ListArgs),
    /// Uninstall a plugin: indexers stop indexing its collections (its tables stay unless
    /// --drop-tables).
    Remove(registry::RemoveArgs),
    /// Replay the stored records of a plugin's collections through its installed version, via
    /// the running indexers, while live indexing goes on. Exits 1 when a record was parked.
    Reindex(registry::ReindexArgs),
}

pub(crate) mod registry;

/// Arguments of `sluice plugin test`.
#[derive(Debug, Args)]
struct TestArgs {
    /// The plugin component (`.wasm`).
    wasm: PathBuf,
    /// Record operations, one JSON object a line.
    #[arg(long, conflicts_with = "car", required_unless_present = "car")]
    ops: Option<PathBuf>,
    /// A repo CAR: every record of a collection the plugin claims becomes a `create`.
    #[arg(long)]
    car: Option<PathBuf>,
    /// Answers to lookups, one JSON object a line; lookups without one are answered as absent.
    #[arg(long)]
    answers: Option<PathBuf>,
    /// Load the plugin as built in (allowed to write core tables).
    #[arg(long)]
    builtin: bool,
    /// Operations per call into the plugin.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// How long one call may run, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    deadline_ms: u64,
    /// The memory cap of the plugin instance, in MiB.
    #[arg(long, default_value_t = 256)]
    memory_mib: usize,
    /// Cache compiled code in this directory.
    #[arg(long, env = "SLUICE_PLUGIN_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

/// Runs `sluice plugin`.
pub(crate) fn run(args: PluginArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PluginCommand::Test(args) => test(args),
        PluginCommand::Install(args) => registry::install(args),
        PluginCommand::List(args) => registry::list(args),
        PluginCommand::Remove(args) => registry::remove(args),
        PluginCommand::Reindex(args) => registry::reindex(args),
    }
}

fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let engine = PluginEngine::new(EngineConfig {
        memory_cap: args.memory_mib << 20,
        call_deadline: std::time::Duration::from_millis(args.deadline_ms),
        max_instances: 4,
        cache_dir: args.cache_dir.clone(),
        ..EngineConfig::default()
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let plugin = runtime.block_on(Plugin::load_file(
        &engine,
        &args.wasm,
        LoadOptions {
            builtin: args.builtin,
        },
    ))?;
    let encoding = plugin.declaration().info().encoding;
    let ops = match (&args.ops, &args.car) {
        (Some(path), _) => read_ops(path, encoding)?,
        (None, Some(path)) => runtime.block_on(car_ops(path, &plugin))?,
        (None, None) => bail!("give --ops or --car"),
    };
    let resolver = match &args.answers {
        Some(path) => MemoryResolver::new(read_answers(path, encoding)?),
        None => MemoryResolver::default(),
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let summary = runtime.block_on(run_ops(&plugin, &ops, &resolver, args.batch, &mut out))?;
    out.flush()?;
    eprintln!(
        "{}: {} operations: {} indexed, {} skipped, {} parked",
        plugin.label(),
        ops.len(),
        summary.indexed,
        summary.skipped,
        summary.parked
    );
    Ok(if summary.parked > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What became of the operations of a run.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    indexed: usize,
    skipped: usize,
    parked: usize,
}

/// Runs `ops` through `plugin` in batches and writes one JSON line per operation:
/// `{"uri", "action", "result"}`.
pub(crate) async fn run_ops(
    plugin: &Plugin,
    ops: &[RecordOp],
    resolver: &MemoryResolver,
    batch: usize,
    out: &mut impl Write,
) -> anyhow::Result<Summary> {
    let mut worker = plugin.worker();
    let mut summary = Summary::default();
    for chunk in ops.chunks(batch.max(1)) {
        let report = worker
            .index_records(chunk, resolver, DriverOptions::default())
            .await?;
        for (op, result) in chunk.iter().zip(&report.results) {
            match result {
                OpResult::Indexed(_) => summary.indexed += 1,
                OpResult::Skipped(_) => summary.skipped += 1,
                OpResult::Parked(_) => summary.parked += 1,
            }
            let line = serde_json::json!({
                "uri": format!("at://{}/{}/{}", op.did, op.collection, op.rkey),
                "action": op.action,
                "result": result,
            });
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(summary)
}

/// One line of an operations file.
#[derive(Debug, Deserialize)]
struct OpLine {
    #[serde(alias = "type")]
    action: String,
    uri: Option<String>,
    did: Option<String>,
    collection: Option<String>,
    rkey: Option<String>,
    cid: Option<String>,
    record: Option<serde_json::Value>,
    previous: Option<PreviousLine>,
    rev: Option<String>,
    #[serde(rename = "indexedAt", alias = "time")]
    indexed_at: Option<String>,
    source: Option<String>,
}

/// The previous version of a record, in an operations file.
#[derive(Debug, Deserialize)]
struct PreviousLine {
    cid: Option<String>,
    record: serde_json::Value,
}

/// Reads an operations file.
pub(crate) fn read_ops(path: &Path, encoding: RecordEncoding) -> anyhow::Result<Vec<RecordOp>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_ops(&text, encoding).with_context(|| format!("in {}", path.display()))
}

/// Parses operations, one JSON object a line (blank lines and `#` comments skipped).
pub(crate) fn parse_ops(text: &str, encoding: RecordEncoding) -> anyhow::Result<Vec<RecordOp>> {
    let mut ops = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed: OpLine =
            serde_json::from_str(line).with_context(|| format!("line {}", number + 1))?;
        ops.push(to_record_op(parsed, encoding).with_context(|| format!("line {}", number + 1))?);
    }
    Ok(ops)
}

fn to_record_op(line: OpLine, encoding: RecordEncoding) -> anyhow::Result<RecordOp> {
    let action = match line.action.as_str() {
        "create" => Action::Create,
        "update" => Action::Update,
        "delete" => Action::Delete,
        other => bail!("unknown action {other:?} (create, update or delete)"),
    };
    let (did, collection, rkey) = match (&line.uri, line.did, line.collection, line.rkey) {
        (Some(uri), ..) => split_uri(uri)?,
        (None, Some(did), Some(collection), Some(rkey)) => (did, collection, rkey),
        _ => bail!("give \"uri\", or \"did\", \"collection\" and \"rkey\""),
    };
    let created_at = line
        .record
        .as_ref()
        .and_then(|record| record.get("createdAt"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let record = match (action, line.record) {
        (Action::Delete, _) => None,
        (_, Some(record)) => Some(stored(&record, line.cid, encoding)?),
        (_, None) => bail!("a {} needs a \"record\"", line.action),
    };
    let previous = line
        .previous
        .map(|previous| stored(&previous.record, previous.cid, encoding))
        .transpose()?;
    let source = match line.source.as_deref() {
        None | Some("live") => Source::Live,
        Some("backfill") => Source::Backfill,
        Some("replay") => Source::Replay,
        Some(other) => bail!("unknown source {other:?} (live, backfill or replay)"),
    };
    Ok(RecordOp {
        action,
        did,
        collection,
        rkey,
        record,
        previous,
        rev: line.rev.unwrap_or_default(),
        indexed_at: line
            .indexed_at
            .or(created_at)
            .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned()),
        source,
    })
}

fn split_uri(uri: &str) -> anyhow::Result<(String, String, String)> {
    let parts: Vec<&str> = uri
        .strip_prefix("at://")
        .unwrap_or_default()
        .split('/')
        .collect();
    match parts.as_slice() {
        [did, collection, rkey] => Ok((
            (*did).to_owned(),
            (*collection).to_owned(),
            (*rkey).to_owned(),
        )),
        _ => bail!("{uri:?} is not at://DID/COLLECTION/RKEY"),
    }
}

/// A record (atproto JSON) in the plugin's encoding, with its CID (computed when not given).
fn stored(
    record: &serde_json::Value,
    cid: Option<String>,
    encoding: RecordEncoding,
) -> anyhow::Result<StoredRecord> {
    let (cbor, computed) = sluice_atproto::data::record_json_to_dag_cbor(record)?;
    let body = match encoding {
        RecordEncoding::DagCbor => cbor,
        RecordEncoding::Json => serde_json::to_vec(record)?,
    };
    Ok(StoredRecord {
        cid: cid.unwrap_or_else(|| computed.to_string()),
        body,
    })
}

/// One line of an answers file.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AnswerLine {
    Record {
        record: String,
        value: Option<serde_json::Value>,
        cid: Option<String>,
    },
    Rows {
        rows: RowQuery,
        found: Vec<Row>,
    },
}

/// Reads an answers file.
pub(crate) fn read_answers(path: &Path, encoding: RecordEncoding) -> anyhow::Result<Vec<Answer>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_answers(&text, encoding).with_context(|| format!("in {}", path.display()))
}

/// Parses answers, one JSON object a line.
pub(crate) fn parse_answers(text: &str, encoding: RecordEncoding) -> anyhow::Result<Vec<Answer>> {
    let mut answers = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed: AnswerLine =
            serde_json::from_str(line).with_context(|| format!("line {}", number + 1))?;
        answers.push(match parsed {
            AnswerLine::Record { record, value, cid } => Answer {
                lookup: Lookup::Record(record),
                found: Found::Record(
                    value
                        .map(|value| stored(&value, cid, encoding))
                        .transpose()?,
                ),
            },
            AnswerLine::Rows { rows, found } => Answer {
                lookup: Lookup::Rows(rows),
                found: Found::Rows(found),
            },
        });
    }
    Ok(answers)
}

/// The records of a repo CAR in the collections the plugin claims, as `create` operations.
pub(crate) async fn car_ops(path: &Path, plugin: &Plugin) -> anyhow::Result<Vec<RecordOp>> {
    use sluice_atproto::repo::{ReadOptions, RepoReader};

    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let repo = RepoReader::read(tokio::io::BufReader::new(file), &ReadOptions::default())
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    let info = plugin.declaration().info();
    let commit = repo.commit();
    let mut ops = Vec::new();
    let mut skipped = 0usize;
    for record in repo.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                skipped += 1;
                tracing::warn!(%error, "record skipped");
                continue;
            }
        };
        if !info
            .collections
            .iter()
            .any(|collection| collection == record.collection())
        {
            continue;
        }
        let json = record.to_json()?;
        let body = match info.encoding {
            RecordEncoding::DagCbor => record.bytes.to_vec(),
            RecordEncoding::Json => serde_json::to_vec(&json)?,
        };
        let indexed_at = json
            .get("createdAt")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("1970-01-01T00:00:00.000Z")
            .to_owned();
        ops.push(RecordOp {
            action: Action::Create,
            did: commit.did.clone(),
            collection: record.collection().to_owned(),
            rkey: record.rkey().to_owned(),
            record: Some(StoredRecord {
                cid: record.cid.to_string(),
                body,
            }),
            previous: None,
            rev: commit.rev.clone().unwrap_or_default(),
            indexed_at,
            source: Source::Backfill,
        });
    }
    if skipped > 0 {
        eprintln!("{skipped} records of the CAR could not be read and were skipped");
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_host::guest_build;

    fn load(package: &str, builtin: bool) -> Plugin {
        let engine = PluginEngine::new(EngineConfig {
            max_instances: 4,
            ..EngineConfig::default()
        })
        .unwrap();
        let path = guest_build::build(package).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(Plugin::load_file(&engine, &path, LoadOptions { builtin }))
            .unwrap()
    }

    fn run(plugin: &Plugin, ops: &[RecordOp], resolver: &MemoryResolver) -> (String, Summary) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut out = Vec::new();
        let summary = runtime
            .block_on(run_ops(plugin, ops, resolver, 2, &mut out))
            .unwrap();
        (String::from_utf8(out).unwrap(), summary)
    }

    /// A create, an update (with the version it replaces), a delete, a firehose-shaped create,
    /// and two invalid records.
    const STATUSPHERE_OPS: &str = r#"
# create
{"action": "create", "uri": "at://did:plc:alice/xyz.statusphere.status/3l4aaaaaaaa22", "record": {"$type": "xyz.statusphere.status", "status": "🦋", "createdAt": "2024-11-05T10:00:00.000Z"}, "indexedAt": "2024-11-05T10:00:01.000Z"}
# update: the previous version is given
{"action": "update", "uri": "at://did:plc:alice/xyz.statusphere.status/3l4aaaaaaaa22", "record": {"$type": "xyz.statusphere.status", "status": "☕", "createdAt": "2024-11-05T11:00:00.000Z"}, "previous": {"record": {"$type": "xyz.statusphere.status", "status": "🦋", "createdAt": "2024-11-05T10:00:00.000Z"}}, "indexedAt": "2024-11-05T11:00:01.000Z"}
# delete: the SDK derives the row delete from the previous version
{"action": "delete", "uri": "at://did:plc:alice/xyz.statusphere.status/3l4aaaaaaaa22", "previous": {"record": {"$type": "xyz.statusphere.status", "status": "☕", "createdAt": "2024-11-05T11:00:00.000Z"}}, "indexedAt": "2024-11-05T12:00:01.000Z"}
# the shape of a firehose event in Redis
{"type": "create", "seq": 42, "time": "2024-11-05T13:00:01.000Z", "did": "did:plc:bob", "commit": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm", "rev": "3l4bbbbbbbb22", "collection": "xyz.statusphere.status", "rkey": "3l4bbbbbbbb22", "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm", "record": {"$type": "xyz.statusphere.status", "status": "🙃", "createdAt": "2024-11-05T13:00:00.000Z"}}
{"action": "create", "uri": "at://did:plc:bob/xyz.statusphere.status/3l4ccccccccc2", "record": {"$type": "xyz.statusphere.status", "status": "", "createdAt": "2024-11-05T13:00:00.000Z"}}
{"action": "create", "uri": "at://did:plc:bob/xyz.statusphere.status/3l4dddddddd22", "record": {"$type": "xyz.statusphere.status", "status": "👍", "createdAt": "yesterday"}}
"#;

    #[test]
    fn statusphere_row_ops_snapshot() {
        let plugin = load("statusphere-plugin", false);
        let ops = parse_ops(STATUSPHERE_OPS, plugin.declaration().info().encoding).unwrap();
        assert_eq!(ops.len(), 6);
        let (output, summary) = run(&plugin, &ops, &MemoryResolver::default());
        assert_eq!(
            summary,
            Summary {
                indexed: 4,
                skipped: 2,
                parked: 0
            }
        );
        insta::assert_snapshot!(output);
    }

    #[test]
    fn answers_file_feeds_lookups() {
        let plugin = load("sluice-misbehave-plugin", false);
        let encoding = plugin.declaration().info().encoding;
        let ops = parse_ops(
            r#"{"action": "create", "uri": "at://did:plc:carol/test.sluice.misbehave/reply", "record": {"text": "hi"}}"#,
            encoding,
        )
        .unwrap();
        let (without, _) = run(&plugin, &ops, &MemoryResolver::default());
        assert!(
            without.contains(r#""awaits":["at://did:plc:carol/test.sluice.misbehave/parent"]"#),
            "{without}"
        );
        assert!(
            without
                .contains(r#"{"column":"parentExists","merge":"Set","value":{"Boolean":false}}"#),
            "{without}"
        );

        let answers = parse_answers(
            r#"{"record": "at://did:plc:carol/test.sluice.misbehave/parent", "value": {"text": "parent"}}"#,
            encoding,
        )
        .unwrap();
        let (with, _) = run(&plugin, &ops, &MemoryResolver::new(answers));
        assert!(with.contains(r#""awaits":[]"#), "{with}");
        assert!(
            with.contains(r#"{"column":"parentExists","merge":"Set","value":{"Boolean":true}}"#),
            "{with}"
        );
    }

    #[test]
    fn bad_operation_lines_are_reported_with_their_line() {
        let error = parse_ops(
            "\n{\"action\": \"explode\", \"uri\": \"at://a/b/c\"}",
            RecordEncoding::DagCbor,
        )
        .unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "line 2: unknown action \"explode\" (create, update or delete)"
        );
        let error = parse_ops(
            r#"{"action": "create", "uri": "nope", "record": {}}"#,
            RecordEncoding::DagCbor,
        )
        .unwrap_err();
        assert!(format!("{error:#}").contains("is not at://DID/COLLECTION/RKEY"));
    }

    #[test]
    fn records_of_a_car_become_creates() {
        let plugin = load("sluice-bench-post-plugin", true);
        let car = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/real/repo-stream/tiny.car"
        ));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ops = runtime.block_on(car_ops(car, &plugin)).unwrap();
        // tiny.car holds 3 posts among its 8 records.
        assert_eq!(ops.len(), 3);
        assert!(
            ops.iter()
                .all(|op| op.collection == "app.bsky.feed.post" && op.action == Action::Create)
        );
        let (output, summary) = run(&plugin, &ops, &MemoryResolver::default());
        assert_eq!(summary.indexed, 3, "{output}");
    }
}
