//! A test guest for the indexer: small, but it uses every part of the contract the indexer
//! must get right.
//!
//! | input | rows |
//! |---|---|
//! | `app.bsky.feed.like` | core `like` (uri, cid, creator, subject, subjectCid, createdAt, indexedAt); counted into `post_agg.likeCount` by subject |
//! | `test.sluice.reply` `{parent, createdAt}` | own `reply` (uri, creator, parent, parentExists, createdAt); looks the parent up (awaits it when absent); counted into `post_agg.replyCount` by parent when the parent exists |
//! | `#identity` | core `actor` (did, handle, indexedAt) |
//! | `#account` | `actor.upstreamStatus`; `deleted` removes the actor row |
//!
//! A record whose key is `internal` fails with `internal` (to test dead letters); one whose key
//! is `unsupported` is skipped.

use serde::Deserialize;
use sluice_plugin_sdk::prelude::*;
use sluice_plugin_sdk::types::{Aggregate, Cell, NetworkEvent};

/// A like's collection (the real lexicon: the host validates it).
pub const LIKE: &str = "app.bsky.feed.like";
/// A reply's collection (no lexicon: the host passes it through).
pub const REPLY: &str = "test.sluice.reply";

/// `com.atproto.repo.strongRef`.
#[derive(Debug, Deserialize)]
pub struct StrongRef {
    /// AT-URI.
    pub uri: String,
    /// CID.
    pub cid: String,
}

/// The records this plugin reads.
#[derive(Debug, Deserialize)]
#[serde(tag = "$type")]
pub enum Record {
    /// A like.
    #[serde(rename = "app.bsky.feed.like")]
    Like {
        /// What is liked.
        subject: StrongRef,
        /// When.
        #[serde(rename = "createdAt")]
        created_at: String,
    },
    /// A reply.
    #[serde(rename = "test.sluice.reply")]
    Reply {
        /// The AT-URI of the record replied to.
        parent: String,
        /// When.
        #[serde(rename = "createdAt")]
        created_at: String,
    },
}

/// The plugin.
pub struct IndexProbe;

fn count(source: &str, group_by: &str, column: &str, filter: Vec<Cell>) -> Aggregate {
    Aggregate {
        source: source.into(),
        group_by: group_by.into(),
        filter,
        target: "post_agg".into(),
        target_key: "uri".into(),
        target_column: column.into(),
    }
}

impl Plugin for IndexProbe {
    type Record = Record;

    fn describe() -> PluginInfo {
        PluginInfoBuilder::new("index_probe", "0.1.0")
            .collection(LIKE)
            .collection(REPLY)
            .events(EventKinds::IDENTITY | EventKinds::ACCOUNT)
            .table(
                table("like")
                    .core()
                    .column("uri", ColumnKind::Text)
                    .column("cid", ColumnKind::Text)
                    .column("creator", ColumnKind::Text)
                    .column("subject", ColumnKind::Text)
                    .column("subjectCid", ColumnKind::Text)
                    .column("createdAt", ColumnKind::Text)
                    .column("indexedAt", ColumnKind::Text)
                    .primary_key(["uri"])
                    .unique(["subject", "creator"]),
            )
            .table(
                table("post_agg")
                    .core()
                    .column("uri", ColumnKind::Text)
                    .defaulted("likeCount", ColumnKind::Integer, 0)
                    .defaulted("replyCount", ColumnKind::Integer, 0)
                    .primary_key(["uri"]),
            )
            .table(
                table("actor")
                    .core()
                    .column("did", ColumnKind::Text)
                    .nullable("handle", ColumnKind::Text)
                    .column("indexedAt", ColumnKind::Text)
                    .nullable("upstreamStatus", ColumnKind::Text)
                    .primary_key(["did"])
                    .unique(["handle"]),
            )
            .table(
                table("reply")
                    .column("uri", ColumnKind::Text)
                    .column("creator", ColumnKind::Text)
                    .column("parent", ColumnKind::Text)
                    .column("parentExists", ColumnKind::Boolean)
                    .column("createdAt", ColumnKind::Timestamp)
                    .primary_key(["uri"])
                    .index(["parent"]),
            )
            .aggregate(count("like", "subject", "likeCount", vec![]))
            .aggregate(count(
                "reply",
                "parent",
                "replyCount",
                vec![Cell {
                    column: "parentExists".into(),
                    value: Value::Boolean(true),
                }],
            ))
            .build()
    }

    fn project(ctx: &mut Context<'_>, record: &Version<'_, Record>) -> Result<Vec<RowOp>, Error> {
        match record.rkey() {
            "internal" => return Err(Error::Internal("index-probe: internal on purpose".into())),
            "unsupported" => {
                return Err(Error::Unsupported("index-probe: skipped on purpose".into()));
            }
            _ => {}
        }
        let uri = record.uri.as_str();
        Ok(match &record.value {
            Record::Like {
                subject,
                created_at,
            } => vec![
                upsert("like")
                    .key("uri", uri)
                    .set("cid", record.cid)
                    .set("creator", record.did())
                    .set("subject", subject.uri.as_str())
                    .set("subjectCid", subject.cid.as_str())
                    .set("createdAt", created_at.as_str())
                    .set("indexedAt", record.indexed_at())
                    .into(),
            ],
            Record::Reply { parent, created_at } => {
                if !sluice_plugin_sdk::is_datetime(created_at) {
                    return Err(Error::invalid("createdAt is not a datetime"));
                }
                let exists = ctx.record(parent)?.is_some();
                vec![
                    upsert("reply")
                        .key("uri", uri)
                        .set("creator", record.did())
                        .set("parent", parent.as_str())
                        .set("parentExists", exists)
                        .set("createdAt", Value::timestamp(created_at.as_str()))
                        .into(),
                ]
            }
        })
    }

    fn index_event(_ctx: &mut Context<'_>, event: &NetworkEvent) -> Result<Vec<RowOp>, Error> {
        Ok(match event {
            NetworkEvent::Identity(identity) => vec![
                upsert("actor")
                    .key("did", identity.did.as_str())
                    .set("handle", identity.handle.as_deref())
                    .keep_existing("indexedAt", "1970-01-01T00:00:00.000Z")
                    .into(),
            ],
            NetworkEvent::Account(account) if account.status.as_deref() == Some("deleted") => {
                vec![delete("actor").matching("did", account.did.as_str()).into()]
            }
            NetworkEvent::Account(account) => vec![
                upsert("actor")
                    .key("did", account.did.as_str())
                    .set(
                        "upstreamStatus",
                        if account.active {
                            None
                        } else {
                            account.status.as_deref()
                        },
                    )
                    .keep_existing("indexedAt", "1970-01-01T00:00:00.000Z")
                    .into(),
            ],
            NetworkEvent::Label(_) => {
                return Err(Error::Unsupported("index-probe takes no labels".into()));
            }
        })
    }
}

register_plugin!(IndexProbe);
