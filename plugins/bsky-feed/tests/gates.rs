//! Thread gates and post gates: their rows, ownership, flags of the posts they govern, and
//! the same results in every arrival order.

mod support;

use serde_json::json;
use sluice_bsky_testkit::{OpResult, fake_cid, json_record, value_text};
use sluice_plugin_sdk::types::Value;
use support::*;

const T0: &str = "2024-05-01T10:00:00.000Z";
const T1: &str = "2024-05-01T10:00:01.000Z";
const T2: &str = "2024-05-01T10:00:02.000Z";
const T3: &str = "2024-05-01T10:00:03.000Z";

fn threadgate(post: &str, allow: serde_json::Value, created_at: &str) -> serde_json::Value {
    json!({"$type": "app.bsky.feed.threadgate", "post": post, "allow": allow, "createdAt": created_at})
}

fn postgate(post: &str, created_at: &str) -> serde_json::Value {
    json!({"$type": "app.bsky.feed.postgate", "post": post, "createdAt": created_at,
           "embeddingRules": [{"$type": "app.bsky.feed.postgate#disableRule"}]})
}

fn gate_uri(post: &str, collection: &str) -> String {
    post.replace("app.bsky.feed.post", collection)
}

fn post_row(host: &sluice_bsky_testkit::Host, uri: &str) -> sluice_bsky_testkit::Row {
    host.rows("post")
        .into_iter()
        .find(|r| r.get("uri").and_then(value_text).as_deref() == Some(uri))
        .unwrap_or_else(|| panic!("no post {uri}"))
}

#[test]
fn a_gate_flags_its_post_until_deleted() {
    let mut host = host();
    let root = post_uri(ALICE, "3kroot");
    let tg = gate_uri(&root, "app.bsky.feed.threadgate");
    Write::create(&root, post("root", T0), T0).apply(&mut host);
    assert_eq!(
        post_row(&host, &root).get("hasThreadGate"),
        Some(&Value::Null)
    );
    Write::create(&tg, threadgate(&root, json!([]), T1), T1).apply(&mut host);
    assert_eq!(
        post_row(&host, &root).get("hasThreadGate"),
        Some(&Value::Boolean(true))
    );
    assert_eq!(host.rows("thread_gate").len(), 1);
    Write::delete(&tg, T2).apply(&mut host);
    assert_eq!(
        post_row(&host, &root).get("hasThreadGate"),
        Some(&Value::Boolean(false))
    );
    assert!(host.rows("thread_gate").is_empty());
}

#[test]
fn a_gate_must_match_its_post() {
    let mut host = host();
    let root = post_uri(ALICE, "3kroot");
    // Bob's gate for Alice's post, and Alice's gate under another record key.
    let result = host.create(
        &uri(BOB, "app.bsky.feed.threadgate", "3kroot"),
        &fake_cid("g1"),
        json_record(&threadgate(&root, json!([]), T1)),
        T1,
    );
    assert!(matches!(result, OpResult::Skipped(_)), "{result:?}");
    let result = host.create(
        &uri(ALICE, "app.bsky.feed.postgate", "3kother"),
        &fake_cid("g2"),
        json_record(&postgate(&root, T1)),
        T1,
    );
    assert!(matches!(result, OpResult::Skipped(_)), "{result:?}");
    assert!(host.rows("thread_gate").is_empty());
    assert!(host.rows("post_gate").is_empty());
}

#[test]
fn replies_gated_before_they_were_written_violate_in_every_order() {
    let root = post_uri(ALICE, "3kroot");
    let tg = gate_uri(&root, "app.bsky.feed.threadgate");
    let early = post_uri(BOB, "3kearly");
    let late = post_uri(CAROL, "3klate");
    let own = post_uri(ALICE, "3kown");
    let writes = [
        Write::create(&root, post("root", T0), T0),
        // Bob replied before the gate existed: allowed.
        Write::create(&early, reply("early", &root, &root, T0), T0),
        Write::create(&tg, threadgate(&root, json!([]), T1), T1),
        // Carol replied after: violates (nobody may reply). Alice may always reply.
        Write::create(&late, reply("late", &root, &root, T2), T2),
        Write::create(&own, reply("own", &root, &late, T3), T3),
    ];
    let dump = same_in_every_order(&writes);
    let mut host = host();
    for write in &writes {
        write.apply(&mut host);
    }
    assert_eq!(host.dump(&[]), dump);
    assert_eq!(
        post_row(&host, &early).get("violatesThreadGate"),
        Some(&Value::Null)
    );
    assert_eq!(
        post_row(&host, &late).get("violatesThreadGate"),
        Some(&Value::Boolean(true))
    );
    assert_eq!(
        post_row(&host, &own).get("violatesThreadGate"),
        Some(&Value::Null)
    );
    assert_eq!(
        post_row(&host, &root).get("hasThreadGate"),
        Some(&Value::Boolean(true))
    );
    // replyCount leaves out the violating reply.
    let agg = host
        .rows("post_agg")
        .into_iter()
        .find(|r| r.get("uri").and_then(value_text).as_deref() == Some(root.as_str()))
        .unwrap();
    assert_eq!(agg.get("replyCount"), Some(&Value::Integer(1)));
    // The violating reply notifies nobody.
    assert!(
        !host.rows("notification").iter().any(|r| r
            .get("recordUri")
            .and_then(value_text)
            .as_deref()
            == Some(late.as_str())),
        "{dump}"
    );
}

#[test]
fn follower_and_list_rules() {
    let mut host = host();
    let root = post_uri(ALICE, "3kroot");
    let list = uri(ALICE, "app.bsky.graph.list", "3klist");
    Write::create(&root, post("root", T0), T0).apply(&mut host);
    Write::create(
        &list,
        json!({"$type": "app.bsky.graph.list", "name": "friends", "purpose": "app.bsky.graph.defs#curatelist", "createdAt": T0}),
        T0,
    )
    .apply(&mut host);
    Write::create(
        &uri(ALICE, "app.bsky.graph.listitem", "3kitem"),
        json!({"$type": "app.bsky.graph.listitem", "subject": DAN, "list": list, "createdAt": T0}),
        T0,
    )
    .apply(&mut host);
    Write::create(
        &uri(BOB, "app.bsky.graph.follow", "3kfollow"),
        json!({"$type": "app.bsky.graph.follow", "subject": ALICE, "createdAt": T0}),
        T0,
    )
    .apply(&mut host);
    Write::create(
        &gate_uri(&root, "app.bsky.feed.threadgate"),
        threadgate(
            &root,
            json!([{"$type": "app.bsky.feed.threadgate#followerRule"},
                   {"$type": "app.bsky.feed.threadgate#listRule", "list": list}]),
            T1,
        ),
        T1,
    )
    .apply(&mut host);
    let bob = post_uri(BOB, "3kbob");
    let carol = post_uri(CAROL, "3kcarol");
    let dan = post_uri(DAN, "3kdan");
    for (uri, text) in [(&bob, "follower"), (&carol, "stranger"), (&dan, "listed")] {
        Write::create(uri, reply(text, &root, &root, T2), T2).apply(&mut host);
    }
    assert_eq!(
        post_row(&host, &bob).get("violatesThreadGate"),
        Some(&Value::Null)
    );
    assert_eq!(
        post_row(&host, &carol).get("violatesThreadGate"),
        Some(&Value::Boolean(true))
    );
    assert_eq!(
        post_row(&host, &dan).get("violatesThreadGate"),
        Some(&Value::Null)
    );
}

#[test]
fn mention_rule_and_hidden_replies() {
    let mut host = host();
    let root = post_uri(ALICE, "3kroot");
    Write::create(
        &root,
        json!({"$type": "app.bsky.feed.post", "text": "hey @carol", "createdAt": T0,
               "facets": [{"index": {"byteStart": 4, "byteEnd": 10},
                           "features": [{"$type": "app.bsky.richtext.facet#mention", "did": CAROL}]}]}),
        T0,
    )
    .apply(&mut host);
    let hidden = post_uri(CAROL, "3khidden");
    Write::create(
        &gate_uri(&root, "app.bsky.feed.threadgate"),
        json!({"$type": "app.bsky.feed.threadgate", "post": root, "createdAt": T0,
               "allow": [{"$type": "app.bsky.feed.threadgate#mentionRule"}],
               "hiddenReplies": [hidden]}),
        T0,
    )
    .apply(&mut host);
    Write::create(&hidden, reply("mentioned", &root, &root, T1), T1).apply(&mut host);
    let below = post_uri(CAROL, "3kbelow");
    Write::create(&below, reply("below", &root, &hidden, T2), T2).apply(&mut host);
    assert_eq!(
        post_row(&host, &hidden).get("violatesThreadGate"),
        Some(&Value::Null)
    );
    // Carol's reply below her own hidden reply notifies nobody: she is the parent's author,
    // and nobody above a hidden reply is notified.
    let notified: Vec<String> = host
        .rows("notification")
        .iter()
        .filter(|r| r.get("recordUri").and_then(value_text).as_deref() == Some(below.as_str()))
        .map(|r| r.get("did").and_then(value_text).unwrap())
        .collect();
    assert!(notified.is_empty(), "{notified:?}");
}

#[test]
fn quotes_and_post_gates_in_every_order() {
    let target = post_uri(ALICE, "3ktarget");
    let pg = gate_uri(&target, "app.bsky.feed.postgate");
    let before = post_uri(BOB, "3kbefore");
    let after = post_uri(CAROL, "3kafter");
    let quote = |text: &str, at: &str| {
        json!({"$type": "app.bsky.feed.post", "text": text, "createdAt": at,
               "embed": {"$type": "app.bsky.embed.record", "record": strong(&target)}})
    };
    let writes = [
        Write::create(&target, post("target", T0), T0),
        Write::create(&before, quote("before", T0), T0),
        Write::create(&pg, postgate(&target, T1), T1),
        Write::create(&after, quote("after", T2), T2),
    ];
    let dump = same_in_every_order(&writes);
    let mut host = host();
    for write in &writes {
        write.apply(&mut host);
    }
    assert_eq!(host.dump(&[]), dump);
    assert_eq!(
        post_row(&host, &before).get("violatesEmbeddingRules"),
        Some(&Value::Null)
    );
    assert_eq!(
        post_row(&host, &after).get("violatesEmbeddingRules"),
        Some(&Value::Boolean(true))
    );
    assert_eq!(
        post_row(&host, &target).get("hasPostGate"),
        Some(&Value::Boolean(true))
    );
    // Only the allowed quote notifies; both count.
    let quote_notes: Vec<String> = host
        .rows("notification")
        .iter()
        .map(|r| r.get("recordUri").and_then(value_text).unwrap())
        .collect();
    assert_eq!(quote_notes, vec![before.clone()]);
    let agg = host
        .rows("post_agg")
        .into_iter()
        .find(|r| r.get("uri").and_then(value_text).as_deref() == Some(target.as_str()))
        .unwrap();
    assert_eq!(agg.get("quoteCount"), Some(&Value::Integer(2)));
}

#[test]
fn a_reply_and_its_gate_in_one_batch() {
    let mut host = host();
    let root = post_uri(ALICE, "3kroot");
    Write::create(&root, post("root", T0), T0).apply(&mut host);
    let tg = gate_uri(&root, "app.bsky.feed.threadgate");
    let late = post_uri(CAROL, "3klate");
    let results = host.batch(vec![
        (
            sluice_plugin_sdk::types::Action::Create,
            late.clone(),
            Some((
                fake_cid("late"),
                json_record(&reply("late", &root, &root, T2)),
            )),
            T2.to_owned(),
        ),
        (
            sluice_plugin_sdk::types::Action::Create,
            tg.clone(),
            Some((
                fake_cid("tg"),
                json_record(&threadgate(&root, json!([]), T1)),
            )),
            T1.to_owned(),
        ),
    ]);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, OpResult::Indexed { .. })),
        "{results:?}"
    );
    // The reply was answered before the gate was written; it awaited the gate and was
    // replayed after the batch.
    assert_eq!(
        post_row(&host, &late).get("violatesThreadGate"),
        Some(&Value::Boolean(true))
    );
    assert_eq!(
        post_row(&host, &root).get("hasThreadGate"),
        Some(&Value::Boolean(true))
    );
}
