//! CAR v1 framing, written synchronously into buffers.
//!
//! The devnet writes CARs from blocking generator threads (whole repos for `getRepo`, slices for
//! firehose `#commit`s), so it frames blocks itself rather than through an async writer: a header
//! (`varint` length + DAG-CBOR `{roots, version: 1}`), then per block `varint(len(cid) + len(data))`,
//! the CID bytes and the data. The tests read the result back with Sluice's verifying reader.

use cid::Cid;

use crate::content::value::{Value, obj};

/// Appends an unsigned LEB128 varint.
fn varint(out: &mut Vec<u8>, mut value: u64) {
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

/// The CAR header for one root.
pub fn header(root: &Cid) -> Vec<u8> {
    let body = obj(vec![
        ("roots", Value::List(vec![Value::Link(*root)])),
        ("version", Value::Int(1)),
    ])
    .to_dag_cbor();
    let mut out = Vec::with_capacity(body.len() + 2);
    varint(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    out
}

/// Appends one block.
pub fn block(out: &mut Vec<u8>, cid: &Cid, data: &[u8]) {
    let cid_bytes = cid.to_bytes();
    varint(out, (cid_bytes.len() + data.len()) as u64);
    out.extend_from_slice(&cid_bytes);
    out.extend_from_slice(data);
}

/// A whole CAR in memory.
pub fn car<'a>(root: &Cid, blocks: impl IntoIterator<Item = (&'a Cid, &'a [u8])>) -> Vec<u8> {
    let mut out = header(root);
    for (cid, data) in blocks {
        block(&mut out, cid, data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_atproto::car::read_car_bytes;
    use sluice_atproto::data::cid_for_dag_cbor;

    #[tokio::test]
    async fn sluice_reads_what_is_written() {
        let blocks: Vec<(Cid, Vec<u8>)> = (0..300u64)
            .map(|i| {
                let data = Value::from("x".repeat(i as usize * 3)).to_dag_cbor();
                (cid_for_dag_cbor(&data), data)
            })
            .collect();
        let root = blocks[0].0;
        let bytes = car(&root, blocks.iter().map(|(c, d)| (c, d.as_slice())));
        let (roots, read) = read_car_bytes(&bytes).await.unwrap();
        assert_eq!(roots, vec![root]);
        assert_eq!(read.len(), 300);
        for ((cid, data), (read_cid, read_data)) in blocks.iter().zip(&read) {
            assert_eq!(cid, read_cid);
            assert_eq!(data.as_slice(), read_data.as_ref());
        }
    }
}
