//! Collections whose record maps to exactly one row keyed by its URI, with nothing depending
//! on other records (feed generators, lists, starter packs, labelers, profiles).

use serde::de::DeserializeOwned;
use sluice_plugin_sdk::types::{Action, RecordOp, RowOp};
use sluice_plugin_sdk::{Error, decode, delete};

use crate::op::{OpInfo, refuse_nul};

/// Indexes one operation: a delete removes the `table` row of the record's URI; a create or
/// update writes what `row` makes of the record (`None`: no row, e.g. a profile whose key is
/// not `self`, which then also removes a row an earlier version had).
pub fn index<R: DeserializeOwned>(
    op: &RecordOp,
    table: &str,
    row: impl FnOnce(&OpInfo<'_>, &str, &R) -> Result<Option<RowOp>, Error>,
) -> Result<Vec<RowOp>, Error> {
    let info = OpInfo::new(op);
    let removal: RowOp = delete(table).matching("uri", info.uri.as_str()).into();
    let stored = match (&op.action, &op.record) {
        (Action::Delete, _) | (_, None) => return Ok(vec![removal]),
        (_, Some(stored)) => stored,
    };
    let record: R = decode(&stored.body)?;
    match row(&info, &stored.cid, &record)? {
        Some(row) => refuse_nul(vec![row]),
        None => Ok(vec![removal]),
    }
}
