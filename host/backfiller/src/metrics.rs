//! Metric names (`sluice_backfiller_<what>_<unit>`); labels are bounded (`outcome`, `reason`,
//! `host` of a PDS) — never a DID.

/// Repos finished, by `outcome` (`done`, `terminal`, `retry`, `dead_letter`).
pub const BACKFILLER_REPOS: &str = "sluice_backfiller_repos_total";
/// Terminal outcomes, by `reason`.
pub const BACKFILLER_TERMINAL: &str = "sluice_backfiller_terminal_total";
/// Records queued.
pub const BACKFILLER_RECORDS: &str = "sluice_backfiller_records_total";
/// Bytes of CAR blocks read.
pub const BACKFILLER_CAR_BYTES: &str = "sluice_backfiller_car_bytes_total";
/// Seconds per repo (histogram).
pub const BACKFILLER_REPO_SECONDS: &str = "sluice_backfiller_repo_seconds";
/// Failed `getRepo` attempts, by `reason`.
pub const BACKFILLER_FETCH_ERRORS: &str = "sluice_backfiller_fetch_errors_total";
/// Repos being backfilled (gauge).
pub const BACKFILLER_IN_FLIGHT: &str = "sluice_backfiller_in_flight";
/// Seconds spent waiting for a host's request budget.
pub const BACKFILLER_RATE_WAIT: &str = "sluice_backfiller_rate_wait_seconds_total";
/// Seconds spent waiting for the output stream to drain below its high-water mark.
pub const BACKFILLER_BACKPRESSURE: &str = "sluice_backfiller_backpressure_wait_seconds_total";

/// Registers the descriptions of every metric.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(BACKFILLER_REPOS, "Repos finished, by outcome.");
    describe_counter!(
        BACKFILLER_TERMINAL,
        "Terminal outcomes (recorded per DID), by reason."
    );
    describe_counter!(BACKFILLER_RECORDS, "Records queued to the backfill stream.");
    describe_counter!(BACKFILLER_CAR_BYTES, "Bytes of CAR blocks read.");
    describe_histogram!(BACKFILLER_REPO_SECONDS, "Seconds per repo backfill.");
    describe_counter!(
        BACKFILLER_FETCH_ERRORS,
        "Failed getRepo attempts, by reason."
    );
    describe_gauge!(BACKFILLER_IN_FLIGHT, "Repos being backfilled.");
    describe_counter!(
        BACKFILLER_RATE_WAIT,
        "Seconds waited for a host's request budget."
    );
    describe_counter!(
        BACKFILLER_BACKPRESSURE,
        "Seconds waited at the output stream's high-water mark."
    );
}
