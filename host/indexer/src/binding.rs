//! Binding plugin values to real columns: which declared kinds a Postgres column type accepts,
//! the array type a column of values is bound as (for `UNNEST`), and the SQL expression that
//! turns a bound element into the column's type.
//!
//! Values are always bound as parameters, never spliced into SQL: a column of values becomes one
//! array parameter (`$1::text[]`), and `UNNEST` turns the arrays into rows.

use sluice_plugin_host::types::{ColumnKind, Value};
use sqlx::Postgres;
use sqlx::query::Query;

/// The element type of the array a column of values is bound as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// `bool[]`.
    Bool,
    /// `int8[]`.
    Int8,
    /// `float8[]`.
    Float8,
    /// `text[]` (text, timestamps, JSON documents, and text lists as array literals).
    Text,
    /// `bytea[]`.
    Bytea,
}

impl ParamType {
    /// The kind's parameter type.
    pub fn of(kind: ColumnKind) -> Self {
        match kind {
            ColumnKind::Boolean => Self::Bool,
            ColumnKind::Integer => Self::Int8,
            ColumnKind::Float => Self::Float8,
            ColumnKind::Bytes => Self::Bytea,
            ColumnKind::Text | ColumnKind::Json | ColumnKind::Timestamp | ColumnKind::TextList => {
                Self::Text
            }
        }
    }

    /// The SQL array type, for `$n::<type>`.
    pub fn array_sql(self) -> &'static str {
        match self {
            Self::Bool => "bool[]",
            Self::Int8 => "int8[]",
            Self::Float8 => "float8[]",
            Self::Text => "text[]",
            Self::Bytea => "bytea[]",
        }
    }
}

/// How values of one declared kind reach one real column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnBinding {
    /// The declared kind.
    pub kind: ColumnKind,
    /// The parameter's element type.
    pub param: ParamType,
    /// How a bound element becomes the column's type.
    conversion: Conversion,
    /// Integer range the column holds, when narrower than 64 bits.
    pub integer_range: Option<(i64, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conversion {
    /// Used as bound.
    Direct,
    /// `(<src>)::<type>`.
    Cast(&'static str),
    /// A text-list array literal to `text[]`, then to JSON.
    TextListToJson(&'static str),
}

impl ColumnBinding {
    /// How `kind` binds to a column of Postgres type `type_name` (`pg_type.typname`), or `None`
    /// when the column cannot hold that kind.
    pub fn new(kind: ColumnKind, type_name: &str) -> Option<Self> {
        use Conversion::{Cast, Direct, TextListToJson};
        let (conversion, integer_range) = match (kind, type_name) {
            (ColumnKind::Boolean, "bool") => (Direct, None),
            (ColumnKind::Integer, "int8") => (Direct, None),
            (ColumnKind::Integer, "int4") => (
                Cast("int4"),
                Some((i64::from(i32::MIN), i64::from(i32::MAX))),
            ),
            (ColumnKind::Integer, "int2") => (
                Cast("int2"),
                Some((i64::from(i16::MIN), i64::from(i16::MAX))),
            ),
            (ColumnKind::Integer, "numeric") => (Cast("numeric"), None),
            (ColumnKind::Float, "float8") => (Direct, None),
            (ColumnKind::Float, "float4") => (Cast("float4"), None),
            (ColumnKind::Float, "numeric") => (Cast("numeric"), None),
            (ColumnKind::Text, "text" | "varchar" | "bpchar" | "citext") => (Direct, None),
            (ColumnKind::Timestamp, "text" | "varchar") => (Direct, None),
            (ColumnKind::Timestamp, "timestamptz") => (Cast("timestamptz"), None),
            (ColumnKind::Timestamp, "timestamp") => (Cast("timestamp"), None),
            (ColumnKind::Json, "jsonb") => (Cast("jsonb"), None),
            (ColumnKind::Json, "json") => (Cast("json"), None),
            (ColumnKind::Json, "text" | "varchar") => (Direct, None),
            (ColumnKind::TextList, "_text" | "_varchar") => (Cast("text[]"), None),
            (ColumnKind::TextList, "jsonb") => (TextListToJson("to_jsonb"), None),
            (ColumnKind::TextList, "json") => (TextListToJson("to_json"), None),
            (ColumnKind::Bytes, "bytea") => (Direct, None),
            _ => return None,
        };
        Some(Self {
            kind,
            param: ParamType::of(kind),
            conversion,
            integer_range,
        })
    }

    /// The SQL expression that turns the bound element `src` (e.g. `u.c3`) into the column's
    /// type.
    pub fn expr(&self, src: &str) -> String {
        match self.conversion {
            Conversion::Direct => src.to_owned(),
            Conversion::Cast(ty) => format!("({src})::{ty}"),
            Conversion::TextListToJson(function) => format!("{function}(({src})::text[])"),
        }
    }

    /// Whether the column can store this value (integers that fit a narrower column); the
    /// declaration checks everything else before any SQL runs.
    pub fn fits(&self, value: &Value) -> bool {
        match (value, self.integer_range) {
            (Value::Integer(n), Some((low, high))) => (low..=high).contains(n),
            _ => true,
        }
    }
}

/// The kind a column of this Postgres type is read back as (for tables a plugin reads but does
/// not declare), or `None` when Sluice has no kind for it.
pub fn kind_of_type(type_name: &str) -> Option<ColumnKind> {
    Some(match type_name {
        "bool" => ColumnKind::Boolean,
        "int2" | "int4" | "int8" => ColumnKind::Integer,
        "float4" | "float8" | "numeric" => ColumnKind::Float,
        "text" | "varchar" | "bpchar" | "citext" | "name" => ColumnKind::Text,
        "timestamptz" | "timestamp" => ColumnKind::Timestamp,
        "json" | "jsonb" => ColumnKind::Json,
        "_text" | "_varchar" => ColumnKind::TextList,
        "bytea" => ColumnKind::Bytes,
        _ => return None,
    })
}

/// A column of values being collected for one array parameter.
#[derive(Debug, Clone)]
pub enum ParamColumn {
    /// `bool[]`.
    Bool(Vec<Option<bool>>),
    /// `int8[]`.
    Int8(Vec<Option<i64>>),
    /// `float8[]`.
    Float8(Vec<Option<f64>>),
    /// `text[]`.
    Text(Vec<Option<String>>),
    /// `bytea[]`.
    Bytea(Vec<Option<Vec<u8>>>),
}

/// A value whose variant does not match the column's parameter type (the declaration checks
/// make this unreachable for checked row operations).
#[derive(Debug, Clone, thiserror::Error)]
#[error("a {found} value cannot be bound as {expected}")]
pub struct BindError {
    /// The parameter type.
    pub expected: &'static str,
    /// The value's variant.
    pub found: &'static str,
}

impl ParamColumn {
    /// An empty column of this type.
    pub fn new(param: ParamType, capacity: usize) -> Self {
        match param {
            ParamType::Bool => Self::Bool(Vec::with_capacity(capacity)),
            ParamType::Int8 => Self::Int8(Vec::with_capacity(capacity)),
            ParamType::Float8 => Self::Float8(Vec::with_capacity(capacity)),
            ParamType::Text => Self::Text(Vec::with_capacity(capacity)),
            ParamType::Bytea => Self::Bytea(Vec::with_capacity(capacity)),
        }
    }

    /// Appends a value.
    pub fn push(&mut self, value: &Value) -> Result<(), BindError> {
        let mismatch = |expected| BindError {
            expected,
            found: value_name(value),
        };
        match (self, value) {
            (Self::Bool(v), Value::Null) => v.push(None),
            (Self::Int8(v), Value::Null) => v.push(None),
            (Self::Float8(v), Value::Null) => v.push(None),
            (Self::Text(v), Value::Null) => v.push(None),
            (Self::Bytea(v), Value::Null) => v.push(None),
            (Self::Bool(v), Value::Boolean(b)) => v.push(Some(*b)),
            (Self::Int8(v), Value::Integer(n)) => v.push(Some(*n)),
            (Self::Float8(v), Value::Float(f)) => v.push(Some(*f)),
            (Self::Text(v), Value::Text(text) | Value::Json(text) | Value::Timestamp(text)) => {
                v.push(Some(text.clone()));
            }
            (Self::Text(v), Value::TextList(items)) => v.push(Some(array_literal(items))),
            (Self::Bytea(v), Value::Bytes(bytes)) => v.push(Some(bytes.clone())),
            (Self::Bool(_), _) => return Err(mismatch("bool")),
            (Self::Int8(_), _) => return Err(mismatch("int8")),
            (Self::Float8(_), _) => return Err(mismatch("float8")),
            (Self::Text(_), _) => return Err(mismatch("text")),
            (Self::Bytea(_), _) => return Err(mismatch("bytea")),
        }
        Ok(())
    }

    /// Appends an integer (deltas of increments and aggregates).
    pub fn push_int(&mut self, n: i64) -> Result<(), BindError> {
        self.push(&Value::Integer(n))
    }

    /// Binds the column as the next parameter of `query`.
    pub fn bind<'q>(
        self,
        query: Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> Query<'q, Postgres, sqlx::postgres::PgArguments> {
        match self {
            Self::Bool(v) => query.bind(v),
            Self::Int8(v) => query.bind(v),
            Self::Float8(v) => query.bind(v),
            Self::Text(v) => query.bind(v),
            Self::Bytea(v) => query.bind(v),
        }
    }
}

/// The WIT name of a value's variant, for messages.
pub fn value_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytes",
        Value::Json(_) => "json",
        Value::Timestamp(_) => "timestamp",
        Value::TextList(_) => "text-list",
    }
}

/// A Postgres array literal of text elements: `{"a","b \"c\""}` (every element quoted, `"` and
/// `\` escaped), which `::text[]` parses back exactly.
pub fn array_literal(items: &[String]) -> String {
    let mut out = String::with_capacity(2 + items.iter().map(|i| i.len() + 3).sum::<usize>());
    out.push('{');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// A SQL string literal (`'it''s'`), for DDL where parameters cannot be used (column defaults).
/// Safe with `standard_conforming_strings` on (Postgres' default since 9.1): only `'` needs
/// doubling. Text containing NUL is refused by the declaration checks before this is reached.
pub fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A quoted SQL identifier (`"indexedAt"`); identifiers are checked to be plain
/// (`[A-Za-z_][A-Za-z0-9_]*`) by the declaration checks, quoting keeps their case.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_bind_only_to_columns_that_hold_them() {
        assert!(ColumnBinding::new(ColumnKind::Text, "varchar").is_some());
        assert!(ColumnBinding::new(ColumnKind::Timestamp, "varchar").is_some());
        assert!(ColumnBinding::new(ColumnKind::Json, "jsonb").is_some());
        assert!(ColumnBinding::new(ColumnKind::Text, "jsonb").is_none());
        assert!(ColumnBinding::new(ColumnKind::Integer, "varchar").is_none());
        assert!(ColumnBinding::new(ColumnKind::Boolean, "int8").is_none());
        let json = ColumnBinding::new(ColumnKind::Json, "jsonb").unwrap();
        assert_eq!(json.expr("u.c1"), "(u.c1)::jsonb");
        let list = ColumnBinding::new(ColumnKind::TextList, "jsonb").unwrap();
        assert_eq!(list.expr("u.c1"), "to_jsonb((u.c1)::text[])");
    }

    #[test]
    fn narrow_integers_are_range_checked() {
        let int4 = ColumnBinding::new(ColumnKind::Integer, "int4").unwrap();
        assert!(int4.fits(&Value::Integer(5)));
        assert!(!int4.fits(&Value::Integer(i64::from(i32::MAX) + 1)));
        let int8 = ColumnBinding::new(ColumnKind::Integer, "int8").unwrap();
        assert!(int8.fits(&Value::Integer(i64::MAX)));
    }

    #[test]
    fn array_literals_escape_quotes_and_backslashes() {
        assert_eq!(array_literal(&[]), "{}");
        assert_eq!(
            array_literal(&["a".into(), "b \"c\"".into(), "d\\e".into(), "".into()]),
            r#"{"a","b \"c\"","d\\e",""}"#
        );
    }

    #[test]
    fn params_refuse_values_of_another_variant() {
        let mut column = ParamColumn::new(ParamType::Int8, 2);
        column.push(&Value::Integer(1)).unwrap();
        column.push(&Value::Null).unwrap();
        assert!(column.push(&Value::Text("x".into())).is_err());
        let ParamColumn::Int8(values) = column else {
            panic!("wrong column")
        };
        assert_eq!(values, vec![Some(1), None]);
    }

    #[test]
    fn literals_and_identifiers_are_quoted() {
        assert_eq!(string_literal("it's"), "'it''s'");
        assert_eq!(ident("indexedAt"), "\"indexedAt\"");
    }
}
