//! Loading a plugin: compile (through the cache), detect its contract version, link it, ask it
//! to describe itself and check the declaration.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::component::Component;

use crate::bindings::ContractVersion;
use crate::bindings::latest::IndexerPluginPre;
use crate::declaration::Declaration;
use crate::engine::PluginEngine;
use crate::error::LoadError;
use crate::state::GuestState;
use crate::worker::{PluginWorker, classify_failure};

/// How a plugin is loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// A built-in plugin (shipped with Sluice) may write `core` tables, those of `migrations/`.
    pub builtin: bool,
}

/// How long loading took, for benchmarks and logs.
#[derive(Debug, Clone, Copy)]
pub struct LoadTimings {
    /// Compiling the component (or reading it from the compiled-code cache).
    pub compile: Duration,
    /// Linking it, instantiating it once and calling `describe`.
    pub describe: Duration,
}

/// A loaded, checked plugin. Cheap to clone; make one [`PluginWorker`] per indexer worker.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

struct PluginInner {
    engine: PluginEngine,
    pre: IndexerPluginPre<GuestState>,
    declaration: Declaration,
    contract: ContractVersion,
    sha256: String,
    timings: LoadTimings,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("label", &self.label())
            .field("contract", &self.inner.contract)
            .field("sha256", &self.inner.sha256)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Loads a plugin from a file.
    pub async fn load_file(
        engine: &PluginEngine,
        path: &Path,
        options: LoadOptions,
    ) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::load(engine, &bytes, options).await
    }

    /// Loads a plugin from the bytes of its component.
    ///
    /// Compiling runs on the calling thread and can take seconds for a large component (an
    /// interpreter bundled as a component) unless the compiled-code cache has it: load plugins at
    /// start-up or from `spawn_blocking`, not from a busy runtime thread.
    pub async fn load(
        engine: &PluginEngine,
        bytes: &[u8],
        options: LoadOptions,
    ) -> Result<Self, LoadError> {
        let sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(bytes));
        let started = Instant::now();
        let component = Component::new(engine.engine(), bytes)
            .map_err(|error| LoadError::Compile(format!("{error:#}")))?;
        let compile = started.elapsed();

        let started = Instant::now();
        let contract =
            ContractVersion::detect(engine.engine(), &component).map_err(|exported| {
                LoadError::UnsupportedVersion {
                    accepted: ContractVersion::accepted_names(),
                    exported: if exported.is_empty() {
                        "nothing".to_owned()
                    } else {
                        exported.join(", ")
                    },
                }
            })?;
        let instance_pre = engine
            .linker()
            .instantiate_pre(&component)
            .map_err(|error| LoadError::Link(format!("{error:#}")))?;
        let pre = IndexerPluginPre::new(instance_pre)
            .map_err(|error| LoadError::Link(format!("{error:#}")))?;

        let mut store = Store::new(
            engine.engine(),
            GuestState::new(engine.config().memory_cap, String::new()),
        );
        store.limiter(|state| state);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(engine.config().deadline_ticks());
        let described = match pre.instantiate_async(&mut store).await {
            Ok(instance) => {
                instance
                    .sluice_indexer_plugin()
                    .call_describe(&mut store)
                    .await
            }
            Err(error) => Err(error),
        };
        let info = described.map_err(|error| {
            let stderr = store.data().stderr.take();
            LoadError::Describe(classify_failure(error, stderr).to_string())
        })?;
        let label = format!("{}@{}", info.name, info.version);
        let declaration =
            Declaration::check(info, options.builtin).map_err(|error| LoadError::Declaration {
                plugin: label.clone(),
                error: Box::new(error),
            })?;
        let describe = started.elapsed();
        tracing::info!(
            plugin = declaration.label(),
            %contract,
            collections = ?declaration.info().collections,
            compile_ms = compile.as_millis(),
            "plugin loaded"
        );
        Ok(Self {
            inner: Arc::new(PluginInner {
                engine: engine.clone(),
                pre,
                declaration,
                contract,
                sha256,
                timings: LoadTimings { compile, describe },
            }),
        })
    }

    /// The checked declaration.
    pub fn declaration(&self) -> &Declaration {
        &self.inner.declaration
    }

    /// `name@version`.
    pub fn label(&self) -> &str {
        self.inner.declaration.label()
    }

    /// The contract version the component was built against.
    pub fn contract(&self) -> ContractVersion {
        self.inner.contract
    }

    /// The sha-256 of the component's bytes (lowercase hex).
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// How long loading took.
    pub fn timings(&self) -> LoadTimings {
        self.inner.timings
    }

    /// A new worker: one reusable instance of this plugin (created on first use).
    pub fn worker(&self) -> PluginWorker {
        PluginWorker::new(self.clone())
    }

    pub(crate) fn engine(&self) -> &PluginEngine {
        &self.inner.engine
    }

    pub(crate) fn pre(&self) -> &IndexerPluginPre<GuestState> {
        &self.inner.pre
    }
}
