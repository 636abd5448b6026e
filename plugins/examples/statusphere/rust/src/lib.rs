//! The Statusphere example: `xyz.statusphere.status` records (`{status, createdAt}`, a one-emoji
//! status) become rows of the plugin's own table `plugin_statusphere.status`.
//!
//! Build the component with `cargo build --release --target wasm32-wasip2 -p statusphere-plugin`
//! and try it with `sluice plugin test statusphere_plugin.wasm --ops ops.jsonl`.

use serde::Deserialize;
use sluice_plugin_sdk::prelude::*;

/// The collection this plugin claims.
pub const COLLECTION: &str = "xyz.statusphere.status";

/// `xyz.statusphere.status`, as its lexicon defines it.
#[derive(Debug, Deserialize)]
pub struct Status {
    /// One emoji (one grapheme, at most 32 bytes).
    pub status: String,
    /// When the user set it.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// The plugin.
pub struct Statusphere;

impl Plugin for Statusphere {
    type Record = Status;

    fn describe() -> PluginInfo {
        PluginInfoBuilder::new("statusphere", "0.1.0")
            .collection(COLLECTION)
            .table(
                table("status")
                    .column("uri", ColumnKind::Text)
                    .column("authorDid", ColumnKind::Text)
                    .column("status", ColumnKind::Text)
                    .column("createdAt", ColumnKind::Timestamp)
                    .column("indexedAt", ColumnKind::Timestamp)
                    .primary_key(["uri"])
                    .index(["authorDid"]),
            )
            .build()
    }

    fn project(_ctx: &mut Context<'_>, record: &Version<'_, Status>) -> Result<Vec<RowOp>, Error> {
        let status = &record.value.status;
        if status.is_empty() || status.len() > 32 {
            return Err(Error::invalid(format_args!(
                "status must be 1 to 32 bytes, not {}",
                status.len()
            )));
        }
        if !sluice_plugin_sdk::is_datetime(&record.value.created_at) {
            return Err(Error::invalid(format_args!(
                "createdAt {:?} is not a datetime",
                record.value.created_at
            )));
        }
        Ok(vec![
            upsert("status")
                .key("uri", record.uri.as_str())
                .set("authorDid", record.did())
                .set("status", status.as_str())
                .set(
                    "createdAt",
                    Value::timestamp(record.value.created_at.as_str()),
                )
                .set("indexedAt", Value::timestamp(record.indexed_at()))
                .into(),
        ])
    }
}

register_plugin!(Statusphere);
