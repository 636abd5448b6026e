//! `sluice repair`: recounts every declared aggregate (`post_agg`, `profile_agg`, plugins' own
//! counts) from the rows it counts, reports the drift and, with `--fix`, corrects it.
//!
//! Counts are written in the same transactions as the rows they count, so a healthy index shows
//! no drift, even while indexers run; drift means a bug or a hand edit. The check reads one
//! snapshot per count column; `--fix` briefly blocks indexers' writes to the counted tables.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use sluice_indexer::repair::{Drift, repair_counts};
use sluice_indexer::{PrepareOptions, PreparedPlugins};
use sluice_plugin_registry::{RegistryProvider, WatchOptions};
use tokio_util::sync::CancellationToken;

use super::plugin::registry::RegistryArgs;

/// Arguments of `sluice repair`.
#[derive(Debug, Args)]
pub(crate) struct RepairArgs {
    /// Correct the drift found (otherwise only report it).
    #[arg(long)]
    fix: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `sluice repair`. Exits non-zero when drift was found and not fixed.
pub(crate) fn run(args: RepairArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (store, registry) = args.registry.open().await?;
        let options = PrepareOptions {
            store_schema: store.schema().as_str().to_owned(),
            plugin_schema_prefix: registry.options().plugin_schema_prefix.clone(),
            allow_plugin_migrations: registry.options().allow_plugin_migrations,
        };
        let shutdown = CancellationToken::new();
        let provider =
            RegistryProvider::start(registry, WatchOptions::default(), shutdown.clone()).await?;
        let prepared =
            PreparedPlugins::prepare(store.pool(), Arc::clone(&provider.current()), &options).await;
        shutdown.cancel();
        let report = repair_counts(store.pool(), &prepared?, args.fix).await;
        store.close().await;
        let report = report?;
        if args.json {
            println!("{}", report_json(&report));
        } else {
            print!("{}", report_text(&report));
        }
        let unfixed = report.iter().any(|drift| drift.drifted > 0 && !drift.fixed);
        Ok(if unfixed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// One line per count column, plus examples of drifted keys.
fn report_text(report: &[Drift]) -> String {
    let mut out = String::new();
    for drift in report {
        let verdict = match (drift.drifted, drift.fixed) {
            (0, _) => "ok".to_owned(),
            (n, true) => format!("{n} drifted, fixed"),
            (n, false) => format!("{n} drifted"),
        };
        out.push_str(&format!("{}: {verdict}\n", drift.target));
        for (key, recounted, stored) in &drift.examples {
            out.push_str(&format!(
                "  {key}: stored {stored}, recounted {recounted}\n"
            ));
        }
    }
    if report.is_empty() {
        out.push_str("no aggregates are declared by the installed plugins\n");
    }
    out
}

/// `{"counts": [{"target", "drifted", "fixed", "examples": [{"key", "stored", "recounted"}]}]}`.
fn report_json(report: &[Drift]) -> serde_json::Value {
    let counts: Vec<serde_json::Value> = report
        .iter()
        .map(|drift| {
            serde_json::json!({
                "target": drift.target,
                "drifted": drift.drifted,
                "fixed": drift.fixed,
                "examples": drift.examples.iter().map(|(key, recounted, stored)| {
                    serde_json::json!({"key": key, "stored": stored, "recounted": recounted})
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "counts": counts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift(drifted: u64, fixed: bool) -> Drift {
        Drift {
            target: "post_agg.likeCount".to_owned(),
            drifted,
            examples: if drifted > 0 {
                vec![("at://did:plc:a/app.bsky.feed.post/1".to_owned(), 2, 7)]
            } else {
                Vec::new()
            },
            fixed,
        }
    }

    #[test]
    fn text_report_names_each_count_and_its_drift() {
        assert_eq!(report_text(&[drift(0, false)]), "post_agg.likeCount: ok\n");
        assert_eq!(
            report_text(&[drift(1, true)]),
            "post_agg.likeCount: 1 drifted, fixed\n  at://did:plc:a/app.bsky.feed.post/1: stored 7, recounted 2\n"
        );
        assert!(report_text(&[]).contains("no aggregates"));
    }

    #[test]
    fn json_report_keeps_every_field() {
        let json = report_json(&[drift(1, false)]);
        assert_eq!(json["counts"][0]["drifted"], 1);
        assert_eq!(json["counts"][0]["fixed"], false);
        assert_eq!(json["counts"][0]["examples"][0]["stored"], 7);
        assert_eq!(json["counts"][0]["examples"][0]["recounted"], 2);
    }
}
