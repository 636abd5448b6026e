//! Answering the lookups plugins ask for. The indexer answers them from Postgres in bulk; tests
//! and `sluice plugin test` answer them from memory.

use std::collections::HashMap;
use std::future::Future;

use crate::bindings::latest::{Answer, Found, Lookup};
use crate::declaration::Declaration;

/// Why lookups could not be answered (the database is down...). The batch fails as a whole and
/// is retried; nothing is parked.
#[derive(Debug, Clone, thiserror::Error)]
#[error("lookups could not be answered: {0}")]
pub struct LookupError(pub String);

/// Answers every lookup of one round of a batch at once.
pub trait LookupResolver {
    /// Answers `lookups` (distinct, already checked against `plugin`'s declaration): one
    /// [`Found`] per lookup, in the same order. A missing record is `Found::Record(None)`, no
    /// rows is `Found::Rows(vec![])`.
    fn resolve(
        &self,
        plugin: &Declaration,
        lookups: &[Lookup],
    ) -> impl Future<Output = Result<Vec<Found>, LookupError>> + Send;
}

/// Answers from a fixed set of answers; anything else is absent (no record, no rows).
#[derive(Debug, Clone, Default)]
pub struct MemoryResolver {
    answers: HashMap<String, Found>,
}

impl MemoryResolver {
    /// A resolver that knows these answers.
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        let answers = answers
            .into_iter()
            .map(|answer| (lookup_key(&answer.lookup), answer.found))
            .collect();
        Self { answers }
    }

    /// Answers one lookup.
    pub fn answer(&self, lookup: &Lookup) -> Found {
        match self.answers.get(&lookup_key(lookup)) {
            Some(found) => found.clone(),
            None => absent(lookup),
        }
    }
}

impl LookupResolver for MemoryResolver {
    async fn resolve(
        &self,
        _plugin: &Declaration,
        lookups: &[Lookup],
    ) -> Result<Vec<Found>, LookupError> {
        Ok(lookups.iter().map(|lookup| self.answer(lookup)).collect())
    }
}

/// The answer that says "nothing there" to a lookup.
pub fn absent(lookup: &Lookup) -> Found {
    match lookup {
        Lookup::Record(_) => Found::Record(None),
        Lookup::Rows(_) => Found::Rows(Vec::new()),
    }
}

/// A canonical key of a lookup, for deduplication (lookups hold floats, so they are not `Hash`).
pub(crate) fn lookup_key(lookup: &Lookup) -> String {
    match lookup {
        Lookup::Record(uri) => format!("record {uri}"),
        // Serializing plain data cannot fail; the fallback keeps distinct queries distinct.
        Lookup::Rows(query) => {
            serde_json::to_string(query).unwrap_or_else(|_| format!("{query:?}"))
        }
    }
}
