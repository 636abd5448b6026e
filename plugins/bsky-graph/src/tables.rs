//! What `bsky_graph` declares: the reference tables it writes (exactly as `migrations/` creates
//! them) and the counts the host keeps for it.

use sluice_bsky_common::tables::{duplicate_record, notification, profile_agg};
use sluice_plugin_sdk::types::{Aggregate, ColumnKind, PluginInfo};
use sluice_plugin_sdk::{PluginInfoBuilder, TableBuilder, table};

use crate::COLLECTIONS;

/// The plugin's name.
pub const NAME: &str = "bsky_graph";

/// The declaration.
pub fn describe() -> PluginInfo {
    let mut builder = PluginInfoBuilder::new(NAME, env!("CARGO_PKG_VERSION"));
    for collection in COLLECTIONS {
        builder = builder.collection(collection);
    }
    for table in [
        relation("follow", "subjectDid")
            .unique(["creator", "subjectDid"])
            .index(["creator"])
            .index(["subjectDid"]),
        relation("actor_block", "subjectDid")
            .unique(["creator", "subjectDid"])
            .index(["creator"]),
        relation("list_block", "subjectUri")
            .unique(["creator", "subjectUri"])
            .index(["creator"]),
        relation("reference_list_opt_out", "subjectUri")
            .unique(["creator", "subjectUri"])
            .index(["creator"]),
        list_item(),
        list(),
        starter_pack(),
        verification(),
        duplicate_record(),
        notification(),
        profile_agg(),
    ] {
        builder = builder.table(table);
    }
    for (group_by, column) in [
        ("subjectDid", "followersCount"),
        ("creator", "followsCount"),
    ] {
        builder = builder.aggregate(Aggregate {
            source: "follow".into(),
            group_by: group_by.into(),
            filter: Vec::new(),
            target: "profile_agg".into(),
            target_key: "did".into(),
            target_column: column.into(),
        });
    }
    builder.build()
}

/// uri, cid, creator, a subject column, createdAt, indexedAt.
fn relation(name: &str, subject: &str) -> TableBuilder {
    table(name)
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("creator", ColumnKind::Text)
        .column(subject, ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .column("indexedAt", ColumnKind::Timestamp)
        .primary_key(["uri"])
}

fn list_item() -> TableBuilder {
    table("list_item")
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("creator", ColumnKind::Text)
        .column("subjectDid", ColumnKind::Text)
        .column("listUri", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .column("indexedAt", ColumnKind::Timestamp)
        .primary_key(["uri"])
        .unique(["listUri", "subjectDid"])
        .index(["creator"])
        .index(["subjectDid"])
}

fn list() -> TableBuilder {
    table("list")
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("creator", ColumnKind::Text)
        .column("name", ColumnKind::Text)
        .column("purpose", ColumnKind::Text)
        .nullable("description", ColumnKind::Text)
        .nullable("descriptionFacets", ColumnKind::Text)
        .nullable("avatarCid", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .column("indexedAt", ColumnKind::Timestamp)
        .primary_key(["uri"])
        .index(["creator"])
}

fn starter_pack() -> TableBuilder {
    table("starter_pack")
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("creator", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .column("indexedAt", ColumnKind::Timestamp)
        .nullable("name", ColumnKind::Text)
        .primary_key(["uri"])
}

fn verification() -> TableBuilder {
    table("verification")
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("rkey", ColumnKind::Text)
        .column("creator", ColumnKind::Text)
        .column("subject", ColumnKind::Text)
        .column("handle", ColumnKind::Text)
        .column("displayName", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .column("indexedAt", ColumnKind::Timestamp)
        .primary_key(["uri"])
        .unique(["subject", "creator"])
}
