//! The plugin host: runs indexer plugins (WASM components targeting `sluice:indexer`, see
//! `wit/README.md`) safely and fast.
//!
//! - [`PluginEngine`]: one per process. wasmtime with the component model, a pooling allocator,
//!   an epoch ticker for call deadlines and a compiled-code cache.
//! - [`Plugin`]: a loaded component, its contract version detected from its exports, its
//!   declaration ([`Declaration`]) checked. [`PluginSet`] keeps collection claims unique.
//! - [`PluginWorker`]: one reusable instance per indexer worker.
//!   [`PluginWorker::index_records`] runs a batch to completion: rounds of lookups answered by
//!   a [`LookupResolver`], failing operations isolated by bisection and parked with
//!   `plugin@version` and the reason, every row operation checked before it is returned.
//!
//! WASI is linked with nothing granted: no files, no network, no environment, no arguments.

pub mod bindings;
pub mod declaration;
pub mod driver;
pub mod engine;
pub mod error;
#[cfg(feature = "guest-build")]
pub mod guest_build;
pub mod lookup;
pub mod plugin;
pub mod set;
mod state;
mod stderr;
pub mod validate;
pub mod worker;

pub use bindings::ContractVersion;
pub use bindings::latest as types;
pub use declaration::{Declaration, TableSchema};
pub use driver::{BatchReport, DriverOptions, OpResult, ParkReason, Parked};
pub use engine::{EngineConfig, PluginEngine};
pub use error::{ConflictError, DeclarationError, LoadError};
pub use lookup::{LookupError, LookupResolver, MemoryResolver};
pub use plugin::{LoadOptions, LoadTimings, Plugin};
pub use set::PluginSet;
pub use worker::{CallFailure, PluginWorker};
