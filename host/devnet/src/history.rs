//! The network's history as one firehose: every repo's events, interleaved, numbered from 1.
//!
//! [`RepoHistory`] turns one repo's [plan](crate::plan) into events with real commits: it keeps
//! the repo's MST and applies each planned commit, producing what a `#commit` carries (ops,
//! blocks with sync 1.1 proofs, `since`, `prevData`). It can start at any event of the repo:
//! resuming rebuilds the repo as it was at that point.
//!
//! [`Schedule`] interleaves the repos the way a relay's firehose mixes accounts: repos join a
//! window of [`DEFAULT_WINDOW`] active repos in a seeded order, each step emits the next event of
//! a randomly chosen active repo, and a repo leaves when its history is done. The schedule needs
//! only each repo's event count, so finding where sequence number `n` falls takes `n` cheap steps
//! and no record generation. [`HistoryStream`] follows the schedule from any cursor and yields
//! the events, holding only the active repos in memory.

use std::collections::HashMap;

use crate::content::Generator;
use crate::draw::{Draw, Topic};
use crate::error::DevnetError;
use crate::model::Model;
use crate::plan::{PlanEvent, PlanTime, PlannedWrite, RepoPlan};
use crate::repo::{CommitData, RepoHead, ResolvedWrite, SignedCommit, Snapshot, at_position};

/// Number of repos whose histories are interleaved at any time.
pub const DEFAULT_WINDOW: usize = 64;

/// One event of a repo's history, with what its frame carries.
#[derive(Debug, Clone)]
pub enum RepoEvent {
    /// `#identity`.
    Identity {
        /// The account's handle at that point.
        handle: String,
    },
    /// `#account`.
    Account {
        /// Whether the account is active.
        active: bool,
        /// Why not, when not.
        status: Option<&'static str>,
    },
    /// `#sync` of this commit.
    Sync(Box<SignedCommit>),
    /// `#commit`.
    Commit(Box<CommitData>),
}

/// An event of one repo at a time.
#[derive(Debug, Clone)]
pub struct TimedEvent {
    /// The account index.
    pub repo: u32,
    /// When it happened (µs since the epoch).
    pub micros: u64,
    /// What happened.
    pub event: RepoEvent,
}

/// One repo's history with real commits (see the module docs).
#[derive(Debug)]
pub struct RepoHistory<'m> {
    model: &'m Model,
    repo: u32,
    plan: RepoPlan<'m>,
    head: RepoHead,
}

impl<'m> RepoHistory<'m> {
    /// The history of `repo` from event `position` (0: the beginning).
    pub fn resume(
        generator: &Generator<'m>,
        repo: u32,
        position: u64,
    ) -> Result<Self, DevnetError> {
        let model = generator.model();
        let no_repo = || DevnetError::NoSuchRepo(repo.to_string());
        let mut plan = model.plan(repo).ok_or_else(no_repo)?;
        // Where the head was: the last commit before `position`, or the creation `#sync`.
        let mut head_time: Option<PlanTime> = None;
        for _ in 0..position {
            match plan.next() {
                Some((time, PlanEvent::Commit { .. })) => head_time = Some(time),
                // A `#sync` re-sends the head, except the first, which signs the empty repo.
                Some((time, PlanEvent::Sync)) => {
                    head_time.get_or_insert(time);
                }
                Some(_) => {}
                None => break,
            }
        }
        let head = match head_time {
            None => RepoHead::empty(),
            Some(time) => {
                let records = at_position(model, repo, position);
                let rev = model.rev_at(repo, model.plan_micros(repo, time));
                Snapshot::build(generator, repo, &records, &rev)?.into_head()
            }
        };
        Ok(Self {
            model,
            repo,
            plan,
            head,
        })
    }

    /// Number of events yielded so far (from the beginning of the history).
    pub fn position(&self) -> u64 {
        self.plan.position()
    }

    /// The next event, or `None` at the end of the history.
    pub fn next_event(
        &mut self,
        generator: &Generator<'m>,
    ) -> Option<Result<TimedEvent, DevnetError>> {
        let (time, planned) = self.plan.next()?;
        Some(self.realise(generator, time, planned))
    }

    fn realise(
        &mut self,
        generator: &Generator<'m>,
        time: PlanTime,
        planned: PlanEvent,
    ) -> Result<TimedEvent, DevnetError> {
        let model = self.model;
        let account = model
            .account(self.repo)
            .ok_or_else(|| DevnetError::NoSuchRepo(self.repo.to_string()))?;
        let micros = model.plan_micros(self.repo, time);
        let event = match planned {
            PlanEvent::Identity { renamed } => RepoEvent::Identity {
                handle: if renamed {
                    account.handle.clone()
                } else {
                    account.original_handle.clone()
                },
            },
            PlanEvent::Account { active, status } => RepoEvent::Account { active, status },
            PlanEvent::Sync => {
                let commit = match self.head.commit() {
                    Some(commit) => commit.clone(),
                    None => {
                        let rev = model.rev_at(self.repo, micros);
                        self.head
                            .sign_current(&account.did, &rev, &account.keypair)
                            .clone()
                    }
                };
                RepoEvent::Sync(Box::new(commit))
            }
            PlanEvent::Commit { writes } => {
                let mut resolved = Vec::with_capacity(writes.len());
                for write in writes {
                    resolved.push(match write {
                        PlannedWrite::Create(id) => ResolvedWrite::put(generator.record(id, 0)?),
                        PlannedWrite::Update(id) => ResolvedWrite::put(generator.record(id, 1)?),
                        PlannedWrite::Delete(id) => ResolvedWrite::delete(generator.path(id)),
                    });
                }
                let rev = model.rev_at(self.repo, micros);
                let data = self
                    .head
                    .apply(&account.did, &rev, &account.keypair, resolved)?;
                RepoEvent::Commit(Box::new(data))
            }
        };
        Ok(TimedEvent {
            repo: self.repo,
            micros,
            event,
        })
    }
}

/// Where one step of the schedule goes: sequence number, repo, and the repo's event position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The firehose sequence number (from 1).
    pub seq: u64,
    /// The account index.
    pub repo: u32,
    /// The event's position in the repo's history (from 0).
    pub position: u64,
}

/// The interleaving of the repos' histories (see the module docs).
#[derive(Debug, Clone)]
pub struct Schedule<'m> {
    model: &'m Model,
    order: Vec<u32>,
    joined: usize,
    window: Vec<(u32, u64)>,
    window_size: usize,
    draw: Draw,
    seq: u64,
}

impl<'m> Schedule<'m> {
    /// The schedule of `model`'s history with `window_size` active repos.
    pub fn new(model: &'m Model, window_size: usize) -> Self {
        let mut order: Vec<u32> = (0..model.repo_count()).collect();
        let mut draw = Draw::new(model.seed(), Topic::History, 0, 0, 0);
        // Fisher–Yates, except the labeler, which is created first.
        for i in (2..order.len()).rev() {
            let j = 1 + draw.index(i);
            order.swap(i, j);
        }
        Self {
            model,
            order,
            joined: 0,
            window: Vec::with_capacity(window_size),
            window_size: window_size.max(1),
            draw: Draw::new(model.seed(), Topic::History, 1, 0, 0),
            seq: 0,
        }
    }

    /// The sequence number of the last step taken (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The active repos and their next event positions.
    pub fn active(&self) -> &[(u32, u64)] {
        &self.window
    }

    fn fill(&mut self) {
        while self.window.len() < self.window_size {
            let Some(&repo) = self.order.get(self.joined) else {
                return;
            };
            self.joined += 1;
            if self.model.repo(repo).is_some_and(|r| r.events > 0) {
                self.window.push((repo, 0));
            }
        }
    }
}

impl Iterator for Schedule<'_> {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        self.fill();
        if self.window.is_empty() {
            return None;
        }
        let index = self.draw.index(self.window.len());
        let (repo, position) = *self.window.get(index)?;
        self.seq += 1;
        let events = self.model.repo(repo).map_or(0, |r| r.events);
        if position + 1 >= events {
            self.window.swap_remove(index);
        } else if let Some(slot) = self.window.get_mut(index) {
            slot.1 = position + 1;
        }
        Some(Step {
            seq: self.seq,
            repo,
            position,
        })
    }
}

/// The history's events in sequence order from a cursor (see the module docs).
#[derive(Debug)]
pub struct HistoryStream<'m> {
    generator: Generator<'m>,
    schedule: Schedule<'m>,
    repos: HashMap<u32, RepoHistory<'m>>,
}

impl<'m> HistoryStream<'m> {
    /// The events after sequence number `cursor` (0: from the first).
    pub fn from_cursor(model: &'m Model, window_size: usize, cursor: u64) -> Self {
        let mut schedule = Schedule::new(model, window_size);
        while schedule.seq() < cursor {
            if schedule.next().is_none() {
                break;
            }
        }
        Self {
            generator: Generator::new(model),
            schedule,
            repos: HashMap::new(),
        }
    }

    /// The sequence number of the last event yielded (or the cursor).
    pub fn seq(&self) -> u64 {
        self.schedule.seq()
    }

    /// Repos held in memory.
    pub fn active_repos(&self) -> usize {
        self.repos.len()
    }

    /// The next event and its sequence number.
    pub fn next_event(&mut self) -> Option<Result<(u64, TimedEvent), DevnetError>> {
        let step = self.schedule.next()?;
        Some(self.event_at(step))
    }

    fn event_at(&mut self, step: Step) -> Result<(u64, TimedEvent), DevnetError> {
        let history =
            match self.repos.entry(step.repo) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => entry.insert(
                    RepoHistory::resume(&self.generator, step.repo, step.position)?,
                ),
            };
        let event = history.next_event(&self.generator).ok_or_else(|| {
            DevnetError::NoSuchRepo(format!("{} has no more events", step.repo))
        })??;
        let done = self
            .generator
            .model()
            .repo(step.repo)
            .is_none_or(|r| history.position() >= r.events);
        if done {
            self.repos.remove(&step.repo);
        }
        Ok((step.seq, event))
    }
}

#[cfg(test)]
mod tests;
