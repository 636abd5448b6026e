//! The Bluesky graph plugin (`bsky_graph`): `app.bsky.graph.follow`, `block`, `list`,
//! `listitem`, `listblock`, `starterpack`, `verification` and `referencelistoptout` into the
//! reference AppView's tables, with its duplicate handling (one row per author and subject),
//! its ownership check of list items, follow and verification notifications, and follower
//! counts declared as aggregates. See `plugins/README.md` (Bluesky).
//!
//! Build the component with `cargo build --release --target wasm32-wasip2 -p sluice-bsky-graph`.

pub mod lists;
pub mod records;
pub mod relations;
pub mod tables;

use sluice_bsky_common::dedup;
use sluice_plugin_sdk::prelude::*;
use sluice_plugin_sdk::types::RecordOp;

/// `app.bsky.graph.follow`.
pub const FOLLOW: &str = "app.bsky.graph.follow";
/// `app.bsky.graph.block`.
pub const BLOCK: &str = "app.bsky.graph.block";
/// `app.bsky.graph.list`.
pub const LIST: &str = "app.bsky.graph.list";
/// `app.bsky.graph.listitem`.
pub const LIST_ITEM: &str = "app.bsky.graph.listitem";
/// `app.bsky.graph.listblock`.
pub const LIST_BLOCK: &str = "app.bsky.graph.listblock";
/// `app.bsky.graph.starterpack`.
pub const STARTER_PACK: &str = "app.bsky.graph.starterpack";
/// `app.bsky.graph.verification`.
pub const VERIFICATION: &str = "app.bsky.graph.verification";
/// `app.bsky.graph.referencelistoptout`.
pub const REFERENCE_LIST_OPT_OUT: &str = "app.bsky.graph.referencelistoptout";

/// Every collection the plugin claims.
pub const COLLECTIONS: [&str; 8] = [
    FOLLOW,
    BLOCK,
    LIST,
    LIST_ITEM,
    LIST_BLOCK,
    STARTER_PACK,
    VERIFICATION,
    REFERENCE_LIST_OPT_OUT,
];

/// The plugin.
#[derive(Debug)]
pub struct BskyGraph;

impl Plugin for BskyGraph {
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
            "bsky_graph indexes through index_record, not project".to_owned(),
        ))
    }

    fn index_record(ctx: &mut Context<'_>, op: &RecordOp) -> Result<Vec<RowOp>, Error> {
        match op.collection.as_str() {
            FOLLOW => dedup::index::<relations::Follow>(ctx, op),
            BLOCK => dedup::index::<relations::Block>(ctx, op),
            LIST => lists::index_list(op),
            LIST_ITEM => dedup::index::<relations::ListItemRelation>(ctx, op),
            LIST_BLOCK => dedup::index::<relations::ListBlock>(ctx, op),
            STARTER_PACK => lists::index_starter_pack(op),
            VERIFICATION => dedup::index::<relations::VerificationRelation>(ctx, op),
            REFERENCE_LIST_OPT_OUT => dedup::index::<relations::ReferenceListOptOut>(ctx, op),
            other => Err(Error::Unsupported(format!(
                "bsky_graph does not index {other}"
            ))),
        }
    }
}

register_plugin!(BskyGraph);
