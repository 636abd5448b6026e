//! Consumer groups against the real Redis (REDIS_URL): priority, ack, restart, reclaim, delivery
//! counts and dead letters.

mod common;

use std::time::Duration;

use common::TestRedis;
use sluice_queue::dead_letter::{REASON_ABANDONED, REASON_FAILED};
use sluice_queue::events::{FirehoseEvent, IdentityEvent};
use sluice_queue::{Consumer, ConsumerConfig, Delivery, FailOutcome, Producer, dead_letter_stream};

/// Long enough that "not idle yet" checks hold on a loaded machine.
const CLAIM_MIN_IDLE: Duration = Duration::from_millis(500);
const PAST_CLAIM_MIN_IDLE: Duration = Duration::from_millis(650);

fn identity(seq: i64) -> FirehoseEvent {
    FirehoseEvent::Identity(IdentityEvent {
        seq,
        time: "2024-01-01T00:00:00.000Z".into(),
        did: format!("did:plc:{seq}"),
        handle: None,
    })
}

fn seqs(batch: &[Delivery]) -> Vec<i64> {
    batch
        .iter()
        .map(|d| d.payload::<FirehoseEvent>().unwrap().seq().unwrap())
        .collect()
}

struct Streams {
    live: String,
    backfill: String,
}

fn config(redis: &TestRedis, consumer: &str) -> (ConsumerConfig, Streams) {
    let streams = Streams {
        live: redis.key("firehose_live"),
        backfill: redis.key("firehose_backfill"),
    };
    let mut config = ConsumerConfig::new(
        redis.key("firehose_group"),
        consumer,
        [streams.live.clone(), streams.backfill.clone()],
    );
    config.block = Duration::from_millis(100);
    config.claim_min_idle = CLAIM_MIN_IDLE;
    config.reclaim_every = Duration::ZERO;
    (config, streams)
}

async fn add(redis: &TestRedis, stream: &str, seqs: std::ops::RangeInclusive<i64>) {
    let events: Vec<FirehoseEvent> = seqs.map(identity).collect();
    Producer::new(redis.conn.clone())
        .add(stream, &events)
        .await
        .unwrap();
}

#[tokio::test]
async fn live_entries_come_before_backfill() {
    let redis = TestRedis::new("priority").await;
    let (mut config, streams) = config(&redis, "one");
    config.batch_size = 4;
    let mut consumer = Consumer::connect(&redis.url, config).await.unwrap();
    add(&redis, &streams.backfill, 101..=105).await;
    add(&redis, &streams.live, 1..=3).await;

    let batch = consumer.read().await.unwrap();
    assert_eq!(seqs(&batch), vec![1, 2, 3, 101]);
    assert_eq!(batch[0].stream, streams.live);
    assert_eq!(batch[3].stream, streams.backfill);

    add(&redis, &streams.live, 4..=5).await;
    let batch = consumer.read().await.unwrap();
    assert_eq!(
        seqs(&batch),
        vec![4, 5, 102, 103],
        "new live entries jump the backfill queue"
    );

    let batch = consumer.read().await.unwrap();
    assert_eq!(seqs(&batch), vec![104, 105]);
    assert!(
        consumer.read().await.unwrap().is_empty(),
        "empty once the block runs out"
    );
}

#[tokio::test]
async fn ack_deletes_so_that_xlen_is_the_backlog() {
    let redis = TestRedis::new("ack").await;
    let (config, streams) = config(&redis, "one");
    let mut consumer = Consumer::connect(&redis.url, config).await.unwrap();
    add(&redis, &streams.live, 1..=3).await;
    let batch = consumer.read().await.unwrap();
    assert_eq!(
        consumer
            .handle()
            .pending_count(&streams.live)
            .await
            .unwrap(),
        3
    );

    assert_eq!(consumer.ack(&batch[..2]).await.unwrap(), 2);

    assert_eq!(
        consumer
            .handle()
            .pending_count(&streams.live)
            .await
            .unwrap(),
        1
    );
    assert_eq!(redis.xlen(&streams.live).await, 1);
}

#[tokio::test]
async fn groups_are_created_idempotently_and_recreated_when_lost() {
    let redis = TestRedis::new("groups").await;
    let (config, streams) = config(&redis, "one");
    let _first = Consumer::connect(&redis.url, config.clone()).await.unwrap();
    let mut second = Consumer::connect(&redis.url, config).await.unwrap();
    // Someone deletes a stream (and its group) under the consumer's feet.
    redis::cmd("DEL")
        .arg(&streams.backfill)
        .exec_async(&mut redis.conn.clone())
        .await
        .unwrap();
    second.read().await.unwrap();
    add(&redis, &streams.backfill, 1..=1).await;
    assert_eq!(seqs(&second.read().await.unwrap()), vec![1]);
}

#[tokio::test]
async fn a_blocked_read_wakes_up_on_a_new_entry() {
    let redis = TestRedis::new("blocking").await;
    let (mut config, streams) = config(&redis, "one");
    config.block = Duration::from_secs(5);
    let mut consumer = Consumer::connect(&redis.url, config).await.unwrap();
    let writer = TestRedis {
        url: redis.url.clone(),
        conn: redis.conn.clone(),
        prefix: format!("{}unused:", redis.prefix),
    };
    let live = streams.backfill.clone();
    let add_later = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        add(&writer, &live, 7..=7).await;
    });
    let batch = tokio::time::timeout(Duration::from_secs(4), consumer.read())
        .await
        .expect("woken before the block ran out")
        .unwrap();
    assert_eq!(seqs(&batch), vec![7]);
    add_later.await.unwrap();
}

#[tokio::test]
async fn a_restarted_consumer_first_gets_its_own_pending_entries() {
    let redis = TestRedis::new("restart").await;
    let (mut config, streams) = config(&redis, "one");
    config.claim_min_idle = Duration::from_secs(3600);
    config.batch_size = 2;
    let mut before = Consumer::connect(&redis.url, config.clone()).await.unwrap();
    add(&redis, &streams.live, 1..=3).await;
    assert_eq!(seqs(&before.read().await.unwrap()), vec![1, 2]);
    drop(before);
    add(&redis, &streams.live, 4..=4).await;
    // A pending entry deleted by hand: nothing to process, acknowledged silently.
    let all = redis.xrange(&streams.live).await;
    redis::cmd("XDEL")
        .arg(&streams.live)
        .arg(&all[1].0)
        .exec_async(&mut redis.conn.clone())
        .await
        .unwrap();

    let mut after = Consumer::connect(&redis.url, config).await.unwrap();
    let batch = after.read().await.unwrap();
    assert_eq!(
        seqs(&batch),
        vec![1, 3],
        "own history first, then new entries"
    );
    let info = after
        .handle()
        .pending_info(&streams.live, &batch[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.consumer, "one");
    assert_eq!(
        after.handle().pending_count(&streams.live).await.unwrap(),
        2,
        "the deleted entry is no longer pending"
    );
    assert_eq!(seqs(&after.read().await.unwrap()), vec![4]);
}

#[tokio::test]
async fn a_dead_consumers_entries_are_reclaimed() {
    let redis = TestRedis::new("reclaim").await;
    let (config, streams) = config(&redis, "dead");
    let mut dead = Consumer::connect(&redis.url, config.clone()).await.unwrap();
    add(&redis, &streams.live, 1..=3).await;
    assert_eq!(dead.read().await.unwrap().len(), 3);
    drop(dead);

    let mut live_config = config.clone();
    live_config.consumer = "alive".into();
    let mut alive = Consumer::connect(&redis.url, live_config).await.unwrap();
    assert!(
        alive.reclaim(10).await.unwrap().is_empty(),
        "not idle long enough yet"
    );
    tokio::time::sleep(PAST_CLAIM_MIN_IDLE).await;
    let batch = alive.read().await.unwrap();
    assert_eq!(seqs(&batch), vec![1, 2, 3]);
    let info = alive
        .handle()
        .pending_info(&streams.live, &batch[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.consumer, "alive");
    assert_eq!(info.deliveries, 2);
    alive.ack(&batch).await.unwrap();
    assert_eq!(redis.xlen(&streams.live).await, 0);
}

#[tokio::test]
async fn an_entry_failing_max_deliveries_times_is_dead_lettered() {
    let redis = TestRedis::new("dead_letter").await;
    let (mut config, streams) = config(&redis, "a");
    config.max_deliveries = 2;
    let mut a = Consumer::connect(&redis.url, config.clone()).await.unwrap();
    add(&redis, &streams.live, 1..=1).await;

    let first = a.read().await.unwrap().remove(0);
    assert_eq!(
        a.fail(&first, "boom 1").await.unwrap(),
        FailOutcome::WillRetry { deliveries: 1 }
    );

    tokio::time::sleep(PAST_CLAIM_MIN_IDLE).await;
    config.consumer = "b".into();
    let mut b = Consumer::connect(&redis.url, config).await.unwrap();
    let second = b.read().await.unwrap().remove(0);
    assert_eq!(second.id, first.id);
    let outcome = b.fail(&second, "boom 2").await.unwrap();
    let FailOutcome::DeadLettered {
        dead_id,
        deliveries,
    } = outcome
    else {
        panic!("expected a dead letter, got {outcome:?}");
    };
    assert_eq!(deliveries, 2);

    let dead = redis.xrange(&dead_letter_stream(&streams.live)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, dead_id);
    let fields = &dead[0].1;
    assert_eq!(fields["reason"], REASON_FAILED);
    assert_eq!(fields["error"], "boom 2");
    assert_eq!(fields["consumer"], "b");
    assert_eq!(fields["deliveries"], "2");
    assert_eq!(fields["source_stream"], streams.live);
    assert_eq!(fields["source_id"], first.id);
    assert_eq!(
        fields["event"].as_bytes(),
        first.field("event").unwrap(),
        "original fields kept"
    );
    assert_eq!(b.handle().pending_count(&streams.live).await.unwrap(), 0);
    assert_eq!(redis.xlen(&streams.live).await, 0);
    assert_eq!(
        b.fail(&second, "late").await.unwrap(),
        FailOutcome::NotPending
    );
}

#[tokio::test]
async fn a_failed_entry_comes_back_to_the_same_consumer_after_the_idle_time() {
    let redis = TestRedis::new("retry_self").await;
    let (mut config, streams) = config(&redis, "a");
    config.max_deliveries = 3;
    let mut a = Consumer::connect(&redis.url, config).await.unwrap();
    add(&redis, &streams.live, 1..=1).await;
    let first = a.read().await.unwrap().remove(0);
    assert_eq!(
        a.fail(&first, "transient").await.unwrap(),
        FailOutcome::WillRetry { deliveries: 1 }
    );
    assert!(
        a.read().await.unwrap().is_empty(),
        "not before claim_min_idle"
    );

    tokio::time::sleep(PAST_CLAIM_MIN_IDLE).await;
    let again = a.read().await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first.id);
    assert_eq!(
        a.fail(&again[0], "transient").await.unwrap(),
        FailOutcome::WillRetry { deliveries: 2 }
    );
}

#[tokio::test]
async fn an_entry_its_consumers_keep_dying_on_is_parked_as_abandoned() {
    let redis = TestRedis::new("abandoned").await;
    let (mut config, streams) = config(&redis, "a");
    config.max_deliveries = 1;
    let mut a = Consumer::connect(&redis.url, config.clone()).await.unwrap();
    add(&redis, &streams.backfill, 1..=1).await;
    assert_eq!(a.read().await.unwrap().len(), 1);
    drop(a); // died without acking or failing

    tokio::time::sleep(PAST_CLAIM_MIN_IDLE).await;
    config.consumer = "b".into();
    let mut b = Consumer::connect(&redis.url, config).await.unwrap();
    assert!(b.reclaim(10).await.unwrap().is_empty());

    let dead = redis.xrange(&dead_letter_stream(&streams.backfill)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1["reason"], REASON_ABANDONED);
    assert_eq!(dead[0].1["deliveries"], "2");
    assert_eq!(
        b.handle().pending_count(&streams.backfill).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn a_payload_that_can_never_work_is_parked_at_once() {
    let redis = TestRedis::new("park").await;
    let (config, streams) = config(&redis, "a");
    let mut a = Consumer::connect(&redis.url, config).await.unwrap();
    Producer::new(redis.conn.clone())
        .add_raw(&streams.live, "event", &["{not json"])
        .await
        .unwrap();
    let bad = a.read().await.unwrap().remove(0);
    let err = bad.payload::<FirehoseEvent>().unwrap_err();
    a.handle()
        .park(&bad, "invalid", &err.to_string(), 1)
        .await
        .unwrap();
    let dead = redis.xrange(&dead_letter_stream(&streams.live)).await;
    assert_eq!(dead[0].1["reason"], "invalid");
    assert!(
        dead[0].1["error"].contains("bad \"event\" JSON"),
        "{:?}",
        dead[0].1
    );
    assert_eq!(redis.xlen(&streams.live).await, 0);
}

#[tokio::test]
async fn entries_kept_pending_are_not_reclaimed_while_they_wait() {
    let redis = TestRedis::new("keep").await;
    let (config, streams) = config(&redis, "reader");
    let mut reader = Consumer::connect(&redis.url, config.clone()).await.unwrap();
    add(&redis, &streams.live, 1..=3).await;
    let read = reader.read().await.unwrap();
    assert_eq!(read.len(), 3);
    let mut other_config = config.clone();
    other_config.consumer = "other".into();
    let mut other = Consumer::connect(&redis.url, other_config).await.unwrap();

    // Half the claim time later, the first two are kept; the third is not.
    tokio::time::sleep(CLAIM_MIN_IDLE / 2).await;
    let kept: Vec<&str> = read[..2].iter().map(|d| d.id.as_str()).collect();
    let touched = reader
        .handle()
        .keep_pending(&streams.live, &kept, CLAIM_MIN_IDLE / 4)
        .await
        .unwrap();
    assert_eq!(touched, 2);
    tokio::time::sleep(CLAIM_MIN_IDLE / 2 + CLAIM_MIN_IDLE / 4).await;
    let reclaimed = other.reclaim(10).await.unwrap();
    assert_eq!(
        seqs(&reclaimed),
        vec![3],
        "only the entry not kept was idle long enough"
    );
    let info = reader
        .handle()
        .pending_info(&streams.live, &read[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.consumer, "reader");
    assert_eq!(info.deliveries, 1, "keeping an entry is not a delivery");

    // An entry the other consumer now holds, idle for less than min_idle, stays with it.
    let taken = reader
        .handle()
        .keep_pending(&streams.live, &[read[2].id.as_str()], CLAIM_MIN_IDLE)
        .await
        .unwrap();
    assert_eq!(taken, 0);
}
