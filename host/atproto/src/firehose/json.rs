//! A frame as atproto JSON, for people (`sluice inspect frame`).

use bytes::Bytes;
use ipld_core::ipld::Ipld;
use serde_json::{Map, Value, json};

use super::car_slice::CarSlice;
use super::codec::Frame;
use super::messages::CommitEvent;
use super::resolve::resolve_ops;
use crate::data;

/// Renders a frame as JSON: `{"header": {op, t}, "body": …}` with the body in atproto JSON
/// (bytes as `{"$bytes": base64}`, CIDs as `{"$link": cid}`). For `#commit` and `#sync` a
/// `"blocks"` object is added that reads the CAR slice: its roots and block count, the signed
/// commit, and for a `#commit` each op with its record as atproto JSON (or why it could not be
/// read). Signatures are not checked here.
pub fn frame_to_json(frame: &Frame) -> Value {
    let header = frame.header();
    let mut header_json = Map::new();
    header_json.insert("op".to_owned(), json!(header.op));
    if let Some(t) = header.t {
        header_json.insert("t".to_owned(), json!(t));
    }
    let body = match (frame, frame.body_ipld()) {
        (_, Ok(body)) => data::ipld_to_json(&body),
        (Frame::Unknown(unknown), Err(error)) => json!({
            "error": error.to_string(),
            "raw": data::ipld_to_json(&Ipld::Bytes(unknown.body.to_vec())),
        }),
        (_, Err(error)) => json!({ "error": error.to_string() }),
    };
    let mut out = Map::new();
    out.insert("header".to_owned(), Value::Object(header_json));
    out.insert("body".to_owned(), body);
    match frame {
        Frame::Commit(event) => {
            out.insert("blocks".to_owned(), describe_commit_blocks(event));
        }
        Frame::Sync(event) => {
            out.insert("blocks".to_owned(), describe_slice(&event.blocks).0);
        }
        _ => {}
    }
    Value::Object(out)
}

/// The slice's roots, block count and commit; also the parsed slice when it is valid.
fn describe_slice(blocks: &Bytes) -> (Value, Option<CarSlice>) {
    let slice = match CarSlice::parse(blocks) {
        Ok(slice) => slice,
        Err(error) => return (json!({ "error": error.to_string() }), None),
    };
    let mut out = Map::new();
    let roots: Vec<Value> = slice
        .roots()
        .iter()
        .map(|cid| data::ipld_to_json(&Ipld::Link(*cid)))
        .collect();
    out.insert("roots".to_owned(), Value::Array(roots));
    out.insert("count".to_owned(), json!(slice.len()));
    out.insert("bytes".to_owned(), json!(blocks.len()));
    if slice.duplicates() > 0 {
        out.insert("duplicates".to_owned(), json!(slice.duplicates()));
    }
    let commit = match slice.root().and_then(|root| slice.get(&root)) {
        Some(bytes) => block_json(bytes),
        None => json!({ "error": "the root block is not in the slice" }),
    };
    out.insert("commit".to_owned(), commit);
    (Value::Object(out), Some(slice))
}

fn describe_commit_blocks(event: &CommitEvent) -> Value {
    let (mut described, slice) = describe_slice(&event.blocks);
    let (Some(slice), Value::Object(map)) = (slice, &mut described) else {
        return described;
    };
    let records: Vec<Value> = event
        .ops
        .iter()
        .map(|op| {
            let mut entry = Map::new();
            entry.insert("path".to_owned(), json!(op.path));
            match resolve_ops(std::slice::from_ref(op), &slice) {
                Ok(resolved) => {
                    let record = resolved
                        .first()
                        .and_then(|op| op.record.as_ref())
                        .map_or(Value::Null, |bytes| block_json(bytes));
                    entry.insert("record".to_owned(), record);
                }
                Err(error) => {
                    entry.insert("error".to_owned(), json!(error.to_string()));
                }
            }
            Value::Object(entry)
        })
        .collect();
    map.insert("records".to_owned(), Value::Array(records));
    described
}

/// A DAG-CBOR block as atproto JSON, or the decoding error.
fn block_json(bytes: &[u8]) -> Value {
    match data::from_dag_cbor::<Ipld>(bytes) {
        Ok(value) => data::ipld_to_json(&value),
        Err(error) => json!({ "error": error.to_string() }),
    }
}
