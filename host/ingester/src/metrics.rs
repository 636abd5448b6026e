//! Metric names (`sluice_ingester_<what>_<unit>`). Labels are bounded: `host` (a configured
//! host), `source` (`firehose`, `labels`, `list_repos`), `stream`, `reason`, `type` — never a
//! DID or a URI.

/// Frames received, by `source`, `host` and `type` (`#commit`, …).
pub const INGESTER_FRAMES: &str = "sluice_ingester_frames_total";
/// Events not passed on, by `host` and `reason`.
pub const INGESTER_REJECTED: &str = "sluice_ingester_rejected_events_total";
/// Repos queued for a fresh backfill by the firehose, by `host` and `reason`.
pub const INGESTER_RESYNCS: &str = "sluice_ingester_resyncs_total";
/// Fresh DID resolutions after a signature did not verify with the cached key, by `host`.
pub const INGESTER_KEY_REFRESHES: &str = "sluice_ingester_key_refreshes_total";
/// Record ops left out because no plugin claims their collection.
pub const INGESTER_FILTERED_OPS: &str = "sluice_ingester_filtered_ops_total";
/// Record ops left out because the record is not valid DAG-CBOR.
pub const INGESTER_BAD_RECORDS: &str = "sluice_ingester_bad_records_total";
/// Entries added, by `stream`.
pub const INGESTER_ENTRIES: &str = "sluice_ingester_stream_entries_total";
/// The last durable cursor, by `source` and `host` (gauge).
pub const INGESTER_CURSOR: &str = "sluice_ingester_cursor";
/// 1 while connected, by `source` and `host` (gauge).
pub const INGESTER_CONNECTED: &str = "sluice_ingester_connected";
/// Connections lost or refused, by `source` and `host`.
pub const INGESTER_RECONNECTS: &str = "sluice_ingester_reconnects_total";
/// Seconds sources waited for a stream to drain below its high-water mark, by `stream`.
pub const INGESTER_BACKPRESSURE: &str = "sluice_ingester_backpressure_wait_seconds_total";
/// Seconds one batch write (pipeline + cursor) took (histogram).
pub const INGESTER_WRITE_SECONDS: &str = "sluice_ingester_write_batch_seconds";
/// Batch writes that failed, by `source` and `host`.
pub const INGESTER_WRITE_ERRORS: &str = "sluice_ingester_write_errors_total";
/// Repos queued from `listRepos`, by `host`.
pub const INGESTER_LISTED_REPOS: &str = "sluice_ingester_listed_repos_total";
/// `listRepos` page requests that failed, by `host`.
pub const INGESTER_LIST_ERRORS: &str = "sluice_ingester_list_repos_errors_total";
/// `listRepos` pages given up on after every retry failed, by `host`.
pub const INGESTER_LIST_SKIPPED: &str = "sluice_ingester_list_repos_pages_skipped_total";

/// Registers the descriptions of every metric (call once, after installing a recorder).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        INGESTER_FRAMES,
        "Frames received, by source, host and type."
    );
    describe_counter!(
        INGESTER_REJECTED,
        "Events not passed on (dead-lettered), by host and reason."
    );
    describe_counter!(
        INGESTER_RESYNCS,
        "Repos queued for a fresh backfill by the firehose, by host and reason."
    );
    describe_counter!(
        INGESTER_KEY_REFRESHES,
        "Fresh DID resolutions after a signature mismatch."
    );
    describe_counter!(
        INGESTER_FILTERED_OPS,
        "Record ops of collections no plugin claims."
    );
    describe_counter!(
        INGESTER_BAD_RECORDS,
        "Record ops whose record is not valid DAG-CBOR."
    );
    describe_counter!(INGESTER_ENTRIES, "Stream entries added, by stream.");
    describe_gauge!(INGESTER_CURSOR, "Last durable cursor, by source and host.");
    describe_gauge!(INGESTER_CONNECTED, "1 while connected, by source and host.");
    describe_counter!(
        INGESTER_RECONNECTS,
        "Connections lost or refused, by source and host."
    );
    describe_counter!(
        INGESTER_BACKPRESSURE,
        "Seconds waited at a stream's high-water mark."
    );
    describe_histogram!(
        INGESTER_WRITE_SECONDS,
        "Seconds per batch write (XADD pipeline and cursor)."
    );
    describe_counter!(
        INGESTER_WRITE_ERRORS,
        "Batch writes that failed, by source and host."
    );
    describe_counter!(
        INGESTER_LISTED_REPOS,
        "Repos queued from listRepos, by host."
    );
    describe_counter!(
        INGESTER_LIST_ERRORS,
        "listRepos requests that failed, by host."
    );
    describe_counter!(
        INGESTER_LIST_SKIPPED,
        "listRepos pages skipped after every retry failed."
    );
}
