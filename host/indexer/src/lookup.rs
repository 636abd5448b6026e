//! Answering plugin lookups from Postgres, in bulk: per round, one statement for every record
//! lookup and one per (table, filter columns, wanted columns, limit) for row lookups
//! (`UNNEST … WITH ORDINALITY` joined `LATERAL` to the table, each side limited).
//!
//! Record lookups see the batch's own changes first (an overlay of the states the batch has
//! decided so far), then the database; inside the write transaction the database already holds
//! them. Every record answer is remembered, so that the batch can tell later whether an awaited
//! record changed since the plugin looked.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice_atproto::data::record_json_to_dag_cbor;
use sluice_plugin_host::types::{
    ColumnKind, Found, Lookup, RecordEncoding, Row as PluginRow, RowQuery, StoredRecord, Value,
};
use sluice_plugin_host::{Declaration, LookupError, LookupResolver};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};

use crate::binding::{ColumnBinding, ParamColumn, ident};
use crate::prepared::{PreparedPlugins, TableInfo};
use crate::records::StoredState;

/// Where lookups read from.
pub enum Database<'a> {
    /// A pool (before the write transaction).
    Pool(&'a PgPool),
    /// The batch's transaction (replays).
    Transaction(tokio::sync::Mutex<&'a mut PgConnection>),
}

/// A connection borrowed for one statement.
enum Connection<'g, 'a> {
    Pooled(sqlx::pool::PoolConnection<sqlx::Postgres>),
    Locked(tokio::sync::MutexGuard<'g, &'a mut PgConnection>),
}

impl Connection<'_, '_> {
    fn get(&mut self) -> &mut PgConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Locked(conn) => conn,
        }
    }
}

/// A [`LookupResolver`] on Postgres for one batch.
pub struct PgLookups<'a> {
    database: Database<'a>,
    prepared: &'a PreparedPlugins,
    overlay: Option<&'a HashMap<String, Option<StoredState>>>,
    seen: Mutex<HashMap<String, Option<String>>>,
    /// Nanoseconds spent answering lookups.
    busy: AtomicU64,
}

impl<'a> PgLookups<'a> {
    /// Lookups on `database` for plugins of `prepared`; record lookups consult `overlay` (the
    /// batch's decided states: `None` = absent) first.
    pub fn new(
        database: Database<'a>,
        prepared: &'a PreparedPlugins,
        overlay: Option<&'a HashMap<String, Option<StoredState>>>,
    ) -> Self {
        Self {
            database,
            prepared,
            overlay,
            seen: Mutex::new(HashMap::new()),
            busy: AtomicU64::new(0),
        }
    }

    /// The time spent answering lookups so far.
    pub fn lookup_time(&self) -> Duration {
        Duration::from_nanos(self.busy.load(Ordering::Relaxed))
    }

    /// The record answers given so far: AT-URI → CID (`None`: absent).
    pub fn take_seen(&self) -> HashMap<String, Option<String>> {
        match self.seen.lock() {
            Ok(mut seen) => std::mem::take(&mut *seen),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    fn remember(&self, uri: &str, cid: Option<&str>) {
        let mut seen = match self.seen.lock() {
            Ok(seen) => seen,
            Err(poisoned) => poisoned.into_inner(),
        };
        seen.insert(uri.to_owned(), cid.map(str::to_owned));
    }

    async fn connection(&self) -> Result<Connection<'_, 'a>, LookupError> {
        Ok(match &self.database {
            Database::Pool(pool) => Connection::Pooled(
                pool.acquire()
                    .await
                    .map_err(|e| LookupError(e.to_string()))?,
            ),
            Database::Transaction(conn) => Connection::Locked(conn.lock().await),
        })
    }

    async fn records(
        &self,
        encoding: RecordEncoding,
        uris: &[&str],
    ) -> Result<HashMap<String, Option<StoredRecord>>, LookupError> {
        let mut answers = HashMap::with_capacity(uris.len());
        let mut from_db = Vec::new();
        for uri in uris {
            match self.overlay.and_then(|overlay| overlay.get(*uri)) {
                Some(state) => {
                    let record = state
                        .as_ref()
                        .filter(|s| !s.is_tombstone())
                        .and_then(|s| stored_record(encoding, s));
                    answers.insert((*uri).to_owned(), record);
                }
                None => from_db.push((*uri).to_owned()),
            }
        }
        if !from_db.is_empty() {
            let mut connection = self.connection().await?;
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT uri, cid, json FROM record WHERE uri = ANY($1) AND json <> ''",
            )
            .bind(&from_db)
            .fetch_all(connection.get())
            .await
            .map_err(|e| LookupError(e.to_string()))?;
            drop(connection);
            let mut found: HashMap<String, (String, String)> = rows
                .into_iter()
                .map(|(uri, cid, json)| (uri, (cid, json)))
                .collect();
            for uri in from_db {
                let record = found.remove(&uri).and_then(|(cid, json)| {
                    stored_record(
                        encoding,
                        &StoredState {
                            cid,
                            json,
                            rev: String::new(),
                            indexed_at: String::new(),
                        },
                    )
                });
                answers.insert(uri, record);
            }
        }
        for (uri, record) in &answers {
            self.remember(uri, record.as_ref().map(|r| r.cid.as_str()));
        }
        Ok(answers)
    }

    async fn rows(
        &self,
        plugin: usize,
        queries: &[&RowQuery],
    ) -> Result<Vec<Vec<PluginRow>>, LookupError> {
        let Some(first) = queries.first() else {
            return Ok(Vec::new());
        };
        let table = self
            .prepared
            .resolve_table(plugin, &first.table)
            .and_then(|id| self.prepared.table(id));
        let Some(table) = table else {
            tracing::warn!(table = %first.table, "a lookup names a table the plugin may not read: answered empty");
            return Ok(vec![Vec::new(); queries.len()]);
        };
        let matching: Vec<String> = first.matching.iter().map(|c| c.column.clone()).collect();
        let bindings: Option<Vec<ColumnBinding>> =
            matching.iter().map(|c| binding_for(table, c)).collect();
        let known_columns = first
            .columns
            .iter()
            .all(|c| table.physical.column(c).is_some());
        let Some(bindings) = bindings.filter(|_| known_columns) else {
            tracing::warn!(table = %table.physical.name, "a lookup names columns the table does not have: answered empty");
            return Ok(vec![Vec::new(); queries.len()]);
        };

        let mut params: Vec<ParamColumn> = bindings
            .iter()
            .map(|b| ParamColumn::new(b.param, queries.len()))
            .collect();
        for query in queries {
            for (param, column) in params.iter_mut().zip(&matching) {
                let value = query
                    .matching
                    .iter()
                    .find(|c| &c.column == column)
                    .map_or(&Value::Null, |c| &c.value);
                param
                    .push(value)
                    .map_err(|e| LookupError(format!("{}: {e}", table.physical.name)))?;
            }
        }
        let types: Vec<String> = bindings
            .iter()
            .enumerate()
            .map(|(p, b)| format!("${}::{}", p + 1, b.param.array_sql()))
            .collect();
        let aliases: Vec<String> = (0..matching.len()).map(|p| format!("c{p}")).collect();
        let conditions: Vec<String> = matching
            .iter()
            .zip(&bindings)
            .enumerate()
            .map(|(p, (column, binding))| {
                format!("t.{} = {}", ident(column), binding.expr(&format!("u.c{p}")))
            })
            .collect();
        let wanted: Vec<String> = first
            .columns
            .iter()
            .map(|c| format!("t.{}", ident(c)))
            .collect();
        let order: Vec<String> = if table.physical.primary_key().is_empty() {
            wanted.clone()
        } else {
            table
                .physical
                .primary_key()
                .iter()
                .map(|c| format!("t.{}", ident(c)))
                .collect()
        };
        let sql = format!(
            "SELECT u.i, (SELECT COALESCE(json_agg(x.v ORDER BY x.o), '[]')::text FROM (
                 SELECT json_build_array({wanted}) AS v, row_number() OVER (ORDER BY {order}) AS o
                 FROM {table} AS t WHERE {conditions} ORDER BY {order} LIMIT {limit}) AS x)
             FROM UNNEST({types}) WITH ORDINALITY AS u({aliases}, i)",
            wanted = if wanted.is_empty() {
                "1".to_owned()
            } else {
                wanted.join(", ")
            },
            order = order.join(", "),
            table = table.qualified,
            conditions = conditions.join(" AND "),
            limit = first.limit,
            types = types.join(", "),
            aliases = aliases.join(", "),
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for param in params {
            query = param.bind(query);
        }
        let mut connection = self.connection().await?;
        let fetched = query
            .fetch_all(connection.get())
            .await
            .map_err(|e| LookupError(e.to_string()))?;
        drop(connection);
        let rows: Vec<(i64, String)> = fetched
            .into_iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| LookupError(e.to_string()))?;
        let kinds: Vec<Option<ColumnKind>> = first
            .columns
            .iter()
            .map(|c| table.read_kinds.get(c).copied())
            .collect();
        let mut answers = vec![Vec::new(); queries.len()];
        for (ordinal, json) in rows {
            let Some(answer) = usize::try_from(ordinal - 1)
                .ok()
                .and_then(|index| answers.get_mut(index))
            else {
                continue;
            };
            let parsed: Vec<Vec<serde_json::Value>> =
                serde_json::from_str(&json).map_err(|e| LookupError(e.to_string()))?;
            *answer = parsed
                .into_iter()
                .map(|values| {
                    values
                        .into_iter()
                        .zip(&kinds)
                        .map(|(value, kind)| to_plugin_value(value, *kind))
                        .collect()
                })
                .collect();
        }
        Ok(answers)
    }
}

/// How a lookup binds a filter value of `column`: the declared binding, else one derived from
/// the column's type.
fn binding_for(table: &TableInfo, column: &str) -> Option<ColumnBinding> {
    if let Some(binding) = table.bindings.get(column) {
        return Some(binding.clone());
    }
    let kind = *table.read_kinds.get(column)?;
    ColumnBinding::new(kind, &table.physical.column(column)?.type_name)
}

/// A stored version in a plugin's encoding; `None` when its JSON does not convert (it is then
/// treated as absent, and logged).
pub fn stored_record(encoding: RecordEncoding, state: &StoredState) -> Option<StoredRecord> {
    let body = match encoding {
        RecordEncoding::Json => state.json.as_bytes().to_vec(),
        RecordEncoding::DagCbor => {
            let converted = serde_json::from_str::<serde_json::Value>(&state.json)
                .map_err(|e| e.to_string())
                .and_then(|value| record_json_to_dag_cbor(&value).map_err(|e| e.to_string()));
            match converted {
                Ok((bytes, _)) => bytes,
                Err(error) => {
                    tracing::warn!(cid = %state.cid, %error, "a stored record does not convert to DAG-CBOR");
                    return None;
                }
            }
        }
    };
    Some(StoredRecord {
        cid: state.cid.clone(),
        body,
    })
}

/// A JSON value read from a row (`json_build_array`) as a plugin value of the column's kind.
fn to_plugin_value(value: serde_json::Value, kind: Option<ColumnKind>) -> Value {
    use serde_json::Value as J;
    match (kind, value) {
        (_, J::Null) => Value::Null,
        (Some(ColumnKind::Boolean), J::Bool(b)) => Value::Boolean(b),
        (Some(ColumnKind::Integer), J::Number(n)) => n.as_i64().map_or(Value::Null, Value::Integer),
        (Some(ColumnKind::Float), J::Number(n)) => n.as_f64().map_or(Value::Null, Value::Float),
        (Some(ColumnKind::Text), J::String(s)) => Value::Text(s),
        (Some(ColumnKind::Timestamp), J::String(s)) => Value::Timestamp(s),
        (Some(ColumnKind::TextList), J::Array(items)) => Value::TextList(
            items
                .into_iter()
                .filter_map(|item| match item {
                    J::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
        ),
        (Some(ColumnKind::Bytes), J::String(hex)) => hex
            .strip_prefix("\\x")
            .and_then(|digits| {
                data_encoding::HEXLOWER_PERMISSIVE
                    .decode(digits.as_bytes())
                    .ok()
            })
            .map_or(Value::Null, Value::Bytes),
        (Some(ColumnKind::Json), other) => Value::Json(other.to_string()),
        (_, other) => {
            tracing::warn!(?kind, value = %other, "a stored value does not match its column's kind: answered null");
            Value::Null
        }
    }
}

/// A key grouping row queries that one statement can answer.
fn row_group_key(query: &RowQuery) -> String {
    let matching: Vec<&str> = query.matching.iter().map(|c| c.column.as_str()).collect();
    format!(
        "{}\u{1}{}\u{1}{}\u{1}{}",
        query.table,
        matching.join(","),
        query.columns.join(","),
        query.limit
    )
}

impl LookupResolver for PgLookups<'_> {
    async fn resolve(
        &self,
        plugin: &Declaration,
        lookups: &[Lookup],
    ) -> Result<Vec<Found>, LookupError> {
        let started = Instant::now();
        let answers = self.answer(plugin, lookups).await;
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy.fetch_add(nanos, Ordering::Relaxed);
        answers
    }
}

impl PgLookups<'_> {
    /// Answers one round of lookups.
    async fn answer(
        &self,
        plugin: &Declaration,
        lookups: &[Lookup],
    ) -> Result<Vec<Found>, LookupError> {
        let index = self
            .prepared
            .plugin_index(plugin.label())
            .ok_or_else(|| LookupError(format!("{} is not loaded", plugin.label())))?;
        let encoding = plugin.info().encoding;
        let uris: Vec<&str> = lookups
            .iter()
            .filter_map(|lookup| match lookup {
                Lookup::Record(uri) => Some(uri.as_str()),
                Lookup::Rows(_) => None,
            })
            .collect();
        let mut records = self.records(encoding, &uris).await?;

        let mut groups: HashMap<String, Vec<(usize, &RowQuery)>> = HashMap::new();
        for (position, lookup) in lookups.iter().enumerate() {
            if let Lookup::Rows(query) = lookup {
                groups
                    .entry(row_group_key(query))
                    .or_default()
                    .push((position, query));
            }
        }
        let mut rows: HashMap<usize, Vec<PluginRow>> = HashMap::new();
        for members in groups.into_values() {
            let queries: Vec<&RowQuery> = members.iter().map(|(_, q)| *q).collect();
            let answers = self.rows(index, &queries).await?;
            for ((position, _), answer) in members.into_iter().zip(answers) {
                rows.insert(position, answer);
            }
        }
        Ok(lookups
            .iter()
            .enumerate()
            .map(|(position, lookup)| match lookup {
                Lookup::Record(uri) => Found::Record(records.remove(uri).flatten()),
                Lookup::Rows(_) => Found::Rows(rows.remove(&position).unwrap_or_default()),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_values_follow_their_kind() {
        use serde_json::json;
        assert_eq!(
            to_plugin_value(json!(3), Some(ColumnKind::Integer)),
            Value::Integer(3)
        );
        assert_eq!(
            to_plugin_value(json!("a"), Some(ColumnKind::Text)),
            Value::Text("a".into())
        );
        assert_eq!(
            to_plugin_value(json!({"a": [1]}), Some(ColumnKind::Json)),
            Value::Json("{\"a\":[1]}".into())
        );
        assert_eq!(
            to_plugin_value(json!(["x", "y"]), Some(ColumnKind::TextList)),
            Value::TextList(vec!["x".into(), "y".into()])
        );
        assert_eq!(
            to_plugin_value(json!("\\x01ff"), Some(ColumnKind::Bytes)),
            Value::Bytes(vec![1, 255])
        );
        assert_eq!(
            to_plugin_value(json!(null), Some(ColumnKind::Text)),
            Value::Null
        );
        assert_eq!(
            to_plugin_value(json!("x"), Some(ColumnKind::Integer)),
            Value::Null,
            "a mismatch is answered null"
        );
    }

    #[test]
    fn stored_records_convert_to_the_plugin_encoding() {
        let state = StoredState {
            cid: "bafy".into(),
            json: r#"{"$type":"x.y.z","a":1}"#.into(),
            rev: String::new(),
            indexed_at: String::new(),
        };
        let json = stored_record(RecordEncoding::Json, &state).unwrap();
        assert_eq!(json.body, state.json.as_bytes());
        let cbor = stored_record(RecordEncoding::DagCbor, &state).unwrap();
        assert_eq!(cbor.body.first(), Some(&0xa2), "a CBOR map of two entries");
        let broken = StoredState {
            json: "{".into(),
            ..state
        };
        assert!(stored_record(RecordEncoding::DagCbor, &broken).is_none());
    }
}
