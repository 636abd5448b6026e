//! Collections the reference keeps one row per author and subject for (likes, reposts, follows,
//! blocks, list items, list blocks, verifications, reference-list opt-outs): the first record
//! holds the row, later ones are `duplicate_record` rows pointing at it, and when the holder is
//! deleted the oldest duplicate takes its place.
//!
//! "First" means first in commit order, whatever order records arrive in: of two records of
//! the same author and subject, the one with the smaller record key (a TID, so the older one)
//! holds the row. A holder that arrives after a younger duplicate takes the row over; the
//! younger one and its own duplicates then point at it.

use serde::de::DeserializeOwned;
use sluice_plugin_sdk::types::{Action, Cell, RecordOp, RowOp, RowQuery, Value};
use sluice_plugin_sdk::{Context, Error, decode, delete, upsert};

use crate::notify::{Notification, delete_for_record, notifies};
use crate::op::OpInfo;

/// The most duplicates of one holder looked at when it is deleted.
const DUPLICATES_LIMIT: u32 = 1000;

/// A record of a deduplicated collection, with where it comes from.
#[derive(Debug)]
pub struct Entry<'a, R> {
    /// Its AT-URI.
    pub uri: &'a str,
    /// Its CID.
    pub cid: &'a str,
    /// Its author.
    pub did: &'a str,
    /// Its record key.
    pub rkey: &'a str,
    /// Its `indexedAt`.
    pub indexed_at: &'a str,
    /// The record.
    pub record: &'a R,
}

/// What a deduplicated collection must say about itself.
pub trait Deduplicated {
    /// The record, decoded.
    type Record: DeserializeOwned;
    /// The table holding one row per author and subject.
    const TABLE: &'static str;
    /// Whether the oldest duplicate takes the row when the holder is deleted (the reference's
    /// `promoteDuplicateOnDelete`).
    const PROMOTE: bool = true;
    /// Whether deleting the record deletes the notifications it sent (the reference keeps a
    /// verification's when it is withdrawn, and adds one saying so).
    const DELETE_NOTIFICATIONS: bool = true;

    /// Checks the record before anything is written: `Err` for an invalid record (nothing is
    /// indexed), `Ok(false)` for a record the reference stores but indexes no row for.
    fn check(did: &str, record: &Self::Record) -> Result<bool, Error> {
        let _ = (did, record);
        Ok(true)
    }

    /// The columns and values of the table's unique key for this record (e.g. `subject` and
    /// `creator`).
    fn natural_key(did: &str, record: &Self::Record) -> Vec<Cell>;

    /// The upsert of the table row of a record holding the key.
    fn row(entry: &Entry<'_, Self::Record>) -> RowOp;

    /// Rows every record writes, holding the key or not (a repost's feed item).
    fn companion_rows(entry: &Entry<'_, Self::Record>) -> Vec<RowOp> {
        let _ = entry;
        Vec::new()
    }

    /// Deletes of the companion rows of the record `uri`.
    fn delete_companions(uri: &str) -> Vec<RowOp> {
        let _ = uri;
        Vec::new()
    }

    /// The record's `createdAt`, normalised (for the notification window).
    fn created_at(record: &Self::Record) -> String;

    /// The notifications the holder sends (lookups allowed: at most two levels).
    fn notifications(
        ctx: &mut Context<'_>,
        entry: &Entry<'_, Self::Record>,
    ) -> Result<Vec<Notification>, Error> {
        let _ = (ctx, entry);
        Ok(Vec::new())
    }

    /// The notifications sent when the holder is deleted (a withdrawn verification).
    fn notifications_on_delete(
        entry: &Entry<'_, Self::Record>,
        deleted_at: &str,
    ) -> Vec<Notification> {
        let _ = (entry, deleted_at);
        Vec::new()
    }
}

/// A row of the table or of `duplicate_record`: uri, cid, indexedAt.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    uri: String,
    cid: String,
    indexed_at: String,
}

/// Indexes one operation of a deduplicated collection.
pub fn index<D: Deduplicated>(ctx: &mut Context<'_>, op: &RecordOp) -> Result<Vec<RowOp>, Error> {
    let info = OpInfo::new(op);
    let new = match (&op.action, &op.record) {
        (Action::Delete, _) | (_, None) => None,
        (_, Some(stored)) => Some((stored.cid.as_str(), decode::<D::Record>(&stored.body)?)),
    };
    let previous = op.previous.as_ref().and_then(|stored| {
        decode::<D::Record>(&stored.body)
            .ok()
            .map(|r| (stored.cid.as_str(), r))
    });
    match new {
        Some((cid, record)) => {
            if !D::check(&op.did, &record)? {
                let mut ops = if info.is_first_version() {
                    Vec::new()
                } else {
                    own_deletes::<D>(&info.uri)
                };
                ops.extend(D::companion_rows(&info.entry(cid, &record)));
                return Ok(ops);
            }
            index_live::<D>(ctx, &info, &info.entry(cid, &record))
        }
        None => index_deleted::<D>(
            ctx,
            &info,
            previous.as_ref().map(|(cid, r)| info.entry(cid, r)),
        ),
    }
}

/// A record that exists: it holds the row, or is a duplicate, or takes the row over.
fn index_live<D: Deduplicated>(
    ctx: &mut Context<'_>,
    info: &OpInfo<'_>,
    me: &Entry<'_, D::Record>,
) -> Result<Vec<RowOp>, Error> {
    let holder = holder_of::<D>(ctx, me.did, me.record);
    let notes = if notifies(&D::created_at(me.record), me.indexed_at) {
        D::notifications(ctx, me)
    } else {
        Ok(Vec::new())
    };
    let holder = holder?;
    // A record indexed for the first time owns no rows yet: the deletes of its own rows that
    // make a re-run or an update come out right are left out.
    let first_version = info.is_first_version();
    let mut ops = D::companion_rows(me);
    match holder {
        Some(holder) if holder.uri != me.uri && earlier(&holder.uri, me.uri) => {
            // A younger-than-the-holder duplicate.
            if !first_version {
                ops.push(delete(D::TABLE).matching("uri", me.uri).into());
                ops.push(delete_for_record(me.uri));
            }
            ops.push(duplicate_row(me.uri, me.cid, &holder.uri, me.indexed_at));
            return Ok(ops);
        }
        Some(holder) if holder.uri != me.uri => {
            // The holder is younger: take the row over, and make it and its duplicates point
            // here.
            let repoint = duplicates_of(ctx, &holder.uri);
            let (notes, repoint) = (notes?, repoint?);
            ops.push(delete(D::TABLE).matching("uri", holder.uri.as_str()).into());
            ops.push(delete_for_record(&holder.uri));
            ops.push(duplicate_row(
                &holder.uri,
                &holder.cid,
                me.uri,
                &holder.indexed_at,
            ));
            for other in repoint.iter().filter(|other| other.uri != me.uri) {
                ops.push(duplicate_row(
                    &other.uri,
                    &other.cid,
                    me.uri,
                    &other.indexed_at,
                ));
            }
            if !first_version {
                ops.push(delete("duplicate_record").matching("uri", me.uri).into());
            }
            ops.push(D::row(me));
            ops.extend(notes.iter().map(Notification::upsert));
        }
        _ => {
            let notes = notes?;
            if !first_version {
                ops.push(delete("duplicate_record").matching("uri", me.uri).into());
            }
            ops.push(D::row(me));
            ops.extend(notes.iter().map(Notification::upsert));
        }
    }
    if info.purges_notifications() {
        // Put first: a replay or update recomputes this record's notifications.
        ops.insert(0, delete_for_record(me.uri));
    }
    Ok(ops)
}

/// A deleted record: its rows go; when it held the row, the oldest duplicate takes it.
fn index_deleted<D: Deduplicated>(
    ctx: &mut Context<'_>,
    info: &OpInfo<'_>,
    previous: Option<Entry<'_, D::Record>>,
) -> Result<Vec<RowOp>, Error> {
    let uri = info.uri.as_str();
    // Asked together: was it the holder, who duplicates it, and (speculatively, for the
    // promoted duplicate, which has the same subject) the notification lookups.
    let holder = previous
        .as_ref()
        .map(|previous| holder_of::<D>(ctx, previous.did, previous.record));
    let duplicates = if D::PROMOTE {
        duplicates_of(ctx, uri)
    } else {
        Ok(Vec::new())
    };
    if let Some(previous) = &previous {
        let _ = D::notifications(ctx, previous);
    }
    let was_holder = match holder {
        Some(holder) => holder?.is_some_and(|holder| holder.uri == uri),
        None => false,
    };
    let duplicates = duplicates?;

    let mut ops = own_deletes::<D>(uri);
    if !D::DELETE_NOTIFICATIONS {
        ops.retain(|op| !matches!(op, RowOp::Delete(d) if d.table == "notification"));
    }
    ops.extend(D::delete_companions(uri));
    if was_holder && let Some(previous) = &previous {
        ops.extend(
            D::notifications_on_delete(previous, info.op.indexed_at.as_str())
                .iter()
                .map(Notification::upsert),
        );
    }
    let Some(promoted) = duplicates
        .iter()
        .min_by(|a, b| precedence(&a.uri).cmp(&precedence(&b.uri)))
    else {
        return Ok(ops);
    };
    let Some(stored) = ctx.record(&promoted.uri)? else {
        return Ok(ops);
    };
    let Ok(record) = decode::<D::Record>(&stored.body) else {
        return Ok(ops);
    };
    let Some(parsed) = crate::uri::AtUri::parse(&promoted.uri) else {
        return Ok(ops);
    };
    let entry = Entry {
        uri: &promoted.uri,
        cid: &stored.cid,
        did: parsed.authority,
        rkey: parsed.rkey,
        indexed_at: &promoted.indexed_at,
        record: &record,
    };
    let notes = if notifies(&D::created_at(&record), &promoted.indexed_at) {
        D::notifications(ctx, &entry)?
    } else {
        Vec::new()
    };
    ops.push(
        delete("duplicate_record")
            .matching("uri", promoted.uri.as_str())
            .into(),
    );
    for other in duplicates.iter().filter(|other| other.uri != promoted.uri) {
        ops.push(duplicate_row(
            &other.uri,
            &other.cid,
            &promoted.uri,
            &other.indexed_at,
        ));
    }
    ops.push(D::row(&entry));
    ops.extend(notes.iter().map(Notification::upsert));
    Ok(ops)
}

/// Deletes of every row a record of `D` can own.
fn own_deletes<D: Deduplicated>(uri: &str) -> Vec<RowOp> {
    vec![
        delete(D::TABLE).matching("uri", uri).into(),
        delete("duplicate_record").matching("uri", uri).into(),
        delete_for_record(uri),
    ]
}

/// The row holding this record's key, if any.
fn holder_of<D: Deduplicated>(
    ctx: &mut Context<'_>,
    did: &str,
    record: &D::Record,
) -> Result<Option<Stored>, Error> {
    let rows = ctx.rows(RowQuery {
        table: D::TABLE.to_owned(),
        matching: D::natural_key(did, record),
        columns: vec!["uri".into(), "cid".into(), "indexedAt".into()],
        limit: 1,
    })?;
    Ok(rows.into_iter().find_map(stored))
}

/// The `duplicate_record` rows pointing at `uri`.
fn duplicates_of(ctx: &mut Context<'_>, uri: &str) -> Result<Vec<Stored>, Error> {
    let rows = ctx.rows(RowQuery {
        table: "duplicate_record".to_owned(),
        matching: vec![Cell {
            column: "duplicateOf".into(),
            value: uri.into(),
        }],
        columns: vec!["uri".into(), "cid".into(), "indexedAt".into()],
        limit: DUPLICATES_LIMIT,
    })?;
    Ok(rows.into_iter().filter_map(stored).collect())
}

fn stored(row: Vec<Value>) -> Option<Stored> {
    let mut values = row.into_iter().map(|value| match value {
        Value::Text(text) | Value::Timestamp(text) => Some(text),
        _ => None,
    });
    Some(Stored {
        uri: values.next()??,
        cid: values.next()??,
        indexed_at: values.next()??,
    })
}

fn duplicate_row(uri: &str, cid: &str, duplicate_of: &str, indexed_at: &str) -> RowOp {
    upsert("duplicate_record")
        .key("uri", uri)
        .set("cid", cid)
        .set("duplicateOf", duplicate_of)
        .set("indexedAt", Value::timestamp(indexed_at))
        .into()
}

/// Commit order of two records of one author and collection: by record key, then URI.
fn precedence(uri: &str) -> (&str, &str) {
    let rkey = crate::uri::AtUri::parse(uri).map_or("", |parsed| parsed.rkey);
    (rkey, uri)
}

/// Whether `a` comes before `b` in commit order.
fn earlier(a: &str, b: &str) -> bool {
    precedence(a) < precedence(b)
}
