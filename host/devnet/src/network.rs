//! The running network: the model, every repo's head, and what live mode changed since.
//!
//! [`Network::generate`] builds the model and then every repo once (in parallel) to learn its
//! head commit at the end of the history — the only per-repo state kept besides live changes.
//! Everything else is regenerated on request: a `getRepo` rebuilds the repo from the model and
//! its live changes ([`Network::snapshot`]), a firehose subscriber replays the history from its
//! cursor and then reads the live events kept in memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cid::Cid;
use tokio::sync::watch;

use crate::accounts::{Account, FinalStatus};
use crate::collections::CollectionCounts;
use crate::content::Generator;
use crate::error::DevnetError;
use crate::faults::{FaultConfig, Faults};
use crate::history::DEFAULT_WINDOW;
use crate::labels::history_label_count;
use crate::model::{Model, NetworkConfig};
use crate::repo::{Present, SignedCommit, Snapshot, end_of_history};
use crate::slots::{Fate, RecordId};

/// Live frames kept for cursor replay, at most.
const RING_FRAMES: usize = 2_000_000;
/// Live frame bytes kept for cursor replay, at most.
const RING_BYTES: usize = 1 << 30;

/// How to run the network.
#[derive(Debug, Clone, PartialEq)]
pub struct DevnetConfig {
    /// What to generate.
    pub network: NetworkConfig,
    /// Repos interleaved in the history's firehose.
    pub window: usize,
    /// Live events per second after the history (0: none).
    pub rate: f64,
    /// Repos that live events go to (the largest repos are left out).
    pub live_repos: usize,
    /// Faults to inject.
    pub faults: FaultConfig,
}

impl DevnetConfig {
    /// A static network (no live events, no faults).
    pub fn new(network: NetworkConfig) -> Self {
        Self {
            network,
            window: DEFAULT_WINDOW,
            rate: 0.0,
            live_repos: 1000,
            faults: FaultConfig::default(),
        }
    }
}

/// A repo's state as `listRepos` and `getLatestCommit` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoStatus {
    /// The account.
    pub did: String,
    /// Its current handle.
    pub handle: String,
    /// The head commit's CID.
    pub head: Cid,
    /// The head commit's rev.
    pub rev: String,
    /// Whether the account is active.
    pub active: bool,
    /// Why not, when not.
    pub status: Option<&'static str>,
}

/// A record changed by live mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Deleted.
    Deleted,
    /// Replaced by this version.
    Version(u32),
}

/// What live mode changed in one repo.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveRepo {
    /// Creation times of the slots live mode added (slot `history slots + i`).
    pub(crate) extra_slots: Vec<u64>,
    /// Records deleted or updated.
    pub(crate) changes: BTreeMap<RecordId, Change>,
    /// The head after the last live commit.
    pub(crate) head: Option<SignedCommit>,
    /// The status, when live mode changed it.
    pub(crate) status: Option<FinalStatus>,
    /// The handle, when live mode changed it.
    pub(crate) handle: Option<String>,
    /// Record count changes per collection.
    pub(crate) counts: CollectionCounts,
}

/// Frames kept in memory, oldest first, bounded in count and bytes.
#[derive(Debug, Default)]
pub(crate) struct FrameRing {
    frames: VecDeque<(u64, Bytes)>,
    bytes: usize,
}

impl FrameRing {
    pub(crate) fn push(&mut self, seq: u64, frame: Bytes) {
        self.bytes += frame.len();
        self.frames.push_back((seq, frame));
        while self.frames.len() > RING_FRAMES || self.bytes > RING_BYTES {
            match self.frames.pop_front() {
                Some((_, old)) => self.bytes -= old.len(),
                None => break,
            }
        }
    }

    /// Up to `max` frames with sequence numbers above `after`, and whether frames between
    /// `after` and the first returned were dropped.
    pub(crate) fn after(&self, after: u64, max: usize) -> (Vec<(u64, Bytes)>, bool) {
        let start = self.frames.partition_point(|(seq, _)| *seq <= after);
        let gap = self
            .frames
            .get(start)
            .is_some_and(|(seq, _)| *seq > after + 1);
        let frames = self.frames.range(start..).take(max).cloned().collect();
        (frames, gap)
    }
}

/// Live mode's state, behind the network's lock.
#[derive(Debug, Default)]
pub(crate) struct LiveState {
    pub(crate) repos: HashMap<u32, LiveRepo>,
    pub(crate) frames: FrameRing,
    pub(crate) labels: FrameRing,
    /// Handles that live mode gave, to their repo.
    pub(crate) handles: HashMap<String, u32>,
    /// The last live sequence number (0: none yet).
    pub(crate) last_seq: u64,
    /// The last live label sequence number (0: none yet).
    pub(crate) last_label_seq: u64,
    /// Live steps taken so far (each draws its event from the seed and its number).
    pub(crate) steps: u64,
}

/// The running network (see the module docs).
#[derive(Debug)]
pub struct Network {
    model: Model,
    config: DevnetConfig,
    faults: Faults,
    heads: Vec<SignedHead>,
    dids: HashMap<String, u32>,
    handles: HashMap<String, u32>,
    history_events: u64,
    history_labels: u64,
    base_url: OnceLock<String>,
    live: Mutex<LiveState>,
    seq_tx: watch::Sender<u64>,
    label_tx: watch::Sender<u64>,
    generate_time: Duration,
}

/// A head at the end of the history.
#[derive(Debug, Clone)]
struct SignedHead {
    cid: Cid,
    rev: String,
}

impl Network {
    /// Generates the network: the model, then every repo once to learn its head.
    pub fn generate(config: DevnetConfig) -> Result<Self, DevnetError> {
        let started = Instant::now();
        let model = Model::build(config.network.clone());
        let heads = compute_heads(&model)?;
        let dids = model
            .accounts()
            .iter()
            .map(|a| (a.did.clone(), a.index))
            .collect();
        let handles = model
            .accounts()
            .iter()
            .map(|a| (a.handle.clone(), a.index))
            .collect();
        let history_events = model.history_events();
        let history_labels = history_label_count(model.repo_count());
        let faults = Faults::new(model.seed(), config.faults.clone());
        let (seq_tx, _) = watch::channel(history_events);
        let (label_tx, _) = watch::channel(history_labels);
        Ok(Self {
            model,
            faults,
            heads,
            dids,
            handles,
            history_events,
            history_labels,
            base_url: OnceLock::new(),
            live: Mutex::new(LiveState::default()),
            seq_tx,
            label_tx,
            generate_time: started.elapsed(),
            config,
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The configuration.
    pub fn config(&self) -> &DevnetConfig {
        &self.config
    }

    /// The faults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// How long [`generate`](Self::generate) took.
    pub fn generate_time(&self) -> Duration {
        self.generate_time
    }

    /// Number of events of the history (the last history sequence number).
    pub fn history_events(&self) -> u64 {
        self.history_events
    }

    /// Number of labels of the history.
    pub fn history_labels(&self) -> u64 {
        self.history_labels
    }

    /// Sets the network's public URL (the PDS and labeler endpoint of every DID document). Only
    /// the first call counts.
    pub fn set_base_url(&self, url: &str) {
        let _ = self.base_url.set(url.trim_end_matches('/').to_owned());
    }

    /// The network's public URL.
    pub fn base_url(&self) -> &str {
        self.base_url
            .get()
            .map_or("http://127.0.0.1", String::as_str)
    }

    pub(crate) fn live(&self) -> MutexGuard<'_, LiveState> {
        // A panic while holding the lock leaves consistent data (every update is one push or
        // insert): keep serving.
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latest firehose sequence number (history and live).
    pub fn head_seq(&self) -> u64 {
        *self.seq_tx.borrow()
    }

    /// The latest label sequence number.
    pub fn head_label_seq(&self) -> u64 {
        *self.label_tx.borrow()
    }

    /// Watches the latest firehose sequence number.
    pub fn watch_seq(&self) -> watch::Receiver<u64> {
        self.seq_tx.subscribe()
    }

    /// Watches the latest label sequence number.
    pub fn watch_label_seq(&self) -> watch::Receiver<u64> {
        self.label_tx.subscribe()
    }

    /// Announces new live frames up to `seq`.
    pub(crate) fn announce(&self, seq: u64, label_seq: u64) {
        self.seq_tx.send_replace(seq.max(self.history_events));
        self.label_tx
            .send_replace(label_seq.max(self.history_labels));
    }

    /// The index of the account with this DID.
    pub fn repo_of_did(&self, did: &str) -> Option<u32> {
        self.dids.get(did).copied()
    }

    /// The account whose current handle this is.
    pub fn repo_of_handle(&self, handle: &str) -> Option<u32> {
        let handle = handle.to_ascii_lowercase();
        let live = self.live();
        if let Some(&repo) = live.handles.get(&handle) {
            return (live.repos.get(&repo).and_then(|r| r.handle.as_deref())
                == Some(handle.as_str()))
            .then_some(repo);
        }
        let repo = *self.handles.get(&handle)?;
        // A handle changed live no longer points at its old account.
        match live.repos.get(&repo).and_then(|r| r.handle.as_ref()) {
            Some(_) => None,
            None => Some(repo),
        }
    }

    /// The account's current handle.
    pub fn handle(&self, repo: u32) -> Option<String> {
        let account = self.model.account(repo)?;
        let live = self.live();
        Some(
            live.repos
                .get(&repo)
                .and_then(|r| r.handle.clone())
                .unwrap_or_else(|| account.handle.clone()),
        )
    }

    /// The DID document of an account, as the PLC directory serves it.
    pub fn did_document(&self, repo: u32) -> Option<serde_json::Value> {
        let account = self.model.account(repo)?;
        let handle = self.handle(repo)?;
        let current = Account {
            handle,
            ..account.clone()
        };
        Some(current.did_document(self.base_url()))
    }

    /// A repo's current status.
    pub fn repo_status(&self, repo: u32) -> Option<RepoStatus> {
        let account = self.model.account(repo)?;
        let head = self.heads.get(repo as usize)?;
        let live = self.live();
        let live_repo = live.repos.get(&repo);
        let status = live_repo
            .and_then(|r| r.status)
            .unwrap_or(account.lifecycle.final_status);
        let (cid, rev) = match live_repo.and_then(|r| r.head.as_ref()) {
            Some(commit) => (commit.cid, commit.rev().to_owned()),
            None => (head.cid, head.rev.clone()),
        };
        Some(RepoStatus {
            did: account.did.clone(),
            handle: live_repo
                .and_then(|r| r.handle.clone())
                .unwrap_or_else(|| account.handle.clone()),
            head: cid,
            rev,
            active: status.is_active(),
            status: status.status(),
        })
    }

    /// The records a repo holds now (history, then live changes), and its head rev.
    pub(crate) fn current_records(&self, repo: u32) -> (Vec<Present>, Option<String>) {
        let mut records = end_of_history(&self.model, repo);
        let live = self.live();
        let Some(live_repo) = live.repos.get(&repo) else {
            return (records, None);
        };
        let history_slots = self.model.repo(repo).map_or(0, |r| r.slots);
        for (offset, &micros) in (0u32..).zip(&live_repo.extra_slots) {
            let slot = history_slots + offset;
            let plan = self.model.slot(repo, slot);
            for sub in 0..plan.record_count() {
                records.push(Present {
                    id: RecordId::new(repo, slot, sub),
                    version: 0,
                    micros,
                });
            }
        }
        records.retain_mut(|present| match live_repo.changes.get(&present.id) {
            Some(Change::Deleted) => false,
            Some(Change::Version(version)) => {
                present.version = *version;
                true
            }
            None => true,
        });
        let rev = live_repo.head.as_ref().map(|c| c.rev().to_owned());
        (records, rev)
    }

    /// The repo as it is now, ready to be written as a CAR.
    pub fn snapshot(&self, generator: &Generator<'_>, repo: u32) -> Result<Snapshot, DevnetError> {
        let (records, rev) = self.current_records(repo);
        let rev = match rev {
            Some(rev) => rev,
            None => self
                .heads
                .get(repo as usize)
                .map(|h| h.rev.clone())
                .ok_or_else(|| DevnetError::NoSuchRepo(repo.to_string()))?,
        };
        Snapshot::build(generator, repo, &records, &rev)
    }

    /// The record counts of a repo now, per collection.
    pub fn record_counts(&self, repo: u32) -> CollectionCounts {
        let mut counts = self
            .model
            .repo(repo)
            .map(|r| r.counts.clone())
            .unwrap_or_default();
        if let Some(live_repo) = self.live().repos.get(&repo) {
            counts.merge(&live_repo.counts);
        }
        counts
    }

    /// Whether a history slot's first record is still there (not deleted by the history).
    pub(crate) fn history_keeps(&self, id: RecordId) -> bool {
        id.sub != 0 || !matches!(self.model.slot(id.repo, id.slot).fate, Fate::Deleted { .. })
    }

    /// The version a history record has at the end of the history (1 when it was updated).
    pub(crate) fn history_version(&self, id: RecordId) -> u32 {
        let updated =
            id.sub == 0 && matches!(self.model.slot(id.repo, id.slot).fate, Fate::Updated { .. });
        u32::from(updated)
    }

    /// The ground truth: per repo its status, head and record count per collection, and the
    /// totals (what a consumer that got everything must hold).
    pub fn ground_truth(&self) -> serde_json::Value {
        let mut totals = CollectionCounts::default();
        let mut repos = Vec::with_capacity(self.model.repo_count() as usize);
        for repo in 0..self.model.repo_count() {
            let Some(status) = self.repo_status(repo) else {
                continue;
            };
            let counts = self.record_counts(repo);
            totals.merge(&counts);
            let fault = self
                .faults
                .repo_fault(repo)
                .map(|f| format!("{f:?}").to_lowercase());
            repos.push(serde_json::json!({
                "did": status.did,
                "handle": status.handle,
                "active": status.active,
                "status": status.status,
                "head": status.head.to_string(),
                "rev": status.rev,
                "records": counts.total(),
                "collections": counts.to_json(),
                "get_repo_fault": fault,
            }));
        }
        serde_json::json!({
            "seed": self.model.seed(),
            "repos": self.model.repo_count(),
            "records": totals.total(),
            "collections": totals.to_json(),
            "history_events": self.history_events,
            "head_seq": self.head_seq(),
            "history_labels": self.history_labels,
            "head_label_seq": self.head_label_seq(),
            "labeler": self.model.account(crate::accounts::LABELER).map(|a| a.did.clone()),
            "per_repo": repos,
        })
    }
}

/// Builds every repo at the end of its history, on all cores, and keeps its head.
fn compute_heads(model: &Model) -> Result<Vec<SignedHead>, DevnetError> {
    let repos = model.repo_count();
    let workers = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1) as u32;
    let next = std::sync::atomic::AtomicU32::new(0);
    let results: Vec<Result<Vec<(u32, SignedHead)>, DevnetError>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let generator = Generator::new(model);
                    let mut out = Vec::new();
                    loop {
                        let repo = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if repo >= repos {
                            return Ok(out);
                        }
                        let snapshot = Snapshot::end_of_history(&generator, repo)?;
                        let commit = snapshot.commit();
                        out.push((
                            repo,
                            SignedHead {
                                cid: commit.cid,
                                rev: commit.rev().to_owned(),
                            },
                        ));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(DevnetError::Internal("a generator thread panicked".into()))
                })
            })
            .collect()
    });
    let mut heads = vec![
        SignedHead {
            cid: Cid::default(),
            rev: String::new(),
        };
        repos as usize
    ];
    for result in results {
        for (repo, head) in result? {
            if let Some(slot) = heads.get_mut(repo as usize) {
                *slot = head;
            }
        }
    }
    Ok(heads)
}
