//! The JSON carried by stream entries, in the reference pipeline's exact shapes.
//!
//! | stream | field | type |
//! |---|---|---|
//! | `firehose_live`, `firehose_backfill` | `event` | [`FirehoseEvent`] |
//! | `label_live` | `event` | [`LabelEvent`] |
//! | `repo_backfill` | `repo` | [`RepoToBackfill`] |
//!
//! Records stay raw JSON ([`RawValue`]): the indexer converts atproto JSON (`$link`, `$bytes`) to
//! DAG-CBOR itself, so the queue never builds a `serde_json::Value` tree for them.

use base64::Engine as _;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// The `seq` that backfilled creates carry (the reference's `SEQ_BACKFILL`).
pub const SEQ_BACKFILL: i64 = -2;

/// A JSON payload stored in one field of a stream entry.
pub trait StreamPayload: Serialize + DeserializeOwned {
    /// The entry field holding the JSON (`event` or `repo`).
    const FIELD: &'static str;

    /// Parses the payload from the field's bytes.
    fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Encodes the payload as the field's JSON text.
    fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// A record created or updated (`type` `create` / `update`).
#[derive(Debug, Clone, Serialize)]
pub struct RecordEvent {
    /// Firehose sequence number; [`SEQ_BACKFILL`] for backfilled records.
    pub seq: i64,
    /// When the event happened (ISO 8601; the indexing time for backfilled records).
    pub time: String,
    /// The repository's DID.
    pub did: String,
    /// CID of the commit that carried the write.
    pub commit: String,
    /// Revision (TID) of that commit.
    pub rev: String,
    /// The record's collection (NSID).
    pub collection: String,
    /// The record key.
    pub rkey: String,
    /// The record's CID.
    pub cid: String,
    /// The record in atproto JSON, unparsed.
    pub record: Box<RawValue>,
}

/// A record deleted (`type` `delete`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeleteEvent {
    /// Firehose sequence number.
    pub seq: i64,
    /// When the event happened (ISO 8601).
    pub time: String,
    /// The repository's DID.
    pub did: String,
    /// CID of the commit that carried the delete.
    pub commit: String,
    /// Revision (TID) of that commit.
    pub rev: String,
    /// The deleted record's collection (NSID).
    pub collection: String,
    /// The deleted record's key.
    pub rkey: String,
}

/// A whole repository was backfilled up to a commit (`type` `repo`; no `seq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoEvent {
    /// The repository's DID.
    pub did: String,
    /// Revision of the backfilled commit.
    pub rev: String,
    /// CID of the backfilled commit.
    pub commit: String,
    /// When the backfill read it (ISO 8601).
    pub time: String,
}

/// An account's hosting status changed (`type` `account`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountEvent {
    /// Firehose sequence number.
    pub seq: i64,
    /// When the event happened (ISO 8601).
    pub time: String,
    /// The account's DID.
    pub did: String,
    /// Whether the account is active.
    pub active: bool,
    /// Why it is not active (`takendown`, `suspended`, `deleted`, `deactivated`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// An account's identity (handle or DID document) may have changed (`type` `identity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityEvent {
    /// Firehose sequence number.
    pub seq: i64,
    /// When the event happened (ISO 8601).
    pub time: String,
    /// The account's DID.
    pub did: String,
    /// The handle the PDS announced, if any (unverified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
}

/// One entry of `firehose_live` / `firehose_backfill` (field `event`), tagged by `type`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FirehoseEvent {
    /// A record was created.
    Create(RecordEvent),
    /// A record was updated.
    Update(RecordEvent),
    /// A record was deleted.
    Delete(DeleteEvent),
    /// A repository backfill reached a commit.
    Repo(RepoEvent),
    /// An account's status changed.
    Account(AccountEvent),
    /// An account's identity changed.
    Identity(IdentityEvent),
}

impl FirehoseEvent {
    /// The `type` tag (`create`, `update`, `delete`, `repo`, `account`, `identity`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Create(_) => "create",
            Self::Update(_) => "update",
            Self::Delete(_) => "delete",
            Self::Repo(_) => "repo",
            Self::Account(_) => "account",
            Self::Identity(_) => "identity",
        }
    }

    /// The DID the event is about.
    pub fn did(&self) -> &str {
        match self {
            Self::Create(e) | Self::Update(e) => &e.did,
            Self::Delete(e) => &e.did,
            Self::Repo(e) => &e.did,
            Self::Account(e) => &e.did,
            Self::Identity(e) => &e.did,
        }
    }

    /// The firehose sequence number; `None` for `repo` events, which have none.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Self::Create(e) | Self::Update(e) => Some(e.seq),
            Self::Delete(e) => Some(e.seq),
            Self::Repo(_) => None,
            Self::Account(e) => Some(e.seq),
            Self::Identity(e) => Some(e.seq),
        }
    }

    /// True for events a backfill produced (`seq = -2` or a `repo` event).
    pub fn is_backfill(&self) -> bool {
        matches!(self, Self::Repo(_)) || self.seq() == Some(SEQ_BACKFILL)
    }
}

impl StreamPayload for FirehoseEvent {
    const FIELD: &'static str = "event";
}

/// Every field any firehose event may have, parsed in one pass; converted to the typed variant
/// afterwards. (Serde's internally tagged enums buffer their content, which a [`RawValue`]
/// cannot pass through, and is slower.)
#[derive(Deserialize)]
struct FirehoseWire {
    #[serde(rename = "type")]
    kind: String,
    seq: Option<i64>,
    time: Option<String>,
    did: Option<String>,
    commit: Option<String>,
    rev: Option<String>,
    collection: Option<String>,
    rkey: Option<String>,
    cid: Option<String>,
    record: Option<Box<RawValue>>,
    active: Option<bool>,
    status: Option<String>,
    handle: Option<String>,
}

fn required<T, E: serde::de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

impl<'de> Deserialize<'de> for FirehoseEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let w = FirehoseWire::deserialize(deserializer)?;
        let record_event = |w: FirehoseWire| -> Result<RecordEvent, D::Error> {
            Ok(RecordEvent {
                seq: required(w.seq, "seq")?,
                time: required(w.time, "time")?,
                did: required(w.did, "did")?,
                commit: required(w.commit, "commit")?,
                rev: required(w.rev, "rev")?,
                collection: required(w.collection, "collection")?,
                rkey: required(w.rkey, "rkey")?,
                cid: required(w.cid, "cid")?,
                record: required(w.record, "record")?,
            })
        };
        Ok(match w.kind.as_str() {
            "create" => Self::Create(record_event(w)?),
            "update" => Self::Update(record_event(w)?),
            "delete" => Self::Delete(DeleteEvent {
                seq: required(w.seq, "seq")?,
                time: required(w.time, "time")?,
                did: required(w.did, "did")?,
                commit: required(w.commit, "commit")?,
                rev: required(w.rev, "rev")?,
                collection: required(w.collection, "collection")?,
                rkey: required(w.rkey, "rkey")?,
            }),
            "repo" => Self::Repo(RepoEvent {
                did: required(w.did, "did")?,
                rev: required(w.rev, "rev")?,
                commit: required(w.commit, "commit")?,
                time: required(w.time, "time")?,
            }),
            "account" => Self::Account(AccountEvent {
                seq: required(w.seq, "seq")?,
                time: required(w.time, "time")?,
                did: required(w.did, "did")?,
                active: required(w.active, "active")?,
                status: w.status,
            }),
            "identity" => Self::Identity(IdentityEvent {
                seq: required(w.seq, "seq")?,
                time: required(w.time, "time")?,
                did: required(w.did, "did")?,
                handle: w.handle,
            }),
            other => {
                return Err(D::Error::unknown_variant(
                    other,
                    &["create", "update", "delete", "repo", "account", "identity"],
                ));
            }
        })
    }
}

/// A label as the reference stores it in `label_live` (`com.atproto.label.defs#label`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamLabel {
    /// Label format version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<i64>,
    /// The labeler's DID.
    pub src: String,
    /// The subject: an AT-URI or a DID.
    pub uri: String,
    /// The subject record's CID, when the label is about one version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// The label value.
    pub val: String,
    /// True when this negates an earlier label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neg: Option<bool>,
    /// Creation time.
    pub cts: String,
    /// Expiry time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<String>,
    /// The signature, kept as written: atproto JSON `{"$bytes": "<base64>"}` from Sluice, or the
    /// `{"0": n, "1": n, …}` object that the reference's `JSON.stringify` of a `Uint8Array` gives.
    /// Read it with [`StreamLabel::sig_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<serde_json::Value>,
}

/// Why a label's `sig` could not be read as bytes.
#[derive(Debug, thiserror::Error)]
#[error("label sig is neither {{\"$bytes\": base64}} nor a byte array/object: {0}")]
pub struct SigFormatError(String);

impl StreamLabel {
    /// Encodes signature bytes the way Sluice writes them (`{"$bytes": "<base64>"}`).
    pub fn sig_from_bytes(bytes: &[u8]) -> serde_json::Value {
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
        serde_json::json!({ "$bytes": encoded })
    }

    /// The signature bytes, from any of the forms in [`StreamLabel::sig`]; `None` when unsigned.
    pub fn sig_bytes(&self) -> Option<Result<Vec<u8>, SigFormatError>> {
        let sig = self.sig.as_ref()?;
        Some(decode_sig(sig))
    }
}

fn decode_sig(sig: &serde_json::Value) -> Result<Vec<u8>, SigFormatError> {
    let bad = || SigFormatError(sig.to_string());
    let byte = |v: &serde_json::Value| v.as_u64().and_then(|n| u8::try_from(n).ok());
    match sig {
        serde_json::Value::Object(map) => {
            if let Some(encoded) = map.get("$bytes") {
                let text = encoded.as_str().ok_or_else(bad)?;
                let text = text.trim_end_matches('=');
                return base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(text)
                    .map_err(|_| bad());
            }
            // `{"0": n, "1": n, …}`: keys are the indices 0..len.
            (0..map.len())
                .map(|i| map.get(&i.to_string()).and_then(byte).ok_or_else(bad))
                .collect()
        }
        serde_json::Value::Array(items) => items.iter().map(|v| byte(v).ok_or_else(bad)).collect(),
        _ => Err(bad()),
    }
}

/// One entry of `label_live` (field `event`): `{"type": "label", "label": {…}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelEvent {
    /// The label.
    pub label: StreamLabel,
}

#[derive(Serialize)]
struct LabelEventOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    label: &'a StreamLabel,
}

#[derive(Deserialize)]
struct LabelEventIn {
    #[serde(rename = "type")]
    kind: String,
    label: StreamLabel,
}

impl Serialize for LabelEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        LabelEventOut {
            kind: "label",
            label: &self.label,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LabelEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = LabelEventIn::deserialize(deserializer)?;
        if wire.kind != "label" {
            return Err(D::Error::unknown_variant(&wire.kind, &["label"]));
        }
        Ok(Self { label: wire.label })
    }
}

impl StreamPayload for LabelEvent {
    const FIELD: &'static str = "event";
}

/// One entry of `repo_backfill` (field `repo`): a repository to fetch whole.
///
/// Only `did` is required, so that an operator can add one by hand
/// (`XADD repo_backfill * repo '{"did":"did:plc:…"}'`); the backfiller then finds the PDS from
/// the DID document when `host` is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoToBackfill {
    /// The repository's DID.
    pub did: String,
    /// The host that listed it, as configured (the reference writes the URL with its scheme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The revision `listRepos` reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// The hosting status `listRepos` reported, when not active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether `listRepos` reported the account active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

impl StreamPayload for RepoToBackfill {
    const FIELD: &'static str = "repo";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<T: StreamPayload>(json: &str) -> (T, serde_json::Value) {
        let parsed = T::from_json(json.as_bytes()).unwrap();
        let written: serde_json::Value = serde_json::from_str(&parsed.to_json().unwrap()).unwrap();
        let original: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(written, original, "re-encoding changed the JSON");
        (parsed, written)
    }

    // Samples built from the reference's producers (ingester/firehose.ts, repo-backfiller.ts,
    // labels.ts, backfill.ts): same keys, same key order as its object literals.

    #[test]
    fn live_create_keeps_the_record_verbatim() {
        let json = r#"{"type":"create","record":{"$type":"app.bsky.feed.post","text":"hi","createdAt":"2024-01-01T00:00:00.000Z","embed":{"$type":"app.bsky.embed.images","images":[{"alt":"","image":{"$type":"blob","ref":{"$link":"bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"},"mimeType":"image/jpeg","size":1}}]}},"cid":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm","seq":123,"time":"2024-01-01T00:00:01.000Z","did":"did:plc:abc","commit":"bafyreif7b5sk2v4hyelhvwqxyrnlzlgtiw5q2hsysnpjwrhsi7l6dlb4m4","rev":"3kabc","collection":"app.bsky.feed.post","rkey":"3kxyz"}"#;
        let (event, _) = roundtrip::<FirehoseEvent>(json);
        let FirehoseEvent::Create(create) = &event else {
            panic!("expected a create, got {event:?}");
        };
        assert_eq!(create.seq, 123);
        assert_eq!(create.collection, "app.bsky.feed.post");
        assert!(
            create.record.get().contains(
                r#"{"$link":"bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"}"#
            ),
            "record JSON kept byte for byte"
        );
        assert!(!event.is_backfill());
        assert_eq!(event.kind(), "create");
    }

    #[test]
    fn backfilled_create_and_repo_event() {
        let json = r#"{"type":"create","did":"did:plc:abc","collection":"app.bsky.actor.profile","rkey":"self","cid":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm","record":{"$type":"app.bsky.actor.profile","displayName":"A"},"commit":"bafyreif7b5sk2v4hyelhvwqxyrnlzlgtiw5q2hsysnpjwrhsi7l6dlb4m4","rev":"3kabc","seq":-2,"time":"2024-02-02T00:00:00.000Z"}"#;
        let (event, _) = roundtrip::<FirehoseEvent>(json);
        assert!(event.is_backfill());
        assert_eq!(event.seq(), Some(SEQ_BACKFILL));

        let json = r#"{"type":"repo","did":"did:plc:abc","rev":"3kabc","commit":"bafyreif7b5sk2v4hyelhvwqxyrnlzlgtiw5q2hsysnpjwrhsi7l6dlb4m4","time":"2024-02-02T00:00:00.000Z"}"#;
        let (event, _) = roundtrip::<FirehoseEvent>(json);
        assert!(matches!(event, FirehoseEvent::Repo(ref r) if r.rev == "3kabc"));
        assert_eq!(event.seq(), None);
        assert!(event.is_backfill());
    }

    #[test]
    fn update_and_delete() {
        let json = r#"{"type":"update","record":{"$type":"app.bsky.actor.profile"},"cid":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm","seq":7,"time":"t","did":"did:plc:abc","commit":"c","rev":"r","collection":"app.bsky.actor.profile","rkey":"self"}"#;
        let (event, _) = roundtrip::<FirehoseEvent>(json);
        assert_eq!(event.kind(), "update");

        let json = r#"{"type":"delete","seq":8,"time":"t","did":"did:plc:abc","commit":"c","rev":"r","collection":"app.bsky.feed.like","rkey":"3k"}"#;
        let (event, written) = roundtrip::<FirehoseEvent>(json);
        assert!(matches!(event, FirehoseEvent::Delete(ref d) if d.rkey == "3k"));
        assert!(written.get("record").is_none());
    }

    #[test]
    fn account_with_and_without_status() {
        let json = r#"{"type":"account","seq":9,"time":"t","did":"did:plc:abc","active":false,"status":"takendown"}"#;
        let (event, _) = roundtrip::<FirehoseEvent>(json);
        assert!(
            matches!(event, FirehoseEvent::Account(ref a) if !a.active && a.status.as_deref() == Some("takendown"))
        );
        // JSON.stringify drops `status: undefined`.
        let json = r#"{"type":"account","seq":10,"time":"t","did":"did:plc:abc","active":true}"#;
        let (event, written) = roundtrip::<FirehoseEvent>(json);
        assert!(matches!(event, FirehoseEvent::Account(ref a) if a.active && a.status.is_none()));
        assert!(written.get("status").is_none());
    }

    #[test]
    fn identity_with_and_without_handle() {
        let json =
            r#"{"type":"identity","seq":11,"time":"t","did":"did:plc:abc","handle":"alice.test"}"#;
        let (event, _) = roundtrip::<FirehoseEvent>(json);
        assert!(
            matches!(event, FirehoseEvent::Identity(ref i) if i.handle.as_deref() == Some("alice.test"))
        );
        let json = r#"{"type":"identity","seq":12,"time":"t","did":"did:plc:abc"}"#;
        let (event, _) = roundtrip::<FirehoseEvent>(json);
        assert_eq!(event.did(), "did:plc:abc");
    }

    #[test]
    fn unknown_type_and_missing_fields_are_errors() {
        let err = FirehoseEvent::from_json(br#"{"type":"tombstone","did":"did:plc:a"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tombstone"), "{err}");
        let err = FirehoseEvent::from_json(br#"{"type":"create","seq":1,"time":"t","did":"d"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `commit`"), "{err}");
        assert!(FirehoseEvent::from_json(b"not json").is_err());
    }

    #[test]
    fn label_event_as_the_reference_writes_it() {
        // The reference stringifies the decoded CBOR label: `sig` is a Uint8Array.
        let json = r#"{"type":"label","label":{"ver":1,"src":"did:plc:labeler","uri":"at://did:plc:abc/app.bsky.feed.post/3k","cid":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm","val":"porn","cts":"2024-01-01T00:00:00.000Z","sig":{"0":1,"1":2,"2":255}}}"#;
        let (event, _) = roundtrip::<LabelEvent>(json);
        assert_eq!(event.label.val, "porn");
        assert_eq!(event.label.sig_bytes().unwrap().unwrap(), vec![1, 2, 255]);
    }

    #[test]
    fn label_event_as_sluice_writes_it() {
        let label = StreamLabel {
            ver: Some(1),
            src: "did:plc:labeler".into(),
            uri: "did:plc:abc".into(),
            cid: None,
            val: "!hide".into(),
            neg: Some(true),
            cts: "2024-01-01T00:00:00.000Z".into(),
            exp: None,
            sig: Some(StreamLabel::sig_from_bytes(&[9; 64])),
        };
        let json = LabelEvent {
            label: label.clone(),
        }
        .to_json()
        .unwrap();
        assert!(json.starts_with(r#"{"type":"label","label":{"#), "{json}");
        assert!(json.contains(r#""sig":{"$bytes":"#), "{json}");
        let back = LabelEvent::from_json(json.as_bytes()).unwrap();
        assert_eq!(back.label, label);
        assert_eq!(back.label.sig_bytes().unwrap().unwrap(), vec![9; 64]);
        assert!(LabelEvent::from_json(br#"{"type":"create","label":{}}"#).is_err());
    }

    #[test]
    fn repo_to_backfill_full_and_by_hand() {
        let json =
            r#"{"did":"did:plc:abc","host":"https://pds.example.com","rev":"3kabc","active":true}"#;
        let (repo, _) = roundtrip::<RepoToBackfill>(json);
        assert_eq!(repo.host.as_deref(), Some("https://pds.example.com"));
        let json = r#"{"did":"did:plc:abc","host":"https://pds.example.com","rev":"3kabc","status":"deactivated","active":false}"#;
        let (repo, _) = roundtrip::<RepoToBackfill>(json);
        assert_eq!(repo.status.as_deref(), Some("deactivated"));

        let (by_hand, _) = roundtrip::<RepoToBackfill>(r#"{"did":"did:plc:xyz"}"#);
        assert_eq!(by_hand.did, "did:plc:xyz");
        assert!(by_hand.host.is_none() && by_hand.rev.is_none() && by_hand.active.is_none());
        let with_host =
            RepoToBackfill::from_json(br#"{"did":"did:plc:xyz","host":"pds.example.com"}"#)
                .unwrap();
        assert_eq!(with_host.host.as_deref(), Some("pds.example.com"));
        assert!(RepoToBackfill::from_json(br#"{"host":"x"}"#).is_err());
    }

    #[test]
    fn sig_formats() {
        let label = |sig: serde_json::Value| StreamLabel {
            ver: None,
            src: "s".into(),
            uri: "u".into(),
            cid: None,
            val: "v".into(),
            neg: None,
            cts: "c".into(),
            exp: None,
            sig: Some(sig),
        };
        assert_eq!(
            label(serde_json::json!([1, 2]))
                .sig_bytes()
                .unwrap()
                .unwrap(),
            vec![1, 2]
        );
        assert_eq!(
            label(serde_json::json!({"$bytes": "AQI="}))
                .sig_bytes()
                .unwrap()
                .unwrap(),
            vec![1, 2],
            "padded base64 accepted"
        );
        assert!(
            label(serde_json::json!({"0": 1, "2": 3}))
                .sig_bytes()
                .unwrap()
                .is_err()
        );
        assert!(
            label(serde_json::json!([256]))
                .sig_bytes()
                .unwrap()
                .is_err()
        );
        assert!(label(serde_json::json!("x")).sig_bytes().unwrap().is_err());
    }
}
