//! A benchmark guest: a realistic subset of what the Bluesky post plugin will do with an
//! `app.bsky.feed.post` record: decode it fully (text, facets, langs, tags, reply, embeds), then
//! write the post row, its embed rows and its feed item. No lookups, so it measures decoding,
//! projection and the WASM boundary.

use serde::Deserialize;
use sluice_plugin_sdk::Cid;
use sluice_plugin_sdk::prelude::*;

/// `com.atproto.repo.strongRef`.
#[derive(Debug, Deserialize)]
pub struct StrongRef {
    /// AT-URI.
    pub uri: String,
    /// CID (as a string).
    pub cid: String,
}

/// `app.bsky.feed.post#replyRef`.
#[derive(Debug, Deserialize)]
pub struct ReplyRef {
    /// The thread's root.
    pub root: StrongRef,
    /// The post replied to.
    pub parent: StrongRef,
}

/// A blob reference.
#[derive(Debug, Deserialize)]
pub struct Blob {
    /// The blob's CID.
    #[serde(rename = "ref")]
    pub reference: Cid,
    /// Its MIME type.
    #[serde(rename = "mimeType")]
    pub mime_type: String,
    /// Its size in bytes.
    pub size: i64,
}

/// One image of an images embed.
#[derive(Debug, Deserialize)]
pub struct Image {
    /// The image blob.
    pub image: Blob,
    /// Alt text.
    pub alt: String,
}

/// An external link card.
#[derive(Debug, Deserialize)]
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

/// The media part of an embed.
#[derive(Debug, Deserialize)]
#[serde(tag = "$type")]
pub enum Media {
    /// Images.
    #[serde(rename = "app.bsky.embed.images")]
    Images {
        /// The images.
        images: Vec<Image>,
    },
    /// A link card.
    #[serde(rename = "app.bsky.embed.external")]
    External {
        /// The card.
        external: External,
    },
}

/// The record part of a record-with-media embed.
#[derive(Debug, Deserialize)]
pub struct RecordEmbed {
    /// The quoted record.
    pub record: StrongRef,
}

/// `app.bsky.feed.post#embed`.
#[derive(Debug, Deserialize)]
#[serde(tag = "$type")]
pub enum Embed {
    /// Images.
    #[serde(rename = "app.bsky.embed.images")]
    Images {
        /// The images.
        images: Vec<Image>,
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
}

/// A rich-text facet's byte range.
#[derive(Debug, Deserialize)]
pub struct ByteSlice {
    /// Start (inclusive).
    #[serde(rename = "byteStart")]
    pub byte_start: i64,
    /// End (exclusive).
    #[serde(rename = "byteEnd")]
    pub byte_end: i64,
}

/// A facet feature.
#[derive(Debug, Deserialize)]
#[serde(tag = "$type")]
pub enum Feature {
    /// A mention.
    #[serde(rename = "app.bsky.richtext.facet#mention")]
    Mention {
        /// The mentioned DID.
        did: String,
    },
    /// A link.
    #[serde(rename = "app.bsky.richtext.facet#link")]
    Link {
        /// The URI.
        uri: String,
    },
    /// A hashtag.
    #[serde(rename = "app.bsky.richtext.facet#tag")]
    Tag {
        /// The tag.
        tag: String,
    },
}

/// A rich-text facet.
#[derive(Debug, Deserialize)]
pub struct Facet {
    /// Where.
    pub index: ByteSlice,
    /// What.
    pub features: Vec<Feature>,
}

/// `app.bsky.feed.post`.
#[derive(Debug, Deserialize)]
pub struct Post {
    /// The text.
    pub text: String,
    /// Rich-text facets.
    pub facets: Option<Vec<Facet>>,
    /// Languages.
    pub langs: Option<Vec<String>>,
    /// Extra hashtags.
    pub tags: Option<Vec<String>>,
    /// The reply it is part of.
    pub reply: Option<ReplyRef>,
    /// An embed.
    pub embed: Option<Embed>,
    /// When it was written.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// The plugin.
pub struct BenchPost;

impl Plugin for BenchPost {
    type Record = Post;

    fn describe() -> PluginInfo {
        PluginInfoBuilder::new("bench_post", "0.1.0")
            .collection("app.bsky.feed.post")
            .table(
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
                    .nullable("langs", ColumnKind::Json)
                    .nullable("tags", ColumnKind::Json)
                    .column("createdAt", ColumnKind::Text)
                    .column("indexedAt", ColumnKind::Text)
                    .primary_key(["uri"])
                    .index(["creator"]),
            )
            .table(
                table("post_embed_image")
                    .core()
                    .column("postUri", ColumnKind::Text)
                    .column("position", ColumnKind::Text)
                    .column("imageCid", ColumnKind::Text)
                    .column("alt", ColumnKind::Text)
                    .primary_key(["postUri", "position"]),
            )
            .table(
                table("post_embed_external")
                    .core()
                    .column("postUri", ColumnKind::Text)
                    .column("uri", ColumnKind::Text)
                    .column("title", ColumnKind::Text)
                    .column("description", ColumnKind::Text)
                    .nullable("thumbCid", ColumnKind::Text)
                    .primary_key(["postUri"]),
            )
            .table(
                table("post_embed_record")
                    .core()
                    .column("postUri", ColumnKind::Text)
                    .column("embedUri", ColumnKind::Text)
                    .column("embedCid", ColumnKind::Text)
                    .primary_key(["postUri", "embedUri"]),
            )
            .table(
                table("feed_item")
                    .core()
                    .column("uri", ColumnKind::Text)
                    .column("cid", ColumnKind::Text)
                    .column("type", ColumnKind::Text)
                    .column("postUri", ColumnKind::Text)
                    .column("originatorDid", ColumnKind::Text)
                    .column("sortAt", ColumnKind::Text)
                    .primary_key(["uri"]),
            )
            .build()
    }

    fn project(_ctx: &mut Context<'_>, record: &Version<'_, Post>) -> Result<Vec<RowOp>, Error> {
        let post = &record.value;
        let uri = record.uri.as_str();
        if post.text.len() > 3000 {
            return Err(Error::invalid("text longer than 3000 bytes"));
        }
        for facet in post.facets.iter().flatten() {
            if facet.index.byte_start > facet.index.byte_end || facet.features.is_empty() {
                return Err(Error::invalid("malformed facet"));
            }
        }
        let sort_at = post.created_at.as_str().min(record.indexed_at());
        let json_list = |list: &Option<Vec<String>>| {
            list.as_ref()
                .map(|items| {
                    Value::json(serde_json::to_string(items).unwrap_or_else(|_| "[]".into()))
                })
                .unwrap_or(Value::Null)
        };
        let mut ops: Vec<RowOp> = Vec::with_capacity(4);
        ops.push(
            upsert("post")
                .key("uri", uri)
                .set("cid", record.cid)
                .set("creator", record.did())
                .set("text", post.text.as_str())
                .set(
                    "replyRoot",
                    post.reply.as_ref().map(|r| r.root.uri.as_str()),
                )
                .set(
                    "replyRootCid",
                    post.reply.as_ref().map(|r| r.root.cid.as_str()),
                )
                .set(
                    "replyParent",
                    post.reply.as_ref().map(|r| r.parent.uri.as_str()),
                )
                .set(
                    "replyParentCid",
                    post.reply.as_ref().map(|r| r.parent.cid.as_str()),
                )
                .set("langs", json_list(&post.langs))
                .set("tags", json_list(&post.tags))
                .set("createdAt", post.created_at.as_str())
                .set("indexedAt", record.indexed_at())
                .into(),
        );
        let images = |images: &[Image], ops: &mut Vec<RowOp>| {
            for (position, image) in images.iter().enumerate() {
                ops.push(
                    upsert("post_embed_image")
                        .key("postUri", uri)
                        .key("position", position.to_string())
                        .set("imageCid", image.image.reference.to_string())
                        .set("alt", image.alt.as_str())
                        .into(),
                );
            }
        };
        let external = |external: &External| -> RowOp {
            upsert("post_embed_external")
                .key("postUri", uri)
                .set("uri", external.uri.as_str())
                .set("title", external.title.as_str())
                .set("description", external.description.as_str())
                .set(
                    "thumbCid",
                    external
                        .thumb
                        .as_ref()
                        .map(|thumb| thumb.reference.to_string()),
                )
                .into()
        };
        let quote = |quoted: &StrongRef| -> RowOp {
            upsert("post_embed_record")
                .key("postUri", uri)
                .key("embedUri", quoted.uri.as_str())
                .set("embedCid", quoted.cid.as_str())
                .into()
        };
        match &post.embed {
            None => {}
            Some(Embed::Images { images: list }) => images(list, &mut ops),
            Some(Embed::External { external: card }) => ops.push(external(card)),
            Some(Embed::Record { record: quoted }) => ops.push(quote(quoted)),
            Some(Embed::RecordWithMedia {
                record: quoted,
                media,
            }) => {
                ops.push(quote(&quoted.record));
                match media {
                    Media::Images { images: list } => images(list, &mut ops),
                    Media::External { external: card } => ops.push(external(card)),
                }
            }
        }
        ops.push(
            upsert("feed_item")
                .key("uri", uri)
                .set("cid", record.cid)
                .set("type", "post")
                .set("postUri", uri)
                .set("originatorDid", record.did())
                .set("sortAt", sort_at)
                .into(),
        );
        Ok(ops)
    }
}

register_plugin!(BenchPost);
