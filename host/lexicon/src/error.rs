//! Validation errors: what is wrong, and where in the record.

use std::fmt;

/// A value that failed validation, with the path to the offending part.
///
/// Displays as `record/embed/images/0/alt: must be a string`: the path starts at `record`
/// (or `value` for a non-record definition) and names object keys and array indexes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct ValidationError {
    path: String,
    kind: ErrorKind,
}

impl ValidationError {
    pub(crate) fn new(path: String, kind: ErrorKind) -> Self {
        Self { path, kind }
    }

    /// Where: `record/embed/images/0/alt`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The value has the wrong data-model type.
    #[error("must be {expected}, not {found}")]
    WrongType {
        /// What the schema wants (`a string`, `an object`, …).
        expected: &'static str,
        /// What the value is.
        found: &'static str,
    },
    /// A required property is absent (the path names the object).
    #[error("required property {0:?} is missing")]
    MissingProperty(String),
    /// An integer is not a safe integer (beyond ±(2^53 − 1)).
    #[error("integer {0} is outside the safe range (±2^53 − 1)")]
    UnsafeInteger(i128),
    /// The value is not the schema's `const`.
    #[error("must be {expected}")]
    NotConst {
        /// The required value, as JSON.
        expected: String,
    },
    /// The value is not one of the schema's `enum` values.
    #[error("must be one of ({allowed})")]
    NotInEnum {
        /// The allowed values, `|`-separated.
        allowed: String,
    },
    /// The schema accepts no value (a `const` outside its own `enum`).
    #[error("no value is allowed here (the schema's const is not in its enum)")]
    Never,
    /// A number, length or count is below the minimum.
    #[error("{what} {actual} is below the minimum of {minimum}")]
    TooSmall {
        /// `value`, `UTF-8 length`, `grapheme count`, `byte length` or `element count`.
        what: &'static str,
        /// The minimum.
        minimum: i128,
        /// What the value has.
        actual: i128,
    },
    /// A number, length or count is above the maximum.
    #[error("{what} {actual} is above the maximum of {maximum}")]
    TooBig {
        /// `value`, `UTF-8 length`, `grapheme count`, `byte length`, `element count` or
        /// `blob size`.
        what: &'static str,
        /// The maximum.
        maximum: i128,
        /// What the value has.
        actual: i128,
    },
    /// A string does not have its format.
    #[error("must be a valid {format}: {reason}")]
    Format {
        /// The format's name (`datetime`, `did`, …).
        format: &'static str,
        /// Why not.
        reason: String,
    },
    /// A union value has no `$type`.
    #[error("must be an object with a \"$type\" (a union)")]
    UnionWithoutType,
    /// A union value's `$type` is not a string (the path ends in `$type`).
    #[error("must be a string")]
    TypeNotString,
    /// A closed union's value has a `$type` that is not one of its variants (the path ends
    /// in `$type`).
    #[error("{found} is not one of the closed union's types ({allowed})")]
    NotInClosedUnion {
        /// The value's `$type`.
        found: String,
        /// The variants, `, `-separated.
        allowed: String,
    },
    /// An object's `$type` names another definition, or a record has none (the path ends
    /// in `$type`).
    #[error("must be {expected:?}, not {found}")]
    WrongDollarType {
        /// The definition's `$type`.
        expected: String,
        /// The value's, quoted, or what it is instead (`absent`, `an integer`, …).
        found: String,
    },
    /// A token value is not that token.
    #[error("must be the token {expected:?}")]
    NotToken {
        /// The token's name.
        expected: String,
    },
    /// A value where a blob is expected is not a well-formed blob.
    #[error("must be a blob: {0}")]
    NotABlob(&'static str),
    /// A legacy blob (`{cid, mimeType}`) where they are not accepted.
    #[error("legacy blobs ({{cid, mimeType}}) are not accepted")]
    LegacyBlob,
    /// A blob's CID is not a CIDv1 of raw bytes.
    #[error("the blob's CID {0} is not a CIDv1 of raw bytes")]
    BlobCidNotRaw(String),
    /// A blob's MIME type is not accepted (the path ends in `mimeType`).
    #[error("{mime_type:?} is not an accepted type ({accept})")]
    BlobTypeNotAccepted {
        /// The blob's MIME type.
        mime_type: String,
        /// The accepted patterns, `, `-separated.
        accept: String,
    },
    /// An `unknown` value holds something outside the data model (a float).
    #[error("holds a float, which the data model does not allow")]
    Float,
    /// The value nests deeper than validation follows.
    #[error("nested more than {0} levels deep")]
    TooDeep(usize),
    /// A ref names a definition that no loaded lexicon has.
    #[error("the schema refers to {0}, which no loaded lexicon defines")]
    UnresolvedRef(String),
    /// The schema at this point describes no data (a query, a procedure, …).
    #[error("the schema here is a {0}, which describes no data")]
    NotData(&'static str),
}

/// One step of a path, collected innermost first as an error unwinds.
#[derive(Debug, Clone)]
pub(crate) enum Segment {
    Key(Box<str>),
    Index(usize),
}

/// A failure on its way up: the kind and the path so far, innermost segment first.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) reversed_path: Vec<Segment>,
}

impl Failure {
    pub(crate) fn new(kind: ErrorKind) -> Box<Self> {
        Box::new(Self {
            kind,
            reversed_path: Vec::new(),
        })
    }

    /// Prepends a path segment (the failure happened inside it).
    pub(crate) fn inside(mut self: Box<Self>, segment: Segment) -> Box<Self> {
        self.reversed_path.push(segment);
        self
    }

    /// The finished error, the path starting at `root`.
    pub(crate) fn into_error(self, root: &str) -> ValidationError {
        let mut path = String::from(root);
        for segment in self.reversed_path.iter().rev() {
            path.push('/');
            // Writing to a String does not fail.
            let _ = match segment {
                Segment::Key(key) => fmt::Write::write_str(&mut path, key),
                Segment::Index(index) => fmt::Write::write_fmt(&mut path, format_args!("{index}")),
            };
        }
        ValidationError::new(path, self.kind)
    }
}
