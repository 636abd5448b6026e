//! The graph plugin: follows and their counts, duplicates and promotion in every order, list
//! items of someone else's list, verifications, opt-outs, lists and starter packs.

use serde_json::{Value as Json, json};
use sluice_bsky_testkit::{Host, OpResult, PluginHandle, fake_cid, json_record, value_text};
use sluice_plugin_sdk::types::Value;

const ALICE: &str = "did:plc:alice";
const BOB: &str = "did:plc:bob";
const CAROL: &str = "did:plc:carol";
const T0: &str = "2024-05-01T10:00:00.000Z";
const T1: &str = "2024-05-01T10:00:01.000Z";
const T2: &str = "2024-05-01T10:00:02.000Z";

fn host() -> Host {
    Host::new(vec![PluginHandle::of::<sluice_bsky_graph::BskyGraph>()])
}

fn uri(did: &str, collection: &str, rkey: &str) -> String {
    format!("at://{did}/{collection}/{rkey}")
}

fn create(host: &mut Host, uri: &str, record: &Json, at: &str) -> OpResult {
    host.create(uri, &fake_cid(uri), json_record(record), at)
}

fn follow(subject: &str, at: &str) -> Json {
    json!({"$type": "app.bsky.graph.follow", "subject": subject, "createdAt": at})
}

fn text(row: &sluice_bsky_testkit::Row, column: &str) -> Option<String> {
    row.get(column).and_then(value_text)
}

fn counts(host: &Host, did: &str) -> (i64, i64) {
    let row = host
        .rows("profile_agg")
        .into_iter()
        .find(|r| text(r, "did").as_deref() == Some(did))
        .unwrap_or_default();
    let get = |column: &str| match row.get(column) {
        Some(Value::Integer(n)) => *n,
        _ => 0,
    };
    (get("followersCount"), get("followsCount"))
}

#[test]
fn follows_count_and_notify() {
    let mut host = host();
    let a = uri(ALICE, "app.bsky.graph.follow", "3ka");
    assert!(matches!(
        create(&mut host, &a, &follow(BOB, T0), T1),
        OpResult::Indexed { .. }
    ));
    create(
        &mut host,
        &uri(CAROL, "app.bsky.graph.follow", "3kc"),
        &follow(BOB, T0),
        T1,
    );
    assert_eq!(counts(&host, BOB), (2, 0));
    assert_eq!(counts(&host, ALICE), (0, 1));
    let notes = host.rows("notification");
    assert_eq!(notes.len(), 2);
    assert!(
        notes
            .iter()
            .all(|n| text(n, "reason").as_deref() == Some("follow")
                && n.get("reasonSubject") == Some(&Value::Null))
    );
    host.delete(&a, T2);
    assert_eq!(counts(&host, BOB), (1, 0));
    assert_eq!(counts(&host, ALICE), (0, 0));
    assert_eq!(host.rows("notification").len(), 1);
}

/// Three follows of Bob by Alice: the oldest record key holds the row whatever the order; the
/// others are duplicates of it; a redelivered follow counts once.
#[test]
fn duplicates_resolve_to_the_oldest_in_every_order() {
    let keys = ["3kaaa", "3kbbb", "3kccc"];
    let orders = [
        [0, 1, 2],
        [2, 1, 0],
        [1, 2, 0],
        [2, 0, 1],
        [1, 0, 2],
        [0, 2, 1],
    ];
    let mut first_dump: Option<String> = None;
    for order in orders {
        let mut host = host();
        for index in order {
            let uri = uri(ALICE, "app.bsky.graph.follow", keys[index]);
            create(&mut host, &uri, &follow(BOB, T0), T1);
        }
        // A redelivery changes nothing.
        create(
            &mut host,
            &uri(ALICE, "app.bsky.graph.follow", keys[1]),
            &follow(BOB, T0),
            T1,
        );
        assert_eq!(counts(&host, BOB), (1, 0));
        let follows = host.rows("follow");
        assert_eq!(follows.len(), 1);
        assert_eq!(
            text(&follows[0], "uri"),
            Some(uri(ALICE, "app.bsky.graph.follow", "3kaaa"))
        );
        let duplicates = host.rows("duplicate_record");
        assert_eq!(duplicates.len(), 2);
        assert!(
            duplicates
                .iter()
                .all(|d| text(d, "duplicateOf")
                    == Some(uri(ALICE, "app.bsky.graph.follow", "3kaaa")))
        );
        let dump = host.dump(&[]);
        match &first_dump {
            None => first_dump = Some(dump),
            Some(first) => assert_eq!(&dump, first, "order {order:?}"),
        }
    }
}

#[test]
fn deleting_the_holder_promotes_the_oldest_duplicate() {
    let mut host = host();
    let keys = ["3kaaa", "3kbbb", "3kccc"];
    for key in keys {
        create(
            &mut host,
            &uri(ALICE, "app.bsky.graph.follow", key),
            &follow(BOB, T0),
            T1,
        );
    }
    host.delete(&uri(ALICE, "app.bsky.graph.follow", "3kaaa"), T2);
    let follows = host.rows("follow");
    assert_eq!(follows.len(), 1);
    assert_eq!(
        text(&follows[0], "uri"),
        Some(uri(ALICE, "app.bsky.graph.follow", "3kbbb"))
    );
    // The promoted row keeps the time its duplicate was indexed.
    assert_eq!(text(&follows[0], "indexedAt").as_deref(), Some(T1));
    let duplicates = host.rows("duplicate_record");
    assert_eq!(duplicates.len(), 1);
    assert_eq!(
        text(&duplicates[0], "uri"),
        Some(uri(ALICE, "app.bsky.graph.follow", "3kccc"))
    );
    assert_eq!(
        text(&duplicates[0], "duplicateOf"),
        Some(uri(ALICE, "app.bsky.graph.follow", "3kbbb"))
    );
    assert_eq!(counts(&host, BOB), (1, 0));
    // The notification follows the row.
    let notes = host.rows("notification");
    assert_eq!(notes.len(), 1);
    assert_eq!(
        text(&notes[0], "recordUri"),
        Some(uri(ALICE, "app.bsky.graph.follow", "3kbbb"))
    );
    // Deleting a duplicate removes only its own row.
    host.delete(&uri(ALICE, "app.bsky.graph.follow", "3kccc"), T2);
    assert!(host.rows("duplicate_record").is_empty());
    assert_eq!(host.rows("follow").len(), 1);
}

#[test]
fn list_items_belong_to_the_list_author() {
    let mut host = host();
    let list = uri(ALICE, "app.bsky.graph.list", "3klist");
    let record = json!({"$type": "app.bsky.graph.list", "name": "n", "purpose": "app.bsky.graph.defs#modlist",
                        "description": "d", "createdAt": T0,
                        "descriptionFacets": [{"index": {"byteStart": 0, "byteEnd": 1},
                                               "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "x"}]}]});
    assert!(matches!(
        create(&mut host, &list, &record, T0),
        OpResult::Indexed { .. }
    ));
    let lists = host.rows("list");
    assert_eq!(
        text(&lists[0], "descriptionFacets").as_deref(),
        Some(
            r#"[{"index":{"byteEnd":1,"byteStart":0},"features":[{"tag":"x","$type":"app.bsky.richtext.facet#tag"}]}]"#
        )
    );
    let item = |subject: &str| json!({"$type": "app.bsky.graph.listitem", "subject": subject, "list": list, "createdAt": T1});
    let own = create(
        &mut host,
        &uri(ALICE, "app.bsky.graph.listitem", "3ki"),
        &item(CAROL),
        T1,
    );
    assert!(matches!(own, OpResult::Indexed { .. }), "{own:?}");
    let foreign = create(
        &mut host,
        &uri(BOB, "app.bsky.graph.listitem", "3ki"),
        &item(CAROL),
        T1,
    );
    assert!(matches!(foreign, OpResult::Skipped(_)), "{foreign:?}");
    assert_eq!(host.rows("list_item").len(), 1);
}

#[test]
fn verifications_notify_when_given_and_withdrawn() {
    let mut host = host();
    let v = uri(ALICE, "app.bsky.graph.verification", "3kv");
    let record = json!({"$type": "app.bsky.graph.verification", "subject": BOB, "handle": "bob.test",
                        "displayName": "Bob", "createdAt": T0});
    create(&mut host, &v, &record, T1);
    let rows = host.rows("verification");
    assert_eq!(text(&rows[0], "rkey").as_deref(), Some("3kv"));
    assert_eq!(text(&rows[0], "handle").as_deref(), Some("bob.test"));
    host.delete(&v, T2);
    assert!(host.rows("verification").is_empty());
    let mut reasons: Vec<(String, String)> = host
        .rows("notification")
        .iter()
        .map(|n| (text(n, "reason").unwrap(), text(n, "sortAt").unwrap()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("unverified".into(), T2.into()),
            ("verified".into(), T0.into())
        ]
    );
}

#[test]
fn opt_outs_of_lists_only() {
    let mut host = host();
    let good = uri(BOB, "app.bsky.graph.referencelistoptout", "3kgood");
    let bad = uri(BOB, "app.bsky.graph.referencelistoptout", "3kbad");
    let record = |subject: &str| json!({"$type": "app.bsky.graph.referencelistoptout", "subject": subject, "createdAt": T0});
    create(
        &mut host,
        &good,
        &record(&uri(ALICE, "app.bsky.graph.list", "3kl")),
        T0,
    );
    let result = create(
        &mut host,
        &bad,
        &record(&uri(ALICE, "app.bsky.feed.post", "3kp")),
        T0,
    );
    // Stored by the reference, but no row.
    assert!(matches!(result, OpResult::Indexed { .. }));
    let rows = host.rows("reference_list_opt_out");
    assert_eq!(rows.len(), 1);
    assert_eq!(text(&rows[0], "uri"), Some(good));
}

#[test]
fn starter_packs_blocks_and_list_blocks() {
    let mut host = host();
    create(
        &mut host,
        &uri(ALICE, "app.bsky.graph.starterpack", "3ks"),
        &json!({"$type": "app.bsky.graph.starterpack", "name": "pack", "list": uri(ALICE, "app.bsky.graph.list", "3kl"), "createdAt": T0}),
        T0,
    );
    create(
        &mut host,
        &uri(ALICE, "app.bsky.graph.block", "3kb"),
        &json!({"$type": "app.bsky.graph.block", "subject": BOB, "createdAt": T0}),
        T0,
    );
    create(
        &mut host,
        &uri(ALICE, "app.bsky.graph.block", "3kc"),
        &json!({"$type": "app.bsky.graph.block", "subject": BOB, "createdAt": T0}),
        T0,
    );
    create(
        &mut host,
        &uri(CAROL, "app.bsky.graph.listblock", "3kx"),
        &json!({"$type": "app.bsky.graph.listblock", "subject": uri(ALICE, "app.bsky.graph.list", "3kl"), "createdAt": T0}),
        T0,
    );
    assert_eq!(
        text(&host.rows("starter_pack")[0], "name").as_deref(),
        Some("pack")
    );
    assert_eq!(host.rows("actor_block").len(), 1);
    assert_eq!(host.rows("duplicate_record").len(), 1);
    assert_eq!(host.rows("list_block").len(), 1);
    // Blocks notify nobody.
    assert!(host.rows("notification").is_empty());
}
