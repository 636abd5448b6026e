//! The Bluesky feed plugin (`bsky_feed`): `app.bsky.feed.post`, `like`, `repost`, `generator`,
//! `threadgate` and `postgate` into the reference AppView's tables, with the reference's
//! duplicate handling, ownership checks, embeds and quotes, reply roots, gate evaluation and
//! notifications, and its counts declared as aggregates. See `plugins/README.md` (Bluesky) for
//! what each collection writes and how results stay independent of arrival order.
//!
//! Build the component with `cargo build --release --target wasm32-wasip2 -p sluice-bsky-feed`.

pub mod gates;
pub mod generator;
pub mod interactions;
pub mod post;
pub mod records;
pub mod tables;

use sluice_bsky_common::dedup;
use sluice_plugin_sdk::prelude::*;
use sluice_plugin_sdk::types::RecordOp;

/// `app.bsky.feed.like`.
pub const LIKE: &str = "app.bsky.feed.like";
/// `app.bsky.feed.repost`.
pub const REPOST: &str = "app.bsky.feed.repost";
/// `app.bsky.feed.generator`.
pub const GENERATOR: &str = "app.bsky.feed.generator";

/// Every collection the plugin claims.
pub const COLLECTIONS: [&str; 6] = [
    sluice_bsky_common::uri::POST,
    LIKE,
    REPOST,
    GENERATOR,
    sluice_bsky_common::uri::THREADGATE,
    sluice_bsky_common::uri::POSTGATE,
];

/// The plugin.
#[derive(Debug)]
pub struct BskyFeed;

impl Plugin for BskyFeed {
    /// Unused: every collection is decoded into its own type by [`Plugin::index_record`].
    type Record = serde::de::IgnoredAny;

    fn describe() -> PluginInfo {
        tables::describe()
    }

    fn project(
        _ctx: &mut Context<'_>,
        _record: &Version<'_, serde::de::IgnoredAny>,
    ) -> Result<Vec<RowOp>, Error> {
        Err(Error::Internal(
            "bsky_feed indexes through index_record, not project".to_owned(),
        ))
    }

    fn index_record(ctx: &mut Context<'_>, op: &RecordOp) -> Result<Vec<RowOp>, Error> {
        match op.collection.as_str() {
            post::COLLECTION => post::index(ctx, op),
            LIKE => dedup::index::<interactions::Like>(ctx, op),
            REPOST => dedup::index::<interactions::Repost>(ctx, op),
            GENERATOR => generator::index(op),
            sluice_bsky_common::uri::THREADGATE => gates::index_gate(gates::GateKind::Thread, op),
            sluice_bsky_common::uri::POSTGATE => gates::index_gate(gates::GateKind::Post, op),
            other => Err(Error::Unsupported(format!(
                "bsky_feed does not index {other}"
            ))),
        }
    }
}

register_plugin!(BskyFeed);
