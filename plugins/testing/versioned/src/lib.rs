//! A test guest built in two versions of the plugin `versioned`, for hot-swap and re-index tests:
//! the default build is 1.0.0, the `v2` feature builds 2.0.0.
//!
//! Records of `test.sluice.versioned` (`{text, createdAt}`) become rows of the plugin's own table
//! `item (uri, did, text, version)`, `version` being the plugin's major version, so a test can tell
//! which version indexed each record. The host counts each repo's items into `tally (did, items)`.
//!
//! Version 1 has a "bug" that version 2 fixes: it indexes records with an empty `text`, which
//! version 2 refuses as invalid. Re-indexing with version 2 leaves such rows in place (a replay
//! only adds and replaces rows); `--truncate` before the re-index removes them.

use serde::Deserialize;
use sluice_plugin_sdk::prelude::*;

/// The collection this plugin claims.
pub const COLLECTION: &str = "test.sluice.versioned";

/// The major version of this build, written into every row.
pub const MAJOR: i64 = if cfg!(feature = "v2") { 2 } else { 1 };

/// The plugin's semantic version.
pub const VERSION: &str = if cfg!(feature = "v2") {
    "2.0.0"
} else {
    "1.0.0"
};

/// A `test.sluice.versioned` record.
#[derive(Debug, Deserialize)]
pub struct Item {
    /// Any text; empty is refused from version 2 on.
    pub text: String,
}

/// The plugin.
pub struct Versioned;

impl Plugin for Versioned {
    type Record = Item;

    fn describe() -> PluginInfo {
        PluginInfoBuilder::new("versioned", VERSION)
            .collection(COLLECTION)
            .table(
                table("item")
                    .column("uri", ColumnKind::Text)
                    .column("did", ColumnKind::Text)
                    .column("text", ColumnKind::Text)
                    .column("version", ColumnKind::Integer)
                    .primary_key(["uri"])
                    .index(["did"]),
            )
            .table(
                table("tally")
                    .column("did", ColumnKind::Text)
                    .defaulted("items", ColumnKind::Integer, 0)
                    .primary_key(["did"]),
            )
            .aggregate(sluice_plugin_sdk::types::Aggregate {
                source: "item".into(),
                group_by: "did".into(),
                filter: Vec::new(),
                target: "tally".into(),
                target_key: "did".into(),
                target_column: "items".into(),
            })
            .build()
    }

    fn project(_ctx: &mut Context<'_>, record: &Version<'_, Item>) -> Result<Vec<RowOp>, Error> {
        if cfg!(feature = "v2") && record.value.text.is_empty() {
            return Err(Error::invalid("text must not be empty"));
        }
        Ok(vec![
            upsert("item")
                .key("uri", record.uri.as_str())
                .set("did", record.did())
                .set("text", record.value.text.as_str())
                .set("version", MAJOR)
                .into(),
        ])
    }
}

register_plugin!(Versioned);
