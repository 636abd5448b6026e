//! Producer, cursor and back-pressure against the real Redis (REDIS_URL).

mod common;

use std::time::Duration;

use common::TestRedis;
use sluice_queue::events::{AccountEvent, FirehoseEvent, RepoToBackfill};
use sluice_queue::{BackPressure, Backlog, Cursor, OutgoingEntry, ProduceError, Producer};

fn account(seq: i64) -> FirehoseEvent {
    FirehoseEvent::Account(AccountEvent {
        seq,
        time: "2024-01-01T00:00:00.000Z".into(),
        did: format!("did:plc:{seq}"),
        active: true,
        status: None,
    })
}

async fn set_string(redis: &TestRedis, key: &str) {
    redis::cmd("SET")
        .arg(key)
        .arg("not a stream")
        .exec_async(&mut redis.conn.clone())
        .await
        .unwrap();
}

#[tokio::test]
async fn pipelined_xadd_returns_the_ids_in_order() {
    let redis = TestRedis::new("xadd_order").await;
    let stream = redis.key("firehose_live");
    let producer = Producer::new(redis.conn.clone());
    let events: Vec<FirehoseEvent> = (1..=25).map(account).collect();

    let ids = producer.add(&stream, &events).await.unwrap();

    let stored = redis.xrange(&stream).await;
    assert_eq!(ids.len(), 25);
    assert_eq!(
        stored.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        ids
    );
    for (i, (_, fields)) in stored.iter().enumerate() {
        let json = fields.get("event").expect("field `event`");
        let event: FirehoseEvent = serde_json::from_str(json).unwrap();
        assert_eq!(event.seq(), Some(i as i64 + 1));
    }
    assert!(
        producer
            .add::<FirehoseEvent>(&stream, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_refused_xadd_is_named_by_its_index() {
    let redis = TestRedis::new("xadd_refused").await;
    let good = redis.key("repo_backfill");
    let bad = redis.key("holds_a_string");
    set_string(&redis, &bad).await;
    let producer = Producer::new(redis.conn.clone());
    let entries = [
        OutgoingEntry {
            stream: &good,
            field: "repo",
            value: br#"{"did":"did:plc:a"}"#,
        },
        OutgoingEntry {
            stream: &bad,
            field: "repo",
            value: br#"{"did":"did:plc:b"}"#,
        },
        OutgoingEntry {
            stream: &good,
            field: "repo",
            value: br#"{"did":"did:plc:c"}"#,
        },
    ];

    let err = producer.add_entries(&entries).await.unwrap_err();

    match err {
        ProduceError::EntryRejected {
            stream,
            index,
            failed,
            total,
            error,
        } => {
            assert_eq!(stream, bad);
            assert_eq!((index, failed, total), (1, 1, 3));
            assert!(error.contains("WRONGTYPE"), "{error}");
        }
        other => panic!("expected EntryRejected, got {other:?}"),
    }
    // Not a transaction: the entries around the refused one were added.
    assert_eq!(redis.xlen(&good).await, 2);
}

#[tokio::test]
async fn the_cursor_moves_only_after_every_xadd_is_confirmed() {
    let redis = TestRedis::new("cursor_order").await;
    let stream = redis.key("firehose_live");
    let producer = Producer::new(redis.conn.clone());
    let cursor = Cursor::new(redis.conn.clone(), &stream, "https://pds.example.com");
    assert_eq!(cursor.key(), format!("{stream}:cursor:pds.example.com"));
    assert_eq!(cursor.get().await.unwrap(), None);

    producer
        .add_then_set_cursor(&stream, &[account(1), account(2)], &cursor, "2")
        .await
        .unwrap();
    assert_eq!(cursor.get().await.unwrap().as_deref(), Some("2"));
    // Source events that made no entries still move the cursor.
    producer
        .add_then_set_cursor::<FirehoseEvent>(&stream, &[], &cursor, "3")
        .await
        .unwrap();
    assert_eq!(cursor.get().await.unwrap().as_deref(), Some("3"));

    // The stream key now holds a string: every XADD of the next batch is refused.
    redis::cmd("DEL")
        .arg(&stream)
        .exec_async(&mut redis.conn.clone())
        .await
        .unwrap();
    set_string(&redis, &stream).await;
    let err = producer
        .add_then_set_cursor(&stream, &[account(3), account(4)], &cursor, "4")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProduceError::EntryRejected { failed: 2, .. }),
        "{err}"
    );
    assert_eq!(
        cursor.get().await.unwrap().as_deref(),
        Some("3"),
        "cursor kept before the lost entries"
    );
}

#[tokio::test]
async fn repos_go_in_field_repo() {
    let redis = TestRedis::new("repo_field").await;
    let stream = redis.key("repo_backfill");
    let producer = Producer::new(redis.conn.clone());
    let repo = RepoToBackfill {
        did: "did:plc:a".into(),
        host: Some("https://pds.example.com".into()),
        rev: Some("3kabc".into()),
        status: None,
        active: Some(true),
    };
    producer
        .add(&stream, std::slice::from_ref(&repo))
        .await
        .unwrap();
    let stored = redis.xrange(&stream).await;
    let json = stored[0].1.get("repo").expect("field `repo`");
    assert_eq!(serde_json::from_str::<RepoToBackfill>(json).unwrap(), repo);
}

#[tokio::test]
async fn back_pressure_waits_until_the_stream_drains() {
    let redis = TestRedis::new("backpressure").await;
    let stream = redis.key("firehose_backfill");
    let producer = Producer::new(redis.conn.clone());
    producer
        .add(&stream, &(1..=5).map(account).collect::<Vec<_>>())
        .await
        .unwrap();
    let backlog = Backlog::new(redis.conn.clone(), &stream);
    assert_eq!(backlog.entries().await.unwrap(), 5);
    // Below the mark: returns without sleeping its (long) poll interval.
    tokio::time::timeout(
        Duration::from_secs(5),
        backlog.wait_below(6, Duration::from_secs(600)),
    )
    .await
    .expect("no wait below the mark")
    .unwrap();

    let mut gate = BackPressure::new(backlog.clone(), 3, Duration::from_millis(20));
    let waiting = tokio::spawn(async move { gate.admit().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        !waiting.is_finished(),
        "5 entries ≥ mark 3: the source must wait"
    );

    redis::cmd("XTRIM")
        .arg(&stream)
        .arg("MAXLEN")
        .arg(2)
        .exec_async(&mut redis.conn.clone())
        .await
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("admitted once drained")
        .unwrap();
    assert!(waited >= Duration::from_millis(150), "waited {waited:?}");
}
