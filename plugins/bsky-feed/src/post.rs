//! `app.bsky.feed.post` → `post`, `feed_item`, `post_embed_*`, `quote`, `op_thread_reply`,
//! notifications; counts (`replyCount`, `quoteCount`, `postsCount`) are declared aggregates.
//!
//! Everything that depends on other records is computed from them when the post is indexed,
//! and again when one it waited for arrives (the SDK awaits every record found absent): the
//! parent and the ancestors up to the reply-notification depth, the root and its thread gate,
//! the quoted post's post gate, and the post's own gates. So the rows come out as if the
//! records had been indexed in commit order, whatever order they arrive in.

use std::collections::HashSet;

use sluice_bsky_common::datetime::{least, normalize_datetime_always};
use sluice_bsky_common::lex::{Blob, Feature, StrongRef};
use sluice_bsky_common::notify::{Notification, Recipients, delete_for_record, notifies};
use sluice_bsky_common::op::{OpInfo, refuse_nul};
use sluice_bsky_common::timestamp;
use sluice_bsky_common::uri::{POST, authority, is_post_uri};
use sluice_plugin_sdk::types::{Action, Cell, RecordOp, RowOp, RowQuery, Value};
use sluice_plugin_sdk::{Context, Error, decode, delete, upsert};

use crate::gates::{
    GateKind, ThreadVerdict, muters, own_gate, thread_verdict, violates_embedding_rules,
};
use crate::records::{Embed, External, GalleryItem, Image, Media, Post, ReplyRef};

/// How many ancestors a reply notifies (the reference's `REPLY_NOTIF_DEPTH` 5: heights 1–4).
const NOTIFIED_ANCESTORS: usize = 4;
/// How many ancestors are read (records and stored flags); the fourth notified one is known
/// by URI from the third's record. Three levels of lookups fit the host's four calls per
/// operation.
const READ_ANCESTORS: usize = 3;

/// Indexes one post operation.
pub fn index(ctx: &mut Context<'_>, op: &RecordOp) -> Result<Vec<RowOp>, Error> {
    let info = OpInfo::new(op);
    let new = match (&op.action, &op.record) {
        (Action::Delete, _) | (_, None) => None,
        (_, Some(stored)) => Some((stored.cid.as_str(), decode::<Post>(&stored.body)?)),
    };
    // Both run before either result is used, so that their lookups share rounds.
    let removal = if op.action == Action::Delete || info.content_changed() {
        remove(ctx, &info)
    } else {
        Ok(Vec::new())
    };
    let projected = new
        .as_ref()
        .map(|(cid, post)| project(ctx, &info, cid, post));
    let mut ops = removal?;
    if let Some(projected) = projected {
        if op.action != Action::Delete && !info.content_changed() && info.purges_notifications() {
            ops.push(delete_for_record(&info.uri));
        }
        ops.extend(projected?);
    }
    refuse_nul(ops)
}

/// What the reference's delete path removes (on a delete, and before an update re-indexes):
/// the post, its feed items (reposts' included), embeds, its quote row and quotes of it, its
/// notifications; its `op_thread_reply` row is soft-deleted.
fn remove(ctx: &mut Context<'_>, info: &OpInfo<'_>) -> Result<Vec<RowOp>, Error> {
    let uri = info.uri.as_str();
    let op_replies = ctx.rows(RowQuery {
        table: "op_thread_reply".into(),
        matching: vec![Cell {
            column: "uri".into(),
            value: uri.into(),
        }],
        columns: vec!["rootUri".into(), "parentUri".into()],
        limit: 100,
    })?;
    let mut ops: Vec<RowOp> = Vec::new();
    if info.op.action == Action::Delete {
        ops.push(delete("post").matching("uri", uri).into());
    }
    ops.push(delete("feed_item").matching("postUri", uri).into());
    for table in [
        "post_embed_image",
        "post_embed_gallery_image",
        "post_embed_external",
        "post_embed_record",
        "post_embed_video",
    ] {
        ops.push(delete(table).matching("postUri", uri).into());
    }
    ops.push(delete("quote").matching("uri", uri).into());
    ops.push(delete("quote").matching("subject", uri).into());
    ops.push(delete_for_record(uri));
    // The OP-thread rows to soft-delete: those stored, and the one the previous version wrote
    // (which may not be stored yet when it was created earlier in the same batch).
    let mut op_thread: std::collections::BTreeSet<(String, String)> = op_replies
        .into_iter()
        .filter_map(|row| {
            let mut values = row.into_iter();
            match (values.next(), values.next()) {
                (Some(Value::Text(root)), Some(Value::Text(parent))) => Some((root, parent)),
                _ => None,
            }
        })
        .collect();
    if let Some(previous) = &info.op.previous
        && let Ok(post) = decode::<Post>(&previous.body)
        && let Some(reply) = &post.reply
        && !reply.parent.uri.is_empty()
        && authority(&reply.root.uri) == Some(info.op.did.as_str())
    {
        op_thread.insert((reply.root.uri.clone(), reply.parent.uri.clone()));
    }
    for (root, parent) in op_thread {
        ops.push(
            upsert("op_thread_reply")
                .key("rootUri", root)
                .key("uri", uri)
                .set("parentUri", parent)
                .set("deletedAt", timestamp(info.indexed_at()))
                .into(),
        );
    }
    Ok(ops)
}

/// An ancestor of a reply, as read.
#[derive(Debug)]
struct Ancestor {
    uri: String,
    /// The record; `None` when it is not indexed.
    post: Option<Post>,
    /// The stored `invalidReplyRoot` flag; `None` when it has no `post` row.
    flag: Option<Option<bool>>,
}

/// The rows of one version of a post.
fn project(
    ctx: &mut Context<'_>,
    info: &OpInfo<'_>,
    cid: &str,
    post: &Post,
) -> Result<Vec<RowOp>, Error> {
    let uri = info.uri.as_str();
    let did = info.op.did.as_str();
    let created_at = normalize_datetime_always(&post.created_at);
    let indexed_at = info.indexed_at();
    let sort_at = least(&created_at, indexed_at).to_owned();
    let quoted = post
        .embed
        .as_ref()
        .and_then(Embed::quoted)
        .filter(|quoted| is_post_uri(&quoted.uri));
    let notify = notifies(&created_at, indexed_at);

    // Every independent question first, then the answers.
    let has_thread_gate = own_gate(ctx, uri, GateKind::Thread);
    let has_post_gate = own_gate(ctx, uri, GateKind::Post);
    let ancestors = post.reply.as_ref().map(|reply| ancestors(ctx, reply));
    let verdict = post
        .reply
        .as_ref()
        .map(|reply| thread_verdict(ctx, did, &reply.root.uri, &created_at));
    let thread_muters = match (&post.reply, notify) {
        (Some(reply), true) => Some(muters(ctx, &reply.root.uri)),
        _ => None,
    };
    let embedding =
        quoted.map(|quoted| violates_embedding_rules(ctx, did, &quoted.uri, &created_at));
    let quote_muters = match (quoted, notify) {
        (Some(quoted), true) => Some(quoted_thread_muters(ctx, &quoted.uri)),
        _ => None,
    };
    let has_thread_gate = has_thread_gate?;
    let has_post_gate = has_post_gate?;
    let ancestors = ancestors.transpose()?;
    let verdict = verdict.transpose()?.unwrap_or_default();
    let thread_muters = thread_muters.transpose()?.unwrap_or_default();
    let violates_embedding = embedding.transpose()?.unwrap_or(false);
    let quote_muters = quote_muters.transpose()?.unwrap_or_default();

    let (invalid_reply_root, violates_thread_gate) = match (&post.reply, &ancestors) {
        (Some(reply), Some(chain)) => {
            let invalid = is_invalid_reply(reply, chain);
            if invalid && let Some(deepest) = unsettled_beyond_reach(chain) {
                // Settled when that ancestor is indexed again (the host re-runs the waiters of
                // what it re-runs).
                ctx.await_record(deepest);
            }
            if invalid || verdict.violates {
                (Some(invalid), Some(verdict.violates))
            } else {
                (None, None)
            }
        }
        _ => (None, None),
    };

    let mut ops: Vec<RowOp> = vec![
        upsert("post")
            .key("uri", uri)
            .set("cid", cid)
            .set("creator", did)
            .set("text", post.text.as_str())
            .set("replyRoot", reply_field(post, |r| &r.root.uri))
            .set("replyRootCid", reply_field(post, |r| &r.root.cid))
            .set("replyParent", reply_field(post, |r| &r.parent.uri))
            .set("replyParentCid", reply_field(post, |r| &r.parent.cid))
            .set("createdAt", timestamp(&created_at))
            .set("indexedAt", timestamp(indexed_at))
            .set("langs", json_list(post.langs.as_deref()))
            .set("tags", json_list(post.tags.as_deref()))
            .set("invalidReplyRoot", invalid_reply_root)
            .set("violatesThreadGate", violates_thread_gate)
            .set("violatesEmbeddingRules", violates_embedding.then_some(true))
            .set("hasThreadGate", has_thread_gate)
            .set("hasPostGate", has_post_gate)
            .into(),
        upsert("feed_item")
            .key("uri", uri)
            .set("cid", cid)
            .set("type", "post")
            .set("postUri", uri)
            .set("originatorDid", did)
            .set("sortAt", timestamp(&sort_at))
            .into(),
    ];
    ops.extend(embed_rows(
        uri,
        cid,
        &created_at,
        indexed_at,
        post.embed.as_ref(),
    )?);
    if let Some(reply) = &post.reply
        && !reply.parent.uri.is_empty()
        && authority(&reply.root.uri) == Some(did)
    {
        ops.push(
            upsert("op_thread_reply")
                .key("rootUri", reply.root.uri.as_str())
                .key("uri", uri)
                .set("parentUri", reply.parent.uri.as_str())
                .keep_existing("deletedAt", Value::Null)
                .into(),
        );
    }
    if notify {
        let notes = notifications(&NotificationInput {
            uri,
            cid,
            did,
            sort_at: &sort_at,
            post,
            quoted,
            violates_embedding,
            violates_thread_gate: violates_thread_gate == Some(true),
            ancestors: ancestors.as_deref().unwrap_or_default(),
            verdict: &verdict,
            thread_muters: &thread_muters,
            quote_muters: &quote_muters,
        });
        ops.extend(notes.iter().map(Notification::upsert));
    }
    Ok(ops)
}

fn reply_field(post: &Post, field: impl Fn(&ReplyRef) -> &String) -> Option<String> {
    post.reply
        .as_ref()
        .map(field)
        .filter(|value| !value.is_empty())
        .cloned()
}

/// A non-empty list as a JSON array (`jsonb`), otherwise null.
fn json_list(list: Option<&[String]>) -> Value {
    match list {
        Some(items) if !items.is_empty() => {
            Value::Json(serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned()))
        }
        _ => Value::Null,
    }
}

/// Reads the reply's ancestors: for each of the first [`READ_ANCESTORS`], its record and its
/// stored `invalidReplyRoot`; the walk stops at the first one not indexed (which the reply then
/// awaits).
fn ancestors(ctx: &mut Context<'_>, reply: &ReplyRef) -> Result<Vec<Ancestor>, Error> {
    let mut chain: Vec<Ancestor> = Vec::new();
    let mut next = Some(reply.parent.uri.clone());
    while let Some(uri) = next.take() {
        if chain.len() >= READ_ANCESTORS || !is_post_uri(&uri) {
            break;
        }
        let post = ctx.record(&uri);
        let flag = ctx.rows(RowQuery {
            table: "post".into(),
            matching: vec![Cell {
                column: "uri".into(),
                value: uri.as_str().into(),
            }],
            columns: vec!["invalidReplyRoot".into()],
            limit: 1,
        });
        let (post, flag) = (post?, flag?);
        let post = post.and_then(|stored| decode::<Post>(&stored.body).ok());
        let flag = flag
            .into_iter()
            .next()
            .map(|row| match row.into_iter().next() {
                Some(Value::Boolean(flag)) => Some(flag),
                _ => None,
            });
        next = post
            .as_ref()
            .and_then(|post| post.reply.as_ref())
            .map(|reply| reply.parent.uri.clone());
        let absent = post.is_none();
        chain.push(Ancestor { uri, post, flag });
        if absent {
            break;
        }
    }
    Ok(chain)
}

/// Whether the reply's thread does not hold together (the reference's `invalidReplyRoot`): the
/// parent is missing, or does not belong to the same root, or is itself invalid.
///
/// A parent's stored flag saying "valid" is trusted (it was computed when the parent was
/// indexed, as in the reference); one saying "invalid" may only mean that its own ancestors had
/// not arrived yet, so it is recomputed from the records read, as far as they go.
fn is_invalid_reply(reply: &ReplyRef, chain: &[Ancestor]) -> bool {
    let Some(parent) = chain.first() else {
        return true;
    };
    match &parent.post {
        None => true,
        Some(parent_post) => link_is_bad(reply, parent_post) || ancestor_is_invalid(chain, 0),
    }
}

/// The deepest ancestor read, when the verdict stopped at it: it is a reply whose stored flag
/// says "invalid" (perhaps only because its own ancestors had not arrived), and its parent is
/// beyond [`READ_ANCESTORS`]. When its flag is settled, the reply must be indexed again.
fn unsettled_beyond_reach(chain: &[Ancestor]) -> Option<&str> {
    let deepest = chain.get(READ_ANCESTORS - 1)?;
    let is_reply = deepest.post.as_ref()?.reply.is_some();
    let trusted = matches!(deepest.flag, Some(None | Some(false)));
    (is_reply && !trusted).then_some(deepest.uri.as_str())
}

/// Whether a post replying with `reply` does not fit its parent `parent`.
fn link_is_bad(reply: &ReplyRef, parent: &Post) -> bool {
    if reply.parent.uri == reply.root.uri {
        parent.reply.is_some()
    } else {
        parent.reply.as_ref().map(|r| r.root.uri.as_str()) != Some(reply.root.uri.as_str())
    }
}

/// Whether the ancestor at `index` of the chain is an invalid reply.
fn ancestor_is_invalid(chain: &[Ancestor], index: usize) -> bool {
    let Some(ancestor) = chain.get(index) else {
        return true;
    };
    let Some(post) = &ancestor.post else {
        return true;
    };
    let Some(reply) = &post.reply else {
        // A root post: never an invalid reply.
        return false;
    };
    // Stored as valid: trusted.
    if let Some(None | Some(false)) = ancestor.flag {
        return false;
    }
    match chain.get(index + 1) {
        // Not read (beyond the walk's depth): keep what was stored; or not indexed.
        None => true,
        Some(next) => match &next.post {
            None => true,
            Some(next_post) => {
                link_is_bad(reply, next_post) || ancestor_is_invalid(chain, index + 1)
            }
        },
    }
}

/// The posts and roots a quote notification's thread-mute check needs: the accounts that muted
/// the thread of the quoted post.
fn quoted_thread_muters(ctx: &mut Context<'_>, quoted_uri: &str) -> Result<HashSet<String>, Error> {
    let rows = ctx.rows(RowQuery {
        table: "post".into(),
        matching: vec![Cell {
            column: "uri".into(),
            value: quoted_uri.into(),
        }],
        columns: vec!["replyRoot".into()],
        limit: 1,
    })?;
    let Some(row) = rows.into_iter().next() else {
        // Not indexed: the reference does not filter.
        return Ok(HashSet::new());
    };
    let root = match row.into_iter().next() {
        Some(Value::Text(root)) => root,
        _ => quoted_uri.to_owned(),
    };
    muters(ctx, &root)
}

/// What the notifications of a post depend on.
struct NotificationInput<'a> {
    uri: &'a str,
    cid: &'a str,
    did: &'a str,
    sort_at: &'a str,
    post: &'a Post,
    quoted: Option<&'a StrongRef>,
    violates_embedding: bool,
    violates_thread_gate: bool,
    ancestors: &'a [Ancestor],
    verdict: &'a ThreadVerdict,
    thread_muters: &'a HashSet<String>,
    quote_muters: &'a HashSet<String>,
}

/// The reference's `notifsForInsert` of a post: mentions, then the quoted post's author, then
/// (unless the reply breaks its thread gate) the authors of up to four ancestors, stopping
/// above a reply the root's author hid; one notification per account; none about a thread the
/// recipient muted.
fn notifications(input: &NotificationInput<'_>) -> Vec<Notification> {
    let note = |did: &str, reason: &'static str, subject: Option<&str>| Notification {
        did: did.to_owned(),
        author: input.did.to_owned(),
        record_uri: input.uri.to_owned(),
        record_cid: input.cid.to_owned(),
        reason,
        reason_subject: subject.map(str::to_owned),
        sort_at: input.sort_at.to_owned(),
    };
    // The thread-mute filter runs after the one-per-account choice, as in the reference.
    let muted = |notification: &Notification| match notification.reason {
        "quote" => input.quote_muters.contains(&notification.did),
        "reply" => input.thread_muters.contains(&notification.did),
        _ => false,
    };
    let mut recipients = Recipients::new(input.did);
    for facet in input.post.facets.iter().flatten() {
        for feature in &facet.features {
            if let Feature::Mention { did } = feature {
                recipients.notify(note(did, "mention", None));
            }
        }
    }
    if !input.violates_embedding
        && let Some(quoted) = input.quoted
        && let Some(author) = authority(&quoted.uri)
    {
        recipients.notify(note(author, "quote", Some(&quoted.uri)));
    }
    if input.violates_thread_gate {
        return recipients
            .into_vec()
            .into_iter()
            .filter(|n| !muted(n))
            .collect();
    }
    let mut ancestor_uris: Vec<&str> = Vec::new();
    for ancestor in input.ancestors {
        if ancestor.post.is_none() {
            break;
        }
        ancestor_uris.push(&ancestor.uri);
    }
    if ancestor_uris.len() == READ_ANCESTORS
        && let Some(fourth) = input
            .ancestors
            .last()
            .and_then(|last| last.post.as_ref())
            .and_then(|post| post.reply.as_ref())
            .map(|reply| reply.parent.uri.as_str())
            .filter(|uri| is_post_uri(uri))
    {
        ancestor_uris.push(fourth);
    }
    for ancestor in ancestor_uris.into_iter().take(NOTIFIED_ANCESTORS) {
        if ancestor == input.uri {
            continue;
        }
        if let Some(author) = authority(ancestor) {
            recipients.notify(note(author, "reply", Some(ancestor)));
        }
        if input
            .verdict
            .hidden_replies
            .iter()
            .any(|hidden| hidden == ancestor)
        {
            break;
        }
    }
    recipients
        .into_vec()
        .into_iter()
        .filter(|n| !muted(n))
        .collect()
}

/// The embed rows of a post: `post_embed_*` by kind, and a `quote` row when it quotes a post.
fn embed_rows(
    uri: &str,
    cid: &str,
    created_at: &str,
    indexed_at: &str,
    embed: Option<&Embed>,
) -> Result<Vec<RowOp>, Error> {
    let mut ops = Vec::new();
    let Some(embed) = embed else {
        return Ok(ops);
    };
    let record = |quoted: &StrongRef, ops: &mut Vec<RowOp>| {
        ops.push(
            upsert("post_embed_record")
                .key("postUri", uri)
                .key("embedUri", quoted.uri.as_str())
                .set("embedCid", quoted.cid.as_str())
                .into(),
        );
        if is_post_uri(&quoted.uri) {
            ops.push(
                upsert("quote")
                    .key("uri", uri)
                    .set("cid", cid)
                    .set("subject", quoted.uri.as_str())
                    .set("subjectCid", quoted.cid.as_str())
                    .set("createdAt", timestamp(created_at))
                    .set("indexedAt", timestamp(indexed_at))
                    .into(),
            );
        }
    };
    match embed {
        Embed::Images { images } => ops.extend(image_rows("post_embed_image", uri, images)?),
        Embed::Video { video, alt } => ops.push(video_row(uri, video, alt.as_deref())?),
        Embed::Gallery { items } => ops.extend(gallery_rows(uri, items)?),
        Embed::External { external } => ops.push(external_row(uri, external)),
        Embed::Record { record: quoted } => record(quoted, &mut ops),
        Embed::RecordWithMedia {
            record: quoted,
            media,
        } => {
            record(&quoted.record, &mut ops);
            match media {
                Media::Images { images } => {
                    ops.extend(image_rows("post_embed_image", uri, images)?);
                }
                Media::Video { video, alt } => ops.push(video_row(uri, video, alt.as_deref())?),
                Media::Gallery { items } => ops.extend(gallery_rows(uri, items)?),
                Media::External { external } => ops.push(external_row(uri, external)),
                Media::Other => {}
            }
        }
        Embed::Other => {}
    }
    Ok(ops)
}

fn blob_cid(blob: &Blob) -> Result<String, Error> {
    blob.cid_string()
        .ok_or_else(|| Error::invalid("a blob has neither `ref` nor `cid`"))
}

fn image_rows(table: &str, uri: &str, images: &[Image]) -> Result<Vec<RowOp>, Error> {
    images
        .iter()
        .enumerate()
        .map(|(position, image)| {
            Ok(upsert(table)
                .key("postUri", uri)
                .key("position", position.to_string())
                .set("imageCid", blob_cid(&image.image)?)
                .set("alt", image.alt.as_str())
                .into())
        })
        .collect()
}

fn gallery_rows(uri: &str, items: &[GalleryItem]) -> Result<Vec<RowOp>, Error> {
    let mut ops = Vec::new();
    for (position, item) in items.iter().enumerate() {
        if let GalleryItem::Image { image, alt } = item {
            ops.push(
                upsert("post_embed_gallery_image")
                    .key("postUri", uri)
                    .key("position", position.to_string())
                    .set("imageCid", blob_cid(image)?)
                    .set("alt", alt.as_str())
                    .into(),
            );
        }
    }
    Ok(ops)
}

fn video_row(uri: &str, video: &Blob, alt: Option<&str>) -> Result<RowOp, Error> {
    Ok(upsert("post_embed_video")
        .key("postUri", uri)
        .set("videoCid", blob_cid(video)?)
        .set("alt", alt)
        .into())
}

fn external_row(uri: &str, external: &External) -> RowOp {
    upsert("post_embed_external")
        .key("postUri", uri)
        .set("uri", external.uri.as_str())
        .set("title", external.title.as_str())
        .set("description", external.description.as_str())
        .set(
            "thumbCid",
            external.thumb.as_ref().and_then(Blob::cid_string),
        )
        .into()
}

/// The collection this module indexes.
pub const COLLECTION: &str = POST;
