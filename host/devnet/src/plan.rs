//! The history of one repo as a sequence of events, before any record is generated.
//!
//! [`RepoPlan`] walks a repo's slots in order and yields what a PDS would have sequenced for the
//! account: its creation (`#identity`, `#account`, `#sync` of the empty repo), one commit per
//! slot, the deletes and updates that fall due (each slot's [`Fate`]), a handle change, a pause
//! (deactivation then reactivation), and the final status. Only plans are computed here, so
//! walking a plan is cheap: the network counts every repo's events this way at start-up, and
//! resuming a repo's history at event `n` walks `n` events.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::accounts::{FinalStatus, Lifecycle};
use crate::draw::{Draw, Topic};
use crate::slots::{Fate, RecordId, Slot};

/// One write of a planned commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedWrite {
    /// Creates the record (version 0).
    Create(RecordId),
    /// Replaces the record with version 1.
    Update(RecordId),
    /// Deletes the record.
    Delete(RecordId),
}

impl PlannedWrite {
    /// The record written.
    pub fn record(&self) -> RecordId {
        match *self {
            Self::Create(id) | Self::Update(id) | Self::Delete(id) => id,
        }
    }
}

/// One event of a repo's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanEvent {
    /// `#identity`: with the original handle (`renamed: false`) or the final one.
    Identity {
        /// Whether the handle is the changed one.
        renamed: bool,
    },
    /// `#account`.
    Account {
        /// Whether the account is active.
        active: bool,
        /// The status when not active.
        status: Option<&'static str>,
    },
    /// `#sync` of the current commit (the empty repo at creation, the head after a pause).
    Sync,
    /// A commit.
    Commit {
        /// Its writes, in order.
        writes: Vec<PlannedWrite>,
    },
}

/// When an event happens: the time of the slot it follows, plus a small offset in
/// milliseconds (so that events after the same slot keep their order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlanTime {
    /// The slot (`None`: before the first slot, at account creation).
    pub slot: Option<u32>,
    /// Milliseconds after the slot's time.
    pub offset_ms: u32,
}

/// What a plan needs to know about its repo.
#[derive(Debug, Clone, Copy)]
pub struct RepoShape<'a> {
    /// The network seed.
    pub seed: u64,
    /// The account index.
    pub repo: u32,
    /// Number of slots in the history.
    pub slots: u32,
    /// Whether the account is a curator.
    pub curator: bool,
    /// Handle changes, pause, final status.
    pub lifecycle: &'a Lifecycle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    slot: u32,
    record: RecordId,
    delete: bool,
}

/// The events of one repo's history, in order (see the module docs).
#[derive(Debug, Clone)]
pub struct RepoPlan<'a> {
    shape: RepoShape<'a>,
    next_slot: u32,
    prelude: u8,
    due: BinaryHeap<Reverse<Due>>,
    queued: std::collections::VecDeque<(PlanTime, PlanEvent)>,
    handle_change_slot: Option<u32>,
    pause_slot: Option<u32>,
    finished: bool,
    emitted: u64,
}

impl<'a> RepoPlan<'a> {
    /// The plan of a repo from its first event.
    pub fn new(shape: RepoShape<'a>) -> Self {
        let at = |per_mille: u32| {
            u32::try_from(u64::from(shape.slots) * u64::from(per_mille) / 1000).unwrap_or(0)
        };
        Self {
            handle_change_slot: shape.lifecycle.handle_change_at.map(at),
            pause_slot: shape.lifecycle.pause_at.map(at),
            shape,
            next_slot: 0,
            prelude: 0,
            due: BinaryHeap::new(),
            queued: std::collections::VecDeque::new(),
            finished: false,
            emitted: 0,
        }
    }

    /// Number of events yielded so far.
    pub fn position(&self) -> u64 {
        self.emitted
    }

    /// The plan of the slot, as this repo sees it.
    pub fn slot(&self, slot: u32) -> Slot {
        Slot::plan(self.shape.seed, self.shape.repo, slot, self.shape.curator)
    }

    fn schedule(&mut self, slot: u32, plan: &Slot) {
        let record = RecordId::new(self.shape.repo, slot, 0);
        let (after, delete) = match plan.fate {
            Fate::Kept => return,
            Fate::Deleted { after } => (after, true),
            Fate::Updated { after } => (after, false),
        };
        self.due.push(Reverse(Due {
            slot: slot.saturating_add(after),
            record,
            delete,
        }));
    }

    fn due_writes(&mut self, through_slot: u32) -> Vec<PlannedWrite> {
        let mut writes = Vec::new();
        while let Some(Reverse(due)) = self.due.peek().copied() {
            if due.slot > through_slot {
                break;
            }
            self.due.pop();
            writes.push(if due.delete {
                PlannedWrite::Delete(due.record)
            } else {
                PlannedWrite::Update(due.record)
            });
        }
        writes
    }

    /// Queues the events that follow slot `slot` (or the end of the slots).
    fn queue_slot(&mut self, slot: u32) {
        let plan = self.slot(slot);
        let mut writes: Vec<PlannedWrite> = (0..plan.record_count())
            .map(|sub| PlannedWrite::Create(RecordId::new(self.shape.repo, slot, sub)))
            .collect();
        self.schedule(slot, &plan);
        let due = self.due_writes(slot);
        let mut draw = Draw::new(
            self.shape.seed,
            Topic::Slot,
            u64::from(self.shape.repo),
            u64::from(slot),
            1,
        );
        let time = |offset_ms| PlanTime {
            slot: Some(slot),
            offset_ms,
        };
        // One commit in five also carries the deletes and updates that fell due (applyWrites).
        if !due.is_empty() && draw.chance(200) {
            writes.extend(due);
            self.queued
                .push_back((time(0), PlanEvent::Commit { writes }));
        } else {
            self.queued
                .push_back((time(0), PlanEvent::Commit { writes }));
            for (offset, write) in (1..).zip(due) {
                self.queued.push_back((
                    time(offset),
                    PlanEvent::Commit {
                        writes: vec![write],
                    },
                ));
            }
        }
        if self.handle_change_slot == Some(slot) {
            self.queued
                .push_back((time(500), PlanEvent::Identity { renamed: true }));
        }
        if self.pause_slot == Some(slot) {
            self.queued.push_back((
                time(600),
                PlanEvent::Account {
                    active: false,
                    status: Some("deactivated"),
                },
            ));
            self.queued.push_back((
                time(700),
                PlanEvent::Account {
                    active: true,
                    status: None,
                },
            ));
            self.queued.push_back((time(701), PlanEvent::Sync));
        }
    }

    fn queue_end(&mut self) {
        let last = self.shape.slots.saturating_sub(1);
        let remaining = self.due_writes(u32::MAX);
        let mut offset = 1000;
        for write in remaining {
            self.queued.push_back((
                PlanTime {
                    slot: Some(last),
                    offset_ms: offset,
                },
                PlanEvent::Commit {
                    writes: vec![write],
                },
            ));
            offset += 1;
        }
        let status = self.shape.lifecycle.final_status;
        if status != FinalStatus::Active {
            self.queued.push_back((
                PlanTime {
                    slot: Some(last),
                    offset_ms: offset + 1000,
                },
                PlanEvent::Account {
                    active: false,
                    status: status.status(),
                },
            ));
        }
    }
}

impl Iterator for RepoPlan<'_> {
    type Item = (PlanTime, PlanEvent);

    fn next(&mut self) -> Option<Self::Item> {
        let creation = |offset_ms| PlanTime {
            slot: None,
            offset_ms,
        };
        let event = match self.prelude {
            0 => Some((creation(0), PlanEvent::Identity { renamed: false })),
            1 => Some((
                creation(1),
                PlanEvent::Account {
                    active: true,
                    status: None,
                },
            )),
            2 => Some((creation(2), PlanEvent::Sync)),
            _ => None,
        };
        if let Some(event) = event {
            self.prelude += 1;
            self.emitted += 1;
            return Some(event);
        }
        loop {
            if let Some(event) = self.queued.pop_front() {
                self.emitted += 1;
                return Some(event);
            }
            if self.finished {
                return None;
            }
            if self.next_slot < self.shape.slots {
                let slot = self.next_slot;
                self.next_slot += 1;
                self.queue_slot(slot);
            } else {
                self.finished = true;
                self.queue_end();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Lifecycle;
    use std::collections::HashMap;

    fn lifecycle(status: FinalStatus) -> Lifecycle {
        Lifecycle {
            handle_change_at: Some(500),
            pause_at: Some(300),
            final_status: status,
        }
    }

    fn shape(lifecycle: &Lifecycle, slots: u32) -> RepoShape<'_> {
        RepoShape {
            seed: 42,
            repo: 17,
            slots,
            curator: true,
            lifecycle,
        }
    }

    #[test]
    fn a_plan_starts_with_the_account_and_creates_every_slot_once() {
        let lifecycle = lifecycle(FinalStatus::Takendown);
        let events: Vec<_> = RepoPlan::new(shape(&lifecycle, 300)).collect();
        assert_eq!(events[0].1, PlanEvent::Identity { renamed: false });
        assert!(matches!(
            events[1].1,
            PlanEvent::Account { active: true, .. }
        ));
        assert_eq!(events[2].1, PlanEvent::Sync);
        assert_eq!(
            events.last().unwrap().1,
            PlanEvent::Account {
                active: false,
                status: Some("takendown")
            }
        );
        assert_eq!(
            events
                .iter()
                .filter(|(_, e)| *e == PlanEvent::Identity { renamed: true })
                .count(),
            1
        );
        // Every record is created once, and deleted or updated only after its create.
        let mut state: HashMap<RecordId, bool> = HashMap::new();
        let mut deletes = 0;
        let mut updates = 0;
        for (_, event) in &events {
            if let PlanEvent::Commit { writes } = event {
                assert!(!writes.is_empty() && writes.len() <= 200);
                for write in writes {
                    match *write {
                        PlannedWrite::Create(id) => assert!(state.insert(id, true).is_none()),
                        PlannedWrite::Update(id) => {
                            assert_eq!(state.get(&id), Some(&true));
                            updates += 1;
                        }
                        PlannedWrite::Delete(id) => {
                            assert_eq!(state.insert(id, false), Some(true));
                            deletes += 1;
                        }
                    }
                }
            }
        }
        assert!(deletes > 0 && updates > 0, "{deletes} {updates}");
        let slots: std::collections::HashSet<u32> = state.keys().map(|id| id.slot).collect();
        assert_eq!(slots.len(), 300);
    }

    #[test]
    fn times_never_go_backwards_and_positions_count_events() {
        let lifecycle = lifecycle(FinalStatus::Active);
        let mut plan = RepoPlan::new(shape(&lifecycle, 120));
        let mut last = None;
        let mut count = 0;
        while let Some((time, _)) = plan.next() {
            count += 1;
            assert_eq!(plan.position(), count);
            if let Some(last) = last {
                assert!(time > last, "{time:?} after {last:?}");
            }
            last = Some(time);
        }
    }

    #[test]
    fn plans_are_deterministic() {
        let lifecycle = lifecycle(FinalStatus::Deactivated);
        let a: Vec<_> = RepoPlan::new(shape(&lifecycle, 200)).collect();
        let b: Vec<_> = RepoPlan::new(shape(&lifecycle, 200)).collect();
        assert_eq!(a, b);
    }
}
