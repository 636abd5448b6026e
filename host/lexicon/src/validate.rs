//! Validating IPLD values against compiled nodes.
//!
//! The rules are those of the reference AppView's validator (`@atproto/lex-schema`, in its
//! default strict, validate-only mode), which decides which records the reference indexes:
//! - objects: unknown properties are allowed and not looked at; a required property must be
//!   present (a `null` counts as present, and must then be allowed by `nullable`); an absent
//!   optional property is fine; defaults are not applied;
//! - a named object definition (reached through a `ref` or a union) rejects a `$type` that
//!   names another definition, and accepts a missing one; a record's `$type` must be its NSID;
//! - unions: the value must be an object with a `$type`; a `$type` equal to a variant's
//!   (`nsid` for a `main` definition, `nsid#name` otherwise, compared exactly) is validated
//!   against that variant; any other string is accepted unvalidated by an open union and
//!   rejected by a closed one;
//! - integers are safe integers (|n| ≤ 2^53 − 1); string lengths are UTF-8 bytes, graphemes
//!   are extended grapheme clusters;
//! - `unknown` is any object (a map, blob-shaped or not) whose values are data-model values;
//! - blobs: `{$type: "blob", ref, mimeType, size}` with nothing else, `mimeType` holding a
//!   `/`, `size` a non-negative safe integer; `accept` and `maxSize` enforced. See
//!   [`ValidationOptions`] for the CID codec and legacy blobs.
//!
//! Nothing is allocated unless validation fails: the error path is collected as the failure
//! unwinds. When a value has several problems, the one reported may not be the one the
//! reference reports first (it follows the lexicon's property order, this the value's key
//! order); whether a value is valid never depends on it.

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;
use unicode_segmentation::UnicodeSegmentation as _;

use crate::error::{ErrorKind, Failure, Segment};
use crate::formats;
use crate::schema::{
    BlobRule, DollarType, IntegerRule, Node, NodeId, ObjectRule, StringRule, UnionRule,
};

/// The largest integer JavaScript represents exactly, the reference's integer bound.
const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;

/// Deepest nesting of values that validation follows (far beyond any lexicon's).
pub const MAX_DEPTH: usize = 256;

/// Choices where implementations of the Lexicon specification differ.
///
/// The default, [`ValidationOptions::REFERENCE`], accepts exactly what the reference AppView
/// indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationOptions {
    /// A blob's CID must be a CIDv1 with the raw codec (`bafkrei…`), as the blob store makes
    /// them. The reference requires it; the Lexicon interop vectors use a DAG-CBOR CID in a
    /// valid blob, so [`ValidationOptions::SPEC`] does not.
    pub require_raw_blob_cids: bool,
    /// Accept the legacy blob form `{cid, mimeType}` of records written before mid-2023. The
    /// reference rejects it (such records are not indexed); when accepted, `accept` applies to
    /// its `mimeType` and `maxSize` can not be checked (it has no size), as in `indigo`'s
    /// `AllowLegacyBlob`.
    pub allow_legacy_blobs: bool,
}

impl ValidationOptions {
    /// What the reference AppView accepts (the default).
    pub const REFERENCE: Self = Self {
        require_raw_blob_cids: true,
        allow_legacy_blobs: false,
    };

    /// The Lexicon specification as its interop vectors test it: as [`Self::REFERENCE`], but a
    /// blob's CID may have any codec.
    pub const SPEC: Self = Self {
        require_raw_blob_cids: false,
        allow_legacy_blobs: false,
    };
}

impl Default for ValidationOptions {
    fn default() -> Self {
        Self::REFERENCE
    }
}

type Checked = Result<(), Box<Failure>>;

fn fail(kind: ErrorKind) -> Checked {
    Err(Failure::new(kind))
}

/// A validation pass over one value.
pub(crate) struct Validator<'a> {
    pub(crate) nodes: &'a [Node],
    pub(crate) options: ValidationOptions,
}

impl Validator<'_> {
    /// Checks `value` against node `id`.
    pub(crate) fn check(&self, id: NodeId, value: &Ipld, depth: usize) -> Checked {
        if depth > MAX_DEPTH {
            return fail(ErrorKind::TooDeep(MAX_DEPTH));
        }
        let Some(node) = self.nodes.get(id as usize) else {
            return fail(ErrorKind::UnresolvedRef(format!("node {id}")));
        };
        match node {
            Node::Boolean { const_value } => match (value, const_value) {
                (Ipld::Bool(b), Some(c)) if b != c => fail(ErrorKind::NotConst {
                    expected: c.to_string(),
                }),
                (Ipld::Bool(_), _) => Ok(()),
                _ => wrong_type("a boolean", value),
            },
            Node::Integer(rule) => check_integer(rule, value),
            Node::String(rule) => check_string(rule, value),
            Node::Bytes {
                min_length,
                max_length,
            } => match value {
                Ipld::Bytes(bytes) => {
                    check_size("byte length", bytes.len(), *min_length, *max_length)
                }
                _ => wrong_type("bytes", value),
            },
            Node::CidLink => match value {
                Ipld::Link(_) => Ok(()),
                _ => wrong_type("a CID link", value),
            },
            Node::Blob(rule) => self.check_blob(rule, value),
            Node::Array {
                items,
                min_length,
                max_length,
            } => {
                let Ipld::List(list) = value else {
                    return wrong_type("an array", value);
                };
                check_size("element count", list.len(), *min_length, *max_length)?;
                for (index, item) in list.iter().enumerate() {
                    self.check(*items, item, depth + 1)
                        .map_err(|f| f.inside(Segment::Index(index)))?;
                }
                Ok(())
            }
            Node::Object(rule) => self.check_object(rule, value, depth),
            Node::Union(rule) => self.check_union(rule, value, depth),
            Node::Unknown => match value {
                Ipld::Map(map) => {
                    for (key, item) in map {
                        check_data_model(item, depth + 1)
                            .map_err(|f| f.inside(Segment::Key(key.as_str().into())))?;
                    }
                    Ok(())
                }
                _ => wrong_type("an object", value),
            },
            Node::Token { value: token } => match value {
                Ipld::String(s) if s.as_str() == &**token => Ok(()),
                Ipld::String(_) => fail(ErrorKind::NotToken {
                    expected: token.to_string(),
                }),
                _ => wrong_type("a string (a token)", value),
            },
            Node::Unresolved { target } => fail(ErrorKind::UnresolvedRef(target.to_string())),
            Node::NotData { kind } => fail(ErrorKind::NotData(kind)),
        }
    }

    fn check_object(&self, rule: &ObjectRule, value: &Ipld, depth: usize) -> Checked {
        let Ipld::Map(map) = value else {
            return wrong_type("an object", value);
        };
        match &rule.dollar_type {
            DollarType::Free => {}
            DollarType::MatchIfPresent(expected) => match dollar_type(map) {
                None => {}
                Some(Ipld::String(found)) if found.as_str() == &**expected => {}
                Some(found) => return wrong_dollar_type(expected, Some(found)),
            },
            DollarType::Required(expected) => match dollar_type(map) {
                Some(Ipld::String(found)) if found.as_str() == &**expected => {}
                found => return wrong_dollar_type(expected, found),
            },
        }
        // Walk the value's entries (usually fewer than the schema's properties), finding
        // each key's property by an equality scan: no ordering comparisons.
        let mut required_seen = 0;
        for (key, item) in map {
            let Some(property) = rule.property(key) else {
                continue;
            };
            required_seen += usize::from(property.required);
            if property.nullable && *item == Ipld::Null {
                continue;
            }
            self.check(property.node, item, depth + 1)
                .map_err(|f| f.inside(Segment::Key(property.name.clone())))?;
        }
        if required_seen < rule.required_count {
            let missing = rule
                .properties
                .iter()
                .find(|p| p.required && !map.contains_key(&*p.name));
            if let Some(missing) = missing {
                return fail(ErrorKind::MissingProperty(missing.name.to_string()));
            }
        }
        Ok(())
    }

    fn check_union(&self, rule: &UnionRule, value: &Ipld, depth: usize) -> Checked {
        let Ipld::Map(map) = value else {
            return fail(ErrorKind::UnionWithoutType);
        };
        let Some(type_value) = dollar_type(map) else {
            return fail(ErrorKind::UnionWithoutType);
        };
        let type_name = match type_value {
            Ipld::String(s) => Some(s.as_str()),
            _ => None,
        };
        if let Some(node) = type_name.and_then(|name| rule.variant(name)) {
            return self.check(node, value, depth);
        }
        if rule.closed {
            let allowed = rule
                .variants
                .iter()
                .map(|(name, _)| &**name)
                .collect::<Vec<_>>()
                .join(", ");
            return fail(ErrorKind::NotInClosedUnion {
                found: type_name
                    .map_or_else(|| describe(type_value).to_owned(), |t| format!("{t:?}")),
                allowed,
            })
            .map_err(|f| f.inside(dollar_type_segment()));
        }
        match type_name {
            Some(_) => Ok(()),
            None => fail(ErrorKind::TypeNotString).map_err(|f| f.inside(dollar_type_segment())),
        }
    }

    fn check_blob(&self, rule: &BlobRule, value: &Ipld) -> Checked {
        let Ipld::Map(map) = value else {
            return wrong_type("a blob", value);
        };
        let (mime_type, size) = if map.contains_key("$type") {
            let (cid, mime_type, size) =
                typed_blob(map).map_err(|why| Failure::new(ErrorKind::NotABlob(why)))?;
            self.check_blob_cid(cid)?;
            (mime_type, Some(size))
        } else if let Some((cid, mime_type)) = legacy_blob(map) {
            if !self.options.allow_legacy_blobs {
                return fail(ErrorKind::LegacyBlob);
            }
            self.check_blob_cid(&cid)?;
            (mime_type, None)
        } else {
            return fail(ErrorKind::NotABlob(
                "expected {$type: \"blob\", ref, mimeType, size}",
            ));
        };
        if let Some(accept) = &rule.accept
            && !accept
                .iter()
                .any(|pattern| mime_matches(pattern, mime_type))
        {
            return fail(ErrorKind::BlobTypeNotAccepted {
                mime_type: mime_type.to_owned(),
                accept: accept.join(", "),
            })
            .map_err(|f| f.inside(Segment::Key("mimeType".into())));
        }
        if let (Some(maximum), Some(size)) = (rule.max_size, size)
            && size > maximum
        {
            return fail(ErrorKind::TooBig {
                what: "blob size",
                maximum: i128::from(maximum),
                actual: i128::from(size),
            });
        }
        Ok(())
    }

    fn check_blob_cid(&self, cid: &cid::Cid) -> Checked {
        const RAW: u64 = 0x55;
        if self.options.require_raw_blob_cids
            && (cid.version() != cid::Version::V1 || cid.codec() != RAW)
        {
            return fail(ErrorKind::BlobCidNotRaw(cid.to_string()));
        }
        Ok(())
    }
}

/// The `$type` entry of a map. `$` sorts before letters and digits, so it is nearly always the
/// first key: look there before searching.
fn dollar_type(map: &BTreeMap<String, Ipld>) -> Option<&Ipld> {
    match map.first_key_value() {
        Some((key, value)) if key == "$type" => Some(value),
        Some((key, _)) if key.as_str() > "$type" => None,
        Some(_) => map.get("$type"),
        None => None,
    }
}

/// A typed blob's CID, MIME type and size, or why it is malformed.
fn typed_blob(map: &BTreeMap<String, Ipld>) -> Result<(&cid::Cid, &str, u64), &'static str> {
    if map.len() != 4 {
        return Err("a blob has exactly the keys $type, ref, mimeType and size");
    }
    match map.get("$type") {
        Some(Ipld::String(t)) if t == "blob" => {}
        _ => return Err("its $type must be \"blob\""),
    }
    let Some(Ipld::Link(cid)) = map.get("ref") else {
        return Err("its ref must be a CID link");
    };
    let mime_type = match map.get("mimeType") {
        Some(Ipld::String(m)) if m.contains('/') => m.as_str(),
        _ => return Err("its mimeType must be a string holding a \"/\""),
    };
    let size = match map.get("size") {
        Some(Ipld::Integer(n)) if (0..=MAX_SAFE_INTEGER).contains(n) => {
            u64::try_from(*n).map_err(|_| "its size must be a non-negative integer")?
        }
        _ => return Err("its size must be a non-negative integer"),
    };
    Ok((cid, mime_type, size))
}

/// A legacy blob's CID and MIME type: exactly `{cid, mimeType}`, the CID a canonical string.
fn legacy_blob(map: &BTreeMap<String, Ipld>) -> Option<(cid::Cid, &str)> {
    if map.len() != 2 {
        return None;
    }
    let Some(Ipld::String(text)) = map.get("cid") else {
        return None;
    };
    let Some(Ipld::String(mime_type)) = map.get("mimeType") else {
        return None;
    };
    if mime_type.is_empty() {
        return None;
    }
    let cid = cid::Cid::try_from(text.as_str()).ok()?;
    (cid.to_string() == *text).then_some((cid, mime_type.as_str()))
}

/// Whether a MIME type matches an `accept` pattern (`*/*`, `type/*`, or exact).
fn mime_matches(pattern: &str, mime_type: &str) -> bool {
    if pattern == "*/*" || pattern == mime_type {
        return true;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) if prefix.ends_with('/') => mime_type.starts_with(prefix),
        _ => false,
    }
}

fn check_integer(rule: &IntegerRule, value: &Ipld) -> Checked {
    let Ipld::Integer(n) = value else {
        return wrong_type("an integer", value);
    };
    let n = *n;
    if !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n) {
        return fail(ErrorKind::UnsafeInteger(n));
    }
    match rule {
        IntegerRule::Const(c) if n != i128::from(*c) => fail(ErrorKind::NotConst {
            expected: c.to_string(),
        }),
        IntegerRule::Const(_) => Ok(()),
        IntegerRule::Enum(values) if !values.iter().any(|v| i128::from(*v) == n) => {
            fail(ErrorKind::NotInEnum {
                allowed: values
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join("|"),
            })
        }
        IntegerRule::Enum(_) => Ok(()),
        IntegerRule::Range { minimum, maximum } => {
            if let Some(min) = minimum
                && n < i128::from(*min)
            {
                return fail(ErrorKind::TooSmall {
                    what: "value",
                    minimum: i128::from(*min),
                    actual: n,
                });
            }
            if let Some(max) = maximum
                && n > i128::from(*max)
            {
                return fail(ErrorKind::TooBig {
                    what: "value",
                    maximum: i128::from(*max),
                    actual: n,
                });
            }
            Ok(())
        }
        IntegerRule::Never => fail(ErrorKind::Never),
    }
}

fn check_string(rule: &StringRule, value: &Ipld) -> Checked {
    let Ipld::String(s) = value else {
        return wrong_type("a string", value);
    };
    match rule {
        StringRule::Const(c) if s.as_str() != &**c => fail(ErrorKind::NotConst {
            expected: format!("{c:?}"),
        }),
        StringRule::Const(_) => Ok(()),
        StringRule::Enum(values) if !values.iter().any(|v| s.as_str() == &**v) => {
            fail(ErrorKind::NotInEnum {
                allowed: values.join("|"),
            })
        }
        StringRule::Enum(_) => Ok(()),
        StringRule::Constrained {
            min_length,
            max_length,
            min_graphemes,
            max_graphemes,
            format,
        } => {
            check_size("UTF-8 length", s.len(), *min_length, *max_length)?;
            // A string has at most as many grapheme clusters as bytes: without a minimum, a
            // string no longer in bytes than the maximum needs no count.
            let needs_count =
                min_graphemes.is_some() || max_graphemes.is_some_and(|max| as_u64(s.len()) > max);
            if needs_count {
                let count = s.graphemes(true).count();
                check_size("grapheme count", count, *min_graphemes, *max_graphemes)?;
            }
            if let Some(format) = format {
                formats::check(*format, s).map_err(|reason| {
                    Failure::new(ErrorKind::Format {
                        format: format.name(),
                        reason,
                    })
                })?;
            }
            Ok(())
        }
        StringRule::Never => fail(ErrorKind::Never),
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn check_size(what: &'static str, actual: usize, min: Option<u64>, max: Option<u64>) -> Checked {
    let actual = as_u64(actual);
    if let Some(minimum) = min
        && actual < minimum
    {
        return fail(ErrorKind::TooSmall {
            what,
            minimum: i128::from(minimum),
            actual: i128::from(actual),
        });
    }
    if let Some(maximum) = max
        && actual > maximum
    {
        return fail(ErrorKind::TooBig {
            what,
            maximum: i128::from(maximum),
            actual: i128::from(actual),
        });
    }
    Ok(())
}

/// Checks that a value (inside `unknown`) is a data-model value: anything but a float.
fn check_data_model(value: &Ipld, depth: usize) -> Checked {
    if depth > MAX_DEPTH {
        return fail(ErrorKind::TooDeep(MAX_DEPTH));
    }
    match value {
        Ipld::Float(_) => fail(ErrorKind::Float),
        Ipld::Integer(n) if !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(n) => {
            fail(ErrorKind::UnsafeInteger(*n))
        }
        Ipld::List(items) => {
            for (index, item) in items.iter().enumerate() {
                check_data_model(item, depth + 1).map_err(|f| f.inside(Segment::Index(index)))?;
            }
            Ok(())
        }
        Ipld::Map(map) => {
            for (key, item) in map {
                check_data_model(item, depth + 1)
                    .map_err(|f| f.inside(Segment::Key(key.as_str().into())))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn wrong_type(expected: &'static str, value: &Ipld) -> Checked {
    fail(ErrorKind::WrongType {
        expected,
        found: describe(value),
    })
}

fn dollar_type_segment() -> Segment {
    Segment::Key("$type".into())
}

fn wrong_dollar_type(expected: &str, found: Option<&Ipld>) -> Checked {
    fail(ErrorKind::WrongDollarType {
        expected: expected.to_owned(),
        found: match found {
            None => "absent".to_owned(),
            Some(Ipld::String(s)) => format!("{s:?}"),
            Some(other) => describe(other).to_owned(),
        },
    })
    .map_err(|f| f.inside(dollar_type_segment()))
}

/// The data-model type of a value, for messages.
fn describe(value: &Ipld) -> &'static str {
    match value {
        Ipld::Null => "null",
        Ipld::Bool(_) => "a boolean",
        Ipld::Integer(_) => "an integer",
        Ipld::Float(_) => "a float",
        Ipld::String(_) => "a string",
        Ipld::Bytes(_) => "bytes",
        Ipld::List(_) => "an array",
        Ipld::Map(_) => "an object",
        Ipld::Link(_) => "a CID link",
    }
}
