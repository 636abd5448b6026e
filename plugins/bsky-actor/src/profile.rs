//! `app.bsky.actor.profile` → `profile` (key `self` only), with the `starterpack-joined`
//! notification; `app.bsky.labeler.service` → `labeler` (key `self` only).

use sluice_bsky_common::datetime::normalize_datetime_always;
use sluice_bsky_common::lex::Blob;
use sluice_bsky_common::notify::{Notification, notifies};
use sluice_bsky_common::op::{OpInfo, refuse_nul};
use sluice_bsky_common::uri::authority;
use sluice_bsky_common::{simple, timestamp};
use sluice_plugin_sdk::types::{Action, RecordOp, RowOp};
use sluice_plugin_sdk::{Error, decode, delete, is_datetime, upsert};

use crate::records::{LabelerService, Profile};

/// The only record key these collections index.
const SELF: &str = "self";

/// Indexes one profile operation. The row's `createdAt` is the record's, as written (the
/// reference does not normalise it), or the indexing time when the record has none.
pub fn index_profile(op: &RecordOp) -> Result<Vec<RowOp>, Error> {
    let info = OpInfo::new(op);
    let removal: RowOp = delete("profile").matching("uri", info.uri.as_str()).into();
    let stored = match (&op.action, &op.record) {
        (Action::Delete, _) | (_, None) => return Ok(vec![removal]),
        (_, Some(stored)) => stored,
    };
    let profile: Profile = decode(&stored.body)?;
    if op.rkey != SELF {
        return Ok(vec![removal]);
    }
    let created_at = profile
        .created_at
        .clone()
        .unwrap_or_else(|| op.indexed_at.clone());
    if !is_datetime(&created_at) {
        return Err(Error::invalid(format_args!(
            "createdAt {created_at:?} is not a datetime"
        )));
    }
    let joined = profile.joined_via_starter_pack.as_ref();
    let mut ops = vec![
        upsert("profile")
            .key("uri", info.uri.as_str())
            .set("cid", stored.cid.as_str())
            .set("creator", op.did.as_str())
            .set("displayName", profile.display_name.clone())
            .set("description", profile.description.clone())
            .set(
                "avatarCid",
                profile.avatar.as_ref().and_then(Blob::cid_string),
            )
            .set(
                "bannerCid",
                profile.banner.as_ref().and_then(Blob::cid_string),
            )
            .set(
                "joinedViaStarterPackUri",
                joined.map(|pack| pack.uri.as_str()),
            )
            .set("createdAt", timestamp(&created_at))
            .set("indexedAt", timestamp(&op.indexed_at))
            .into(),
    ];
    // Only a profile's first indexing notifies (the reference's insert; an update keeps the
    // notification and adds none).
    let first = op.action == Action::Create || op.previous.is_none();
    if first
        && let Some(pack) = joined
        && let Some(pack_author) = authority(&pack.uri)
        && notifies(&normalize_datetime_always(&created_at), &op.indexed_at)
    {
        ops.push(
            Notification {
                did: pack_author.to_owned(),
                author: op.did.clone(),
                record_uri: info.uri.clone(),
                record_cid: stored.cid.clone(),
                reason: "starterpack-joined",
                reason_subject: Some(pack.uri.clone()),
                sort_at: op.indexed_at.clone(),
            }
            .upsert(),
        );
    }
    refuse_nul(ops)
}

/// Indexes one labeler service operation.
pub fn index_labeler(op: &RecordOp) -> Result<Vec<RowOp>, Error> {
    simple::index::<LabelerService>(op, "labeler", |info, cid, service| {
        if info.op.rkey != SELF {
            return Ok(None);
        }
        Ok(Some(
            upsert("labeler")
                .key("uri", info.uri.as_str())
                .set("cid", cid)
                .set("creator", info.op.did.as_str())
                .set(
                    "createdAt",
                    timestamp(&normalize_datetime_always(&service.created_at)),
                )
                .set("indexedAt", timestamp(info.indexed_at()))
                .into(),
        ))
    })
}
