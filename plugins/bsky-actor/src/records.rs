//! The account-level records this plugin indexes (only the fields the reference reads; the
//! others are decoded just enough to refuse records that break their lexicon's required
//! fields).

use serde::Deserialize;
use sluice_bsky_common::lex::{Blob, StrongRef};

/// `app.bsky.actor.profile`.
#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    /// Display name.
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Avatar.
    pub avatar: Option<Blob>,
    /// Banner.
    pub banner: Option<Blob>,
    /// The starter pack the account joined through.
    #[serde(rename = "joinedViaStarterPack")]
    pub joined_via_starter_pack: Option<StrongRef>,
    /// Client-declared creation time (optional).
    #[serde(rename = "createdAt")]
    pub created_at: Option<String>,
}

/// `app.bsky.labeler.service`.
#[derive(Debug, Clone, Deserialize)]
pub struct LabelerService {
    /// The labeler's policies (required; not indexed).
    pub policies: serde::de::IgnoredAny,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// `app.bsky.actor.status` (no rows: the record itself is what the AppView reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    /// The status.
    pub status: String,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// `chat.bsky.actor.declaration` (no rows).
#[derive(Debug, Clone, Deserialize)]
pub struct ChatDeclaration {
    /// Who may start a chat.
    #[serde(rename = "allowIncoming")]
    pub allow_incoming: String,
}

/// `app.bsky.notification.declaration` (no rows).
#[derive(Debug, Clone, Deserialize)]
pub struct NotificationDeclaration {
    /// Who may subscribe to the account's activity.
    #[serde(rename = "allowSubscriptions")]
    pub allow_subscriptions: String,
}

/// `com.germnetwork.declaration` (no rows).
#[derive(Debug, Clone, Deserialize)]
pub struct GermDeclaration {
    /// Protocol version.
    pub version: String,
    /// The current key (bytes).
    #[serde(rename = "currentKey")]
    pub current_key: serde::de::IgnoredAny,
}
