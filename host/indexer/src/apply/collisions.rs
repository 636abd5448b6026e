//! Finding the record operations of a batch whose rows would break a unique key that an earlier
//! operation of the same batch takes.
//!
//! Plugins answer their lookups from the database, which does not hold the batch's own rows
//! yet: two likes of one post by one account in one batch both find no holder, both upsert a
//! `like` row, and the second breaks `like_unique_subject`. Such an operation is *deferred*: its
//! rows are left out of the batch's main write and it runs again inside the transaction, after
//! the rows of the operations before it are written, so that its lookups see them (the second
//! like then finds the first and becomes a `duplicate_record`).
//!
//! An upsert takes, besides the row of its conflict target, the value of every other plain
//! unique index of its table whose columns it assigns (none of them `NULL`). Two upserts of
//! different records that take the same value of such an index for different rows collide.
//! Operations on a deferred record that come after it are deferred too, so that one record's
//! operations keep their order.

use std::collections::{HashMap, HashSet};

use sluice_plugin_host::types::{RowOp, Upsert, Value};

use super::{TableOp, encode_value};
use crate::catalog::PhysicalTable;
use crate::prepared::{PreparedPlugins, TableId};

/// One unit of a batch's work, in the batch's order: the row operations of one record
/// operation (`record`: its AT-URI) or of one network event (`record`: `None`; never deferred).
#[derive(Debug, Clone, Copy)]
pub struct Unit<'a> {
    /// The record the operation is on, if it is a record operation.
    pub record: Option<&'a str>,
    /// Its row operations.
    pub ops: &'a [TableOp],
}

/// A value of a unique index: (table, index position, the encoded values).
pub type UniqueValue = (TableId, usize, Vec<Vec<u8>>);

/// The unique values (other than conflict targets) that `ops` take.
pub fn unique_values_of(prepared: &PreparedPlugins, ops: &[TableOp]) -> Vec<UniqueValue> {
    let tables = |table| prepared.table(table).map(|t| &t.physical);
    ops.iter()
        .flat_map(|op| unique_values(&tables, op))
        .map(|(value, _)| value)
        .collect()
}

/// The positions of the units to defer: those whose upserts take a unique value that an earlier
/// unit's upsert takes for another row, and every later unit on a record already deferred.
pub fn colliding_units(prepared: &PreparedPlugins, units: &[Unit<'_>]) -> HashSet<usize> {
    find_collisions(&|table| prepared.table(table).map(|t| &t.physical), units)
}

/// [`colliding_units`], with the tables given by a function.
fn find_collisions<'p>(
    tables: &dyn Fn(TableId) -> Option<&'p PhysicalTable>,
    units: &[Unit<'_>],
) -> HashSet<usize> {
    // Unique value → (the record that took it, the conflict target's values of its row).
    let mut taken: HashMap<UniqueValue, (Option<&str>, Vec<Vec<u8>>)> = HashMap::new();
    let mut deferred: HashSet<usize> = HashSet::new();
    let mut deferred_records: HashSet<&str> = HashSet::new();
    for (position, unit) in units.iter().enumerate() {
        if unit
            .record
            .is_some_and(|record| deferred_records.contains(record))
        {
            deferred.insert(position);
            continue;
        }
        let values: Vec<(UniqueValue, Vec<Vec<u8>>)> = unit
            .ops
            .iter()
            .flat_map(|op| unique_values(tables, op))
            .collect();
        let collides = unit.record.is_some()
            && values.iter().any(|(value, row)| {
                taken
                    .get(value)
                    .is_some_and(|(owner, owner_row)| *owner != unit.record && owner_row != row)
            });
        if collides {
            deferred.insert(position);
            if let Some(record) = unit.record {
                deferred_records.insert(record);
            }
            continue;
        }
        for (value, row) in values {
            taken.insert(value, (unit.record, row));
        }
    }
    deferred
}

/// The unique values an operation takes, each with its row's conflict-target values.
fn unique_values<'p>(
    tables: &dyn Fn(TableId) -> Option<&'p PhysicalTable>,
    op: &TableOp,
) -> Vec<(UniqueValue, Vec<Vec<u8>>)> {
    let RowOp::Upsert(upsert) = &op.op else {
        return Vec::new();
    };
    let Some(table) = tables(op.table) else {
        return Vec::new();
    };
    let mut values = table
        .indexes
        .iter()
        .enumerate()
        .filter(|(_, index)| index.unique && !same_columns(&index.columns, &upsert.conflict))
        .filter_map(|(position, index)| {
            Some((op.table, position, assigned_values(upsert, &index.columns)?))
        })
        .peekable();
    // Most tables have no unique index besides the conflict target: nothing more to do.
    if values.peek().is_none() {
        return Vec::new();
    }
    let mut conflict = upsert.conflict.clone();
    conflict.sort();
    let Some(row) = assigned_values(upsert, &conflict) else {
        return Vec::new();
    };
    values.map(|value| (value, row.clone())).collect()
}

/// Whether two lists hold the same column names, in any order.
fn same_columns(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|column| b.contains(column))
}

/// The encoded values `upsert` assigns to `columns`; `None` when one is unassigned or `NULL`.
fn assigned_values(upsert: &Upsert, columns: &[String]) -> Option<Vec<Vec<u8>>> {
    columns
        .iter()
        .map(|column| {
            upsert
                .assignments
                .iter()
                .find(|a| &a.column == column)
                .filter(|a| a.value != Value::Null)
                .map(|a| encode_value(&a.value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use sluice_plugin_host::types::{Assignment, Delete, Merge};

    use super::*;
    use crate::catalog::like_table_for_tests;

    fn like(uri: &str, subject: Option<&str>) -> TableOp {
        let mut assignments = vec![
            ("uri", Value::Text(uri.into())),
            ("creator", Value::Text("did:plc:a".into())),
        ];
        assignments.push((
            "subject",
            subject.map_or(Value::Null, |s| Value::Text(s.into())),
        ));
        TableOp {
            table: 0,
            op: RowOp::Upsert(Upsert {
                table: "like".into(),
                conflict: vec!["uri".into()],
                assignments: assignments
                    .into_iter()
                    .map(|(column, value)| Assignment {
                        column: column.into(),
                        value,
                        merge: Merge::Set,
                    })
                    .collect(),
            }),
        }
    }

    fn collisions(units: &[(Option<&str>, Vec<TableOp>)]) -> Vec<usize> {
        let table = like_table_for_tests();
        let tables = |id: TableId| (id == 0).then_some(&table);
        let units: Vec<Unit<'_>> = units
            .iter()
            .map(|(record, ops)| Unit {
                record: *record,
                ops,
            })
            .collect();
        let mut found: Vec<usize> = find_collisions(&tables, &units).into_iter().collect();
        found.sort_unstable();
        found
    }

    #[test]
    fn a_second_holder_of_a_unique_value_is_deferred() {
        let units = [
            (Some("l1"), vec![like("l1", Some("p"))]),
            (Some("l2"), vec![like("l2", Some("q"))]),
            (Some("l3"), vec![like("l3", Some("p"))]),
            (Some("l4"), vec![like("l4", Some("p"))]),
        ];
        assert_eq!(collisions(&units), [2, 3]);
    }

    #[test]
    fn the_same_row_again_is_no_collision() {
        // An update of one record (a later generation) upserts its own row again.
        let units = [
            (Some("l1"), vec![like("l1", Some("p"))]),
            (Some("l1"), vec![like("l1", Some("p"))]),
        ];
        assert!(collisions(&units).is_empty());
    }

    #[test]
    fn null_values_and_deletes_take_nothing() {
        let delete = TableOp {
            table: 0,
            op: RowOp::Delete(Delete {
                table: "like".into(),
                matching: Vec::new(),
            }),
        };
        let units = [
            (Some("l1"), vec![like("l1", None), delete.clone()]),
            (Some("l2"), vec![like("l2", None), delete]),
        ];
        assert!(collisions(&units).is_empty());
    }

    #[test]
    fn later_operations_on_a_deferred_record_are_deferred() {
        let units = [
            (Some("l1"), vec![like("l1", Some("p"))]),
            (Some("l2"), vec![like("l2", Some("p"))]),
            (Some("l3"), vec![like("l3", Some("q"))]),
            // l2 again (its delete, say): it must follow l2's re-run.
            (Some("l2"), Vec::new()),
        ];
        assert_eq!(collisions(&units), [1, 3]);
    }

    #[test]
    fn events_are_never_deferred_but_take_values() {
        let units = [
            (None, vec![like("e1", Some("p"))]),
            (None, vec![like("e2", Some("p"))]),
            (Some("l1"), vec![like("l1", Some("p"))]),
        ];
        assert_eq!(collisions(&units), [2]);
    }
}
