//! Firehose frame benchmark: builds a repo, then a stream of sync 1.1 `#commit` frames (one to
//! three record writes each, like real traffic) and measures, per stage, how many frames a
//! second one core gets through: decoding, resolving (CAR slice, every block hash, signature),
//! the `prevData` check, the whole validator, encoding and rendering as JSON.
//!
//! Prints `name: value unit` lines. Run with `cargo bench -p sluice-atproto --bench firehose`;
//! `SLUICE_BENCH_RECORDS` sets the repo size (default 20000), `SLUICE_BENCH_FRAMES` the number
//! of frames (default 5000).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bytes::Bytes;
use sluice_atproto::Ipld;
use sluice_atproto::crypto::{KeyAlgorithm, Keypair};
use sluice_atproto::firehose::{
    CarSlice, CommitEvent, Frame, RepoStreamValidator, ValidatorConfig, Verdict, frame_to_json,
    resolve_commit,
};
use sluice_atproto::repo::{RecordWrite, RepoBuilder, encode_record};
use sluice_atproto::syntax::Tid;

const DID: &str = "did:plc:benchfirehose00000000000";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn record(collection: &str, i: usize) -> Bytes {
    let mut map = BTreeMap::new();
    map.insert("$type".to_owned(), Ipld::String(collection.to_owned()));
    map.insert(
        "createdAt".to_owned(),
        Ipld::String("2024-05-01T12:00:00.000Z".to_owned()),
    );
    map.insert(
        "text".to_owned(),
        Ipld::String(format!("post {i}: some ordinary text of ordinary length")),
    );
    encode_record(&Ipld::Map(map)).unwrap_or_default()
}

fn path(collection: &str, i: usize) -> String {
    let rkey = Tid::from_parts(1_700_000_000_000_000 + i as u64, 0);
    format!("{collection}/{}", rkey.as_str())
}

fn report(name: &str, frames: usize, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    println!("{name}: {:.0} frames/s", frames as f64 / seconds);
}

fn main() {
    let records = env_number("SLUICE_BENCH_RECORDS", 20_000);
    let frame_count = env_number("SLUICE_BENCH_FRAMES", 5_000);
    let keypair = Keypair::generate(KeyAlgorithm::K256);
    let key = keypair.public_key();

    let mut builder = RepoBuilder::new(DID, keypair);
    for i in 0..records {
        let Some((collection, rkey)) = path("app.bsky.feed.post", i)
            .split_once('/')
            .map(|(c, r)| (c.to_owned(), r.to_owned()))
        else {
            return;
        };
        if builder
            .put(&collection, &rkey, record(&collection, i))
            .is_err()
        {
            return;
        }
    }
    let mut repo = builder.build();

    let mut frames = Vec::with_capacity(frame_count);
    for n in 0..frame_count {
        let i = records + n * 3;
        let writes: Vec<RecordWrite> = (0..1 + n % 3)
            .map(|k| RecordWrite::Create {
                path: path("app.bsky.feed.like", i + k),
                record: record("app.bsky.feed.like", i + k),
            })
            .collect();
        let Ok(diff) = repo.apply_writes(&writes) else {
            return;
        };
        let event = CommitEvent::from_commit_diff(&diff, n as i64 + 1, "2024-05-01T12:00:00.000Z");
        frames.push(Frame::Commit(Box::new(event)).encode());
    }
    let bytes: usize = frames.iter().map(Vec::len).sum();
    println!("frame_mean_size: {} bytes", bytes / frames.len().max(1));

    let started = Instant::now();
    let decoded: Vec<Frame> = frames
        .iter()
        .filter_map(|bytes| Frame::decode(bytes).ok())
        .collect();
    report("decode", decoded.len(), started);
    println!(
        "decode_throughput: {:.1} MB/s",
        bytes as f64 / started.elapsed().as_secs_f64() / 1e6
    );

    let started = Instant::now();
    let resolved: Vec<_> = decoded
        .iter()
        .filter_map(|frame| match frame {
            Frame::Commit(event) => resolve_commit(event, Some(&key)).ok(),
            _ => None,
        })
        .collect();
    report("resolve_with_signature", resolved.len(), started);

    let started = Instant::now();
    let signatures = resolved
        .iter()
        .filter(|commit| commit.commit.verify(&key).is_ok())
        .count();
    report("signature_only", signatures, started);

    let started = Instant::now();
    let parsed = decoded
        .iter()
        .filter_map(|frame| match frame {
            Frame::Commit(event) => CarSlice::parse(&event.blocks).ok(),
            _ => None,
        })
        .count();
    report("car_slice_only", parsed, started);

    let started = Instant::now();
    let verified = resolved
        .iter()
        .filter(|commit| commit.check_prev_data().is_verified())
        .count();
    report("prev_data_check", resolved.len(), started);
    println!("prev_data_verified: {verified}/{} frames", resolved.len());

    let started = Instant::now();
    let mut validator = RepoStreamValidator::new(
        ValidatorConfig::default(),
        HashMap::from([(DID.to_owned(), key.clone())]),
    );
    let accepted = decoded
        .iter()
        .filter(|frame| matches!(validator.validate(frame), Verdict::Accept { .. }))
        .count();
    report("validate", decoded.len(), started);
    println!("validate_accepted: {accepted}/{} frames", decoded.len());

    let started = Instant::now();
    let mut total = 0;
    for bytes in &frames {
        if let Ok(frame) = Frame::decode(bytes) {
            let mut validator = RepoStreamValidator::new(
                ValidatorConfig::default(),
                HashMap::from([(DID.to_owned(), key.clone())]),
            );
            let _ = validator.validate(&frame);
            total += 1;
        }
    }
    report("decode_and_validate", total, started);

    let started = Instant::now();
    let encoded: usize = decoded.iter().map(|frame| frame.encode().len()).sum();
    report("encode", decoded.len(), started);
    println!("encode_round_trip_bytes_equal: {}", encoded == bytes);

    let started = Instant::now();
    let rendered = decoded.iter().map(frame_to_json).count();
    report("to_json", rendered, started);
}
