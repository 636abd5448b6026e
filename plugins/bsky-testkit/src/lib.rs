//! Tests of the Bluesky plugins without a database: an in-memory host that does what the
//! indexer does around a plugin, closely enough to check final states.
//!
//! - [`Host`] runs plugins natively (`sluice_plugin_sdk::runtime`), answers their lookups in
//!   rounds (at most four calls per operation, as the plugin host), applies their row
//!   operations to in-memory tables (upsert merges, deletes, unique keys enforced), keeps the
//!   declared aggregates exact, keeps records (with tombstones for deletes), and re-runs an
//!   operation with source `replay` when a record it awaited is created, updated, deleted or
//!   itself re-run.
//! - [`Host::dump`] prints every table in a stable order, so that two hosts fed the same
//!   records in different orders can be compared.
//! - [`json_record`] turns a JSON record (`$link` for CIDs) into the DAG-CBOR body plugins get.

mod store;

use std::collections::{BTreeMap, BTreeSet};

use sluice_plugin_sdk::Plugin;
use sluice_plugin_sdk::types::{
    Action, Aggregate, Answer, Found, IndexError, Lookup, NetworkEvent, Outcome, PluginInfo,
    RecordOp, RowOp, Source, StoredRecord,
};

pub use store::{Row, Tables, value_text};

/// The most calls per operation (the plugin host's default `max_rounds`).
pub const MAX_ROUNDS: usize = 4;

type IndexRecords = fn(&[RecordOp], &[Answer]) -> Vec<Outcome>;
type IndexEvents = fn(&[NetworkEvent], &[Answer]) -> Vec<Outcome>;

/// A plugin the host runs natively.
#[derive(Clone)]
pub struct PluginHandle {
    info: PluginInfo,
    records: IndexRecords,
    events: IndexEvents,
}

impl std::fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHandle")
            .field("name", &self.info.name)
            .finish()
    }
}

impl PluginHandle {
    /// The handle of plugin `P`.
    pub fn of<P: Plugin>() -> Self {
        Self {
            info: P::describe(),
            records: sluice_plugin_sdk::runtime::index_records::<P>,
            events: sluice_plugin_sdk::runtime::index_events::<P>,
        }
    }
}

/// One operation of [`Host::batch`]: action, AT-URI, `(cid, DAG-CBOR body)` (none for a
/// delete) and `indexedAt`.
pub type BatchOp = (Action, String, Option<(String, Vec<u8>)>, String);

/// What became of one operation or event.
#[derive(Debug, Clone, PartialEq)]
pub enum OpResult {
    /// Row operations applied, records awaited.
    Indexed {
        /// The row operations.
        ops: Vec<RowOp>,
        /// The awaited records.
        awaits: Vec<String>,
    },
    /// `invalid-record` or `unsupported`.
    Skipped(IndexError),
    /// `internal`, too many rounds, or a row operation the tables refused.
    Parked(String),
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    cid: String,
    body: Vec<u8>,
    indexed_at: String,
    deleted: bool,
}

/// The in-memory host.
#[derive(Debug)]
pub struct Host {
    plugins: Vec<PluginHandle>,
    tables: Tables,
    aggregates: Vec<Aggregate>,
    records: BTreeMap<String, Stored>,
    /// awaited URI → URIs of the records whose operations await it.
    awaited_by: BTreeMap<String, BTreeSet<String>>,
    /// URI of an awaiting record → what it awaits.
    awaits_of: BTreeMap<String, BTreeSet<String>>,
    /// Every result, in order, replays included: (record URI or event, source, result).
    pub log: Vec<(String, Source, OpResult)>,
    /// Whether the op's record is written to the `record` store when the plugin skips it (the
    /// reference does not store invalid records).
    store_skipped: bool,
}

impl Host {
    /// A host running `plugins` (their declarations give the tables and aggregates).
    pub fn new(plugins: Vec<PluginHandle>) -> Self {
        let mut tables = Tables::default();
        let mut aggregates = Vec::new();
        for plugin in &plugins {
            for table in &plugin.info.tables {
                tables.declare(table);
            }
            aggregates.extend(plugin.info.aggregates.iter().cloned());
        }
        Self {
            plugins,
            tables,
            aggregates,
            records: BTreeMap::new(),
            awaited_by: BTreeMap::new(),
            awaits_of: BTreeMap::new(),
            log: Vec::new(),
            store_skipped: false,
        }
    }

    /// The tables.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The rows of a table, in primary-key order.
    pub fn rows(&self, table: &str) -> Vec<Row> {
        self.tables.rows(table)
    }

    /// Every table, printed in a stable order; columns in `skip` are left out.
    pub fn dump(&self, skip: &[&str]) -> String {
        self.tables.dump(skip)
    }

    /// The records awaited, with who awaits them.
    pub fn awaits(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.awaited_by
    }

    /// Creates a record (body as DAG-CBOR, see [`json_record`]).
    pub fn create(&mut self, uri: &str, cid: &str, body: Vec<u8>, indexed_at: &str) -> OpResult {
        self.write(
            Action::Create,
            uri,
            Some((cid, body)),
            indexed_at,
            Source::Live,
        )
    }

    /// Updates a record.
    pub fn update(&mut self, uri: &str, cid: &str, body: Vec<u8>, indexed_at: &str) -> OpResult {
        self.write(
            Action::Update,
            uri,
            Some((cid, body)),
            indexed_at,
            Source::Live,
        )
    }

    /// Deletes a record.
    pub fn delete(&mut self, uri: &str, indexed_at: &str) -> OpResult {
        self.write(Action::Delete, uri, None, indexed_at, Source::Live)
    }

    /// Runs one record operation from `source`, then every replay it causes.
    pub fn write(
        &mut self,
        action: Action,
        uri: &str,
        record: Option<(&str, Vec<u8>)>,
        indexed_at: &str,
        source: Source,
    ) -> OpResult {
        let op = self.record_op(action, uri, record, indexed_at, source);
        let result = self.run_op(&op);
        self.replay_awaiting(uri);
        result
    }

    /// Runs a batch: every operation is answered from the state before the batch (as the
    /// indexer answers a batch's lookups before writing it), then all are applied in order,
    /// then the replays run.
    pub fn batch(&mut self, ops: Vec<BatchOp>) -> Vec<OpResult> {
        let record_ops: Vec<RecordOp> = ops
            .iter()
            .map(|(action, uri, record, indexed_at)| {
                let record = record
                    .as_ref()
                    .map(|(cid, body)| (cid.as_str(), body.clone()));
                self.record_op(*action, uri, record, indexed_at, Source::Live)
            })
            .collect();
        let results: Vec<(RecordOp, OpResult)> = record_ops
            .into_iter()
            .map(|op| {
                let result = self.call_records(&op);
                (op, result)
            })
            .collect();
        let mut out = Vec::new();
        for (op, result) in results {
            let result = self.commit(&op, result);
            out.push(result);
        }
        for (_, uri, _, _) in &ops {
            self.replay_awaiting(uri);
        }
        out
    }

    /// Runs one network event through every plugin that subscribes to its kind.
    pub fn event(&mut self, event: NetworkEvent) -> Vec<OpResult> {
        let plugins: Vec<PluginHandle> = self
            .plugins
            .iter()
            .filter(|plugin| {
                let events = plugin.info.events;
                match &event {
                    NetworkEvent::Identity(_) => {
                        events.contains(sluice_plugin_sdk::types::EventKinds::IDENTITY)
                    }
                    NetworkEvent::Account(_) => {
                        events.contains(sluice_plugin_sdk::types::EventKinds::ACCOUNT)
                    }
                    NetworkEvent::Label(_) => {
                        events.contains(sluice_plugin_sdk::types::EventKinds::LABEL)
                    }
                }
            })
            .cloned()
            .collect();
        let mut results = Vec::new();
        for plugin in plugins {
            let events = plugin.events;
            let result = self.rounds(|answers| events(std::slice::from_ref(&event), answers));
            let result = match result {
                OpResult::Indexed { ops, awaits } => match self.tables.apply_all(&ops) {
                    Ok(()) => {
                        self.recount(&ops);
                        OpResult::Indexed { ops, awaits }
                    }
                    Err(error) => OpResult::Parked(error),
                },
                other => other,
            };
            self.log
                .push((format!("{event:?}"), Source::Live, result.clone()));
            results.push(result);
        }
        results
    }

    fn record_op(
        &self,
        action: Action,
        uri: &str,
        record: Option<(&str, Vec<u8>)>,
        indexed_at: &str,
        source: Source,
    ) -> RecordOp {
        let (did, collection, rkey) = split(uri);
        let previous = self
            .records
            .get(uri)
            .filter(|stored| !stored.deleted)
            .map(|stored| StoredRecord {
                cid: stored.cid.clone(),
                body: stored.body.clone(),
            });
        RecordOp {
            action,
            did,
            collection,
            rkey,
            record: record.map(|(cid, body)| StoredRecord {
                cid: cid.to_owned(),
                body,
            }),
            previous,
            rev: "3l000000000aa".to_owned(),
            indexed_at: indexed_at.to_owned(),
            source,
        }
    }

    fn plugin_for(&self, collection: &str) -> Option<&PluginHandle> {
        self.plugins
            .iter()
            .find(|plugin| plugin.info.collections.iter().any(|c| c == collection))
    }

    fn run_op(&mut self, op: &RecordOp) -> OpResult {
        let result = self.call_records(op);
        self.commit(op, result)
    }

    fn call_records(&self, op: &RecordOp) -> OpResult {
        let Some(plugin) = self.plugin_for(&op.collection) else {
            return OpResult::Skipped(IndexError::Unsupported(format!(
                "no plugin claims {}",
                op.collection
            )));
        };
        let records = plugin.records;
        self.rounds(|answers| records(std::slice::from_ref(op), answers))
    }

    /// Calls until the operation is done or out of rounds, answering its lookups.
    fn rounds(&self, call: impl Fn(&[Answer]) -> Vec<Outcome>) -> OpResult {
        let mut answers: Vec<Answer> = Vec::new();
        for round in 1..=MAX_ROUNDS {
            let outcome = call(&answers).into_iter().next();
            match outcome {
                Some(Outcome::Indexed(indexed)) => {
                    return OpResult::Indexed {
                        ops: indexed.ops,
                        awaits: indexed.awaits,
                    };
                }
                Some(Outcome::Failed(IndexError::Internal(reason))) => {
                    return OpResult::Parked(format!("internal: {reason}"));
                }
                Some(Outcome::Failed(error)) => return OpResult::Skipped(error),
                Some(Outcome::Needs(lookups)) => {
                    if round == MAX_ROUNDS {
                        return OpResult::Parked(format!(
                            "still asking after {MAX_ROUNDS} rounds: {lookups:?}"
                        ));
                    }
                    for lookup in lookups {
                        if answers.iter().any(|answer| answer.lookup == lookup) {
                            return OpResult::Parked(format!("asked again: {lookup:?}"));
                        }
                        let found = self.answer(&lookup);
                        answers.push(Answer { lookup, found });
                    }
                }
                None => return OpResult::Parked("no outcome".to_owned()),
            }
        }
        OpResult::Parked("out of rounds".to_owned())
    }

    fn answer(&self, lookup: &Lookup) -> Found {
        match lookup {
            Lookup::Record(uri) => {
                Found::Record(self.records.get(uri).filter(|stored| !stored.deleted).map(
                    |stored| StoredRecord {
                        cid: stored.cid.clone(),
                        body: stored.body.clone(),
                    },
                ))
            }
            Lookup::Rows(query) if query.table == "record" => {
                let uri = query.matching.iter().find(|cell| cell.column == "uri");
                let rows = uri
                    .and_then(|cell| value_text(&cell.value))
                    .and_then(|uri| self.records.get(&uri).map(|stored| (uri, stored)))
                    .map(|(uri, stored)| {
                        query
                            .columns
                            .iter()
                            .map(|column| {
                                let text = match column.as_str() {
                                    "uri" => uri.clone(),
                                    "cid" if stored.deleted => String::new(),
                                    "cid" => stored.cid.clone(),
                                    "indexedAt" => stored.indexed_at.clone(),
                                    _ => String::new(),
                                };
                                sluice_plugin_sdk::types::Value::Text(text)
                            })
                            .collect()
                    })
                    .into_iter()
                    .collect();
                Found::Rows(rows)
            }
            Lookup::Rows(query) => Found::Rows(self.tables.query(query)),
        }
    }

    /// Applies a result: row operations, the record store, the awaits.
    fn commit(&mut self, op: &RecordOp, result: OpResult) -> OpResult {
        let uri = format!("at://{}/{}/{}", op.did, op.collection, op.rkey);
        let result = match result {
            OpResult::Indexed { ops, awaits } => match self.tables.apply_all(&ops) {
                Ok(()) => {
                    self.recount(&ops);
                    self.set_awaits(&uri, &awaits);
                    self.store(op, &uri);
                    OpResult::Indexed { ops, awaits }
                }
                Err(error) => OpResult::Parked(error),
            },
            OpResult::Skipped(error) => {
                if self.store_skipped {
                    self.store(op, &uri);
                }
                OpResult::Skipped(error)
            }
            parked => parked,
        };
        self.log.push((uri, op.source, result.clone()));
        result
    }

    fn store(&mut self, op: &RecordOp, uri: &str) {
        match (&op.action, &op.record) {
            (Action::Delete, _) | (_, None) => {
                let entry = self.records.entry(uri.to_owned()).or_insert(Stored {
                    cid: String::new(),
                    body: Vec::new(),
                    indexed_at: op.indexed_at.clone(),
                    deleted: true,
                });
                entry.deleted = true;
                self.set_awaits(uri, &[]);
            }
            (_, Some(record)) => {
                // A replay keeps the stored `indexedAt`.
                let indexed_at = match (op.source, self.records.get(uri)) {
                    (Source::Replay, Some(stored)) => stored.indexed_at.clone(),
                    _ => op.indexed_at.clone(),
                };
                self.records.insert(
                    uri.to_owned(),
                    Stored {
                        cid: record.cid.clone(),
                        body: record.body.clone(),
                        indexed_at,
                        deleted: false,
                    },
                );
            }
        }
    }

    fn set_awaits(&mut self, uri: &str, awaits: &[String]) {
        if let Some(old) = self.awaits_of.remove(uri) {
            for awaited in old {
                if let Some(set) = self.awaited_by.get_mut(&awaited) {
                    set.remove(uri);
                    if set.is_empty() {
                        self.awaited_by.remove(&awaited);
                    }
                }
            }
        }
        if awaits.is_empty() {
            return;
        }
        for awaited in awaits {
            self.awaited_by
                .entry(awaited.clone())
                .or_default()
                .insert(uri.to_owned());
        }
        self.awaits_of
            .insert(uri.to_owned(), awaits.iter().cloned().collect());
    }

    /// Re-runs every operation awaiting `uri` (and, in turn, those awaiting them).
    fn replay_awaiting(&mut self, uri: &str) {
        let mut queue: Vec<String> = vec![uri.to_owned()];
        let mut guard = 0;
        while let Some(changed) = queue.pop() {
            let Some(waiting) = self.awaited_by.get(&changed).cloned() else {
                continue;
            };
            for waiter in waiting {
                guard += 1;
                assert!(guard < 10_000, "replays do not settle");
                let Some(stored) = self.records.get(&waiter).filter(|s| !s.deleted).cloned() else {
                    self.set_awaits(&waiter, &[]);
                    continue;
                };
                let (did, collection, rkey) = split(&waiter);
                let current = StoredRecord {
                    cid: stored.cid.clone(),
                    body: stored.body.clone(),
                };
                let op = RecordOp {
                    action: Action::Create,
                    did,
                    collection,
                    rkey,
                    record: Some(current.clone()),
                    previous: Some(current),
                    rev: "3l000000000aa".to_owned(),
                    indexed_at: stored.indexed_at.clone(),
                    source: Source::Replay,
                };
                self.run_op(&op);
                // Its rows may have changed what its own waiters read (as the indexer does).
                queue.push(waiter);
            }
        }
    }

    /// Recomputes the declared aggregates over the tables `ops` touched, from the rows (exact
    /// counts, as the host keeps them).
    fn recount(&mut self, ops: &[RowOp]) {
        let touched: BTreeSet<&str> = ops
            .iter()
            .map(|op| match op {
                RowOp::Upsert(upsert) => upsert.table.as_str(),
                RowOp::Delete(delete) => delete.table.as_str(),
                RowOp::Increment(increment) => increment.table.as_str(),
            })
            .collect();
        for aggregate in &self.aggregates {
            if touched.contains(aggregate.source.as_str())
                || touched.contains(aggregate.target.as_str())
            {
                self.tables.recount(aggregate);
            }
        }
    }
}

/// `did`, `collection`, `rkey` of `at://did/collection/rkey`.
fn split(uri: &str) -> (String, String, String) {
    let rest = uri.strip_prefix("at://").unwrap_or(uri);
    let mut parts = rest.splitn(3, '/');
    let mut next = || parts.next().unwrap_or_default().to_owned();
    (next(), next(), next())
}

/// The DAG-CBOR body of a record given as JSON (`{"$link": "…"}` is a CID link).
pub fn json_record(value: &serde_json::Value) -> Vec<u8> {
    serde_ipld_dagcbor::to_vec(&to_ipld(value)).unwrap_or_default()
}

fn to_ipld(value: &serde_json::Value) -> ipld_core::ipld::Ipld {
    use ipld_core::ipld::Ipld;
    match value {
        serde_json::Value::Null => Ipld::Null,
        serde_json::Value::Bool(flag) => Ipld::Bool(*flag),
        serde_json::Value::Number(number) => number
            .as_i64()
            .map(|n| Ipld::Integer(i128::from(n)))
            .unwrap_or_else(|| Ipld::Float(number.as_f64().unwrap_or_default())),
        serde_json::Value::String(text) => Ipld::String(text.clone()),
        serde_json::Value::Array(items) => Ipld::List(items.iter().map(to_ipld).collect()),
        serde_json::Value::Object(map) => {
            if map.len() == 1
                && let Some(serde_json::Value::String(link)) = map.get("$link")
                && let Ok(cid) = link.parse::<cid::Cid>()
            {
                return Ipld::Link(cid);
            }
            Ipld::Map(
                map.iter()
                    .map(|(key, item)| (key.clone(), to_ipld(item)))
                    .collect(),
            )
        }
    }
}

/// A valid CID (identity multihash of `seed`), for records and blobs in tests.
pub fn fake_cid(seed: &str) -> String {
    let bytes = seed.as_bytes();
    let hash = cid::multihash::Multihash::<64>::wrap(
        0x00,
        bytes.get(..bytes.len().min(64)).unwrap_or_default(),
    )
    .unwrap_or_default();
    cid::Cid::new_v1(0x71, hash).to_string()
}

/// `{"$link": cid}` of [`fake_cid`], for blob refs in JSON records.
pub fn blob(seed: &str, mime: &str) -> serde_json::Value {
    serde_json::json!({"$type": "blob", "ref": {"$link": fake_cid(seed)}, "mimeType": mime, "size": 1000})
}
