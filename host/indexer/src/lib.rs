//! Sluice's indexer: Redis streams through WASM plugins into Postgres rows — exact, fast and
//! crash-safe.
//!
//! ```text
//! firehose_live ┐ (live first)                                       ┌ record (guarded)
//! firehose_backfill ┴► reader ─ by repo ─► worker × N ─ plugins ─► one transaction ┼ plugin rows (UNNEST)
//! label_live ────────► label worker ──────────────┘                            ├ aggregates (exact)
//!                                                                               └ awaits, actor_sync
//!                                                         commit, then ack (or park with the reason)
//! ```
//!
//! - [`run`] ([`pipeline`]): the process — consumer groups, a queue per worker read ahead of
//!   it (`dispatch`), workers, retries, bisection of
//!   poison entries, dead letters, metrics ([`metrics`]).
//! - [`batch::index_batch`]: one batch, from parsed entries ([`input`]) to a commit: stored
//!   versions and the revision guard ([`records`]), plugins with lookups on Postgres
//!   ([`lookup`]), identity events with verified handles ([`identity`]), the row-op applier
//!   ([`apply`]) with exact aggregates, awaits and replays ([`awaits`]).
//! - [`prepared::PreparedPlugins`]: a plugin set checked against the real tables
//!   ([`catalog`], [`binding`]), their own tables created ([`plugin_tables`]); swapped between
//!   batches when the [`plugins::PluginProvider`] gives a new set.
//! - [`repair`]: recomputes every aggregate from its table, reports drift, fixes it.

pub mod apply;
pub mod awaits;
pub mod batch;
pub mod binding;
pub mod catalog;
pub mod config;
mod dispatch;
pub mod error;
pub mod identity;
pub mod input;
pub mod lookup;
pub mod metrics;
pub mod pipeline;
pub mod plugin_tables;
pub mod plugins;
pub mod prepared;
pub mod records;
pub mod reindex;
pub mod repair;

pub use batch::{BatchContext, BatchOptions, BatchReport, Entry, PluginWorkers, index_batch};
pub use config::{DEFAULT_CONCURRENCY, HandleResolution, IndexerConfig, PluginSource};
pub use error::{BatchError, PrepareError};
pub use identity::{FixedHandles, HandleSource, NoHandles, ResolvedHandles};
pub use pipeline::{RunError, run};
pub use plugins::{PluginFiles, PluginProvider, StaticPlugins};
pub use prepared::{PrepareOptions, PreparedPlugins};
