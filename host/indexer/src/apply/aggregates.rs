//! Exact counts: the change of every aggregate's count per target key, collected while the row
//! operations of a batch are written (from the rows each statement really inserted, updated or
//! deleted), then written at the end of the batch, summed per key and in key order.
//!
//! A key whose count changed by zero (a like and its unlike in one batch) is still written: the
//! target row then exists with its count, as it would had the two been in separate batches, so
//! the result does not depend on where batches were cut.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sluice_plugin_host::types::Value;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::binding::{ident, string_literal};
use crate::error::BatchError;
use crate::prepared::{AggregateSpec, PreparedPlugins, TableInfo};

/// Count changes per aggregate and target key, not yet written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AggregateDeltas {
    by_spec: BTreeMap<usize, BTreeMap<String, i64>>,
}

impl AggregateDeltas {
    /// Records that a row counted by `spec` for `key` appeared (`+1`) or went (`-1`).
    pub fn add(&mut self, spec: usize, key: String, delta: i64) {
        *self
            .by_spec
            .entry(spec)
            .or_default()
            .entry(key)
            .or_insert(0) += delta;
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.by_spec.is_empty()
    }

    /// The recorded change of `spec`'s count for `key`.
    pub fn get(&self, spec: usize, key: &str) -> Option<i64> {
        self.by_spec.get(&spec)?.get(key).copied()
    }

    /// How many (aggregate, key) pairs were touched.
    pub fn len(&self) -> usize {
        self.by_spec.values().map(BTreeMap::len).sum()
    }

    /// Writes every change (one statement per target table, keys sorted) and forgets them.
    pub async fn write(
        &mut self,
        conn: &mut PgConnection,
        prepared: &PreparedPlugins,
    ) -> Result<usize, BatchError> {
        let by_spec = std::mem::take(&mut self.by_spec);
        // (target table, key column) → count column → key → delta.
        let mut by_target: BTreeMap<(usize, String), BTreeMap<String, BTreeMap<String, i64>>> =
            BTreeMap::new();
        for (spec_id, keys) in by_spec {
            let Some(spec) = prepared.aggregates().get(spec_id) else {
                continue;
            };
            let columns = by_target
                .entry((spec.target, spec.target_key.clone()))
                .or_default();
            let column = columns.entry(spec.target_column.clone()).or_default();
            for (key, delta) in keys {
                *column.entry(key).or_insert(0) += delta;
            }
        }
        let mut statements = 0;
        for ((target, target_key), columns) in by_target {
            let Some(table) = prepared.table(target) else {
                continue;
            };
            write_target(conn, table, &target_key, &columns).await?;
            statements += 1;
        }
        Ok(statements)
    }
}

/// One upsert of count changes into `table`: `key` plus one delta per column.
async fn write_target(
    conn: &mut PgConnection,
    table: &TableInfo,
    target_key: &str,
    columns: &BTreeMap<String, BTreeMap<String, i64>>,
) -> Result<(), BatchError> {
    let keys: BTreeSet<&String> = columns.values().flat_map(BTreeMap::keys).collect();
    let key_type = table
        .physical
        .column(target_key)
        .map_or("text", |c| c.sql_type.as_str());
    let names: Vec<&String> = columns.keys().collect();
    let mut sql = format!(
        "INSERT INTO {} AS t ({}",
        table.qualified,
        ident(target_key)
    );
    for name in &names {
        sql.push_str(", ");
        sql.push_str(&ident(name));
    }
    sql.push_str(") SELECT CAST(u.k AS ");
    sql.push_str(key_type);
    sql.push(')');
    for position in 0..names.len() {
        sql.push_str(&format!(", u.d{position}"));
    }
    sql.push_str(" FROM UNNEST($1::text[]");
    for position in 0..names.len() {
        sql.push_str(&format!(", ${}::int8[]", position + 2));
    }
    sql.push_str(") AS u(k");
    for position in 0..names.len() {
        sql.push_str(&format!(", d{position}"));
    }
    sql.push_str(&format!(
        ") ON CONFLICT ({}) DO UPDATE SET ",
        ident(target_key)
    ));
    let sets: Vec<String> = names
        .iter()
        .map(|name| {
            let column = ident(name);
            format!("{column} = COALESCE(t.{column}, 0) + EXCLUDED.{column}")
        })
        .collect();
    sql.push_str(&sets.join(", "));

    let key_values: Vec<String> = keys.iter().map(|k| (*k).clone()).collect();
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(key_values);
    for keyed in columns.values() {
        let deltas: Vec<i64> = keys
            .iter()
            .map(|key| keyed.get(*key).copied().unwrap_or(0))
            .collect();
        query = query.bind(deltas);
    }
    query.execute(conn).await?;
    Ok(())
}

/// The SQL expression (over alias `t`) giving, for one aggregate, the target key a row counts
/// for as text, or null when the row does not count.
pub(crate) fn contribution_sql(spec: &AggregateSpec) -> String {
    let mut conditions = Vec::with_capacity(spec.filter.len());
    for (column, value) in &spec.filter {
        let column = format!("t.{}", ident(column));
        conditions.push(match value {
            Value::Boolean(false) => format!("{column} IS NOT TRUE"),
            Value::Boolean(true) => format!("{column} IS TRUE"),
            Value::Integer(n) => format!("{column} = {n}"),
            Value::Text(text) => format!("{column} = {}", string_literal(text)),
            // Checked when the plugins were prepared: only null remains.
            _ => format!("{column} IS NULL"),
        });
    }
    let group = format!("(t.{})::text", ident(&spec.group_by));
    if conditions.is_empty() {
        group
    } else {
        format!("CASE WHEN {} THEN {group} END", conditions.join(" AND "))
    }
}

/// Reads the contributions returned by a statement whose first `offset` columns are something
/// else, and records them with `sign`.
pub(crate) fn record_contributions(
    row: &sqlx::postgres::PgRow,
    offset: usize,
    table: &TableInfo,
    sign: i64,
    deltas: &mut AggregateDeltas,
) -> Result<(), BatchError> {
    for (position, &spec) in table.aggregates.iter().enumerate() {
        let key: Option<String> = row
            .try_get(offset + position)
            .map_err(|e| BatchError::Data(format!("reading an aggregate key: {e}")))?;
        if let Some(key) = key {
            deltas.add(spec, key, sign);
        }
    }
    Ok(())
}

/// Sums of deltas per key, for tests and reports.
pub fn sum_by_key(deltas: &AggregateDeltas, spec: usize) -> HashMap<String, i64> {
    deltas
        .by_spec
        .get(&spec)
        .map(|keys| keys.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(filter: Vec<(String, Value)>) -> AggregateSpec {
        AggregateSpec {
            plugin: "p@1.0.0".into(),
            source: 0,
            group_by: "replyParent".into(),
            filter,
            target: 1,
            target_key: "uri".into(),
            target_column: "replyCount".into(),
        }
    }

    #[test]
    fn contributions_follow_the_filter() {
        assert_eq!(contribution_sql(&spec(vec![])), "(t.\"replyParent\")::text");
        assert_eq!(
            contribution_sql(&spec(vec![
                ("violatesThreadGate".into(), Value::Boolean(false)),
                ("kind".into(), Value::Text("it's".into())),
            ])),
            "CASE WHEN t.\"violatesThreadGate\" IS NOT TRUE AND t.\"kind\" = 'it''s' \
             THEN (t.\"replyParent\")::text END"
        );
    }

    #[test]
    fn deltas_sum_per_key() {
        let mut deltas = AggregateDeltas::default();
        deltas.add(0, "a".into(), 1);
        deltas.add(0, "a".into(), 1);
        deltas.add(0, "b".into(), 1);
        deltas.add(0, "b".into(), -1);
        assert_eq!(deltas.get(0, "a"), Some(2));
        assert_eq!(deltas.get(0, "b"), Some(0), "a zero change is kept");
        assert_eq!(deltas.len(), 2);
        assert_eq!(sum_by_key(&deltas, 0).get("a"), Some(&2));
    }
}
