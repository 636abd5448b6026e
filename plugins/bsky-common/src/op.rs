//! What a projection needs to know about the operation it runs for.

use sluice_plugin_sdk::types::{Action, RecordOp, RowOp, Source, Value};

use crate::dedup::Entry;
use crate::uri::record_uri;

/// An operation with its record's URI.
#[derive(Debug)]
pub struct OpInfo<'a> {
    /// The operation.
    pub op: &'a RecordOp,
    /// `at://did/collection/rkey`.
    pub uri: String,
}

impl<'a> OpInfo<'a> {
    /// Wraps an operation.
    pub fn new(op: &'a RecordOp) -> Self {
        Self {
            op,
            uri: record_uri(&op.did, &op.collection, &op.rkey),
        }
    }

    /// Whether the record's content changed (an update, or a create over a different stored
    /// version): the reference then deletes what the old version indexed and indexes the new
    /// one, with the side effects of its delete path.
    pub fn content_changed(&self) -> bool {
        match self.op.action {
            Action::Update => true,
            Action::Delete => false,
            Action::Create => match (&self.op.previous, &self.op.record) {
                (Some(previous), Some(record)) => previous.cid != record.cid,
                _ => false,
            },
        }
    }

    /// Whether no version of the record was indexed before (no `previous`, not a replay): none
    /// of its own rows exist, so there is nothing of it to delete first. Deletes that could
    /// only match those rows are left out: on a backfill they would all match nothing.
    pub fn is_first_version(&self) -> bool {
        self.op.previous.is_none() && self.op.source != Source::Replay
    }

    /// Whether lookup-dependent rows (notifications) are recomputed from scratch: on a replay
    /// (what the record waited for arrived) and when the content changed.
    pub fn purges_notifications(&self) -> bool {
        self.op.source == Source::Replay || self.content_changed()
    }

    /// The `indexedAt` of the operation.
    pub fn indexed_at(&self) -> &'a str {
        &self.op.indexed_at
    }

    /// An entry of this operation's record.
    pub fn entry<'b, R>(&'b self, cid: &'b str, record: &'b R) -> Entry<'b, R> {
        Entry {
            uri: &self.uri,
            cid,
            did: &self.op.did,
            rkey: &self.op.rkey,
            indexed_at: &self.op.indexed_at,
            record,
        }
    }
}

/// Fails with `invalid-record` when a row would hold text Postgres refuses (a NUL character):
/// the reference's insert fails on such a record and indexes nothing.
pub fn refuse_nul(ops: Vec<RowOp>) -> Result<Vec<RowOp>, sluice_plugin_sdk::Error> {
    let bad = |value: &Value| match value {
        Value::Text(text) | Value::Timestamp(text) => text.contains('\0'),
        // jsonb refuses the escape `\u0000` in strings.
        Value::Json(text) => {
            serde_json::from_str::<serde_json::Value>(text).map_or(true, |json| json_has_nul(&json))
        }
        Value::TextList(list) => list.iter().any(|text| text.contains('\0')),
        _ => false,
    };
    for op in &ops {
        if let RowOp::Upsert(upsert) = op
            && let Some(assignment) = upsert.assignments.iter().find(|a| bad(&a.value))
        {
            return Err(sluice_plugin_sdk::Error::invalid(format_args!(
                "{}.{} would hold a NUL character",
                upsert.table, assignment.column
            )));
        }
    }
    Ok(ops)
}

fn json_has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(key, item)| key.contains('\0') || json_has_nul(item)),
        _ => false,
    }
}
