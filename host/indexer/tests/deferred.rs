//! Duplicates inside one batch: records that would take a unique value an earlier record of
//! the batch takes (a second like of one post, a second follow of one account) are deferred
//! and run again inside the transaction, so the batch commits at the first attempt and comes
//! out as if the records had been indexed one by one. Real Postgres, the real Bluesky plugins.

mod common;

use common::{create, index, prepared, strings};
use serde_json::json;
use sluice_indexer::Entry;
use sluice_store::TestDb;

const ALICE: &str = "did:plc:alicealicealicealice00";
const BOB: &str = "did:plc:bobbobbobbobbobbobbob00";
const POST: &str = "at://did:plc:bobbobbobbobbobbobbob00/app.bsky.feed.post/3lbbbbbbbbb22";
const OTHER_POST: &str = "at://did:plc:bobbobbobbobbobbobbob00/app.bsky.feed.post/3lbbbbbbbbb33";
const POST_CID: &str = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";

fn like(delivery: usize, rkey: &str, subject: &str) -> Entry {
    let record = json!({
        "$type": "app.bsky.feed.like",
        "subject": { "uri": subject, "cid": POST_CID },
        "createdAt": "2025-01-01T00:00:00.000Z",
    });
    create(delivery, ALICE, "app.bsky.feed.like", rkey, &record)
}

fn follow(delivery: usize, rkey: &str, subject: &str) -> Entry {
    let record = json!({
        "$type": "app.bsky.graph.follow",
        "subject": subject,
        "createdAt": "2025-01-01T00:00:00.000Z",
    });
    create(delivery, ALICE, "app.bsky.graph.follow", rkey, &record)
}

fn uri(collection: &str, rkey: &str) -> String {
    format!("at://{ALICE}/{collection}/{rkey}")
}

/// `duplicate_record` as "uri -> duplicateOf" lines, by uri.
async fn duplicates(db: &TestDb) -> Vec<String> {
    strings(
        db,
        "SELECT uri || ' -> ' || \"duplicateOf\" FROM duplicate_record ORDER BY uri",
    )
    .await
}

/// The line of [`duplicates`] for `duplicate` pointing at `holder`.
fn points_at(duplicate: &str, holder: &str) -> String {
    format!("{duplicate} -> {holder}")
}

#[tokio::test]
async fn duplicates_in_one_batch_are_indexed_as_one_by_one() {
    let db = TestDb::migrated().await;
    let mut workers = prepared(&db).await;
    // Three likes of one post, the oldest (…a) arriving second; a like of another post between
    // them; two follows of one account, the older arriving last.
    let entries = [
        like(0, "3laaaaaaaab22", POST),
        like(1, "3laaaaaaaax22", OTHER_POST),
        like(2, "3laaaaaaaaa22", POST),
        like(3, "3laaaaaaaac22", POST),
        follow(4, "3laaaaaaaae22", BOB),
        follow(5, "3laaaaaaaad22", BOB),
    ];
    let report = index(&db, &mut workers, &entries).await;
    assert_eq!(report.counts.applied, 6, "{report:?}");
    assert!(report.parked.is_empty(), "{report:?}");
    assert!(report.counts.deferred >= 3, "{report:?}");

    let like_uri = |rkey| uri("app.bsky.feed.like", rkey);
    let follow_uri = |rkey| uri("app.bsky.graph.follow", rkey);
    assert_eq!(
        strings(&db, "SELECT uri FROM \"like\" ORDER BY uri").await,
        [like_uri("3laaaaaaaaa22"), like_uri("3laaaaaaaax22")],
        "the oldest like of each post holds the row"
    );
    assert_eq!(
        duplicates(&db).await,
        [
            points_at(&like_uri("3laaaaaaaab22"), &like_uri("3laaaaaaaaa22")),
            points_at(&like_uri("3laaaaaaaac22"), &like_uri("3laaaaaaaaa22")),
            points_at(&follow_uri("3laaaaaaaae22"), &follow_uri("3laaaaaaaad22")),
        ],
        "every duplicate points at the holder"
    );
    assert_eq!(
        strings(&db, "SELECT uri FROM follow").await,
        [follow_uri("3laaaaaaaad22")]
    );
    assert_eq!(
        strings(
            &db,
            &format!("SELECT \"likeCount\"::text FROM post_agg WHERE uri = '{POST}'")
        )
        .await,
        ["1"],
        "a duplicate like does not count"
    );
    assert_eq!(
        strings(
            &db,
            &format!("SELECT \"followersCount\"::text FROM profile_agg WHERE did = '{BOB}'")
        )
        .await,
        ["1"]
    );

    // Redelivered, the same batch changes nothing.
    let again = index(&db, &mut workers, &entries).await;
    assert_eq!(again.counts.duplicate, 6, "{again:?}");
    assert_eq!(again.counts.deferred, 0, "{again:?}");
}

#[tokio::test]
async fn an_older_duplicate_after_a_younger_one_takes_the_row_from_both() {
    let db = TestDb::migrated().await;
    let mut workers = prepared(&db).await;
    // The row goes to …b in the main write; …c (younger) and …a (older) run again after it,
    // …c first: …a must see …c's duplicate row when it takes the row over.
    let entries = [
        like(0, "3laaaaaaaab22", POST),
        like(1, "3laaaaaaaac22", POST),
        like(2, "3laaaaaaaaa22", POST),
    ];
    let report = index(&db, &mut workers, &entries).await;
    assert_eq!(report.counts.applied, 3, "{report:?}");
    let like_uri = |rkey| uri("app.bsky.feed.like", rkey);
    assert_eq!(
        strings(&db, "SELECT uri FROM \"like\"").await,
        [like_uri("3laaaaaaaaa22")]
    );
    assert_eq!(
        duplicates(&db).await,
        [
            points_at(&like_uri("3laaaaaaaab22"), &like_uri("3laaaaaaaaa22")),
            points_at(&like_uri("3laaaaaaaac22"), &like_uri("3laaaaaaaaa22")),
        ],
        "both younger likes point at the oldest"
    );
}
