//! Repos: a repo's records at a point of its history, its signed commit and MST, its CAR, and
//! the commits that edit it.
//!
//! Commits are deterministic: a commit's `rev` is the TID of the time its plan gives it (never
//! the clock), and signatures are deterministic (RFC 6979), so the commit a `getRepo` serves is
//! byte for byte the last `#commit` the firehose carried for that repo.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use cid::Cid;
use sluice_atproto::commit::Commit;
use sluice_atproto::crypto::Keypair;
use sluice_atproto::mst::{Mst, TreeItem};
use sluice_atproto::repo::{OpAction, RepoOp};

use crate::car;
use crate::content::{Generated, Generator};
use crate::error::DevnetError;
use crate::model::Model;
use crate::plan::{PlanEvent, PlannedWrite};
use crate::slots::{Fate, RecordId};

/// A record present in a repo: which record, at which version, created when (µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Present {
    /// The record.
    pub id: RecordId,
    /// Its version (0 as created).
    pub version: u32,
    /// Its creation time.
    pub micros: u64,
}

/// The records of a repo at the end of its history, in slot order.
pub fn end_of_history(model: &Model, repo: u32) -> Vec<Present> {
    let Some(info) = model.repo(repo) else {
        return Vec::new();
    };
    let mut present = Vec::new();
    for slot in 0..info.slots {
        let plan = model.slot(repo, slot);
        let micros = model.slot_micros(repo, slot);
        for sub in 0..plan.record_count() {
            let version = match (sub, plan.fate) {
                (0, Fate::Deleted { .. }) => continue,
                (0, Fate::Updated { .. }) => 1,
                _ => 0,
            };
            present.push(Present {
                id: RecordId::new(repo, slot, sub),
                version,
                micros,
            });
        }
    }
    present
}

/// The records of a repo after the first `position` events of its history.
pub fn at_position(model: &Model, repo: u32, position: u64) -> Vec<Present> {
    let Some(plan) = model.plan(repo) else {
        return Vec::new();
    };
    let mut present: BTreeMap<RecordId, u32> = BTreeMap::new();
    for (_, event) in plan.take(usize::try_from(position).unwrap_or(usize::MAX)) {
        if let PlanEvent::Commit { writes } = event {
            for write in writes {
                match write {
                    PlannedWrite::Create(id) => present.insert(id, 0),
                    PlannedWrite::Update(id) => present.insert(id, 1),
                    PlannedWrite::Delete(id) => present.remove(&id),
                };
            }
        }
    }
    present
        .into_iter()
        .map(|(id, version)| Present {
            id,
            version,
            micros: model.slot_micros(repo, id.slot),
        })
        .collect()
}

/// A signed commit: its CID, value and block bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCommit {
    /// The commit's CID.
    pub cid: Cid,
    /// The commit.
    pub commit: Commit,
    /// Its DAG-CBOR block.
    pub bytes: Bytes,
}

impl SignedCommit {
    /// Signs a version 3 commit of `data` at `rev`.
    pub fn sign(did: &str, data: Cid, rev: &str, keypair: &Keypair) -> Self {
        let mut commit = Commit::new(did, data, rev, None);
        commit.sign(keypair);
        let (cid, bytes) = commit.to_block();
        Self { cid, commit, bytes }
    }

    /// The revision.
    pub fn rev(&self) -> &str {
        self.commit.rev.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
struct Entry {
    path: String,
    cid: Cid,
    present: Present,
    /// The same block was written for an earlier path (identical records).
    duplicate: bool,
}

/// A repo at one point: its records, MST and signed commit (see the module docs).
#[derive(Debug)]
pub struct Snapshot {
    tree: Mst,
    entries: Vec<Entry>,
    commit: SignedCommit,
}

impl Snapshot {
    /// Builds the snapshot of `records` committed at `rev`.
    pub fn build(
        generator: &Generator<'_>,
        repo: u32,
        records: &[Present],
        rev: &str,
    ) -> Result<Self, DevnetError> {
        let account = generator
            .model()
            .account(repo)
            .ok_or_else(|| DevnetError::NoSuchRepo(repo.to_string()))?;
        let mut entries = Vec::with_capacity(records.len());
        for present in records {
            let record = generator.record_at(present.id, present.version, present.micros)?;
            entries.push(Entry {
                path: record.path,
                cid: record.cid,
                present: *present,
                duplicate: false,
            });
        }
        entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        let mut seen = HashSet::with_capacity(entries.len());
        for entry in &mut entries {
            entry.duplicate = !seen.insert(entry.cid);
        }
        let mut tree = Mst::from_entries(entries.iter().map(|e| (e.path.clone(), e.cid)))?;
        let data = tree.root_cid();
        let commit = SignedCommit::sign(&account.did, data, rev, &account.keypair);
        Ok(Self {
            tree,
            entries,
            commit,
        })
    }

    /// The repo at the end of its history.
    pub fn end_of_history(generator: &Generator<'_>, repo: u32) -> Result<Self, DevnetError> {
        let model = generator.model();
        let info = model
            .repo(repo)
            .ok_or_else(|| DevnetError::NoSuchRepo(repo.to_string()))?;
        let rev = match info.last_commit {
            Some(time) => model.rev_at(repo, model.plan_micros(repo, time)),
            None => model.rev_at(repo, info.created_micros),
        };
        Self::build(generator, repo, &end_of_history(model, repo), &rev)
    }

    /// The signed commit.
    pub fn commit(&self) -> &SignedCommit {
        &self.commit
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.entries.len()
    }

    /// The records' paths and CIDs, in key order.
    pub fn records(&self) -> impl Iterator<Item = (&str, &Cid)> {
        self.entries.iter().map(|e| (e.path.as_str(), &e.cid))
    }

    /// Writes the repo as a CAR, as PDSes do: the commit, then MST nodes and records in walk
    /// order, each block once. Bytes go to `sink` in chunks of about `chunk_size`; `sink` returns
    /// `false` to stop early (the reader went away). Returns the bytes written.
    pub fn write_car(
        &mut self,
        generator: &Generator<'_>,
        chunk_size: usize,
        sink: &mut dyn FnMut(Bytes) -> bool,
    ) -> Result<u64, DevnetError> {
        let mut buffer = car::header(&self.commit.cid);
        car::block(&mut buffer, &self.commit.cid, &self.commit.bytes);
        let mut written = 0u64;
        let mut leaves = self.entries.iter();
        for item in self.tree.walk_blocks()? {
            match item {
                TreeItem::Node { cid, bytes } => car::block(&mut buffer, &cid, &bytes),
                TreeItem::Leaf { value, .. } => {
                    // Leaves come in key order, as the entries are sorted.
                    let Some(entry) = leaves.next() else { break };
                    if entry.duplicate {
                        continue;
                    }
                    let present = entry.present;
                    let record =
                        generator.record_at(present.id, present.version, present.micros)?;
                    debug_assert_eq!(record.cid, value);
                    car::block(&mut buffer, &record.cid, &record.bytes);
                }
            }
            if buffer.len() >= chunk_size {
                written += buffer.len() as u64;
                if !sink(Bytes::from(std::mem::take(&mut buffer))) {
                    return Ok(written);
                }
                buffer.reserve(chunk_size + 1024);
            }
        }
        written += buffer.len() as u64;
        sink(Bytes::from(buffer));
        Ok(written)
    }

    /// The whole CAR in memory (tests and small repos).
    pub fn to_car(&mut self, generator: &Generator<'_>) -> Result<Vec<u8>, DevnetError> {
        let mut out = Vec::new();
        self.write_car(generator, 1 << 20, &mut |chunk| {
            out.extend_from_slice(&chunk);
            true
        })?;
        Ok(out)
    }

    /// Turns the snapshot into an editable repo (for the commits that follow).
    pub fn into_head(mut self) -> RepoHead {
        // Flush the node blocks of the initial build: later commits carry only their own.
        self.tree.write_blocks(|_, _| {});
        RepoHead {
            tree: self.tree,
            commit: Some(self.commit),
        }
    }
}

/// A write resolved to a path and (for creates and updates) the record's block.
#[derive(Debug, Clone)]
pub struct ResolvedWrite {
    /// The record path.
    pub path: String,
    /// The new record, or `None` to delete.
    pub record: Option<(Cid, Bytes)>,
}

impl ResolvedWrite {
    /// A create or update of a generated record.
    pub fn put(record: Generated) -> Self {
        Self {
            path: record.path,
            record: Some((record.cid, record.bytes)),
        }
    }

    /// A delete.
    pub fn delete(path: String) -> Self {
        Self { path, record: None }
    }
}

/// Everything a `#commit` carries about one commit.
#[derive(Debug, Clone)]
pub struct CommitData {
    /// The signed commit.
    pub commit: SignedCommit,
    /// The previous revision (`None` for the first commit).
    pub since: Option<String>,
    /// The previous MST root (sync 1.1 `prevData`).
    pub prev_data: Option<Cid>,
    /// The operations.
    pub ops: Vec<RepoOp>,
    /// The blocks: the commit, new MST nodes, new records and the covering proofs, once each.
    pub blocks: Vec<(Cid, Bytes)>,
}

impl CommitData {
    /// The blocks as a CAR slice rooted at the commit.
    pub fn car_slice(&self) -> Vec<u8> {
        car::car(
            &self.commit.cid,
            self.blocks.iter().map(|(cid, bytes)| (cid, bytes.as_ref())),
        )
    }
}

/// A repo being edited commit by commit: its tree and its head commit.
#[derive(Debug)]
pub struct RepoHead {
    tree: Mst,
    commit: Option<SignedCommit>,
}

impl RepoHead {
    /// An empty repo (no commit yet).
    pub fn empty() -> Self {
        Self {
            tree: Mst::new(),
            commit: None,
        }
    }

    /// The head commit.
    pub fn commit(&self) -> Option<&SignedCommit> {
        self.commit.as_ref()
    }

    /// The current MST root.
    pub fn data(&mut self) -> Cid {
        self.tree.root_cid()
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.tree.len().unwrap_or(0)
    }

    /// The CID at a path.
    pub fn get(&self, path: &str) -> Result<Option<Cid>, DevnetError> {
        Ok(self.tree.get(path)?)
    }

    /// Commits the current tree with no write (the empty repo's first commit).
    pub fn sign_current(&mut self, did: &str, rev: &str, keypair: &Keypair) -> &SignedCommit {
        let data = self.tree.write_blocks(|_, _| {});
        self.commit
            .insert(SignedCommit::sign(did, data, rev, keypair))
    }

    /// Applies `writes` and signs a commit at `rev`. A delete of an absent path and a create of a
    /// present one are recorded as what they did (nothing, an update).
    pub fn apply(
        &mut self,
        did: &str,
        rev: &str,
        keypair: &Keypair,
        writes: Vec<ResolvedWrite>,
    ) -> Result<CommitData, DevnetError> {
        let since = self.commit.as_ref().map(|c| c.rev().to_owned());
        let prev_data = self.commit.as_ref().map(|c| c.commit.data);
        let mut ops = Vec::with_capacity(writes.len());
        let mut record_blocks = Vec::new();
        for write in writes {
            match write.record {
                Some((cid, bytes)) => {
                    let prev = self.tree.insert(&write.path, cid)?;
                    record_blocks.push((cid, bytes));
                    ops.push(RepoOp {
                        action: if prev.is_some() {
                            OpAction::Update
                        } else {
                            OpAction::Create
                        },
                        path: write.path,
                        cid: Some(cid),
                        prev,
                    });
                }
                None => {
                    let prev = self.tree.remove(&write.path)?;
                    ops.push(RepoOp {
                        action: OpAction::Delete,
                        path: write.path,
                        cid: None,
                        prev,
                    });
                }
            }
        }
        let mut node_blocks = Vec::new();
        let data = self
            .tree
            .write_blocks(|cid, bytes| node_blocks.push((cid, bytes)));
        let mut proof = Vec::new();
        for op in &ops {
            self.tree.covering_proof(&op.path, &mut proof)?;
        }
        let commit = SignedCommit::sign(did, data, rev, keypair);
        let mut seen = HashSet::new();
        let mut blocks = Vec::with_capacity(1 + node_blocks.len() + record_blocks.len());
        let all = std::iter::once((commit.cid, commit.bytes.clone()))
            .chain(node_blocks)
            .chain(record_blocks)
            .chain(proof);
        for (cid, bytes) in all {
            if seen.insert(cid) {
                blocks.push((cid, bytes));
            }
        }
        self.commit = Some(commit.clone());
        Ok(CommitData {
            commit,
            since,
            prev_data,
            ops,
            blocks,
        })
    }
}

#[cfg(test)]
mod tests;
