//! The `app.bsky.graph.*` records this plugin indexes (only the fields the reference reads).

use ipld_core::ipld::Ipld;
use serde::Deserialize;
use sluice_bsky_common::lex::Blob;

/// `app.bsky.graph.follow` and `app.bsky.graph.block` (an account as subject).
#[derive(Debug, Clone, Deserialize)]
pub struct ActorSubject {
    /// The followed or blocked account.
    pub subject: String,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// `app.bsky.graph.listblock` and `app.bsky.graph.referencelistoptout` (a list as subject).
#[derive(Debug, Clone, Deserialize)]
pub struct ListSubject {
    /// The list's AT-URI.
    pub subject: String,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// `app.bsky.graph.list`.
#[derive(Debug, Clone, Deserialize)]
pub struct List {
    /// Its name.
    pub name: String,
    /// Its purpose (`app.bsky.graph.defs#modlist`, `#curatelist`, …).
    pub purpose: String,
    /// Description.
    pub description: Option<String>,
    /// Facets of the description (stored as JSON text).
    #[serde(rename = "descriptionFacets")]
    pub description_facets: Option<Ipld>,
    /// Avatar.
    pub avatar: Option<Blob>,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// `app.bsky.graph.listitem`.
#[derive(Debug, Clone, Deserialize)]
pub struct ListItem {
    /// The account on the list.
    pub subject: String,
    /// The list.
    pub list: String,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// `app.bsky.graph.starterpack`.
#[derive(Debug, Clone, Deserialize)]
pub struct StarterPack {
    /// Its name.
    pub name: String,
    /// The list of accounts it suggests.
    pub list: String,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// `app.bsky.graph.verification`.
#[derive(Debug, Clone, Deserialize)]
pub struct Verification {
    /// The verified account.
    pub subject: String,
    /// Its handle when verified.
    pub handle: String,
    /// Its display name when verified.
    #[serde(rename = "displayName")]
    pub display_name: String,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}
