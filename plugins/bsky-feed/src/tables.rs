//! What `bsky_feed` declares: the reference tables it writes and reads (exactly as
//! `migrations/` creates them) and the counts the host keeps for it.

use sluice_bsky_common::tables::{
    RECORD, duplicate_record, notification, post_agg, profile_agg, thread_mute,
};
use sluice_plugin_sdk::types::{Aggregate, Cell, ColumnKind, PluginInfo, Value};
use sluice_plugin_sdk::{PluginInfoBuilder, TableBuilder, table};

use crate::COLLECTIONS;

/// The plugin's name.
pub const NAME: &str = "bsky_feed";

/// The declaration.
pub fn describe() -> PluginInfo {
    let mut builder = PluginInfoBuilder::new(NAME, env!("CARGO_PKG_VERSION"));
    for collection in COLLECTIONS {
        builder = builder.collection(collection);
    }
    for table in [
        post(),
        post_agg(),
        profile_agg(),
        feed_item(),
        embed_image("post_embed_image"),
        embed_image("post_embed_gallery_image"),
        embed_external(),
        embed_record(),
        embed_video(),
        quote(),
        interaction("like").unique(["subject", "creator"]),
        interaction("repost").unique(["creator", "subject"]),
        feed_generator(),
        gate("thread_gate"),
        gate("post_gate"),
        op_thread_reply(),
        duplicate_record(),
        notification(),
        thread_mute(),
    ] {
        builder = builder.table(table);
    }
    for aggregate in [
        count("like", "subject", &[], "post_agg", "uri", "likeCount"),
        count("repost", "subject", &[], "post_agg", "uri", "repostCount"),
        count("quote", "subject", &[], "post_agg", "uri", "quoteCount"),
        count(
            "post",
            "replyParent",
            &[("violatesThreadGate", Value::Boolean(false))],
            "post_agg",
            "uri",
            "replyCount",
        ),
        count("post", "creator", &[], "profile_agg", "did", "postsCount"),
    ] {
        builder = builder.aggregate(aggregate);
    }
    builder
        .reads("follow")
        .reads("list_item")
        .reads(RECORD)
        .build()
}

fn count(
    source: &str,
    group_by: &str,
    filter: &[(&str, Value)],
    target: &str,
    target_key: &str,
    target_column: &str,
) -> Aggregate {
    Aggregate {
        source: source.into(),
        group_by: group_by.into(),
        filter: filter
            .iter()
            .map(|(column, value)| Cell {
                column: (*column).into(),
                value: value.clone(),
            })
            .collect(),
        target: target.into(),
        target_key: target_key.into(),
        target_column: target_column.into(),
    }
}

fn post() -> TableBuilder {
    table("post")
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("creator", ColumnKind::Text)
        .column("text", ColumnKind::Text)
        .nullable("replyRoot", ColumnKind::Text)
        .nullable("replyRootCid", ColumnKind::Text)
        .nullable("replyParent", ColumnKind::Text)
        .nullable("replyParentCid", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .column("indexedAt", ColumnKind::Timestamp)
        .nullable("langs", ColumnKind::Json)
        .nullable("invalidReplyRoot", ColumnKind::Boolean)
        .nullable("violatesThreadGate", ColumnKind::Boolean)
        .nullable("tags", ColumnKind::Json)
        .nullable("violatesEmbeddingRules", ColumnKind::Boolean)
        .nullable("hasThreadGate", ColumnKind::Boolean)
        .nullable("hasPostGate", ColumnKind::Boolean)
        .primary_key(["uri"])
        .index(["creator"])
        .index(["replyParent"])
}

fn feed_item() -> TableBuilder {
    table("feed_item")
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("type", ColumnKind::Text)
        .column("postUri", ColumnKind::Text)
        .column("originatorDid", ColumnKind::Text)
        .column("sortAt", ColumnKind::Timestamp)
        .primary_key(["uri"])
        .index(["postUri"])
}

fn embed_image(name: &str) -> TableBuilder {
    table(name)
        .core()
        .column("postUri", ColumnKind::Text)
        .column("position", ColumnKind::Text)
        .column("imageCid", ColumnKind::Text)
        .column("alt", ColumnKind::Text)
        .primary_key(["postUri", "position"])
        .index(["postUri"])
}

fn embed_external() -> TableBuilder {
    table("post_embed_external")
        .core()
        .column("postUri", ColumnKind::Text)
        .column("uri", ColumnKind::Text)
        .column("title", ColumnKind::Text)
        .column("description", ColumnKind::Text)
        .nullable("thumbCid", ColumnKind::Text)
        .primary_key(["postUri"])
}

fn embed_record() -> TableBuilder {
    table("post_embed_record")
        .core()
        .column("postUri", ColumnKind::Text)
        .column("embedUri", ColumnKind::Text)
        .column("embedCid", ColumnKind::Text)
        .primary_key(["postUri", "embedUri"])
        .index(["postUri"])
}

fn embed_video() -> TableBuilder {
    table("post_embed_video")
        .core()
        .column("postUri", ColumnKind::Text)
        .column("videoCid", ColumnKind::Text)
        .nullable("alt", ColumnKind::Text)
        .primary_key(["postUri"])
}

fn quote() -> TableBuilder {
    table("quote")
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("subject", ColumnKind::Text)
        .column("subjectCid", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .column("indexedAt", ColumnKind::Timestamp)
        .primary_key(["uri"])
        .index(["subject"])
}

fn interaction(name: &str) -> TableBuilder {
    table(name)
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("creator", ColumnKind::Text)
        .column("subject", ColumnKind::Text)
        .column("subjectCid", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .column("indexedAt", ColumnKind::Timestamp)
        .nullable("via", ColumnKind::Text)
        .nullable("viaCid", ColumnKind::Text)
        .primary_key(["uri"])
}

fn feed_generator() -> TableBuilder {
    table("feed_generator")
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("creator", ColumnKind::Text)
        .column("feedDid", ColumnKind::Text)
        .nullable("displayName", ColumnKind::Text)
        .nullable("description", ColumnKind::Text)
        .nullable("descriptionFacets", ColumnKind::Text)
        .nullable("avatarCid", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .column("indexedAt", ColumnKind::Timestamp)
        .primary_key(["uri"])
        .index(["creator"])
}

fn gate(name: &str) -> TableBuilder {
    table(name)
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("creator", ColumnKind::Text)
        .column("postUri", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .column("indexedAt", ColumnKind::Timestamp)
        .primary_key(["uri"])
        .unique(["postUri"])
}

fn op_thread_reply() -> TableBuilder {
    table("op_thread_reply")
        .core()
        .column("rootUri", ColumnKind::Text)
        .column("parentUri", ColumnKind::Text)
        .column("uri", ColumnKind::Text)
        .nullable("deletedAt", ColumnKind::Timestamp)
        .primary_key(["rootUri", "uri"])
        .index(["uri"])
}
