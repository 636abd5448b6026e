//! Runs one batch through a plugin: rounds of lookups, isolation of failing operations by
//! bisection, and the checks of every outcome against the plugin's declaration.
//!
//! ```text
//! round 1: index-records(ops, [])            → per op: indexed | failed | needs(lookups)
//!          resolver.resolve(all new lookups)   (one bulk query per round)
//! round 2: index-records(pending, answers)   → ...           (at most `max_rounds` rounds)
//! ```
//! A call that fails as a whole (trap, deadline, memory cap, wrong number of outcomes) is split
//! in halves and retried on fresh instances until the failing operations stand alone; they are
//! parked, the rest of the batch goes on.

use std::collections::HashSet;
use std::future::Future;

use crate::bindings::latest::{
    Answer, IndexError, Indexed, Lookup, NetworkEvent, Outcome, RecordOp,
};
use crate::lookup::{LookupError, LookupResolver, lookup_key};
use crate::validate::{check_lookup, check_record_uri, check_row_op};
use crate::worker::{CallFailure, PluginWorker};

/// Limits of one batch.
#[derive(Debug, Clone, Copy)]
pub struct DriverOptions {
    /// The most calls per operation; an operation still asking for lookups after this many
    /// rounds is parked.
    pub max_rounds: u32,
}

impl Default for DriverOptions {
    fn default() -> Self {
        Self { max_rounds: 4 }
    }
}

/// What became of one operation (or event) of a batch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpResult {
    /// Row operations to write, every one checked against the declaration, and the records to
    /// wait for.
    Indexed(Indexed),
    /// `invalid-record` or `unsupported`: count it, skip it, acknowledge it.
    Skipped(IndexError),
    /// A plugin bug or a limit: write it to the dead-letter stream for a replay after an upgrade.
    Parked(Parked),
}

/// An operation the plugin could not handle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Parked {
    /// `name@version` of the plugin.
    pub plugin: String,
    /// Why.
    pub reason: ParkReason,
}

/// Why an operation was parked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum ParkReason {
    /// The call failed on this operation alone.
    #[error("{0}")]
    Failed(CallFailure),
    /// A row operation, lookup or `awaits` entry broke the declaration.
    #[error("invalid output: {0}")]
    InvalidOutput(String),
    /// The plugin returned `internal`.
    #[error("plugin error: {0}")]
    Internal(String),
    /// Still asking for lookups after the last round.
    #[error("still asking for lookups after {0} rounds")]
    TooManyRounds(u32),
    /// Asked again for lookups it had been given answers to.
    #[error("asked again for lookups that were already answered")]
    RepeatedLookups,
}

impl serde::Serialize for CallFailure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// The result of one batch, with counters for metrics.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    /// One result per operation, in the order given.
    pub results: Vec<OpResult>,
    /// Rounds run (1 when no lookups were needed).
    pub rounds: u32,
    /// Calls made into the plugin (more than `rounds` when failures were isolated).
    pub calls: u32,
    /// Distinct lookups answered.
    pub lookups: usize,
}

/// Something a batch is made of: record operations or network events.
pub trait BatchItem: Clone + Send + Sync {
    /// Calls the plugin's export for this kind of item.
    fn call<'a>(
        worker: &'a mut PluginWorker,
        items: &'a [Self],
        answers: &'a [Answer],
    ) -> impl Future<Output = Result<Vec<Outcome>, CallFailure>> + Send + 'a;
}

impl BatchItem for RecordOp {
    fn call<'a>(
        worker: &'a mut PluginWorker,
        items: &'a [Self],
        answers: &'a [Answer],
    ) -> impl Future<Output = Result<Vec<Outcome>, CallFailure>> + Send + 'a {
        worker.call_records(items, answers)
    }
}

impl BatchItem for NetworkEvent {
    fn call<'a>(
        worker: &'a mut PluginWorker,
        items: &'a [Self],
        answers: &'a [Answer],
    ) -> impl Future<Output = Result<Vec<Outcome>, CallFailure>> + Send + 'a {
        worker.call_events(items, answers)
    }
}

impl PluginWorker {
    /// Indexes a batch of record operations to completion.
    ///
    /// Each call into the plugin is bounded by the engine's deadline. `Err` only when the
    /// resolver fails (the batch is then retried as a whole; nothing was written).
    pub async fn index_records<R: LookupResolver>(
        &mut self,
        ops: &[RecordOp],
        resolver: &R,
        options: DriverOptions,
    ) -> Result<BatchReport, LookupError> {
        self.run_batch(ops, resolver, options).await
    }

    /// Indexes a batch of network events to completion, like [`PluginWorker::index_records`].
    pub async fn index_events<R: LookupResolver>(
        &mut self,
        events: &[NetworkEvent],
        resolver: &R,
        options: DriverOptions,
    ) -> Result<BatchReport, LookupError> {
        self.run_batch(events, resolver, options).await
    }

    async fn run_batch<T: BatchItem, R: LookupResolver>(
        &mut self,
        items: &[T],
        resolver: &R,
        options: DriverOptions,
    ) -> Result<BatchReport, LookupError> {
        let label = self.plugin().label().to_owned();
        let park = |reason| {
            Some(OpResult::Parked(Parked {
                plugin: label.clone(),
                reason,
            }))
        };
        let mut results: Vec<Option<OpResult>> = vec![None; items.len()];
        let mut report = BatchReport::default();
        let mut answers: Vec<Answer> = Vec::new();
        let mut answered: HashSet<String> = HashSet::new();
        let mut pending: Vec<usize> = (0..items.len()).collect();
        let max_rounds = options.max_rounds.max(1);

        while !pending.is_empty() {
            report.rounds += 1;
            let mut outcomes = Vec::with_capacity(pending.len());
            self.call_isolating(items, &pending, &answers, &mut outcomes, &mut report.calls)
                .await;

            let mut asked: Vec<Lookup> = Vec::new();
            let mut asked_keys: HashSet<String> = HashSet::new();
            let mut next = Vec::new();
            for (index, outcome) in outcomes {
                let Some(slot) = results.get_mut(index) else {
                    continue;
                };
                *slot = match outcome {
                    Err(failure) => park(ParkReason::Failed(failure)),
                    Ok(Outcome::Failed(IndexError::Internal(message))) => {
                        park(ParkReason::Internal(message))
                    }
                    Ok(Outcome::Failed(error)) => Some(OpResult::Skipped(error)),
                    Ok(Outcome::Indexed(indexed)) => match self.check_indexed(&indexed) {
                        Ok(()) => Some(OpResult::Indexed(indexed)),
                        Err(reason) => park(reason),
                    },
                    Ok(Outcome::Needs(lookups)) => {
                        let declaration = self.plugin().declaration();
                        if lookups.is_empty() {
                            park(ParkReason::InvalidOutput(
                                "`needs` with no lookups".to_owned(),
                            ))
                        } else if let Some(error) = lookups
                            .iter()
                            .find_map(|l| check_lookup(declaration, l).err())
                        {
                            park(ParkReason::InvalidOutput(error.to_string()))
                        } else if report.rounds >= max_rounds {
                            park(ParkReason::TooManyRounds(report.rounds))
                        } else {
                            let mut fresh = false;
                            for lookup in lookups {
                                let key = lookup_key(&lookup);
                                if answered.contains(&key) {
                                    continue;
                                }
                                fresh = true;
                                if asked_keys.insert(key) {
                                    asked.push(lookup);
                                }
                            }
                            if fresh {
                                next.push(index);
                                None
                            } else {
                                park(ParkReason::RepeatedLookups)
                            }
                        }
                    }
                };
            }
            if next.is_empty() {
                break;
            }
            let found = resolver
                .resolve(self.plugin().declaration(), &asked)
                .await?;
            if found.len() != asked.len() {
                return Err(LookupError(format!(
                    "the resolver gave {} answers to {} lookups",
                    found.len(),
                    asked.len()
                )));
            }
            report.lookups += asked.len();
            answered.extend(asked_keys);
            answers.extend(
                asked
                    .into_iter()
                    .zip(found)
                    .map(|(lookup, found)| Answer { lookup, found }),
            );
            pending = next;
        }

        report.results = results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    OpResult::Parked(Parked {
                        plugin: label.clone(),
                        reason: ParkReason::InvalidOutput("no outcome".to_owned()),
                    })
                })
            })
            .collect();
        Ok(report)
    }

    /// Calls the plugin with the items at `indices`; when the call fails as a whole, splits the
    /// indices in halves and tries each on a fresh instance, down to single items.
    async fn call_isolating<T: BatchItem>(
        &mut self,
        items: &[T],
        indices: &[usize],
        answers: &[Answer],
        out: &mut Vec<(usize, Result<Outcome, CallFailure>)>,
        calls: &mut u32,
    ) {
        // Ranges of `indices` still to call, last first (so halves run in order).
        let mut stack = Vec::with_capacity(8);
        stack.push(0..indices.len());
        while let Some(range) = stack.pop() {
            let Some(part) = indices.get(range.clone()) else {
                continue;
            };
            if part.is_empty() {
                continue;
            }
            *calls += 1;
            let result = if part.len() == items.len() {
                T::call(self, items, answers).await
            } else {
                let subset: Vec<T> = part.iter().filter_map(|&i| items.get(i).cloned()).collect();
                T::call(self, &subset, answers).await
            };
            match result {
                Ok(outcomes) => out.extend(part.iter().copied().zip(outcomes.into_iter().map(Ok))),
                Err(failure) => {
                    if let [single] = part {
                        tracing::warn!(plugin = self.plugin().label(), %failure, "operation isolated and parked");
                        out.push((*single, Err(failure)));
                    } else {
                        let middle = range.start + part.len() / 2;
                        stack.push(middle..range.end);
                        stack.push(range.start..middle);
                    }
                }
            }
        }
    }

    fn check_indexed(&self, indexed: &Indexed) -> Result<(), ParkReason> {
        let declaration = self.plugin().declaration();
        for op in &indexed.ops {
            check_row_op(declaration, op)
                .map_err(|error| ParkReason::InvalidOutput(error.to_string()))?;
        }
        for uri in &indexed.awaits {
            check_record_uri(uri)
                .map_err(|error| ParkReason::InvalidOutput(format!("awaits: {error}")))?;
        }
        Ok(())
    }
}
