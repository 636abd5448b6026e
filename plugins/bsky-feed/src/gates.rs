//! Thread gates and post gates: their own rows, and how they govern other posts.
//!
//! A gate is indexed into `thread_gate` / `post_gate` only; the posts it governs compute their
//! flags themselves, from the gate record, when they are indexed or replayed (they await the
//! gate's URI while it is absent):
//!
//! - `post.hasThreadGate` / `hasPostGate`: true while the gate exists, false once it has been
//!   deleted (a tombstone in the host's `record` table), null when never seen.
//! - `violatesThreadGate` of a reply, `violatesEmbeddingRules` of a quote: judged against the
//!   gate only when the gate was created no later than the reply or quote (`createdAt`, both
//!   normalised): a gate added afterwards does not hide earlier replies, as in the reference,
//!   which judges each reply against the gate present when the reply is indexed in commit order.

use std::collections::HashSet;

use sluice_bsky_common::datetime::normalize_datetime_always;
use sluice_bsky_common::lex::mentions;
use sluice_bsky_common::op::OpInfo;
use sluice_bsky_common::tables::RECORD;
use sluice_bsky_common::uri::{AtUri, POSTGATE, THREADGATE, authority, gate_uri};
use sluice_bsky_common::{notify, timestamp};
use sluice_plugin_sdk::types::{Action, Cell, RecordOp, RowOp, RowQuery};
use sluice_plugin_sdk::{Context, Error, decode, delete, upsert};

use crate::records::{AllowRule, EmbeddingRule, Post, Postgate, Threadgate};

/// The two kinds of gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateKind {
    /// `app.bsky.feed.threadgate` → `thread_gate`.
    Thread,
    /// `app.bsky.feed.postgate` → `post_gate`.
    Post,
}

impl GateKind {
    /// The gate's collection.
    pub fn collection(self) -> &'static str {
        match self {
            GateKind::Thread => THREADGATE,
            GateKind::Post => POSTGATE,
        }
    }

    /// The gate's table.
    pub fn table(self) -> &'static str {
        match self {
            GateKind::Thread => "thread_gate",
            GateKind::Post => "post_gate",
        }
    }
}

/// The fields both gate records share.
#[derive(Debug, serde::Deserialize)]
struct GateFields {
    post: String,
    #[serde(rename = "createdAt")]
    created_at: String,
}

/// Indexes one thread gate or post gate operation: its `thread_gate` / `post_gate` row. A gate
/// whose post is not in the same repo under the same record key is invalid (the reference
/// refuses it and indexes nothing).
pub fn index_gate(kind: GateKind, op: &RecordOp) -> Result<Vec<RowOp>, Error> {
    let info = OpInfo::new(op);
    let record = match (&op.action, &op.record) {
        (Action::Delete, _) | (_, None) => None,
        (_, Some(stored)) => Some(stored),
    };
    let Some(stored) = record else {
        return Ok(vec![
            delete(kind.table())
                .matching("uri", info.uri.as_str())
                .into(),
        ]);
    };
    let gate: GateFields = decode(&stored.body)?;
    // Decoding the full record checks the rest of its shape.
    match kind {
        GateKind::Thread => decode::<Threadgate>(&stored.body).map(|_| ())?,
        GateKind::Post => decode::<Postgate>(&stored.body).map(|_| ())?,
    }
    let post = AtUri::parse(&gate.post)
        .ok_or_else(|| Error::invalid(format_args!("post {:?} is not an AT-URI", gate.post)))?;
    if post.authority != op.did || post.rkey != op.rkey {
        return Err(Error::invalid(
            "creator and rkey of the gate do not match its post",
        ));
    }
    Ok(vec![
        upsert(kind.table())
            .key("uri", info.uri.as_str())
            .set("cid", stored.cid.as_str())
            .set("creator", op.did.as_str())
            .set("postUri", gate.post.as_str())
            .set(
                "createdAt",
                timestamp(&normalize_datetime_always(&gate.created_at)),
            )
            .set("indexedAt", timestamp(&op.indexed_at))
            .into(),
    ])
}

/// `hasThreadGate` / `hasPostGate` of the post `post_uri`: `Some(true)` while its gate exists
/// (and names this post), `Some(false)` after the gate was deleted, `None` when never seen.
/// The post always awaits its gate, so that it is re-run when the gate is created, updated or
/// deleted.
pub fn own_gate(
    ctx: &mut Context<'_>,
    post_uri: &str,
    kind: GateKind,
) -> Result<Option<bool>, Error> {
    let uri = gate_uri(post_uri, kind.collection());
    if uri == post_uri {
        return Ok(None);
    }
    ctx.await_record(&uri);
    // Both questions in one round (the gate is nearly always absent, and then the second one
    // decides): the gate, and whether a tombstone row says it was deleted or it was never seen.
    let stored = ctx.record(&uri);
    let tombstones = ctx.rows(RowQuery {
        table: RECORD.to_owned(),
        matching: vec![Cell {
            column: "uri".into(),
            value: uri.as_str().into(),
        }],
        columns: vec!["cid".into()],
        limit: 1,
    });
    if let Some(stored) = stored? {
        let names_this_post =
            decode::<GateFields>(&stored.body).is_ok_and(|gate| gate.post == post_uri);
        return Ok(names_this_post.then_some(true));
    }
    Ok((!tombstones?.is_empty()).then_some(false))
}

/// How a reply stands with its thread's gate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadVerdict {
    /// The reply breaks the gate's rules.
    pub violates: bool,
    /// Replies the root's author hid (no reply notification goes above them).
    pub hidden_replies: Vec<String>,
}

/// Judges a reply by `replier`, created at `created_at` (normalised), in the thread of
/// `root_uri`, against the root's thread gate (the reference's `violatesThreadGate`).
pub fn thread_verdict(
    ctx: &mut Context<'_>,
    replier: &str,
    root_uri: &str,
    created_at: &str,
) -> Result<ThreadVerdict, Error> {
    let gate_uri = gate_uri(root_uri, THREADGATE);
    let gate = ctx.record_as::<Threadgate>(&gate_uri);
    let root = ctx.record_as::<Post>(root_uri);
    let (gate, root) = (gate?, root?);
    let Some(gate) =
        gate.filter(|gate| normalize_datetime_always(&gate.created_at).as_str() <= created_at)
    else {
        return Ok(ThreadVerdict::default());
    };
    let hidden_replies = gate.hidden_replies.clone().unwrap_or_default();
    let owner = authority(root_uri).unwrap_or_default();
    let Some(allow) = gate.allow.as_ref().filter(|_| replier != owner) else {
        return Ok(ThreadVerdict {
            violates: false,
            hidden_replies,
        });
    };
    let mentioned = allow
        .iter()
        .any(|rule| matches!(rule, AllowRule::Mention {}))
        && root.as_ref().is_some_and(|root| {
            mentions(root.facets.as_deref().unwrap_or_default()).any(|did| did == replier)
        });
    if mentioned {
        return Ok(ThreadVerdict {
            violates: false,
            hidden_replies,
        });
    }
    let mut checks = Vec::new();
    for rule in allow {
        let query = match rule {
            AllowRule::Follower {} => follow_query(replier, owner),
            AllowRule::Following {} => follow_query(owner, replier),
            AllowRule::List { list } => RowQuery {
                table: "list_item".into(),
                matching: vec![cell("listUri", list), cell("subjectDid", replier)],
                columns: vec!["uri".into()],
                limit: 1,
            },
            AllowRule::Mention {} | AllowRule::Other => continue,
        };
        checks.push(ctx.rows(query));
    }
    let mut allowed = false;
    for check in checks {
        allowed |= !check?.is_empty();
    }
    Ok(ThreadVerdict {
        violates: !allowed,
        hidden_replies,
    })
}

/// Whether a quote by `quoter`, created at `created_at` (normalised), breaks the quoted post's
/// post gate (the reference's `violatesEmbeddingRules`).
pub fn violates_embedding_rules(
    ctx: &mut Context<'_>,
    quoter: &str,
    quoted_uri: &str,
    created_at: &str,
) -> Result<bool, Error> {
    let gate_uri = gate_uri(quoted_uri, POSTGATE);
    if gate_uri == quoted_uri {
        return Ok(false);
    }
    let Some(gate) = ctx.record_as::<Postgate>(&gate_uri)? else {
        return Ok(false);
    };
    if normalize_datetime_always(&gate.created_at).as_str() > created_at
        || authority(quoted_uri) == Some(quoter)
    {
        return Ok(false);
    }
    Ok(gate
        .embedding_rules
        .iter()
        .flatten()
        .any(|rule| matches!(rule, EmbeddingRule::Disable {})))
}

/// The accounts that muted the thread of `root_uri`.
pub fn muters(ctx: &mut Context<'_>, root_uri: &str) -> Result<HashSet<String>, Error> {
    notify::thread_muters(ctx, root_uri)
}

fn follow_query(creator: &str, subject: &str) -> RowQuery {
    RowQuery {
        table: "follow".into(),
        matching: vec![cell("creator", creator), cell("subjectDid", subject)],
        columns: vec!["uri".into()],
        limit: 1,
    }
}

fn cell(column: &str, value: &str) -> Cell {
    Cell {
        column: column.into(),
        value: value.into(),
    }
}
