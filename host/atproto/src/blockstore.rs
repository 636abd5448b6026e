//! Block storage by CID with a memory budget that spills to disk.
//!
//! A repo is read by first collecting its blocks (CAR files are in no guaranteed order) and then
//! walking the MST. Most repos are small and stay in memory; a large one must not grow the
//! process without bound, so [`BlockStore`] keeps blocks in memory up to a budget and writes the
//! rest to a temporary on-disk table.
//!
//! # Why redb for the spill
//!
//! The spill has to keep two things on disk: the blocks *and* the index from CID to block (an
//! in-memory index alone would grow with the repo: ~60 bytes per block, ~60 MB for a million
//! blocks). [`redb`] is a pure-Rust embedded B-tree store with a page cache of bounded size, so
//! it gives both at once with no C toolchain and no hand-written file format. It runs on an
//! anonymous temporary file (unlinked at creation, gone when the store is dropped), with
//! non-durable commits: nothing is fsynced, it is scratch space. Inserts are batched, one write
//! transaction per batch.
//!
//! # Memory
//!
//! With a budget of `B` bytes: blocks kept in memory (payload plus a fixed per-block overhead)
//! use at most ⅝·B, the batch waiting to be written to disk at most ⅛·B, and redb's page cache
//! ¼·B (at least 1 MiB). Reads from the spill are blocking file reads (mostly from the OS page
//! cache); callers on an async runtime with very large repos may walk in `spawn_blocking`.

// Errors name the CIDs involved (a CID is ~90 bytes); they are rare, so their size costs
// nothing on the success path, and boxing them would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;

use bytes::Bytes;
use cid::Cid;
use redb::{ReadableDatabase as _, TableDefinition};

use crate::data::SHA2_256;

/// Bytes charged per block on top of its payload (map slot, key, handle).
const PER_BLOCK_OVERHEAD: usize = 96;
/// Smallest page cache given to redb.
const MIN_SPILL_CACHE: usize = 1024 * 1024;
/// The one table of the spill database: CID bytes → block bytes.
const SPILL_TABLE: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("blocks");

/// Why a block could not be stored or fetched.
#[derive(Debug, thiserror::Error)]
pub enum BlockstoreError {
    /// Only sha2-256 CIDs are stored (the only hash atproto uses).
    #[error("block {0} is not named by a sha2-256 CID")]
    UnsupportedCid(Cid),
    /// The on-disk spill failed.
    #[error("block spill to disk failed: {0}")]
    Spill(String),
}

impl From<redb::Error> for BlockstoreError {
    fn from(error: redb::Error) -> Self {
        Self::Spill(error.to_string())
    }
}

fn spill_error(error: impl Into<redb::Error>) -> BlockstoreError {
    BlockstoreError::from(error.into())
}

/// Something blocks can be fetched from by CID.
pub trait BlockSource {
    /// The block's bytes, or `None` when it is not here.
    fn get_block(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError>;
}

impl<T: BlockSource + ?Sized> BlockSource for &T {
    fn get_block(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        (**self).get_block(cid)
    }
}

impl<S: std::hash::BuildHasher> BlockSource for HashMap<Cid, Bytes, S> {
    fn get_block(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        Ok(self.get(cid).cloned())
    }
}

impl BlockSource for std::collections::BTreeMap<Cid, Bytes> {
    fn get_block(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        Ok(self.get(cid).cloned())
    }
}

/// A hasher for sha-256 digests: they are uniformly random already, so eight of their bytes
/// are a perfect hash.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

type Digest = [u8; 32];
type DigestMap<V> = HashMap<Digest, V, BuildHasherDefault<DigestHasher>>;

#[derive(Debug, Clone)]
struct MemoryBlock {
    codec: u64,
    bytes: Bytes,
}

fn digest_of(cid: &Cid) -> Result<Digest, BlockstoreError> {
    let hash = cid.hash();
    if hash.code() != SHA2_256 {
        return Err(BlockstoreError::UnsupportedCid(*cid));
    }
    hash.digest()
        .try_into()
        .map_err(|_| BlockstoreError::UnsupportedCid(*cid))
}

fn cost(bytes: &Bytes) -> usize {
    bytes.len() + PER_BLOCK_OVERHEAD
}

/// The on-disk part of a [`BlockStore`].
struct Spill {
    database: redb::Database,
    /// A read view of everything flushed so far (refreshed after each flush).
    reader: Option<redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
    /// Blocks waiting for the next write transaction.
    pending: DigestMap<MemoryBlock>,
    pending_bytes: usize,
    /// Number of blocks on disk.
    stored: u64,
    /// Blocks found already on disk when a batch was written.
    duplicates: u64,
}

impl Spill {
    fn open(directory: Option<&PathBuf>, cache_bytes: usize) -> Result<Self, BlockstoreError> {
        let file = match directory {
            Some(directory) => tempfile::tempfile_in(directory),
            None => tempfile::tempfile(),
        }
        .map_err(|e| BlockstoreError::Spill(format!("creating the spill file: {e}")))?;
        let database = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create_with_backend(redb::backends::FileBackend::new(file).map_err(spill_error)?)
            .map_err(spill_error)?;
        tracing::debug!(cache_bytes, "block store spilling to disk");
        Ok(Self {
            database,
            reader: None,
            pending: DigestMap::default(),
            pending_bytes: 0,
            stored: 0,
            duplicates: 0,
        })
    }

    fn get(&self, cid: &Cid, digest: &Digest) -> Result<Option<Bytes>, BlockstoreError> {
        if let Some(block) = self.pending.get(digest) {
            return Ok((block.codec == cid.codec()).then(|| block.bytes.clone()));
        }
        let Some(reader) = &self.reader else {
            return Ok(None);
        };
        let key = cid.to_bytes();
        let found = reader.get(key.as_slice()).map_err(spill_error)?;
        Ok(found.map(|guard| Bytes::copy_from_slice(guard.value())))
    }

    fn flush(&mut self) -> Result<(), BlockstoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // The read view must not outlive the data it was opened on being rewritten.
        self.reader = None;
        let mut transaction = self.database.begin_write().map_err(spill_error)?;
        transaction
            .set_durability(redb::Durability::None)
            .map_err(|e| BlockstoreError::Spill(e.to_string()))?;
        {
            // Sorted keys make the B-tree inserts of a batch sweep the tree once, in order.
            let mut batch = Vec::with_capacity(self.pending.len());
            for (digest, block) in self.pending.drain() {
                let hash = multihash::Multihash::<64>::wrap(SHA2_256, &digest)
                    .map_err(|e| BlockstoreError::Spill(e.to_string()))?;
                batch.push((Cid::new_v1(block.codec, hash).to_bytes(), block.bytes));
            }
            batch.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let mut table = transaction.open_table(SPILL_TABLE).map_err(spill_error)?;
            for (key, bytes) in &batch {
                let previous = table
                    .insert(key.as_slice(), bytes.as_ref())
                    .map_err(spill_error)?;
                if previous.is_none() {
                    self.stored += 1;
                } else {
                    self.duplicates += 1;
                }
            }
        }
        transaction.commit().map_err(spill_error)?;
        self.pending_bytes = 0;
        let read = self.database.begin_read().map_err(spill_error)?;
        self.reader = Some(read.open_table(SPILL_TABLE).map_err(spill_error)?);
        Ok(())
    }
}

impl std::fmt::Debug for Spill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spill")
            .field("stored", &self.stored)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// A map from CID to block bytes, in memory up to a budget and on disk beyond it.
///
/// Only sha2-256 CIDs are accepted. The store does not check that the bytes match the CID:
/// its callers ([`crate::car::CarReader`], the MST builder) already have.
#[derive(Debug)]
pub struct BlockStore {
    memory: DigestMap<MemoryBlock>,
    memory_bytes: usize,
    memory_limit: usize,
    pending_limit: usize,
    spill_cache: usize,
    spill_directory: Option<PathBuf>,
    spill: Option<Spill>,
    duplicates: u64,
}

impl Default for BlockStore {
    fn default() -> Self {
        Self::unbounded()
    }
}

impl BlockStore {
    /// A store that keeps about `budget` bytes in memory and spills the rest to a temporary
    /// file in the system's temporary directory.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            memory: DigestMap::default(),
            memory_bytes: 0,
            memory_limit: budget / 8 * 5,
            pending_limit: budget / 8,
            spill_cache: (budget / 4).max(MIN_SPILL_CACHE),
            spill_directory: None,
            spill: None,
            duplicates: 0,
        }
    }

    /// A store that never spills (for small, trusted inputs such as a commit's blocks).
    pub fn unbounded() -> Self {
        let mut store = Self::with_budget(usize::MAX);
        store.memory_limit = usize::MAX;
        store
    }

    /// Puts the spill file in `directory` instead of the system's temporary directory.
    pub fn spill_to(mut self, directory: impl Into<PathBuf>) -> Self {
        self.spill_directory = Some(directory.into());
        self
    }

    /// Adds a block; returns `false` when the CID is already in memory or waiting to be
    /// written. (A duplicate of a block already on disk returns `true` and is counted in
    /// [`duplicates`](Self::duplicates) when its batch is written.)
    pub fn insert(&mut self, cid: Cid, bytes: Bytes) -> Result<bool, BlockstoreError> {
        let digest = digest_of(&cid)?;
        // Duplicates already written to disk are only noticed when the batch is written (a
        // lookup per insert would cost a random disk read): they count in `duplicates` then.
        let pending = self.spill.as_ref().map(|spill| &spill.pending);
        if self.memory.contains_key(&digest) || pending.is_some_and(|p| p.contains_key(&digest)) {
            self.duplicates += 1;
            return Ok(false);
        }
        let codec = cid.codec();
        let block_cost = cost(&bytes);
        if self.spill.is_none() && self.memory_bytes.saturating_add(block_cost) <= self.memory_limit
        {
            self.memory_bytes += block_cost;
            self.memory.insert(digest, MemoryBlock { codec, bytes });
            return Ok(true);
        }
        if self.spill.is_none() {
            self.spill = Some(Spill::open(
                self.spill_directory.as_ref(),
                self.spill_cache,
            )?);
        }
        let Some(spill) = self.spill.as_mut() else {
            return Err(BlockstoreError::Spill("the spill is not open".to_owned()));
        };
        spill.pending_bytes += block_cost;
        spill.pending.insert(digest, MemoryBlock { codec, bytes });
        if spill.pending_bytes > self.pending_limit {
            spill.flush()?;
        }
        Ok(true)
    }

    /// The block's bytes, or `None` when it is not here.
    pub fn get(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        let Ok(digest) = digest_of(cid) else {
            return Ok(None);
        };
        if let Some(block) = self.memory.get(&digest) {
            return Ok((block.codec == cid.codec()).then(|| block.bytes.clone()));
        }
        match &self.spill {
            Some(spill) => spill.get(cid, &digest),
            None => Ok(None),
        }
    }

    /// Whether the block is here.
    pub fn contains(&self, cid: &Cid) -> Result<bool, BlockstoreError> {
        Ok(self.get(cid)?.is_some())
    }

    /// Number of distinct blocks held.
    pub fn len(&self) -> u64 {
        let spilled = self
            .spill
            .as_ref()
            .map_or(0, |spill| spill.stored + spill.pending.len() as u64);
        self.memory.len() as u64 + spilled
    }

    /// Whether the store holds no block.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of insertions of a block that was already here (the first copy is kept in
    /// memory; a spilled block is replaced by an identical copy).
    pub fn duplicates(&self) -> u64 {
        self.duplicates + self.spill.as_ref().map_or(0, |spill| spill.duplicates)
    }

    /// Number of blocks written (or waiting to be written) to disk.
    pub fn spilled_blocks(&self) -> u64 {
        self.spill
            .as_ref()
            .map_or(0, |spill| spill.stored + spill.pending.len() as u64)
    }

    /// Bytes charged against the budget by blocks held in memory (spill batch included).
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes + self.spill.as_ref().map_or(0, |spill| spill.pending_bytes)
    }
}

impl BlockSource for BlockStore {
    fn get_block(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        self.get(cid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{cid_for_dag_cbor, cid_for_raw, to_dag_cbor};

    fn block(i: u32) -> (Cid, Bytes) {
        let bytes = to_dag_cbor(&format!("block number {i} {}", "x".repeat(200))).unwrap();
        (cid_for_dag_cbor(&bytes), Bytes::from(bytes))
    }

    #[test]
    fn small_stores_stay_in_memory() {
        let mut store = BlockStore::with_budget(1 << 20);
        for i in 0..100 {
            let (cid, bytes) = block(i);
            assert!(store.insert(cid, bytes).unwrap());
        }
        assert_eq!(store.len(), 100);
        assert_eq!(store.spilled_blocks(), 0);
        let (cid, bytes) = block(7);
        assert_eq!(store.get(&cid).unwrap(), Some(bytes));
    }

    #[test]
    fn over_budget_blocks_spill_and_stay_readable() {
        let budget = 64 * 1024;
        let mut store = BlockStore::with_budget(budget);
        let count = 5_000;
        for i in 0..count {
            let (cid, bytes) = block(i);
            assert!(store.insert(cid, bytes).unwrap());
            assert!(store.memory_bytes() <= budget, "memory over budget at {i}");
        }
        assert_eq!(store.len(), u64::from(count));
        assert!(store.spilled_blocks() > u64::from(count) / 2);
        for i in (0..count).step_by(37) {
            let (cid, bytes) = block(i);
            assert_eq!(store.get(&cid).unwrap(), Some(bytes), "block {i}");
        }
        // Duplicates are noticed in memory and in the pending batch at once, on disk when
        // their batch is written; none adds a block.
        let (cid, bytes) = block(0);
        assert!(!store.insert(cid, bytes).unwrap());
        for i in [count / 2, count - 1] {
            let (cid, bytes) = block(i);
            store.insert(cid, bytes).unwrap();
        }
        store.spill.as_mut().unwrap().flush().unwrap();
        assert_eq!(store.duplicates(), 3);
        assert_eq!(store.len(), u64::from(count));
        let (cid, bytes) = block(count - 1);
        assert_eq!(store.get(&cid).unwrap(), Some(bytes));
    }

    #[test]
    fn the_codec_is_part_of_the_name() {
        let mut store = BlockStore::unbounded();
        let bytes = Bytes::from_static(b"\xa0");
        let cid = cid_for_dag_cbor(&bytes);
        store.insert(cid, bytes.clone()).unwrap();
        assert!(store.get(&cid_for_raw(&bytes)).unwrap().is_none());
        assert!(store.contains(&cid).unwrap());
    }

    #[test]
    fn other_hashes_are_refused() {
        let hash = multihash::Multihash::<64>::wrap(0x13, &[0u8; 64]).unwrap();
        let cid = Cid::new_v1(0x71, hash);
        let mut store = BlockStore::unbounded();
        assert!(matches!(
            store.insert(cid, Bytes::new()),
            Err(BlockstoreError::UnsupportedCid(_))
        ));
        assert!(store.get(&cid).unwrap().is_none());
    }
}
