//! The actor plugin: profiles, labelers, record-only collections, identity and account events.

use serde_json::json;
use sluice_bsky_testkit::{Host, OpResult, PluginHandle, fake_cid, json_record, value_text};
use sluice_plugin_sdk::types::{AccountEvent, IdentityEvent, NetworkEvent, Value};

const ALICE: &str = "did:plc:alice";
const BOB: &str = "did:plc:bob";
const T0: &str = "2024-05-01T10:00:00.000Z";
const T1: &str = "2024-05-01T10:00:01.000Z";
const T2: &str = "2024-05-01T10:00:02.000Z";

fn host() -> Host {
    Host::new(vec![PluginHandle::of::<sluice_bsky_actor::BskyActor>()])
}

fn text(row: &sluice_bsky_testkit::Row, column: &str) -> Option<String> {
    row.get(column).and_then(value_text)
}

fn create(host: &mut Host, uri: &str, record: &serde_json::Value, at: &str) -> OpResult {
    host.create(uri, &fake_cid(uri), json_record(record), at)
}

#[test]
fn profiles_with_key_self_only_and_the_starter_pack_notification() {
    let mut host = host();
    let pack = format!("at://{BOB}/app.bsky.graph.starterpack/3kpack");
    let profile = json!({"$type": "app.bsky.actor.profile", "displayName": "Alice",
                         "avatar": {"$type": "blob", "ref": {"$link": fake_cid("avatar")}, "mimeType": "image/png", "size": 1},
                         "joinedViaStarterPack": {"uri": pack, "cid": fake_cid("pack")},
                         "createdAt": "2024-05-01T12:00:00+02:00"});
    let uri = format!("at://{ALICE}/app.bsky.actor.profile/self");
    assert!(matches!(
        create(&mut host, &uri, &profile, T1),
        OpResult::Indexed { .. }
    ));
    let rows = host.rows("profile");
    assert_eq!(rows.len(), 1);
    assert_eq!(text(&rows[0], "avatarCid"), Some(fake_cid("avatar")));
    assert_eq!(
        text(&rows[0], "joinedViaStarterPackUri"),
        Some(pack.clone())
    );
    // Not normalised, as the reference stores it.
    assert_eq!(
        text(&rows[0], "createdAt").as_deref(),
        Some("2024-05-01T12:00:00+02:00")
    );
    let notes = host.rows("notification");
    assert_eq!(notes.len(), 1);
    assert_eq!(
        text(&notes[0], "reason").as_deref(),
        Some("starterpack-joined")
    );
    assert_eq!(text(&notes[0], "did").as_deref(), Some(BOB));
    assert_eq!(text(&notes[0], "sortAt").as_deref(), Some(T1));

    // An update keeps the notification and adds none; no createdAt: the indexing time.
    let updated = json!({"$type": "app.bsky.actor.profile", "displayName": "A"});
    host.update(&uri, &fake_cid("v2"), json_record(&updated), T2);
    let rows = host.rows("profile");
    assert_eq!(text(&rows[0], "displayName").as_deref(), Some("A"));
    assert_eq!(text(&rows[0], "createdAt").as_deref(), Some(T2));
    assert_eq!(rows[0].get("avatarCid"), Some(&Value::Null));
    assert_eq!(host.rows("notification").len(), 1);

    // Another key: stored, no row.
    let other = format!("at://{ALICE}/app.bsky.actor.profile/other");
    assert!(matches!(
        create(&mut host, &other, &updated, T1),
        OpResult::Indexed { .. }
    ));
    assert_eq!(host.rows("profile").len(), 1);
    host.delete(&uri, T2);
    assert!(host.rows("profile").is_empty());
    // The notification stays, as in the reference.
    assert_eq!(host.rows("notification").len(), 1);
}

#[test]
fn labelers_and_record_only_collections() {
    let mut host = host();
    let service = json!({"$type": "app.bsky.labeler.service", "policies": {"labelValues": []}, "createdAt": T0});
    create(
        &mut host,
        &format!("at://{ALICE}/app.bsky.labeler.service/self"),
        &service,
        T1,
    );
    assert_eq!(host.rows("labeler").len(), 1);
    for (collection, record) in [
        (
            "app.bsky.actor.status",
            json!({"status": "app.bsky.actor.status#live", "createdAt": T0}),
        ),
        (
            "chat.bsky.actor.declaration",
            json!({"allowIncoming": "all"}),
        ),
        (
            "app.bsky.notification.declaration",
            json!({"allowSubscriptions": "followers"}),
        ),
    ] {
        let result = create(
            &mut host,
            &format!("at://{ALICE}/{collection}/self"),
            &record,
            T1,
        );
        assert!(
            matches!(result, OpResult::Indexed { ref ops, .. } if ops.is_empty()),
            "{collection}: {result:?}"
        );
    }
    let missing = create(
        &mut host,
        &format!("at://{ALICE}/app.bsky.actor.status/self"),
        &json!({"createdAt": T0}),
        T1,
    );
    assert!(matches!(missing, OpResult::Skipped(_)), "{missing:?}");
}

#[test]
fn identity_events_set_handles_and_take_contended_ones() {
    let mut host = host();
    host.event(NetworkEvent::Identity(IdentityEvent {
        did: ALICE.into(),
        handle: Some("Alice.Test".into()),
    }));
    host.event(NetworkEvent::Identity(IdentityEvent {
        did: BOB.into(),
        handle: None,
    }));
    let actors = host.rows("actor");
    assert_eq!(actors.len(), 2);
    assert_eq!(text(&actors[0], "handle").as_deref(), Some("alice.test"));
    assert_eq!(actors[1].get("handle"), Some(&Value::Null));
    assert!(sluice_plugin_sdk::is_datetime(
        &text(&actors[0], "indexedAt").unwrap()
    ));
    // Bob now holds Alice's handle: hers is cleared.
    host.event(NetworkEvent::Identity(IdentityEvent {
        did: BOB.into(),
        handle: Some("alice.test".into()),
    }));
    let actors = host.rows("actor");
    assert_eq!(actors[0].get("handle"), Some(&Value::Null));
    assert_eq!(text(&actors[1], "handle").as_deref(), Some("alice.test"));
}

#[test]
fn account_events_set_status_and_delete() {
    let mut host = host();
    // No row yet: nothing (the reference updates existing rows only).
    let results = host.event(NetworkEvent::Account(AccountEvent {
        did: ALICE.into(),
        active: false,
        status: Some("takendown".into()),
    }));
    assert!(matches!(&results[0], OpResult::Indexed { ops, .. } if ops.is_empty()));
    host.event(NetworkEvent::Identity(IdentityEvent {
        did: ALICE.into(),
        handle: Some("alice.test".into()),
    }));
    host.event(NetworkEvent::Account(AccountEvent {
        did: ALICE.into(),
        active: false,
        status: Some("deactivated".into()),
    }));
    assert_eq!(
        text(&host.rows("actor")[0], "upstreamStatus").as_deref(),
        Some("deactivated")
    );
    host.event(NetworkEvent::Account(AccountEvent {
        did: ALICE.into(),
        active: true,
        status: None,
    }));
    assert_eq!(
        host.rows("actor")[0].get("upstreamStatus"),
        Some(&Value::Null)
    );
    let unknown = host.event(NetworkEvent::Account(AccountEvent {
        did: ALICE.into(),
        active: false,
        status: Some("throttled".into()),
    }));
    assert!(matches!(&unknown[0], OpResult::Skipped(_)));
    host.event(NetworkEvent::Account(AccountEvent {
        did: ALICE.into(),
        active: false,
        status: Some("deleted".into()),
    }));
    assert!(host.rows("actor").is_empty());
}
