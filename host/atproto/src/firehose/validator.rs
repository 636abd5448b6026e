//! The relay rules for a `subscribeRepos` stream, as a pure state machine.
//!
//! [`RepoStreamValidator`] follows one upstream stream. For each decoded [`Frame`] it returns a
//! [`Verdict`] and updates its state: the stream's last `seq`, and per account the hosting
//! status and the last rev, commit and MST root seen. It does no I/O: signing keys come from a
//! [`KeyLookup`] the caller fills (from its identity cache) before calling.
//!
//! # Rules
//!
//! Every event: its `seq` must be greater than the last one of the stream (else dropped; an
//! event dropped for another reason still moves the stream's `seq` on), its DID must be well
//! formed.
//!
//! `#commit`, in order: the account must be active; the slice at most
//! [`ValidatorConfig::max_blocks_bytes`] and at most [`ValidatorConfig::max_ops`] ops; the rev a
//! TID not in the future and greater than the last rev seen; the CAR slice valid, its root the
//! signed commit for this account and rev, the signature valid for the account's key. Any of
//! these failing drops the event. Then, in strict mode, a commit must carry `prevData` (unless
//! it is the first seen for the account), must not set `rebase`, and its `time` must be a valid
//! datetime (lenient mode only warns). Finally the sync 1.1 checks: undoing the ops on the
//! proof blocks must give `prevData` ([`check_prev_data`]), and `prevData` (or, for a legacy
//! commit, `since`) must be the root (rev) seen last. When those fail the event is not dropped
//! but answered with [`Verdict::Resync`]: the account's repo must be fetched afresh.
//!
//! `#sync`: the account must be active, the slice valid and signed, its rev not older than the
//! last seen; the answer is always [`Verdict::Resync`]. `#identity` is passed on. `#account`
//! gives [`Verdict::UpdateAccount`] when the status changes.
//!
//! These are the rules of the reference relay (indigo `cmd/relay`), with deliberate
//! differences that suit an indexer: a commit whose chain does not connect (the reference
//! relay only logs it), or whose records are missing (`tooBig`, a record absent from the
//! slice), is not dropped but answered with a resync, so nothing is lost; a commit whose author
//! has no known key is also answered with a resync (the backfill resolves the key again) rather
//! than passed unverified; and a `#sync` older than the last rev seen is dropped.
//!
//! A dropped event changes no account state, so a caller that suspects a stale key (a
//! [`DropReason::label`] of `bad_signature`) may refresh its key cache and ask for a resync.
//!
//! Memory: a few hundred bytes per account seen; [`RepoStreamValidator::forget`] and
//! [`RepoStreamValidator::set_repo_state`] let a caller keep only some accounts in memory.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cid::Cid;

use super::codec::Frame;
use super::messages::{AccountEvent, CommitEvent, IdentityEvent, SyncEvent};
use super::prev_data::{ChainBreak, PrevDataCheck, Unverifiable, check_prev_data};
use super::resolve::{ResolveError, ResolvedCommit, open_commit, resolve_ops, resolve_sync};
use crate::crypto::PublicKey;
use crate::syntax::{Datetime, Did, Tid};

/// An account's hosting status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AccountStatus {
    /// Active: its events are passed on.
    #[default]
    Active,
    /// Taken down by the host or the network.
    Takendown,
    /// Suspended for a time.
    Suspended,
    /// Deleted.
    Deleted,
    /// Deactivated by its owner.
    Deactivated,
    /// The host's copy is out of sync.
    Desynchronized,
    /// Throttled by the host.
    Throttled,
    /// Not active, for a reason this code does not know (the text, or `inactive` when none).
    Other(String),
}

impl AccountStatus {
    /// The status an `#account` event gives: active, else its `status` (else `inactive`).
    pub fn from_event(active: bool, status: Option<&str>) -> Self {
        if active {
            return Self::Active;
        }
        Self::parse(status.unwrap_or("inactive"))
    }

    /// Parses a status name (`active`, `takendown`, …); unknown names are kept as
    /// [`Other`](Self::Other).
    pub fn parse(name: &str) -> Self {
        match name {
            "active" => Self::Active,
            "takendown" => Self::Takendown,
            "suspended" => Self::Suspended,
            "deleted" => Self::Deleted,
            "deactivated" => Self::Deactivated,
            "desynchronized" => Self::Desynchronized,
            "throttled" => Self::Throttled,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The status name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "active",
            Self::Takendown => "takendown",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
            Self::Deactivated => "deactivated",
            Self::Desynchronized => "desynchronized",
            Self::Throttled => "throttled",
            Self::Other(name) => name,
        }
    }

    /// Whether the account's repo events are passed on.
    pub fn is_active(&self) -> bool {
        *self == Self::Active
    }
}

impl std::fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the validator knows about one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoState {
    /// The hosting status (an account never seen is assumed active).
    pub status: AccountStatus,
    /// The rev of the last commit seen.
    pub rev: Option<String>,
    /// The MST root of the last commit seen.
    pub data: Option<Cid>,
    /// The CID of the last commit seen.
    pub commit: Option<Cid>,
    /// The `seq` of the last event that updated this state.
    pub last_seq: Option<i64>,
}

/// Where the validator gets an account's signing key.
pub trait KeyLookup {
    /// The current `#atproto` signing key of `did`, or `None` when it is not known.
    fn signing_key(&self, did: &str) -> Option<PublicKey>;
}

impl<F: Fn(&str) -> Option<PublicKey>> KeyLookup for F {
    fn signing_key(&self, did: &str) -> Option<PublicKey> {
        self(did)
    }
}

impl<S: std::hash::BuildHasher> KeyLookup for HashMap<String, PublicKey, S> {
    fn signing_key(&self, did: &str) -> Option<PublicKey> {
        self.get(did).cloned()
    }
}

/// How strictly the validator applies the rules.
#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    /// Accept commits that break the strict rules (no `prevData` after the first commit,
    /// `rebase`, a bad `time`, an incomplete proof), with a [`Warning`].
    pub lenient: bool,
    /// Largest CAR slice accepted in a `#commit` / `#sync` (the protocol limit: 2,000,000).
    pub max_blocks_bytes: usize,
    /// Most ops accepted in one `#commit` (the protocol limit: 200).
    pub max_ops: usize,
    /// How far in the future a rev's timestamp may be.
    pub future_rev_tolerance: chrono::Duration,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        Self {
            lenient: false,
            max_blocks_bytes: 2_000_000,
            max_ops: 200,
            future_rev_tolerance: chrono::Duration::minutes(5),
        }
    }
}

/// Why an event must not be passed on.
#[derive(Debug, thiserror::Error)]
pub enum DropReason {
    /// The event's `seq` is not greater than the stream's last one.
    #[error("seq {seq} is not greater than the last seq {last}")]
    SeqNotIncreasing {
        /// The event's seq.
        seq: i64,
        /// The stream's last seq.
        last: i64,
    },
    /// The event's DID is malformed.
    #[error("invalid DID: {0}")]
    InvalidDid(String),
    /// The account is not active.
    #[error("account is {0}")]
    AccountInactive(AccountStatus),
    /// The CAR slice is larger than the limit.
    #[error("blocks are {size} bytes, over the {max}-byte limit")]
    BlocksTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The commit has more ops than the limit.
    #[error("{count} ops, over the limit of {max}")]
    TooManyOps {
        /// The number of ops.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The rev is not a TID.
    #[error("invalid rev: {0}")]
    InvalidRev(String),
    /// The rev's timestamp is too far in the future.
    #[error("rev {0} is in the future")]
    FutureRev(String),
    /// The rev is not greater than the last one seen for the account.
    #[error("rev {rev} is not after the last rev {last}")]
    RevNotIncreasing {
        /// The event's rev.
        rev: String,
        /// The last rev seen.
        last: String,
    },
    /// The slice or the signed commit is invalid (bad CAR, wrong account or rev, bad
    /// signature, malformed op).
    #[error(transparent)]
    Invalid(#[from] ResolveError),
    /// The commit has no `prevData` although an earlier commit was seen (strict mode).
    #[error("commit has no prevData (strict mode)")]
    MissingPrevData,
    /// The deprecated `rebase` flag is set (strict mode).
    #[error("commit sets the deprecated rebase flag (strict mode)")]
    Rebase,
    /// The `time` field is not a valid datetime (strict mode).
    #[error("invalid time {0:?} (strict mode)")]
    InvalidTime(String),
}

impl DropReason {
    /// A short fixed name for metrics labels.
    pub fn label(&self) -> &'static str {
        match self {
            Self::SeqNotIncreasing { .. } => "seq_not_increasing",
            Self::InvalidDid(_) => "invalid_did",
            Self::AccountInactive(_) => "account_inactive",
            Self::BlocksTooLarge { .. } => "blocks_too_large",
            Self::TooManyOps { .. } => "too_many_ops",
            Self::InvalidRev(_) => "invalid_rev",
            Self::FutureRev(_) => "future_rev",
            Self::RevNotIncreasing { .. } => "rev_not_increasing",
            Self::Invalid(ResolveError::Commit {
                source: crate::commit::CommitError::Signature(_),
                ..
            }) => "bad_signature",
            Self::Invalid(_) => "invalid_commit",
            Self::MissingPrevData => "missing_prev_data",
            Self::Rebase => "rebase",
            Self::InvalidTime(_) => "invalid_time",
        }
    }
}

/// Why an account's repo must be fetched afresh.
#[derive(Debug, thiserror::Error)]
pub enum ResyncReason {
    /// A `#sync` event: the host reset the repo.
    #[error("#sync event: the repo was reset")]
    SyncEvent,
    /// `prevData` is not the MST root of the last commit seen: commits were missed.
    #[error("prevData {prev_data} is not the last root seen {last}")]
    PrevDataGap {
        /// The last root seen.
        last: Cid,
        /// The commit's `prevData`.
        prev_data: Cid,
    },
    /// A legacy commit's `since` is not the last rev seen: commits were missed.
    #[error("since {since:?} is not the last rev seen {last}")]
    SinceGap {
        /// The last rev seen.
        last: String,
        /// The commit's `since`.
        since: Option<String>,
    },
    /// The commit contradicts itself (its ops do not lead from `prevData` to its tree); its
    /// ops are not passed on.
    #[error("the commit's ops do not match its tree: {0:?}")]
    BrokenCommit(ChainBreak),
    /// The `prevData` check could not be made (strict mode).
    #[error("the commit cannot be checked against prevData: {0:?}")]
    Unverifiable(Unverifiable),
    /// The commit does not carry its records (`tooBig`, or a record block is absent).
    #[error("the commit does not carry its records: {0}")]
    MissingRecords(String),
    /// No signing key is known for the account, so its events cannot be verified.
    #[error("no signing key is known for the account")]
    NoSigningKey,
}

impl ResyncReason {
    /// A short fixed name for metrics labels.
    pub fn label(&self) -> &'static str {
        match self {
            Self::SyncEvent => "sync_event",
            Self::PrevDataGap { .. } => "prev_data_gap",
            Self::SinceGap { .. } => "since_gap",
            Self::BrokenCommit(_) => "broken_commit",
            Self::Unverifiable(_) => "unverifiable",
            Self::MissingRecords(_) => "missing_records",
            Self::NoSigningKey => "no_signing_key",
        }
    }
}

/// Something tolerated in lenient mode, or worth counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The commit has no `prevData` (a commit from before sync 1.1).
    MissingPrevData,
    /// The `prevData` check could not be made.
    PrevDataUnchecked(Unverifiable),
    /// The deprecated `rebase` flag is set.
    Rebase,
    /// The `time` field is not a valid datetime.
    InvalidTime(String),
    /// `since` is not the last rev seen although `prevData` connects.
    SinceMismatch {
        /// The last rev seen.
        last: String,
        /// The commit's `since`.
        since: Option<String>,
    },
}

/// What to do with an event.
#[derive(Debug)]
pub enum Verdict {
    /// Pass the event on. For a `#commit`, the resolved commit comes with it.
    Accept {
        /// The resolved `#commit` (`None` for other events).
        commit: Option<Box<ResolvedCommit>>,
        /// What was tolerated.
        warnings: Vec<Warning>,
    },
    /// Do not pass the event on.
    Drop(DropReason),
    /// Pass on what can be trusted (`commit`, when present) and fetch the account's repo
    /// afresh.
    Resync {
        /// Why.
        reason: ResyncReason,
        /// The resolved `#commit`, when its ops can still be trusted.
        commit: Option<Box<ResolvedCommit>>,
        /// What was tolerated.
        warnings: Vec<Warning>,
    },
    /// The account's status changed: record it and pass the event on.
    UpdateAccount {
        /// The account.
        did: String,
        /// The status before.
        previous: AccountStatus,
        /// The status now.
        status: AccountStatus,
    },
    /// Not a repo event (`#info`, `#labels`, an error frame, an unknown type): no rule applies.
    Ignore,
}

impl Verdict {
    /// Whether the event must not be passed on.
    pub fn is_drop(&self) -> bool {
        matches!(self, Self::Drop(_))
    }

    /// Whether the account's repo must be fetched afresh.
    pub fn needs_resync(&self) -> bool {
        matches!(self, Self::Resync { .. })
    }

    /// Whether the account's status changed.
    pub fn is_account_update(&self) -> bool {
        matches!(self, Self::UpdateAccount { .. })
    }

    fn accept() -> Self {
        Self::Accept {
            commit: None,
            warnings: Vec::new(),
        }
    }

    fn resync(reason: ResyncReason) -> Self {
        Self::Resync {
            reason,
            commit: None,
            warnings: Vec::new(),
        }
    }
}

/// The relay rules for one upstream `subscribeRepos` stream (see the module docs).
#[derive(Debug)]
pub struct RepoStreamValidator<K> {
    config: ValidatorConfig,
    keys: K,
    last_seq: Option<i64>,
    repos: HashMap<String, RepoState>,
}

impl<K: KeyLookup> RepoStreamValidator<K> {
    /// A validator with no state, taking signing keys from `keys`.
    pub fn new(config: ValidatorConfig, keys: K) -> Self {
        Self {
            config,
            keys,
            last_seq: None,
            repos: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ValidatorConfig {
        &self.config
    }

    /// The key source (to refresh it between events).
    pub fn keys_mut(&mut self) -> &mut K {
        &mut self.keys
    }

    /// The last `seq` of the stream that was in order.
    pub fn last_seq(&self) -> Option<i64> {
        self.last_seq
    }

    /// Sets the stream's last `seq` (resuming from a stored cursor).
    pub fn set_last_seq(&mut self, seq: Option<i64>) {
        self.last_seq = seq;
    }

    /// What is known about an account.
    pub fn repo_state(&self, did: &str) -> Option<&RepoState> {
        self.repos.get(did)
    }

    /// Replaces what is known about an account (from storage, or after a backfill).
    pub fn set_repo_state(&mut self, did: impl Into<String>, state: RepoState) {
        self.repos.insert(did.into(), state);
    }

    /// Sets an account's hosting status.
    pub fn set_account_status(&mut self, did: &str, status: AccountStatus) {
        self.repos.entry(did.to_owned()).or_default().status = status;
    }

    /// Forgets an account.
    pub fn forget(&mut self, did: &str) -> Option<RepoState> {
        self.repos.remove(did)
    }

    /// Number of accounts with state.
    pub fn account_count(&self) -> usize {
        self.repos.len()
    }

    /// Judges one frame, with the current time as "now".
    pub fn validate(&mut self, frame: &Frame) -> Verdict {
        self.validate_at(frame, Utc::now())
    }

    /// Judges one frame; `now` bounds how far in the future a rev may be.
    pub fn validate_at(&mut self, frame: &Frame, now: DateTime<Utc>) -> Verdict {
        let (Some(seq), Some(did)) = (frame.seq(), frame.did()) else {
            return Verdict::Ignore;
        };
        if let Some(last) = self.last_seq
            && seq <= last
        {
            return Verdict::Drop(DropReason::SeqNotIncreasing { seq, last });
        }
        self.last_seq = Some(seq);
        if let Err(error) = Did::parse(did) {
            return Verdict::Drop(DropReason::InvalidDid(error.to_string()));
        }
        let state = self.repos.get(did).cloned().unwrap_or_default();
        let (verdict, new_state) = match frame {
            Frame::Commit(event) => self.judge_commit(event, &state, now),
            Frame::Sync(event) => self.judge_sync(event, &state, now),
            Frame::Identity(event) => judge_identity(event, &state),
            Frame::Account(event) => judge_account(event, &state),
            _ => (Verdict::Ignore, None),
        };
        if let Some(mut new_state) = new_state {
            new_state.last_seq = Some(seq);
            self.repos.insert(did.to_owned(), new_state);
        }
        verdict
    }

    /// The checks shared by `#commit` and `#sync` before their slice is opened.
    fn precheck(
        &self,
        state: &RepoState,
        blocks_len: usize,
        rev: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DropReason> {
        if !state.status.is_active() {
            return Err(DropReason::AccountInactive(state.status.clone()));
        }
        if blocks_len > self.config.max_blocks_bytes {
            return Err(DropReason::BlocksTooLarge {
                size: blocks_len,
                max: self.config.max_blocks_bytes,
            });
        }
        let tid = Tid::parse(rev).map_err(|e| DropReason::InvalidRev(e.to_string()))?;
        if tid.timestamp() > now + self.config.future_rev_tolerance {
            return Err(DropReason::FutureRev(rev.to_owned()));
        }
        Ok(())
    }

    fn judge_commit(
        &self,
        event: &CommitEvent,
        state: &RepoState,
        now: DateTime<Utc>,
    ) -> (Verdict, Option<RepoState>) {
        let drop = |reason| (Verdict::Drop(reason), None);
        // A stale rev first (a cheap string comparison: TIDs sort as strings), as the
        // reference relay does.
        if state.status.is_active()
            && let Some(last) = &state.rev
            && event.rev.as_str() <= last.as_str()
        {
            return drop(DropReason::RevNotIncreasing {
                rev: event.rev.clone(),
                last: last.clone(),
            });
        }
        if let Err(reason) = self.precheck(state, event.blocks.len(), &event.rev, now) {
            return drop(reason);
        }
        if event.ops.len() > self.config.max_ops {
            return drop(DropReason::TooManyOps {
                count: event.ops.len(),
                max: self.config.max_ops,
            });
        }
        let Some(key) = self.keys.signing_key(&event.repo) else {
            return (Verdict::resync(ResyncReason::NoSigningKey), None);
        };
        let opened = match open_commit(event, Some(&key)) {
            Ok(opened) => opened,
            Err(error) => return drop(DropReason::Invalid(error)),
        };
        // From here the commit is authentic: the account's state moves to it whatever follows.
        let new_state = RepoState {
            rev: Some(event.rev.clone()),
            data: Some(opened.commit.data),
            commit: Some(opened.commit_cid),
            ..state.clone()
        };
        if event.too_big {
            let reason = ResyncReason::MissingRecords("the commit is marked tooBig".to_owned());
            return (Verdict::resync(reason), Some(new_state));
        }
        let ops = match resolve_ops(&event.ops, &opened.blocks) {
            Ok(ops) => ops,
            Err(error @ ResolveError::MissingRecord { .. }) => {
                let reason = ResyncReason::MissingRecords(error.to_string());
                return (Verdict::resync(reason), Some(new_state));
            }
            Err(error) => return drop(DropReason::Invalid(error)),
        };

        let mut warnings = Vec::new();
        let first_seen = state.rev.is_none() && state.data.is_none();
        let mut strict_failures = Vec::new();
        if event.prev_data.is_none() {
            if !first_seen {
                strict_failures.push(DropReason::MissingPrevData);
            } else if event.since.is_some() {
                // Not the repo's first commit, but the first one seen: nothing to compare.
                warnings.push(Warning::MissingPrevData);
            }
        }
        if event.rebase {
            strict_failures.push(DropReason::Rebase);
        }
        if Datetime::parse(&event.time).is_err() {
            strict_failures.push(DropReason::InvalidTime(event.time.clone()));
        }
        if self.config.lenient {
            warnings.extend(strict_failures.into_iter().map(|failure| match failure {
                DropReason::Rebase => Warning::Rebase,
                DropReason::InvalidTime(time) => Warning::InvalidTime(time),
                _ => Warning::MissingPrevData,
            }));
        } else if let Some(reason) = strict_failures.into_iter().next() {
            return drop(reason);
        }

        let commit = opened.into_resolved(event, ops, true);
        let mut resync = None;
        if event.prev_data.is_some() {
            match check_prev_data(
                commit.commit.data,
                &event.ops,
                event.prev_data,
                &commit.blocks,
            ) {
                PrevDataCheck::Verified { .. } => {}
                PrevDataCheck::Mismatch(chain_break) => {
                    let reason = ResyncReason::BrokenCommit(chain_break);
                    return (Verdict::resync(reason), Some(new_state));
                }
                PrevDataCheck::CannotCheck(unverifiable) => {
                    if self.config.lenient {
                        warnings.push(Warning::PrevDataUnchecked(unverifiable));
                    } else {
                        resync = Some(ResyncReason::Unverifiable(unverifiable));
                    }
                }
            }
        }
        if resync.is_none() {
            resync = chain_gap(event, state, &mut warnings);
        }
        let commit = Some(Box::new(commit));
        let verdict = match resync {
            Some(reason) => Verdict::Resync {
                reason,
                commit,
                warnings,
            },
            None => Verdict::Accept { commit, warnings },
        };
        (verdict, Some(new_state))
    }

    fn judge_sync(
        &self,
        event: &SyncEvent,
        state: &RepoState,
        now: DateTime<Utc>,
    ) -> (Verdict, Option<RepoState>) {
        if let Err(reason) = self.precheck(state, event.blocks.len(), &event.rev, now) {
            return (Verdict::Drop(reason), None);
        }
        if let Some(last) = &state.rev
            && event.rev.as_str() < last.as_str()
        {
            let reason = DropReason::RevNotIncreasing {
                rev: event.rev.clone(),
                last: last.clone(),
            };
            return (Verdict::Drop(reason), None);
        }
        let Some(key) = self.keys.signing_key(&event.did) else {
            return (Verdict::resync(ResyncReason::NoSigningKey), None);
        };
        match resolve_sync(event, Some(&key)) {
            Ok(sync) => {
                let new_state = RepoState {
                    rev: Some(sync.rev),
                    data: Some(sync.commit.data),
                    commit: Some(sync.commit_cid),
                    ..state.clone()
                };
                (Verdict::resync(ResyncReason::SyncEvent), Some(new_state))
            }
            Err(error) => (Verdict::Drop(DropReason::Invalid(error)), None),
        }
    }
}

/// Whether a commit connects to the last one seen: by `prevData` when it has one, else by
/// `since`.
fn chain_gap(
    event: &CommitEvent,
    state: &RepoState,
    warnings: &mut Vec<Warning>,
) -> Option<ResyncReason> {
    let since_differs = match (&state.rev, &event.since) {
        (Some(last), since) => (since.as_deref() != Some(last.as_str())).then(|| last.clone()),
        (None, _) => None,
    };
    match (event.prev_data, state.data) {
        (Some(prev_data), Some(last)) if prev_data != last => {
            Some(ResyncReason::PrevDataGap { last, prev_data })
        }
        (Some(_), Some(_)) => {
            if let Some(last) = since_differs {
                warnings.push(Warning::SinceMismatch {
                    last,
                    since: event.since.clone(),
                });
            }
            None
        }
        _ => since_differs.map(|last| ResyncReason::SinceGap {
            last,
            since: event.since.clone(),
        }),
    }
}

fn judge_identity(_event: &IdentityEvent, state: &RepoState) -> (Verdict, Option<RepoState>) {
    (Verdict::accept(), Some(state.clone()))
}

fn judge_account(event: &AccountEvent, state: &RepoState) -> (Verdict, Option<RepoState>) {
    let status = AccountStatus::from_event(event.active, event.status.as_deref());
    if status == state.status {
        return (Verdict::accept(), Some(state.clone()));
    }
    let new_state = RepoState {
        status: status.clone(),
        ..state.clone()
    };
    let verdict = Verdict::UpdateAccount {
        did: event.did.clone(),
        previous: state.status.clone(),
        status,
    };
    (verdict, Some(new_state))
}
