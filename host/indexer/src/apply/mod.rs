//! The row-op applier: writes the checked row operations of a batch inside its transaction.
//!
//! - Operations are grouped per table ([`order`]): independent operations share a group, one
//!   operation on the same rows as an earlier one follows it.
//! - Each group becomes one statement per shape (same columns and merge rules): a multi-row
//!   `INSERT … SELECT … FROM UNNEST($1::text[], …) ON CONFLICT … DO UPDATE`, a `DELETE … USING
//!   UNNEST(…)`, or an increment upsert with deltas summed per key. Values are bound as arrays,
//!   never spliced into SQL. Rows are sorted by key, tables written in name order, so that
//!   concurrent batches lock rows in the same order.
//! - Aggregates ([`aggregates`]): statements on a counted table return what they changed — the
//!   old rows of an upsert locked and read first (`FOR UPDATE`), the new ones from `RETURNING`,
//!   deleted ones from `DELETE … RETURNING` — so a count moves only when a row really changed.
//! - Unique keys other than an upsert's conflict target ([`collisions`]): record operations of a
//!   batch that would take a value an earlier one takes are found before writing and deferred.

pub mod aggregates;
pub mod collisions;
mod order;

use std::collections::{BTreeMap, HashMap};

use sluice_plugin_host::types::{Cell, Delete, Increment, Merge, RowOp, Upsert, Value};
use sqlx::{AssertSqlSafe, PgConnection, Row};

pub use aggregates::AggregateDeltas;

use crate::binding::{ParamColumn, ident};
use crate::error::BatchError;
use crate::prepared::{PreparedPlugins, TableId, TableInfo};
use aggregates::{contribution_sql, record_contributions};
use order::{Footprint, Group, OpKind, plan_groups};

/// A row operation and the table it writes.
#[derive(Debug, Clone, PartialEq)]
pub struct TableOp {
    /// The table.
    pub table: TableId,
    /// The operation (already checked against the plugin's declaration).
    pub op: RowOp,
}

/// What writing a batch's row operations took.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyStats {
    /// Statements run.
    pub statements: usize,
    /// Rows inserted, updated or deleted (as Postgres reports them).
    pub rows: u64,
}

impl std::ops::AddAssign for ApplyStats {
    fn add_assign(&mut self, other: Self) {
        self.statements += other.statements;
        self.rows += other.rows;
    }
}

/// Checks what the declaration checks cannot know: that every value fits its real column
/// (integers of narrower columns) and that an increment does not change a column an aggregate
/// groups or filters on. Such an operation is parked, not written.
pub fn check_physical(prepared: &PreparedPlugins, op: &TableOp) -> Result<(), String> {
    let table = prepared
        .table(op.table)
        .ok_or_else(|| "unknown table".to_owned())?;
    let fits = |column: &str, value: &Value| -> Result<(), String> {
        let binding = table.bindings.get(column).ok_or_else(|| {
            format!(
                "{}.{column} is not declared by any plugin",
                table.physical.name
            )
        })?;
        if binding.fits(value) {
            Ok(())
        } else {
            Err(format!(
                "{}.{column}: the value does not fit a {}",
                table.physical.name,
                table
                    .physical
                    .column(column)
                    .map_or("column", |c| c.sql_type.as_str())
            ))
        }
    };
    match &op.op {
        RowOp::Upsert(upsert) => upsert
            .assignments
            .iter()
            .try_for_each(|a| fits(&a.column, &a.value)),
        RowOp::Delete(delete) => delete
            .matching
            .iter()
            .try_for_each(|c| fits(&c.column, &c.value)),
        RowOp::Increment(increment) => {
            increment
                .key
                .iter()
                .try_for_each(|c| fits(&c.column, &c.value))?;
            fits(&increment.column, &Value::Integer(increment.delta))?;
            if table.aggregate_columns.contains(&increment.column) {
                return Err(format!(
                    "{}.{} is counted by an aggregate and cannot be incremented",
                    table.physical.name, increment.column
                ));
            }
            Ok(())
        }
    }
}

/// Writes `ops` in order-preserving groups (see the module doc). `strict`: never move an
/// operation ahead of an earlier one (the fallback after a unique violation). Count changes
/// are added to `deltas`.
pub async fn apply_ops(
    conn: &mut PgConnection,
    prepared: &PreparedPlugins,
    ops: &[TableOp],
    strict: bool,
    deltas: &mut AggregateDeltas,
) -> Result<ApplyStats, BatchError> {
    let mut by_table: BTreeMap<&str, (TableId, Vec<&RowOp>)> = BTreeMap::new();
    for op in ops {
        let Some(table) = prepared.table(op.table) else {
            return Err(BatchError::Data(format!("unknown table {}", op.table)));
        };
        by_table
            .entry(table.qualified.as_str())
            .or_insert_with(|| (op.table, Vec::new()))
            .1
            .push(&op.op);
    }
    let mut stats = ApplyStats::default();
    for (table_id, table_ops) in by_table.into_values() {
        let Some(table) = prepared.table(table_id) else {
            continue;
        };
        let footprints: Vec<Footprint> = table_ops.iter().map(|op| footprint(op)).collect();
        for group in plan_groups(&footprints, strict) {
            stats += write_group(conn, prepared, table, &group, &table_ops, deltas).await?;
        }
    }
    Ok(stats)
}

fn footprint(op: &RowOp) -> Footprint {
    let (kind, mut cells): (OpKind, Vec<(&str, &Value)>) = match op {
        RowOp::Upsert(upsert) => (
            OpKind::Upsert,
            upsert
                .conflict
                .iter()
                .map(|column| (column.as_str(), assigned(upsert, column)))
                .collect(),
        ),
        RowOp::Delete(delete) => (OpKind::Delete, cells_of(&delete.matching)),
        RowOp::Increment(increment) => (OpKind::Increment, cells_of(&increment.key)),
    };
    cells.sort_by(|a, b| a.0.cmp(b.0));
    Footprint {
        kind,
        columns: cells.iter().map(|(c, _)| (*c).to_owned()).collect(),
        values: cells.iter().map(|(_, v)| encode_value(v)).collect(),
    }
}

fn cells_of(cells: &[Cell]) -> Vec<(&str, &Value)> {
    cells
        .iter()
        .map(|c| (c.column.as_str(), &c.value))
        .collect()
}

const NULL: Value = Value::Null;

fn assigned<'a>(upsert: &'a Upsert, column: &str) -> &'a Value {
    upsert
        .assignments
        .iter()
        .find(|a| a.column == column)
        .map_or(&NULL, |a| &a.value)
}

/// A canonical byte encoding of a value: equal values, equal bytes; a kind tag first.
fn encode_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::Null => out.push(0),
        Value::Boolean(b) => out.extend([1, u8::from(*b)]),
        Value::Integer(n) => {
            out.push(2);
            out.extend(n.to_be_bytes());
        }
        Value::Float(f) => {
            out.push(3);
            out.extend(f.to_bits().to_be_bytes());
        }
        Value::Text(t) => {
            out.push(4);
            out.extend(t.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(5);
            out.extend(b);
        }
        Value::Json(t) => {
            out.push(6);
            out.extend(t.as_bytes());
        }
        Value::Timestamp(t) => {
            out.push(7);
            out.extend(t.as_bytes());
        }
        Value::TextList(items) => {
            out.push(8);
            for item in items {
                out.extend((item.len() as u64).to_be_bytes());
                out.extend(item.as_bytes());
            }
        }
    }
    out
}

fn merge_code(merge: Merge) -> u8 {
    match merge {
        Merge::Set => 0,
        Merge::KeepExisting => 1,
        Merge::Add => 2,
        Merge::Greatest => 3,
        Merge::Least => 4,
    }
}

async fn write_group(
    conn: &mut PgConnection,
    prepared: &PreparedPlugins,
    table: &TableInfo,
    group: &Group,
    ops: &[&RowOp],
    deltas: &mut AggregateDeltas,
) -> Result<ApplyStats, BatchError> {
    let members = group.members.iter().filter_map(|&index| ops.get(index));
    let mut stats = ApplyStats::default();
    match group.kind {
        OpKind::Upsert => {
            // Shape: conflict target and (column, merge) pairs, sorted.
            type Shape = (Vec<String>, Vec<(String, u8)>);
            let mut shapes: BTreeMap<Shape, Vec<&Upsert>> = BTreeMap::new();
            for op in members {
                if let RowOp::Upsert(upsert) = op {
                    let mut conflict = upsert.conflict.clone();
                    conflict.sort();
                    let mut columns: Vec<(String, u8)> = upsert
                        .assignments
                        .iter()
                        .map(|a| (a.column.clone(), merge_code(a.merge)))
                        .collect();
                    columns.sort();
                    shapes.entry((conflict, columns)).or_default().push(upsert);
                }
            }
            for ((conflict, columns), rows) in shapes {
                stats +=
                    write_upserts(conn, prepared, table, &conflict, &columns, rows, deltas).await?;
            }
        }
        OpKind::Delete => {
            let mut shapes: BTreeMap<Vec<String>, Vec<&Delete>> = BTreeMap::new();
            for op in members {
                if let RowOp::Delete(delete) = op {
                    let mut columns: Vec<String> =
                        delete.matching.iter().map(|c| c.column.clone()).collect();
                    columns.sort();
                    shapes.entry(columns).or_default().push(delete);
                }
            }
            for (columns, rows) in shapes {
                stats += write_deletes(conn, prepared, table, &columns, rows, deltas).await?;
            }
        }
        OpKind::Increment => {
            // Shape: key columns and the counter; deltas summed per key.
            type Shape = (Vec<String>, String);
            type Deltas<'op> = BTreeMap<Vec<u8>, (&'op Increment, i64)>;
            let mut shapes: BTreeMap<Shape, Deltas<'_>> = BTreeMap::new();
            for op in members {
                if let RowOp::Increment(increment) = op {
                    let mut key: Vec<(&str, &Value)> = cells_of(&increment.key);
                    key.sort_by(|a, b| a.0.cmp(b.0));
                    let columns: Vec<String> = key.iter().map(|(c, _)| (*c).to_owned()).collect();
                    let encoded: Vec<u8> = key.iter().flat_map(|(_, v)| key_part(v)).collect();
                    let entry = shapes
                        .entry((columns, increment.column.clone()))
                        .or_default()
                        .entry(encoded)
                        .or_insert((increment, 0));
                    entry.1 = entry.1.saturating_add(increment.delta);
                }
            }
            for ((columns, counter), rows) in shapes {
                let rows: Vec<(&Increment, i64)> = rows.into_values().collect();
                stats += write_increments(conn, prepared, table, &columns, &counter, rows, deltas)
                    .await?;
            }
        }
    }
    Ok(stats)
}

/// A key part of a composite encoding: the value's encoding, length-prefixed.
fn key_part(value: &Value) -> Vec<u8> {
    let encoded = encode_value(value);
    let mut out = (encoded.len() as u64).to_be_bytes().to_vec();
    out.extend(encoded);
    out
}

/// The parameter columns for `columns` of `rows` (values found by `value`), and the
/// `UNNEST(...) AS u(c0, …)` clause binding them from `$first`.
fn unnest_params<'r, R>(
    table: &TableInfo,
    columns: &[String],
    rows: &'r [R],
    value: impl Fn(&'r R, &str) -> &'r Value,
    first: usize,
) -> Result<(Vec<ParamColumn>, String), BatchError> {
    let mut params = Vec::with_capacity(columns.len());
    let mut types = Vec::with_capacity(columns.len());
    for (position, column) in columns.iter().enumerate() {
        let binding = table.bindings.get(column).ok_or_else(|| {
            BatchError::Data(format!("{}.{column} has no binding", table.physical.name))
        })?;
        let mut param = ParamColumn::new(binding.param, rows.len());
        for row in rows {
            param
                .push(value(row, column))
                .map_err(|e| BatchError::Data(format!("{}.{column}: {e}", table.physical.name)))?;
        }
        params.push(param);
        types.push(format!(
            "${}::{}",
            first + position,
            binding.param.array_sql()
        ));
    }
    let aliases: Vec<String> = (0..columns.len()).map(|p| format!("c{p}")).collect();
    Ok((
        params,
        format!("UNNEST({}) AS u({})", types.join(", "), aliases.join(", ")),
    ))
}

/// `binding(column).expr("u.c<position>")`.
fn value_expr(table: &TableInfo, column: &str, position: usize) -> String {
    let source = format!("u.c{position}");
    table
        .bindings
        .get(column)
        .map_or(source.clone(), |binding| binding.expr(&source))
}

fn contributions(prepared: &PreparedPlugins, table: &TableInfo) -> Vec<String> {
    table
        .aggregates
        .iter()
        .filter_map(|&spec| prepared.aggregates().get(spec))
        .map(contribution_sql)
        .collect()
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    params: Vec<ParamColumn>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for param in params {
        query = param.bind(query);
    }
    query
}

async fn write_upserts(
    conn: &mut PgConnection,
    prepared: &PreparedPlugins,
    table: &TableInfo,
    conflict: &[String],
    columns: &[(String, u8)],
    mut rows: Vec<&Upsert>,
    deltas: &mut AggregateDeltas,
) -> Result<ApplyStats, BatchError> {
    // Key order, so that concurrent batches lock rows in the same order.
    rows.sort_by_cached_key(|upsert| {
        conflict
            .iter()
            .flat_map(|column| key_part(assigned(upsert, column)))
            .collect::<Vec<u8>>()
    });
    let names: Vec<String> = columns.iter().map(|(c, _)| c.clone()).collect();
    let (params, unnest) = unnest_params(table, &names, &rows, |u, c| assigned(u, c), 1)?;
    // (column, its new value) of every column an update sets.
    let updates: Vec<(String, String)> = columns
        .iter()
        .filter(|(column, _)| !conflict.contains(column))
        .filter_map(|(column, merge)| {
            let c = ident(column);
            let value = match *merge {
                0 => format!("EXCLUDED.{c}"),
                2 => format!("COALESCE(t.{c}, 0) + EXCLUDED.{c}"),
                3 => format!("GREATEST(t.{c}, EXCLUDED.{c})"),
                4 => format!("LEAST(t.{c}, EXCLUDED.{c})"),
                _ => return None,
            };
            Some((c, value))
        })
        .collect();
    let sets: Vec<String> = updates
        .iter()
        .map(|(column, value)| format!("{column} = {value}"))
        .collect();
    let counted = contributions(prepared, table);
    let changes_counts = columns
        .iter()
        .any(|(column, merge)| *merge != 1 && table.aggregate_columns.contains(column));
    let need_old = !counted.is_empty() && !sets.is_empty() && changes_counts;
    let mut stats = ApplyStats::default();

    // The old rows, locked, and what they counted for.
    let mut locked = 0_u64;
    if need_old {
        let (key_params, key_unnest) =
            unnest_params(table, conflict, &rows, |u, c| assigned(u, c), 1)?;
        let on: Vec<String> = conflict
            .iter()
            .enumerate()
            .map(|(position, column)| {
                format!(
                    "t.{} = {}",
                    ident(column),
                    value_expr(table, column, position)
                )
            })
            .collect();
        let order: Vec<String> = conflict.iter().map(|c| format!("t.{}", ident(c))).collect();
        let sql = format!(
            "SELECT {} FROM {} AS t JOIN {key_unnest} ON {} ORDER BY {} FOR UPDATE OF t",
            counted.join(", "),
            table.qualified,
            on.join(" AND "),
            order.join(", ")
        );
        let old = bind_all(sqlx::query(AssertSqlSafe(sql)), key_params)
            .fetch_all(&mut *conn)
            .await?;
        stats.statements += 1;
        for row in &old {
            record_contributions(row, 0, table, -1, deltas)?;
        }
        locked = old.len() as u64;
    }

    let exprs: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(position, column)| value_expr(table, column, position))
        .collect();
    let target: Vec<String> = conflict.iter().map(|c| ident(c)).collect();
    let mut sql = format!(
        "INSERT INTO {} AS t ({}) SELECT {} FROM {unnest} ON CONFLICT ({}) ",
        table.qualified,
        names
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        exprs.join(", "),
        target.join(", ")
    );
    if sets.is_empty() {
        sql.push_str("DO NOTHING");
    } else {
        sql.push_str("DO UPDATE SET ");
        sql.push_str(&sets.join(", "));
        let comparable = columns.iter().all(|(column, _)| {
            conflict.contains(column)
                || table
                    .physical
                    .column(column)
                    .is_some_and(|c| c.compares_equal())
        });
        if !need_old && comparable {
            // A row that would not change is left as it is (locked, not rewritten): replays
            // write again rows that are mostly the same. Not where old rows were read, whose
            // counts are taken back and added again from what `RETURNING` returns, nor where a
            // column's type has no equality (`json`).
            let (now, then): (Vec<String>, Vec<&str>) = updates
                .iter()
                .map(|(column, value)| (format!("t.{column}"), value.as_str()))
                .unzip();
            sql.push_str(&format!(
                " WHERE ({}) IS DISTINCT FROM ({})",
                now.join(", "),
                then.join(", ")
            ));
        }
    }
    stats.statements += 1;
    if counted.is_empty() {
        stats.rows += bind_all(sqlx::query(AssertSqlSafe(sql)), params)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        return Ok(stats);
    }
    sql.push_str(" RETURNING (t.xmax = 0), ");
    sql.push_str(&counted.join(", "));
    let returned = bind_all(sqlx::query(AssertSqlSafe(sql)), params)
        .fetch_all(&mut *conn)
        .await?;
    let mut updated = 0_u64;
    for row in &returned {
        let inserted: bool = row
            .try_get(0)
            .map_err(|e| BatchError::Data(format!("reading RETURNING: {e}")))?;
        if inserted || need_old {
            // An update's new contribution counts only when its old one was subtracted.
            record_contributions(row, 1, table, 1, deltas)?;
        }
        if !inserted {
            updated += 1;
        }
    }
    stats.rows += returned.len() as u64;
    if need_old && updated > locked {
        return Err(BatchError::Concurrent(format!(
            "{}: {updated} rows updated but {locked} were locked (a concurrent insert)",
            table.physical.name
        )));
    }
    Ok(stats)
}

async fn write_deletes(
    conn: &mut PgConnection,
    prepared: &PreparedPlugins,
    table: &TableInfo,
    columns: &[String],
    rows: Vec<&Delete>,
    deltas: &mut AggregateDeltas,
) -> Result<ApplyStats, BatchError> {
    let lookup: Vec<HashMap<&str, &Value>> = rows
        .iter()
        .map(|delete| cells_of(&delete.matching).into_iter().collect())
        .collect();
    let (params, unnest) = unnest_params(
        table,
        columns,
        &lookup,
        |cells, column| cells.get(column).copied().unwrap_or(&NULL),
        1,
    )?;
    let conditions: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(position, column)| {
            format!(
                "t.{} = {}",
                ident(column),
                value_expr(table, column, position)
            )
        })
        .collect();
    let mut sql = format!(
        "DELETE FROM {} AS t USING {unnest} WHERE {}",
        table.qualified,
        conditions.join(" AND ")
    );
    let counted = contributions(prepared, table);
    let mut stats = ApplyStats {
        statements: 1,
        rows: 0,
    };
    if counted.is_empty() {
        stats.rows = bind_all(sqlx::query(AssertSqlSafe(sql)), params)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        return Ok(stats);
    }
    sql.push_str(" RETURNING ");
    sql.push_str(&counted.join(", "));
    let deleted = bind_all(sqlx::query(AssertSqlSafe(sql)), params)
        .fetch_all(&mut *conn)
        .await?;
    for row in &deleted {
        record_contributions(row, 0, table, -1, deltas)?;
    }
    stats.rows = deleted.len() as u64;
    Ok(stats)
}

async fn write_increments(
    conn: &mut PgConnection,
    prepared: &PreparedPlugins,
    table: &TableInfo,
    columns: &[String],
    counter: &str,
    rows: Vec<(&Increment, i64)>,
    deltas: &mut AggregateDeltas,
) -> Result<ApplyStats, BatchError> {
    let lookup: Vec<HashMap<&str, &Value>> = rows
        .iter()
        .map(|(increment, _)| cells_of(&increment.key).into_iter().collect())
        .collect();
    let (mut params, _) = unnest_params(
        table,
        columns,
        &lookup,
        |cells, column| cells.get(column).copied().unwrap_or(&NULL),
        1,
    )?;
    let mut summed = ParamColumn::new(crate::binding::ParamType::Int8, rows.len());
    for (_, delta) in &rows {
        summed
            .push_int(*delta)
            .map_err(|e| BatchError::Data(e.to_string()))?;
    }
    params.push(summed);
    let mut types: Vec<String> = Vec::with_capacity(columns.len() + 1);
    for (position, column) in columns.iter().enumerate() {
        let param = table
            .bindings
            .get(column)
            .map_or("text[]", |binding| binding.param.array_sql());
        types.push(format!("${}::{param}", position + 1));
    }
    types.push(format!("${}::int8[]", columns.len() + 1));
    let aliases: Vec<String> = (0..=columns.len()).map(|p| format!("c{p}")).collect();
    let mut exprs: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(position, column)| value_expr(table, column, position))
        .collect();
    exprs.push(value_expr(table, counter, columns.len()));
    let counter_sql = ident(counter);
    let key_sql: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    let mut sql = format!(
        "INSERT INTO {} AS t ({}, {counter_sql}) SELECT {} FROM UNNEST({}) AS u({}) \
         ON CONFLICT ({}) DO UPDATE SET {counter_sql} = COALESCE(t.{counter_sql}, 0) + EXCLUDED.{counter_sql}",
        table.qualified,
        key_sql.join(", "),
        exprs.join(", "),
        types.join(", "),
        aliases.join(", "),
        key_sql.join(", ")
    );
    let counted = contributions(prepared, table);
    let mut stats = ApplyStats {
        statements: 1,
        rows: 0,
    };
    if counted.is_empty() {
        stats.rows = bind_all(sqlx::query(AssertSqlSafe(sql)), params)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        return Ok(stats);
    }
    // An increment may create a counted row; it never changes what an existing row counts for.
    sql.push_str(" RETURNING (t.xmax = 0), ");
    sql.push_str(&counted.join(", "));
    let returned = bind_all(sqlx::query(AssertSqlSafe(sql)), params)
        .fetch_all(&mut *conn)
        .await?;
    for row in &returned {
        let inserted: bool = row
            .try_get(0)
            .map_err(|e| BatchError::Data(format!("reading RETURNING: {e}")))?;
        if inserted {
            record_contributions(row, 1, table, 1, deltas)?;
        }
    }
    stats.rows = returned.len() as u64;
    Ok(stats)
}
