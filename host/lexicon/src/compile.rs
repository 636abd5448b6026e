//! Compiling checked lexicon documents into the node arena of [`crate::schema`].
//!
//! Two passes: every named definition first gets a node id (so that refs can point anywhere,
//! including forward and in cycles), then every definition is compiled into its slot. A ref
//! to a definition that no document has becomes an [`Node::Unresolved`] node, listed in
//! [`Compiled::unresolved`]; validation reports it only if data reaches it.

use std::collections::{BTreeMap, HashMap};

use crate::document::{
    BlobDef, IntegerDef, LexiconDoc, ObjectDef, RecordDef, Schema, StringDef, UnionDef,
};
use crate::schema::{
    BlobRule, DollarType, IntegerRule, Node, NodeId, Nodes, ObjectRule, Property, StringRule,
    UnionRule,
};

/// The record-key type of a record definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKeyType {
    /// A TID.
    Tid,
    /// An NSID.
    Nsid,
    /// Any valid record key.
    Any,
    /// Exactly this key (`literal:self` → `self`).
    Literal(Box<str>),
}

impl RecordKeyType {
    fn parse(key: Option<&str>) -> Self {
        match key {
            Some("tid") => Self::Tid,
            Some("nsid") => Self::Nsid,
            Some(other) => match other.strip_prefix("literal:") {
                Some(literal) => Self::Literal(literal.into()),
                None => Self::Any,
            },
            None => Self::Any,
        }
    }
}

/// A record type of the catalog.
#[derive(Debug, Clone)]
pub(crate) struct RecordEntry {
    pub(crate) node: NodeId,
    pub(crate) key: RecordKeyType,
}

/// A ref that no loaded document resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnresolvedRef {
    /// The document holding the ref.
    pub from: String,
    /// The ref as written.
    pub target: String,
}

/// The compiled catalog.
#[derive(Debug, Default)]
pub(crate) struct Compiled {
    pub(crate) nodes: Nodes,
    /// `nsid#name` → node of that definition.
    pub(crate) defs: HashMap<String, NodeId>,
    /// NSID → record type.
    pub(crate) records: HashMap<String, RecordEntry>,
    pub(crate) unresolved: Vec<UnresolvedRef>,
}

/// Compiles checked documents (keyed by id).
pub(crate) fn compile(docs: &BTreeMap<String, LexiconDoc>) -> Compiled {
    let mut compiled = Compiled::default();
    for doc in docs.values() {
        for name in doc.defs.keys() {
            let id = compiled.push(Node::Unknown);
            compiled.defs.insert(full_name(&doc.id, name), id);
        }
    }
    for doc in docs.values() {
        for (name, def) in &doc.defs {
            let node = compiled.compile_named(&doc.id, name, def);
            let slot = compiled.defs.get(&full_name(&doc.id, name)).copied();
            if let Some(slot) = slot.and_then(|id| compiled.nodes.get_mut(id as usize)) {
                *slot = node;
            }
            if let (Schema::Record(record), Some(id)) = (def, slot) {
                compiled.records.insert(
                    doc.id.clone(),
                    RecordEntry {
                        node: id,
                        key: RecordKeyType::parse(record.key.as_deref()),
                    },
                );
            }
        }
    }
    compiled
}

/// `nsid#name`, the key of a definition.
fn full_name(nsid: &str, name: &str) -> String {
    format!("{nsid}#{name}")
}

/// The `$type` naming a definition: the bare NSID for `main`.
fn type_name(nsid: &str, name: &str) -> Box<str> {
    if name == "main" {
        nsid.into()
    } else {
        full_name(nsid, name).into()
    }
}

/// Splits a ref (`#name`, `nsid`, `nsid#name`) written in document `from` into NSID and name.
pub(crate) fn resolve_ref<'a>(from: &'a str, target: &'a str) -> (&'a str, &'a str) {
    match target.split_once('#') {
        Some(("", name)) => (from, name),
        Some((nsid, name)) => (nsid, name),
        None => (target, "main"),
    }
}

impl Compiled {
    fn push(&mut self, node: Node) -> NodeId {
        // Node counts are bounded by document sizes, far below u32::MAX.
        let id = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        self.nodes.push(node);
        id
    }

    /// The node of a named definition.
    fn compile_named(&mut self, doc_id: &str, name: &str, def: &Schema) -> Node {
        match def {
            Schema::Record(RecordDef { record, .. }) => match record.as_ref() {
                Schema::Object(object) => {
                    self.object(doc_id, object, DollarType::Required(doc_id.into()))
                }
                // Excluded by the document check.
                other => Node::NotData {
                    kind: other.type_name(),
                },
            },
            Schema::Object(object) => self.object(
                doc_id,
                object,
                DollarType::MatchIfPresent(type_name(doc_id, name)),
            ),
            Schema::Token(_) => Node::Token {
                value: type_name(doc_id, name),
            },
            other => self.anonymous(doc_id, other),
        }
    }

    /// The node of a schema in a field position (or a non-object named definition).
    fn anonymous(&mut self, doc_id: &str, schema: &Schema) -> Node {
        match schema {
            Schema::Boolean(def) => Node::Boolean {
                const_value: def.const_value,
            },
            Schema::Integer(def) => Node::Integer(integer_rule(def)),
            Schema::String(def) => Node::String(Box::new(string_rule(def))),
            Schema::Bytes(def) => Node::Bytes {
                min_length: def.min_length,
                max_length: def.max_length,
            },
            Schema::CidLink(_) => Node::CidLink,
            Schema::Blob(def) => Node::Blob(Box::new(blob_rule(def))),
            Schema::Array(def) => {
                let items = self.field(doc_id, &def.items);
                Node::Array {
                    items,
                    min_length: def.min_length,
                    max_length: def.max_length,
                }
            }
            Schema::Object(object) => self.object(doc_id, object, DollarType::Free),
            Schema::Union(def) => self.union(doc_id, def),
            Schema::Unknown(_) => Node::Unknown,
            Schema::Token(_) => Node::NotData { kind: "token" },
            // A ref in this position is handled by `field`; the rest describe no data.
            other => Node::NotData {
                kind: other.type_name(),
            },
        }
    }

    /// The node id for a schema in a field position: a ref is the definition's own node.
    fn field(&mut self, doc_id: &str, schema: &Schema) -> NodeId {
        match schema {
            Schema::Ref(def) => self.reference(doc_id, &def.target),
            other => {
                let node = self.anonymous(doc_id, other);
                self.push(node)
            }
        }
    }

    fn reference(&mut self, doc_id: &str, target: &str) -> NodeId {
        let (nsid, name) = resolve_ref(doc_id, target);
        match self.defs.get(&full_name(nsid, name)) {
            Some(&id) => id,
            None => {
                self.unresolved.push(UnresolvedRef {
                    from: doc_id.to_owned(),
                    target: target.to_owned(),
                });
                self.push(Node::Unresolved {
                    target: full_name(nsid, name).into(),
                })
            }
        }
    }

    fn object(&mut self, doc_id: &str, def: &ObjectDef, dollar_type: DollarType) -> Node {
        let properties: Box<[Property]> = def
            .properties
            .iter()
            .map(|(name, schema)| Property {
                name: name.as_str().into(),
                node: self.field(doc_id, schema),
                required: def.required.contains(name),
                nullable: def.nullable.contains(name),
            })
            .collect();
        let required_count = properties.iter().filter(|p| p.required).count();
        Node::Object(Box::new(ObjectRule {
            dollar_type,
            properties,
            required_count,
        }))
    }

    fn union(&mut self, doc_id: &str, def: &UnionDef) -> Node {
        let variants = def
            .refs
            .iter()
            .map(|target| {
                let (nsid, name) = resolve_ref(doc_id, target);
                let type_name = type_name(nsid, name);
                (type_name, self.reference(doc_id, target))
            })
            .collect();
        Node::Union(Box::new(UnionRule {
            variants,
            closed: def.closed,
        }))
    }
}

fn integer_rule(def: &IntegerDef) -> IntegerRule {
    match (&def.const_value, &def.enum_values) {
        (Some(value), Some(values)) if !values.contains(value) => IntegerRule::Never,
        (Some(value), _) => IntegerRule::Const(*value),
        (None, Some(values)) => IntegerRule::Enum(values.clone().into_boxed_slice()),
        (None, None) => IntegerRule::Range {
            minimum: def.minimum,
            maximum: def.maximum,
        },
    }
}

fn string_rule(def: &StringDef) -> StringRule {
    match (&def.const_value, &def.enum_values) {
        (Some(value), Some(values)) if !values.contains(value) => StringRule::Never,
        (Some(value), _) => StringRule::Const(value.as_str().into()),
        (None, Some(values)) => {
            StringRule::Enum(values.iter().map(|v| v.as_str().into()).collect())
        }
        (None, None) => StringRule::Constrained {
            min_length: def.min_length,
            max_length: def.max_length,
            min_graphemes: def.min_graphemes,
            max_graphemes: def.max_graphemes,
            format: def.format,
        },
    }
}

fn blob_rule(def: &BlobDef) -> BlobRule {
    BlobRule {
        accept: def
            .accept
            .as_ref()
            .map(|accept| accept.iter().map(|a| a.as_str().into()).collect()),
        max_size: def.max_size,
    }
}
