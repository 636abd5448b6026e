//! What the Bluesky indexer plugins (`bsky-feed`, `bsky-graph`, `bsky-actor`, `bsky-labels`)
//! share. Pure Rust with no host dependencies, so it builds for `wasm32-wasip2` and natively.
//!
//! - [`uri`]: AT-URIs, gate URIs.
//! - [`datetime`]: the reference's `normalizeDatetimeAlways`, `least` for `sortAt`.
//! - [`lex`]: strong refs, blobs, rich-text facets.
//! - [`json`]: `JSON.stringify` of record parts as the reference stores them.
//! - [`notify`]: notification rows, the recency window, the thread-mute filter.
//! - [`dedup`]: one row per author and subject, `duplicate_record`, promotion.
//! - [`tables`]: declarations of the core tables several plugins share.
//! - [`op`]: operation helpers.
//! - [`simple`]: one row per record, keyed by its URI.

pub mod datetime;
pub mod dedup;
pub mod json;
pub mod lex;
pub mod notify;
pub mod op;
pub mod simple;
pub mod tables;
pub mod uri;

/// A timestamp value (an ISO string in a `varchar` column of the reference schema).
pub fn timestamp(text: &str) -> sluice_plugin_sdk::types::Value {
    sluice_plugin_sdk::types::Value::Timestamp(text.to_owned())
}
