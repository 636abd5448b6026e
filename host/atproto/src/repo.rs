//! Whole repos: reading a repo CAR into verified records, and building repos (for tests and
//! the devnet) that write themselves out as CARs and firehose commit diffs.
//!
//! # Reading
//!
//! [`RepoReader::read`] consumes a CAR stream (`com.atproto.sync.getRepo`), checking every
//! block's hash and keeping the blocks in a [`BlockStore`] whose memory budget bounds what the
//! read holds (the rest spills to disk). It decodes the commit at the CAR's root; the caller may
//! then check its signature ([`Commit::verify_for`]) and iterate [`RepoReader::records`]: the
//! MST walked in key order, each record with its bytes. Duplicate blocks and blocks no path
//! reaches (old history) are tolerated.
//!
//! # Building
//!
//! [`Repo`] holds an account's records and MST, applies batches of writes as signed commits
//! ([`Repo::apply_writes`], returning the [`CommitDiff`] a firehose `#commit` carries, with the
//! sync 1.1 proof blocks), and writes the whole repo as a CAR in walk order: the commit, then each
//! MST node before its subtree, records in key order. (Readers must not rely on any order: the
//! real PDS exports among the fixtures are not in walk order and do not start with the commit.)
//! [`RepoBuilder`] loads many records and signs once.

// Errors name the CIDs involved (a CID is ~90 bytes); they are rare, so their size costs
// nothing on the success path, and boxing them would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use bytes::Bytes;
use cid::Cid;
use ipld_core::ipld::Ipld;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::blockstore::{BlockSource, BlockStore, BlockstoreError};
use crate::car::{CarError, CarReader, CarWriter};
use crate::commit::{Commit, CommitError};
use crate::crypto::Keypair;
use crate::data::{self, cid_for_dag_cbor};
use crate::mst::{Mst, MstError, MstWalker, TreeItem};
use crate::syntax::Tid;

/// Default memory budget of a repo read: 64 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 64 * 1024 * 1024;

/// Why a repo could not be read or built.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The CAR stream is malformed or a block does not match its CID.
    #[error(transparent)]
    Car(#[from] CarError),
    /// The block store failed.
    #[error(transparent)]
    Blockstore(#[from] BlockstoreError),
    /// The CAR's root (the commit) is not among its blocks.
    #[error("the commit block {0} (the CAR root) is not in the CAR")]
    MissingCommit(Cid),
    /// The commit is malformed or its signature or DID do not check.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// The MST is malformed or incomplete.
    #[error(transparent)]
    Mst(#[from] MstError),
    /// A record the MST points to is not in the CAR.
    #[error("record {key} ({cid}) is not in the CAR")]
    MissingRecord {
        /// The record path.
        key: String,
        /// The record CID the MST names.
        cid: Cid,
    },
    /// A record is not valid DAG-CBOR.
    #[error("record {key} ({cid}) is not valid DAG-CBOR: {reason}")]
    BadRecord {
        /// The record path.
        key: String,
        /// The record CID.
        cid: Cid,
        /// What is wrong.
        reason: String,
    },
    /// A write creates a record that exists.
    #[error("record {0} already exists")]
    RecordExists(String),
    /// A write updates or deletes a record that does not exist.
    #[error("record {0} does not exist")]
    RecordNotFound(String),
}

/// How a repo read uses memory.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Bytes of blocks kept in memory before spilling to disk.
    pub memory_budget: usize,
    /// Where the spill file goes (default: the system's temporary directory).
    pub spill_directory: Option<PathBuf>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            memory_budget: DEFAULT_MEMORY_BUDGET,
            spill_directory: None,
        }
    }
}

/// A repo read from a CAR: its commit, and its records on demand (see the module docs).
#[derive(Debug)]
pub struct RepoReader {
    store: BlockStore,
    commit_cid: Cid,
    commit: Commit,
    car_blocks: u64,
    car_block_bytes: u64,
}

impl RepoReader {
    /// Reads a whole repo CAR, checking every block, and decodes its commit.
    pub async fn read<R: AsyncRead + Unpin>(
        input: R,
        options: &ReadOptions,
    ) -> Result<Self, RepoError> {
        let mut car = CarReader::new(input).await?;
        // CarReader guarantees at least one root.
        let commit_cid = car.roots().first().copied().unwrap_or_default();
        let mut store = BlockStore::with_budget(options.memory_budget);
        if let Some(directory) = &options.spill_directory {
            store = store.spill_to(directory);
        }
        while let Some((cid, bytes)) = car.next_block().await? {
            store.insert(cid, bytes)?;
        }
        let commit_bytes = store
            .get(&commit_cid)?
            .ok_or(RepoError::MissingCommit(commit_cid))?;
        let commit = Commit::decode(&commit_bytes)?;
        tracing::debug!(
            did = %commit.did,
            blocks = car.blocks_read(),
            spilled = store.spilled_blocks(),
            "repo CAR read"
        );
        Ok(Self {
            store,
            commit_cid,
            commit,
            car_blocks: car.blocks_read(),
            car_block_bytes: car.block_bytes_read(),
        })
    }

    /// The commit.
    pub fn commit(&self) -> &Commit {
        &self.commit
    }

    /// The commit's CID (the CAR root).
    pub fn commit_cid(&self) -> Cid {
        self.commit_cid
    }

    /// Number of block entries in the CAR (duplicates included).
    pub fn car_blocks(&self) -> u64 {
        self.car_blocks
    }

    /// Total bytes of block payloads in the CAR.
    pub fn car_block_bytes(&self) -> u64 {
        self.car_block_bytes
    }

    /// Number of duplicate block entries in the CAR.
    pub fn duplicate_blocks(&self) -> u64 {
        self.store.duplicates()
    }

    /// The blocks of the CAR.
    pub fn store(&self) -> &BlockStore {
        &self.store
    }

    /// The records, walking the MST from the commit's `data` in key order.
    ///
    /// A record whose block is absent gives a [`RepoError::MissingRecord`] item, an absent MST
    /// node a [`MstError::MissingBlock`] item (naming the key range it covers), and the walk
    /// goes on past them; any other MST error (a malformed tree) is the last item.
    pub fn records(&self) -> Records<'_> {
        Records {
            walker: crate::mst::walk(self.commit.data, &self.store),
            store: &self.store,
        }
    }
}

/// A record of a repo: its path, CID and DAG-CBOR bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    path: String,
    slash: usize,
    /// The record's CID.
    pub cid: Cid,
    /// The record's DAG-CBOR bytes (checked against `cid`).
    pub bytes: Bytes,
}

impl Record {
    fn new(path: String, cid: Cid, bytes: Bytes) -> Self {
        // MST keys are checked to hold exactly one '/'.
        let slash = path.find('/').unwrap_or(path.len());
        Self {
            path,
            slash,
            cid,
            bytes,
        }
    }

    /// The full path, `collection/rkey`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The collection (an NSID).
    pub fn collection(&self) -> &str {
        self.path.get(..self.slash).unwrap_or_default()
    }

    /// The record key.
    pub fn rkey(&self) -> &str {
        self.path.get(self.slash + 1..).unwrap_or_default()
    }

    /// The record decoded as IPLD.
    pub fn to_ipld(&self) -> Result<Ipld, RepoError> {
        data::from_dag_cbor(&self.bytes).map_err(|e| self.bad(e))
    }

    /// The record as atproto JSON.
    pub fn to_json(&self) -> Result<serde_json::Value, RepoError> {
        Ok(data::ipld_to_json(&self.to_ipld()?))
    }

    /// The record's `$type`, if it has a string one.
    pub fn record_type(&self) -> Result<Option<String>, RepoError> {
        #[derive(serde::Deserialize)]
        struct Typed {
            #[serde(rename = "$type")]
            kind: Option<String>,
        }
        let typed: Typed = data::from_dag_cbor(&self.bytes).map_err(|e| self.bad(e))?;
        Ok(typed.kind)
    }

    fn bad(&self, error: data::DataError) -> RepoError {
        RepoError::BadRecord {
            key: self.path.clone(),
            cid: self.cid,
            reason: error.to_string(),
        }
    }
}

/// The records of a [`RepoReader`], in key order.
pub struct Records<'a> {
    walker: MstWalker<&'a BlockStore>,
    store: &'a BlockStore,
}

impl Records<'_> {
    /// Number of MST nodes read so far.
    pub fn nodes_read(&self) -> u64 {
        self.walker.nodes_read()
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, RepoError>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = match self.walker.next()? {
            Ok(entry) => entry,
            Err(error) => return Some(Err(error.into())),
        };
        Some(match self.store.get(&entry.value) {
            Ok(Some(bytes)) => Ok(Record::new(entry.key, entry.value, bytes)),
            Ok(None) => Err(RepoError::MissingRecord {
                key: entry.key,
                cid: entry.value,
            }),
            Err(error) => Err(error.into()),
        })
    }
}

// --- building -------------------------------------------------------------------------------

/// One write of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordWrite {
    /// Creates a record (it must not exist).
    Create {
        /// Record path, `collection/rkey`.
        path: String,
        /// The record's DAG-CBOR bytes.
        record: Bytes,
    },
    /// Replaces a record (it must exist).
    Update {
        /// Record path.
        path: String,
        /// The new DAG-CBOR bytes.
        record: Bytes,
    },
    /// Deletes a record (it must exist).
    Delete {
        /// Record path.
        path: String,
    },
}

impl RecordWrite {
    fn path(&self) -> &str {
        match self {
            Self::Create { path, .. } | Self::Update { path, .. } | Self::Delete { path } => path,
        }
    }
}

/// What an operation did, as a firehose `#commit` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpAction {
    /// A record was created.
    Create,
    /// A record was replaced.
    Update,
    /// A record was deleted.
    Delete,
}

/// One operation of a commit (`com.atproto.sync.subscribeRepos#repoOp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoOp {
    /// What happened.
    pub action: OpAction,
    /// Record path.
    pub path: String,
    /// The new record CID (`None` for deletes).
    pub cid: Option<Cid>,
    /// The previous record CID (`None` for creates).
    pub prev: Option<Cid>,
}

impl RepoOp {
    /// The same operation in the form [`crate::mst::invert_ops`] takes.
    pub fn to_mst_op(&self) -> Option<crate::mst::MstOp> {
        use crate::mst::MstOp;
        let key = self.path.clone();
        match (self.action, self.cid, self.prev) {
            (OpAction::Create, Some(cid), _) => Some(MstOp::Create { key, cid }),
            (OpAction::Update, Some(cid), Some(prev)) => Some(MstOp::Update { key, cid, prev }),
            (OpAction::Delete, _, Some(prev)) => Some(MstOp::Delete { key, prev }),
            _ => None,
        }
    }
}

/// A signed commit and everything a firehose `#commit` event for it carries.
#[derive(Debug, Clone)]
pub struct CommitDiff {
    /// The commit's CID.
    pub commit_cid: Cid,
    /// The commit.
    pub commit: Commit,
    /// The previous commit's rev (`since`), if there was one.
    pub since: Option<String>,
    /// The previous MST root (`prevData`), if there was a previous commit.
    pub prev_data: Option<Cid>,
    /// The operations, in the order applied.
    pub ops: Vec<RepoOp>,
    /// The blocks: the commit, the new MST nodes, the new records, and the nodes of each op's
    /// covering proof (so that the ops can be inverted from these blocks alone). No duplicates.
    pub blocks: Vec<(Cid, Bytes)>,
}

impl CommitDiff {
    /// The blocks as a CAR slice rooted at the commit (the `blocks` field of `#commit`).
    pub async fn to_car(&self) -> Result<Vec<u8>, CarError> {
        crate::car::write_car(
            Vec::new(),
            vec![self.commit_cid],
            self.blocks.iter().map(|(cid, bytes)| (*cid, bytes)),
        )
        .await
    }
}

#[derive(Debug, Clone)]
struct StoredRecord {
    bytes: Bytes,
    references: u32,
}

/// An account's repo held in memory, editable through signed commits (see the module docs).
#[derive(Debug)]
pub struct Repo {
    did: String,
    keypair: Keypair,
    tree: Mst,
    records: HashMap<Cid, StoredRecord>,
    head: Option<(Cid, Commit)>,
}

impl Repo {
    /// An empty repo with no commit yet (the first [`apply_writes`](Self::apply_writes) or
    /// [`commit`](Self::commit) makes one).
    pub fn new(did: impl Into<String>, keypair: Keypair) -> Self {
        Self {
            did: did.into(),
            keypair,
            tree: Mst::new(),
            records: HashMap::new(),
            head: None,
        }
    }

    /// The account.
    pub fn did(&self) -> &str {
        &self.did
    }

    /// The signing key.
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// The latest commit and its CID.
    pub fn head(&self) -> Option<(&Cid, &Commit)> {
        self.head.as_ref().map(|(cid, commit)| (cid, commit))
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.tree.len().unwrap_or(0)
    }

    /// A record's CID and bytes.
    pub fn get_record(&self, path: &str) -> Result<Option<(Cid, Bytes)>, RepoError> {
        let Some(cid) = self.tree.get(path)? else {
            return Ok(None);
        };
        Ok(self
            .records
            .get(&cid)
            .map(|stored| (cid, stored.bytes.clone())))
    }

    fn add_record(&mut self, bytes: Bytes) -> Cid {
        let cid = cid_for_dag_cbor(&bytes);
        self.records
            .entry(cid)
            .and_modify(|stored| stored.references += 1)
            .or_insert(StoredRecord {
                bytes,
                references: 1,
            });
        cid
    }

    fn release_record(&mut self, cid: &Cid) {
        if let Some(stored) = self.records.get_mut(cid) {
            stored.references = stored.references.saturating_sub(1);
            if stored.references == 0 {
                self.records.remove(cid);
            }
        }
    }

    /// Sets a record without committing (bulk loading; see [`RepoBuilder`]). Returns the
    /// previous CID.
    fn put_uncommitted(&mut self, path: &str, record: Bytes) -> Result<Option<Cid>, RepoError> {
        crate::mst::check_key(path.as_bytes())?;
        let cid = self.add_record(record);
        let previous = self.tree.insert(path, cid)?;
        if let Some(previous) = previous {
            self.release_record(&previous);
        }
        Ok(previous)
    }

    /// Checks a batch against the current records before anything changes.
    fn check_writes(&self, writes: &[RecordWrite]) -> Result<(), RepoError> {
        let mut exists: HashMap<&str, bool> = HashMap::new();
        for write in writes {
            let path = write.path();
            crate::mst::check_key(path.as_bytes())?;
            let present = match exists.get(path) {
                Some(present) => *present,
                None => self.tree.get(path)?.is_some(),
            };
            match write {
                RecordWrite::Create { .. } if present => {
                    return Err(RepoError::RecordExists(path.to_owned()));
                }
                RecordWrite::Update { .. } | RecordWrite::Delete { .. } if !present => {
                    return Err(RepoError::RecordNotFound(path.to_owned()));
                }
                _ => {}
            }
            exists.insert(path, !matches!(write, RecordWrite::Delete { .. }));
        }
        Ok(())
    }

    /// Applies a batch of writes and signs a commit for it. Nothing changes if a write does not
    /// fit (creating an existing record, updating or deleting an absent one, a bad path).
    pub fn apply_writes(&mut self, writes: &[RecordWrite]) -> Result<CommitDiff, RepoError> {
        self.check_writes(writes)?;
        let mut ops = Vec::with_capacity(writes.len());
        let mut record_blocks = Vec::new();
        for write in writes {
            match write {
                RecordWrite::Create { path, record } | RecordWrite::Update { path, record } => {
                    let previous = self.put_uncommitted(path, record.clone())?;
                    let cid = cid_for_dag_cbor(record);
                    record_blocks.push((cid, record.clone()));
                    ops.push(RepoOp {
                        action: if previous.is_some() {
                            OpAction::Update
                        } else {
                            OpAction::Create
                        },
                        path: path.clone(),
                        cid: Some(cid),
                        prev: previous,
                    });
                }
                RecordWrite::Delete { path } => {
                    let previous = self.tree.remove(path)?;
                    if let Some(previous) = previous {
                        self.release_record(&previous);
                    }
                    ops.push(RepoOp {
                        action: OpAction::Delete,
                        path: path.clone(),
                        cid: None,
                        prev: previous,
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
        let since = self.head.as_ref().and_then(|(_, c)| c.rev.clone());
        let prev_data = self.head.as_ref().map(|(_, c)| c.data);
        let (commit_cid, commit, commit_bytes) = self.sign_commit(data);

        let mut seen = HashSet::new();
        let mut blocks = Vec::with_capacity(1 + node_blocks.len() + record_blocks.len());
        let all = std::iter::once((commit_cid, commit_bytes))
            .chain(node_blocks)
            .chain(record_blocks)
            .chain(proof);
        for (cid, bytes) in all {
            if seen.insert(cid) {
                blocks.push((cid, bytes));
            }
        }
        Ok(CommitDiff {
            commit_cid,
            commit,
            since,
            prev_data,
            ops,
            blocks,
        })
    }

    /// Signs a commit of the current records with no write (for instance after bulk loading).
    pub fn commit(&mut self) -> (Cid, Commit) {
        let data = self.tree.root_cid();
        let (cid, commit, _) = self.sign_commit(data);
        (cid, commit)
    }

    fn next_rev(&self) -> String {
        let now = Tid::now();
        let previous = self
            .head
            .as_ref()
            .and_then(|(_, c)| c.rev.as_deref())
            .and_then(|rev| Tid::parse(rev).ok());
        match previous {
            Some(previous) if previous >= now => Tid::from_integer(previous.to_integer() + 1)
                .as_str()
                .to_owned(),
            _ => now.as_str().to_owned(),
        }
    }

    fn sign_commit(&mut self, data: Cid) -> (Cid, Commit, Bytes) {
        let mut commit = Commit::new(self.did.clone(), data, self.next_rev(), None);
        commit.sign(&self.keypair);
        let (cid, bytes) = commit.to_block();
        self.head = Some((cid, commit.clone()));
        (cid, commit, bytes)
    }

    /// Writes the whole repo as a CAR: the commit (made now if there is none), then MST nodes
    /// and records in walk order (each block once).
    pub async fn write_car<W: AsyncWrite + Send + Unpin>(
        &mut self,
        output: W,
    ) -> Result<W, RepoError> {
        let (commit_cid, commit) = match &self.head {
            Some(head) => head.clone(),
            None => self.commit(),
        };
        let items = self.tree.walk_blocks()?;
        let mut car = CarWriter::new(output, vec![commit_cid]);
        car.write_block(&commit_cid, &commit.encode()).await?;
        let mut shared_written = HashSet::new();
        for item in items {
            match item {
                TreeItem::Node { cid, bytes } => car.write_block(&cid, &bytes).await?,
                TreeItem::Leaf { key, value } => {
                    let Some(stored) = self.records.get(&value) else {
                        return Err(RepoError::MissingRecord {
                            key: key.into(),
                            cid: value,
                        });
                    };
                    // A record block shared by several paths is written once.
                    if stored.references > 1 && !shared_written.insert(value) {
                        continue;
                    }
                    car.write_block(&value, &stored.bytes).await?;
                }
            }
        }
        Ok(car.finish().await?)
    }
}

impl BlockSource for Repo {
    fn get_block(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        Ok(self.records.get(cid).map(|stored| stored.bytes.clone()))
    }
}

/// Loads many records into a new repo, then signs one commit.
#[derive(Debug)]
pub struct RepoBuilder {
    repo: Repo,
}

impl RepoBuilder {
    /// Starts an empty repo for `did`, signed with `keypair`.
    pub fn new(did: impl Into<String>, keypair: Keypair) -> Self {
        Self {
            repo: Repo::new(did, keypair),
        }
    }

    /// Sets the record at `collection/rkey` (DAG-CBOR bytes); a later put replaces it.
    pub fn put(&mut self, collection: &str, rkey: &str, record: Bytes) -> Result<(), RepoError> {
        let path = format!("{collection}/{rkey}");
        self.repo.put_uncommitted(&path, record)?;
        Ok(())
    }

    /// Number of records so far.
    pub fn record_count(&self) -> usize {
        self.repo.record_count()
    }

    /// Signs the first commit and returns the repo.
    pub fn build(mut self) -> Repo {
        self.repo.commit();
        self.repo
    }
}

/// Encodes a record value (anything serialisable, e.g. [`Ipld`]) as DAG-CBOR for a write.
pub fn encode_record<T: serde::Serialize + ?Sized>(value: &T) -> Result<Bytes, data::DataError> {
    data::to_dag_cbor(value).map(Bytes::from)
}

#[cfg(test)]
mod tests;
