//! What a plugin's store holds: WASI with nothing granted, the memory limiter, the captured
//! stderr, and the host side of the `host` interface (logging).

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::latest::Level;
use crate::bindings::latest::sluice::indexer::{host, types};
use crate::stderr::StderrTail;

/// How many bytes of a guest's stderr are kept for error reports.
const STDERR_TAIL_BYTES: usize = 2048;
/// The longest log message kept from a plugin.
const MAX_LOG_MESSAGE_BYTES: usize = 4096;
/// The most fields kept on one log line from a plugin.
const MAX_LOG_FIELDS: usize = 16;

/// Cuts `text` to at most `max` bytes, on a character boundary.
fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// A linear memory tried to grow past the cap of its store.
#[derive(Debug, thiserror::Error)]
#[error("memory limit: a linear memory tried to grow to {desired} bytes; the cap is {cap} bytes")]
pub(crate) struct MemoryLimitExceeded {
    /// The size asked for.
    pub(crate) desired: usize,
    /// The cap.
    pub(crate) cap: usize,
}

/// The data of one plugin instance's store.
pub(crate) struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory_cap: usize,
    /// `name@version` of the plugin, for log lines (empty until `describe` ran).
    pub(crate) label: String,
    /// The guest's stderr.
    pub(crate) stderr: StderrTail,
}

impl GuestState {
    /// A fresh state: no files, no network, no environment, no arguments; stdin empty; stdout
    /// discarded; stderr captured.
    pub(crate) fn new(memory_cap: usize, label: String) -> Self {
        let stderr = StderrTail::new(STDERR_TAIL_BYTES);
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        Self {
            wasi,
            table: ResourceTable::new(),
            memory_cap,
            label,
            stderr,
        }
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for GuestState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        if desired > self.memory_cap {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                desired,
                cap: self.memory_cap,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        // A table entry is a pointer; a million of them is far beyond any real plugin.
        Ok(desired <= 1_000_000)
    }
}

/// The `types` interface has no functions.
impl types::Host for GuestState {}

impl host::Host for GuestState {
    fn log(&mut self, level: Level, mut message: String, mut fields: Vec<(String, String)>) {
        // A plugin cannot flood the logs with huge lines.
        truncate(&mut message, MAX_LOG_MESSAGE_BYTES);
        fields.truncate(MAX_LOG_FIELDS);
        for (key, value) in &mut fields {
            truncate(key, MAX_LOG_MESSAGE_BYTES / 8);
            truncate(value, MAX_LOG_MESSAGE_BYTES / 4);
        }
        let plugin = self.label.as_str();
        match level {
            Level::Trace => tracing::trace!(plugin, ?fields, "{message}"),
            Level::Debug => tracing::debug!(plugin, ?fields, "{message}"),
            Level::Info => tracing::info!(plugin, ?fields, "{message}"),
            Level::Warn => tracing::warn!(plugin, ?fields, "{message}"),
            Level::Error => tracing::error!(plugin, ?fields, "{message}"),
        }
    }
}
