//! Whole-repo read benchmark: builds a repo of many records with `RepoBuilder`, writes its CAR
//! to a temporary file, then reads and verifies it with `RepoReader` (signature, every block
//! hash, the MST walk, every record), in memory and with a small budget that forces a spill.
//!
//! Prints `name: value unit` lines. Run with `cargo bench -p sluice-atproto --bench repo_read`;
//! `SLUICE_BENCH_RECORDS` sets the repo size (default 500000).

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use sluice_atproto::Ipld;
use sluice_atproto::crypto::{KeyAlgorithm, Keypair};
use sluice_atproto::repo::{ReadOptions, RepoBuilder, RepoReader, encode_record};
use sluice_atproto::syntax::Tid;

const COLLECTIONS: [(&str, u32); 3] = [
    ("app.bsky.feed.like", 5),
    ("app.bsky.feed.post", 3),
    ("app.bsky.graph.follow", 2),
];

fn record(collection: &str, i: u64) -> Bytes {
    let mut map = BTreeMap::new();
    map.insert("$type".to_owned(), Ipld::String(collection.to_owned()));
    map.insert(
        "createdAt".to_owned(),
        Ipld::String("2024-05-01T12:00:00.000Z".to_owned()),
    );
    if collection == "app.bsky.feed.post" {
        map.insert(
            "text".to_owned(),
            Ipld::String(format!(
                "post number {i}: some ordinary text of ordinary length"
            )),
        );
        map.insert(
            "langs".to_owned(),
            Ipld::List(vec![Ipld::String("en".into())]),
        );
    } else {
        map.insert(
            "subject".to_owned(),
            Ipld::String(format!(
                "at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/{i}"
            )),
        );
    }
    encode_record(&Ipld::Map(map)).unwrap_or_default()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

fn line(name: &str, value: f64, unit: &str) {
    println!("{name}: {value:.1} {unit}");
}

/// Reads and verifies the CAR at `path` (run in a child process, so that its peak RSS is the
/// reader's alone) and prints its figures.
fn read_child(path: &str, budget: usize, did: &str, key: &str, car_mb: f64, prefix: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let key = sluice_atproto::crypto::PublicKey::from_did_key(key).expect("key");
    let options = ReadOptions {
        memory_budget: budget,
        spill_directory: std::path::Path::new(path).parent().map(|p| p.to_path_buf()),
    };
    let start = Instant::now();
    let repo = runtime.block_on(async {
        let file = tokio::fs::File::open(path).await.expect("open CAR");
        RepoReader::read(file, &options).await.expect("read repo")
    });
    let load_seconds = start.elapsed().as_secs_f64();
    repo.commit().verify_for(did, &key).expect("signature");
    let mut records = 0u64;
    let mut record_bytes = 0u64;
    for item in repo.records() {
        let record = item.expect("record");
        records += 1;
        record_bytes += record.bytes.len() as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    assert!(record_bytes > 0);
    line(&format!("{prefix}records"), records as f64, "records");
    line(
        &format!("{prefix}spilled_blocks"),
        repo.store().spilled_blocks() as f64,
        "blocks",
    );
    line(&format!("{prefix}load_car_seconds"), load_seconds, "s");
    line(
        &format!("{prefix}walk_seconds"),
        seconds - load_seconds,
        "s",
    );
    line(
        &format!("{prefix}read_verify_records_per_sec"),
        records as f64 / seconds,
        "records/s",
    );
    line(
        &format!("{prefix}read_verify_mb_per_sec"),
        car_mb / seconds,
        "MB/s",
    );
    line(
        &format!("{prefix}read_verify_peak_rss"),
        peak_rss_kib() as f64 / 1024.0,
        "MiB",
    );
}

fn run_child(path: &std::path::Path, budget: usize, did: &str, key: &str, mb: f64, prefix: &str) {
    let status = std::process::Command::new(std::env::current_exe().expect("exe"))
        .arg("--read-child")
        .arg(path)
        .arg(budget.to_string())
        .arg(did)
        .arg(key)
        .arg(mb.to_string())
        .arg(prefix)
        .status()
        .expect("spawn reader");
    assert!(status.success(), "reader failed");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--read-child") {
        let arg = |i: usize| args.get(at + i).map(String::as_str).unwrap_or_default();
        let budget = arg(2).parse().unwrap_or(usize::MAX);
        let mb = arg(5).parse().unwrap_or(0.0);
        read_child(arg(1), budget, arg(3), arg(4), mb, arg(6));
        return;
    }
    let count: u64 = std::env::var("SLUICE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let keypair = Keypair::generate(KeyAlgorithm::K256);
    let did = "did:plc:benchbenchbenchbenchbench";
    let key = keypair.public_key();

    // Build.
    let start = Instant::now();
    let mut builder = RepoBuilder::new(did, keypair);
    let base = 1_700_000_000_000_000u64;
    let weights: u32 = COLLECTIONS.iter().map(|(_, w)| w).sum();
    for i in 0..count {
        let slot = (i % u64::from(weights)) as u32;
        let mut acc = 0;
        let collection = COLLECTIONS
            .iter()
            .find(|(_, w)| {
                acc += w;
                slot < acc
            })
            .map_or("app.bsky.feed.like", |(c, _)| c);
        let rkey = Tid::from_parts(base + i * 997, (i % 1024) as u16);
        builder
            .put(collection, rkey.as_str(), record(collection, i))
            .expect("put");
    }
    let mut repo = builder.build();
    let build_seconds = start.elapsed().as_secs_f64();
    line(
        "build_records_per_sec",
        count as f64 / build_seconds,
        "records/s",
    );

    // Write the CAR to a temporary file.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("repo.car");
    let start = Instant::now();
    let car = runtime.block_on(async {
        let file = tokio::fs::File::create(&path).await.expect("create");
        repo.write_car(file).await.expect("write CAR")
    });
    drop(car);
    let write_seconds = start.elapsed().as_secs_f64();
    drop(repo);
    let car_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mb = car_bytes as f64 / 1e6;
    line("car_size", mb, "MB");
    line("write_car_mb_per_sec", mb / write_seconds, "MB/s");

    // The floor: sha-256 over the same bytes.
    let bytes = std::fs::read(&path).expect("read CAR");
    let start = Instant::now();
    let mut sink = 0u8;
    for chunk in bytes.chunks(256) {
        sink ^= sluice_atproto::data::sha256(chunk)[0];
    }
    let hash_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    sink ^= sluice_atproto::data::sha256(&bytes)[0];
    let stream_seconds = start.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    drop(bytes);
    line("sha256_256b_chunks_mb_per_sec", mb / hash_seconds, "MB/s");
    line("sha256_stream_mb_per_sec", mb / stream_seconds, "MB/s");

    // Read and verify, in memory and with a small budget, each in a fresh process.
    let key = key.to_did_key();
    run_child(&path, 1 << 30, did, &key, mb, "");
    run_child(&path, 16 * 1024 * 1024, did, &key, mb, "spill_16mib_");
}
