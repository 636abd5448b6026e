//! `app.bsky.graph.list` → `list`, `app.bsky.graph.starterpack` → `starter_pack`.

use sluice_bsky_common::datetime::normalize_datetime_always;
use sluice_bsky_common::json::stringify;
use sluice_bsky_common::lex::Blob;
use sluice_bsky_common::{simple, timestamp};
use sluice_plugin_sdk::types::{RecordOp, RowOp};
use sluice_plugin_sdk::{Error, upsert};

use crate::records::{List, StarterPack};

/// Indexes one list operation.
pub fn index_list(op: &RecordOp) -> Result<Vec<RowOp>, Error> {
    simple::index::<List>(op, "list", |info, cid, list| {
        Ok(Some(
            upsert("list")
                .key("uri", info.uri.as_str())
                .set("cid", cid)
                .set("creator", info.op.did.as_str())
                .set("name", list.name.as_str())
                .set("purpose", list.purpose.as_str())
                .set("description", list.description.clone())
                .set(
                    "descriptionFacets",
                    list.description_facets.as_ref().map(stringify),
                )
                .set("avatarCid", list.avatar.as_ref().and_then(Blob::cid_string))
                .set(
                    "createdAt",
                    timestamp(&normalize_datetime_always(&list.created_at)),
                )
                .set("indexedAt", timestamp(info.indexed_at()))
                .into(),
        ))
    })
}

/// Indexes one starter pack operation.
pub fn index_starter_pack(op: &RecordOp) -> Result<Vec<RowOp>, Error> {
    simple::index::<StarterPack>(op, "starter_pack", |info, cid, pack| {
        Ok(Some(
            upsert("starter_pack")
                .key("uri", info.uri.as_str())
                .set("cid", cid)
                .set("creator", info.op.did.as_str())
                .set("name", pack.name.as_str())
                .set(
                    "createdAt",
                    timestamp(&normalize_datetime_always(&pack.created_at)),
                )
                .set("indexedAt", timestamp(info.indexed_at()))
                .into(),
        ))
    })
}
