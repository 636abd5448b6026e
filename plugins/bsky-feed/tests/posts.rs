//! Posts: the rows of one post, embeds and quotes, replies, notifications, updates, deletes.

mod support;

use serde_json::json;
use sluice_bsky_testkit::{OpResult, blob, fake_cid, json_record, value_text};
use sluice_plugin_sdk::types::Value;
use support::*;

const T0: &str = "2024-05-01T10:00:00.000Z";
const T1: &str = "2024-05-01T10:00:01.000Z";
const T2: &str = "2024-05-01T10:00:02.000Z";
const T3: &str = "2024-05-01T10:00:03.000Z";

fn text(row: &sluice_bsky_testkit::Row, column: &str) -> Option<String> {
    row.get(column).and_then(value_text)
}

#[test]
fn a_post_writes_its_row_feed_item_count_and_mention() {
    let mut host = host();
    let uri = post_uri(ALICE, "3kpost");
    let record = json!({
        "$type": "app.bsky.feed.post",
        "text": "hi @bob",
        "createdAt": "2024-05-01T12:00:00+02:00",
        "langs": ["en", "fr"],
        "tags": ["rust"],
        "facets": [{"index": {"byteStart": 3, "byteEnd": 7},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": BOB}]}]
    });
    let cid = fake_cid("post");
    assert!(matches!(
        host.create(&uri, &cid, json_record(&record), T1),
        OpResult::Indexed { .. }
    ));

    let posts = host.rows("post");
    assert_eq!(posts.len(), 1);
    let row = &posts[0];
    assert_eq!(text(row, "uri").as_deref(), Some(uri.as_str()));
    assert_eq!(text(row, "cid").as_deref(), Some(cid.as_str()));
    assert_eq!(text(row, "creator").as_deref(), Some(ALICE));
    assert_eq!(
        text(row, "createdAt").as_deref(),
        Some("2024-05-01T10:00:00.000Z")
    );
    assert_eq!(text(row, "indexedAt").as_deref(), Some(T1));
    assert_eq!(text(row, "langs").as_deref(), Some(r#"["en","fr"]"#));
    assert_eq!(text(row, "tags").as_deref(), Some(r#"["rust"]"#));
    assert_eq!(row.get("invalidReplyRoot"), Some(&Value::Null));
    assert_eq!(row.get("hasThreadGate"), Some(&Value::Null));

    let items = host.rows("feed_item");
    assert_eq!(items.len(), 1);
    assert_eq!(text(&items[0], "type").as_deref(), Some("post"));
    // sortAt = least(createdAt, indexedAt)
    assert_eq!(text(&items[0], "sortAt").as_deref(), Some(T0));

    let aggs = host.rows("profile_agg");
    assert_eq!(aggs.len(), 1);
    assert_eq!(aggs[0].get("postsCount"), Some(&Value::Integer(1)));

    let notes = host.rows("notification");
    assert_eq!(notes.len(), 1);
    assert_eq!(text(&notes[0], "did").as_deref(), Some(BOB));
    assert_eq!(text(&notes[0], "reason").as_deref(), Some("mention"));
    assert_eq!(notes[0].get("reasonSubject"), Some(&Value::Null));
    // The post awaits its own gates.
    assert!(
        host.awaits()
            .contains_key(&uri.replace("feed.post", "feed.threadgate"))
    );
    assert!(
        host.awaits()
            .contains_key(&uri.replace("feed.post", "feed.postgate"))
    );
}

#[test]
fn embeds_and_quotes() {
    let mut host = host();
    let quoted = post_uri(BOB, "3kquoted");
    Write::create(&quoted, post("quoted", T0), T0).apply(&mut host);
    let images = post_uri(ALICE, "3kimages");
    Write::create(
        &images,
        json!({"$type": "app.bsky.feed.post", "text": "", "createdAt": T1,
               "embed": {"$type": "app.bsky.embed.images", "images": [
                   {"image": blob("i1", "image/png"), "alt": "one"},
                   {"image": blob("i2", "image/png"), "alt": "two"}]}}),
        T1,
    )
    .apply(&mut host);
    let external = post_uri(ALICE, "3kexternal");
    Write::create(
        &external,
        json!({"$type": "app.bsky.feed.post", "text": "", "createdAt": T1,
               "embed": {"$type": "app.bsky.embed.external", "external": {
                   "uri": "https://example.com", "title": "t", "description": "d",
                   "thumb": blob("thumb", "image/jpeg")}}}),
        T1,
    )
    .apply(&mut host);
    let quote = post_uri(ALICE, "3kquote");
    Write::create(
        &quote,
        json!({"$type": "app.bsky.feed.post", "text": "look", "createdAt": T1,
               "embed": {"$type": "app.bsky.embed.recordWithMedia",
                         "record": {"$type": "app.bsky.embed.record", "record": strong(&quoted)},
                         "media": {"$type": "app.bsky.embed.video", "video": blob("v", "video/mp4")}}}),
        T1,
    )
    .apply(&mut host);
    let list_quote = post_uri(CAROL, "3klistquote");
    let list = uri(BOB, "app.bsky.graph.list", "3klist");
    Write::create(
        &list_quote,
        json!({"$type": "app.bsky.feed.post", "text": "list", "createdAt": T1,
               "embed": {"$type": "app.bsky.embed.record", "record": strong(&list)}}),
        T1,
    )
    .apply(&mut host);
    let gallery = post_uri(CAROL, "3kgallery");
    Write::create(
        &gallery,
        json!({"$type": "app.bsky.feed.post", "text": "g", "createdAt": T1,
               "embed": {"$type": "app.bsky.embed.gallery", "items": [
                   {"$type": "app.bsky.embed.gallery#image", "image": blob("g0", "image/png"), "alt": "a", "aspectRatio": {"width": 1, "height": 1}},
                   {"$type": "app.bsky.embed.gallery#future", "x": 1},
                   {"$type": "app.bsky.embed.gallery#image", "image": blob("g2", "image/png"), "alt": "c", "aspectRatio": {"width": 1, "height": 1}}]}}),
        T1,
    )
    .apply(&mut host);

    let images_rows = host.rows("post_embed_image");
    let positions: Vec<(String, String)> = images_rows
        .iter()
        .map(|r| (text(r, "postUri").unwrap(), text(r, "position").unwrap()))
        .collect();
    assert_eq!(
        positions,
        vec![(images.clone(), "0".into()), (images.clone(), "1".into())]
    );
    assert_eq!(text(&images_rows[1], "imageCid"), Some(fake_cid("i2")));
    assert_eq!(text(&images_rows[1], "alt").as_deref(), Some("two"));

    let externals = host.rows("post_embed_external");
    assert_eq!(externals.len(), 1);
    assert_eq!(text(&externals[0], "thumbCid"), Some(fake_cid("thumb")));

    let videos = host.rows("post_embed_video");
    assert_eq!(videos.len(), 1);
    assert_eq!(text(&videos[0], "videoCid"), Some(fake_cid("v")));
    assert_eq!(videos[0].get("alt"), Some(&Value::Null));

    let gallery_rows = host.rows("post_embed_gallery_image");
    let gallery_positions: Vec<String> = gallery_rows
        .iter()
        .map(|r| text(r, "position").unwrap())
        .collect();
    assert_eq!(gallery_positions, vec!["0", "2"]);

    let records = host.rows("post_embed_record");
    assert_eq!(records.len(), 2);
    // Only the quote of a post is a `quote`.
    let quotes = host.rows("quote");
    assert_eq!(quotes.len(), 1);
    assert_eq!(text(&quotes[0], "uri").as_deref(), Some(quote.as_str()));
    assert_eq!(
        text(&quotes[0], "subject").as_deref(),
        Some(quoted.as_str())
    );
    let agg = host.rows("post_agg");
    let quoted_agg = agg
        .iter()
        .find(|r| text(r, "uri").as_deref() == Some(quoted.as_str()))
        .unwrap();
    assert_eq!(quoted_agg.get("quoteCount"), Some(&Value::Integer(1)));

    let notes = host.rows("notification");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(text(&notes[0], "reason").as_deref(), Some("quote"));
    assert_eq!(text(&notes[0], "did").as_deref(), Some(BOB));
    assert_eq!(
        text(&notes[0], "reasonSubject").as_deref(),
        Some(quoted.as_str())
    );
}

#[test]
fn replies_count_notify_and_record_op_thread_replies() {
    let mut host = host();
    let root = post_uri(ALICE, "3kroot");
    let first = post_uri(BOB, "3kfirst");
    let second = post_uri(ALICE, "3ksecond");
    Write::create(&root, post("root", T0), T0).apply(&mut host);
    Write::create(&first, reply("first", &root, &root, T1), T1).apply(&mut host);
    Write::create(&second, reply("second", &root, &first, T2), T2).apply(&mut host);

    let agg = host.rows("post_agg");
    let count = |uri: &str| {
        agg.iter()
            .find(|r| text(r, "uri").as_deref() == Some(uri))
            .and_then(|r| r.get("replyCount").cloned())
    };
    assert_eq!(count(&root), Some(Value::Integer(1)));
    assert_eq!(count(&first), Some(Value::Integer(1)));
    for row in host.rows("post") {
        assert_eq!(row.get("invalidReplyRoot"), Some(&Value::Null), "{row:?}");
        assert_eq!(row.get("violatesThreadGate"), Some(&Value::Null));
    }
    // Alice's reply in her own thread is an OP reply.
    let op_replies = host.rows("op_thread_reply");
    assert_eq!(op_replies.len(), 1);
    assert_eq!(
        text(&op_replies[0], "uri").as_deref(),
        Some(second.as_str())
    );
    assert_eq!(
        text(&op_replies[0], "parentUri").as_deref(),
        Some(first.as_str())
    );

    // Bob's reply notifies Alice; Alice's reply to Bob notifies Bob (not herself).
    let mut notes: Vec<(String, String, String, String)> = host
        .rows("notification")
        .iter()
        .map(|r| {
            (
                text(r, "recordUri").unwrap(),
                text(r, "did").unwrap(),
                text(r, "reason").unwrap(),
                text(r, "reasonSubject").unwrap(),
            )
        })
        .collect();
    notes.sort();
    assert_eq!(
        notes,
        vec![
            (second.clone(), BOB.into(), "reply".into(), first.clone()),
            (first.clone(), ALICE.into(), "reply".into(), root.clone()),
        ]
    );
}

#[test]
fn a_reply_whose_parent_does_not_fit_is_an_invalid_reply_root() {
    let mut host = host();
    let root = post_uri(ALICE, "3kroot");
    let other_root = post_uri(ALICE, "3kother");
    let parent = post_uri(BOB, "3kparent");
    let child = post_uri(CAROL, "3kchild");
    Write::create(&root, post("root", T0), T0).apply(&mut host);
    Write::create(&other_root, post("other", T0), T0).apply(&mut host);
    Write::create(&parent, reply("p", &other_root, &other_root, T1), T1).apply(&mut host);
    // Claims `root` as its root, but its parent belongs to `other_root`.
    Write::create(&child, reply("c", &root, &parent, T2), T2).apply(&mut host);
    let row = host
        .rows("post")
        .into_iter()
        .find(|r| text(r, "uri").as_deref() == Some(child.as_str()))
        .unwrap();
    assert_eq!(row.get("invalidReplyRoot"), Some(&Value::Boolean(true)));
    assert_eq!(row.get("violatesThreadGate"), Some(&Value::Boolean(false)));
}

/// Asserts that the thread `writes` gives the same tables in every order, every reply valid,
/// and that those are the tables of commit order; returns the host fed in that order.
fn settles_valid_in_every_order(writes: &[Write]) -> sluice_bsky_testkit::Host {
    let dump = same_in_every_order(writes);
    assert!(!dump.contains("invalidReplyRoot=true"), "{dump}");
    let mut in_order = host();
    for write in writes {
        write.apply(&mut in_order);
    }
    assert_eq!(in_order.dump(&[]), dump);
    in_order
}

#[test]
fn a_thread_comes_out_the_same_in_every_order() {
    let root = post_uri(ALICE, "3kroot");
    let a = post_uri(BOB, "3ka");
    let b = post_uri(CAROL, "3kb");
    let c = post_uri(DAN, "3kc");
    let d = post_uri(BOB, "3kd");
    let writes = [
        Write::create(&root, post("root", T0), T0),
        Write::create(&a, reply("a", &root, &root, T1), T1),
        Write::create(&b, reply("b", &root, &a, T2), T2),
        Write::create(&c, reply("c", &root, &b, T3), T3),
        Write::create(
            &d,
            reply("d", &root, &c, "2024-05-01T10:00:04.000Z"),
            "2024-05-01T10:00:04.000Z",
        ),
    ];
    // In commit order every reply is valid and notifies up to four ancestors' authors.
    let in_order = settles_valid_in_every_order(&writes);
    // d notifies c's author (Dan), b's (Carol) and root's (Alice); a's author is Bob himself.
    let d_notes: Vec<String> = in_order
        .rows("notification")
        .iter()
        .filter(|r| text(r, "recordUri").as_deref() == Some(d.as_str()))
        .map(|r| text(r, "did").unwrap())
        .collect();
    assert_eq!(d_notes.len(), 3, "{d_notes:?}");
    for did in [ALICE, CAROL, DAN] {
        assert!(d_notes.contains(&did.to_owned()));
    }
}

#[test]
fn a_thread_deeper_than_the_ancestors_read_comes_out_the_same_in_every_order() {
    // Five replies: the lowest one's verdict reaches three ancestors up, past which its
    // judgement rests on a stored flag that settles only when the root arrives.
    let root = post_uri(ALICE, "3kroot");
    let replies: Vec<String> = ["3ka", "3kb", "3kc", "3kd", "3ke"]
        .iter()
        .zip([BOB, CAROL, DAN, BOB, CAROL])
        .map(|(rkey, did)| post_uri(did, rkey))
        .collect();
    let mut writes = vec![Write::create(&root, post("root", T0), T0)];
    let mut parent = root.clone();
    for (depth, uri) in replies.iter().enumerate() {
        let at = format!("2024-05-01T10:00:0{}.000Z", depth + 1);
        writes.push(Write::create(uri, reply("r", &root, &parent, &at), &at));
        parent = uri.clone();
    }
    settles_valid_in_every_order(&writes);
}

#[test]
fn deleting_everything_leaves_only_counts_and_soft_deleted_op_replies() {
    let mut host = host();
    let root = post_uri(ALICE, "3kroot");
    let reply_uri = post_uri(ALICE, "3kreply");
    let quote = post_uri(BOB, "3kquote");
    Write::create(&root, post("root", T0), T0).apply(&mut host);
    Write::create(&reply_uri, reply("r", &root, &root, T1), T1).apply(&mut host);
    Write::create(
        &quote,
        json!({"$type": "app.bsky.feed.post", "text": "q", "createdAt": T1,
               "embed": {"$type": "app.bsky.embed.recordWithMedia",
                         "record": {"record": strong(&root)},
                         "media": {"$type": "app.bsky.embed.images", "images": [{"image": blob("x", "image/png"), "alt": ""}]}}}),
        T1,
    )
    .apply(&mut host);
    for uri in [&quote, &reply_uri, &root] {
        Write::delete(uri, T3).apply(&mut host);
    }
    for table in [
        "post",
        "feed_item",
        "post_embed_image",
        "post_embed_record",
        "quote",
        "notification",
    ] {
        assert!(
            host.rows(table).is_empty(),
            "{table}: {:?}",
            host.rows(table)
        );
    }
    for row in host
        .rows("post_agg")
        .iter()
        .chain(host.rows("profile_agg").iter())
    {
        for (column, value) in row {
            if column.ends_with("Count") {
                assert_eq!(value, &Value::Integer(0), "{row:?}");
            }
        }
    }
    let op_replies = host.rows("op_thread_reply");
    assert_eq!(op_replies.len(), 1);
    assert_eq!(text(&op_replies[0], "deletedAt").as_deref(), Some(T3));
}

#[test]
fn an_update_replaces_embeds_and_drops_quotes_of_the_post() {
    let mut host = host();
    let target = post_uri(ALICE, "3ktarget");
    let quoter = post_uri(BOB, "3kquoter");
    Write::create(
        &target,
        json!({"$type": "app.bsky.feed.post", "text": "v1", "createdAt": T0,
               "embed": {"$type": "app.bsky.embed.images", "images": [
                   {"image": blob("a", "image/png"), "alt": "a"}, {"image": blob("b", "image/png"), "alt": "b"}]}}),
        T0,
    )
    .apply(&mut host);
    Write::create(
        &quoter,
        json!({"$type": "app.bsky.feed.post", "text": "q", "createdAt": T1,
               "embed": {"$type": "app.bsky.embed.record", "record": strong(&target)}}),
        T1,
    )
    .apply(&mut host);
    assert_eq!(host.rows("quote").len(), 1);
    let v2 = json!({"$type": "app.bsky.feed.post", "text": "v2", "createdAt": T0,
                    "embed": {"$type": "app.bsky.embed.external", "external": {"uri": "https://x", "title": "", "description": ""}}});
    let result = host.update(&target, &fake_cid("v2"), json_record(&v2), T2);
    assert!(matches!(result, OpResult::Indexed { .. }), "{result:?}");
    assert!(host.rows("post_embed_image").is_empty());
    assert_eq!(host.rows("post_embed_external").len(), 1);
    let row = host
        .rows("post")
        .into_iter()
        .find(|r| text(r, "uri").as_deref() == Some(target.as_str()))
        .unwrap();
    assert_eq!(text(&row, "text").as_deref(), Some("v2"));
    assert_eq!(text(&row, "indexedAt").as_deref(), Some(T2));
    // The reference's update path deletes the quotes of the post (and they stay deleted).
    assert!(host.rows("quote").is_empty());
}

#[test]
fn invalid_records_are_skipped() {
    let mut host = host();
    let result = host.create(
        &post_uri(ALICE, "3kbad"),
        &fake_cid("bad"),
        json_record(&json!({"$type": "app.bsky.feed.post", "createdAt": T0})),
        T0,
    );
    assert!(matches!(result, OpResult::Skipped(_)), "{result:?}");
    let result = host.create(
        &post_uri(ALICE, "3knul"),
        &fake_cid("nul"),
        json_record(&json!({"$type": "app.bsky.feed.post", "text": "a\u{0}b", "createdAt": T0})),
        T0,
    );
    assert!(matches!(result, OpResult::Skipped(_)), "{result:?}");
    assert!(host.rows("post").is_empty());
}

#[test]
fn old_records_do_not_notify() {
    let mut host = host();
    let root = post_uri(ALICE, "3kroot");
    Write::create(&root, post("root", "2020-01-01T00:00:00.000Z"), T0).apply(&mut host);
    Write::create(
        &post_uri(BOB, "3kold"),
        reply("old", &root, &root, "2020-01-02T00:00:00.000Z"),
        T1,
    )
    .apply(&mut host);
    assert!(host.rows("notification").is_empty());
    Write::create(
        &post_uri(BOB, "3knew"),
        reply("new", &root, &root, "2024-04-30T00:00:00.000Z"),
        T1,
    )
    .apply(&mut host);
    assert_eq!(host.rows("notification").len(), 1);
}

/// A delete in the same batch as its create finds no stored `op_thread_reply` row (the batch's
/// rows are written after all of its operations ran): the row the previous version wrote is
/// soft-deleted all the same.
#[test]
fn deleting_an_op_reply_soft_deletes_the_row_its_previous_version_wrote() {
    use sluice_plugin_sdk::types::{
        Action, Answer, Found, Outcome, RecordOp, RowOp, Source, StoredRecord,
    };
    let root = post_uri(ALICE, "3kroot");
    let op_reply = post_uri(ALICE, "3kreply");
    let body = json_record(&reply("mine", &root, &root, T1));
    let cid = fake_cid(&op_reply);
    let delete = RecordOp {
        action: Action::Delete,
        did: ALICE.into(),
        collection: "app.bsky.feed.post".into(),
        rkey: "3kreply".into(),
        record: None,
        previous: Some(StoredRecord { cid, body }),
        rev: "3kaaaaaaaaaa2".into(),
        indexed_at: T2.into(),
        source: Source::Live,
    };
    // Every question answered with "nothing stored".
    let mut answers: Vec<Answer> = Vec::new();
    let ops = loop {
        let outcome = sluice_plugin_sdk::runtime::index_records::<sluice_bsky_feed::BskyFeed>(
            std::slice::from_ref(&delete),
            &answers,
        )
        .remove(0);
        match outcome {
            Outcome::Indexed(indexed) => break indexed.ops,
            Outcome::Needs(lookups) => answers.extend(lookups.into_iter().map(|lookup| {
                let found = match &lookup {
                    sluice_plugin_sdk::types::Lookup::Record(_) => Found::Record(None),
                    sluice_plugin_sdk::types::Lookup::Rows(_) => Found::Rows(Vec::new()),
                };
                Answer { lookup, found }
            })),
            Outcome::Failed(error) => panic!("{error:?}"),
        }
    };
    let soft_deletes: Vec<&RowOp> = ops
        .iter()
        .filter(|op| matches!(op, RowOp::Upsert(u) if u.table == "op_thread_reply"))
        .collect();
    assert_eq!(soft_deletes.len(), 1, "{ops:?}");
    let RowOp::Upsert(upsert) = soft_deletes[0] else {
        unreachable!()
    };
    let assigned = |column: &str| {
        upsert
            .assignments
            .iter()
            .find(|a| a.column == column)
            .map(|a| format!("{:?}", a.value))
    };
    assert!(assigned("uri").is_some_and(|v| v.contains(op_reply.as_str())));
    assert!(assigned("deletedAt").is_some_and(|v| v.contains("2024-05-01T10:00:02")));
}
