//! What an update or a delete must undo: the difference between the rows the previous version
//! of a record produced and the rows the new version produces.

use crate::types::{Cell, Delete, Increment, RowOp, Upsert, Value};

/// The row operations that take the database from what `old` wrote to what `new` writes:
///
/// - a row `old` upserted that `new` does not upsert (same table, same key) is deleted;
/// - an increment of `old` is reversed;
/// - then every operation of `new` follows.
///
/// Deletes in `old` cannot be undone and are ignored. A row both upsert is simply upserted
/// again (so a projection should assign the same columns whatever the record holds, using
/// null for what is absent).
pub fn derive_changes(old: Vec<RowOp>, new: Vec<RowOp>) -> Vec<RowOp> {
    let mut changes = Vec::with_capacity(old.len() + new.len());
    for op in old {
        match op {
            RowOp::Upsert(upsert) => {
                let key = key_cells(&upsert);
                let kept = new.iter().any(|op| match op {
                    RowOp::Upsert(other) => other.table == upsert.table && key_cells(other) == key,
                    _ => false,
                });
                if !kept {
                    changes.push(RowOp::Delete(Delete {
                        table: upsert.table,
                        matching: key,
                    }));
                }
            }
            RowOp::Increment(increment) => changes.push(RowOp::Increment(Increment {
                delta: increment.delta.saturating_neg(),
                ..increment
            })),
            RowOp::Delete(_) => {}
        }
    }
    changes.extend(new);
    changes
}

/// The conflict-key cells of an upsert, in key order.
fn key_cells(upsert: &Upsert) -> Vec<Cell> {
    upsert
        .conflict
        .iter()
        .map(|column| Cell {
            column: column.clone(),
            value: upsert
                .assignments
                .iter()
                .find(|assignment| &assignment.column == column)
                .map_or(Value::Null, |assignment| assignment.value.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{increment, upsert};

    #[test]
    fn an_update_deletes_rows_the_new_version_no_longer_writes() {
        let old = vec![
            upsert("post")
                .key("uri", "at://a/p/1")
                .set("text", "hi")
                .into(),
            upsert("post_embed_image")
                .key("postUri", "at://a/p/1")
                .key("position", 0)
                .into(),
            increment("stats", "n", 2).key("id", "x").into(),
        ];
        let new = vec![
            upsert("post")
                .key("uri", "at://a/p/1")
                .set("text", "hello")
                .into(),
        ];
        let changes = derive_changes(old, new.clone());
        assert_eq!(changes.len(), 3);
        assert_eq!(
            changes[0],
            RowOp::Delete(Delete {
                table: "post_embed_image".into(),
                matching: vec![
                    Cell {
                        column: "postUri".into(),
                        value: "at://a/p/1".into()
                    },
                    Cell {
                        column: "position".into(),
                        value: Value::Integer(0)
                    },
                ],
            })
        );
        assert!(matches!(&changes[1], RowOp::Increment(i) if i.delta == -2));
        assert_eq!(changes[2], new[0]);
    }

    #[test]
    fn a_delete_undoes_everything() {
        let old = vec![
            upsert("status")
                .key("uri", "at://a/s/1")
                .set("status", "👍")
                .into(),
        ];
        let changes = derive_changes(old, vec![]);
        assert_eq!(
            changes,
            vec![RowOp::Delete(Delete {
                table: "status".into(),
                matching: vec![Cell {
                    column: "uri".into(),
                    value: "at://a/s/1".into()
                }],
            })]
        );
    }
}
