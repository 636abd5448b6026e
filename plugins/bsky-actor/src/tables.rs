//! What `bsky_actor` declares: the reference tables it writes (exactly as `migrations/` creates
//! them).

use sluice_bsky_common::tables::notification;
use sluice_plugin_sdk::types::{ColumnKind, EventKinds, PluginInfo, Value};
use sluice_plugin_sdk::{PluginInfoBuilder, TableBuilder, table};

use crate::COLLECTIONS;

/// The plugin's name.
pub const NAME: &str = "bsky_actor";

/// The declaration.
pub fn describe() -> PluginInfo {
    let mut builder = PluginInfoBuilder::new(NAME, env!("CARGO_PKG_VERSION"))
        .events(EventKinds::IDENTITY | EventKinds::ACCOUNT);
    for collection in COLLECTIONS {
        builder = builder.collection(collection);
    }
    builder
        .table(actor())
        .table(profile())
        .table(labeler())
        .table(notification())
        .build()
}

fn actor() -> TableBuilder {
    table("actor")
        .core()
        .column("did", ColumnKind::Text)
        .nullable("handle", ColumnKind::Text)
        .column("indexedAt", ColumnKind::Timestamp)
        .nullable("takedownRef", ColumnKind::Text)
        .nullable("upstreamStatus", ColumnKind::Text)
        .defaulted(
            "trustedVerifier",
            ColumnKind::Boolean,
            Value::Boolean(false),
        )
        .nullable("ageAssuranceStatus", ColumnKind::Text)
        .nullable("ageAssuranceLastInitiatedAt", ColumnKind::Timestamp)
        .nullable("ageAssuranceAccess", ColumnKind::Text)
        .nullable("ageAssuranceCountryCode", ColumnKind::Text)
        .nullable("ageAssuranceRegionCode", ColumnKind::Text)
        .primary_key(["did"])
        .unique(["handle"])
}

fn profile() -> TableBuilder {
    table("profile")
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("creator", ColumnKind::Text)
        .nullable("displayName", ColumnKind::Text)
        .nullable("description", ColumnKind::Text)
        .nullable("avatarCid", ColumnKind::Text)
        .nullable("bannerCid", ColumnKind::Text)
        .column("indexedAt", ColumnKind::Timestamp)
        .nullable("joinedViaStarterPackUri", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .nullable("pinnedPost", ColumnKind::Text)
        .nullable("pinnedPostCid", ColumnKind::Text)
        .primary_key(["uri"])
        .index(["creator"])
}

fn labeler() -> TableBuilder {
    table("labeler")
        .core()
        .column("uri", ColumnKind::Text)
        .column("cid", ColumnKind::Text)
        .column("creator", ColumnKind::Text)
        .column("createdAt", ColumnKind::Timestamp)
        .column("indexedAt", ColumnKind::Timestamp)
        .primary_key(["uri"])
}
