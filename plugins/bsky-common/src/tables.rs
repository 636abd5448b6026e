//! Declarations of the core tables several Bluesky plugins write or read, exactly as
//! `migrations/` creates them (timestamps are ISO strings in `varchar` columns: kind
//! `timestamp`; generated `sortAt` columns are not declared, nobody writes them).

use sluice_plugin_sdk::types::{ColumnKind, Value};
use sluice_plugin_sdk::{TableBuilder, table};

/// `notification`. Its primary key in the database is a serial `id` that plugins never write;
/// plugins identify a notification by (`recordUri`, `did`, `reason`): one record notifies one
/// account at most once per reason. Upserts on that key need the unique index
/// `sluice_notification_record_did_reason` (see `plugins/README.md`, Bluesky section).
pub fn notification() -> TableBuilder {
    table("notification")
        .core()
        .column("did", ColumnKind::Text)
        .column("recordUri", ColumnKind::Text)
        .column("recordCid", ColumnKind::Text)
        .column("author", ColumnKind::Text)
        .column("reason", ColumnKind::Text)
        .nullable("reasonSubject", ColumnKind::Text)
        .column("sortAt", ColumnKind::Timestamp)
        .primary_key(["recordUri", "did", "reason"])
        .index(["recordUri"])
        .index(["did"])
}

/// `duplicate_record`: a record whose subject a record of the same author already took.
pub fn duplicate_record() -> TableBuilder {
    table("duplicate_record")
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("duplicateOf", ColumnKind::Text)
        .column("indexedAt", ColumnKind::Timestamp)
        .primary_key(["uri"])
        .index(["duplicateOf"])
}

/// `post_agg`: per-post counts (kept by the host from declared aggregates).
pub fn post_agg() -> TableBuilder {
    table("post_agg")
        .core()
        .column("uri", ColumnKind::Text)
        .defaulted("likeCount", ColumnKind::Integer, Value::Integer(0))
        .defaulted("replyCount", ColumnKind::Integer, Value::Integer(0))
        .defaulted("repostCount", ColumnKind::Integer, Value::Integer(0))
        .defaulted("quoteCount", ColumnKind::Integer, Value::Integer(0))
        .defaulted("bookmarkCount", ColumnKind::Integer, Value::Integer(0))
        .primary_key(["uri"])
}

/// `profile_agg`: per-account counts (kept by the host from declared aggregates).
pub fn profile_agg() -> TableBuilder {
    table("profile_agg")
        .core()
        .column("did", ColumnKind::Text)
        .defaulted("followersCount", ColumnKind::Integer, Value::Integer(0))
        .defaulted("followsCount", ColumnKind::Integer, Value::Integer(0))
        .defaulted("postsCount", ColumnKind::Integer, Value::Integer(0))
        .primary_key(["did"])
}

/// `thread_mute` (written through the API; read to drop notifications about muted threads).
/// The `rootUri` index is the leading column of the table's primary key.
pub fn thread_mute() -> TableBuilder {
    table("thread_mute")
        .core()
        .column("rootUri", ColumnKind::Text)
        .column("mutedByDid", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .primary_key(["rootUri", "mutedByDid"])
        .index(["rootUri"])
}

/// The host's `record` table, read (never written) through row lookups to tell a deleted
/// record (a tombstone row) from one never seen. Named in `reads`.
pub const RECORD: &str = "record";
