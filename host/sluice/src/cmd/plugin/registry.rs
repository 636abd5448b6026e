//! `sluice plugin install | list | remove | reindex`: the plugin registry in Postgres (see
//! `sluice_plugin_registry`). Every indexer process runs what is installed there and switches to
//! a new version within seconds, at a batch boundary.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use sluice_plugin_host::{EngineConfig, PluginEngine};
use sluice_plugin_registry::{
    ConsumerReport, InstallOptions, InstallOutcome, InstalledPlugin, Registry, RegistryOptions,
    ReindexOptions,
};
use sluice_store::{SchemaName, Store, StoreConfig};

/// A report older than this is shown as stale (the indexer stopped or lost the database).
const STALE_AFTER: Duration = Duration::from_secs(30);

/// Where the registry is.
#[derive(Debug, Args)]
pub(crate) struct RegistryArgs {
    /// Postgres URL [fallback: DB_POSTGRES_URL].
    #[arg(long, env = "SLUICE_DATABASE_URL")]
    database_url: Option<String>,
    /// The Postgres schema of the index.
    #[arg(long, env = "SLUICE_DATABASE_SCHEMA", default_value = "bsky")]
    schema: String,
    /// Apply the database migrations first.
    #[arg(long)]
    migrate: bool,
    /// Put before `plugin_<name>` in the schemas of plugins' own tables (as the indexers do).
    #[arg(long, env = "SLUICE_PLUGIN_SCHEMA_PREFIX", default_value = "")]
    plugin_schema_prefix: String,
    /// Apply the SQL migrations a plugin brings for its own tables.
    #[arg(long, env = "SLUICE_ALLOW_PLUGIN_MIGRATIONS")]
    allow_plugin_migrations: bool,
    /// Cache compiled code in this directory.
    #[arg(long, env = "SLUICE_PLUGIN_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

impl RegistryArgs {
    /// Connects to the database (migrating it with `--migrate`) and opens the registry.
    pub(crate) async fn open(&self) -> anyhow::Result<(Store, Registry)> {
        let url = self
            .database_url
            .clone()
            .filter(|url| !url.is_empty())
            .or_else(|| {
                std::env::var("DB_POSTGRES_URL")
                    .ok()
                    .filter(|url| !url.is_empty())
            })
            .context("no database: set --database-url (SLUICE_DATABASE_URL or DB_POSTGRES_URL)")?;
        let mut config = StoreConfig::new(url, SchemaName::new(self.schema.clone())?);
        config.max_connections = 4;
        config.application_name = "sluice-plugin".to_owned();
        let store = Store::connect(&config).await?;
        if self.migrate {
            store.migrate().await?;
        }
        let engine = PluginEngine::new(EngineConfig {
            max_instances: 4,
            cache_dir: self.cache_dir.clone(),
            ..EngineConfig::default()
        })?;
        let registry = Registry::new(
            store.pool().clone(),
            engine,
            RegistryOptions {
                plugin_schema_prefix: self.plugin_schema_prefix.clone(),
                allow_plugin_migrations: self.allow_plugin_migrations,
            },
        );
        Ok((store, registry))
    }
}

/// Arguments of `sluice plugin install`.
#[derive(Debug, Args)]
pub(crate) struct InstallArgs {
    /// The plugin component (`.wasm`).
    wasm: PathBuf,
    /// Install as built in: allowed to write core tables (the reference AppView's).
    #[arg(long)]
    builtin: bool,
    /// Install even an older version, or the same version with other bytes.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Arguments of `sluice plugin list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Arguments of `sluice plugin remove`.
#[derive(Debug, Args)]
pub(crate) struct RemoveArgs {
    /// The plugin's name.
    name: String,
    /// Also drop the plugin's own tables (its schema `plugin_<name>`); never for built-in ones.
    #[arg(long)]
    drop_tables: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Arguments of `sluice plugin reindex`.
#[derive(Debug, Args)]
pub(crate) struct ReindexArgs {
    /// The plugin's name.
    name: String,
    /// Records read and queued at a time.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Empty the plugin's own tables first, so that rows only an older version produced go
    /// (readers see the tables partly filled until the re-index is through).
    #[arg(long)]
    truncate: bool,
    /// Resume after this record URI (the last one a previous run printed).
    #[arg(long)]
    after: Option<String>,
    /// Return once everything is queued instead of waiting for the indexers.
    #[arg(long)]
    no_wait: bool,
    /// Pause queueing while the stream holds more requests than this.
    #[arg(long, default_value_t = 50_000)]
    max_backlog: u64,
    /// The stream the indexers read re-index requests from.
    #[arg(long, env = "SLUICE_REINDEX_STREAM", default_value = sluice_indexer::reindex::REINDEX_STREAM)]
    stream: String,
    /// Redis: a URL or the reference's `host:port` [fallback: REDIS_HOST; default redis://127.0.0.1:6379].
    #[arg(long, env = "SLUICE_REDIS_URL")]
    redis_url: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// `sluice plugin install`.
pub(crate) fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.wasm).with_context(|| format!("reading {}", args.wasm.display()))?;
    runtime()?.block_on(async {
        let (store, registry) = args.registry.open().await?;
        let outcome = registry
            .install(
                &bytes,
                InstallOptions {
                    builtin: args.builtin,
                    force: args.force,
                },
            )
            .await;
        store.close().await;
        let outcome = outcome?;
        let summary = outcome.summary();
        match &outcome {
            InstallOutcome::Installed(_) => println!(
                "installed {} (sha-256 {})",
                summary.label(),
                short(&summary.sha256)
            ),
            InstallOutcome::Replaced {
                previous_version, ..
            } => println!(
                "installed {} (sha-256 {}), replacing {previous_version}; running indexers switch within seconds",
                summary.label(),
                short(&summary.sha256)
            ),
            InstallOutcome::Unchanged(_) => {
                println!("{} is installed already: nothing changed", summary.label());
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `sluice plugin list`.
pub(crate) fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let (store, registry) = args.registry.open().await?;
        let plugins = registry.list().await;
        let consumers = registry.consumers().await;
        store.close().await;
        let (plugins, consumers) = (plugins?, consumers?);
        if args.json {
            println!("{}", list_json(&plugins, &consumers));
        } else {
            print!("{}", render_list(&plugins, &consumers, Utc::now()));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `sluice plugin remove`.
pub(crate) fn remove(args: RemoveArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let (store, registry) = args.registry.open().await?;
        let removed = registry.remove(&args.name, args.drop_tables).await;
        store.close().await;
        let removed = removed?;
        println!(
            "removed {}{}; running indexers stop indexing its collections within seconds",
            removed.label(),
            if args.drop_tables {
                " and its tables"
            } else {
                ""
            }
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// `sluice plugin reindex`.
pub(crate) fn reindex(args: ReindexArgs) -> anyhow::Result<ExitCode> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let redis_url = sluice_queue::redis_url(
        &args
            .redis_url
            .clone()
            .filter(|url| !url.is_empty())
            .or_else(|| {
                std::env::var("REDIS_HOST")
                    .ok()
                    .filter(|url| !url.is_empty())
            })
            .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned()),
    );
    runtime()?.block_on(async {
        let (store, registry) = args.registry.open().await?;
        let mut redis = sluice_queue::connect(&redis_url)
            .await
            .with_context(|| format!("connecting to Redis at {redis_url}"))?;
        let options = ReindexOptions {
            stream: args.stream.clone(),
            page: args.batch,
            max_backlog: args.max_backlog.max(1),
            truncate: args.truncate,
            after: args.after.clone(),
            wait: !args.no_wait,
            ..ReindexOptions::default()
        };
        let name = args.name.clone();
        let result = sluice_plugin_registry::reindex(
            &registry,
            &mut redis,
            &args.name,
            &options,
            &mut |progress| {
                let last = progress.last_uri.as_deref().unwrap_or("-");
                eprintln!("{name}: {progress} (last queued: {last})");
            },
        )
        .await;
        store.close().await;
        let done = result?;
        println!(
            "{}: {} records queued, {} done ({} parked) in {:.1}s",
            args.name,
            done.queued,
            done.done,
            done.parked,
            done.elapsed.as_secs_f64()
        );
        Ok(if done.parked > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// The first 12 hex digits of a sha-256.
fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// The installed plugins and the indexers' reports, as two text tables.
pub(crate) fn render_list(
    plugins: &[InstalledPlugin],
    consumers: &[ConsumerReport],
    now: DateTime<Utc>,
) -> String {
    let mut rows = vec![vec![
        "NAME".to_owned(),
        "VERSION".to_owned(),
        "SHA256".to_owned(),
        "BUILTIN".to_owned(),
        "INSTALLED AT".to_owned(),
        "COLLECTIONS".to_owned(),
    ]];
    for plugin in plugins {
        rows.push(vec![
            plugin.summary.name.clone(),
            plugin.summary.version.clone(),
            short(&plugin.summary.sha256).to_owned(),
            if plugin.builtin { "yes" } else { "no" }.to_owned(),
            plugin.installed_at.format("%Y-%m-%d %H:%M:%SZ").to_string(),
            plugin.collections.join(","),
        ]);
    }
    let mut out = if plugins.is_empty() {
        "no plugin installed\n".to_owned()
    } else {
        table(&rows)
    };
    out.push('\n');
    if consumers.is_empty() {
        out.push_str("no indexer has reported yet\n");
        return out;
    }
    let mut rows = vec![vec![
        "INDEXER".to_owned(),
        "PLUGIN".to_owned(),
        "VERSION".to_owned(),
        "SHA256".to_owned(),
        "SINCE".to_owned(),
        "LAST REPORT".to_owned(),
    ]];
    for report in consumers {
        let installed = plugins.iter().find(|p| p.summary.name == report.plugin);
        let mut version = report.version.clone();
        match installed {
            None => version.push_str(" (removed)"),
            Some(p) if p.summary.sha256 != report.sha256 => version.push_str(" (switching)"),
            Some(_) => {}
        }
        let age = now.signed_duration_since(report.reported_at);
        let age_secs = age.num_seconds().max(0);
        let mut last = format!("{age_secs}s ago");
        if u64::try_from(age_secs).unwrap_or(0) > STALE_AFTER.as_secs() {
            last.push_str(" (stale)");
        }
        rows.push(vec![
            report.consumer.clone(),
            report.plugin.clone(),
            version,
            short(&report.sha256).to_owned(),
            report.since.format("%Y-%m-%d %H:%M:%SZ").to_string(),
            last,
        ]);
    }
    out.push_str(&table(&rows));
    out
}

/// Left-aligned columns separated by two spaces.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The installed plugins and the indexers' reports, as JSON.
fn list_json(plugins: &[InstalledPlugin], consumers: &[ConsumerReport]) -> serde_json::Value {
    serde_json::json!({
        "plugins": plugins.iter().map(|p| serde_json::json!({
            "name": p.summary.name,
            "version": p.summary.version,
            "sha256": p.summary.sha256,
            "contract": p.contract,
            "builtin": p.builtin,
            "installedAt": p.installed_at.to_rfc3339(),
            "collections": p.collections,
        })).collect::<Vec<_>>(),
        "indexers": consumers.iter().map(|c| serde_json::json!({
            "consumer": c.consumer,
            "plugin": c.plugin,
            "version": c.version,
            "sha256": c.sha256,
            "since": c.since.to_rfc3339(),
            "reportedAt": c.reported_at.to_rfc3339(),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_registry::PluginSummary;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn list_shows_versions_and_what_each_indexer_runs() {
        let plugins = vec![InstalledPlugin {
            summary: PluginSummary {
                name: "versioned".into(),
                version: "2.0.0".into(),
                sha256: "bbbbbbbbbbbbbbbbbbbb".into(),
            },
            contract: "0.1.0".into(),
            collections: vec!["test.sluice.versioned".into()],
            builtin: false,
            installed_at: at("2026-01-02T03:04:05Z"),
        }];
        let report = |consumer: &str, version: &str, sha256: &str, reported: &str| ConsumerReport {
            consumer: consumer.into(),
            plugin: "versioned".into(),
            version: version.into(),
            sha256: sha256.into(),
            since: at("2026-01-02T03:00:00Z"),
            reported_at: at(reported),
        };
        let consumers = vec![
            report(
                "indexer-1",
                "2.0.0",
                "bbbbbbbbbbbbbbbbbbbb",
                "2026-01-02T03:05:00Z",
            ),
            report(
                "indexer-2",
                "1.0.0",
                "aaaaaaaaaaaaaaaaaaaa",
                "2026-01-02T03:00:00Z",
            ),
        ];
        let text = render_list(&plugins, &consumers, at("2026-01-02T03:05:03Z"));
        assert_eq!(
            text,
            "NAME       VERSION  SHA256        BUILTIN  INSTALLED AT          COLLECTIONS\n\
             versioned  2.0.0    bbbbbbbbbbbb  no       2026-01-02 03:04:05Z  test.sluice.versioned\n\
             \n\
             INDEXER    PLUGIN     VERSION            SHA256        SINCE                 LAST REPORT\n\
             indexer-1  versioned  2.0.0              bbbbbbbbbbbb  2026-01-02 03:00:00Z  3s ago\n\
             indexer-2  versioned  1.0.0 (switching)  aaaaaaaaaaaa  2026-01-02 03:00:00Z  303s ago (stale)\n"
        );
        let empty = render_list(&[], &[], at("2026-01-02T03:05:03Z"));
        assert_eq!(
            empty,
            "no plugin installed\n\nno indexer has reported yet\n"
        );
        let json = list_json(&plugins, &consumers);
        assert_eq!(
            json["plugins"][0]["collections"][0],
            "test.sluice.versioned"
        );
        assert_eq!(json["indexers"][1]["version"], "1.0.0");
    }
}
