//! The network's model: its configuration, its accounts, and the shape of every repo (size,
//! slots, timeline), computed once at start-up. Everything else — records, CIDs, commits, events
//! — is generated from the model on demand.
//!
//! Repo sizes are heavy-tailed: each repo draws a Pareto weight (shape 1.1), sizes are the weights
//! scaled to the requested total, capped at [`MAX_REPO_RECORDS`] (and at an eighth of the total),
//! with a floor of a few records. At 10,000 repos and 5,000,000 records the median repo has about a
//! hundred records and the largest few have a few hundred thousand.

use std::thread;

use crate::accounts::Account;
use crate::collections::CollectionCounts;
use crate::draw::{Draw, Topic};
use crate::plan::{PlanEvent, PlanTime, PlannedWrite, RepoPlan, RepoShape};
use crate::slots::{Slot, is_curator};

/// The largest repo the size distribution produces.
pub const MAX_REPO_RECORDS: u64 = 500_000;

/// Start of the history's timeline: 2023-03-01T00:00:00Z, in microseconds.
pub const ERA_START_MICROS: u64 = 1_677_628_800_000_000;

/// End of the history's timeline: 2025-06-01T00:00:00Z, in microseconds.
pub const ERA_END_MICROS: u64 = 1_748_736_000_000_000;

/// What network to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The seed every random choice derives from.
    pub seed: u64,
    /// Number of accounts (repos).
    pub repos: u32,
    /// Approximate number of records created over the history (deleted ones included).
    pub records: u64,
}

impl NetworkConfig {
    /// `repos` repos with 500 records each on average.
    pub fn new(seed: u64, repos: u32) -> Self {
        Self {
            seed,
            repos,
            records: u64::from(repos) * 500,
        }
    }

    /// Sets the approximate total number of records.
    pub fn with_records(mut self, records: u64) -> Self {
        self.records = records;
        self
    }
}

/// What the model knows about one repo.
#[derive(Debug, Clone)]
pub struct RepoInfo {
    /// Number of slots in the history.
    pub slots: u32,
    /// Number of events of its history.
    pub events: u64,
    /// Whether the account is a curator (has a curated list in slot 3).
    pub curator: bool,
    /// When the account was created (µs since the epoch).
    pub created_micros: u64,
    /// Microseconds between consecutive slots.
    pub step_micros: u64,
    /// The clock identifier of its TIDs.
    pub clock_id: u16,
    /// Records at the end of the history, per collection.
    pub counts: CollectionCounts,
    /// Records created over the history (deleted ones included).
    pub created: u64,
    /// When the last commit of the history happened (`None`: no commit).
    pub last_commit: Option<PlanTime>,
}

/// The network's model (see the module docs).
#[derive(Debug)]
pub struct Model {
    config: NetworkConfig,
    accounts: Vec<Account>,
    repos: Vec<RepoInfo>,
    /// Cumulative slot counts: repo `i` owns `[popularity[i-1], popularity[i])`.
    popularity: Vec<u64>,
}

impl Model {
    /// Builds the model: derives every account and walks every repo's plan (in parallel).
    pub fn build(config: NetworkConfig) -> Self {
        let sizes = repo_sizes(&config);
        let workers = thread::available_parallelism()
            .map_or(1, |n| n.get())
            .max(1);
        let chunk = sizes.len().div_ceil(workers).max(1);
        let seed = config.seed;
        let parts: Vec<Vec<(Account, RepoInfo)>> = thread::scope(|scope| {
            let handles: Vec<_> = sizes
                .chunks(chunk)
                .enumerate()
                .map(|(part, chunk_sizes)| {
                    scope.spawn(move || {
                        chunk_sizes
                            .iter()
                            .enumerate()
                            .map(|(offset, &size)| {
                                let index = u32::try_from(part * chunk + offset).unwrap_or(0);
                                let account = Account::derive(seed, index);
                                let info = describe_repo(seed, &account, size);
                                (account, info)
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap_or_default())
                .collect()
        });
        let (accounts, repos): (Vec<Account>, Vec<RepoInfo>) = parts.into_iter().flatten().unzip();
        let mut total = 0u64;
        let popularity = repos
            .iter()
            .map(|repo| {
                total += u64::from(repo.slots);
                total
            })
            .collect();
        Self {
            config,
            accounts,
            repos,
            popularity,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Number of repos.
    pub fn repo_count(&self) -> u32 {
        u32::try_from(self.repos.len()).unwrap_or(u32::MAX)
    }

    /// Every account, by index.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// One account.
    pub fn account(&self, repo: u32) -> Option<&Account> {
        self.accounts.get(repo as usize)
    }

    /// One repo's shape.
    pub fn repo(&self, repo: u32) -> Option<&RepoInfo> {
        self.repos.get(repo as usize)
    }

    /// Every repo's shape, by index.
    pub fn repos(&self) -> &[RepoInfo] {
        &self.repos
    }

    /// The account with this DID.
    pub fn find_did(&self, did: &str) -> Option<u32> {
        // DIDs are random: a linear scan is fine for the rare lookups (the server keeps a map).
        self.accounts
            .iter()
            .position(|a| a.did == did)
            .and_then(|i| u32::try_from(i).ok())
    }

    /// The plan of a repo's history.
    pub fn plan(&self, repo: u32) -> Option<RepoPlan<'_>> {
        let info = self.repo(repo)?;
        let account = self.account(repo)?;
        Some(RepoPlan::new(RepoShape {
            seed: self.config.seed,
            repo,
            slots: info.slots,
            curator: info.curator,
            lifecycle: &account.lifecycle,
        }))
    }

    /// The plan of one slot.
    pub fn slot(&self, repo: u32, slot: u32) -> Slot {
        let curator = self.repo(repo).is_some_and(|r| r.curator);
        Slot::plan(self.config.seed, repo, slot, curator)
    }

    /// When a slot of the history happened (µs since the epoch): evenly spread over the repo's
    /// life with some jitter, strictly increasing.
    pub fn slot_micros(&self, repo: u32, slot: u32) -> u64 {
        let Some(info) = self.repo(repo) else {
            return ERA_START_MICROS;
        };
        let jitter = Draw::new(
            self.config.seed,
            Topic::Content,
            u64::from(repo),
            u64::from(slot),
            u64::MAX,
        )
        .below(info.step_micros / 2);
        info.created_micros + (u64::from(slot) + 1) * info.step_micros + jitter
    }

    /// The time of a planned event (µs since the epoch).
    pub fn plan_micros(&self, repo: u32, time: PlanTime) -> u64 {
        let base = match time.slot {
            Some(slot) => self.slot_micros(repo, slot),
            None => self
                .repo(repo)
                .map_or(ERA_START_MICROS, |r| r.created_micros),
        };
        base + u64::from(time.offset_ms) * 1000
    }

    /// The revision (a TID) of a commit made at `micros` by `repo`.
    pub fn rev_at(&self, repo: u32, micros: u64) -> String {
        let clock = self.repo(repo).map_or(0, |r| r.clock_id);
        sluice_atproto::syntax::Tid::from_parts(micros, clock)
            .as_str()
            .to_owned()
    }

    /// A repo chosen with probability proportional to its number of slots (active accounts
    /// are written to, liked and followed more).
    pub fn popular_repo(&self, draw: &mut Draw) -> u32 {
        let total = self.popularity.last().copied().unwrap_or(0);
        let point = draw.below(total);
        let index = self.popularity.partition_point(|&end| end <= point);
        u32::try_from(index.min(self.repos.len().saturating_sub(1))).unwrap_or(0)
    }

    /// Total number of history events over all repos.
    pub fn history_events(&self) -> u64 {
        self.repos.iter().map(|r| r.events).sum()
    }

    /// Records at the end of the history, per collection, over all repos.
    pub fn total_counts(&self) -> CollectionCounts {
        let mut total = CollectionCounts::default();
        for repo in &self.repos {
            total.merge(&repo.counts);
        }
        total
    }
}

/// The target number of records of every repo (see the module docs).
fn repo_sizes(config: &NetworkConfig) -> Vec<u64> {
    let repos = config.repos as usize;
    if repos == 0 {
        return Vec::new();
    }
    let weights: Vec<f64> = (0..config.repos)
        .map(|repo| {
            let mut draw = Draw::new(config.seed, Topic::RepoSize, u64::from(repo), 0, 0);
            let u = 1.0 - draw.unit();
            u.powf(-1.0 / 1.1)
        })
        .collect();
    let floor = 3.0;
    let cap = (MAX_REPO_RECORDS as f64)
        .min(config.records as f64 / 8.0)
        .max(floor * 4.0);
    let budget = (config.records as f64 - floor * repos as f64).max(0.0);
    // Scale weights to the budget, cap, and hand the excess back to the uncapped repos.
    let mut sizes = vec![0.0f64; repos];
    let mut capped = vec![false; repos];
    let mut remaining = budget;
    for _ in 0..8 {
        let free_weight: f64 = weights
            .iter()
            .zip(&capped)
            .filter(|(_, c)| !**c)
            .map(|(w, _)| w)
            .sum();
        if free_weight <= 0.0 || remaining <= 0.5 {
            break;
        }
        let mut excess = 0.0;
        for ((size, weight), capped) in sizes.iter_mut().zip(&weights).zip(capped.iter_mut()) {
            if *capped {
                continue;
            }
            *size += weight / free_weight * remaining;
            if *size + floor > cap {
                excess += *size + floor - cap;
                *size = cap - floor;
                *capped = true;
            }
        }
        remaining = excess;
    }
    sizes
        .into_iter()
        .map(|size| (size + floor).round() as u64)
        .collect()
}

/// Walks a repo's plan: its slot count (enough slots for `size` records), its events and its
/// final counts.
fn describe_repo(seed: u64, account: &Account, size: u64) -> RepoInfo {
    let repo = account.index;
    let curator = is_curator(seed, repo);
    let min_slots = if curator { 4 } else { 3 };
    let mut slots = 0u32;
    let mut created = 0u64;
    while created < size || slots < min_slots {
        created += u64::from(Slot::plan(seed, repo, slots, curator).record_count());
        slots += 1;
    }
    let mut draw = Draw::new(seed, Topic::Account, u64::from(repo), 1, 0);
    let span = ERA_END_MICROS - ERA_START_MICROS;
    let created_micros = ERA_START_MICROS + draw.below(span * 7 / 10);
    let step_micros = (ERA_END_MICROS - created_micros) / (u64::from(slots) + 2);
    let clock_id = u16::try_from(draw.below(1024)).unwrap_or(0);

    let mut counts = CollectionCounts::default();
    let mut events = 0u64;
    let mut last_commit = None;
    let lifecycle = &account.lifecycle;
    let plan = RepoPlan::new(RepoShape {
        seed,
        repo,
        slots,
        curator,
        lifecycle,
    });
    for (time, event) in plan {
        events += 1;
        if let PlanEvent::Commit { writes } = event {
            last_commit = Some(time);
            for write in writes {
                let id = write.record();
                let collection = Slot::plan(seed, repo, id.slot, curator).collection(id.sub);
                match write {
                    PlannedWrite::Create(_) => counts.add(collection, 1),
                    PlannedWrite::Delete(_) => counts.add(collection, -1),
                    PlannedWrite::Update(_) => {}
                }
            }
        }
    }
    RepoInfo {
        slots,
        events,
        curator,
        created_micros,
        step_micros,
        clock_id,
        counts,
        created,
        last_commit,
    }
}

impl Default for RepoInfo {
    fn default() -> Self {
        Self {
            slots: 0,
            events: 0,
            curator: false,
            created_micros: ERA_START_MICROS,
            step_micros: 1,
            clock_id: 0,
            counts: CollectionCounts::default(),
            created: 0,
            last_commit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_heavy_tailed_and_add_up() {
        let config = NetworkConfig::new(1, 10_000).with_records(5_000_000);
        let mut sizes = repo_sizes(&config);
        let total: u64 = sizes.iter().sum();
        assert!(
            (4_900_000..5_100_000).contains(&total),
            "total {total} far from 5M"
        );
        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2];
        let largest = sizes[sizes.len() - 1];
        assert!(median < 250, "median {median}");
        assert!(largest >= 100_000, "largest {largest}");
        assert!(largest <= MAX_REPO_RECORDS);
        assert!(sizes[0] >= 3);
        let big = sizes.iter().filter(|&&s| s >= 100_000).count();
        assert!((1..=20).contains(&big), "{big} repos of 100k+");
    }

    #[test]
    fn small_networks_get_small_repos() {
        let config = NetworkConfig::new(2, 200).with_records(5_000);
        let sizes = repo_sizes(&config);
        let total: u64 = sizes.iter().sum();
        assert!((4_800..5_300).contains(&total), "{total}");
        assert!(sizes.iter().all(|&s| s <= 625), "{sizes:?}");
    }

    #[test]
    fn the_model_is_deterministic_and_counts_match_the_plan() {
        let a = Model::build(NetworkConfig::new(5, 40).with_records(4_000));
        let b = Model::build(NetworkConfig::new(5, 40).with_records(4_000));
        assert_eq!(a.repo_count(), 40);
        for repo in 0..40 {
            let (x, y) = (a.repo(repo).unwrap(), b.repo(repo).unwrap());
            assert_eq!(x.slots, y.slots);
            assert_eq!(x.events, y.events);
            assert_eq!(x.counts, y.counts);
            assert_eq!(a.account(repo).unwrap().did, b.account(repo).unwrap().did);
            assert_eq!(a.plan(repo).unwrap().count() as u64, x.events);
            assert!(x.counts.total() > 0 && x.counts.total() as u64 <= x.created);
        }
        let created: u64 = a.repos().iter().map(|r| r.created).sum();
        assert!((3_900..4_500).contains(&created), "{created}");
    }

    #[test]
    fn slot_times_increase_and_stay_in_the_era() {
        let model = Model::build(NetworkConfig::new(6, 10).with_records(2_000));
        for repo in 0..10 {
            let info = model.repo(repo).unwrap();
            let mut last = info.created_micros;
            for slot in 0..info.slots {
                let t = model.slot_micros(repo, slot);
                assert!(t > last + 5_000_000, "slots too close: {t} after {last}");
                last = t;
            }
            assert!(last < ERA_END_MICROS);
        }
    }

    #[test]
    fn popular_repos_are_drawn_by_size() {
        let model = Model::build(NetworkConfig::new(7, 50).with_records(10_000));
        let mut hits = [0u32; 50];
        let mut draw = Draw::new(1, Topic::Target, 0, 0, 0);
        for _ in 0..50_000 {
            hits[model.popular_repo(&mut draw) as usize] += 1;
        }
        let biggest = (0..50u32)
            .max_by_key(|&r| model.repo(r).unwrap().slots)
            .unwrap();
        let smallest = (0..50u32)
            .min_by_key(|&r| model.repo(r).unwrap().slots)
            .unwrap();
        assert!(hits[biggest as usize] > hits[smallest as usize]);
    }
}
