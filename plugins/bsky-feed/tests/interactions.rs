//! Likes and reposts: rows, counts, duplicates, feed items, `via` notifications.

mod support;

use serde_json::json;
use sluice_bsky_testkit::{OpResult, fake_cid, json_record, value_text};
use sluice_plugin_sdk::types::{RowOp, Value};
use support::*;

const T0: &str = "2024-05-01T10:00:00.000Z";
const T1: &str = "2024-05-01T10:00:01.000Z";
const T2: &str = "2024-05-01T10:00:02.000Z";

fn text(row: &sluice_bsky_testkit::Row, column: &str) -> Option<String> {
    row.get(column).and_then(value_text)
}

fn interaction(kind: &str, subject: &str, via: Option<&str>, at: &str) -> serde_json::Value {
    let mut record = json!({"$type": kind, "subject": strong(subject), "createdAt": at});
    if let Some(via) = via {
        record["via"] = strong(via);
    }
    record
}

fn agg(host: &sluice_bsky_testkit::Host, uri: &str, column: &str) -> i64 {
    host.rows("post_agg")
        .into_iter()
        .find(|r| text(r, "uri").as_deref() == Some(uri))
        .and_then(|r| match r.get(column) {
            Some(Value::Integer(n)) => Some(*n),
            _ => None,
        })
        .unwrap_or(0)
}

#[test]
fn likes_and_reposts_with_via_in_every_order() {
    let target = post_uri(ALICE, "3ktarget");
    let repost = uri(BOB, "app.bsky.feed.repost", "3krepost");
    let like = uri(CAROL, "app.bsky.feed.like", "3klike");
    let second_like = uri(CAROL, "app.bsky.feed.like", "3klike2");
    let writes = [
        Write::create(&target, post("t", T0), T0),
        Write::create(
            &repost,
            interaction("app.bsky.feed.repost", &target, None, T1),
            T1,
        ),
        Write::create(
            &like,
            interaction("app.bsky.feed.like", &target, Some(&repost), T2),
            T2,
        ),
        Write::create(
            &second_like,
            interaction("app.bsky.feed.like", &target, None, T2),
            T2,
        ),
    ];
    let dump = same_in_every_order(&writes);
    let mut host = host();
    for write in &writes {
        write.apply(&mut host);
    }
    assert_eq!(host.dump(&[]), dump);
    assert_eq!(agg(&host, &target, "likeCount"), 1);
    assert_eq!(agg(&host, &target, "repostCount"), 1);
    let likes = host.rows("like");
    assert_eq!(text(&likes[0], "via"), Some(repost.clone()));
    assert_eq!(host.rows("duplicate_record").len(), 1);
    let items = host.rows("feed_item");
    let repost_item = items
        .iter()
        .find(|r| text(r, "type").as_deref() == Some("repost"))
        .unwrap();
    assert_eq!(text(repost_item, "postUri"), Some(target.clone()));
    assert_eq!(text(repost_item, "originatorDid").as_deref(), Some(BOB));
    let mut notes: Vec<(String, String, String)> = host
        .rows("notification")
        .iter()
        .map(|n| {
            (
                text(n, "did").unwrap(),
                text(n, "reason").unwrap(),
                text(n, "reasonSubject").unwrap(),
            )
        })
        .collect();
    notes.sort();
    assert_eq!(
        notes,
        vec![
            (ALICE.into(), "like".into(), target.clone()),
            (ALICE.into(), "repost".into(), target.clone()),
            (BOB.into(), "like-via-repost".into(), repost.clone()),
        ]
    );
}

#[test]
fn duplicate_reposts_keep_their_feed_items_and_self_likes_do_not_notify() {
    let mut host = host();
    let target = post_uri(ALICE, "3ktarget");
    Write::create(&target, post("t", T0), T0).apply(&mut host);
    for key in ["3ka", "3kb"] {
        Write::create(
            &uri(BOB, "app.bsky.feed.repost", key),
            interaction("app.bsky.feed.repost", &target, None, T1),
            T1,
        )
        .apply(&mut host);
    }
    Write::create(
        &uri(ALICE, "app.bsky.feed.like", "3kself"),
        interaction("app.bsky.feed.like", &target, None, T1),
        T1,
    )
    .apply(&mut host);
    assert_eq!(host.rows("repost").len(), 1);
    assert_eq!(
        host.rows("feed_item")
            .iter()
            .filter(|r| text(r, "type").as_deref() == Some("repost"))
            .count(),
        2
    );
    assert_eq!(agg(&host, &target, "repostCount"), 1);
    assert_eq!(agg(&host, &target, "likeCount"), 1);
    // One repost notification (the holder), none for the self-like.
    assert_eq!(host.rows("notification").len(), 1);
    // Deleting the holder promotes the duplicate: still one repost, one notification.
    Write::delete(&uri(BOB, "app.bsky.feed.repost", "3ka"), T2).apply(&mut host);
    assert_eq!(agg(&host, &target, "repostCount"), 1);
    assert_eq!(
        host.rows("feed_item")
            .iter()
            .filter(|r| text(r, "type").as_deref() == Some("repost"))
            .count(),
        1
    );
    let notes = host.rows("notification");
    assert_eq!(notes.len(), 1);
    assert_eq!(
        text(&notes[0], "recordUri"),
        Some(uri(BOB, "app.bsky.feed.repost", "3kb"))
    );
}

#[test]
fn a_deleted_post_takes_reposts_feed_items_with_it() {
    let mut host = host();
    let target = post_uri(ALICE, "3ktarget");
    Write::create(&target, post("t", T0), T0).apply(&mut host);
    Write::create(
        &uri(BOB, "app.bsky.feed.repost", "3ka"),
        interaction("app.bsky.feed.repost", &target, None, T1),
        T1,
    )
    .apply(&mut host);
    Write::delete(&target, T2).apply(&mut host);
    // As the reference: the post's deletion removes every feed item of it, reposts' included;
    // the repost row itself stays.
    assert!(host.rows("feed_item").is_empty());
    assert_eq!(host.rows("repost").len(), 1);
}

#[test]
fn a_like_updated_onto_a_held_subject_gives_up_its_row_and_a_new_duplicate_deletes_nothing() {
    let first = post_uri(ALICE, "3kfirst");
    let second = post_uri(ALICE, "3ksecond");
    let older = uri(CAROL, "app.bsky.feed.like", "3klike1");
    let younger = uri(CAROL, "app.bsky.feed.like", "3klike2");
    let mut host = host();
    for write in [
        Write::create(&first, post("a", T0), T0),
        Write::create(&second, post("b", T0), T0),
        Write::create(
            &older,
            interaction("app.bsky.feed.like", &first, None, T1),
            T1,
        ),
    ] {
        write.apply(&mut host);
    }

    // Indexed for the first time as a duplicate: nothing of it is stored, nothing is deleted.
    let record = interaction("app.bsky.feed.like", &first, None, T2);
    let created = host.create(&younger, &fake_cid("v1"), json_record(&record), T2);
    let OpResult::Indexed { ops, .. } = &created else {
        panic!("not indexed: {created:?}");
    };
    assert!(
        ops.iter().all(|op| !matches!(op, RowOp::Delete(_))),
        "a first version deletes nothing: {ops:?}"
    );
    assert_eq!(host.rows("duplicate_record").len(), 1);

    // Moved to the other post, it holds that one's row; moved back, it gives the row up.
    let moved = interaction("app.bsky.feed.like", &second, None, T2);
    host.update(&younger, &fake_cid("v2"), json_record(&moved), T2);
    assert_eq!(agg(&host, &second, "likeCount"), 1);
    assert!(host.rows("duplicate_record").is_empty());
    host.update(&younger, &fake_cid("v3"), json_record(&record), T2);
    assert_eq!(agg(&host, &second, "likeCount"), 0);
    assert_eq!(agg(&host, &first, "likeCount"), 1);
    assert_eq!(host.rows("like").len(), 1);
    assert_eq!(host.rows("duplicate_record").len(), 1);
}
