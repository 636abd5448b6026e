//! The verification pool: worker threads that judge `subscribeRepos` events and turn them into
//! stream entries.
//!
//! Events are routed to a worker by a hash of their DID, so each account's events are judged
//! in order by one worker, which keeps that account's chain state (per upstream host, a
//! [`RepoStreamValidator`]). The workers are plain threads: signature checks are CPU work that
//! must not stall the async runtime. Each job carries a one-shot reply; the reader queues the
//! replies in read order and the writer takes them in that order, so the output keeps the
//! stream's order whatever worker finished first.
//!
//! Signing keys come from [`SigningKeys`]: the reader starts the lookup when it reads the
//! event, the worker waits for it when the event's turn comes. A commit whose signature does
//! not verify with the cached key gets one fresh resolution of the DID before it is rejected.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;

use bytes::Bytes;
use sluice_atproto::Cid;
use sluice_atproto::crypto::PublicKey;
use sluice_atproto::firehose::{
    Frame, KeyLookup, PrevDataCheck, RepoStreamValidator, ResyncReason, ValidatorConfig, Verdict,
    resolve_commit, resolve_sync,
};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::collections::CollectionFilter;
use crate::events::{account_entry, commit_entries, identity_entry};
use crate::keys::{KeyFuture, SigningKeys};
use crate::metrics as m;

/// The rejection reason of a frame that does not decode.
pub const REASON_MALFORMED: &str = "malformed_frame";

/// An event that was not passed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// A short fixed word (a metrics label): `bad_signature`, `prev_data_gap`, …
    pub reason: &'static str,
    /// The error in words.
    pub error: String,
    /// The account, when known.
    pub did: Option<String>,
    /// The frame as received.
    pub frame: Bytes,
}

/// What one frame turned into.
#[derive(Debug, Default)]
pub struct Processed {
    /// The frame's `seq` (where the cursor may move once this is written).
    pub seq: Option<i64>,
    /// Entries for the firehose stream (JSON), in order.
    pub events: Vec<String>,
    /// The account whose repo must be backfilled afresh, and why.
    pub resync: Option<(String, &'static str)>,
    /// Why the frame was not passed on, when it was not.
    pub rejection: Option<Rejection>,
}

impl Processed {
    /// A frame that gives nothing (e.g. `#info`), with its `seq` if any.
    pub fn nothing(seq: Option<i64>) -> Self {
        Self {
            seq,
            ..Self::default()
        }
    }

    /// A frame rejected before it reached a worker.
    pub fn rejected(seq: Option<i64>, reason: &'static str, error: String, frame: Bytes) -> Self {
        Self {
            seq,
            rejection: Some(Rejection {
                reason,
                error,
                did: None,
                frame,
            }),
            ..Self::default()
        }
    }
}

/// How the workers judge events.
#[derive(Debug, Clone)]
pub struct JudgeSettings {
    /// Verify commit signatures (and run the relay rules of [`RepoStreamValidator`]).
    pub signatures: bool,
    /// Enforce the sync 1.1 chain (else a gap is tolerated and its ops passed on).
    pub sync_chain: bool,
    /// Accounts tracked per host before the oldest is forgotten.
    pub max_tracked_repos: usize,
}

/// One frame to judge.
pub struct Job {
    /// Index of the upstream host (its own chain state).
    pub host: usize,
    /// The host's name (for metrics labels).
    pub host_name: Arc<str>,
    /// The decoded frame (`#commit`, `#sync`, `#identity` or `#account`).
    pub frame: Frame,
    /// The frame's bytes (kept for dead letters).
    pub raw: Bytes,
    /// The account's signing key, when signatures are checked.
    pub key: Option<KeyFuture>,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Processed>,
}

enum Message {
    Judge(Box<Job>),
    Forget { host: usize },
}

/// The pool stopped (its threads are gone).
#[derive(Debug, thiserror::Error)]
#[error("the verification pool has stopped")]
pub struct PoolStopped;

/// Worker threads judging events; cheap to clone. The threads end when every clone is dropped.
#[derive(Clone)]
pub struct VerifierPool {
    workers: Arc<Vec<mpsc::Sender<Message>>>,
}

impl VerifierPool {
    /// Starts `threads` workers. `keys` is needed when `settings.signatures` is on; `handle` is
    /// the runtime the key lookups run on.
    pub fn start(
        threads: usize,
        settings: JudgeSettings,
        keys: Option<SigningKeys>,
        filter: CollectionFilter,
        handle: Handle,
    ) -> std::io::Result<Self> {
        let mut workers = Vec::new();
        for index in 0..threads.max(1) {
            let (tx, rx) = mpsc::channel(1024);
            let worker = Worker {
                settings: settings.clone(),
                keys: keys.clone(),
                filter: filter.clone(),
                handle: handle.clone(),
                hosts: HashMap::new(),
            };
            std::thread::Builder::new()
                .name(format!("sluice-verify-{index}"))
                .spawn(move || worker.run(rx))?;
            workers.push(tx);
        }
        Ok(Self {
            workers: Arc::new(workers),
        })
    }

    /// Queues a job on its account's worker (waiting while that worker's queue is full).
    pub async fn submit(&self, job: Job) -> Result<(), PoolStopped> {
        let did = job.frame.did().unwrap_or_default();
        let worker = self.worker_for(did);
        worker
            .send(Message::Judge(Box::new(job)))
            .await
            .map_err(|_| PoolStopped)
    }

    /// Forgets every account's chain state of `host` (after its writes failed, so that the
    /// events read again are not taken for replays).
    pub async fn forget_host(&self, host: usize) -> Result<(), PoolStopped> {
        for worker in self.workers.iter() {
            worker
                .send(Message::Forget { host })
                .await
                .map_err(|_| PoolStopped)?;
        }
        Ok(())
    }

    fn worker_for(&self, did: &str) -> &mpsc::Sender<Message> {
        let mut hasher = DefaultHasher::new();
        did.hash(&mut hasher);
        let count = self.workers.len().max(1);
        let index = usize::try_from(hasher.finish() % count as u64).unwrap_or(0);
        // `start` makes at least one worker.
        &self.workers[index.min(count - 1)]
    }
}

/// The key of the event being judged, as the validator asks for it.
#[derive(Default)]
struct CurrentKey(Option<(String, PublicKey)>);

impl KeyLookup for CurrentKey {
    fn signing_key(&self, did: &str) -> Option<PublicKey> {
        match &self.0 {
            Some((for_did, key)) if for_did == did => Some(key.clone()),
            _ => None,
        }
    }
}

/// One host's chain state within a worker.
struct HostState {
    validator: RepoStreamValidator<CurrentKey>,
    /// Data roots seen per account, when signatures are not checked (no validator rules).
    unsigned_roots: HashMap<String, Cid>,
    /// Accounts in the order first seen, to forget the oldest.
    seen: VecDeque<String>,
}

struct Worker {
    settings: JudgeSettings,
    keys: Option<SigningKeys>,
    filter: CollectionFilter,
    handle: Handle,
    hosts: HashMap<usize, HostState>,
}

impl Worker {
    fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        while let Some(message) = rx.blocking_recv() {
            match message {
                Message::Judge(job) => {
                    let Job {
                        host,
                        host_name,
                        frame,
                        raw,
                        key,
                        reply,
                    } = *job;
                    let processed = self.judge(host, &host_name, &frame, raw, key);
                    // The reader may have gone (shutdown): nothing to do then.
                    let _ = reply.send(processed);
                }
                Message::Forget { host } => {
                    self.hosts.remove(&host);
                }
            }
        }
    }

    fn host_state(&mut self, host: usize) -> &mut HostState {
        let lenient = !self.settings.sync_chain;
        self.hosts.entry(host).or_insert_with(|| HostState {
            validator: RepoStreamValidator::new(
                ValidatorConfig {
                    lenient,
                    ..ValidatorConfig::default()
                },
                CurrentKey::default(),
            ),
            unsigned_roots: HashMap::new(),
            seen: VecDeque::new(),
        })
    }

    fn judge(
        &mut self,
        host: usize,
        host_name: &str,
        frame: &Frame,
        raw: Bytes,
        key: Option<KeyFuture>,
    ) -> Processed {
        let did = frame.did().unwrap_or_default().to_owned();
        let mut processed = if self.settings.signatures {
            self.judge_signed(host, host_name, frame, key)
        } else {
            self.judge_unsigned(host, frame)
        };
        processed.seq = frame.seq();
        if let Some(rejection) = &mut processed.rejection {
            rejection.did = Some(did.clone());
            rejection.frame = raw;
            metrics::counter!(m::INGESTER_REJECTED, "host" => host_name.to_owned(), "reason" => rejection.reason).increment(1);
        }
        if let Some((_, reason)) = &processed.resync {
            metrics::counter!(m::INGESTER_RESYNCS, "host" => host_name.to_owned(), "reason" => *reason).increment(1);
        }
        self.remember(host, &did);
        processed
    }

    /// Records that `did` was seen on `host`, forgetting the oldest accounts beyond the cap.
    fn remember(&mut self, host: usize, did: &str) {
        let max = self.settings.max_tracked_repos.max(1);
        let state = self.host_state(host);
        let tracked = state.validator.account_count() + state.unsigned_roots.len();
        if tracked > state.seen.len() {
            state.seen.push_back(did.to_owned());
        }
        while state.seen.len() > max {
            let Some(oldest) = state.seen.pop_front() else {
                break;
            };
            state.validator.forget(&oldest);
            state.unsigned_roots.remove(&oldest);
        }
    }

    fn judge_signed(
        &mut self,
        host: usize,
        host_name: &str,
        frame: &Frame,
        key: Option<KeyFuture>,
    ) -> Processed {
        let did = frame.did().unwrap_or_default().to_owned();
        let key = key.map(|future| self.handle.block_on(future));
        let claimed = self.filter.snapshot();
        let sync_chain = self.settings.sync_chain;
        let keys = self.keys.clone();
        let handle = self.handle.clone();
        let state = self.host_state(host);
        let last_seq = state.validator.last_seq();
        *state.validator.keys_mut() = CurrentKey(
            key.as_ref()
                .and_then(|k| k.clone().ok())
                .map(|k| (did.clone(), k)),
        );
        let mut verdict = state.validator.validate(frame);
        if let Verdict::Drop(reason) = &verdict
            && reason.label() == "bad_signature"
            && let Some(keys) = &keys
        {
            // The key may have rotated since it was cached: resolve once more, then judge again.
            let fresh = handle.block_on(keys.refresh(&did));
            metrics::counter!(m::INGESTER_KEY_REFRESHES, "host" => host_name.to_owned())
                .increment(1);
            if let Ok(fresh) = fresh
                && key.as_ref().and_then(|k| k.as_ref().ok()) != Some(&fresh)
            {
                state.validator.set_last_seq(last_seq);
                *state.validator.keys_mut() = CurrentKey(Some((did.clone(), fresh)));
                verdict = state.validator.validate(frame);
            }
        }
        match verdict {
            Verdict::Accept {
                commit: Some(commit),
                ..
            } => {
                let entries = commit_entries(&commit, &claimed);
                processed_commit(entries, host_name)
            }
            Verdict::Accept { commit: None, .. } | Verdict::UpdateAccount { .. } => Processed {
                events: plain_event(frame).into_iter().collect(),
                ..Processed::default()
            },
            Verdict::Drop(reason) => Processed {
                rejection: Some(rejection(reason.label(), reason.to_string())),
                ..Processed::default()
            },
            Verdict::Resync {
                reason: ResyncReason::SyncEvent,
                ..
            } => Processed {
                resync: Some((did, ResyncReason::SyncEvent.label())),
                ..Processed::default()
            },
            Verdict::Resync {
                reason: ResyncReason::PrevDataGap { .. } | ResyncReason::SinceGap { .. },
                commit: Some(commit),
                ..
            } if !sync_chain => {
                // Chain checks off: the commit itself is authentic, pass it on.
                processed_commit(commit_entries(&commit, &claimed), host_name)
            }
            Verdict::Resync { reason, .. } => Processed {
                resync: Some((did, reason.label())),
                rejection: Some(rejection(reason.label(), reason.to_string())),
                ..Processed::default()
            },
            Verdict::Ignore => Processed::default(),
        }
    }

    fn judge_unsigned(&mut self, host: usize, frame: &Frame) -> Processed {
        let claimed = self.filter.snapshot();
        let sync_chain = self.settings.sync_chain;
        let state = self.host_state(host);
        match frame {
            Frame::Commit(event) => {
                let commit = match resolve_commit(event, None) {
                    Ok(commit) => commit,
                    Err(error) => {
                        return Processed {
                            rejection: Some(rejection("invalid_commit", error.to_string())),
                            ..Processed::default()
                        };
                    }
                };
                let last_root = state
                    .unsigned_roots
                    .insert(event.repo.clone(), commit.commit.data);
                if sync_chain {
                    let broken = match commit.check_prev_data() {
                        PrevDataCheck::Mismatch(chain_break) => {
                            Some(("broken_commit", format!("{chain_break:?}")))
                        }
                        _ => match (event.prev_data, last_root) {
                            (Some(prev), Some(last)) if prev != last => Some((
                                "prev_data_gap",
                                format!("prevData {prev} is not the last root seen {last}"),
                            )),
                            _ => None,
                        },
                    };
                    if let Some((reason, error)) = broken {
                        return Processed {
                            resync: Some((event.repo.clone(), reason)),
                            rejection: Some(rejection(reason, error)),
                            ..Processed::default()
                        };
                    }
                }
                processed_commit(commit_entries(&commit, &claimed), "")
            }
            Frame::Sync(event) => match resolve_sync(event, None) {
                Ok(sync) => {
                    state
                        .unsigned_roots
                        .insert(sync.did.clone(), sync.commit.data);
                    Processed {
                        resync: Some((sync.did, ResyncReason::SyncEvent.label())),
                        ..Processed::default()
                    }
                }
                Err(error) => Processed {
                    rejection: Some(rejection("invalid_commit", error.to_string())),
                    ..Processed::default()
                },
            },
            other => Processed {
                events: plain_event(other).into_iter().collect(),
                ..Processed::default()
            },
        }
    }
}

fn rejection(reason: &'static str, error: String) -> Rejection {
    Rejection {
        reason,
        error,
        did: None,
        frame: Bytes::new(),
    }
}

fn processed_commit(entries: crate::events::CommitEntries, host_name: &str) -> Processed {
    if entries.filtered > 0 {
        metrics::counter!(m::INGESTER_FILTERED_OPS).increment(entries.filtered as u64);
    }
    for (path, error) in &entries.bad_records {
        tracing::warn!(
            host = host_name,
            path,
            error,
            "record skipped: not valid DAG-CBOR"
        );
        metrics::counter!(m::INGESTER_BAD_RECORDS).increment(1);
    }
    Processed {
        events: entries.events,
        ..Processed::default()
    }
}

/// The entry of an `#identity` or `#account` message.
fn plain_event(frame: &Frame) -> Option<String> {
    match frame {
        Frame::Identity(event) => identity_entry(event),
        Frame::Account(event) => account_entry(event),
        _ => None,
    }
}
