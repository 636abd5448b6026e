//! `app.bsky.feed.generator` → `feed_generator`.

use sluice_bsky_common::datetime::normalize_datetime_always;
use sluice_bsky_common::json::stringify;
use sluice_bsky_common::{simple, timestamp};
use sluice_plugin_sdk::types::{RecordOp, RowOp};
use sluice_plugin_sdk::{Error, upsert};

use crate::records::Generator;

/// Indexes one feed generator operation.
pub fn index(op: &RecordOp) -> Result<Vec<RowOp>, Error> {
    simple::index::<Generator>(op, "feed_generator", |info, cid, generator| {
        Ok(Some(
            upsert("feed_generator")
                .key("uri", info.uri.as_str())
                .set("cid", cid)
                .set("creator", info.op.did.as_str())
                .set("feedDid", generator.did.as_str())
                .set("displayName", generator.display_name.clone())
                .set("description", generator.description.clone())
                .set(
                    "descriptionFacets",
                    generator.description_facets.as_ref().map(stringify),
                )
                .set(
                    "avatarCid",
                    generator
                        .avatar
                        .as_ref()
                        .and_then(sluice_bsky_common::lex::Blob::cid_string),
                )
                .set(
                    "createdAt",
                    timestamp(&normalize_datetime_always(&generator.created_at)),
                )
                .set("indexedAt", timestamp(info.indexed_at()))
                .into(),
        ))
    })
}
