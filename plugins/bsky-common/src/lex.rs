//! Lexicon shapes several collections share (`com.atproto.repo.strongRef`, blobs, rich-text
//! facets), decoded with serde from DAG-CBOR or JSON.

use cid::Cid;
use serde::Deserialize;

/// `com.atproto.repo.strongRef`: a record by AT-URI and CID.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StrongRef {
    /// The record's AT-URI.
    pub uri: String,
    /// The CID of the version meant.
    pub cid: String,
}

/// A blob reference: the current form (`$type: blob`, `ref` a CID link) or the legacy one
/// (`cid` as a string).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Blob {
    /// The CID of the current form.
    #[serde(rename = "ref")]
    pub reference: Option<BlobLink>,
    /// The CID of the legacy form.
    pub cid: Option<String>,
}

/// The `ref` of a blob: a CID link (DAG-CBOR), or `{"$link": "…"}` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum BlobLink {
    /// A decoded link.
    Cid(Cid),
    /// The JSON form.
    Json {
        /// The CID, as a string.
        #[serde(rename = "$link")]
        link: String,
    },
}

impl Blob {
    /// The blob's CID as the reference writes it (`getBlobCidString`): the link's base32 string,
    /// or the legacy `cid` field.
    pub fn cid_string(&self) -> Option<String> {
        match (&self.reference, &self.cid) {
            (Some(BlobLink::Cid(cid)), _) => Some(cid.to_string()),
            (Some(BlobLink::Json { link }), _) => Some(link.clone()),
            (None, Some(cid)) => Some(cid.clone()),
            (None, None) => None,
        }
    }
}

/// `app.bsky.richtext.facet`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Facet {
    /// What the facet marks.
    #[serde(default)]
    pub features: Vec<Feature>,
}

/// A facet feature (`app.bsky.richtext.facet#mention|link|tag`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "$type")]
pub enum Feature {
    /// A mention of an account.
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
    /// A feature of another type (ignored, as the reference ignores it).
    #[serde(other)]
    Other,
}

/// The DIDs mentioned by a list of facets, in order (repeats kept).
pub fn mentions(facets: &[Facet]) -> impl Iterator<Item = &str> {
    facets
        .iter()
        .flat_map(|facet| facet.features.iter())
        .filter_map(|feature| match feature {
            Feature::Mention { did } => Some(did.as_str()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_cids_in_every_form() {
        let cid: Cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
            .parse()
            .unwrap();
        let json: Blob = serde_json::from_str(
            r#"{"$type":"blob","ref":{"$link":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},"mimeType":"image/png","size":3}"#,
        )
        .unwrap();
        assert_eq!(json.cid_string(), Some(cid.to_string()));
        let legacy: Blob =
            serde_json::from_str(r#"{"cid":"bafylegacy","mimeType":"image/png"}"#).unwrap();
        assert_eq!(legacy.cid_string().as_deref(), Some("bafylegacy"));
        let cbor = serde_ipld_dagcbor::to_vec(&ipld_core::ipld!({
            "$type": "blob", "ref": cid, "mimeType": "image/png", "size": 3
        }))
        .unwrap();
        let decoded: Blob = serde_ipld_dagcbor::from_slice(&cbor).unwrap();
        assert_eq!(decoded.cid_string(), Some(cid.to_string()));
    }

    #[test]
    fn mentions_in_order() {
        let facets: Vec<Facet> = serde_json::from_str(
            r#"[{"index":{"byteStart":0,"byteEnd":1},"features":[
                {"$type":"app.bsky.richtext.facet#mention","did":"did:plc:a"},
                {"$type":"app.bsky.richtext.facet#link","uri":"https://x"},
                {"$type":"com.example#unknown","x":1}]},
               {"index":{"byteStart":2,"byteEnd":3},"features":[
                {"$type":"app.bsky.richtext.facet#mention","did":"did:plc:b"}]}]"#,
        )
        .unwrap();
        assert_eq!(
            mentions(&facets).collect::<Vec<_>>(),
            vec!["did:plc:a", "did:plc:b"]
        );
    }
}
