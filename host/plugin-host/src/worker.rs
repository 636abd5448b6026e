//! One reusable instance of a plugin, owned by one indexer worker. A call that traps, runs past
//! its deadline or hits the memory cap discards the instance; the next call makes a new one.

use std::time::Instant;

use wasmtime::{Store, Trap};

use crate::bindings::latest::{Answer, IndexerPlugin, NetworkEvent, Outcome, RecordOp};
use crate::plugin::Plugin;
use crate::state::{GuestState, MemoryLimitExceeded};

/// Why one call into a plugin failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
    /// The guest trapped (a panic, an out-of-bounds access, `unreachable`...).
    #[error("trap: {0}")]
    Trap(String),
    /// The call ran past its deadline.
    #[error("deadline: the call ran longer than {0} ms")]
    Deadline(u128),
    /// A linear memory tried to grow past the cap.
    #[error("{0}")]
    MemoryLimit(String),
    /// The plugin returned a different number of outcomes than it was given operations.
    #[error("the plugin returned {got} outcomes for {expected} operations")]
    WrongCount {
        /// Operations given.
        expected: usize,
        /// Outcomes returned.
        got: usize,
    },
    /// A fresh instance could not be made.
    #[error("instantiation failed: {0}")]
    Instantiate(String),
}

/// Turns a wasmtime error into a [`CallFailure`], adding the guest's last stderr output (where a
/// Rust guest's panic message is) to traps.
pub(crate) fn classify_failure(error: wasmtime::Error, stderr: String) -> CallFailure {
    for cause in error.chain() {
        if let Some(limit) = cause.downcast_ref::<MemoryLimitExceeded>() {
            return CallFailure::MemoryLimit(limit.to_string());
        }
        if let Some(Trap::Interrupt) = cause.downcast_ref::<Trap>() {
            return CallFailure::Deadline(0);
        }
    }
    let mut message = format!("{error:#}");
    if !stderr.is_empty() {
        message.push_str("; guest stderr: ");
        message.push_str(&stderr);
    }
    CallFailure::Trap(message)
}

/// One instance of a plugin, reused across batches.
pub struct PluginWorker {
    plugin: Plugin,
    live: Option<Live>,
    instantiations: u64,
}

struct Live {
    store: Store<GuestState>,
    bindings: IndexerPlugin,
}

impl std::fmt::Debug for PluginWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginWorker")
            .field("plugin", &self.plugin.label())
            .field("live", &self.live.is_some())
            .field("instantiations", &self.instantiations)
            .finish()
    }
}

impl PluginWorker {
    pub(crate) fn new(plugin: Plugin) -> Self {
        Self {
            plugin,
            live: None,
            instantiations: 0,
        }
    }

    /// The plugin this worker runs.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// How many instances this worker has made (1 + the number discarded after failures, once
    /// it has been used).
    pub fn instantiations(&self) -> u64 {
        self.instantiations
    }

    /// Makes the instance now rather than on the first call (to measure, or to fail early).
    pub async fn warm_up(&mut self) -> Result<(), CallFailure> {
        self.live().await.map(|_| ())
    }

    /// Calls `index-records` once: no rounds, no isolation, no checks of the output (see
    /// [`crate::driver`] for those). On failure the instance is discarded.
    pub async fn call_records(
        &mut self,
        ops: &[RecordOp],
        answers: &[Answer],
    ) -> Result<Vec<Outcome>, CallFailure> {
        let expected = ops.len();
        let result = match self.live().await {
            Ok(live) => {
                live.bindings
                    .sluice_indexer_plugin()
                    .call_index_records(&mut live.store, ops, answers)
                    .await
            }
            Err(failure) => return Err(failure),
        };
        self.finish(expected, result)
    }

    /// Calls `index-events` once, like [`PluginWorker::call_records`].
    pub async fn call_events(
        &mut self,
        events: &[NetworkEvent],
        answers: &[Answer],
    ) -> Result<Vec<Outcome>, CallFailure> {
        let expected = events.len();
        let result = match self.live().await {
            Ok(live) => {
                live.bindings
                    .sluice_indexer_plugin()
                    .call_index_events(&mut live.store, events, answers)
                    .await
            }
            Err(failure) => return Err(failure),
        };
        self.finish(expected, result)
    }

    /// Checks a call's result; on failure, discards the instance.
    fn finish(
        &mut self,
        expected: usize,
        result: wasmtime::Result<Vec<Outcome>>,
    ) -> Result<Vec<Outcome>, CallFailure> {
        let deadline_ms = self.plugin.engine().config().call_deadline.as_millis();
        let stderr = self
            .live
            .as_ref()
            .map(|live| live.store.data().stderr.take())
            .unwrap_or_default();
        let failure = match result {
            Ok(outcomes) if outcomes.len() == expected => return Ok(outcomes),
            Ok(outcomes) => CallFailure::WrongCount {
                expected,
                got: outcomes.len(),
            },
            Err(error) => match classify_failure(error, stderr) {
                CallFailure::Deadline(_) => CallFailure::Deadline(deadline_ms),
                other => other,
            },
        };
        tracing::debug!(plugin = self.plugin.label(), %failure, "plugin call failed; discarding the instance");
        self.live = None;
        Err(failure)
    }

    /// The live instance, made when missing, with a fresh deadline for the coming call.
    async fn live(&mut self) -> Result<&mut Live, CallFailure> {
        if self.live.is_none() {
            let started = Instant::now();
            let engine = self.plugin.engine();
            let state = GuestState::new(engine.config().memory_cap, self.plugin.label().to_owned());
            let mut store = Store::new(engine.engine(), state);
            store.limiter(|state| state);
            store.epoch_deadline_trap();
            store.set_epoch_deadline(engine.config().deadline_ticks());
            let bindings = match self.plugin.pre().instantiate_async(&mut store).await {
                Ok(bindings) => bindings,
                Err(error) => {
                    let stderr = store.data().stderr.take();
                    return Err(CallFailure::Instantiate(
                        classify_failure(error, stderr).to_string(),
                    ));
                }
            };
            self.instantiations += 1;
            tracing::trace!(
                plugin = self.plugin.label(),
                elapsed_us = started.elapsed().as_micros(),
                "instantiated"
            );
            self.live = Some(Live { store, bindings });
        }
        let deadline_ticks = self.plugin.engine().config().deadline_ticks();
        let live = self
            .live
            .as_mut()
            .ok_or_else(|| CallFailure::Instantiate("no instance".to_owned()))?;
        live.store.set_epoch_deadline(deadline_ticks);
        Ok(live)
    }
}
