//! Lexicons for Sluice: loading lexicon documents, checking them, compiling them, and
//! validating records against them.
//!
//! ```no_run
//! use sluice_lexicon::{Catalog, RecordError};
//! # fn record() -> sluice_atproto::Ipld { sluice_atproto::Ipld::Null }
//! let catalog = Catalog::builtin();
//! match catalog.validate_record("app.bsky.feed.post", &record()) {
//!     Ok(()) => { /* index it */ }
//!     Err(RecordError::NoLexicon(_)) => { /* not a type we know: skip */ }
//!     Err(error) => eprintln!("invalid: {error}"), // record/text: must be a string, not an integer
//! }
//! ```
//!
//! - [`document`]: the JSON shape of lexicon documents and their structural checks.
//! - [`Catalog`]: documents from files, directories or the built-in set, with refs resolved
//!   and every schema compiled once into a flat arena, so that validation follows indexes
//!   rather than names.
//! - Validation ([`RecordSchema::validate`]) follows the reference AppView's validator, so
//!   that Sluice indexes the records the reference indexes; [`ValidationOptions`] names the
//!   points where implementations differ. Failures are [`ValidationError`]s naming the path
//!   (`record/embed/images/0/alt`) and an [`ErrorKind`].

mod catalog;
mod compile;
pub mod document;
mod error;
mod formats;
mod schema;
mod validate;

pub use catalog::{
    Catalog, CatalogBuilder, CatalogError, DefinitionSchema, RecordError, RecordSchema,
};
pub use compile::{RecordKeyType, UnresolvedRef};
pub use error::{ErrorKind, ValidationError};
pub use validate::{MAX_DEPTH, ValidationOptions};
