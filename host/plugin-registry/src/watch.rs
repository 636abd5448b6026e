//! Following the registry from a running indexer: [`RegistryProvider`] keeps an up-to-date
//! [`PluginSet`] of the installed plugins, which the indexer asks for at every batch boundary
//! (`sluice_indexer::PluginProvider`), and reports which versions the indexer runs.
//!
//! - **Changes are noticed within moments**: every change of `sluice_plugin` notifies channel
//!   `sluice_plugins` (a trigger); the provider listens and reloads. A slow poll covers lost
//!   notifications (a dropped connection, a proxy that does not forward them).
//! - **Each version compiles once per process**: loaded plugins are kept by sha-256, so a reload
//!   compiles only what changed (and the engine's code cache, when configured, skips even that
//!   across processes). Compiling runs on a blocking thread, never on the indexer's.
//! - **A plugin that no longer loads keeps its previous version** (logged as an error): a host
//!   upgrade that drops a contract version must not stop indexing silently mid-stream.
//! - **Reports**: when the indexer says which set it runs (`PluginProvider::running`), the
//!   provider writes one row per plugin to `sluice_plugin_consumer` at once and then every
//!   heartbeat, for `sluice plugin list`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sluice_indexer::PluginProvider;
use sluice_plugin_host::{LoadOptions, Plugin, PluginSet};
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::error::RegistryError;
use crate::registry::{Registry, load_blocking};

/// The channel `sluice_plugin`'s trigger notifies, with the schema's name as payload.
pub const NOTIFY_CHANNEL: &str = "sluice_plugins";

/// How a [`RegistryProvider`] follows the registry.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How often the registry is read when no notification came (the fallback).
    pub poll_interval: Duration,
    /// The indexer's consumer name, under which it reports what it runs; `None`: no reports.
    pub consumer: Option<String>,
    /// How often the report is renewed.
    pub heartbeat: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(10),
            consumer: None,
            heartbeat: Duration::from_secs(5),
        }
    }
}

/// The installed plugins as a hot-swappable [`PluginSet`]. See the module documentation.
pub struct RegistryProvider {
    registry: Registry,
    snapshot: watch::Sender<Arc<PluginSet>>,
    loaded: tokio::sync::Mutex<Loaded>,
    running: Mutex<Option<Running>>,
    report_now: Notify,
    options: WatchOptions,
}

impl std::fmt::Debug for RegistryProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryProvider")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What the provider loaded: the registry rows it last saw, and the plugins by component.
#[derive(Default)]
struct Loaded {
    /// `(name, sha256, builtin)` of every row, by name: the state the current set reflects.
    rows: Vec<Row>,
    /// Loaded plugins by `(sha256, builtin)`.
    plugins: HashMap<(String, bool), Plugin>,
    /// Components that failed to load, with the error (not retried until the row changes).
    failed: HashMap<(String, bool), String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    name: String,
    version: String,
    sha256: String,
    builtin: bool,
}

/// The set an indexer said it runs, and since when each plugin of it.
struct Running {
    set: Arc<PluginSet>,
    since: HashMap<String, DateTime<Utc>>,
}

impl RegistryProvider {
    /// Loads the installed plugins and starts following the registry (and reporting, when
    /// `options.consumer` is set) until `shutdown`.
    pub async fn start(
        registry: Registry,
        options: WatchOptions,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, RegistryError> {
        let (snapshot, _) = watch::channel(Arc::new(PluginSet::new()));
        let provider = Arc::new(Self {
            registry,
            snapshot,
            loaded: tokio::sync::Mutex::new(Loaded::default()),
            running: Mutex::new(None),
            report_now: Notify::new(),
            options,
        });
        provider.reload().await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(provider.registry.pool())
            .await?;
        tokio::spawn(Arc::clone(&provider).follow(schema, shutdown.clone()));
        if provider.options.consumer.is_some() {
            tokio::spawn(Arc::clone(&provider).report(shutdown));
        }
        Ok(provider)
    }

    /// The current set.
    pub fn current(&self) -> Arc<PluginSet> {
        Arc::clone(&self.snapshot.borrow())
    }

    /// A receiver that sees every new set (tests wait on it).
    pub fn subscribe(&self) -> watch::Receiver<Arc<PluginSet>> {
        self.snapshot.subscribe()
    }

    /// Reads the registry and publishes a new set when it changed. Returns whether it did.
    pub async fn reload(&self) -> Result<bool, RegistryError> {
        let mut loaded = self.loaded.lock().await;
        let rows: Vec<(String, String, String, bool)> = sqlx::query_as(
            "SELECT name, version, sha256, builtin FROM sluice_plugin ORDER BY name",
        )
        .fetch_all(self.registry.pool())
        .await?;
        let rows: Vec<Row> = rows
            .into_iter()
            .map(|(name, version, sha256, builtin)| Row {
                name,
                version,
                sha256,
                builtin,
            })
            .collect();
        if rows == loaded.rows {
            return Ok(false);
        }
        let previous = self.current();
        // Whether every row was read: after a transient failure the next reload tries again.
        let mut complete = true;
        let mut set = PluginSet::new();
        for row in &rows {
            let key = (row.sha256.clone(), row.builtin);
            let plugin = match loaded.plugins.get(&key) {
                Some(plugin) => Some(plugin.clone()),
                None if loaded.failed.contains_key(&key) => None,
                None => match self.load(row).await {
                    Ok(plugin) => {
                        loaded.plugins.insert(key.clone(), plugin.clone());
                        Some(plugin)
                    }
                    Err(RegistryError::Invalid(error)) => {
                        tracing::error!(
                            plugin = %format!("{}@{}", row.name, row.version),
                            %error,
                            "an installed plugin cannot be loaded; its previous version (if any) stays in use"
                        );
                        loaded.failed.insert(key.clone(), error.to_string());
                        None
                    }
                    Err(error) => {
                        tracing::warn!(
                            plugin = %format!("{}@{}", row.name, row.version),
                            %error,
                            "reading an installed plugin failed; retrying at the next reload"
                        );
                        complete = false;
                        None
                    }
                },
            };
            let plugin = plugin.or_else(|| {
                previous
                    .plugins()
                    .iter()
                    .find(|p| p.declaration().info().name == row.name)
                    .cloned()
            });
            if let Some(plugin) = plugin
                && let Err(error) = set.add(plugin)
            {
                tracing::error!(%error, "an installed plugin conflicts with another; left out");
            }
        }
        // Keep only what the new set uses.
        let in_use: HashSet<&str> = set.plugins().iter().map(Plugin::sha256).collect();
        loaded
            .plugins
            .retain(|(sha256, _), _| in_use.contains(sha256.as_str()));
        let labels: Vec<&str> = set.plugins().iter().map(Plugin::label).collect();
        tracing::info!(plugins = ?labels, "plugin registry changed; new plugin set ready");
        loaded.rows = if complete { rows } else { Vec::new() };
        self.snapshot.send_replace(Arc::new(set));
        Ok(true)
    }

    /// Loads one installed component.
    async fn load(&self, row: &Row) -> Result<Plugin, RegistryError> {
        let component: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT component FROM sluice_plugin WHERE name = $1 AND sha256 = $2",
        )
        .bind(&row.name)
        .bind(&row.sha256)
        .fetch_optional(self.registry.pool())
        .await?;
        let bytes = component.ok_or_else(|| RegistryError::Damaged {
            name: row.name.clone(),
            reason: "replaced while being read".to_owned(),
        })?;
        let plugin = load_blocking(
            self.registry.engine(),
            bytes,
            LoadOptions {
                builtin: row.builtin,
            },
        )
        .await?;
        if plugin.sha256() != row.sha256 {
            return Err(RegistryError::Damaged {
                name: row.name.clone(),
                reason: format!(
                    "the stored component hashes to {}, the row says {}",
                    plugin.sha256(),
                    row.sha256
                ),
            });
        }
        Ok(plugin)
    }

    /// Reloads on every notification for this schema, and every poll interval.
    async fn follow(self: Arc<Self>, schema: String, shutdown: CancellationToken) {
        let mut listener = self.listen().await;
        loop {
            let woken = match listener.as_mut() {
                Some(listener) => tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(self.options.poll_interval) => Wake::Poll,
                    received = listener.recv() => match received {
                        Ok(notification) if notification.payload() == schema => Wake::Notified,
                        Ok(_) => Wake::OtherSchema,
                        Err(error) => {
                            tracing::warn!(%error, "plugin registry notifications failed; polling until they are back");
                            Wake::ListenerLost
                        }
                    },
                },
                None => tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(self.options.poll_interval) => Wake::Poll,
                },
            };
            match woken {
                Wake::OtherSchema => continue,
                Wake::ListenerLost => {
                    listener = None;
                }
                Wake::Poll if listener.is_none() => listener = self.listen().await,
                Wake::Poll | Wake::Notified => {}
            }
            if let Err(error) = self.reload().await {
                tracing::warn!(%error, "reading the plugin registry failed; retrying at the next poll");
            }
        }
    }

    /// A listener on [`NOTIFY_CHANNEL`], or `None` (then the poll alone notices changes).
    async fn listen(&self) -> Option<PgListener> {
        let listening = async {
            let mut listener = PgListener::connect_with(self.registry.pool()).await?;
            listener.ignore_pool_close_event(true);
            listener.listen(NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(listener) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for plugin registry changes; polling");
                None
            }
        }
    }

    /// Writes what the indexer runs, at once when it switches and every heartbeat.
    async fn report(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.write_report().await {
                tracing::warn!(%error, "could not report the plugins this indexer runs");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.report_now.notified() => {}
                () = tokio::time::sleep(self.options.heartbeat) => {}
            }
        }
    }

    async fn write_report(&self) -> Result<(), RegistryError> {
        let Some(consumer) = &self.options.consumer else {
            return Ok(());
        };
        let rows: Vec<(String, String, String, DateTime<Utc>)> = {
            let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(running) = running.as_ref() else {
                return Ok(());
            };
            running
                .set
                .plugins()
                .iter()
                .map(|plugin| {
                    let info = plugin.declaration().info();
                    let since = running
                        .since
                        .get(&info.name)
                        .copied()
                        .unwrap_or_else(Utc::now);
                    (
                        info.name.clone(),
                        info.version.clone(),
                        plugin.sha256().to_owned(),
                        since,
                    )
                })
                .collect()
        };
        let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        let versions: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        let hashes: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
        let since: Vec<DateTime<Utc>> = rows.iter().map(|r| r.3).collect();
        let mut tx = self.registry.pool().begin().await?;
        sqlx::query("DELETE FROM sluice_plugin_consumer WHERE consumer = $1 AND plugin <> ALL($2)")
            .bind(consumer)
            .bind(&names)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sluice_plugin_consumer (consumer, plugin, version, sha256, since, reported_at)
             SELECT $1, * , now() FROM UNNEST($2::text[], $3::text[], $4::text[], $5::timestamptz[])
             ON CONFLICT (consumer, plugin) DO UPDATE SET
                 version = EXCLUDED.version, sha256 = EXCLUDED.sha256,
                 since = EXCLUDED.since, reported_at = EXCLUDED.reported_at",
        )
        .bind(consumer)
        .bind(&names)
        .bind(&versions)
        .bind(&hashes)
        .bind(&since)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the set the indexer runs now.
    fn set_running(&self, set: &Arc<PluginSet>) {
        let now = Utc::now();
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.as_ref().is_some_and(|r| Arc::ptr_eq(&r.set, set)) {
            return;
        }
        let since = set
            .plugins()
            .iter()
            .map(|plugin| {
                let name = plugin.declaration().info().name.clone();
                let kept = running.as_ref().and_then(|r| {
                    r.set
                        .plugins()
                        .iter()
                        .find(|p| p.sha256() == plugin.sha256())
                        .and_then(|_| r.since.get(&name).copied())
                });
                (name, kept.unwrap_or(now))
            })
            .collect();
        *running = Some(Running {
            set: Arc::clone(set),
            since,
        });
        drop(running);
        self.report_now.notify_one();
    }
}

impl PluginProvider for RegistryProvider {
    fn current(&self) -> Arc<PluginSet> {
        RegistryProvider::current(self)
    }

    fn running(&self, set: &Arc<PluginSet>) {
        self.set_running(set);
    }
}

/// Why the follower woke up.
enum Wake {
    Poll,
    Notified,
    OtherSchema,
    ListenerLost,
}
