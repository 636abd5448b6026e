//! Metric names (`sluice_indexer_<what>_<unit>`). Labels are bounded: `outcome`, `reason`,
//! `stream`, `cause` — never a DID, a URI or a table a plugin could invent per record.

/// Stream entries handled, by `stream` and `outcome` (`indexed`, `parked`, `failed`).
pub const ENTRIES: &str = "sluice_indexer_entries_total";
/// Record operations, by `outcome` (`applied`, `stale`, `duplicate`, `skipped`, `parked`,
/// `unclaimed`).
pub const RECORD_OPS: &str = "sluice_indexer_record_ops_total";
/// Entries parked in a dead-letter stream, by `reason`.
pub const PARKED: &str = "sluice_indexer_parked_total";
/// Network events given to plugins.
pub const EVENTS: &str = "sluice_indexer_events_total";
/// Waiters re-run because what they awaited arrived, by `outcome` (`indexed`, `failed`).
pub const REPLAYS: &str = "sluice_indexer_replays_total";
/// Record operations run again inside their batch's transaction because they would take a
/// unique value an earlier operation of the batch takes.
pub const DEFERRED: &str = "sluice_indexer_deferred_ops_total";
/// Batches committed.
pub const BATCHES: &str = "sluice_indexer_batches_total";
/// Seconds from reading a batch to its commit (histogram).
pub const BATCH_SECONDS: &str = "sluice_indexer_batch_seconds";
/// Statements run for row operations and aggregates.
pub const STATEMENTS: &str = "sluice_indexer_statements_total";
/// Rows written (inserted, updated, deleted) by row operations.
pub const ROWS: &str = "sluice_indexer_rows_written_total";
/// (aggregate, key) counts written.
pub const AGGREGATE_KEYS: &str = "sluice_indexer_aggregate_keys_total";
/// Batch attempts that failed, by `cause` (`concurrent`, `lookup`, `database`,
/// `database_transient`, `data`).
pub const RETRIES: &str = "sluice_indexer_batch_failures_total";
/// Plugin-set changes taken at a batch boundary.
pub const PLUGIN_SWAPS: &str = "sluice_indexer_plugin_swaps_total";
/// Seconds spent in each phase of indexing, by `phase` (histogram: its sum is the time spent,
/// summed over the workers). Phases: `read` (the reader's `XREADGROUP`s), `dispatch` (the
/// reader waiting for a busy worker), `idle` (a worker waiting for work), `parse`, `load` (stored
/// versions), `handles`, `plugins` (plugin calls, lookups excluded), `lookups`, `write_records`,
/// `write_rows`, `deferred` (deferred operations run again, their plugin calls and lookups
/// included, as in `replay`), `awaits`, `awaits_lock`, `replay`, `aggregates`, `actor_sync`, `commit`, `settle`
/// (acknowledging, parking); `index` is the whole of a worker's indexing of a part of a batch
/// (retries included), from `load` to `commit`; `failed` is the time of the attempts that failed
/// (retried, or split to isolate an entry), their phases included.
pub const PHASE_SECONDS: &str = "sluice_indexer_phase_seconds";

/// Registers the descriptions of every metric (call once, after installing a recorder).
pub fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(ENTRIES, "Stream entries handled, by stream and outcome.");
    describe_counter!(RECORD_OPS, "Record operations, by outcome.");
    describe_counter!(PARKED, "Entries parked in a dead-letter stream, by reason.");
    describe_counter!(EVENTS, "Network events given to plugins.");
    describe_counter!(
        REPLAYS,
        "Waiters re-run when what they awaited arrived, by outcome."
    );
    describe_counter!(
        DEFERRED,
        "Record operations run again in their batch's transaction (a unique value taken earlier in the batch)."
    );
    describe_counter!(BATCHES, "Batches committed.");
    describe_histogram!(BATCH_SECONDS, "Seconds from reading a batch to its commit.");
    describe_counter!(
        STATEMENTS,
        "Statements run for row operations and aggregates."
    );
    describe_counter!(ROWS, "Rows inserted, updated or deleted by row operations.");
    describe_counter!(
        AGGREGATE_KEYS,
        "Aggregate counts written (one per aggregate and key)."
    );
    describe_counter!(RETRIES, "Batch attempts that failed, by cause.");
    describe_counter!(
        PLUGIN_SWAPS,
        "Plugin-set changes taken at a batch boundary."
    );
    describe_histogram!(
        PHASE_SECONDS,
        "Seconds spent in each phase of indexing, by phase."
    );
}

/// Records the time one phase took.
pub(crate) fn phase(phase: &'static str, elapsed: std::time::Duration) {
    metrics::histogram!(PHASE_SECONDS, "phase" => phase).record(elapsed.as_secs_f64());
}

/// Records the time since `started` as `phase`; returns now (where the next phase starts).
pub(crate) fn phase_from(phase: &'static str, started: std::time::Instant) -> std::time::Instant {
    let now = std::time::Instant::now();
    self::phase(phase, now.duration_since(started));
    now
}

/// Counts a committed batch's counters.
pub(crate) fn record_batch(counts: &crate::batch::BatchCounts) {
    use metrics::counter;
    for (outcome, value) in [
        ("applied", counts.applied),
        ("stale", counts.stale),
        ("duplicate", counts.duplicate),
        ("skipped", counts.skipped),
        ("parked", counts.parked),
        ("unclaimed", counts.unclaimed),
    ] {
        if value > 0 {
            counter!(RECORD_OPS, "outcome" => outcome).increment(value);
        }
    }
    counter!(EVENTS).increment(counts.events);
    counter!(REPLAYS, "outcome" => "indexed")
        .increment(counts.replays.saturating_sub(counts.replays_failed));
    counter!(REPLAYS, "outcome" => "failed").increment(counts.replays_failed);
    counter!(DEFERRED).increment(counts.deferred);
    counter!(BATCHES).increment(1);
    counter!(STATEMENTS).increment(counts.write.statements as u64);
    counter!(ROWS).increment(counts.write.rows);
    counter!(AGGREGATE_KEYS).increment(counts.aggregate_keys);
}
