//! Waiters replayed inside a batch: a post always awaits its thread gate, so a post and its gate
//! indexed in one batch (a backfill delivers a repo's records together) replay the post once,
//! after the gate is written, and the post row then says it has a gate. Real Postgres, the
//! real Bluesky plugins.

mod common;

use common::{create, index, prepared, strings};
use serde_json::json;
use sluice_store::TestDb;

const BOB: &str = "did:plc:bobbobbobbobbobbobbob00";
const RKEY: &str = "3lbbbbbbbbb22";

#[tokio::test]
async fn a_post_and_its_gate_in_one_batch_replay_the_post_once() {
    let db = TestDb::migrated().await;
    let mut workers = prepared(&db).await;
    let post_uri = format!("at://{BOB}/app.bsky.feed.post/{RKEY}");
    let post = create(
        0,
        BOB,
        "app.bsky.feed.post",
        RKEY,
        &json!({
            "$type": "app.bsky.feed.post",
            "text": "gated",
            "createdAt": "2025-01-01T00:00:00.000Z",
        }),
    );
    let gate = create(
        1,
        BOB,
        "app.bsky.feed.threadgate",
        RKEY,
        &json!({
            "$type": "app.bsky.feed.threadgate",
            "post": post_uri,
            "allow": [],
            "createdAt": "2025-01-01T00:00:00.000Z",
        }),
    );

    let report = index(&db, &mut workers, &[post, gate]).await;
    assert_eq!(report.counts.applied, 2, "{report:?}");
    // The post saw no gate when it ran (the gate was written later in the batch): it is
    // replayed once, sees the gate, and is not replayed again although it still awaits it.
    assert_eq!(report.counts.replays, 1, "{report:?}");
    assert_eq!(
        strings(
            &db,
            &format!("SELECT \"hasThreadGate\"::text FROM post WHERE uri = '{post_uri}'")
        )
        .await,
        ["true"]
    );
}
