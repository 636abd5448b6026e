//! Throughput of the queue against the Redis at REDIS_URL (default redis://127.0.0.1:6379).
//!
//! `cargo run --release -p sluice-queue --example bench` prints `name: value unit` lines:
//! pipelined XADD of ~600-byte create events at batch sizes 1, 100 and 500, and the consumer's
//! XREADGROUP + XACK/XDEL rate. Uses its own key prefix and deletes its keys at the end.

use std::time::{Duration, Instant};

use sluice_queue::events::{FirehoseEvent, RecordEvent, StreamPayload};
use sluice_queue::{Consumer, ConsumerConfig, Producer};

/// A create event of about 600 bytes of JSON, like a post with a link facet.
fn sample_event(seq: i64) -> FirehoseEvent {
    let record = format!(
        r#"{{"$type":"app.bsky.feed.post","text":"Benchmark post number {seq}: a sentence or two of ordinary text, with a link to https://example.com/some/page","createdAt":"2024-05-01T12:34:56.789Z","langs":["en"],"facets":[{{"index":{{"byteStart":60,"byteEnd":96}},"features":[{{"$type":"app.bsky.richtext.facet#link","uri":"https://example.com/some/page"}}]}}]}}"#
    );
    FirehoseEvent::Create(RecordEvent {
        seq,
        time: "2024-05-01T12:34:57.000Z".into(),
        did: "did:plc:ewvi7nxzyoun6zhxrhs64oiz".into(),
        commit: "bafyreif7b5sk2v4hyelhvwqxyrnlzlgtiw5q2hsysnpjwrhsi7l6dlb4m4".into(),
        rev: "3kabcdefgh222".into(),
        collection: "app.bsky.feed.post".into(),
        rkey: format!("3k{seq:011}"),
        cid: "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm".into(),
        record: serde_json::value::RawValue::from_string(record).expect("valid JSON"),
    })
}

async fn delete_prefix(conn: &mut redis::aio::ConnectionManager, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query_async(conn).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("bench:queue:{:08x}:", rand::random::<u32>());
    let mut conn = sluice_queue::connect(&url).await?;
    let producer = Producer::new(conn.clone());

    let events: Vec<FirehoseEvent> = (0..500).map(sample_event).collect();
    let bytes = events[0].to_json()?.len();
    println!("event_json_size: {bytes} bytes");

    for (batch, total) in [(1usize, 5_000usize), (100, 100_000), (500, 100_000)] {
        let stream = format!("{prefix}xadd_{batch}");
        let start = Instant::now();
        let mut added = 0;
        while added < total {
            producer.add(&stream, &events[..batch]).await?;
            added += batch;
        }
        let rate = added as f64 / start.elapsed().as_secs_f64();
        println!("xadd_pipeline_batch_{batch}: {rate:.0} entries/s");
        delete_prefix(&mut conn, &stream).await;
    }

    let stream = format!("{prefix}read");
    let total = 100_000usize;
    for _ in 0..total / 500 {
        producer.add(&stream, &events).await?;
    }
    let mut config = ConsumerConfig::new(format!("{prefix}group"), "bench", [stream.clone()]);
    config.batch_size = 100;
    config.block = Duration::from_millis(100);
    let mut consumer = Consumer::connect(&url, config).await?;
    let start = Instant::now();
    let mut read = 0;
    loop {
        let batch = consumer.read().await?;
        if batch.is_empty() {
            break;
        }
        for delivery in &batch {
            delivery.payload::<FirehoseEvent>()?;
        }
        consumer.ack(&batch).await?;
        read += batch.len();
    }
    let elapsed = start.elapsed().saturating_sub(Duration::from_millis(100));
    println!(
        "xreadgroup_parse_xack_batch_100: {:.0} entries/s",
        read as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(read, total, "every entry read once");

    delete_prefix(&mut conn, &prefix).await;
    Ok(())
}
