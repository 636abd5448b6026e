//! `app.bsky.feed.like` → `like`, `app.bsky.feed.repost` → `repost` and its `feed_item`: one
//! row per author and subject (later ones are duplicates), notifications to the subject's
//! author and to the reposter the subject was seen through (`via`). `likeCount` and
//! `repostCount` are declared aggregates.

use sluice_bsky_common::datetime::{least, normalize_datetime_always};
use sluice_bsky_common::dedup::{Deduplicated, Entry};
use sluice_bsky_common::notify::Notification;
use sluice_bsky_common::timestamp;
use sluice_bsky_common::uri::authority;
use sluice_plugin_sdk::types::{Cell, RowOp, RowQuery, Value};
use sluice_plugin_sdk::{Context, Error, delete, upsert};

use crate::gates::muters;
use crate::records::Interaction;

/// Likes.
#[derive(Debug)]
pub struct Like;

/// Reposts.
#[derive(Debug)]
pub struct Repost;

impl Deduplicated for Like {
    type Record = Interaction;
    const TABLE: &'static str = "like";

    fn natural_key(did: &str, record: &Interaction) -> Vec<Cell> {
        vec![cell("subject", &record.subject.uri), cell("creator", did)]
    }

    fn row(entry: &Entry<'_, Interaction>) -> RowOp {
        interaction_row("like", entry)
    }

    fn created_at(record: &Interaction) -> String {
        normalize_datetime_always(&record.created_at)
    }

    fn notifications(
        ctx: &mut Context<'_>,
        entry: &Entry<'_, Interaction>,
    ) -> Result<Vec<Notification>, Error> {
        interaction_notifications(ctx, entry, "like", "like-via-repost")
    }
}

impl Deduplicated for Repost {
    type Record = Interaction;
    const TABLE: &'static str = "repost";

    fn natural_key(did: &str, record: &Interaction) -> Vec<Cell> {
        vec![cell("creator", did), cell("subject", &record.subject.uri)]
    }

    fn row(entry: &Entry<'_, Interaction>) -> RowOp {
        interaction_row("repost", entry)
    }

    /// Every repost has a feed item, duplicates included (the reference inserts it beside the
    /// repost row, whether that insert conflicts or not).
    fn companion_rows(entry: &Entry<'_, Interaction>) -> Vec<RowOp> {
        let created_at = normalize_datetime_always(&entry.record.created_at);
        vec![
            upsert("feed_item")
                .key("uri", entry.uri)
                .set("cid", entry.cid)
                .set("type", "repost")
                .set("postUri", entry.record.subject.uri.as_str())
                .set("originatorDid", entry.did)
                .set("sortAt", timestamp(least(&created_at, entry.indexed_at)))
                .into(),
        ]
    }

    fn delete_companions(uri: &str) -> Vec<RowOp> {
        vec![delete("feed_item").matching("uri", uri).into()]
    }

    fn created_at(record: &Interaction) -> String {
        normalize_datetime_always(&record.created_at)
    }

    fn notifications(
        ctx: &mut Context<'_>,
        entry: &Entry<'_, Interaction>,
    ) -> Result<Vec<Notification>, Error> {
        interaction_notifications(ctx, entry, "repost", "repost-via-repost")
    }
}

fn interaction_row(table: &str, entry: &Entry<'_, Interaction>) -> RowOp {
    let record = entry.record;
    upsert(table)
        .key("uri", entry.uri)
        .set("cid", entry.cid)
        .set("creator", entry.did)
        .set("subject", record.subject.uri.as_str())
        .set("subjectCid", record.subject.cid.as_str())
        .set("via", record.via.as_ref().map(|via| via.uri.as_str()))
        .set("viaCid", record.via.as_ref().map(|via| via.cid.as_str()))
        .set(
            "createdAt",
            timestamp(&normalize_datetime_always(&record.created_at)),
        )
        .set("indexedAt", timestamp(entry.indexed_at))
        .into()
}

/// To the subject's author (`reason`), unless it is the liker or reposter; to the author of
/// the `via` repost (`via_reason`), likewise. The first is dropped when its recipient muted the
/// subject's thread.
fn interaction_notifications(
    ctx: &mut Context<'_>,
    entry: &Entry<'_, Interaction>,
    reason: &'static str,
    via_reason: &'static str,
) -> Result<Vec<Notification>, Error> {
    let record = entry.record;
    let Some(subject_author) = authority(&record.subject.uri) else {
        return Ok(Vec::new());
    };
    if subject_author == entry.did {
        return Ok(Vec::new());
    }
    let sort_at = least(
        &normalize_datetime_always(&record.created_at),
        entry.indexed_at,
    )
    .to_owned();
    let note = |did: &str, reason: &'static str, subject: &str| Notification {
        did: did.to_owned(),
        author: entry.did.to_owned(),
        record_uri: entry.uri.to_owned(),
        record_cid: entry.cid.to_owned(),
        reason,
        reason_subject: Some(subject.to_owned()),
        sort_at: sort_at.clone(),
    };
    let mut notes = Vec::new();
    if !subject_muted(ctx, &record.subject.uri, subject_author)? {
        notes.push(note(subject_author, reason, &record.subject.uri));
    }
    if let Some(via) = &record.via
        && let Some(via_author) = authority(&via.uri)
        && via_author != entry.did
    {
        notes.push(note(via_author, via_reason, &via.uri));
    }
    Ok(notes)
}

/// Whether `recipient` muted the thread of the post `subject` (false when it is not an indexed
/// post, as in the reference).
fn subject_muted(ctx: &mut Context<'_>, subject: &str, recipient: &str) -> Result<bool, Error> {
    let rows = ctx.rows(RowQuery {
        table: "post".into(),
        matching: vec![cell("uri", subject)],
        columns: vec!["replyRoot".into()],
        limit: 1,
    })?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(false);
    };
    let root = match row.into_iter().next() {
        Some(Value::Text(root)) => root,
        _ => subject.to_owned(),
    };
    Ok(muters(ctx, &root)?.contains(recipient))
}

fn cell(column: &str, value: &str) -> Cell {
    Cell {
        column: column.into(),
        value: value.into(),
    }
}
