//! The `app.bsky.feed.*` records this plugin indexes, as their lexicons define them (only the
//! fields the reference reads; others are ignored).

use ipld_core::ipld::Ipld;
use serde::Deserialize;
use sluice_bsky_common::lex::{Blob, Facet, StrongRef};

/// `app.bsky.feed.post`.
#[derive(Debug, Clone, Deserialize)]
pub struct Post {
    /// The text.
    pub text: String,
    /// Rich-text facets.
    pub facets: Option<Vec<Facet>>,
    /// The thread this post replies in.
    pub reply: Option<ReplyRef>,
    /// An embed.
    pub embed: Option<Embed>,
    /// Languages.
    pub langs: Option<Vec<String>>,
    /// Extra hashtags.
    pub tags: Option<Vec<String>>,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// `app.bsky.feed.post#replyRef`.
#[derive(Debug, Clone, Deserialize)]
pub struct ReplyRef {
    /// The thread's root post.
    pub root: StrongRef,
    /// The post replied to.
    pub parent: StrongRef,
}

/// One image of `app.bsky.embed.images`.
#[derive(Debug, Clone, Deserialize)]
pub struct Image {
    /// The image blob.
    pub image: Blob,
    /// Alt text.
    pub alt: String,
}

/// `app.bsky.embed.external#external`.
#[derive(Debug, Clone, Deserialize)]
pub struct External {
    /// The link.
    pub uri: String,
    /// Its title.
    pub title: String,
    /// Its description.
    pub description: String,
    /// A thumbnail.
    pub thumb: Option<Blob>,
}

/// An item of `app.bsky.embed.gallery`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "$type")]
pub enum GalleryItem {
    /// `app.bsky.embed.gallery#image`.
    #[serde(rename = "app.bsky.embed.gallery#image")]
    Image {
        /// The image blob.
        image: Blob,
        /// Alt text.
        alt: String,
    },
    /// An item of a type this version does not know (skipped, as the reference does).
    #[serde(other)]
    Other,
}

/// `app.bsky.embed.record`'s content (also the record part of a record-with-media).
#[derive(Debug, Clone, Deserialize)]
pub struct RecordEmbed {
    /// The embedded record.
    pub record: StrongRef,
}

/// The media of `app.bsky.embed.recordWithMedia`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "$type")]
pub enum Media {
    /// Images.
    #[serde(rename = "app.bsky.embed.images")]
    Images {
        /// The images.
        images: Vec<Image>,
    },
    /// A video.
    #[serde(rename = "app.bsky.embed.video")]
    Video {
        /// The video blob.
        video: Blob,
        /// Alt text.
        alt: Option<String>,
    },
    /// A gallery.
    #[serde(rename = "app.bsky.embed.gallery")]
    Gallery {
        /// Its items.
        items: Vec<GalleryItem>,
    },
    /// A link card.
    #[serde(rename = "app.bsky.embed.external")]
    External {
        /// The card.
        external: External,
    },
    /// Media of a type this version does not know.
    #[serde(other)]
    Other,
}

/// The `embed` union of a post.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "$type")]
pub enum Embed {
    /// Images.
    #[serde(rename = "app.bsky.embed.images")]
    Images {
        /// The images.
        images: Vec<Image>,
    },
    /// A video.
    #[serde(rename = "app.bsky.embed.video")]
    Video {
        /// The video blob.
        video: Blob,
        /// Alt text.
        alt: Option<String>,
    },
    /// A gallery.
    #[serde(rename = "app.bsky.embed.gallery")]
    Gallery {
        /// Its items.
        items: Vec<GalleryItem>,
    },
    /// A link card.
    #[serde(rename = "app.bsky.embed.external")]
    External {
        /// The card.
        external: External,
    },
    /// A quoted record.
    #[serde(rename = "app.bsky.embed.record")]
    Record {
        /// The quoted record.
        record: StrongRef,
    },
    /// A quoted record with media.
    #[serde(rename = "app.bsky.embed.recordWithMedia")]
    RecordWithMedia {
        /// The quoted record.
        record: RecordEmbed,
        /// The media.
        media: Media,
    },
    /// An embed of a type this version does not know (no embed rows, as the reference).
    #[serde(other)]
    Other,
}

impl Embed {
    /// The record a post quotes (`app.bsky.embed.record`, or the record of a
    /// record-with-media).
    pub fn quoted(&self) -> Option<&StrongRef> {
        match self {
            Embed::Record { record } => Some(record),
            Embed::RecordWithMedia { record, .. } => Some(&record.record),
            _ => None,
        }
    }
}

/// `app.bsky.feed.like` and `app.bsky.feed.repost` (the same shape).
#[derive(Debug, Clone, Deserialize)]
pub struct Interaction {
    /// The liked or reposted record.
    pub subject: StrongRef,
    /// The repost through which the subject was seen.
    pub via: Option<StrongRef>,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// `app.bsky.feed.generator`.
#[derive(Debug, Clone, Deserialize)]
pub struct Generator {
    /// The feed service's DID.
    pub did: String,
    /// Display name.
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
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

/// `app.bsky.feed.threadgate`.
#[derive(Debug, Clone, Deserialize)]
pub struct Threadgate {
    /// The gated post.
    pub post: String,
    /// Who may reply; absent: anyone; empty: nobody.
    pub allow: Option<Vec<AllowRule>>,
    /// Replies hidden by the author.
    #[serde(rename = "hiddenReplies")]
    pub hidden_replies: Option<Vec<String>>,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// A rule of a thread gate's `allow`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "$type")]
pub enum AllowRule {
    /// Accounts mentioned in the root post.
    #[serde(rename = "app.bsky.feed.threadgate#mentionRule")]
    Mention {},
    /// Accounts following the root's author.
    #[serde(rename = "app.bsky.feed.threadgate#followerRule")]
    Follower {},
    /// Accounts the root's author follows.
    #[serde(rename = "app.bsky.feed.threadgate#followingRule")]
    Following {},
    /// Accounts on a list.
    #[serde(rename = "app.bsky.feed.threadgate#listRule")]
    List {
        /// The list.
        list: String,
    },
    /// A rule this version does not know (it allows nobody more).
    #[serde(other)]
    Other,
}

/// `app.bsky.feed.postgate`.
#[derive(Debug, Clone, Deserialize)]
pub struct Postgate {
    /// The gated post.
    pub post: String,
    /// Embedding rules; absent or empty: anyone may embed.
    #[serde(rename = "embeddingRules")]
    pub embedding_rules: Option<Vec<EmbeddingRule>>,
    /// Client-declared creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// A rule of a post gate's `embeddingRules`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "$type")]
pub enum EmbeddingRule {
    /// Nobody but the author may embed the post.
    #[serde(rename = "app.bsky.feed.postgate#disableRule")]
    Disable {},
    /// A rule this version does not know.
    #[serde(other)]
    Other,
}
