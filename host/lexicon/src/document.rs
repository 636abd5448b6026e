//! Lexicon documents as written: the JSON shape of a schema file, and its structural checks.
//!
//! [`LexiconDoc::from_json`] parses a document and [`LexiconDoc::check`]s it: the language
//! version, the NSID, which types may be named definitions (records, queries, procedures,
//! subscriptions and permission sets only as `main`; never `ref`, `union`, `unknown`, `params`
//! or `permission`), which types may appear where (object properties, array items, parameters,
//! bodies), and the constraints of each type (`required` and `nullable` name real properties,
//! minimums below maximums, known string formats, record-key types, permission rules). These are
//! the rules of the atproto Lexicon specification as the reference implementations apply them
//! (the `lexicon-valid.json` / `lexicon-invalid.json` interop vectors).
//!
//! Unknown keys are ignored (documents carry `description`, `$type`, `revision`, …), so that
//! newer documents still load.

use std::collections::BTreeMap;

use serde::Deserialize;
use sluice_atproto::syntax::{Language, Nsid};

/// Why a lexicon document is malformed.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The JSON does not have the shape of a lexicon document.
    #[error("not a lexicon document: {0}")]
    Shape(#[from] serde_json::Error),
    /// The `lexicon` language version is not 1.
    #[error("unsupported lexicon language version {0} (only 1 is known)")]
    Version(u64),
    /// The `id` is not a valid NSID.
    #[error("id {id:?} is not a valid NSID: {reason}")]
    Id {
        /// The id as written.
        id: String,
        /// Why it is not an NSID.
        reason: String,
    },
    /// A definition breaks a structural rule.
    #[error("{id}#{def}: {reason}")]
    Def {
        /// The document's id.
        id: String,
        /// The definition's name (with a `/`-separated path inside it when nested).
        def: String,
        /// What is wrong.
        reason: String,
    },
}

/// A lexicon document: one NSID and its named definitions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LexiconDoc {
    /// The lexicon language version (always 1).
    pub lexicon: u64,
    /// The NSID this document defines.
    pub id: String,
    /// Human-readable description.
    #[serde(default)]
    pub description: Option<String>,
    /// The named definitions; `main` is the one the bare NSID names.
    pub defs: BTreeMap<String, Schema>,
}

/// One schema type, in any position (named definition, property, array item, body).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Schema {
    /// A repo record type (only as `main`).
    Record(RecordDef),
    /// An XRPC query (only as `main`).
    Query(XrpcDef),
    /// An XRPC procedure (only as `main`).
    Procedure(XrpcDef),
    /// An event stream (only as `main`).
    Subscription(SubscriptionDef),
    /// A permission set (only as `main`).
    PermissionSet(PermissionSetDef),
    /// One permission of a permission set (only inside one).
    Permission(PermissionDef),
    /// XRPC parameters (only in a query, procedure or subscription).
    Params(ParamsDef),
    /// A named constant, used as a string value.
    Token(TokenDef),
    /// An object with typed properties.
    Object(ObjectDef),
    /// An array.
    Array(ArrayDef),
    /// `true` / `false`.
    Boolean(BooleanDef),
    /// A signed integer.
    Integer(IntegerDef),
    /// A UTF-8 string.
    String(StringDef),
    /// Raw bytes.
    Bytes(BytesDef),
    /// A CID link.
    CidLink(CidLinkDef),
    /// A blob reference.
    Blob(BlobDef),
    /// A reference to another definition.
    Ref(RefDef),
    /// One of several object definitions, told apart by `$type`.
    Union(UnionDef),
    /// Any object.
    Unknown(UnknownDef),
}

/// `record`: the schema of a repo record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordDef {
    /// Record-key type: `tid`, `nsid`, `any` or `literal:<value>`.
    pub key: Option<String>,
    /// The record's object schema (must be `type: object`).
    pub record: Box<Schema>,
}

/// `query` and `procedure`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct XrpcDef {
    /// Query-string parameters.
    #[serde(default)]
    pub parameters: Option<Box<Schema>>,
    /// Request body (procedures).
    #[serde(default)]
    pub input: Option<Body>,
    /// Response body.
    #[serde(default)]
    pub output: Option<Body>,
    /// Named errors.
    #[serde(default)]
    pub errors: Vec<ErrorDef>,
}

/// `subscription`: an event stream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SubscriptionDef {
    /// Query-string parameters.
    #[serde(default)]
    pub parameters: Option<Box<Schema>>,
    /// The message schema (a union).
    #[serde(default)]
    pub message: Option<MessageDef>,
    /// Named errors.
    #[serde(default)]
    pub errors: Vec<ErrorDef>,
}

/// The message of a subscription.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MessageDef {
    /// The message schema (must be a union).
    pub schema: Box<Schema>,
}

/// An XRPC request or response body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Body {
    /// MIME type of the body.
    pub encoding: String,
    /// Its schema when JSON: an object, a ref or a union.
    #[serde(default)]
    pub schema: Option<Box<Schema>>,
}

/// A named XRPC error.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ErrorDef {
    /// The error name.
    pub name: String,
}

/// `permission-set`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PermissionSetDef {
    /// Short title.
    #[serde(default)]
    pub title: Option<String>,
    /// Titles by language tag.
    #[serde(default, rename = "title:lang")]
    pub title_lang: BTreeMap<String, String>,
    /// Longer detail.
    #[serde(default)]
    pub detail: Option<String>,
    /// Details by language tag.
    #[serde(default, rename = "detail:lang")]
    pub detail_lang: BTreeMap<String, String>,
    /// The permissions (each `type: permission`).
    pub permissions: Vec<Schema>,
}

/// `permission`: one grant of a permission set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionDef {
    /// `repo` or `rpc` (others are not allowed in permission sets).
    pub resource: String,
    /// Collections (NSIDs) of a `repo` permission.
    #[serde(default)]
    pub collection: Vec<String>,
    /// Actions of a `repo` permission: `create`, `update`, `delete`.
    #[serde(default)]
    pub action: Vec<String>,
    /// Methods (NSIDs or `*`) of an `rpc` permission.
    #[serde(default)]
    pub lxm: Vec<String>,
    /// Audience of an `rpc` permission (only `*` in a permission set).
    #[serde(default)]
    pub aud: Option<String>,
    /// Whether the audience comes from the including scope.
    #[serde(default)]
    pub inherit_aud: bool,
}

/// `params`: XRPC query-string parameters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ParamsDef {
    /// Required parameter names.
    #[serde(default)]
    pub required: Vec<String>,
    /// The parameters: booleans, integers, strings, unknowns, or arrays of those.
    #[serde(default)]
    pub properties: BTreeMap<String, Schema>,
}

/// `token`: a named constant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TokenDef {}

/// `object`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ObjectDef {
    /// Properties that must be present.
    #[serde(default)]
    pub required: Vec<String>,
    /// Properties whose value may be `null`.
    #[serde(default)]
    pub nullable: Vec<String>,
    /// The properties by name.
    #[serde(default)]
    pub properties: BTreeMap<String, Schema>,
}

/// `array`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArrayDef {
    /// The schema of every element.
    pub items: Box<Schema>,
    /// Fewest elements.
    #[serde(default)]
    pub min_length: Option<u64>,
    /// Most elements.
    #[serde(default)]
    pub max_length: Option<u64>,
}

/// `boolean`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BooleanDef {
    /// Value assumed when absent (not applied by validation).
    #[serde(default)]
    pub default: Option<bool>,
    /// The only allowed value.
    #[serde(default, rename = "const")]
    pub const_value: Option<bool>,
}

/// `integer`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IntegerDef {
    /// Smallest allowed value.
    #[serde(default)]
    pub minimum: Option<i64>,
    /// Largest allowed value.
    #[serde(default)]
    pub maximum: Option<i64>,
    /// The allowed values.
    #[serde(default, rename = "enum")]
    pub enum_values: Option<Vec<i64>>,
    /// The only allowed value.
    #[serde(default, rename = "const")]
    pub const_value: Option<i64>,
    /// Value assumed when absent (not applied by validation).
    #[serde(default)]
    pub default: Option<i64>,
}

/// `string`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StringDef {
    /// A format the value must have.
    #[serde(default)]
    pub format: Option<StringFormat>,
    /// Fewest UTF-8 bytes.
    #[serde(default)]
    pub min_length: Option<u64>,
    /// Most UTF-8 bytes.
    #[serde(default)]
    pub max_length: Option<u64>,
    /// Fewest grapheme clusters.
    #[serde(default)]
    pub min_graphemes: Option<u64>,
    /// Most grapheme clusters.
    #[serde(default)]
    pub max_graphemes: Option<u64>,
    /// The allowed values.
    #[serde(default, rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    /// The only allowed value.
    #[serde(default, rename = "const")]
    pub const_value: Option<String>,
    /// Suggested values (not enforced).
    #[serde(default)]
    pub known_values: Vec<String>,
    /// Value assumed when absent (not applied by validation).
    #[serde(default)]
    pub default: Option<String>,
}

/// The string formats of the Lexicon specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StringFormat {
    /// A DID or a handle.
    AtIdentifier,
    /// An `at://` URI.
    AtUri,
    /// A CID as a string.
    Cid,
    /// An RFC 3339 datetime.
    Datetime,
    /// A DID.
    Did,
    /// A handle.
    Handle,
    /// A BCP 47 language tag.
    Language,
    /// An NSID.
    Nsid,
    /// A record key.
    RecordKey,
    /// A TID.
    Tid,
    /// Any URI.
    Uri,
}

impl StringFormat {
    /// The format's name as lexicons write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::AtIdentifier => "at-identifier",
            Self::AtUri => "at-uri",
            Self::Cid => "cid",
            Self::Datetime => "datetime",
            Self::Did => "did",
            Self::Handle => "handle",
            Self::Language => "language",
            Self::Nsid => "nsid",
            Self::RecordKey => "record-key",
            Self::Tid => "tid",
            Self::Uri => "uri",
        }
    }
}

/// `bytes`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BytesDef {
    /// Fewest bytes.
    #[serde(default)]
    pub min_length: Option<u64>,
    /// Most bytes.
    #[serde(default)]
    pub max_length: Option<u64>,
}

/// `cid-link`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CidLinkDef {}

/// `blob`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobDef {
    /// Accepted MIME types (`image/png`, `image/*`, `*/*`).
    #[serde(default)]
    pub accept: Option<Vec<String>>,
    /// Largest size in bytes.
    #[serde(default)]
    pub max_size: Option<u64>,
}

/// `ref`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RefDef {
    /// `#local`, `nsid#name` or `nsid` (its `main`).
    #[serde(rename = "ref")]
    pub target: String,
}

/// `union`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UnionDef {
    /// The variants, as refs.
    pub refs: Vec<String>,
    /// Whether values of other `$type`s are rejected (default: open).
    #[serde(default)]
    pub closed: bool,
}

/// `unknown`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UnknownDef {}

impl Schema {
    /// The `type` name as written.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Record(_) => "record",
            Self::Query(_) => "query",
            Self::Procedure(_) => "procedure",
            Self::Subscription(_) => "subscription",
            Self::PermissionSet(_) => "permission-set",
            Self::Permission(_) => "permission",
            Self::Params(_) => "params",
            Self::Token(_) => "token",
            Self::Object(_) => "object",
            Self::Array(_) => "array",
            Self::Boolean(_) => "boolean",
            Self::Integer(_) => "integer",
            Self::String(_) => "string",
            Self::Bytes(_) => "bytes",
            Self::CidLink(_) => "cid-link",
            Self::Blob(_) => "blob",
            Self::Ref(_) => "ref",
            Self::Union(_) => "union",
            Self::Unknown(_) => "unknown",
        }
    }

    /// Types that may only be the `main` definition.
    fn is_primary(&self) -> bool {
        matches!(
            self,
            Self::Record(_)
                | Self::Query(_)
                | Self::Procedure(_)
                | Self::Subscription(_)
                | Self::PermissionSet(_)
        )
    }

    /// Types that may be named definitions at all.
    fn is_definable(&self) -> bool {
        !matches!(
            self,
            Self::Ref(_)
                | Self::Union(_)
                | Self::Unknown(_)
                | Self::Params(_)
                | Self::Permission(_)
        )
    }

    /// Types that may be an object property or an array's items.
    fn is_field(&self) -> bool {
        matches!(
            self,
            Self::Boolean(_)
                | Self::Integer(_)
                | Self::String(_)
                | Self::Bytes(_)
                | Self::CidLink(_)
                | Self::Blob(_)
                | Self::Array(_)
                | Self::Object(_)
                | Self::Ref(_)
                | Self::Union(_)
                | Self::Unknown(_)
        )
    }
}

impl LexiconDoc {
    /// Parses and checks a document from JSON text.
    pub fn from_json(text: &str) -> Result<Self, DocumentError> {
        let doc: Self = serde_json::from_str(text)?;
        doc.check()?;
        Ok(doc)
    }

    /// Parses and checks a document from a JSON value.
    pub fn from_value(value: serde_json::Value) -> Result<Self, DocumentError> {
        let doc: Self = serde_json::from_value(value)?;
        doc.check()?;
        Ok(doc)
    }

    /// Checks the structural rules (see the module docs).
    pub fn check(&self) -> Result<(), DocumentError> {
        if self.lexicon != 1 {
            return Err(DocumentError::Version(self.lexicon));
        }
        Nsid::parse(&self.id).map_err(|e| DocumentError::Id {
            id: self.id.clone(),
            reason: e.reason().to_owned(),
        })?;
        for (name, def) in &self.defs {
            let fail = |path: &str, reason: String| DocumentError::Def {
                id: self.id.clone(),
                def: if path.is_empty() {
                    name.clone()
                } else {
                    format!("{name}/{path}")
                },
                reason,
            };
            if name.is_empty() || name.contains(['#', '.']) {
                return Err(fail("", "invalid definition name".to_owned()));
            }
            if def.is_primary() && name != "main" {
                return Err(fail(
                    "",
                    format!(
                        "{} can only be the main definition",
                        with_article(def.type_name())
                    ),
                ));
            }
            if !def.is_definable() {
                return Err(fail(
                    "",
                    format!(
                        "{} can not be a named definition",
                        with_article(def.type_name())
                    ),
                ));
            }
            let mut path = String::new();
            check_schema(def, &mut path).map_err(|reason| fail(&path, reason))?;
        }
        Ok(())
    }
}

/// `a record`, `an object`.
fn with_article(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o']) || type_name == "unknown" {
        "an"
    } else {
        "a"
    };
    format!("{article} {type_name}")
}

/// Checks one schema and what it contains; on error `path` names where (`/`-separated).
fn check_schema(schema: &Schema, path: &mut String) -> Result<(), String> {
    match schema {
        Schema::Record(def) => {
            check_record_key(def.key.as_deref())?;
            match def.record.as_ref() {
                Schema::Object(_) => nested(path, "record", |path| check_schema(&def.record, path)),
                other => Err(format!(
                    "a record's schema must be an object, not {}",
                    other.type_name()
                )),
            }
        }
        Schema::Query(def) | Schema::Procedure(def) => {
            if let Some(params) = &def.parameters {
                nested(path, "parameters", |path| check_params(params, path))?;
            }
            for (label, body) in [("input", &def.input), ("output", &def.output)] {
                if let Some(body) = body {
                    nested(path, label, |path| check_body(body, path))?;
                }
            }
            Ok(())
        }
        Schema::Subscription(def) => {
            if let Some(params) = &def.parameters {
                nested(path, "parameters", |path| check_params(params, path))?;
            }
            if let Some(message) = &def.message {
                match message.schema.as_ref() {
                    Schema::Union(_) => {
                        nested(path, "message", |path| check_schema(&message.schema, path))?;
                    }
                    other => {
                        return Err(format!(
                            "a subscription message must be a union, not {}",
                            other.type_name()
                        ));
                    }
                }
            }
            Ok(())
        }
        Schema::PermissionSet(def) => {
            for tag in def.title_lang.keys().chain(def.detail_lang.keys()) {
                Language::parse(tag).map_err(|e| e.to_string())?;
            }
            for (index, permission) in def.permissions.iter().enumerate() {
                nested(
                    path,
                    &format!("permissions/{index}"),
                    |_| match permission {
                        Schema::Permission(p) => check_permission(p),
                        other => Err(format!(
                            "a permission set holds permissions, not {}",
                            other.type_name()
                        )),
                    },
                )?;
            }
            Ok(())
        }
        Schema::Permission(def) => check_permission(def),
        Schema::Params(_) => check_params(schema, path),
        Schema::Token(_) | Schema::Boolean(_) | Schema::CidLink(_) | Schema::Unknown(_) => Ok(()),
        Schema::Object(def) => {
            for name in def.required.iter().chain(&def.nullable) {
                if !def.properties.contains_key(name) {
                    return Err(format!(
                        "{name:?} is required or nullable but not a property"
                    ));
                }
            }
            for (name, property) in &def.properties {
                if name.is_empty() {
                    return Err("a property name must not be empty".to_owned());
                }
                nested(path, &format!("properties/{name}"), |path| {
                    check_field(property, path)
                })?;
            }
            Ok(())
        }
        Schema::Array(def) => {
            check_range(def.min_length, def.max_length, "length")?;
            nested(path, "items", |path| check_field(&def.items, path))
        }
        Schema::Integer(def) => {
            if def.default.is_some() && def.const_value.is_some() {
                return Err("can not have both default and const".to_owned());
            }
            if let (Some(min), Some(max)) = (def.minimum, def.maximum)
                && max < min
            {
                return Err(format!("maximum {max} is below minimum {min}"));
            }
            Ok(())
        }
        Schema::String(def) => {
            if def.default.is_some() && def.const_value.is_some() {
                return Err("can not have both default and const".to_owned());
            }
            check_range(def.min_length, def.max_length, "length")?;
            check_range(def.min_graphemes, def.max_graphemes, "graphemes")
        }
        Schema::Bytes(def) => check_range(def.min_length, def.max_length, "length"),
        Schema::Blob(def) => {
            if def.max_size == Some(0) {
                return Err("maxSize must be above zero".to_owned());
            }
            Ok(())
        }
        Schema::Ref(def) => check_ref(&def.target),
        Schema::Union(def) => {
            if def.refs.is_empty() && def.closed {
                return Err("a closed union needs at least one ref".to_owned());
            }
            def.refs.iter().try_for_each(|r| check_ref(r))
        }
    }
}

/// Runs `check` with `segment` appended to `path`, keeping the longer path on error.
fn nested(
    path: &mut String,
    segment: &str,
    check: impl FnOnce(&mut String) -> Result<(), String>,
) -> Result<(), String> {
    let len = path.len();
    if !path.is_empty() {
        path.push('/');
    }
    path.push_str(segment);
    check(path)?;
    path.truncate(len);
    Ok(())
}

fn check_field(schema: &Schema, path: &mut String) -> Result<(), String> {
    if !schema.is_field() {
        return Err(format!(
            "{} can not be a field",
            with_article(schema.type_name())
        ));
    }
    check_schema(schema, path)
}

fn check_params(schema: &Schema, path: &mut String) -> Result<(), String> {
    let Schema::Params(def) = schema else {
        return Err(format!(
            "parameters must be of type params, not {}",
            schema.type_name()
        ));
    };
    for name in &def.required {
        if !def.properties.contains_key(name) {
            return Err(format!("{name:?} is required but not a property"));
        }
    }
    for (name, property) in &def.properties {
        let scalar = |s: &Schema| {
            matches!(
                s,
                Schema::Boolean(_) | Schema::Integer(_) | Schema::String(_) | Schema::Unknown(_)
            )
        };
        let allowed = match property {
            Schema::Array(array) => scalar(&array.items),
            other => scalar(other),
        };
        if !allowed {
            return Err(format!(
                "parameter {name:?} must be a boolean, integer, string, unknown or an array of those"
            ));
        }
        nested(path, &format!("properties/{name}"), |path| {
            check_schema(property, path)
        })?;
    }
    Ok(())
}

fn check_body(body: &Body, path: &mut String) -> Result<(), String> {
    match body.schema.as_deref() {
        None => Ok(()),
        Some(schema @ (Schema::Object(_) | Schema::Ref(_) | Schema::Union(_))) => {
            nested(path, "schema", |path| check_schema(schema, path))
        }
        Some(other) => Err(format!(
            "a body schema must be an object, ref or union, not {}",
            other.type_name()
        )),
    }
}

fn check_range(min: Option<u64>, max: Option<u64>, what: &str) -> Result<(), String> {
    match (min, max) {
        (Some(min), Some(max)) if max < min => {
            Err(format!("maximum {what} {max} is below minimum {min}"))
        }
        _ => Ok(()),
    }
}

fn check_record_key(key: Option<&str>) -> Result<(), String> {
    match key {
        None => Err("a record needs a key type".to_owned()),
        Some("tid" | "nsid" | "any") => Ok(()),
        Some(literal) if literal.len() > "literal:".len() && literal.starts_with("literal:") => {
            Ok(())
        }
        Some(other) => Err(format!("unknown record key type {other:?}")),
    }
}

/// A ref is `#name`, `nsid` or `nsid#name`, with at most one `#`.
fn check_ref(target: &str) -> Result<(), String> {
    let (nsid, name) = match target.split_once('#') {
        Some((nsid, name)) => (nsid, Some(name)),
        None => (target, None),
    };
    if name.is_some_and(|n| n.is_empty() || n.contains('#')) {
        return Err(format!("malformed ref {target:?}"));
    }
    if !nsid.is_empty() && Nsid::parse(nsid).is_err() {
        return Err(format!("ref {target:?} does not name an NSID"));
    }
    if nsid.is_empty() && name.is_none() {
        return Err("empty ref".to_owned());
    }
    Ok(())
}

fn check_permission(def: &PermissionDef) -> Result<(), String> {
    match def.resource.as_str() {
        "repo" => {
            if def.collection.is_empty() {
                return Err("a repo permission needs a collection".to_owned());
            }
            for collection in &def.collection {
                if collection == "*" {
                    return Err("a permission set can not grant every collection".to_owned());
                }
                Nsid::parse(collection).map_err(|e| e.to_string())?;
            }
            for action in &def.action {
                if !matches!(action.as_str(), "create" | "update" | "delete") {
                    return Err(format!("unknown repo action {action:?}"));
                }
            }
            Ok(())
        }
        "rpc" => {
            if def.lxm.is_empty() {
                return Err("an rpc permission needs lxm".to_owned());
            }
            for lxm in &def.lxm {
                if lxm == "*" {
                    if def.aud.as_deref() == Some("*") {
                        return Err(
                            "an rpc permission can not have both lxm and aud \"*\"".to_owned()
                        );
                    }
                } else {
                    Nsid::parse(lxm).map_err(|e| e.to_string())?;
                }
            }
            match (&def.aud, def.inherit_aud) {
                (Some(aud), false) if aud == "*" => Ok(()),
                (Some(_), false) => {
                    Err("a permission set's rpc audience can only be \"*\"".to_owned())
                }
                (None, true) => Ok(()),
                _ => Err("an rpc permission needs exactly one of aud and inheritAud".to_owned()),
            }
        }
        other => Err(format!(
            "a permission set can not hold {other:?} permissions"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(defs: serde_json::Value) -> Result<LexiconDoc, DocumentError> {
        LexiconDoc::from_value(serde_json::json!({
            "lexicon": 1, "id": "com.example.test", "defs": defs
        }))
    }

    #[test]
    fn required_must_name_a_property() {
        let error = doc(serde_json::json!({
            "main": {"type": "object", "required": ["a"], "properties": {}}
        }))
        .unwrap_err();
        assert!(error.to_string().contains("\"a\" is required"), "{error}");
    }

    #[test]
    fn nested_errors_name_their_path() {
        let error = doc(serde_json::json!({
            "main": {"type": "record", "key": "tid", "record": {"type": "object", "properties": {
                "a": {"type": "string", "minLength": 5, "maxLength": 2}
            }}}
        }))
        .unwrap_err();
        assert!(
            error.to_string().contains("main/record/properties/a"),
            "{error}"
        );
    }

    #[test]
    fn unknown_string_format_is_rejected() {
        assert!(doc(serde_json::json!({"main": {"type": "string", "format": "colour"}})).is_err());
    }

    #[test]
    fn params_cannot_hold_objects() {
        let error = doc(serde_json::json!({
            "main": {"type": "query", "parameters": {"type": "params", "properties": {
                "o": {"type": "object", "properties": {}}
            }}}
        }))
        .unwrap_err();
        assert!(error.to_string().contains("parameter \"o\""), "{error}");
    }

    #[test]
    fn record_key_types() {
        for (key, ok) in [
            ("tid", true),
            ("nsid", true),
            ("any", true),
            ("literal:self", true),
            ("literal:", false),
            ("self", false),
        ] {
            let result = doc(serde_json::json!({
                "main": {"type": "record", "key": key, "record": {"type": "object", "properties": {}}}
            }));
            assert_eq!(result.is_ok(), ok, "{key}");
        }
    }

    #[test]
    fn refs_with_two_hashes_are_rejected() {
        assert!(doc(serde_json::json!({"main": {"type": "array", "items": {"type": "ref", "ref": "a.b.c#d#e"}}})).is_err());
        assert!(doc(serde_json::json!({"main": {"type": "array", "items": {"type": "ref", "ref": "#d"}}})).is_ok());
    }
}
