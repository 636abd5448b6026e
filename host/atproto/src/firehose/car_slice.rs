//! The CAR slice a `#commit` or `#sync` carries, parsed in memory.
//!
//! [`crate::car`] streams CAR files of any size asynchronously; a firehose slice is a few
//! kilobytes already in memory and is parsed thousands of times a second, so this reader is
//! synchronous and zero-copy: each block is a [`Bytes`] view of the frame's `blocks` buffer.
//! Every block is checked against its CID (sha2-256 only), as in [`crate::car`], and errors are
//! the same [`CarError`]s.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use bytes::Bytes;
use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::blockstore::{BlockSource, BlockstoreError};
use crate::car::CarError;
use crate::data::{self, DataError};

/// Longest length prefix accepted (a u64 varint takes at most 10 bytes).
const MAX_VARINT_BYTES: usize = 10;

/// The verified blocks of a CAR slice, by CID.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CarSlice {
    roots: Vec<Cid>,
    blocks: HashMap<Cid, Bytes>,
    /// CIDs in file order (first occurrence).
    order: Vec<Cid>,
    duplicates: usize,
}

impl CarSlice {
    /// Parses a CAR v1 held in memory, checking every block against its CID.
    pub fn parse(car: &Bytes) -> Result<Self, CarError> {
        let mut position = 0usize;
        let header_len = read_length(car, &mut position)
            .map_err(|reason| CarError::Header(format!("length prefix: {reason}")))?;
        let header_end = position
            .checked_add(header_len)
            .filter(|end| *end <= car.len())
            .ok_or_else(|| {
                CarError::Header(format!(
                    "header of {header_len} bytes is longer than the {} bytes left",
                    car.len().saturating_sub(position)
                ))
            })?;
        let roots = parse_header(car.get(position..header_end).unwrap_or_default())?;
        position = header_end;

        let mut slice = Self {
            roots,
            ..Self::default()
        };
        let mut index = 0u64;
        while position < car.len() {
            let block_error = |reason: String| CarError::Block { index, reason };
            let section_len = read_length(car, &mut position)
                .map_err(|reason| block_error(format!("length prefix: {reason}")))?;
            let section_end = position
                .checked_add(section_len)
                .filter(|end| *end <= car.len())
                .ok_or_else(|| {
                    block_error(format!(
                        "section of {section_len} bytes is longer than the {} bytes left",
                        car.len().saturating_sub(position)
                    ))
                })?;
            let mut section = car.get(position..section_end).unwrap_or_default();
            let before = section.len();
            let cid = Cid::read_bytes(&mut section)
                .map_err(|e| block_error(format!("invalid CID: {e}")))?;
            let data_start = position + (before - section.len());
            let bytes = car.slice(data_start..section_end);
            verify(index, &cid, &bytes)?;
            slice.insert(cid, bytes);
            position = section_end;
            index += 1;
        }
        Ok(slice)
    }

    fn insert(&mut self, cid: Cid, bytes: Bytes) {
        match self.blocks.entry(cid) {
            Entry::Occupied(_) => self.duplicates += 1,
            Entry::Vacant(entry) => {
                entry.insert(bytes);
                self.order.push(cid);
            }
        }
    }

    /// The header's roots (at least one).
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// The first root: for a firehose slice, the commit block's CID.
    pub fn root(&self) -> Option<Cid> {
        self.roots.first().copied()
    }

    /// A block's bytes.
    pub fn get(&self, cid: &Cid) -> Option<&Bytes> {
        self.blocks.get(cid)
    }

    /// Whether the slice holds a block.
    pub fn contains(&self, cid: &Cid) -> bool {
        self.blocks.contains_key(cid)
    }

    /// Number of distinct blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Number of block entries that repeated an earlier one.
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// The blocks in file order (each once).
    pub fn blocks(&self) -> impl Iterator<Item = (&Cid, &Bytes)> {
        self.order
            .iter()
            .filter_map(|cid| self.blocks.get(cid).map(|bytes| (cid, bytes)))
    }

    /// Writes a CAR v1 with one root and these blocks, in the order given (the caller vouches
    /// for the CIDs). The bytes are those [`crate::car::write_car`] writes.
    pub fn write<I, B>(root: Cid, blocks: I) -> Vec<u8>
    where
        I: IntoIterator<Item = (Cid, B)>,
        B: AsRef<[u8]>,
    {
        let mut header = BTreeMap::new();
        header.insert("roots".to_owned(), Ipld::List(vec![Ipld::Link(root)]));
        header.insert("version".to_owned(), Ipld::Integer(1));
        // A map of a list of links and an integer always encodes.
        let header = data::to_dag_cbor(&Ipld::Map(header)).unwrap_or_default();
        let mut out = Vec::with_capacity(header.len() + 1024);
        write_length(&mut out, header.len());
        out.extend_from_slice(&header);
        for (cid, bytes) in blocks {
            let cid_bytes = cid.to_bytes();
            let bytes = bytes.as_ref();
            write_length(&mut out, cid_bytes.len() + bytes.len());
            out.extend_from_slice(&cid_bytes);
            out.extend_from_slice(bytes);
        }
        out
    }
}

impl BlockSource for CarSlice {
    fn get_block(&self, cid: &Cid) -> Result<Option<Bytes>, BlockstoreError> {
        Ok(self.blocks.get(cid).cloned())
    }
}

#[derive(serde::Deserialize)]
struct Header {
    version: u64,
    roots: Vec<Cid>,
}

fn parse_header(bytes: &[u8]) -> Result<Vec<Cid>, CarError> {
    let header: Header = data::from_dag_cbor(bytes).map_err(|e| CarError::Header(e.to_string()))?;
    if header.version != 1 {
        return Err(CarError::Header(format!(
            "version {} is not supported (only CAR v1)",
            header.version
        )));
    }
    if header.roots.is_empty() {
        return Err(CarError::Header("no roots".to_owned()));
    }
    Ok(header.roots)
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

/// Reads an unsigned LEB128 varint at `position`, advancing it.
fn read_length(bytes: &[u8], position: &mut usize) -> Result<usize, String> {
    let mut value: u64 = 0;
    for (count, byte) in bytes
        .iter()
        .skip(*position)
        .take(MAX_VARINT_BYTES)
        .enumerate()
    {
        let bits = u64::from(byte & 0x7f);
        let shift = 7 * count as u32;
        if shift >= 64 || (shift == 63 && bits > 1) {
            return Err("varint overflows 64 bits".to_owned());
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            if count > 0 && *byte == 0 {
                return Err("varint is not minimally encoded".to_owned());
            }
            *position += count + 1;
            return usize::try_from(value).map_err(|_| format!("length {value} is too large"));
        }
    }
    Err("varint is cut short".to_owned())
}

fn write_length(out: &mut Vec<u8>, value: usize) {
    let mut value = value as u64;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::cid_for_dag_cbor;

    fn block(text: &str) -> (Cid, Vec<u8>) {
        let bytes = data::to_dag_cbor(&text).unwrap();
        (cid_for_dag_cbor(&bytes), bytes)
    }

    #[tokio::test]
    async fn writes_what_the_streaming_writer_writes_and_reads_it_back() {
        let blocks: Vec<_> = ["a", "b", "c"].into_iter().map(block).collect();
        let root = blocks[0].0;
        let written = CarSlice::write(root, blocks.iter().map(|(c, b)| (*c, b)));
        let streamed = crate::car::write_car(Vec::new(), vec![root], blocks.clone())
            .await
            .unwrap();
        assert_eq!(written, streamed);
        let slice = CarSlice::parse(&Bytes::from(written)).unwrap();
        assert_eq!(slice.root(), Some(root));
        assert_eq!(slice.len(), 3);
        let in_order: Vec<Cid> = slice.blocks().map(|(cid, _)| *cid).collect();
        assert_eq!(in_order, blocks.iter().map(|(c, _)| *c).collect::<Vec<_>>());
        for (cid, bytes) in &blocks {
            assert_eq!(slice.get(cid).unwrap().as_ref(), bytes.as_slice());
        }
    }

    #[test]
    fn a_corrupted_block_is_named_by_index_and_cid() {
        let blocks: Vec<_> = ["a", "b"].into_iter().map(block).collect();
        let mut car = CarSlice::write(blocks[0].0, blocks.iter().map(|(c, b)| (*c, b)));
        let last = car.len() - 1;
        car[last] ^= 1;
        match CarSlice::parse(&Bytes::from(car)).unwrap_err() {
            CarError::HashMismatch { index, cid, .. } => {
                assert_eq!(index, 1);
                assert_eq!(cid, blocks[1].0);
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn truncations_and_bad_headers_are_errors() {
        let blocks: Vec<_> = ["a", "b"].into_iter().map(block).collect();
        let car = CarSlice::write(blocks[0].0, blocks.iter().map(|(c, b)| (*c, b)));
        for cut in 0..car.len() {
            let result = CarSlice::parse(&Bytes::copy_from_slice(&car[..cut]));
            // Cutting exactly between sections leaves a valid, shorter CAR.
            if let Ok(slice) = result {
                assert!(slice.len() < 2, "cut at {cut}");
            }
        }
        assert!(matches!(
            CarSlice::parse(&Bytes::new()),
            Err(CarError::Header(_))
        ));
        // A header with version 2.
        let mut header = BTreeMap::new();
        header.insert(
            "roots".to_owned(),
            Ipld::List(vec![Ipld::Link(blocks[0].0)]),
        );
        header.insert("version".to_owned(), Ipld::Integer(2));
        let header = data::to_dag_cbor(&Ipld::Map(header)).unwrap();
        let mut car = vec![header.len() as u8];
        car.extend_from_slice(&header);
        let error = CarSlice::parse(&Bytes::from(car)).unwrap_err();
        assert!(error.to_string().contains("version 2"), "{error}");
    }

    #[test]
    fn duplicates_are_counted_once_kept() {
        let (cid, bytes) = block("dup");
        let car = CarSlice::write(cid, [(cid, &bytes), (cid, &bytes)]);
        let slice = CarSlice::parse(&Bytes::from(car)).unwrap();
        assert_eq!(slice.len(), 1);
        assert_eq!(slice.duplicates(), 1);
    }

    #[test]
    fn varints_round_trip_and_reject_overlong_forms() {
        for value in [0usize, 1, 127, 128, 300, 16_384, 1 << 40] {
            let mut out = Vec::new();
            write_length(&mut out, value);
            let mut position = 0;
            assert_eq!(read_length(&out, &mut position).unwrap(), value);
            assert_eq!(position, out.len());
        }
        let mut position = 0;
        assert!(read_length(&[0x80, 0x00], &mut position).is_err());
        assert!(read_length(&[0xff; 11], &mut position).is_err());
        assert!(read_length(&[0x80], &mut position).is_err());
    }
}
