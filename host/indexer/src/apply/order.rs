//! Ordering the row operations of one table into groups that can each be written by one
//! statement per shape, without changing the result.
//!
//! Every operation touches rows identified by a set of columns and their values: an upsert the
//! row of its conflict key, a delete the rows matching its filter, an increment the row of its
//! key. Two operations are independent when their footprints share a column on which their
//! values differ (they cannot touch the same row); deletes commute with deletes and increments
//! with increments (they are summed). An operation may move ahead of earlier operations it is
//! independent of, so it joins the earliest group of its kind after the last group holding an
//! operation it depends on.
//!
//! Footprints say nothing about other unique keys: an upsert moved ahead of the delete of a row
//! that holds the same value of another unique key fails with a unique violation. The applier
//! then writes the batch again in `strict` order, where an operation only ever joins the last
//! group (the original order, cut into runs of one kind).

use std::collections::{HashMap, HashSet};

/// What an operation does, for grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OpKind {
    /// Insert or update one row.
    Upsert,
    /// Delete matching rows.
    Delete,
    /// Add to a counter.
    Increment,
}

/// The rows an operation may touch: those whose `columns` hold `values`.
#[derive(Debug, Clone)]
pub(crate) struct Footprint {
    /// The operation's kind.
    pub(crate) kind: OpKind,
    /// Column names, sorted.
    pub(crate) columns: Vec<String>,
    /// One canonical encoding per column, in the same order.
    pub(crate) values: Vec<Vec<u8>>,
}

impl Footprint {
    /// The values of `subset` (sorted, a subset of `columns`).
    fn project(&self, subset: &[String]) -> Vec<&[u8]> {
        subset
            .iter()
            .filter_map(|column| {
                let position = self.columns.iter().position(|c| c == column)?;
                self.values.get(position).map(Vec::as_slice)
            })
            .collect()
    }
}

/// Operations (indexes into the table's list) written together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    /// Their kind.
    pub(crate) kind: OpKind,
    /// Their indexes, in the original order.
    pub(crate) members: Vec<usize>,
}

/// (a member column set, the columns it shares with a newcomer).
type ProjectionKey = (Vec<String>, Vec<String>);

struct GroupState {
    group: Group,
    /// Members by their footprint's column set.
    by_columns: HashMap<Vec<String>, Vec<usize>>,
    /// For (a member column set, common columns with a newcomer): the members' values there.
    projections: HashMap<ProjectionKey, HashSet<Vec<Vec<u8>>>>,
}

impl GroupState {
    fn new(kind: OpKind) -> Self {
        Self {
            group: Group {
                kind,
                members: Vec::new(),
            },
            by_columns: HashMap::new(),
            projections: HashMap::new(),
        }
    }

    fn add(&mut self, index: usize, footprint: &Footprint) {
        self.group.members.push(index);
        self.by_columns
            .entry(footprint.columns.clone())
            .or_default()
            .push(index);
        for ((columns, common), values) in &mut self.projections {
            if *columns == footprint.columns {
                values.insert(
                    footprint
                        .project(common)
                        .into_iter()
                        .map(<[u8]>::to_vec)
                        .collect(),
                );
            }
        }
    }

    /// Whether `footprint` may touch a row a member touches.
    fn depends(&mut self, footprint: &Footprint, all: &[Footprint]) -> bool {
        let commuting = matches!(
            (self.group.kind, footprint.kind),
            (OpKind::Delete, OpKind::Delete) | (OpKind::Increment, OpKind::Increment)
        );
        if commuting {
            return false;
        }
        for (columns, members) in &self.by_columns {
            let common: Vec<String> = columns
                .iter()
                .filter(|c| footprint.columns.contains(c))
                .cloned()
                .collect();
            if common.is_empty() {
                return true;
            }
            let projections = self
                .projections
                .entry((columns.clone(), common.clone()))
                .or_insert_with(|| {
                    members
                        .iter()
                        .filter_map(|&member| all.get(member))
                        .map(|member| {
                            member
                                .project(&common)
                                .into_iter()
                                .map(<[u8]>::to_vec)
                                .collect()
                        })
                        .collect()
                });
            let mine: Vec<Vec<u8>> = footprint
                .project(&common)
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect();
            if projections.contains(&mine) {
                return true;
            }
        }
        false
    }
}

/// Cuts the operations of one table (their footprints, in order) into groups; writing the
/// groups in order, the members of a group in any order, gives the same rows as writing the
/// operations one by one.
pub(crate) fn plan_groups(footprints: &[Footprint], strict: bool) -> Vec<Group> {
    let mut groups: Vec<GroupState> = Vec::new();
    for (index, footprint) in footprints.iter().enumerate() {
        let target = if strict {
            // Strict order: only the last group may take it, if nothing there conflicts.
            groups.len().checked_sub(1).filter(|&last| {
                groups.get_mut(last).is_some_and(|group| {
                    group.group.kind == footprint.kind && !group.depends(footprint, footprints)
                })
            })
        } else {
            // After the last group this operation depends on, the first of its kind.
            let mut first_allowed = 0;
            for position in (0..groups.len()).rev() {
                if groups
                    .get_mut(position)
                    .is_some_and(|group| group.depends(footprint, footprints))
                {
                    first_allowed = position + 1;
                    break;
                }
            }
            (first_allowed..groups.len()).find(|&position| {
                groups
                    .get(position)
                    .is_some_and(|group| group.group.kind == footprint.kind)
            })
        };
        match target.and_then(|position| groups.get_mut(position)) {
            Some(group) => group.add(index, footprint),
            None => {
                let mut group = GroupState::new(footprint.kind);
                group.add(index, footprint);
                groups.push(group);
            }
        }
    }
    groups.into_iter().map(|state| state.group).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(kind: OpKind, cells: &[(&str, &str)]) -> Footprint {
        let mut cells: Vec<(&str, &str)> = cells.to_vec();
        cells.sort();
        Footprint {
            kind,
            columns: cells.iter().map(|(c, _)| (*c).to_owned()).collect(),
            values: cells.iter().map(|(_, v)| v.as_bytes().to_vec()).collect(),
        }
    }

    fn members(groups: &[Group]) -> Vec<(OpKind, Vec<usize>)> {
        groups.iter().map(|g| (g.kind, g.members.clone())).collect()
    }

    use OpKind::{Delete as D, Increment as I, Upsert as U};

    #[test]
    fn independent_upserts_share_one_group() {
        let ops = [
            fp(U, &[("uri", "a")]),
            fp(U, &[("uri", "b")]),
            fp(U, &[("uri", "c")]),
        ];
        assert_eq!(members(&plan_groups(&ops, false)), [(U, vec![0, 1, 2])]);
    }

    #[test]
    fn the_same_key_twice_keeps_its_order() {
        let ops = [
            fp(U, &[("uri", "a")]),
            fp(D, &[("uri", "a")]),
            fp(U, &[("uri", "b")]),
            fp(U, &[("uri", "a")]),
        ];
        // b moves into the first group; the second upsert of a must follow the delete.
        assert_eq!(
            members(&plan_groups(&ops, false)),
            [(U, vec![0, 2]), (D, vec![1]), (U, vec![3])]
        );
    }

    #[test]
    fn deletes_by_an_index_wait_for_upserts_sharing_its_columns() {
        let ops = [
            fp(U, &[("postUri", "p1"), ("position", "0")]),
            fp(D, &[("postUri", "p1")]),
            fp(D, &[("postUri", "p2")]),
            fp(U, &[("postUri", "p2"), ("position", "0")]),
            fp(U, &[("postUri", "p3"), ("position", "0")]),
        ];
        assert_eq!(
            members(&plan_groups(&ops, false)),
            [(U, vec![0, 4]), (D, vec![1, 2]), (U, vec![3])]
        );
    }

    #[test]
    fn operations_without_common_columns_depend_on_each_other() {
        let ops = [
            fp(U, &[("uri", "a")]),
            fp(D, &[("creator", "x")]),
            fp(U, &[("uri", "b")]),
        ];
        assert_eq!(
            members(&plan_groups(&ops, false)),
            [(U, vec![0]), (D, vec![1]), (U, vec![2])]
        );
    }

    #[test]
    fn increments_of_one_key_are_summed_in_one_group() {
        let ops = [
            fp(I, &[("did", "a")]),
            fp(I, &[("did", "a")]),
            fp(U, &[("did", "a")]),
            fp(I, &[("did", "a")]),
        ];
        assert_eq!(
            members(&plan_groups(&ops, false)),
            [(I, vec![0, 1]), (U, vec![2]), (I, vec![3])]
        );
    }

    #[test]
    fn strict_order_never_moves_an_operation_ahead() {
        let ops = [
            fp(U, &[("uri", "a")]),
            fp(D, &[("uri", "x")]),
            fp(U, &[("uri", "b")]),
            fp(U, &[("uri", "c")]),
            fp(U, &[("uri", "c")]),
        ];
        assert_eq!(
            members(&plan_groups(&ops, true)),
            [(U, vec![0]), (D, vec![1]), (U, vec![2, 3]), (U, vec![4])]
        );
    }
}
