//! The trait a plugin implements.

use crate::context::Context;
use crate::derive::derive_changes;
use crate::error::Error;
use crate::record::{Version, decode, op_uri};
use crate::types::{Action, NetworkEvent, PluginInfo, RecordOp, RowOp, StoredRecord};

/// An indexer plugin. Implement [`Plugin::describe`] and [`Plugin::project`]; the defaults do
/// the rest.
pub trait Plugin {
    /// The record type of the claimed collections, decoded with serde (for several
    /// collections, an enum tagged by `$type`).
    type Record: serde::de::DeserializeOwned;

    /// The declaration: name, version, collections, tables.
    fn describe() -> PluginInfo;

    /// The rows one version of a record produces. Must be pure: the same record and answers
    /// give the same rows (the SDK runs it on the previous version to know what to undo).
    fn project(
        ctx: &mut Context<'_>,
        record: &Version<'_, Self::Record>,
    ) -> Result<Vec<RowOp>, Error>;

    /// Indexes one record operation. The default projects the new version (create, update) and
    /// the previous one (update, delete, or a create over a stored record) and returns what
    /// changes between them ([`derive_changes`]).
    fn index_record(ctx: &mut Context<'_>, op: &RecordOp) -> Result<Vec<RowOp>, Error> {
        let uri = op_uri(op);
        let new = match (&op.action, &op.record) {
            (Action::Delete, _) | (_, None) => Vec::new(),
            (_, Some(record)) => {
                Self::project(ctx, &version::<Self::Record>(op, &uri, record, false)?)?
            }
        };
        let old = match &op.previous {
            None => Vec::new(),
            Some(previous) => match version::<Self::Record>(op, &uri, previous, true) {
                // A previous version that does not decode or project produced nothing.
                Err(_) => Vec::new(),
                Ok(previous) => match Self::project(ctx, &previous) {
                    Err(Error::Pending) => return Err(Error::Pending),
                    Err(_) => Vec::new(),
                    Ok(rows) => rows,
                },
            },
        };
        Ok(derive_changes(old, new))
    }

    /// Indexes one network event (for plugins that subscribe to events). The default says
    /// `unsupported`.
    fn index_event(_ctx: &mut Context<'_>, _event: &NetworkEvent) -> Result<Vec<RowOp>, Error> {
        Err(Error::Unsupported(
            "this plugin does not index network events".to_owned(),
        ))
    }
}

fn version<'a, T: serde::de::DeserializeOwned>(
    op: &'a RecordOp,
    uri: &str,
    stored: &'a StoredRecord,
    previous: bool,
) -> Result<Version<'a, T>, Error> {
    Ok(Version {
        op,
        uri: uri.to_owned(),
        cid: &stored.cid,
        previous,
        value: decode(&stored.body)?,
    })
}
