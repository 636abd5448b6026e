//! Decoding and encoding firehose frames.
//!
//! Decoding reads the header, then (for a known message type) the body as IPLD, then pulls
//! each lexicon field out with a type check; a missing or mistyped field is an error naming the
//! message type and the field. Bodies of unknown types are not parsed at all: they become
//! [`Frame::Unknown`] with their bytes untouched.
//!
//! Encoding writes the header and the body as canonical DAG-CBOR (map keys sorted by length,
//! then bytes). Fields the lexicon marks optional are left out when absent; required-nullable
//! ones (`since`, an op's `cid`) are written as `null`. Unknown body fields and explicit `null`s
//! where the lexicon says "absent" are kept in each message's `extra`, so decoding and
//! re-encoding gives the same bytes for any frame whose required fields are all present (a
//! frame that omits a required field this decoder tolerates — `since`, `blobs`, `rebase`,
//! `tooBig` — comes back with it written out).

use std::collections::BTreeMap;

use bytes::Bytes;
use cid::Cid;
use ipld_core::ipld::Ipld;

use super::messages::{
    AccountEvent, CommitEvent, ErrorFrame, Extra, IdentityEvent, InfoEvent, LabelsEvent, SyncEvent,
    UnknownMessage,
};
use crate::data;
use crate::label::Label;
use crate::repo::{OpAction, RepoOp};

/// Header `op` of a message frame.
pub const OP_MESSAGE: i64 = 1;
/// Header `op` of an error frame.
pub const OP_ERROR: i64 = -1;

/// The name used in errors about an error frame's body.
const ERROR_FRAME: &str = "error frame";

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame has no bytes.
    #[error("the frame is empty")]
    Empty,
    /// The header is not a DAG-CBOR map with an integer `op`.
    #[error("invalid frame header: {0}")]
    Header(String),
    /// The header's `op` is neither 1 (message) nor -1 (error).
    #[error("frame header has unknown op {0} (1 = message, -1 = error)")]
    UnknownOp(i64),
    /// A message header (`op: 1`) has no `t`.
    #[error("message frame header has no `t` (message type)")]
    MissingType,
    /// The body is not a single valid DAG-CBOR value (or there are bytes after it).
    #[error("{t} body is not valid DAG-CBOR: {reason}")]
    Body {
        /// The message type (`#commit`, …, or `error frame`).
        t: String,
        /// What the decoder said.
        reason: String,
    },
    /// A required field is absent.
    #[error("{t} has no `{field}` field")]
    MissingField {
        /// The message type.
        t: String,
        /// The field (a path such as `ops[2].action` inside lists).
        field: String,
    },
    /// A field has the wrong type.
    #[error("{t} field `{field}`: expected {expected}, found {found}")]
    WrongType {
        /// The message type.
        t: String,
        /// The field.
        field: String,
        /// What the lexicon says it is.
        expected: &'static str,
        /// What it was.
        found: &'static str,
    },
    /// A field has the right type but an unacceptable value.
    #[error("{t} field `{field}`: {reason}")]
    InvalidField {
        /// The message type.
        t: String,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// A frame header: `{op, t}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameHeader {
    /// 1 for a message, -1 for an error.
    pub op: i64,
    /// The message type (`#commit`, …); absent in error frames.
    pub t: Option<String>,
}

impl FrameHeader {
    /// The header of a message of type `t`.
    pub fn message(t: impl Into<String>) -> Self {
        Self {
            op: OP_MESSAGE,
            t: Some(t.into()),
        }
    }

    /// The header of an error frame.
    pub fn error() -> Self {
        Self {
            op: OP_ERROR,
            t: None,
        }
    }

    fn from_ipld(value: Ipld) -> Result<Self, FrameError> {
        let Ipld::Map(mut map) = value else {
            return Err(FrameError::Header(format!(
                "expected a map, found {}",
                kind(&value)
            )));
        };
        let op = match map.remove("op") {
            Some(Ipld::Integer(op)) => i64::try_from(op)
                .map_err(|_| FrameError::Header(format!("op {op} is out of range")))?,
            Some(other) => {
                return Err(FrameError::Header(format!(
                    "`op` must be an integer, found {}",
                    kind(&other)
                )));
            }
            None => return Err(FrameError::Header("no `op` field".to_owned())),
        };
        let t = match map.remove("t") {
            Some(Ipld::String(t)) => Some(t),
            None | Some(Ipld::Null) => None,
            Some(other) => {
                return Err(FrameError::Header(format!(
                    "`t` must be a string, found {}",
                    kind(&other)
                )));
            }
        };
        Ok(Self { op, t })
    }

    fn to_ipld(&self) -> Ipld {
        let mut map = BTreeMap::new();
        map.insert("op".to_owned(), Ipld::Integer(self.op.into()));
        if let Some(t) = &self.t {
            map.insert("t".to_owned(), Ipld::String(t.clone()));
        }
        Ipld::Map(map)
    }
}

/// One decoded frame of `subscribeRepos` or `subscribeLabels`.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `#commit`.
    Commit(Box<CommitEvent>),
    /// `#sync`.
    Sync(SyncEvent),
    /// `#identity`.
    Identity(IdentityEvent),
    /// `#account`.
    Account(AccountEvent),
    /// `#info` (both streams).
    Info(InfoEvent),
    /// `#labels` (subscribeLabels).
    Labels(LabelsEvent),
    /// An error frame (`op: -1`).
    Error(ErrorFrame),
    /// A message type this code does not handle (including the retired `#handle`, `#migrate`
    /// and `#tombstone`): count it and skip it.
    Unknown(UnknownMessage),
}

/// Message types with a typed body.
const KNOWN_TYPES: [&str; 6] = [
    "#commit",
    "#sync",
    "#identity",
    "#account",
    "#info",
    "#labels",
];

impl Frame {
    /// Decodes one frame (header and body, nothing after).
    pub fn decode(frame: &[u8]) -> Result<Self, FrameError> {
        if frame.is_empty() {
            return Err(FrameError::Empty);
        }
        let mut rest = frame;
        let header: Ipld = serde_ipld_dagcbor::de::from_reader_once(&mut rest)
            .map_err(|e| FrameError::Header(e.to_string()))?;
        let header = FrameHeader::from_ipld(header)?;
        if header.op == OP_MESSAGE {
            let t = header.t.as_deref().ok_or(FrameError::MissingType)?;
            if !KNOWN_TYPES.contains(&t) {
                return Ok(Self::Unknown(UnknownMessage {
                    t: t.to_owned(),
                    body: Bytes::copy_from_slice(rest),
                }));
            }
        }
        let body: Ipld = data::from_dag_cbor(rest).map_err(|e| FrameError::Body {
            t: header.t.clone().unwrap_or_else(|| ERROR_FRAME.to_owned()),
            reason: e.to_string(),
        })?;
        Self::from_parts(&header, body)
    }

    /// Builds a frame from its header and its body as IPLD (for instance atproto JSON turned
    /// into IPLD with [`data::json_to_ipld`]).
    pub fn from_parts(header: &FrameHeader, body: Ipld) -> Result<Self, FrameError> {
        match header.op {
            OP_MESSAGE => {}
            OP_ERROR => return decode_error_frame(body).map(Self::Error),
            other => return Err(FrameError::UnknownOp(other)),
        }
        let t = header.t.as_deref().ok_or(FrameError::MissingType)?;
        Ok(match t {
            "#commit" => Self::Commit(Box::new(decode_commit(body)?)),
            "#sync" => Self::Sync(decode_sync(body)?),
            "#identity" => Self::Identity(decode_identity(body)?),
            "#account" => Self::Account(decode_account(body)?),
            "#info" => Self::Info(decode_info(body)?),
            "#labels" => Self::Labels(decode_labels(body)?),
            other => Self::Unknown(UnknownMessage {
                t: other.to_owned(),
                body: Bytes::from(encode_ipld(&body)),
            }),
        })
    }

    /// The frame's header.
    pub fn header(&self) -> FrameHeader {
        match self {
            Self::Error(_) => FrameHeader::error(),
            other => FrameHeader::message(other.type_name()),
        }
    }

    /// The message type (`#commit`, …), or `error` for an error frame.
    pub fn type_name(&self) -> &str {
        match self {
            Self::Commit(_) => "#commit",
            Self::Sync(_) => "#sync",
            Self::Identity(_) => "#identity",
            Self::Account(_) => "#account",
            Self::Info(_) => "#info",
            Self::Labels(_) => "#labels",
            Self::Error(_) => "error",
            Self::Unknown(unknown) => &unknown.t,
        }
    }

    /// The stream sequence number, for messages that have one.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Self::Commit(event) => Some(event.seq),
            Self::Sync(event) => Some(event.seq),
            Self::Identity(event) => Some(event.seq),
            Self::Account(event) => Some(event.seq),
            Self::Labels(event) => Some(event.seq),
            Self::Info(_) | Self::Error(_) | Self::Unknown(_) => None,
        }
    }

    /// The account the message is about, for repo messages.
    pub fn did(&self) -> Option<&str> {
        match self {
            Self::Commit(event) => Some(&event.repo),
            Self::Sync(event) => Some(&event.did),
            Self::Identity(event) => Some(&event.did),
            Self::Account(event) => Some(&event.did),
            _ => None,
        }
    }

    /// The body as IPLD (what [`encode`](Self::encode) writes after the header). Fails only
    /// for an [`Unknown`](Self::Unknown) message whose body bytes are not DAG-CBOR.
    pub fn body_ipld(&self) -> Result<Ipld, FrameError> {
        match self.known_body_ipld() {
            Some(body) => Ok(body),
            None => match self {
                Self::Unknown(unknown) => {
                    data::from_dag_cbor(&unknown.body).map_err(|e| FrameError::Body {
                        t: unknown.t.clone(),
                        reason: e.to_string(),
                    })
                }
                _ => Ok(Ipld::Null),
            },
        }
    }

    /// The body of a known message type as IPLD; `None` for [`Unknown`](Self::Unknown).
    fn known_body_ipld(&self) -> Option<Ipld> {
        Some(match self {
            Self::Commit(event) => encode_commit(event),
            Self::Sync(event) => encode_sync(event),
            Self::Identity(event) => encode_identity(event),
            Self::Account(event) => encode_account(event),
            Self::Info(event) => encode_info(event),
            Self::Labels(event) => encode_labels(event),
            Self::Error(error) => encode_error_frame(error),
            Self::Unknown(_) => return None,
        })
    }

    /// Encodes the frame: header then body, both canonical DAG-CBOR (an unknown message's
    /// body is written as it was received).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = encode_ipld(&self.header().to_ipld());
        match (self, self.known_body_ipld()) {
            (_, Some(body)) => out.extend_from_slice(&encode_ipld(&body)),
            (Self::Unknown(unknown), None) => out.extend_from_slice(&unknown.body),
            (_, None) => {}
        }
        out
    }
}

/// Encodes IPLD as DAG-CBOR. Maps with string keys, integers, strings, bytes, links, lists and
/// booleans always encode; a float that cannot (NaN) is written as null.
fn encode_ipld(value: &Ipld) -> Vec<u8> {
    data::to_dag_cbor(value).unwrap_or_else(|_| vec![0xf6])
}

/// The data-model kind of a value, for error messages.
pub(crate) fn kind(value: &Ipld) -> &'static str {
    match value {
        Ipld::Null => "null",
        Ipld::Bool(_) => "boolean",
        Ipld::Integer(_) => "integer",
        Ipld::Float(_) => "float",
        Ipld::String(_) => "string",
        Ipld::Bytes(_) => "bytes",
        Ipld::List(_) => "list",
        Ipld::Map(_) => "map",
        Ipld::Link(_) => "CID link",
    }
}

// --- reading fields -------------------------------------------------------------------------

/// The fields of one body map, taken out one by one with type checks.
struct Fields<'t> {
    t: &'t str,
    /// Prefix for field names in errors (`ops[2].` inside a list), empty at the top.
    prefix: String,
    map: BTreeMap<String, Ipld>,
    /// Explicit `null`s of fields the encoder would leave out, kept for re-encoding.
    kept_nulls: Extra,
}

impl<'t> Fields<'t> {
    fn new(t: &'t str, prefix: String, body: Ipld) -> Result<Self, FrameError> {
        match body {
            Ipld::Map(map) => Ok(Self {
                t,
                prefix,
                map,
                kept_nulls: Extra::new(),
            }),
            other => Err(FrameError::WrongType {
                t: t.to_owned(),
                field: if prefix.is_empty() {
                    "(body)".to_owned()
                } else {
                    prefix.trim_end_matches('.').to_owned()
                },
                expected: "map",
                found: kind(&other),
            }),
        }
    }

    fn name(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    fn missing(&self, field: &str) -> FrameError {
        FrameError::MissingField {
            t: self.t.to_owned(),
            field: self.name(field),
        }
    }

    fn wrong(&self, field: &str, expected: &'static str, found: &Ipld) -> FrameError {
        FrameError::WrongType {
            t: self.t.to_owned(),
            field: self.name(field),
            expected,
            found: kind(found),
        }
    }

    fn invalid(&self, field: &str, reason: impl Into<String>) -> FrameError {
        FrameError::InvalidField {
            t: self.t.to_owned(),
            field: self.name(field),
            reason: reason.into(),
        }
    }

    /// Takes an optional field: absent → `None`; explicit `null` → `None`, remembered.
    fn take_optional(&mut self, field: &str) -> Option<Ipld> {
        match self.map.remove(field) {
            Some(Ipld::Null) => {
                self.kept_nulls.insert(field.to_owned(), Ipld::Null);
                None
            }
            other => other,
        }
    }

    fn required(&mut self, field: &str) -> Result<Ipld, FrameError> {
        self.map.remove(field).ok_or_else(|| self.missing(field))
    }

    fn integer(&mut self, field: &str) -> Result<i64, FrameError> {
        match self.required(field)? {
            Ipld::Integer(value) => i64::try_from(value)
                .map_err(|_| self.invalid(field, format!("{value} does not fit in 64 bits"))),
            other => Err(self.wrong(field, "integer", &other)),
        }
    }

    fn string(&mut self, field: &str) -> Result<String, FrameError> {
        match self.required(field)? {
            Ipld::String(value) => Ok(value),
            other => Err(self.wrong(field, "string", &other)),
        }
    }

    fn optional_string(&mut self, field: &str) -> Result<Option<String>, FrameError> {
        match self.take_optional(field) {
            None => Ok(None),
            Some(Ipld::String(value)) => Ok(Some(value)),
            Some(other) => Err(self.wrong(field, "string", &other)),
        }
    }

    /// A required field whose value may be `null` (absent is tolerated as `null`).
    fn nullable_string(&mut self, field: &str) -> Result<Option<String>, FrameError> {
        match self.map.remove(field) {
            None | Some(Ipld::Null) => Ok(None),
            Some(Ipld::String(value)) => Ok(Some(value)),
            Some(other) => Err(self.wrong(field, "string or null", &other)),
        }
    }

    fn bytes(&mut self, field: &str) -> Result<Bytes, FrameError> {
        match self.required(field)? {
            Ipld::Bytes(value) => Ok(Bytes::from(value)),
            other => Err(self.wrong(field, "bytes", &other)),
        }
    }

    fn boolean(&mut self, field: &str) -> Result<bool, FrameError> {
        match self.required(field)? {
            Ipld::Bool(value) => Ok(value),
            other => Err(self.wrong(field, "boolean", &other)),
        }
    }

    /// A deprecated required boolean: absent is tolerated as `false`.
    fn flag(&mut self, field: &str) -> Result<bool, FrameError> {
        match self.map.remove(field) {
            None => Ok(false),
            Some(Ipld::Bool(value)) => Ok(value),
            Some(other) => Err(self.wrong(field, "boolean", &other)),
        }
    }

    fn link(&mut self, field: &str) -> Result<Cid, FrameError> {
        match self.required(field)? {
            Ipld::Link(cid) => Ok(cid),
            other => Err(self.wrong(field, "CID link", &other)),
        }
    }

    fn optional_link(&mut self, field: &str) -> Result<Option<Cid>, FrameError> {
        match self.take_optional(field) {
            None => Ok(None),
            Some(Ipld::Link(cid)) => Ok(Some(cid)),
            Some(other) => Err(self.wrong(field, "CID link", &other)),
        }
    }

    /// A required-nullable link (absent is tolerated as `null`).
    fn nullable_link(&mut self, field: &str) -> Result<Option<Cid>, FrameError> {
        match self.map.remove(field) {
            None | Some(Ipld::Null) => Ok(None),
            Some(Ipld::Link(cid)) => Ok(Some(cid)),
            Some(other) => Err(self.wrong(field, "CID link or null", &other)),
        }
    }

    fn list(&mut self, field: &str) -> Result<Vec<Ipld>, FrameError> {
        match self.required(field)? {
            Ipld::List(items) => Ok(items),
            other => Err(self.wrong(field, "list", &other)),
        }
    }

    /// A deprecated list: absent is tolerated as empty; an explicit `null` too (remembered).
    fn lenient_list(&mut self, field: &str) -> Result<Vec<Ipld>, FrameError> {
        match self.take_optional(field) {
            None => Ok(Vec::new()),
            Some(Ipld::List(items)) => Ok(items),
            Some(other) => Err(self.wrong(field, "list", &other)),
        }
    }

    /// The fields left over (unknown ones) and the remembered `null`s.
    fn finish(self) -> Extra {
        let mut extra = self.map;
        extra.extend(self.kept_nulls);
        extra
    }
}

fn decode_commit(body: Ipld) -> Result<CommitEvent, FrameError> {
    let t = "#commit";
    let mut fields = Fields::new(t, String::new(), body)?;
    let seq = fields.integer("seq")?;
    let repo = fields.string("repo")?;
    let commit = fields.link("commit")?;
    let rev = fields.string("rev")?;
    let since = fields.nullable_string("since")?;
    let blocks = fields.bytes("blocks")?;
    let mut ops = Vec::new();
    for (index, op) in fields.list("ops")?.into_iter().enumerate() {
        ops.push(decode_op(index, op)?);
    }
    let mut blobs = Vec::new();
    for (index, blob) in fields.lenient_list("blobs")?.into_iter().enumerate() {
        match blob {
            Ipld::Link(cid) => blobs.push(cid),
            other => return Err(fields.wrong(&format!("blobs[{index}]"), "CID link", &other)),
        }
    }
    let time = fields.string("time")?;
    let prev_data = fields.optional_link("prevData")?;
    let rebase = fields.flag("rebase")?;
    let too_big = fields.flag("tooBig")?;
    Ok(CommitEvent {
        seq,
        repo,
        commit,
        rev,
        since,
        blocks,
        ops,
        blobs,
        time,
        prev_data,
        rebase,
        too_big,
        extra: fields.finish(),
    })
}

fn decode_op(index: usize, op: Ipld) -> Result<RepoOp, FrameError> {
    let mut fields = Fields::new("#commit", format!("ops[{index}]."), op)?;
    let action = match fields.string("action")?.as_str() {
        "create" => OpAction::Create,
        "update" => OpAction::Update,
        "delete" => OpAction::Delete,
        other => {
            return Err(fields.invalid(
                "action",
                format!("{other:?} is not create, update or delete"),
            ));
        }
    };
    let path = fields.string("path")?;
    let cid = fields.nullable_link("cid")?;
    let prev = fields.optional_link("prev")?;
    // Unknown op fields have nowhere to go; they are dropped.
    Ok(RepoOp {
        action,
        path,
        cid,
        prev,
    })
}

fn decode_sync(body: Ipld) -> Result<SyncEvent, FrameError> {
    let mut fields = Fields::new("#sync", String::new(), body)?;
    Ok(SyncEvent {
        seq: fields.integer("seq")?,
        did: fields.string("did")?,
        blocks: fields.bytes("blocks")?,
        rev: fields.string("rev")?,
        time: fields.string("time")?,
        extra: fields.finish(),
    })
}

fn decode_identity(body: Ipld) -> Result<IdentityEvent, FrameError> {
    let mut fields = Fields::new("#identity", String::new(), body)?;
    Ok(IdentityEvent {
        seq: fields.integer("seq")?,
        did: fields.string("did")?,
        time: fields.string("time")?,
        handle: fields.optional_string("handle")?,
        extra: fields.finish(),
    })
}

fn decode_account(body: Ipld) -> Result<AccountEvent, FrameError> {
    let mut fields = Fields::new("#account", String::new(), body)?;
    Ok(AccountEvent {
        seq: fields.integer("seq")?,
        did: fields.string("did")?,
        time: fields.string("time")?,
        active: fields.boolean("active")?,
        status: fields.optional_string("status")?,
        extra: fields.finish(),
    })
}

fn decode_info(body: Ipld) -> Result<InfoEvent, FrameError> {
    let mut fields = Fields::new("#info", String::new(), body)?;
    Ok(InfoEvent {
        name: fields.string("name")?,
        message: fields.optional_string("message")?,
        extra: fields.finish(),
    })
}

fn decode_labels(body: Ipld) -> Result<LabelsEvent, FrameError> {
    let mut fields = Fields::new("#labels", String::new(), body)?;
    let seq = fields.integer("seq")?;
    let mut labels = Vec::new();
    for (index, label) in fields.list("labels")?.into_iter().enumerate() {
        if !matches!(label, Ipld::Map(_)) {
            return Err(fields.wrong(&format!("labels[{index}]"), "map", &label));
        }
        let label: Label = ipld_core::serde::from_ipld(label)
            .map_err(|e| fields.invalid(&format!("labels[{index}]"), e.to_string()))?;
        labels.push(label);
    }
    Ok(LabelsEvent {
        seq,
        labels,
        extra: fields.finish(),
    })
}

fn decode_error_frame(body: Ipld) -> Result<ErrorFrame, FrameError> {
    let mut fields = Fields::new(ERROR_FRAME, String::new(), body)?;
    Ok(ErrorFrame {
        error: fields.string("error")?,
        message: fields.optional_string("message")?,
        extra: fields.finish(),
    })
}

// --- writing fields -------------------------------------------------------------------------

/// A body map being written; [`finish`](Self::finish) lays `extra` over it.
struct Body(BTreeMap<String, Ipld>);

impl Body {
    fn new() -> Self {
        Self(BTreeMap::new())
    }

    fn put(&mut self, field: &str, value: Ipld) -> &mut Self {
        self.0.insert(field.to_owned(), value);
        self
    }

    fn put_optional(&mut self, field: &str, value: Option<Ipld>) -> &mut Self {
        if let Some(value) = value {
            self.put(field, value);
        }
        self
    }

    fn finish(&mut self, extra: &Extra) -> Ipld {
        let mut map = std::mem::take(&mut self.0);
        map.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ipld::Map(map)
    }
}

fn string(value: &str) -> Ipld {
    Ipld::String(value.to_owned())
}

fn nullable_string(value: Option<&str>) -> Ipld {
    value.map_or(Ipld::Null, string)
}

fn encode_commit(event: &CommitEvent) -> Ipld {
    let ops = event.ops.iter().map(encode_op).collect();
    let blobs = event.blobs.iter().copied().map(Ipld::Link).collect();
    Body::new()
        .put("seq", Ipld::Integer(event.seq.into()))
        .put("repo", string(&event.repo))
        .put("commit", Ipld::Link(event.commit))
        .put("rev", string(&event.rev))
        .put("since", nullable_string(event.since.as_deref()))
        .put("blocks", Ipld::Bytes(event.blocks.to_vec()))
        .put("ops", Ipld::List(ops))
        .put("blobs", Ipld::List(blobs))
        .put("time", string(&event.time))
        .put_optional("prevData", event.prev_data.map(Ipld::Link))
        .put("rebase", Ipld::Bool(event.rebase))
        .put("tooBig", Ipld::Bool(event.too_big))
        .finish(&event.extra)
}

fn encode_op(op: &RepoOp) -> Ipld {
    let action = match op.action {
        OpAction::Create => "create",
        OpAction::Update => "update",
        OpAction::Delete => "delete",
    };
    Body::new()
        .put("action", string(action))
        .put("path", string(&op.path))
        .put("cid", op.cid.map_or(Ipld::Null, Ipld::Link))
        .put_optional("prev", op.prev.map(Ipld::Link))
        .finish(&Extra::new())
}

fn encode_sync(event: &SyncEvent) -> Ipld {
    Body::new()
        .put("seq", Ipld::Integer(event.seq.into()))
        .put("did", string(&event.did))
        .put("blocks", Ipld::Bytes(event.blocks.to_vec()))
        .put("rev", string(&event.rev))
        .put("time", string(&event.time))
        .finish(&event.extra)
}

fn encode_identity(event: &IdentityEvent) -> Ipld {
    Body::new()
        .put("seq", Ipld::Integer(event.seq.into()))
        .put("did", string(&event.did))
        .put("time", string(&event.time))
        .put_optional("handle", event.handle.as_deref().map(string))
        .finish(&event.extra)
}

fn encode_account(event: &AccountEvent) -> Ipld {
    Body::new()
        .put("seq", Ipld::Integer(event.seq.into()))
        .put("did", string(&event.did))
        .put("time", string(&event.time))
        .put("active", Ipld::Bool(event.active))
        .put_optional("status", event.status.as_deref().map(string))
        .finish(&event.extra)
}

fn encode_info(event: &InfoEvent) -> Ipld {
    Body::new()
        .put("name", string(&event.name))
        .put_optional("message", event.message.as_deref().map(string))
        .finish(&event.extra)
}

fn encode_labels(event: &LabelsEvent) -> Ipld {
    let labels = event.labels.iter().map(encode_label).collect();
    Body::new()
        .put("seq", Ipld::Integer(event.seq.into()))
        .put("labels", Ipld::List(labels))
        .finish(&event.extra)
}

/// A label as IPLD, with the same fields and omissions as its serde form.
fn encode_label(label: &Label) -> Ipld {
    Body::new()
        .put_optional("ver", label.ver.map(|ver| Ipld::Integer(ver.into())))
        .put("src", string(&label.src))
        .put("uri", string(&label.uri))
        .put_optional("cid", label.cid.as_deref().map(string))
        .put("val", string(&label.val))
        .put_optional("neg", label.neg.map(Ipld::Bool))
        .put("cts", string(&label.cts))
        .put_optional("exp", label.exp.as_deref().map(string))
        .put_optional("sig", label.sig.clone().map(Ipld::Bytes))
        .finish(&Extra::new())
}

fn encode_error_frame(error: &ErrorFrame) -> Ipld {
    Body::new()
        .put("error", string(&error.error))
        .put_optional("message", error.message.as_deref().map(string))
        .finish(&error.extra)
}
