//! CAR v1 files: a streaming reader that checks every block against its CID, and a writer.
//!
//! Repos (`com.atproto.sync.getRepo`) and firehose `#commit` events carry their blocks as a CAR
//! v1 stream: a DAG-CBOR header `{roots, version: 1}` followed by length-prefixed
//! `CID ‖ bytes` sections. Framing is done by [`iroh_car`]; this module adds what atproto needs on
//! top: every block's bytes are hashed and compared with its CID (sha2-256 only), and errors name
//! the block (its position in the file and its CID).
//!
//! The reader is streaming: it holds one block at a time, never the whole file. Duplicate blocks
//! and blocks that nothing references are passed through as they come; deciding what to keep is
//! the caller's business (see [`crate::blockstore`]).

// Errors name the CIDs involved (a CID is ~90 bytes); they are rare, so their size costs
// nothing on the success path, and boxing them would only add noise.
#![allow(clippy::result_large_err)]

use bytes::Bytes;
use cid::Cid;
use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

use crate::data::{self, DataError};

/// Size of the read buffer put in front of the input (iroh-car reads varints byte by byte).
const READ_BUFFER: usize = 64 * 1024;
/// Size of the write buffer put in front of the output.
const WRITE_BUFFER: usize = 64 * 1024;

/// Why a CAR stream could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CarError {
    /// The header is missing or is not a CAR v1 header with at least one root.
    #[error("invalid CAR header: {0}")]
    Header(String),
    /// A block section is malformed (bad length prefix, bad CID, cut short, too large).
    #[error("CAR block #{index}: {reason}")]
    Block {
        /// Position of the block in the file (0 = the first block after the header).
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// A block names a hash function other than sha2-256.
    #[error("CAR block #{index} ({cid}) uses hash function 0x{code:x}; only sha2-256 is accepted")]
    UnsupportedHash {
        /// Position of the block in the file.
        index: u64,
        /// The block's CID.
        cid: Cid,
        /// Its multihash code.
        code: u64,
    },
    /// A block's bytes do not hash to its CID.
    #[error("CAR block #{index} ({cid}) does not match its CID: the bytes hash to {computed}")]
    HashMismatch {
        /// Position of the block in the file.
        index: u64,
        /// The CID the block claimed.
        cid: Cid,
        /// The CID its bytes really have.
        computed: Cid,
    },
    /// Reading or writing the underlying stream failed.
    #[error("CAR I/O error: {0}")]
    Io(#[from] std::io::Error),
}

fn describe(error: iroh_car::Error) -> String {
    match error {
        iroh_car::Error::LdReadTooLarge(len) => {
            format!("section of {len} bytes is larger than the 4 MiB limit")
        }
        other => other.to_string(),
    }
}

/// A streaming CAR v1 reader that verifies every block.
///
/// ```no_run
/// # async fn example(file: tokio::fs::File) -> Result<(), sluice_atproto::car::CarError> {
/// let mut car = sluice_atproto::car::CarReader::new(file).await?;
/// let root = car.roots()[0];
/// while let Some((cid, bytes)) = car.next_block().await? {
///     // `bytes` hash to `cid`.
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CarReader<R> {
    inner: iroh_car::CarReader<BufReader<R>>,
    next_index: u64,
    bytes_read: u64,
}

impl<R: AsyncRead + Unpin> CarReader<R> {
    /// Reads and checks the header. The input gets a read buffer of its own.
    pub async fn new(reader: R) -> Result<Self, CarError> {
        let buffered = BufReader::with_capacity(READ_BUFFER, reader);
        let inner = iroh_car::CarReader::new(buffered)
            .await
            .map_err(|e| CarError::Header(describe(e)))?;
        Ok(Self {
            inner,
            next_index: 0,
            bytes_read: 0,
        })
    }

    /// The header's root CIDs (at least one; for a repo, the first is the commit).
    pub fn roots(&self) -> &[Cid] {
        self.inner.header().roots()
    }

    /// Number of blocks returned so far.
    pub fn blocks_read(&self) -> u64 {
        self.next_index
    }

    /// Total size of the block payloads returned so far (CIDs and framing not included).
    pub fn block_bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next block, after checking that its bytes hash to its CID; `None` at the end.
    pub async fn next_block(&mut self) -> Result<Option<(Cid, Bytes)>, CarError> {
        let index = self.next_index;
        let block = self.inner.next_block().await.map_err(|e| CarError::Block {
            index,
            reason: describe(e),
        })?;
        let Some((cid, bytes)) = block else {
            return Ok(None);
        };
        verify(index, &cid, &bytes)?;
        self.next_index += 1;
        self.bytes_read += bytes.len() as u64;
        Ok(Some((cid, Bytes::from(bytes))))
    }

    /// Turns the reader into a stream of verified blocks (it ends after the first error).
    pub fn into_stream(self) -> impl Stream<Item = Result<(Cid, Bytes), CarError>> {
        futures::stream::try_unfold(self, |mut reader| async move {
            Ok(reader.next_block().await?.map(|block| (block, reader)))
        })
    }
}

fn verify(index: u64, cid: &Cid, bytes: &[u8]) -> Result<(), CarError> {
    data::verify_block(cid, bytes).map_err(|error| match error {
        DataError::UnsupportedHash { cid, code } => CarError::UnsupportedHash { index, cid, code },
        DataError::HashMismatch { cid, computed } => CarError::HashMismatch {
            index,
            cid,
            computed,
        },
        other => CarError::Block {
            index,
            reason: other.to_string(),
        },
    })
}

/// A streaming CAR v1 writer (the output gets a write buffer of its own).
#[derive(Debug)]
pub struct CarWriter<W: AsyncWrite + Send + Unpin> {
    inner: iroh_car::CarWriter<BufWriter<W>>,
}

impl<W: AsyncWrite + Send + Unpin> CarWriter<W> {
    /// Starts a CAR with these roots; the header is written with the first block (or by
    /// [`finish`](Self::finish) when there are none).
    pub fn new(writer: W, roots: Vec<Cid>) -> Self {
        let header = iroh_car::CarHeader::new_v1(roots);
        let buffered = BufWriter::with_capacity(WRITE_BUFFER, writer);
        Self {
            inner: iroh_car::CarWriter::new(header, buffered),
        }
    }

    /// Appends one block. The bytes are written as given; the caller vouches for the CID.
    pub async fn write_block(&mut self, cid: &Cid, bytes: &[u8]) -> Result<(), CarError> {
        self.inner
            .write(*cid, bytes)
            .await
            .map_err(|e| write_error(describe(e)))?;
        Ok(())
    }

    /// Writes the header if no block was written, flushes, and returns the output.
    pub async fn finish(mut self) -> Result<W, CarError> {
        self.inner
            .write_header()
            .await
            .map_err(|e| write_error(describe(e)))?;
        let mut buffered = self
            .inner
            .finish()
            .await
            .map_err(|e| write_error(describe(e)))?;
        buffered.flush().await?;
        Ok(buffered.into_inner())
    }
}

fn write_error(reason: String) -> CarError {
    CarError::Io(std::io::Error::other(reason))
}

/// Writes a whole CAR: the header with `roots`, then `blocks` in the order given.
pub async fn write_car<W, I, B>(writer: W, roots: Vec<Cid>, blocks: I) -> Result<W, CarError>
where
    W: AsyncWrite + Send + Unpin,
    I: IntoIterator<Item = (Cid, B)>,
    B: AsRef<[u8]>,
{
    let mut car = CarWriter::new(writer, roots);
    for (cid, bytes) in blocks {
        car.write_block(&cid, bytes.as_ref()).await?;
    }
    car.finish().await
}

/// Reads a whole CAR held in memory: its roots and its verified blocks in file order.
pub async fn read_car_bytes(bytes: &[u8]) -> Result<(Vec<Cid>, Vec<(Cid, Bytes)>), CarError> {
    let mut reader = CarReader::new(bytes).await?;
    let roots = reader.roots().to_vec();
    let mut blocks = Vec::new();
    while let Some(block) = reader.next_block().await? {
        blocks.push(block);
    }
    Ok((roots, blocks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::read_fixture;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD_NO_PAD;

    #[derive(serde::Deserialize)]
    struct Fixture {
        root: String,
        blocks: Vec<FixtureBlock>,
        car: String,
    }

    #[derive(serde::Deserialize)]
    struct FixtureBlock {
        cid: String,
        bytes: String,
    }

    fn decode64(text: &str) -> Vec<u8> {
        STANDARD_NO_PAD.decode(text.trim_end_matches('=')).unwrap()
    }

    fn fixtures() -> Vec<Fixture> {
        serde_json::from_slice(&read_fixture("atproto/repo/car-file-fixtures.json")).unwrap()
    }

    #[tokio::test]
    async fn reading_the_fixture_gives_exactly_its_blocks_in_order() {
        let cases = fixtures();
        assert!(!cases.is_empty());
        for case in cases {
            let car = decode64(&case.car);
            let (roots, blocks) = read_car_bytes(&car).await.unwrap();
            assert_eq!(roots, vec![Cid::try_from(case.root.as_str()).unwrap()]);
            assert_eq!(blocks.len(), case.blocks.len());
            for ((cid, bytes), expected) in blocks.iter().zip(&case.blocks) {
                assert_eq!(cid.to_string(), expected.cid);
                assert_eq!(bytes.as_ref(), decode64(&expected.bytes).as_slice());
            }
        }
    }

    #[tokio::test]
    async fn writing_the_fixture_gives_its_exact_bytes() {
        for case in fixtures() {
            let root = Cid::try_from(case.root.as_str()).unwrap();
            let blocks = case
                .blocks
                .iter()
                .map(|b| (Cid::try_from(b.cid.as_str()).unwrap(), decode64(&b.bytes)));
            let written = write_car(Vec::new(), vec![root], blocks).await.unwrap();
            assert_eq!(written, decode64(&case.car));
        }
    }

    #[tokio::test]
    async fn a_corrupted_block_is_named_by_index_and_cid() {
        let case = &fixtures()[0];
        let mut car = decode64(&case.car);
        // The last byte belongs to the last block's payload.
        let last = car.len() - 1;
        car[last] ^= 0x01;
        let error = read_car_bytes(&car).await.unwrap_err();
        let expected_index = case.blocks.len() as u64 - 1;
        match &error {
            CarError::HashMismatch { index, cid, .. } => {
                assert_eq!(*index, expected_index);
                assert_eq!(cid.to_string(), case.blocks.last().unwrap().cid);
            }
            other => panic!("unexpected error {other}"),
        }
        assert!(error.to_string().contains(&case.blocks.last().unwrap().cid));
    }

    #[tokio::test]
    async fn other_hash_functions_are_rejected_with_the_cid() {
        // sha2-512 (0x13) multihash of 64 zero bytes, as a dag-cbor CID.
        let hash = multihash::Multihash::<64>::wrap(0x13, &[0u8; 64]).unwrap();
        let cid = Cid::new_v1(data::DAG_CBOR, hash);
        let car = write_car(Vec::new(), vec![cid], [(cid, b"\xa0".to_vec())])
            .await
            .unwrap();
        let error = read_car_bytes(&car).await.unwrap_err();
        match error {
            CarError::UnsupportedHash {
                index,
                cid: named,
                code,
            } => {
                assert_eq!(index, 0);
                assert_eq!(named, cid);
                assert_eq!(code, 0x13);
            }
            other => panic!("unexpected error {other}"),
        }
    }

    #[tokio::test]
    async fn a_truncated_block_is_an_error_naming_its_index() {
        let case = &fixtures()[0];
        let car = decode64(&case.car);
        let error = read_car_bytes(&car[..car.len() - 3]).await.unwrap_err();
        assert!(
            matches!(error, CarError::Block { index, .. } if index == case.blocks.len() as u64 - 1),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_missing_header_is_a_header_error() {
        assert!(matches!(
            read_car_bytes(&[]).await.unwrap_err(),
            CarError::Header(_)
        ));
        assert!(matches!(
            read_car_bytes(&[0x05, 0xa0]).await.unwrap_err(),
            CarError::Header(_)
        ));
    }

    #[tokio::test]
    async fn duplicate_blocks_are_passed_through() {
        let bytes = data::to_dag_cbor(&"dup").unwrap();
        let cid = data::cid_for_dag_cbor(&bytes);
        let car = write_car(
            Vec::new(),
            vec![cid],
            [(cid, bytes.clone()), (cid, bytes.clone())],
        )
        .await
        .unwrap();
        let (_, blocks) = read_car_bytes(&car).await.unwrap();
        assert_eq!(blocks.len(), 2);
    }

    /// Where a CAR's header ends: its LEB128 length prefix plus that many bytes.
    fn header_end(car: &[u8]) -> usize {
        let (mut length, mut shift, mut prefix) = (0usize, 0, 0);
        for byte in car {
            prefix += 1;
            length |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        prefix + length
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = runtime.block_on(read_car_bytes(&bytes));
        }

        #[test]
        fn bit_flips_and_truncations_of_a_real_car_never_panic(position in 0usize..4096, bit in 0u8..8, cut in 0usize..4096) {
            let car = decode64(&fixtures()[0].car);
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut flipped = car.clone();
            let position = position % flipped.len();
            flipped[position] ^= 1 << bit;
            let flipped_result = runtime.block_on(read_car_bytes(&flipped));
            // A flipped bit in the blocks can never leave the roots and every block verified and
            // unchanged. The header is not content-addressed: a flip there may decode to the same
            // header (e.g. the text key "version" turned into the byte string "version", which the
            // header's serde decoding accepts as the same field); the content is still all verified.
            let header_end = header_end(&car);
            if let (Ok(parsed), true) = (&flipped_result, position >= header_end) {
                let original = runtime.block_on(read_car_bytes(&car)).unwrap();
                proptest::prop_assert_ne!(parsed, &original);
            }
            let cut = cut % car.len();
            let _ = runtime.block_on(read_car_bytes(&car[..cut]));
        }
    }
}
