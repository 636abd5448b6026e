//! Identity and account events → `actor`.
//!
//! - `#identity` (and the host's first sight of a repo): the account's row with its handle
//!   (verified by the host, lowercased; null when it does not verify). A handle another account
//!   held is taken from it, as the reference does on contention.
//! - `#account`: `upstreamStatus` of an existing row: null when active, else `deactivated`,
//!   `suspended` or `takendown`. `deleted` removes the account's row and the notifications
//!   addressed to it (the host removes its records by replaying their deletes). Other statuses
//!   are refused, as the reference refuses them.

use sluice_bsky_common::timestamp;
use sluice_plugin_sdk::types::{AccountEvent, Cell, IdentityEvent, RowOp, RowQuery, Value};
use sluice_plugin_sdk::{Context, Error, delete, upsert};

/// Indexes an identity event. `now` is the time written to `actor.indexedAt`.
pub fn identity(
    ctx: &mut Context<'_>,
    event: &IdentityEvent,
    now: &str,
) -> Result<Vec<RowOp>, Error> {
    let handle = event.handle.as_ref().map(|handle| handle.to_lowercase());
    let mut ops = Vec::new();
    if let Some(handle) = &handle {
        let holders = ctx.rows(RowQuery {
            table: "actor".into(),
            matching: vec![cell("handle", handle)],
            columns: vec!["did".into(), "indexedAt".into()],
            limit: 10,
        })?;
        for holder in holders {
            let mut values = holder.into_iter();
            if let (
                Some(Value::Text(did)),
                Some(Value::Text(indexed_at) | Value::Timestamp(indexed_at)),
            ) = (values.next(), values.next())
                && did != event.did
            {
                ops.push(
                    upsert("actor")
                        .key("did", did)
                        .set("handle", Value::Null)
                        .keep_existing("indexedAt", timestamp(&indexed_at))
                        .into(),
                );
            }
        }
    }
    ops.push(
        upsert("actor")
            .key("did", event.did.as_str())
            .set("handle", handle)
            .set("indexedAt", timestamp(now))
            .into(),
    );
    Ok(ops)
}

/// Indexes an account event.
pub fn account(ctx: &mut Context<'_>, event: &AccountEvent) -> Result<Vec<RowOp>, Error> {
    let status = event.status.as_deref().unwrap_or_default();
    if !event.active && status == "deleted" {
        return Ok(vec![
            delete("actor").matching("did", event.did.as_str()).into(),
            delete("notification")
                .matching("did", event.did.as_str())
                .into(),
        ]);
    }
    let upstream = if event.active {
        None
    } else if matches!(status, "deactivated" | "suspended" | "takendown") {
        Some(status.to_owned())
    } else {
        return Err(Error::Unsupported(format!(
            "unrecognized account status {status:?}"
        )));
    };
    // The reference updates an existing row only.
    let rows = ctx.rows(RowQuery {
        table: "actor".into(),
        matching: vec![cell("did", &event.did)],
        columns: vec!["indexedAt".into()],
        limit: 1,
    })?;
    let Some(Value::Text(indexed_at) | Value::Timestamp(indexed_at)) = rows
        .into_iter()
        .next()
        .and_then(|row| row.into_iter().next())
    else {
        return Ok(Vec::new());
    };
    Ok(vec![
        upsert("actor")
            .key("did", event.did.as_str())
            .set("upstreamStatus", upstream)
            .keep_existing("indexedAt", timestamp(&indexed_at))
            .into(),
    ])
}

fn cell(column: &str, value: &str) -> Cell {
    Cell {
        column: column.into(),
        value: value.into(),
    }
}
