//! Installing, listing and removing plugins: the rows of `sluice_plugin` and
//! `sluice_plugin_collection` (migration `0010_plugin_registry.sql`).
//!
//! An install checks the component exactly as an indexer will load it ([`Plugin::load`]: the
//! contract version from its exports, its imports, `describe()`, the declaration and its table
//! rules), refuses a collection another plugin claims and a downgrade (unless forced), creates the
//! plugin's own tables, and stores the bytes with their sha-256 — all in one transaction, so that
//! an install either happens whole or not at all. The commit notifies running indexers (a trigger
//! on `sluice_plugin`), which switch at their next batch boundary.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use sluice_plugin_host::{LoadOptions, Plugin, PluginEngine};
use sqlx::{AssertSqlSafe, PgPool};

use crate::error::RegistryError;

/// The advisory lock under which installs and removals take turns ("sluice plugin registry").
const REGISTRY_LOCK: i64 = 0x736c_7569_6365_7267;

/// How plugins are stored and their tables created. Indexers must use the same settings.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Put before `plugin_<name>` for the schemas of plugin-owned tables (tests isolate
    /// themselves with it; empty in production). The indexer's `plugin_schema_prefix`.
    pub plugin_schema_prefix: String,
    /// Apply the SQL migrations plugins bring for their own tables (they run with the registry's
    /// database privileges). Off: a plugin with migrations is refused.
    pub allow_plugin_migrations: bool,
}

/// How one plugin is installed.
#[derive(Debug, Clone, Copy, Default)]
pub struct InstallOptions {
    /// A built-in plugin (shipped with Sluice) may write core tables.
    pub builtin: bool,
    /// Install even when the version is older than the installed one, or the same version with
    /// other bytes.
    pub force: bool,
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The plugin was not installed before.
    Installed(PluginSummary),
    /// Another version (or other bytes) replaced the installed one.
    Replaced {
        /// What is installed now.
        now: PluginSummary,
        /// The version it replaced.
        previous_version: String,
        /// The sha-256 it replaced.
        previous_sha256: String,
    },
    /// Exactly these bytes were installed already: nothing changed.
    Unchanged(PluginSummary),
}

impl InstallOutcome {
    /// The plugin as installed now.
    pub fn summary(&self) -> &PluginSummary {
        match self {
            Self::Installed(summary) | Self::Unchanged(summary) => summary,
            Self::Replaced { now, .. } => now,
        }
    }

    /// Whether the registry changed.
    pub fn changed(&self) -> bool {
        !matches!(self, Self::Unchanged(_))
    }
}

/// A plugin's identity: name, version and the sha-256 of its component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSummary {
    /// `describe().name`.
    pub name: String,
    /// `describe().version`.
    pub version: String,
    /// SHA-256 of the component, lowercase hex.
    pub sha256: String,
}

impl PluginSummary {
    /// `name@version`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// An installed plugin, as `plugin list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPlugin {
    /// Name, version, sha-256.
    pub summary: PluginSummary,
    /// The contract version it was built against (`0.1.0`).
    pub contract: String,
    /// The collections it claims, sorted.
    pub collections: Vec<String>,
    /// Whether it may write core tables.
    pub builtin: bool,
    /// When this version was installed.
    pub installed_at: DateTime<Utc>,
}

/// What one indexer (by consumer name) last reported running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerReport {
    /// The indexer's consumer name.
    pub consumer: String,
    /// The plugin.
    pub plugin: String,
    /// The version it runs.
    pub version: String,
    /// The sha-256 of the component it runs.
    pub sha256: String,
    /// When it switched to it.
    pub since: DateTime<Utc>,
    /// When it last reported.
    pub reported_at: DateTime<Utc>,
}

/// The registry in one database schema (the store's `search_path`).
#[derive(Debug, Clone)]
pub struct Registry {
    pool: PgPool,
    engine: PluginEngine,
    options: RegistryOptions,
}

impl Registry {
    /// A registry on `pool` (whose connections' `search_path` starts with the store's schema,
    /// migrated). `engine` checks components on install.
    pub fn new(pool: PgPool, engine: PluginEngine, options: RegistryOptions) -> Self {
        Self {
            pool,
            engine,
            options,
        }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The engine components are checked with.
    pub fn engine(&self) -> &PluginEngine {
        &self.engine
    }

    /// The settings.
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// Checks and installs a component. See the module documentation.
    pub async fn install(
        &self,
        bytes: &[u8],
        options: InstallOptions,
    ) -> Result<InstallOutcome, RegistryError> {
        let plugin = load_blocking(
            &self.engine,
            bytes.to_vec(),
            LoadOptions {
                builtin: options.builtin,
            },
        )
        .await?;
        let info = plugin.declaration().info();
        let summary = PluginSummary {
            name: info.name.clone(),
            version: info.version.clone(),
            sha256: plugin.sha256().to_owned(),
        };
        let label = summary.label();

        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(REGISTRY_LOCK)
            .execute(&mut *tx)
            .await?;
        let installed: Option<(String, String, bool)> =
            sqlx::query_as("SELECT version, sha256, builtin FROM sluice_plugin WHERE name = $1")
                .bind(&summary.name)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((version, sha256, builtin)) = &installed {
            if *sha256 == summary.sha256 && *builtin == options.builtin {
                return Ok(InstallOutcome::Unchanged(summary));
            }
            if !options.force {
                match compare_versions(&summary.name, &summary.version, version)? {
                    Ordering::Less => {
                        return Err(RegistryError::Downgrade {
                            name: summary.name,
                            installed: version.clone(),
                            offered: summary.version,
                        });
                    }
                    Ordering::Equal if *sha256 != summary.sha256 => {
                        return Err(RegistryError::SameVersionChanged {
                            name: summary.name,
                            version: summary.version,
                            installed: sha256.clone(),
                        });
                    }
                    _ => {}
                }
            }
        }
        let taken: Option<(String, String)> = sqlx::query_as(
            "SELECT collection, plugin FROM sluice_plugin_collection
             WHERE collection = ANY($1) AND plugin <> $2 ORDER BY collection LIMIT 1",
        )
        .bind(&info.collections)
        .bind(&summary.name)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((collection, owner)) = taken {
            return Err(RegistryError::CollectionTaken {
                plugin: label,
                collection,
                owner,
            });
        }

        let describe = serde_json::to_value(info).map_err(|error| RegistryError::Damaged {
            name: summary.name.clone(),
            reason: format!("describe() cannot be stored as JSON: {error}"),
        })?;
        let contract = contract_number(&plugin);
        sqlx::query(
            "INSERT INTO sluice_plugin
                 (name, version, sha256, contract, component, describe, builtin, installed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now())
             ON CONFLICT (name) DO UPDATE SET
                 version = EXCLUDED.version, sha256 = EXCLUDED.sha256,
                 contract = EXCLUDED.contract, component = EXCLUDED.component,
                 describe = EXCLUDED.describe, builtin = EXCLUDED.builtin,
                 installed_at = EXCLUDED.installed_at",
        )
        .bind(&summary.name)
        .bind(&summary.version)
        .bind(&summary.sha256)
        .bind(&contract)
        .bind(bytes)
        .bind(sqlx::types::Json(&describe))
        .bind(options.builtin)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sluice_plugin_collection WHERE plugin = $1")
            .bind(&summary.name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sluice_plugin_collection (collection, plugin)
             SELECT UNNEST($1::text[]), $2",
        )
        .bind(&info.collections)
        .bind(&summary.name)
        .execute(&mut *tx)
        .await?;
        // The plugin's own tables, in this transaction: a failing migration installs nothing. Last,
        // because a plugin's migrations run with `SET LOCAL search_path` to its schema.
        let schema = sluice_indexer::plugin_tables::plugin_schema(
            &self.options.plugin_schema_prefix,
            plugin.declaration(),
        );
        sluice_indexer::plugin_tables::ensure_plugin_tables(
            &mut tx,
            &schema,
            plugin.declaration(),
            self.options.allow_plugin_migrations,
        )
        .await
        .map_err(|error| RegistryError::Tables {
            plugin: label.clone(),
            error: Box::new(error),
        })?;

        tx.commit().await?;
        tracing::info!(plugin = %label, sha256 = %summary.sha256, builtin = options.builtin, "plugin installed");
        Ok(match installed {
            None => InstallOutcome::Installed(summary),
            Some((previous_version, previous_sha256, _)) => InstallOutcome::Replaced {
                now: summary,
                previous_version,
                previous_sha256,
            },
        })
    }

    /// Every installed plugin, by name.
    pub async fn list(&self) -> Result<Vec<InstalledPlugin>, RegistryError> {
        // name, version, sha256, contract, builtin, installed_at, collections.
        type Row = (
            String,
            String,
            String,
            String,
            bool,
            DateTime<Utc>,
            Vec<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT p.name, p.version, p.sha256, p.contract, p.builtin, p.installed_at,
                        COALESCE(array_agg(c.collection ORDER BY c.collection)
                                 FILTER (WHERE c.collection IS NOT NULL), '{}')
                 FROM sluice_plugin p
                 LEFT JOIN sluice_plugin_collection c ON c.plugin = p.name
                 GROUP BY p.name ORDER BY p.name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(name, version, sha256, contract, builtin, installed_at, collections)| {
                    InstalledPlugin {
                        summary: PluginSummary {
                            name,
                            version,
                            sha256,
                        },
                        contract,
                        collections,
                        builtin,
                        installed_at,
                    }
                },
            )
            .collect())
    }

    /// What each indexer last reported running, by consumer then plugin.
    pub async fn consumers(&self) -> Result<Vec<ConsumerReport>, RegistryError> {
        // consumer, plugin, version, sha256, since, reported_at.
        type Row = (String, String, String, String, DateTime<Utc>, DateTime<Utc>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT consumer, plugin, version, sha256, since, reported_at
                 FROM sluice_plugin_consumer ORDER BY consumer, plugin",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(consumer, plugin, version, sha256, since, reported_at)| ConsumerReport {
                    consumer,
                    plugin,
                    version,
                    sha256,
                    since,
                    reported_at,
                },
            )
            .collect())
    }

    /// Forgets what indexers that have not reported since `before` ran (stopped indexers).
    pub async fn forget_consumers(&self, before: DateTime<Utc>) -> Result<u64, RegistryError> {
        let done = sqlx::query("DELETE FROM sluice_plugin_consumer WHERE reported_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Uninstalls a plugin: its claims go, running indexers stop indexing its collections at
    /// their next batch boundary. Its tables stay unless `drop_tables` (only for plugins that
    /// are not built in: their schema `plugin_<name>` is dropped with everything in it).
    pub async fn remove(
        &self,
        name: &str,
        drop_tables: bool,
    ) -> Result<PluginSummary, RegistryError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(REGISTRY_LOCK)
            .execute(&mut *tx)
            .await?;
        let removed: Option<(String, String, bool)> = sqlx::query_as(
            "DELETE FROM sluice_plugin WHERE name = $1 RETURNING version, sha256, builtin",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((version, sha256, builtin)) = removed else {
            return Err(RegistryError::NotInstalled(name.to_owned()));
        };
        if drop_tables {
            if builtin {
                return Err(RegistryError::TruncateBuiltin(name.to_owned()));
            }
            let schema = self.plugin_schema(name);
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                quote_ident(&schema)
            )))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        tracing::info!(plugin = %name, %version, drop_tables, "plugin removed");
        Ok(PluginSummary {
            name: name.to_owned(),
            version,
            sha256,
        })
    }

    /// The Postgres schema of a plugin's own tables.
    pub fn plugin_schema(&self, name: &str) -> String {
        format!("{}plugin_{name}", self.options.plugin_schema_prefix)
    }
}

/// Loads a component off the async threads: compiling can take a while for a large one.
pub(crate) async fn load_blocking(
    engine: &PluginEngine,
    bytes: Vec<u8>,
    options: LoadOptions,
) -> Result<Plugin, RegistryError> {
    let engine = engine.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(Plugin::load(&engine, &bytes, options)))
        .await
        .map_err(|error| RegistryError::Task(error.to_string()))?
        .map_err(RegistryError::from)
}

/// The contract version number a plugin exports (`0.1.0` of `sluice:indexer/plugin@0.1.0`).
fn contract_number(plugin: &Plugin) -> String {
    let name = plugin.contract().export_name();
    name.rsplit_once('@')
        .map_or(name, |(_, version)| version)
        .to_owned()
}

/// Compares an offered version with the installed one, by semantic-version precedence.
fn compare_versions(name: &str, offered: &str, installed: &str) -> Result<Ordering, RegistryError> {
    let parse = |version: &str| {
        semver::Version::parse(version).map_err(|_| RegistryError::Version {
            name: name.to_owned(),
            version: version.to_owned(),
        })
    };
    Ok(parse(offered)?.cmp_precedence(&parse(installed)?))
}

/// A Postgres identifier, quoted.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_precedence() {
        assert_eq!(
            compare_versions("p", "1.10.0", "1.9.0").unwrap(),
            Ordering::Greater
        );
        assert_eq!(
            compare_versions("p", "1.0.0-rc.1", "1.0.0").unwrap(),
            Ordering::Less
        );
        assert_eq!(
            compare_versions("p", "1.0.0+build.2", "1.0.0+build.1").unwrap(),
            Ordering::Equal,
            "build metadata does not order versions"
        );
        assert!(matches!(
            compare_versions("p", "one", "1.0.0"),
            Err(RegistryError::Version { .. })
        ));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("plugin_x"), "\"plugin_x\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
