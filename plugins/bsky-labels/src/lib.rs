//! The Bluesky labels plugin (`bsky_labels`): labels from labelers (the host's `label_live`
//! stream, signatures checked) into the reference AppView's `label` table, one row per
//! (`src`, `uri`, `cid`, `val`), `cid` `''` for a label about a whole account or record.
//!
//! The newest label wins: a label is written only when no row of its key has a `cts` as new or
//! newer (the reference's `ON CONFLICT … WHERE label.cts < excluded.cts`), so labels delivered
//! out of order end as if delivered in order. A negation is a label like any other: it replaces
//! the row with `neg = true` (the dataplane and API ignore negated labels), which keeps its
//! `cts`, so that an older label arriving later cannot bring the negated one back. `exp` is
//! kept as given.
//!
//! Build the component with `cargo build --release --target wasm32-wasip2 -p sluice-bsky-labels`.

use sluice_plugin_sdk::is_datetime;
use sluice_plugin_sdk::prelude::*;
use sluice_plugin_sdk::types::{Cell, Label};

/// The plugin's name.
pub const NAME: &str = "bsky_labels";

/// The plugin.
#[derive(Debug)]
pub struct BskyLabels;

impl Plugin for BskyLabels {
    /// Unused: the plugin claims no collection.
    type Record = serde::de::IgnoredAny;

    fn describe() -> PluginInfo {
        PluginInfoBuilder::new(NAME, env!("CARGO_PKG_VERSION"))
            .events(EventKinds::LABEL)
            .table(
                table("label")
                    .core()
                    .column("src", ColumnKind::Text)
                    .column("uri", ColumnKind::Text)
                    .column("cid", ColumnKind::Text)
                    .column("val", ColumnKind::Text)
                    .column("neg", ColumnKind::Boolean)
                    .column("cts", ColumnKind::Timestamp)
                    .nullable("exp", ColumnKind::Timestamp)
                    .primary_key(["src", "uri", "cid", "val"])
                    .index(["uri"]),
            )
            .build()
    }

    fn project(
        _ctx: &mut Context<'_>,
        _record: &Version<'_, serde::de::IgnoredAny>,
    ) -> Result<Vec<RowOp>, Error> {
        Err(Error::Unsupported(
            "bsky_labels indexes no records".to_owned(),
        ))
    }

    fn index_event(ctx: &mut Context<'_>, event: &NetworkEvent) -> Result<Vec<RowOp>, Error> {
        match event {
            NetworkEvent::Label(label) => index_label(ctx, label),
            _ => Err(Error::Unsupported(
                "bsky_labels indexes labels only".to_owned(),
            )),
        }
    }
}

/// Writes a label unless a label of the same key with a `cts` as new or newer is stored.
pub fn index_label(ctx: &mut Context<'_>, label: &Label) -> Result<Vec<RowOp>, Error> {
    if !is_datetime(&label.cts) {
        return Err(Error::invalid(format_args!(
            "cts {:?} is not a datetime",
            label.cts
        )));
    }
    if let Some(exp) = &label.exp
        && !is_datetime(exp)
    {
        return Err(Error::invalid(format_args!(
            "exp {exp:?} is not a datetime"
        )));
    }
    let cid = label.cid.clone().unwrap_or_default();
    let key = [
        ("src", label.src.as_str()),
        ("uri", label.uri.as_str()),
        ("cid", cid.as_str()),
        ("val", label.val.as_str()),
    ];
    let stored = ctx.rows(RowQuery {
        table: "label".into(),
        matching: key
            .iter()
            .map(|(column, value)| Cell {
                column: (*column).into(),
                value: (*value).into(),
            })
            .collect(),
        columns: vec!["cts".into()],
        limit: 1,
    })?;
    let newer_stored = stored.iter().any(|row| match row.first() {
        Some(Value::Text(cts) | Value::Timestamp(cts)) => cts.as_str() >= label.cts.as_str(),
        _ => false,
    });
    if newer_stored {
        return Ok(Vec::new());
    }
    let mut upsert = upsert("label");
    for (column, value) in key {
        upsert = upsert.key(column, value);
    }
    Ok(vec![
        upsert
            .set("neg", label.neg)
            .set("cts", Value::Timestamp(label.cts.clone()))
            .set("exp", label.exp.clone().map(Value::Timestamp))
            .into(),
    ])
}

register_plugin!(BskyLabels);
