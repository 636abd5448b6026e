//! In-memory tables: declared columns and keys, row operations with their merge rules, unique
//! keys enforced, row queries, and aggregate counts.

use std::collections::BTreeMap;

use sluice_plugin_sdk::types::{
    Aggregate, Cell, ColumnKind, Merge, RowOp, RowQuery, Table, Upsert, Value,
};

/// A row: column → value (absent columns are null).
pub type Row = BTreeMap<String, Value>;

/// Every declared table and its rows.
#[derive(Debug, Default)]
pub struct Tables {
    tables: BTreeMap<String, TableState>,
}

#[derive(Debug)]
struct TableState {
    declaration: Table,
    rows: Vec<Row>,
}

/// The text of a text-like value (text, timestamp, JSON).
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Text(text) | Value::Timestamp(text) | Value::Json(text) => Some(text.clone()),
        _ => None,
    }
}

/// A string that sorts values of one column in a stable order.
fn sort_key(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::Integer(n)) => format!("{:020}", i128::from(*n) + i128::from(i64::MAX)),
        Some(other) => format!("{other:?}"),
    }
}

fn same(a: Option<&Value>, b: &Value) -> bool {
    match (a, b) {
        (None | Some(Value::Null), _) | (_, Value::Null) => false,
        (Some(a), b) => a == b,
    }
}

impl Tables {
    /// Declares a table (the first declaration of a name wins).
    pub fn declare(&mut self, table: &Table) {
        self.tables
            .entry(table.name.clone())
            .or_insert_with(|| TableState {
                declaration: table.clone(),
                rows: Vec::new(),
            });
    }

    /// The names of the declared tables, sorted.
    pub fn names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    /// The rows of a table, in primary-key order.
    pub fn rows(&self, table: &str) -> Vec<Row> {
        let Some(state) = self.tables.get(table) else {
            return Vec::new();
        };
        let mut rows = state.rows.clone();
        let key = &state.declaration.primary_key;
        rows.sort_by_key(|row| key.iter().map(|c| sort_key(row.get(c))).collect::<Vec<_>>());
        rows
    }

    /// Applies row operations in order; the first refused one stops with an error (as a
    /// database would fail the transaction). Operations before it stay applied: callers treat
    /// an error as a test failure.
    pub fn apply_all(&mut self, ops: &[RowOp]) -> Result<(), String> {
        for op in ops {
            self.apply(op)?;
        }
        Ok(())
    }

    fn apply(&mut self, op: &RowOp) -> Result<(), String> {
        match op {
            RowOp::Upsert(upsert) => self.upsert(upsert),
            RowOp::Delete(delete) => {
                let state = self.state(&delete.table)?;
                check_filter(&state.declaration, &delete.matching)?;
                state.rows.retain(|row| !matches(row, &delete.matching));
                Ok(())
            }
            RowOp::Increment(increment) => {
                let state = self.state(&increment.table)?;
                match state
                    .rows
                    .iter_mut()
                    .find(|row| matches(row, &increment.key))
                {
                    Some(row) => {
                        let current = match row.get(&increment.column) {
                            Some(Value::Integer(n)) => *n,
                            _ => 0,
                        };
                        row.insert(
                            increment.column.clone(),
                            Value::Integer(current + increment.delta),
                        );
                    }
                    None => {
                        let mut row = defaults(&state.declaration);
                        for cell in &increment.key {
                            row.insert(cell.column.clone(), cell.value.clone());
                        }
                        row.insert(increment.column.clone(), Value::Integer(increment.delta));
                        state.rows.push(row);
                    }
                }
                Ok(())
            }
        }
    }

    fn state(&mut self, table: &str) -> Result<&mut TableState, String> {
        self.tables
            .get_mut(table)
            .ok_or_else(|| format!("table {table} is not declared"))
    }

    fn upsert(&mut self, upsert: &Upsert) -> Result<(), String> {
        let state = self.state(&upsert.table)?;
        let declaration = &state.declaration;
        for assignment in &upsert.assignments {
            let Some(column) = declaration
                .columns
                .iter()
                .find(|c| c.name == assignment.column)
            else {
                return Err(format!(
                    "{}.{} is not declared",
                    upsert.table, assignment.column
                ));
            };
            check_kind(
                &upsert.table,
                column.name.as_str(),
                column.kind,
                column.nullable,
                &assignment.value,
            )?;
        }
        let is_key = std::iter::once(&declaration.primary_key)
            .chain(declaration.unique_keys.iter())
            .any(|key| {
                let mut a = key.clone();
                let mut b = upsert.conflict.clone();
                a.sort();
                b.sort();
                a == b
            });
        if !is_key {
            return Err(format!(
                "{}: {:?} is not a key",
                upsert.table, upsert.conflict
            ));
        }
        let key: Vec<Cell> = upsert
            .conflict
            .iter()
            .map(|column| Cell {
                column: column.clone(),
                value: upsert
                    .assignments
                    .iter()
                    .find(|a| &a.column == column)
                    .map_or(Value::Null, |a| a.value.clone()),
            })
            .collect();
        let position = state.rows.iter().position(|row| matches(row, &key));
        let row = match position {
            Some(index) => {
                let mut row = state.rows.remove(index);
                for assignment in &upsert.assignments {
                    let merged = merge(
                        row.get(&assignment.column),
                        &assignment.value,
                        assignment.merge,
                    );
                    row.insert(assignment.column.clone(), merged);
                }
                row
            }
            None => {
                let mut row = defaults(declaration);
                for assignment in &upsert.assignments {
                    row.insert(assignment.column.clone(), assignment.value.clone());
                }
                for column in &declaration.columns {
                    if !column.nullable && matches!(row.get(&column.name), None | Some(Value::Null))
                    {
                        return Err(format!(
                            "{}.{} would be null in a new row",
                            upsert.table, column.name
                        ));
                    }
                }
                row
            }
        };
        // Unique keys (primary included) must hold.
        for unique in
            std::iter::once(&declaration.primary_key).chain(declaration.unique_keys.iter())
        {
            let cells: Vec<Cell> = unique
                .iter()
                .map(|column| Cell {
                    column: column.clone(),
                    value: row.get(column).cloned().unwrap_or(Value::Null),
                })
                .collect();
            if state.rows.iter().any(|other| matches(other, &cells)) {
                return Err(format!(
                    "{}: duplicate key {:?}",
                    upsert.table,
                    cells
                        .iter()
                        .map(|c| (&c.column, &c.value))
                        .collect::<Vec<_>>()
                ));
            }
        }
        state.rows.push(row);
        Ok(())
    }

    /// Answers a row query: matching rows in primary-key order, the asked columns, at most
    /// `limit`.
    pub fn query(&self, query: &RowQuery) -> Vec<Vec<Value>> {
        let Some(state) = self.tables.get(&query.table) else {
            return Vec::new();
        };
        let mut rows: Vec<&Row> = state
            .rows
            .iter()
            .filter(|row| matches(row, &query.matching))
            .collect();
        let key = &state.declaration.primary_key;
        rows.sort_by_key(|row| key.iter().map(|c| sort_key(row.get(c))).collect::<Vec<_>>());
        rows.into_iter()
            .take(query.limit as usize)
            .map(|row| {
                query
                    .columns
                    .iter()
                    .map(|column| row.get(column).cloned().unwrap_or(Value::Null))
                    .collect()
            })
            .collect()
    }

    /// Makes `aggregate.target.column` the exact count of matching source rows, for every key
    /// that has matching rows or a target row.
    pub fn recount(&mut self, aggregate: &Aggregate) {
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        if let Some(source) = self.tables.get(&aggregate.source) {
            for row in &source.rows {
                let passes = aggregate.filter.iter().all(|cell| {
                    match (&cell.value, row.get(&cell.column)) {
                        (Value::Boolean(false), None | Some(Value::Null)) => true,
                        (value, stored) => stored == Some(value),
                    }
                });
                if !passes {
                    continue;
                }
                if let Some(key) = row.get(&aggregate.group_by).and_then(value_text) {
                    *counts.entry(key).or_default() += 1;
                }
            }
        }
        let Some(target) = self.tables.get_mut(&aggregate.target) else {
            return;
        };
        for row in &mut target.rows {
            let key = row
                .get(&aggregate.target_key)
                .and_then(value_text)
                .unwrap_or_default();
            let count = counts.remove(&key).unwrap_or(0);
            row.insert(aggregate.target_column.clone(), Value::Integer(count));
        }
        for (key, count) in counts {
            let mut row = defaults(&target.declaration);
            row.insert(aggregate.target_key.clone(), Value::Text(key));
            row.insert(aggregate.target_column.clone(), Value::Integer(count));
            target.rows.push(row);
        }
    }

    /// Every table, in name order, rows in primary-key order, one line per row; `skip` columns
    /// left out.
    pub fn dump(&self, skip: &[&str]) -> String {
        let mut out = String::new();
        for name in self.tables.keys() {
            let rows = self.rows(name);
            if rows.is_empty() {
                continue;
            }
            out.push_str(&format!("== {name} ({})\n", rows.len()));
            let mut lines: Vec<String> = rows
                .iter()
                .map(|row| {
                    row.iter()
                        .filter(|(column, value)| {
                            !skip.contains(&column.as_str()) && **value != Value::Null
                        })
                        .map(|(column, value)| format!("{column}={}", show(value)))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            lines.sort();
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Boolean(flag) => flag.to_string(),
        Value::Integer(n) => n.to_string(),
        Value::Float(n) => n.to_string(),
        Value::Text(text) | Value::Timestamp(text) | Value::Json(text) => format!("{text:?}"),
        Value::Bytes(bytes) => format!("{bytes:?}"),
        Value::TextList(list) => format!("{list:?}"),
    }
}

fn defaults(table: &Table) -> Row {
    table
        .columns
        .iter()
        .map(|column| {
            (
                column.name.clone(),
                column.default.clone().unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn matches(row: &Row, cells: &[Cell]) -> bool {
    cells
        .iter()
        .all(|cell| same(row.get(&cell.column), &cell.value))
}

fn merge(stored: Option<&Value>, value: &Value, merge: Merge) -> Value {
    let stored_value = stored.cloned().unwrap_or(Value::Null);
    match merge {
        Merge::Set => value.clone(),
        Merge::KeepExisting => stored_value,
        Merge::Add => match (&stored_value, value) {
            (Value::Integer(a), Value::Integer(b)) => Value::Integer(a + b),
            (Value::Float(a), Value::Float(b)) => Value::Float(a + b),
            (Value::Null, other) => other.clone(),
            _ => stored_value,
        },
        Merge::Greatest | Merge::Least => {
            if stored_value == Value::Null {
                return value.clone();
            }
            if *value == Value::Null {
                return stored_value;
            }
            let greater = sort_key(Some(value)) > sort_key(Some(&stored_value));
            if greater == (merge == Merge::Greatest) {
                value.clone()
            } else {
                stored_value
            }
        }
    }
}

fn check_kind(
    table: &str,
    column: &str,
    kind: ColumnKind,
    nullable: bool,
    value: &Value,
) -> Result<(), String> {
    let ok = match value {
        Value::Null => nullable,
        Value::Boolean(_) => kind == ColumnKind::Boolean,
        Value::Integer(_) => kind == ColumnKind::Integer,
        Value::Float(_) => kind == ColumnKind::Float,
        Value::Text(text) => kind == ColumnKind::Text && !text.contains('\0'),
        Value::Bytes(_) => kind == ColumnKind::Bytes,
        Value::Json(text) => {
            kind == ColumnKind::Json && serde_json::from_str::<serde_json::Value>(text).is_ok()
        }
        Value::Timestamp(text) => {
            kind == ColumnKind::Timestamp && sluice_plugin_sdk::is_datetime(text)
        }
        Value::TextList(_) => kind == ColumnKind::TextList,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{table}.{column}: {value:?} does not fit {kind:?} (nullable: {nullable})"
        ))
    }
}

fn check_filter(table: &Table, cells: &[Cell]) -> Result<(), String> {
    let mut columns: Vec<&str> = cells.iter().map(|c| c.column.as_str()).collect();
    columns.sort_unstable();
    let fits = std::iter::once(&table.primary_key)
        .chain(table.unique_keys.iter())
        .chain(table.indexes.iter())
        .any(|set| {
            let mut set: Vec<&str> = set.iter().map(String::as_str).collect();
            set.sort_unstable();
            set == columns
        });
    if fits {
        Ok(())
    } else {
        Err(format!(
            "{}: {columns:?} is not a declared key or index",
            table.name
        ))
    }
}
