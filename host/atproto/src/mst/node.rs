//! The wire format of MST nodes: decoding (with key expansion and checks) and canonical encoding.

use cid::Cid;
use serde::Deserialize;

use super::{MstError, check_key, common_prefix_len, key_layer};

/// A node block as stored: keys prefix-compressed, key suffixes borrowed from the block.
#[derive(Deserialize)]
struct WireNode<'a> {
    #[serde(default)]
    l: Option<Cid>,
    #[serde(borrow)]
    e: Vec<WireEntry<'a>>,
}

#[derive(Deserialize)]
struct WireEntry<'a> {
    p: u64,
    #[serde(borrow)]
    k: &'a [u8],
    v: Cid,
    #[serde(default)]
    t: Option<Cid>,
}

/// One decoded entry: its full key lives in [`DecodedNode::keys`].
#[derive(Debug, Clone)]
pub(crate) struct DecodedEntry {
    key_start: u32,
    key_end: u32,
    /// The record CID.
    pub(crate) value: Cid,
    /// The subtree after this entry.
    pub(crate) right: Option<Cid>,
}

/// A decoded node with its keys expanded, checked (syntax, order, one layer) and packed into a
/// single buffer: two allocations per node, none per entry.
#[derive(Debug, Clone)]
pub(crate) struct DecodedNode {
    /// The subtree before the first entry.
    pub(crate) left: Option<Cid>,
    /// The entries in key order.
    pub(crate) entries: Vec<DecodedEntry>,
    keys: Vec<u8>,
    /// The layer of the entries (`None` when there are none).
    pub(crate) layer: Option<u8>,
}

impl DecodedNode {
    /// The full key of an entry (valid MST keys are ASCII).
    pub(crate) fn key(&self, entry: &DecodedEntry) -> &str {
        let bytes = self
            .keys
            .get(entry.key_start as usize..entry.key_end as usize)
            .unwrap_or_default();
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// The key of entry `index`, if there is one.
    pub(crate) fn key_at(&self, index: usize) -> Option<&str> {
        self.entries.get(index).map(|entry| self.key(entry))
    }
}

/// Decodes a node block, expanding keys and checking that each key is valid, that keys
/// increase, and that all share one layer.
pub(crate) fn decode(cid: &Cid, bytes: &[u8]) -> Result<DecodedNode, MstError> {
    let wire: WireNode<'_> =
        serde_ipld_dagcbor::from_slice(bytes).map_err(|e| MstError::Decode {
            node: *cid,
            reason: e.to_string(),
        })?;
    let total: usize = wire.e.iter().map(|e| e.p as usize + e.k.len()).sum();
    let mut keys = Vec::with_capacity(total.min(bytes.len() * 8));
    let mut entries = Vec::with_capacity(wire.e.len());
    let mut previous = 0..0;
    let mut layer = None;
    for (index, entry) in wire.e.iter().enumerate() {
        let available = previous.end - previous.start;
        let prefix = usize::try_from(entry.p)
            .ok()
            .filter(|&p| p <= available)
            .ok_or(MstError::BadPrefix {
                node: *cid,
                index,
                prefix: entry.p,
                available,
            })?;
        let start = keys.len();
        keys.extend_from_within(previous.start..previous.start + prefix);
        keys.extend_from_slice(entry.k);
        let key = &keys[start..];
        check_key(key)?;
        if index > 0 && key <= &keys[previous.clone()] {
            return Err(MstError::KeysOutOfOrder {
                node: *cid,
                previous: String::from_utf8_lossy(&keys[previous]).into_owned(),
                key: String::from_utf8_lossy(key).into_owned(),
            });
        }
        let this_layer = key_layer(key);
        match layer {
            None => layer = Some(this_layer),
            Some(first) if first != this_layer => {
                return Err(MstError::WrongLayer {
                    node: *cid,
                    key: String::from_utf8_lossy(key).into_owned(),
                    key_layer: this_layer,
                    node_layer: first,
                });
            }
            Some(_) => {}
        }
        // Keys are at most 1024 bytes, so a node of many entries is what could overflow u32:
        // such a node cannot fit the 4 MiB block limit.
        let (Ok(key_start), Ok(key_end)) = (u32::try_from(start), u32::try_from(keys.len())) else {
            return Err(MstError::Decode {
                node: *cid,
                reason: "node keys too large".to_owned(),
            });
        };
        entries.push(DecodedEntry {
            key_start,
            key_end,
            value: entry.v,
            right: entry.t,
        });
        previous = start..keys.len();
    }
    Ok(DecodedNode {
        left: wire.l,
        entries,
        keys,
        layer,
    })
}

/// Canonical DAG-CBOR of a node, written directly (the layout is fixed, so this avoids the
/// generic serializer's per-field buffers): `{"e": [{"k", "p", "t", "v"}...], "l"}`.
pub(crate) struct NodeEncoder {
    out: Vec<u8>,
    previous_key: Vec<u8>,
    remaining: usize,
    left: Option<Cid>,
}

impl NodeEncoder {
    /// Starts a node with `entry_count` entries and the given left link.
    pub(crate) fn new(entry_count: usize, left: Option<&Cid>) -> Self {
        let mut out = Vec::with_capacity(16 + entry_count * 80);
        out.push(0xa2); // map of 2
        write_text(&mut out, "e");
        write_header(&mut out, 4, entry_count as u64);
        Self {
            out,
            previous_key: Vec::new(),
            remaining: entry_count,
            left: left.copied(),
        }
    }

    /// Appends the next entry (keys must come in order).
    pub(crate) fn entry(&mut self, key: &[u8], value: &Cid, right: Option<&Cid>) {
        let prefix = common_prefix_len(&self.previous_key, key);
        let out = &mut self.out;
        out.push(0xa4); // map of 4
        write_text(out, "k");
        write_header(out, 2, (key.len() - prefix) as u64);
        out.extend_from_slice(&key[prefix..]);
        write_text(out, "p");
        write_header(out, 0, prefix as u64);
        write_text(out, "t");
        write_link(out, right);
        write_text(out, "v");
        write_link(out, Some(value));
        self.previous_key.clear();
        self.previous_key.extend_from_slice(key);
        self.remaining = self.remaining.saturating_sub(1);
    }

    /// Finishes the node and returns its bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        debug_assert_eq!(self.remaining, 0, "fewer entries than announced");
        write_text(&mut self.out, "l");
        write_link(&mut self.out, self.left.as_ref());
        self.out
    }
}

fn write_header(out: &mut Vec<u8>, major: u8, value: u64) {
    let major = major << 5;
    if value < 24 {
        out.push(major | value as u8);
    } else if let Ok(v) = u8::try_from(value) {
        out.extend_from_slice(&[major | 24, v]);
    } else if let Ok(v) = u16::try_from(value) {
        out.push(major | 25);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(value) {
        out.push(major | 26);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

fn write_text(out: &mut Vec<u8>, text: &str) {
    write_header(out, 3, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn write_link(out: &mut Vec<u8>, cid: Option<&Cid>) {
    match cid {
        None => out.push(0xf6),
        Some(cid) => {
            // Tag 42, then a byte string: the identity multibase prefix 0x00 and the CID bytes.
            out.extend_from_slice(&[0xd8, 0x2a]);
            let len = cid.encoded_len();
            write_header(out, 2, len as u64 + 1);
            out.push(0x00);
            // Writing to a Vec cannot fail.
            let _ = cid.write_bytes(&mut *out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::cid_for_dag_cbor;
    use crate::test_fixtures::read_fixture;

    fn reencode(node: &DecodedNode) -> Vec<u8> {
        let mut encoder = NodeEncoder::new(node.entries.len(), node.left.as_ref());
        for entry in &node.entries {
            encoder.entry(
                node.key(entry).as_bytes(),
                &entry.value,
                entry.right.as_ref(),
            );
        }
        encoder.finish()
    }

    #[test]
    fn real_nodes_decode_and_reencode_byte_for_byte() {
        for name in [
            "real/shrike/mst_node_small.cbor",
            "real/shrike/mst_node_large.cbor",
        ] {
            let bytes = read_fixture(name);
            let cid = cid_for_dag_cbor(&bytes);
            let node = decode(&cid, &bytes).unwrap();
            assert!(!node.entries.is_empty(), "{name}");
            assert_eq!(reencode(&node), bytes, "{name}");
        }
    }

    #[test]
    fn the_encoder_agrees_with_the_generic_serializer() {
        #[derive(serde::Serialize)]
        struct Entry<'a> {
            p: u64,
            #[serde(with = "serde_bytes_shim")]
            k: &'a [u8],
            v: Cid,
            t: Option<Cid>,
        }
        #[derive(serde::Serialize)]
        struct Node<'a> {
            l: Option<Cid>,
            e: Vec<Entry<'a>>,
        }
        mod serde_bytes_shim {
            pub(super) fn serialize<S: serde::Serializer>(
                bytes: &&[u8],
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(bytes)
            }
        }
        let value = cid_for_dag_cbor(b"value");
        let link = cid_for_dag_cbor(b"link");
        let long_key = format!("app.bsky.feed.post/{}", "k".repeat(300));
        let keys = [
            "app.bsky.feed.like/aaa",
            "app.bsky.feed.post/bbb",
            &long_key,
        ];
        let mut encoder = NodeEncoder::new(keys.len(), Some(&link));
        let mut entries = Vec::new();
        let mut previous: &[u8] = &[];
        for (i, key) in keys.iter().enumerate() {
            let right = (i % 2 == 0).then_some(link);
            encoder.entry(key.as_bytes(), &value, right.as_ref());
            let p = common_prefix_len(previous, key.as_bytes());
            entries.push(Entry {
                p: p as u64,
                k: &key.as_bytes()[p..],
                v: value,
                t: right,
            });
            previous = key.as_bytes();
        }
        let expected = serde_ipld_dagcbor::to_vec(&Node {
            l: Some(link),
            e: entries,
        })
        .unwrap();
        assert_eq!(encoder.finish(), expected);
        let empty = serde_ipld_dagcbor::to_vec(&Node {
            l: None,
            e: Vec::new(),
        })
        .unwrap();
        assert_eq!(NodeEncoder::new(0, None).finish(), empty);
    }

    #[test]
    fn a_prefix_longer_than_the_previous_key_is_rejected() {
        let value = cid_for_dag_cbor(b"value");
        let mut encoder = NodeEncoder::new(1, None);
        encoder.entry(b"a/b", &value, None);
        let mut bytes = encoder.finish();
        // Patch p (the byte after the text "p") from 0 to 5.
        let at = bytes.windows(2).position(|w| w == [0x61, b'p']).unwrap() + 2;
        bytes[at] = 5;
        let cid = cid_for_dag_cbor(&bytes);
        assert!(matches!(
            decode(&cid, &bytes),
            Err(MstError::BadPrefix { prefix: 5, .. })
        ));
    }

    #[test]
    fn garbage_is_a_decode_error_naming_the_node() {
        let cid = cid_for_dag_cbor(b"\x01");
        let error = decode(&cid, b"\x01").unwrap_err();
        assert!(error.to_string().contains(&cid.to_string()));
    }
}
