//! What a projection can ask of the host while it runs: stored records and rows, answered in
//! rounds.

use std::collections::HashMap;

use crate::error::Error;
use crate::record::decode;
use crate::types::{Answer, Found, Lookup, Row, RowQuery, StoredRecord};

/// The answers of a call, indexed by question.
#[derive(Debug, Default)]
pub(crate) struct AnswerIndex<'a> {
    by_lookup: HashMap<String, &'a Found>,
}

impl<'a> AnswerIndex<'a> {
    pub(crate) fn new(answers: &'a [Answer]) -> Self {
        let by_lookup = answers
            .iter()
            .map(|answer| (lookup_key(&answer.lookup), &answer.found))
            .collect();
        Self { by_lookup }
    }

    fn get(&self, lookup: &Lookup) -> Option<&'a Found> {
        self.by_lookup.get(&lookup_key(lookup)).copied()
    }
}

fn lookup_key(lookup: &Lookup) -> String {
    match lookup {
        Lookup::Record(uri) => format!("r {uri}"),
        Lookup::Rows(query) => format!("q {query:?}"),
    }
}

/// The context of one operation: answers so far, questions for the next round, and the
/// records the result waits for.
///
/// Every question returns [`Error::Pending`] until the host has answered it; propagate it with
/// `?`. To ask several questions in one round, ask them all before the first `?`:
///
/// ```ignore
/// let parent = ctx.record(&parent_uri);
/// let root = ctx.record(&root_uri);
/// let (parent, root) = (parent?, root?);
/// ```
#[derive(Debug)]
pub struct Context<'a> {
    answers: &'a AnswerIndex<'a>,
    needs: Vec<Lookup>,
    awaits: Vec<String>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(answers: &'a AnswerIndex<'a>) -> Self {
        Self {
            answers,
            needs: Vec::new(),
            awaits: Vec::new(),
        }
    }

    /// The stored version of a record (by AT-URI), `None` when it is not indexed. A record
    /// found absent is added to [`Context::await_record`], so the operation is re-run when
    /// it arrives.
    pub fn record(&mut self, uri: &str) -> Result<Option<StoredRecord>, Error> {
        let lookup = Lookup::Record(uri.to_owned());
        match self.answers.get(&lookup) {
            Some(Found::Record(Some(record))) => Ok(Some(record.clone())),
            Some(Found::Record(None)) => {
                self.await_record(uri);
                Ok(None)
            }
            Some(Found::Rows(_)) => Err(Error::Internal(format!(
                "the host answered record {uri} with rows"
            ))),
            None => {
                self.ask(lookup);
                Err(Error::Pending)
            }
        }
    }

    /// Like [`Context::record`], decoded into `T`. A stored record that does not decode as `T`
    /// counts as absent (it produced nothing when it was indexed either).
    pub fn record_as<T: serde::de::DeserializeOwned>(
        &mut self,
        uri: &str,
    ) -> Result<Option<T>, Error> {
        Ok(self
            .record(uri)?
            .and_then(|record| decode(&record.body).ok()))
    }

    /// Rows of a table (one the plugin declares or names in `reads`): the values of
    /// `query.columns`, in that order, at most `query.limit` rows in primary-key order.
    pub fn rows(&mut self, query: RowQuery) -> Result<Vec<Row>, Error> {
        let lookup = Lookup::Rows(query);
        match self.answers.get(&lookup) {
            Some(Found::Rows(rows)) => Ok(rows.clone()),
            Some(Found::Record(_)) => Err(Error::Internal(
                "the host answered a row query with a record".into(),
            )),
            None => {
                self.ask(lookup);
                Err(Error::Pending)
            }
        }
    }

    /// Re-run this operation when the record with this AT-URI is created, updated or deleted,
    /// or when its own operation is re-run (its rows, which this one read, may have changed).
    pub fn await_record(&mut self, uri: &str) {
        if !self.awaits.iter().any(|known| known == uri) {
            self.awaits.push(uri.to_owned());
        }
    }

    fn ask(&mut self, lookup: Lookup) {
        if !self.needs.contains(&lookup) {
            self.needs.push(lookup);
        }
    }

    pub(crate) fn into_parts(self) -> (Vec<Lookup>, Vec<String>) {
        (self.needs, self.awaits)
    }
}
