//! The compiled form of a catalog: a flat arena of validation nodes.
//!
//! Every named definition of every document owns one node; anonymous schemas (a property, an
//! array's items) get their own. A `ref` is resolved once, at compile time, to the node of the
//! definition it names, so validating a record never looks a name up. Integer `const`/`enum`
//! and string `const`/`enum` replace the other constraints, as in the reference's schema
//! builder (a lexicon's `const` or `enum` values are checked against those constraints when
//! the lexicon is written, not per record).

/// Index of a node in [`Nodes`].
pub(crate) type NodeId = u32;

/// The arena.
pub(crate) type Nodes = Vec<Node>;

/// One compiled schema.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// `boolean`, optionally a `const`.
    Boolean { const_value: Option<bool> },
    /// `integer`.
    Integer(IntegerRule),
    /// `string`.
    String(Box<StringRule>),
    /// `bytes`.
    Bytes {
        min_length: Option<u64>,
        max_length: Option<u64>,
    },
    /// `cid-link`.
    CidLink,
    /// `blob`.
    Blob(Box<BlobRule>),
    /// `array`.
    Array {
        items: NodeId,
        min_length: Option<u64>,
        max_length: Option<u64>,
    },
    /// `object` (inline, a named definition, or a record's schema).
    Object(Box<ObjectRule>),
    /// `union`.
    Union(Box<UnionRule>),
    /// `unknown`: any object of data-model values.
    Unknown,
    /// `token`: the string naming it.
    Token { value: Box<str> },
    /// A ref to a definition no loaded document has.
    Unresolved { target: Box<str> },
    /// A definition that does not describe data (a query, a procedure, …).
    NotData { kind: &'static str },
}

/// What an `integer` accepts.
#[derive(Debug, Clone)]
pub(crate) enum IntegerRule {
    /// Exactly this value.
    Const(i64),
    /// One of these values (an empty list accepts nothing).
    Enum(Box<[i64]>),
    /// A range (both ends optional).
    Range {
        minimum: Option<i64>,
        maximum: Option<i64>,
    },
    /// Nothing (a `const` outside its own `enum`).
    Never,
}

/// What a `string` accepts.
#[derive(Debug, Clone)]
pub(crate) enum StringRule {
    /// Exactly this value.
    Const(Box<str>),
    /// One of these values.
    Enum(Box<[Box<str>]>),
    /// Length, grapheme and format constraints.
    Constrained {
        min_length: Option<u64>,
        max_length: Option<u64>,
        min_graphemes: Option<u64>,
        max_graphemes: Option<u64>,
        format: Option<crate::document::StringFormat>,
    },
    /// Nothing (a `const` outside its own `enum`).
    Never,
}

/// What a `blob` accepts.
#[derive(Debug, Clone)]
pub(crate) struct BlobRule {
    /// Accepted MIME patterns (`image/*`, `*/*`, exact types); `None` accepts every type.
    pub(crate) accept: Option<Box<[Box<str>]>>,
    /// Largest size in bytes.
    pub(crate) max_size: Option<u64>,
}

/// How an object treats its `$type` property.
#[derive(Debug, Clone)]
pub(crate) enum DollarType {
    /// Not looked at (an inline object).
    Free,
    /// If present, must be this string (a named object definition; the reference's
    /// "typed object").
    MatchIfPresent(Box<str>),
    /// Must be present and be this string (a record: its NSID).
    Required(Box<str>),
}

/// An object's properties.
#[derive(Debug, Clone)]
pub(crate) struct ObjectRule {
    pub(crate) dollar_type: DollarType,
    pub(crate) properties: Box<[Property]>,
    /// How many properties are required.
    pub(crate) required_count: usize,
}

impl ObjectRule {
    /// The property named `key` (an equality scan: objects have few properties, and a length
    /// mismatch rejects most candidates without looking at their bytes).
    pub(crate) fn property(&self, key: &str) -> Option<&Property> {
        self.properties.iter().find(|p| &*p.name == key)
    }
}

/// One property of an object.
#[derive(Debug, Clone)]
pub(crate) struct Property {
    pub(crate) name: Box<str>,
    pub(crate) node: NodeId,
    pub(crate) required: bool,
    pub(crate) nullable: bool,
}

/// A union's variants.
#[derive(Debug, Clone)]
pub(crate) struct UnionRule {
    /// `$type` value → node: `nsid` for a `main` definition, `nsid#name` otherwise.
    pub(crate) variants: Box<[(Box<str>, NodeId)]>,
    /// Whether other `$type`s are rejected.
    pub(crate) closed: bool,
}

impl UnionRule {
    /// The node of the variant with this `$type`.
    pub(crate) fn variant(&self, type_name: &str) -> Option<NodeId> {
        self.variants
            .iter()
            .find(|(name, _)| &**name == type_name)
            .map(|&(_, node)| node)
    }
}
