//! The collections the reference keeps one row per author and subject for: follows, blocks,
//! list items, list blocks, verifications, reference-list opt-outs.

use sluice_bsky_common::datetime::{least, normalize_datetime_always};
use sluice_bsky_common::dedup::{Deduplicated, Entry};
use sluice_bsky_common::notify::Notification;
use sluice_bsky_common::timestamp;
use sluice_bsky_common::uri::{AtUri, LIST};
use sluice_plugin_sdk::types::{Cell, RowOp};
use sluice_plugin_sdk::{Context, Error, upsert};

use crate::records::{ActorSubject, ListItem, ListSubject, Verification};

/// `app.bsky.graph.follow` → `follow` (`followersCount`, `followsCount` are aggregates).
#[derive(Debug)]
pub struct Follow;
/// `app.bsky.graph.block` → `actor_block`.
#[derive(Debug)]
pub struct Block;
/// `app.bsky.graph.listitem` → `list_item`, only for the list's own author.
#[derive(Debug)]
pub struct ListItemRelation;
/// `app.bsky.graph.listblock` → `list_block`.
#[derive(Debug)]
pub struct ListBlock;
/// `app.bsky.graph.verification` → `verification`.
#[derive(Debug)]
pub struct VerificationRelation;
/// `app.bsky.graph.referencelistoptout` → `reference_list_opt_out`.
#[derive(Debug)]
pub struct ReferenceListOptOut;

fn cell(column: &str, value: &str) -> Cell {
    Cell {
        column: column.into(),
        value: value.into(),
    }
}

/// The common columns of a relation row: uri, cid, creator, createdAt, indexedAt.
fn base(table: &str, entry: &Entry<'_, impl Sized>, created_at: &str) -> sluice_plugin_sdk::Upsert {
    upsert(table)
        .key("uri", entry.uri)
        .set("cid", entry.cid)
        .set("creator", entry.did)
        .set(
            "createdAt",
            timestamp(&normalize_datetime_always(created_at)),
        )
        .set("indexedAt", timestamp(entry.indexed_at))
}

impl Deduplicated for Follow {
    type Record = ActorSubject;
    const TABLE: &'static str = "follow";

    fn natural_key(did: &str, record: &ActorSubject) -> Vec<Cell> {
        vec![cell("creator", did), cell("subjectDid", &record.subject)]
    }

    fn row(entry: &Entry<'_, ActorSubject>) -> RowOp {
        base("follow", entry, &entry.record.created_at)
            .set("subjectDid", entry.record.subject.as_str())
            .into()
    }

    fn created_at(record: &ActorSubject) -> String {
        normalize_datetime_always(&record.created_at)
    }

    fn notifications(
        _ctx: &mut Context<'_>,
        entry: &Entry<'_, ActorSubject>,
    ) -> Result<Vec<Notification>, Error> {
        let created_at = normalize_datetime_always(&entry.record.created_at);
        Ok(vec![Notification {
            did: entry.record.subject.clone(),
            author: entry.did.to_owned(),
            record_uri: entry.uri.to_owned(),
            record_cid: entry.cid.to_owned(),
            reason: "follow",
            reason_subject: None,
            sort_at: least(&created_at, entry.indexed_at).to_owned(),
        }])
    }
}

impl Deduplicated for Block {
    type Record = ActorSubject;
    const TABLE: &'static str = "actor_block";

    fn natural_key(did: &str, record: &ActorSubject) -> Vec<Cell> {
        vec![cell("creator", did), cell("subjectDid", &record.subject)]
    }

    fn row(entry: &Entry<'_, ActorSubject>) -> RowOp {
        base("actor_block", entry, &entry.record.created_at)
            .set("subjectDid", entry.record.subject.as_str())
            .into()
    }

    fn created_at(record: &ActorSubject) -> String {
        normalize_datetime_always(&record.created_at)
    }
}

impl Deduplicated for ListItemRelation {
    type Record = ListItem;
    const TABLE: &'static str = "list_item";

    /// A list item of someone else's list is invalid (the reference refuses it).
    fn check(did: &str, record: &ListItem) -> Result<bool, Error> {
        match AtUri::parse(&record.list) {
            Some(list) if list.authority == did => Ok(true),
            _ => Err(Error::invalid(
                "the creator of the list item is not the creator of the list",
            )),
        }
    }

    fn natural_key(_did: &str, record: &ListItem) -> Vec<Cell> {
        vec![
            cell("listUri", &record.list),
            cell("subjectDid", &record.subject),
        ]
    }

    fn row(entry: &Entry<'_, ListItem>) -> RowOp {
        base("list_item", entry, &entry.record.created_at)
            .set("subjectDid", entry.record.subject.as_str())
            .set("listUri", entry.record.list.as_str())
            .into()
    }

    fn created_at(record: &ListItem) -> String {
        normalize_datetime_always(&record.created_at)
    }
}

impl Deduplicated for ListBlock {
    type Record = ListSubject;
    const TABLE: &'static str = "list_block";

    fn natural_key(did: &str, record: &ListSubject) -> Vec<Cell> {
        vec![cell("creator", did), cell("subjectUri", &record.subject)]
    }

    fn row(entry: &Entry<'_, ListSubject>) -> RowOp {
        base("list_block", entry, &entry.record.created_at)
            .set("subjectUri", entry.record.subject.as_str())
            .into()
    }

    fn created_at(record: &ListSubject) -> String {
        normalize_datetime_always(&record.created_at)
    }
}

impl Deduplicated for VerificationRelation {
    type Record = Verification;
    const TABLE: &'static str = "verification";
    const DELETE_NOTIFICATIONS: bool = false;

    fn natural_key(did: &str, record: &Verification) -> Vec<Cell> {
        vec![cell("subject", &record.subject), cell("creator", did)]
    }

    fn row(entry: &Entry<'_, Verification>) -> RowOp {
        base("verification", entry, &entry.record.created_at)
            .set("rkey", entry.rkey)
            .set("subject", entry.record.subject.as_str())
            .set("handle", entry.record.handle.as_str())
            .set("displayName", entry.record.display_name.as_str())
            .into()
    }

    fn created_at(record: &Verification) -> String {
        normalize_datetime_always(&record.created_at)
    }

    fn notifications(
        _ctx: &mut Context<'_>,
        entry: &Entry<'_, Verification>,
    ) -> Result<Vec<Notification>, Error> {
        let created_at = normalize_datetime_always(&entry.record.created_at);
        Ok(vec![verification_note(
            entry,
            "verified",
            least(&created_at, entry.indexed_at),
        )])
    }

    fn notifications_on_delete(
        entry: &Entry<'_, Verification>,
        deleted_at: &str,
    ) -> Vec<Notification> {
        vec![verification_note(entry, "unverified", deleted_at)]
    }
}

fn verification_note(
    entry: &Entry<'_, Verification>,
    reason: &'static str,
    sort_at: &str,
) -> Notification {
    Notification {
        did: entry.record.subject.clone(),
        author: entry.did.to_owned(),
        record_uri: entry.uri.to_owned(),
        record_cid: entry.cid.to_owned(),
        reason,
        reason_subject: None,
        sort_at: sort_at.to_owned(),
    }
}

impl Deduplicated for ReferenceListOptOut {
    type Record = ListSubject;
    const TABLE: &'static str = "reference_list_opt_out";
    const PROMOTE: bool = false;

    /// Only a plain list URI (`at://did/app.bsky.graph.list/rkey`) is indexed; the record is
    /// kept otherwise, without a row.
    fn check(_did: &str, record: &ListSubject) -> Result<bool, Error> {
        Ok(is_plain_list_uri(&record.subject))
    }

    fn natural_key(did: &str, record: &ListSubject) -> Vec<Cell> {
        vec![cell("creator", did), cell("subjectUri", &record.subject)]
    }

    fn row(entry: &Entry<'_, ListSubject>) -> RowOp {
        base("reference_list_opt_out", entry, &entry.record.created_at)
            .set("subjectUri", entry.record.subject.as_str())
            .into()
    }

    fn created_at(record: &ListSubject) -> String {
        normalize_datetime_always(&record.created_at)
    }
}

/// The reference's `parseSubject` of an opt-out: a DID authority, the list collection, a
/// record key, nothing else (no query, fragment or further segments).
fn is_plain_list_uri(subject: &str) -> bool {
    let Some(parsed) = AtUri::parse(subject) else {
        return false;
    };
    parsed.authority.starts_with("did:")
        && parsed.collection == LIST
        && !parsed.rkey.is_empty()
        && !parsed.rkey.contains(['/', '?', '#'])
        && !parsed.authority.contains(['?', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_out_subjects() {
        assert!(is_plain_list_uri("at://did:plc:a/app.bsky.graph.list/3k"));
        assert!(!is_plain_list_uri("at://alice.test/app.bsky.graph.list/3k"));
        assert!(!is_plain_list_uri("at://did:plc:a/app.bsky.feed.post/3k"));
        assert!(!is_plain_list_uri(
            "at://did:plc:a/app.bsky.graph.list/3k/x"
        ));
        assert!(!is_plain_list_uri(
            "at://did:plc:a/app.bsky.graph.list/3k?x"
        ));
        assert!(!is_plain_list_uri("at://did:plc:a/app.bsky.graph.list"));
    }
}
