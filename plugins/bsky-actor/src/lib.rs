//! The Bluesky actor plugin (`bsky_actor`): `app.bsky.actor.profile` and
//! `app.bsky.labeler.service` into `profile` and `labeler`; `app.bsky.actor.status`,
//! `chat.bsky.actor.declaration`, `app.bsky.notification.declaration` and
//! `com.germnetwork.declaration`, which the reference stores as records only (claiming them
//! makes the host keep their `record` rows); identity and account events into `actor`. See
//! `plugins/README.md` (Bluesky).
//!
//! Build the component with `cargo build --release --target wasm32-wasip2 -p sluice-bsky-actor`.

pub mod events;
pub mod profile;
pub mod records;
pub mod tables;

use sluice_plugin_sdk::decode;
use sluice_plugin_sdk::prelude::*;
use sluice_plugin_sdk::types::{Action, RecordOp};

/// `app.bsky.actor.profile`.
pub const PROFILE: &str = "app.bsky.actor.profile";
/// `app.bsky.actor.status`.
pub const STATUS: &str = "app.bsky.actor.status";
/// `app.bsky.labeler.service`.
pub const LABELER: &str = "app.bsky.labeler.service";
/// `chat.bsky.actor.declaration`.
pub const CHAT_DECLARATION: &str = "chat.bsky.actor.declaration";
/// `app.bsky.notification.declaration`.
pub const NOTIFICATION_DECLARATION: &str = "app.bsky.notification.declaration";
/// `com.germnetwork.declaration`.
pub const GERM_DECLARATION: &str = "com.germnetwork.declaration";

/// Every collection the plugin claims.
pub const COLLECTIONS: [&str; 6] = [
    PROFILE,
    STATUS,
    LABELER,
    CHAT_DECLARATION,
    NOTIFICATION_DECLARATION,
    GERM_DECLARATION,
];

/// The plugin.
#[derive(Debug)]
pub struct BskyActor;

impl Plugin for BskyActor {
    /// Unused: every collection is decoded into its own type by [`Plugin::index_record`].
    type Record = serde::de::IgnoredAny;

    fn describe() -> PluginInfo {
        tables::describe()
    }

    fn project(
        _ctx: &mut Context<'_>,
        _record: &Version<'_, serde::de::IgnoredAny>,
    ) -> Result<Vec<RowOp>, Error> {
        Err(Error::Internal(
            "bsky_actor indexes through index_record, not project".to_owned(),
        ))
    }

    fn index_record(_ctx: &mut Context<'_>, op: &RecordOp) -> Result<Vec<RowOp>, Error> {
        match op.collection.as_str() {
            PROFILE => profile::index_profile(op),
            LABELER => profile::index_labeler(op),
            STATUS => record_only::<records::Status>(op),
            CHAT_DECLARATION => record_only::<records::ChatDeclaration>(op),
            NOTIFICATION_DECLARATION => record_only::<records::NotificationDeclaration>(op),
            GERM_DECLARATION => record_only::<records::GermDeclaration>(op),
            other => Err(Error::Unsupported(format!(
                "bsky_actor does not index {other}"
            ))),
        }
    }

    fn index_event(ctx: &mut Context<'_>, event: &NetworkEvent) -> Result<Vec<RowOp>, Error> {
        match event {
            NetworkEvent::Identity(identity) => events::identity(ctx, identity, &now()),
            NetworkEvent::Account(account) => events::account(ctx, account),
            NetworkEvent::Label(_) => Err(Error::Unsupported(
                "bsky_actor does not index labels".to_owned(),
            )),
        }
    }
}

/// A collection the reference stores as a record and indexes no row for: the record is checked
/// against its lexicon's required fields (an invalid one is not stored), nothing is written.
fn record_only<R: serde::de::DeserializeOwned>(op: &RecordOp) -> Result<Vec<RowOp>, Error> {
    if let (Action::Create | Action::Update, Some(stored)) = (&op.action, &op.record) {
        decode::<R>(&stored.body)?;
    }
    Ok(Vec::new())
}

/// The current time as the reference writes it (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
///
/// Network events carry no time in `sluice:indexer@0.1.0`, so `actor.indexedAt` is the time the
/// plugin runs — the one input of this plugin that is not in its arguments (see the Bluesky
/// section of `plugins/README.md`).
fn now() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(0));
    sluice_bsky_common::datetime::format_millis(millis)
        .unwrap_or_else(|| sluice_bsky_common::datetime::EPOCH.to_owned())
}

register_plugin!(BskyActor);
