//! Notifications: the rows, which records send them, and the thread-mute filter.
//!
//! Which records notify: the reference's firehose indexer notifies for every record it indexes;
//! the backfill pipeline it grew (`divy/backfill`) disables notifications for everything it
//! indexes. Sluice notifies for a record created at most [`NOTIFY_WINDOW_MS`] before it was
//! indexed, whatever the source (live, backfill, or a replay): live activity always notifies; a
//! backfill notifies for the last week of activity (what a user expects to find in a fresh
//! AppView) and not for years of history nobody would read; a replay decides exactly as the
//! first run did, since it depends only on the record and its `indexed-at`.

use std::collections::HashSet;

use sluice_plugin_sdk::types::{RowOp, RowQuery, Value};
use sluice_plugin_sdk::{Context, Error, delete, upsert};

use crate::datetime::parse_millis;
use crate::tables::thread_mute;

/// How long after its creation a record still notifies when indexed: 7 days.
pub const NOTIFY_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

/// The most thread mutes of one thread read to filter notifications.
const THREAD_MUTE_LIMIT: u32 = 10_000;

/// Whether a record created at `created_at` (normalised) and indexed at `indexed_at` sends
/// notifications: created no more than [`NOTIFY_WINDOW_MS`] before it was indexed (a record
/// dated in the future notifies). Unparsable times do not notify.
pub fn notifies(created_at: &str, indexed_at: &str) -> bool {
    match (parse_millis(created_at), parse_millis(indexed_at)) {
        (Some(created), Some(indexed)) => created >= indexed - NOTIFY_WINDOW_MS,
        _ => false,
    }
}

/// One notification row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Who is notified.
    pub did: String,
    /// Who caused it (the record's author).
    pub author: String,
    /// The record that caused it.
    pub record_uri: String,
    /// Its CID.
    pub record_cid: String,
    /// Why (`like`, `reply`, `follow`, …).
    pub reason: &'static str,
    /// What it is about (the liked post, the ancestor replied to, …).
    pub reason_subject: Option<String>,
    /// Sort time (the reference uses the record's `sortAt`).
    pub sort_at: String,
}

impl Notification {
    /// The upsert writing it.
    pub fn upsert(&self) -> RowOp {
        upsert("notification")
            .key("recordUri", self.record_uri.as_str())
            .key("did", self.did.as_str())
            .key("reason", self.reason)
            .set("recordCid", self.record_cid.as_str())
            .set("author", self.author.as_str())
            .set("reasonSubject", self.reason_subject.clone())
            .set("sortAt", Value::timestamp(self.sort_at.as_str()))
            .into()
    }
}

/// Deletes every notification caused by the record `record_uri`.
pub fn delete_for_record(record_uri: &str) -> RowOp {
    delete("notification")
        .matching("recordUri", record_uri)
        .into()
}

/// Notifications of one record, at most one per recipient (the first reason wins), never to the
/// author: the reference's `maybeNotify`.
#[derive(Debug, Default)]
pub struct Recipients {
    notified: HashSet<String>,
    list: Vec<Notification>,
}

impl Recipients {
    /// Starts with the author already "notified", so that nobody notifies themself.
    pub fn new(author: &str) -> Self {
        Self {
            notified: HashSet::from([author.to_owned()]),
            list: Vec::new(),
        }
    }

    /// Adds a notification unless its recipient already has one.
    pub fn notify(&mut self, notification: Notification) {
        if self.notified.insert(notification.did.clone()) {
            self.list.push(notification);
        }
    }

    /// The notifications, in the order added.
    pub fn into_vec(self) -> Vec<Notification> {
        self.list
    }
}

/// The accounts that muted a thread (`thread_mute` rows of its root), for the reference's
/// `filterNotifsForThreadMutes`.
pub fn thread_muters(ctx: &mut Context<'_>, root_uri: &str) -> Result<HashSet<String>, Error> {
    let rows = ctx.rows(RowQuery {
        table: thread_mute().build().name,
        matching: vec![sluice_plugin_sdk::types::Cell {
            column: "rootUri".into(),
            value: root_uri.into(),
        }],
        columns: vec!["mutedByDid".into()],
        limit: THREAD_MUTE_LIMIT,
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(Value::Text(did)) => Some(did),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(did: &str, reason: &'static str) -> Notification {
        Notification {
            did: did.into(),
            author: "did:plc:author".into(),
            record_uri: "at://did:plc:author/app.bsky.feed.post/1".into(),
            record_cid: "bafy".into(),
            reason,
            reason_subject: None,
            sort_at: "2024-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn recency_window() {
        let indexed = "2024-01-08T00:00:00.000Z";
        assert!(notifies("2024-01-01T00:00:00.000Z", indexed));
        assert!(!notifies("2023-12-31T23:59:59.999Z", indexed));
        assert!(notifies("2025-01-01T00:00:00.000Z", indexed));
        assert!(!notifies("garbage", indexed));
    }

    #[test]
    fn one_notification_per_recipient_and_none_to_the_author() {
        let mut recipients = Recipients::new("did:plc:author");
        recipients.notify(note("did:plc:author", "mention"));
        recipients.notify(note("did:plc:b", "mention"));
        recipients.notify(note("did:plc:b", "reply"));
        recipients.notify(note("did:plc:c", "reply"));
        let list = recipients.into_vec();
        assert_eq!(
            list.iter()
                .map(|n| (n.did.as_str(), n.reason))
                .collect::<Vec<_>>(),
            vec![("did:plc:b", "mention"), ("did:plc:c", "reply")]
        );
        assert!(
            matches!(list[0].upsert(), RowOp::Upsert(u) if u.conflict == ["recordUri", "did", "reason"])
        );
    }
}
