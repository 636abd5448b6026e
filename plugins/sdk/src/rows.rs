//! Builders for row operations, and conversions into [`Value`].

use crate::types::{
    Assignment, Cell, Delete as DeleteOp, Increment as IncrementOp, Merge, RowOp,
    Upsert as UpsertOp, Value,
};

/// Starts an upsert into `table`. The columns given with [`Upsert::key`] form the conflict
/// target (a declared primary or unique key).
pub fn upsert(table: &str) -> Upsert {
    Upsert {
        op: UpsertOp {
            table: table.to_owned(),
            conflict: Vec::new(),
            assignments: Vec::new(),
        },
    }
}

/// Starts a delete from `table` of the rows matching every [`Delete::matching`] condition.
pub fn delete(table: &str) -> Delete {
    Delete {
        op: DeleteOp {
            table: table.to_owned(),
            matching: Vec::new(),
        },
    }
}

/// Starts an increment of `table.column` by `delta` on the row with the [`Increment::key`]
/// columns.
pub fn increment(table: &str, column: &str, delta: i64) -> Increment {
    Increment {
        op: IncrementOp {
            table: table.to_owned(),
            key: Vec::new(),
            column: column.to_owned(),
            delta,
        },
    }
}

/// An upsert being built.
#[derive(Debug, Clone)]
pub struct Upsert {
    op: UpsertOp,
}

impl Upsert {
    /// A key column: part of the conflict target, written on insert.
    pub fn key(mut self, column: &str, value: impl Into<Value>) -> Self {
        self.op.conflict.push(column.to_owned());
        self.assign(column, value.into(), Merge::Set)
    }

    /// Overwrites the column.
    pub fn set(self, column: &str, value: impl Into<Value>) -> Self {
        self.assign(column, value.into(), Merge::Set)
    }

    /// Writes the column only when the row is inserted.
    pub fn keep_existing(self, column: &str, value: impl Into<Value>) -> Self {
        self.assign(column, value.into(), Merge::KeepExisting)
    }

    /// Adds to the stored value.
    pub fn add(self, column: &str, value: impl Into<Value>) -> Self {
        self.assign(column, value.into(), Merge::Add)
    }

    /// Keeps the greater of the stored value and this one.
    pub fn greatest(self, column: &str, value: impl Into<Value>) -> Self {
        self.assign(column, value.into(), Merge::Greatest)
    }

    /// Keeps the lesser of the stored value and this one.
    pub fn least(self, column: &str, value: impl Into<Value>) -> Self {
        self.assign(column, value.into(), Merge::Least)
    }

    fn assign(mut self, column: &str, value: Value, merge: Merge) -> Self {
        self.op.assignments.push(Assignment {
            column: column.to_owned(),
            value,
            merge,
        });
        self
    }
}

impl From<Upsert> for RowOp {
    fn from(builder: Upsert) -> Self {
        RowOp::Upsert(builder.op)
    }
}

/// A delete being built.
#[derive(Debug, Clone)]
pub struct Delete {
    op: DeleteOp,
}

impl Delete {
    /// Only rows whose `column` equals `value`.
    pub fn matching(mut self, column: &str, value: impl Into<Value>) -> Self {
        self.op.matching.push(Cell {
            column: column.to_owned(),
            value: value.into(),
        });
        self
    }
}

impl From<Delete> for RowOp {
    fn from(builder: Delete) -> Self {
        RowOp::Delete(builder.op)
    }
}

/// An increment being built.
#[derive(Debug, Clone)]
pub struct Increment {
    op: IncrementOp,
}

impl Increment {
    /// A key column of the row to change.
    pub fn key(mut self, column: &str, value: impl Into<Value>) -> Self {
        self.op.key.push(Cell {
            column: column.to_owned(),
            value: value.into(),
        });
        self
    }
}

impl From<Increment> for RowOp {
    fn from(builder: Increment) -> Self {
        RowOp::Increment(builder.op)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(text)
    }
}

impl From<&String> for Value {
    fn from(text: &String) -> Self {
        Value::Text(text.clone())
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Integer(number)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Boolean(flag)
    }
}

impl From<f64> for Value {
    fn from(number: f64) -> Self {
        Value::Float(number)
    }
}

impl From<Vec<String>> for Value {
    fn from(list: Vec<String>) -> Self {
        Value::TextList(list)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

impl Value {
    /// A timestamp (RFC 3339 text).
    pub fn timestamp(text: impl Into<String>) -> Self {
        Value::Timestamp(text.into())
    }

    /// A JSON document (text).
    pub fn json(text: impl Into<String>) -> Self {
        Value::Json(text.into())
    }
}
