//! The catalog: a set of lexicon documents, compiled for validation.
//!
//! Build one with [`Catalog::builder`] (documents from strings, values, files, directories
//! and the built-in set), or take [`Catalog::builtin`] (the lexicons shipped in the crate) or
//! [`Catalog::load_dir`]. A catalog is immutable and cheap to clone (shared).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use ipld_core::ipld::Ipld;
use sluice_atproto::data::DataError;
use sluice_atproto::syntax::{Nsid, RecordKey, Tid};

use crate::compile::{self, Compiled, RecordKeyType, UnresolvedRef};
use crate::document::{DocumentError, LexiconDoc};
use crate::error::ValidationError;
use crate::schema::NodeId;
use crate::validate::{ValidationOptions, Validator};

include!(concat!(env!("OUT_DIR"), "/builtin_lexicons.rs"));

/// Why documents could not be added to a catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A file or directory could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A document is malformed.
    #[error("{origin}: {source}")]
    Document {
        /// Where it came from (a path, or a description).
        origin: String,
        /// What is wrong.
        source: DocumentError,
    },
    /// Two documents have the same id.
    #[error("{id} is defined twice ({first} and {second})")]
    Duplicate {
        /// The id.
        id: String,
        /// Where the first came from.
        first: String,
        /// Where the second came from.
        second: String,
    },
}

/// Why a record could not be validated, or how it failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The catalog has no record type for this collection (the caller decides: the indexer
    /// skips such records, as the reference does for collections it does not index).
    #[error("no lexicon defines the record type {0}")]
    NoLexicon(String),
    /// The atproto JSON is not a data-model value (boxed: it is large and rare).
    #[error(transparent)]
    Data(Box<DataError>),
    /// The record breaks its lexicon.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// Collects documents for a [`Catalog`].
#[derive(Debug, Default)]
pub struct CatalogBuilder {
    docs: BTreeMap<String, (LexiconDoc, String)>,
}

impl CatalogBuilder {
    /// Adds a checked document; `origin` names it in errors.
    pub fn add_document(
        &mut self,
        doc: LexiconDoc,
        origin: impl Into<String>,
    ) -> Result<&mut Self, CatalogError> {
        let origin = origin.into();
        if let Some((_, first)) = self.docs.get(&doc.id) {
            return Err(CatalogError::Duplicate {
                id: doc.id.clone(),
                first: first.clone(),
                second: origin,
            });
        }
        doc.check().map_err(|source| CatalogError::Document {
            origin: origin.clone(),
            source,
        })?;
        self.docs.insert(doc.id.clone(), (doc, origin));
        Ok(self)
    }

    /// Parses, checks and adds a document from JSON text.
    pub fn add_json(
        &mut self,
        text: &str,
        origin: impl Into<String>,
    ) -> Result<&mut Self, CatalogError> {
        let origin = origin.into();
        match LexiconDoc::from_json(text) {
            Ok(doc) => self.add_document(doc, origin),
            Err(source) => Err(CatalogError::Document { origin, source }),
        }
    }

    /// Adds the document in a JSON file.
    pub fn add_file(&mut self, path: impl AsRef<Path>) -> Result<&mut Self, CatalogError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
            path: path.to_owned(),
            source,
        })?;
        self.add_json(&text, path.display().to_string())
    }

    /// Adds every `*.json` file under a directory, recursively (in path order).
    pub fn add_dir(&mut self, dir: impl AsRef<Path>) -> Result<&mut Self, CatalogError> {
        let mut files = Vec::new();
        collect_json_files(dir.as_ref(), &mut files)?;
        files.sort();
        for file in &files {
            self.add_file(file)?;
        }
        tracing::debug!(dir = %dir.as_ref().display(), documents = files.len(), "lexicons loaded");
        Ok(self)
    }

    /// Adds the lexicons shipped with Sluice (see [`Catalog::builtin`]).
    pub fn add_builtin(&mut self) -> Result<&mut Self, CatalogError> {
        for (path, text) in BUILTIN_LEXICONS {
            self.add_json(text, format!("built-in lexicons/{path}"))?;
        }
        Ok(self)
    }

    /// Compiles the documents into a catalog.
    pub fn build(self) -> Catalog {
        let docs: BTreeMap<String, LexiconDoc> = self
            .docs
            .into_iter()
            .map(|(id, (doc, _))| (id, doc))
            .collect();
        let compiled = compile::compile(&docs);
        for unresolved in &compiled.unresolved {
            tracing::warn!(from = %unresolved.from, target = %unresolved.target, "lexicon ref resolves to nothing");
        }
        Catalog {
            inner: Arc::new(Inner { docs, compiled }),
        }
    }
}

fn collect_json_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), CatalogError> {
    let io = |source| CatalogError::Io {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_json_files(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    Ok(())
}

/// A compiled set of lexicons (see the module docs).
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    docs: BTreeMap<String, LexiconDoc>,
    compiled: Compiled,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("documents", &self.inner.docs.len())
            .field("records", &self.inner.compiled.records.len())
            .field("nodes", &self.inner.compiled.nodes.len())
            .finish()
    }
}

static BUILTIN: LazyLock<Result<Catalog, String>> = LazyLock::new(|| {
    let mut builder = Catalog::builder();
    builder.add_builtin().map_err(|e| e.to_string())?;
    Ok(builder.build())
});

impl Catalog {
    /// An empty builder.
    pub fn builder() -> CatalogBuilder {
        CatalogBuilder::default()
    }

    /// The lexicons shipped with Sluice: every `app.bsky.*` and `com.atproto.*` document and
    /// `chat.bsky.actor.*` (see `lexicons/README.md` in the crate). Compiled once.
    pub fn builtin() -> Catalog {
        match &*BUILTIN {
            Ok(catalog) => catalog.clone(),
            // The embedded documents are fixed at build time and a test loads them all, so
            // this is a build defect, not bad input.
            Err(error) => panic!("the built-in lexicons do not load: {error}"),
        }
    }

    /// A catalog of every `*.json` document under a directory.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Catalog, CatalogError> {
        let mut builder = Catalog::builder();
        builder.add_dir(dir)?;
        Ok(builder.build())
    }

    /// The documents, by id.
    pub fn documents(&self) -> &BTreeMap<String, LexiconDoc> {
        &self.inner.docs
    }

    /// The document with this id.
    pub fn document(&self, id: &str) -> Option<&LexiconDoc> {
        self.inner.docs.get(id)
    }

    /// The NSIDs of every record type, sorted.
    pub fn record_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = self
            .inner
            .compiled
            .records
            .keys()
            .map(String::as_str)
            .collect();
        types.sort_unstable();
        types
    }

    /// Number of compiled nodes (named definitions and the schemas inside them).
    pub fn node_count(&self) -> usize {
        self.inner.compiled.nodes.len()
    }

    /// Refs that no document of the catalog resolves (validation fails only if data reaches
    /// one).
    pub fn unresolved_refs(&self) -> &[UnresolvedRef] {
        &self.inner.compiled.unresolved
    }

    /// The schema of a record type, by collection NSID.
    pub fn record(&self, collection: &str) -> Option<RecordSchema<'_>> {
        let entry = self.inner.compiled.records.get(collection)?;
        Some(RecordSchema {
            catalog: self,
            nsid: self.inner.docs.get_key_value(collection)?.0,
            node: entry.node,
            key: &entry.key,
        })
    }

    /// The schema of any data definition, by ref (`nsid`, `nsid#name`).
    pub fn definition(&self, reference: &str) -> Option<DefinitionSchema<'_>> {
        let (nsid, name) = compile::resolve_ref("", reference);
        let node = *self.inner.compiled.defs.get(&format!("{nsid}#{name}"))?;
        Some(DefinitionSchema {
            catalog: self,
            node,
        })
    }

    /// Validates a record of `collection` with the default (reference) options.
    pub fn validate_record(&self, collection: &str, value: &Ipld) -> Result<(), RecordError> {
        self.validate_record_with(collection, value, ValidationOptions::default())
    }

    /// Validates a record of `collection`.
    pub fn validate_record_with(
        &self,
        collection: &str,
        value: &Ipld,
        options: ValidationOptions,
    ) -> Result<(), RecordError> {
        let schema = self
            .record(collection)
            .ok_or_else(|| RecordError::NoLexicon(collection.to_owned()))?;
        Ok(schema.validate_with(value, options)?)
    }

    /// Validates a record given as atproto JSON (converted by `sluice_atproto::data`, whose
    /// data-model checks come first: a float, a malformed `$link`, `$bytes` or blob object, or
    /// a non-string `$type` is a [`RecordError::Data`]).
    pub fn validate_record_json(
        &self,
        collection: &str,
        value: &serde_json::Value,
        options: ValidationOptions,
    ) -> Result<(), RecordError> {
        let schema = self
            .record(collection)
            .ok_or_else(|| RecordError::NoLexicon(collection.to_owned()))?;
        let ipld = sluice_atproto::data::record_from_json(value)
            .map_err(|e| RecordError::Data(Box::new(e)))?;
        Ok(schema.validate_with(&ipld, options)?)
    }

    fn check(
        &self,
        node: NodeId,
        value: &Ipld,
        options: ValidationOptions,
        root: &str,
    ) -> Result<(), ValidationError> {
        let validator = Validator {
            nodes: &self.inner.compiled.nodes,
            options,
        };
        validator
            .check(node, value, 0)
            .map_err(|failure| failure.into_error(root))
    }
}

/// A record type of a [`Catalog`].
#[derive(Debug, Clone, Copy)]
pub struct RecordSchema<'a> {
    catalog: &'a Catalog,
    nsid: &'a str,
    node: NodeId,
    key: &'a RecordKeyType,
}

impl RecordSchema<'_> {
    /// The record type's NSID.
    pub fn nsid(&self) -> &str {
        self.nsid
    }

    /// The record-key type.
    pub fn key_type(&self) -> &RecordKeyType {
        self.key
    }

    /// Validates a record value with the default (reference) options: an object whose
    /// `$type` is this NSID, valid against the record's schema.
    pub fn validate(&self, value: &Ipld) -> Result<(), ValidationError> {
        self.validate_with(value, ValidationOptions::default())
    }

    /// Validates a record value.
    pub fn validate_with(
        &self,
        value: &Ipld,
        options: ValidationOptions,
    ) -> Result<(), ValidationError> {
        self.catalog.check(self.node, value, options, "record")
    }

    /// Whether `rkey` is a valid record key of this type (the reference's indexer does not
    /// check it; repo writes do).
    pub fn accepts_key(&self, rkey: &str) -> bool {
        match self.key {
            RecordKeyType::Tid => Tid::parse(rkey).is_ok(),
            RecordKeyType::Nsid => Nsid::parse(rkey).is_ok(),
            RecordKeyType::Any => RecordKey::parse(rkey).is_ok(),
            RecordKeyType::Literal(literal) => rkey == &**literal,
        }
    }
}

/// A data definition of a [`Catalog`] (an object, a string, a token, …).
#[derive(Debug, Clone, Copy)]
pub struct DefinitionSchema<'a> {
    catalog: &'a Catalog,
    node: NodeId,
}

impl DefinitionSchema<'_> {
    /// Validates a value against the definition (error paths start at `value`).
    pub fn validate_with(
        &self,
        value: &Ipld,
        options: ValidationOptions,
    ) -> Result<(), ValidationError> {
        self.catalog.check(self.node, value, options, "value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_is_shared_across_threads() {
        fn shareable<T: Send + Sync + Clone>(_: &T) {}
        let catalog = Catalog::builtin();
        shareable(&catalog);
        let clone = catalog.clone();
        assert!(Arc::ptr_eq(&catalog.inner, &clone.inner));
    }

    #[test]
    fn load_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("sluice-lexicon-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        std::fs::write(dir.join("nested/bad.json"), r#"{"lexicon": 1, "id": "x"}"#).unwrap();
        let error = Catalog::load_dir(&dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(error, CatalogError::Document { .. }));
        assert!(error.to_string().contains("bad.json"), "{error}");
        let missing = Catalog::load_dir(dir.join("absent")).unwrap_err();
        assert!(matches!(missing, CatalogError::Io { .. }), "{missing}");
    }
}
