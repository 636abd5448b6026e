//! Checks every row operation and lookup a plugin returns against its declaration, before any
//! SQL runs: tables, columns, value kinds, nullability, keys used as conflict targets, and the
//! content of values (Postgres refuses NUL in text; timestamps and JSON must parse).

use crate::bindings::latest::{Cell, ColumnKind, Lookup, Merge, RowOp, Value};
use crate::declaration::{Declaration, TableSchema};

/// What is wrong with a row operation, a lookup or an `awaits` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowOpError {
    /// The table is not declared by the plugin.
    #[error("table {0} is not declared")]
    UndeclaredTable(String),
    /// The table may not be read (neither declared nor named in `reads`).
    #[error("table {0} is neither declared nor named in `reads`")]
    UnreadableTable(String),
    /// A column is not declared.
    #[error("{table}.{column} is not a declared column")]
    UndeclaredColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A column is assigned or matched twice in one operation.
    #[error("{table}.{column} appears twice")]
    DuplicateColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A value is not of its column's kind.
    #[error("{table}.{column} is {expected} but the value is {found}")]
    WrongKind {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The declared kind.
        expected: &'static str,
        /// The value's kind.
        found: &'static str,
    },
    /// A value's content is not acceptable (NUL in text, unparsable timestamp or JSON).
    #[error("{table}.{column}: {reason}")]
    BadValue {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// The columns named as a conflict target or key are not a declared key.
    #[error("{table}: ({columns}) is not a declared primary or unique key")]
    NotAKey {
        /// The table.
        table: String,
        /// The columns, comma-separated.
        columns: String,
    },
    /// The columns a delete or lookup filters on are not a declared key or index.
    #[error("{table}: ({columns}) is not a declared key or index")]
    NotAFilter {
        /// The table.
        table: String,
        /// The columns, comma-separated.
        columns: String,
    },
    /// An upsert leaves out a key column or a column a new row needs.
    #[error("{table}: the upsert does not assign {column}, which a new row needs")]
    MissingColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A merge rule does not apply to the column's kind.
    #[error("{table}.{column}: merge `{merge}` does not apply to {kind}")]
    BadMerge {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The merge rule.
        merge: &'static str,
        /// The column's kind.
        kind: &'static str,
    },
    /// An increment's column is not an integer column outside the key.
    #[error("{table}.{column} cannot be incremented (not a non-key integer column)")]
    BadIncrement {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// An AT-URI (a record lookup or an `awaits` entry) is malformed.
    #[error("{0:?} is not an at:// URI of a record")]
    BadUri(String),
}

/// Checks one row operation against the plugin's declaration.
pub fn check_row_op(declaration: &Declaration, op: &RowOp) -> Result<(), RowOpError> {
    match op {
        RowOp::Upsert(upsert) => {
            let table = declared(declaration, &upsert.table)?;
            for assignment in &upsert.assignments {
                let kind = check_cell(table, &assignment.column, &assignment.value)?;
                check_merge(&upsert.table, &assignment.column, kind, assignment.merge)?;
            }
            let assigned = sorted_unique(upsert.assignments.iter().map(|a| a.column.as_str()))
                .map_err(|column| RowOpError::DuplicateColumn {
                    table: upsert.table.clone(),
                    column: column.to_owned(),
                })?;
            let conflict = sorted_unique(upsert.conflict.iter().map(String::as_str)).ok();
            let Some(conflict) = conflict.filter(|conflict| table.is_key(conflict)) else {
                return Err(RowOpError::NotAKey {
                    table: upsert.table.clone(),
                    columns: upsert.conflict.join(", "),
                });
            };
            let missing = conflict
                .iter()
                .copied()
                .chain(table.required_columns())
                .find(|column| assigned.binary_search(column).is_err());
            if let Some(column) = missing {
                return Err(RowOpError::MissingColumn {
                    table: upsert.table.clone(),
                    column: column.to_owned(),
                });
            }
            // A key value must not be null: the conflict target would never match.
            for assignment in &upsert.assignments {
                if assignment.value == Value::Null && conflict.contains(&assignment.column.as_str())
                {
                    return Err(RowOpError::MissingColumn {
                        table: upsert.table.clone(),
                        column: assignment.column.clone(),
                    });
                }
            }
            Ok(())
        }
        RowOp::Delete(delete) => {
            let table = declared(declaration, &delete.table)?;
            let columns = check_cells(table, &delete.table, &delete.matching)?;
            if !table.is_filter(&columns) {
                return Err(RowOpError::NotAFilter {
                    table: delete.table.clone(),
                    columns: columns.join(", "),
                });
            }
            Ok(())
        }
        RowOp::Increment(increment) => {
            let table = declared(declaration, &increment.table)?;
            let key = check_cells(table, &increment.table, &increment.key)?;
            if !table.is_key(&key) {
                return Err(RowOpError::NotAKey {
                    table: increment.table.clone(),
                    columns: key.join(", "),
                });
            }
            let is_integer = table
                .column(&increment.column)
                .is_some_and(|c| c.kind == ColumnKind::Integer);
            if !is_integer || key.contains(&increment.column.as_str()) {
                return Err(RowOpError::BadIncrement {
                    table: increment.table.clone(),
                    column: increment.column.clone(),
                });
            }
            // The row may have to be created from the key alone.
            let missing = table
                .required_columns()
                .find(|column| !key.contains(column) && *column != increment.column);
            if let Some(column) = missing {
                return Err(RowOpError::MissingColumn {
                    table: increment.table.clone(),
                    column: column.to_owned(),
                });
            }
            Ok(())
        }
    }
}

/// Checks one lookup: record lookups need an AT-URI; row lookups a readable table, and, when the
/// plugin declares the table, declared columns filtered on a key or index.
pub fn check_lookup(declaration: &Declaration, lookup: &Lookup) -> Result<(), RowOpError> {
    match lookup {
        Lookup::Record(uri) => check_record_uri(uri),
        Lookup::Rows(query) => {
            if !declaration.may_read(&query.table) {
                return Err(RowOpError::UnreadableTable(query.table.clone()));
            }
            // Tables named in `reads` belong to others: the resolver checks those.
            let Some(table) = declaration.table(&query.table) else {
                return Ok(());
            };
            let columns = check_cells(table, &query.table, &query.matching)?;
            if !table.is_filter(&columns) {
                return Err(RowOpError::NotAFilter {
                    table: query.table.clone(),
                    columns: columns.join(", "),
                });
            }
            for column in &query.columns {
                if table.column(column).is_none() {
                    return Err(RowOpError::UndeclaredColumn {
                        table: query.table.clone(),
                        column: column.clone(),
                    });
                }
            }
            Ok(())
        }
    }
}

/// Checks an AT-URI naming a record: `at://AUTHORITY/COLLECTION/RKEY`.
pub fn check_record_uri(uri: &str) -> Result<(), RowOpError> {
    let bad = || RowOpError::BadUri(uri.to_owned());
    let rest = uri.strip_prefix("at://").ok_or_else(bad)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let printable = |part: &&str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_graphic());
    if parts.len() == 3 && parts.iter().all(printable) && uri.len() <= 8192 {
        Ok(())
    } else {
        Err(bad())
    }
}

fn declared<'a>(declaration: &'a Declaration, table: &str) -> Result<&'a TableSchema, RowOpError> {
    declaration
        .table(table)
        .ok_or_else(|| RowOpError::UndeclaredTable(table.to_owned()))
}

/// Checks cells against their columns; returns the column names, sorted.
fn check_cells<'a>(
    table: &TableSchema,
    name: &str,
    cells: &'a [Cell],
) -> Result<Vec<&'a str>, RowOpError> {
    for cell in cells {
        check_cell(table, &cell.column, &cell.value)?;
    }
    sorted_unique(cells.iter().map(|cell| cell.column.as_str())).map_err(|column| {
        RowOpError::DuplicateColumn {
            table: name.to_owned(),
            column: column.to_owned(),
        }
    })
}

/// The names sorted; `Err` names one that appears twice.
fn sorted_unique<'a>(names: impl Iterator<Item = &'a str>) -> Result<Vec<&'a str>, &'a str> {
    let mut sorted: Vec<&str> = names.collect();
    sorted.sort_unstable();
    match sorted.windows(2).find(|pair| pair.first() == pair.get(1)) {
        Some(pair) => Err(pair.first().copied().unwrap_or_default()),
        None => Ok(sorted),
    }
}

/// Checks a value against its declared column; returns the column's kind.
fn check_cell(table: &TableSchema, column: &str, value: &Value) -> Result<ColumnKind, RowOpError> {
    let name = &table.table().name;
    let declared = table
        .column(column)
        .ok_or_else(|| RowOpError::UndeclaredColumn {
            table: name.clone(),
            column: column.to_owned(),
        })?;
    match value_kind(value) {
        None if !declared.nullable => Err(RowOpError::WrongKind {
            table: name.clone(),
            column: column.to_owned(),
            expected: kind_name(declared.kind),
            found: "null",
        }),
        Some(kind) if kind != declared.kind => Err(RowOpError::WrongKind {
            table: name.clone(),
            column: column.to_owned(),
            expected: kind_name(declared.kind),
            found: kind_name(kind),
        }),
        _ => check_value_content(value)
            .map(|()| declared.kind)
            .map_err(|reason| RowOpError::BadValue {
                table: name.clone(),
                column: column.to_owned(),
                reason,
            }),
    }
}

fn check_merge(
    table: &str,
    column: &str,
    kind: ColumnKind,
    merge: Merge,
) -> Result<(), RowOpError> {
    let numeric = matches!(kind, ColumnKind::Integer | ColumnKind::Float);
    let ordered = numeric || matches!(kind, ColumnKind::Text | ColumnKind::Timestamp);
    let (ok, name) = match merge {
        Merge::Set => (true, "set"),
        Merge::KeepExisting => (true, "keep-existing"),
        Merge::Add => (numeric, "add"),
        Merge::Greatest => (ordered, "greatest"),
        Merge::Least => (ordered, "least"),
    };
    if ok {
        Ok(())
    } else {
        Err(RowOpError::BadMerge {
            table: table.to_owned(),
            column: column.to_owned(),
            merge: name,
            kind: kind_name(kind),
        })
    }
}

/// The kind of a value; `None` for null.
pub(crate) fn value_kind(value: &Value) -> Option<ColumnKind> {
    Some(match value {
        Value::Null => return None,
        Value::Boolean(_) => ColumnKind::Boolean,
        Value::Integer(_) => ColumnKind::Integer,
        Value::Float(_) => ColumnKind::Float,
        Value::Text(_) => ColumnKind::Text,
        Value::Bytes(_) => ColumnKind::Bytes,
        Value::Json(_) => ColumnKind::Json,
        Value::Timestamp(_) => ColumnKind::Timestamp,
        Value::TextList(_) => ColumnKind::TextList,
    })
}

/// The WIT name of a kind, for messages.
pub(crate) fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Boolean => "boolean",
        ColumnKind::Integer => "integer",
        ColumnKind::Float => "float",
        ColumnKind::Text => "text",
        ColumnKind::Bytes => "bytes",
        ColumnKind::Json => "json",
        ColumnKind::Timestamp => "timestamp",
        ColumnKind::TextList => "text-list",
    }
}

/// Checks what Postgres would refuse in a value of the right kind.
pub(crate) fn check_value_content(value: &Value) -> Result<(), String> {
    const NUL: &str = "text contains a NUL character, which Postgres cannot store";
    match value {
        Value::Text(text) if text.contains('\0') => Err(NUL.to_owned()),
        Value::TextList(list) if list.iter().any(|text| text.contains('\0')) => Err(NUL.to_owned()),
        Value::Json(json) => match serde_json::from_str::<serde::de::IgnoredAny>(json) {
            // jsonb cannot hold \u0000 either.
            Ok(_) if json.contains("\\u0000") => {
                Err("JSON contains \\u0000, which jsonb cannot store".to_owned())
            }
            Ok(_) => Ok(()),
            Err(error) => Err(format!("not valid JSON: {error}")),
        },
        Value::Timestamp(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|_| ())
            .map_err(|error| format!("timestamp {text:?} is not RFC 3339: {error}")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::latest::{
        Assignment, Column, Delete, EventKinds, Increment, PluginInfo, RecordEncoding, RowQuery,
        Table, TableOwner, Upsert,
    };

    fn declaration() -> Declaration {
        let column = |name: &str, kind, nullable, default| Column {
            name: name.into(),
            kind,
            nullable,
            default,
        };
        let info = PluginInfo {
            name: "test".into(),
            version: "1.0.0".into(),
            collections: vec!["app.test.thing".into()],
            events: EventKinds::empty(),
            encoding: RecordEncoding::DagCbor,
            tables: vec![Table {
                name: "thing".into(),
                owner: TableOwner::Plugin,
                columns: vec![
                    column("uri", ColumnKind::Text, false, None),
                    column("author", ColumnKind::Text, false, None),
                    column("likes", ColumnKind::Integer, false, Some(Value::Integer(0))),
                    column("at", ColumnKind::Timestamp, true, None),
                    column("meta", ColumnKind::Json, true, None),
                ],
                primary_key: vec!["uri".into()],
                unique_keys: vec![],
                indexes: vec![vec!["author".into()]],
            }],
            aggregates: vec![],
            reads: vec!["follow".into()],
            migrations: vec![],
        };
        Declaration::check(info, false).unwrap()
    }

    fn upsert(assignments: &[(&str, Value, Merge)]) -> RowOp {
        RowOp::Upsert(Upsert {
            table: "thing".into(),
            conflict: vec!["uri".into()],
            assignments: assignments
                .iter()
                .map(|(column, value, merge)| Assignment {
                    column: (*column).into(),
                    value: value.clone(),
                    merge: *merge,
                })
                .collect(),
        })
    }

    fn text(value: &str) -> Value {
        Value::Text(value.into())
    }

    #[test]
    fn upserts() {
        let d = declaration();
        let good = [
            ("uri", text("at://a/b/c"), Merge::Set),
            ("author", text("did:x"), Merge::Set),
        ];
        assert_eq!(check_row_op(&d, &upsert(&good)), Ok(()));

        let missing_author = [("uri", text("at://a/b/c"), Merge::Set)];
        assert!(
            matches!(check_row_op(&d, &upsert(&missing_author)), Err(RowOpError::MissingColumn { column, .. }) if column == "author")
        );

        let null_key = [
            ("uri", Value::Null, Merge::Set),
            ("author", text("x"), Merge::Set),
        ];
        assert!(matches!(
            check_row_op(&d, &upsert(&null_key)),
            Err(RowOpError::WrongKind { found: "null", .. })
        ));

        let nul = [
            ("uri", text("a"), Merge::Set),
            ("author", text("x\0y"), Merge::Set),
        ];
        assert!(matches!(
            check_row_op(&d, &upsert(&nul)),
            Err(RowOpError::BadValue { .. })
        ));

        let bad_time = [
            ("uri", text("a"), Merge::Set),
            ("author", text("x"), Merge::Set),
            ("at", Value::Timestamp("yesterday".into()), Merge::Set),
        ];
        assert!(matches!(
            check_row_op(&d, &upsert(&bad_time)),
            Err(RowOpError::BadValue { .. })
        ));

        let bad_json = [
            ("uri", text("a"), Merge::Set),
            ("author", text("x"), Merge::Set),
            ("meta", Value::Json("{".into()), Merge::Set),
        ];
        assert!(matches!(
            check_row_op(&d, &upsert(&bad_json)),
            Err(RowOpError::BadValue { .. })
        ));

        let add_text = [
            ("uri", text("a"), Merge::Set),
            ("author", text("x"), Merge::Add),
        ];
        assert!(matches!(
            check_row_op(&d, &upsert(&add_text)),
            Err(RowOpError::BadMerge { merge: "add", .. })
        ));

        let twice = [
            ("uri", text("a"), Merge::Set),
            ("author", text("x"), Merge::Set),
            ("author", text("y"), Merge::Set),
        ];
        assert!(matches!(
            check_row_op(&d, &upsert(&twice)),
            Err(RowOpError::DuplicateColumn { .. })
        ));

        let RowOp::Upsert(mut by_author) = upsert(&good) else {
            unreachable!()
        };
        by_author.conflict = vec!["author".into()];
        assert!(matches!(
            check_row_op(&d, &RowOp::Upsert(by_author)),
            Err(RowOpError::NotAKey { .. })
        ));
    }

    #[test]
    fn deletes_and_increments() {
        let d = declaration();
        let delete = |column: &str| {
            RowOp::Delete(Delete {
                table: "thing".into(),
                matching: vec![Cell {
                    column: column.into(),
                    value: text("x"),
                }],
            })
        };
        assert_eq!(check_row_op(&d, &delete("uri")), Ok(()));
        assert_eq!(
            check_row_op(&d, &delete("author")),
            Ok(()),
            "an index is a valid filter"
        );
        assert!(matches!(
            check_row_op(&d, &delete("at")),
            Err(RowOpError::WrongKind { .. })
        ));

        let increment = |column: &str| {
            RowOp::Increment(Increment {
                table: "thing".into(),
                key: vec![Cell {
                    column: "uri".into(),
                    value: text("x"),
                }],
                column: column.into(),
                delta: 1,
            })
        };
        // `author` is required and has no default: a row cannot be created from the key alone.
        assert!(
            matches!(check_row_op(&d, &increment("likes")), Err(RowOpError::MissingColumn { column, .. }) if column == "author")
        );
        assert!(matches!(
            check_row_op(&d, &increment("uri")),
            Err(RowOpError::BadIncrement { .. })
        ));
    }

    #[test]
    fn lookups_and_uris() {
        let d = declaration();
        let rows = |table: &str, column: &str| {
            Lookup::Rows(RowQuery {
                table: table.into(),
                matching: vec![Cell {
                    column: column.into(),
                    value: text("x"),
                }],
                columns: vec!["uri".into()],
                limit: 1,
            })
        };
        assert_eq!(check_lookup(&d, &rows("thing", "author")), Ok(()));
        assert_eq!(
            check_lookup(&d, &rows("follow", "creator")),
            Ok(()),
            "read tables are checked by the resolver"
        );
        assert!(matches!(
            check_lookup(&d, &rows("secrets", "uri")),
            Err(RowOpError::UnreadableTable(_))
        ));
        assert!(matches!(
            check_lookup(&d, &rows("thing", "nope")),
            Err(RowOpError::UndeclaredColumn { .. })
        ));
        assert_eq!(
            check_lookup(
                &d,
                &Lookup::Record("at://did:plc:x/app.test.thing/1".into())
            ),
            Ok(())
        );
        for bad in [
            "https://x/y/z",
            "at://did:plc:x/app.test.thing",
            "at://a//c",
            "at://a/b/c d",
        ] {
            assert!(check_record_uri(bad).is_err(), "{bad}");
        }
    }
}
