//! The one wasmtime [`Engine`] of a process: component model, pooling allocator, epoch
//! interruption driven by a ticker thread, and a compiled-code cache on disk.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

use crate::bindings::latest::IndexerPlugin;
use crate::error::LoadError;
use crate::state::GuestState;

/// How the engine is set up. [`EngineConfig::default`] suits an indexer with a handful of
/// plugins and workers.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The most bytes one linear memory of a plugin instance may grow to. Past it, the call
    /// traps and the operation that caused it is parked.
    pub memory_cap: usize,
    /// How long one call into a plugin (one round of one batch) may run.
    pub call_deadline: Duration,
    /// How often the epoch advances: the granularity of `call_deadline`.
    pub epoch_tick: Duration,
    /// The most plugin instances alive at once (workers × plugins, plus a few being replaced).
    pub max_instances: u32,
    /// Where compiled code is cached, keyed by the component's bytes and the engine's settings.
    /// `None`: compile every time.
    pub cache_dir: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            memory_cap: 256 << 20,
            call_deadline: Duration::from_secs(2),
            epoch_tick: Duration::from_millis(10),
            max_instances: 64,
            cache_dir: None,
        }
    }
}

impl EngineConfig {
    /// The number of epoch ticks a call may run.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let tick = self.epoch_tick.as_micros().max(1);
        u64::try_from(self.call_deadline.as_micros().div_ceil(tick))
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// The shared engine: compiles components and owns the linker every plugin is instantiated
/// with. Cheap to clone; the epoch ticker stops when the last clone is dropped.
#[derive(Clone)]
pub struct PluginEngine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    engine: Engine,
    linker: Linker<GuestState>,
    config: EngineConfig,
    ticker: Ticker,
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Core instances, memories and tables one component may hold. A Rust component for
/// `wasm32-wasip2` has a handful of core instances; a Python one a few more.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 8;

/// Set (to anything) to write a perf map of the compiled plugin code, so that `perf` can name
/// plugin functions when profiling an indexer.
pub const PERFMAP_ENV: &str = "SLUICE_WASM_PERFMAP";

impl PluginEngine {
    /// Builds the engine, its linker (WASI with nothing granted, plus the `host` interface)
    /// and the epoch ticker.
    pub fn new(config: EngineConfig) -> Result<Self, LoadError> {
        let mut wasm = Config::new();
        wasm.wasm_component_model(true).epoch_interruption(true);
        if std::env::var_os(PERFMAP_ENV).is_some() {
            // `perf report` then names plugins' functions (from /tmp/perf-<pid>.map).
            wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }

        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances * CORE_INSTANCES_PER_COMPONENT)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .total_memories(config.max_instances * MEMORIES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .total_tables(config.max_instances * TABLES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .max_memory_size(config.memory_cap)
            // One fiber stack per call in flight (calls are async).
            .total_stacks(config.max_instances);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir).map_err(|source| LoadError::Cache(source.to_string()))?;
            // wasmtime refuses a relative cache directory: resolve it against the working
            // directory, as a user giving `--plugin-cache-dir .cache/plugins` means.
            let dir = std::path::absolute(dir)
                .map_err(|source| LoadError::Cache(format!("{}: {source}", dir.display())))?;
            let mut cache_config = CacheConfig::new();
            cache_config.with_directory(&dir);
            let cache =
                Cache::new(cache_config).map_err(|error| LoadError::Cache(format!("{error:#}")))?;
            wasm.cache(Some(cache));
        }

        let engine = Engine::new(&wasm).map_err(|error| LoadError::Engine(format!("{error:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|error| LoadError::Engine(format!("{error:#}")))?;
        IndexerPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|error| LoadError::Engine(format!("{error:#}")))?;
        let ticker = Ticker::start(&engine, config.epoch_tick);
        Ok(Self {
            inner: Arc::new(EngineInner {
                engine,
                linker,
                config,
                ticker,
            }),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The linker plugins are instantiated with.
    pub(crate) fn linker(&self) -> &Linker<GuestState> {
        &self.inner.linker
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.ticker.stop();
    }
}

/// A thread that advances the engine's epoch every tick, so that a call's deadline (a number
/// of ticks) can interrupt a plugin that runs too long.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: &Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("sluice-plugin-epoch".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .ok();
        if thread.is_none() {
            tracing::error!(
                "could not start the plugin epoch thread: plugin deadlines will not fire"
            );
        }
        Self { stop, thread }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
