//! Validation speed on real records: prints `name: value unit` lines.
//!
//! `cargo bench -p sluice-lexicon --bench validate`
//!
//! - `catalog_builtin_build`: loading and compiling the 264 built-in documents;
//! - `validate_post_typical`: one real post (`shrike/record_post.cbor`), validated repeatedly;
//! - `validate_posts`: every post of `shrike/calabro.car` (replies, facets, embeds, images);
//! - `validate_records`: every record of that repo with a lexicon (posts, likes, follows, …);
//! - `decode_and_validate_posts`: the same posts from DAG-CBOR bytes (decode, then validate),
//!   the indexer's whole per-record cost here.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sluice_atproto::Ipld;
use sluice_atproto::data::from_dag_cbor;
use sluice_atproto::repo::{ReadOptions, RepoReader};
use sluice_lexicon::{Catalog, RecordError};

fn shared(relative: &str) -> PathBuf {
    std::env::var_os("SLUICE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join(relative)
}

/// Runs `round` (which handles `per_round` items) for about `budget`, in five trials; returns
/// the best trial's items per second (the machine is shared: the best trial is the least
/// disturbed).
fn throughput(budget: Duration, per_round: usize, mut round: impl FnMut()) -> f64 {
    round(); // warm up
    let mut best: f64 = 0.0;
    for _ in 0..5 {
        let start = Instant::now();
        let mut rounds = 0u64;
        while start.elapsed() < budget / 5 {
            round();
            rounds += 1;
        }
        best = best.max((rounds as f64 * per_round as f64) / start.elapsed().as_secs_f64());
    }
    best
}

struct RepoRecord {
    collection: String,
    bytes: Vec<u8>,
    value: Ipld,
}

fn read_repo(file: &str) -> Vec<RepoRecord> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let input = tokio::fs::File::open(shared(file))
            .await
            .expect("fixture CAR");
        let reader = RepoReader::read(tokio::io::BufReader::new(input), &ReadOptions::default())
            .await
            .expect("readable CAR");
        reader
            .records()
            .filter_map(Result::ok)
            .map(|record| RepoRecord {
                collection: record.collection().to_owned(),
                value: record.to_ipld().expect("DAG-CBOR record"),
                bytes: record.bytes.to_vec(),
            })
            .collect()
    })
}

fn main() {
    let budget = Duration::from_secs(2);

    let start = Instant::now();
    let mut builder = Catalog::builder();
    builder.add_builtin().expect("built-in lexicons");
    let catalog = builder.build();
    println!(
        "catalog_builtin_build: {:.1} ms ({} documents, {} nodes)",
        start.elapsed().as_secs_f64() * 1e3,
        catalog.documents().len(),
        catalog.node_count()
    );

    let post_bytes = std::fs::read(shared("fixtures/real/shrike/record_post.cbor")).expect("post");
    let post: Ipld = from_dag_cbor(&post_bytes).expect("post CBOR");
    let schema = catalog.record("app.bsky.feed.post").expect("post lexicon");
    schema.validate(&post).expect("the post is valid");
    let rate = throughput(budget, 100, || {
        for _ in 0..100 {
            black_box(schema.validate(black_box(&post))).ok();
        }
    });
    println!("validate_post_typical: {rate:.0} posts/s");
    println!("validate_post_typical_latency: {:.3} µs", 1e6 / rate);

    let records = read_repo("fixtures/real/shrike/calabro.car");
    let posts: Vec<&RepoRecord> = records
        .iter()
        .filter(|r| r.collection == "app.bsky.feed.post")
        .collect();
    for post in &posts {
        schema
            .validate(&post.value)
            .expect("calabro's posts are valid");
    }
    let rate = throughput(budget, posts.len(), || {
        for post in &posts {
            black_box(schema.validate(black_box(&post.value))).ok();
        }
    });
    println!("validate_posts: {rate:.0} posts/s ({} posts)", posts.len());
    println!("validate_posts_latency: {:.3} µs", 1e6 / rate);

    let known: Vec<&RepoRecord> = records
        .iter()
        .filter(|r| catalog.record(&r.collection).is_some())
        .collect();
    let rate = throughput(budget, known.len(), || {
        for record in &known {
            match catalog.validate_record(&record.collection, black_box(&record.value)) {
                Ok(()) | Err(RecordError::NoLexicon(_)) => {}
                Err(error) => panic!("{error}"),
            }
        }
    });
    println!(
        "validate_records: {rate:.0} records/s ({} records)",
        known.len()
    );

    let rate = throughput(budget, posts.len(), || {
        for post in &posts {
            let value: Ipld = from_dag_cbor(black_box(&post.bytes)).expect("CBOR");
            black_box(schema.validate(&value)).ok();
        }
    });
    println!("decode_and_validate_posts: {rate:.0} posts/s");

    formats(budget / 4);
}

/// The cost of each string format: a one-property record validated with and without it.
fn formats(budget: Duration) {
    let samples = [
        ("datetime", "2026-04-07T21:22:38.463Z"),
        (
            "at-uri",
            "at://did:plc:ragtjsm2j2vknwkz3zp4oxrd/app.bsky.feed.post/3miwo6coom22x",
        ),
        (
            "cid",
            "bafyreic5xxmmhqowwknqig7a6mctverauwv7tth5ntxli7z4bgup4gmszq",
        ),
        ("did", "did:plc:ragtjsm2j2vknwkz3zp4oxrd"),
        ("handle", "alice.bsky.social"),
        ("language", "en"),
        ("uri", "https://example.com/some/page?x=1"),
        ("nsid", "app.bsky.feed.post"),
        ("tid", "3miwo6coom22x"),
        ("record-key", "3miwo6coom22x"),
        ("at-identifier", "did:plc:ragtjsm2j2vknwkz3zp4oxrd"),
    ];
    let mut properties = serde_json::Map::new();
    for (format, _) in samples {
        properties.insert(
            format.to_owned(),
            serde_json::json!({"type": "string", "format": format}),
        );
    }
    properties.insert("plain".to_owned(), serde_json::json!({"type": "string"}));
    let document = serde_json::json!({
        "lexicon": 1, "id": "com.example.formats",
        "defs": {"main": {"type": "record", "key": "any", "record": {"type": "object", "properties": properties}}}
    });
    let mut builder = Catalog::builder();
    builder
        .add_json(&document.to_string(), "formats")
        .expect("formats lexicon");
    let catalog = builder.build();
    let schema = catalog.record("com.example.formats").expect("record");
    let record = |key: &str, value: &str| {
        Ipld::Map(
            [
                (
                    "$type".to_owned(),
                    Ipld::String("com.example.formats".to_owned()),
                ),
                (key.to_owned(), Ipld::String(value.to_owned())),
            ]
            .into(),
        )
    };
    let cost = |value: &Ipld| {
        schema.validate(value).expect("valid sample");
        1e9 / throughput(budget, 100, || {
            for _ in 0..100 {
                black_box(schema.validate(black_box(value))).ok();
            }
        })
    };
    let baseline = cost(&record("plain", "x"));
    for (format, sample) in samples {
        let with_format = cost(&record(format, sample));
        println!(
            "format_{format}: {:.0} ns",
            (with_format - baseline).max(0.0)
        );
    }
}
