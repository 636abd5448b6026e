//! Labels: newest `cts` wins per key, in any order; negations replace; expiry kept.

use sluice_bsky_testkit::{Host, PluginHandle, value_text};
use sluice_plugin_sdk::types::{Label, NetworkEvent, Value};

fn label(val: &str, neg: bool, cts: &str, cid: Option<&str>) -> Label {
    Label {
        src: "did:plc:labeler".into(),
        uri: "at://did:plc:alice/app.bsky.feed.post/3k".into(),
        cid: cid.map(str::to_owned),
        val: val.into(),
        neg,
        cts: cts.into(),
        exp: Some("2030-01-01T00:00:00.000Z".into()),
    }
}

fn run(labels: &[Label]) -> Host {
    let mut host = Host::new(vec![PluginHandle::of::<sluice_bsky_labels::BskyLabels>()]);
    for label in labels {
        host.event(NetworkEvent::Label(label.clone()));
    }
    host
}

#[test]
fn newest_wins_in_any_order() {
    let applied = label("porn", false, "2024-05-01T10:00:00.000Z", None);
    let negated = label("porn", true, "2024-05-02T10:00:00.000Z", None);
    let in_order = run(&[applied.clone(), negated.clone()]);
    let reversed = run(&[negated, applied]);
    assert_eq!(in_order.dump(&[]), reversed.dump(&[]));
    let rows = in_order.rows("label");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get("neg"), Some(&Value::Boolean(true)));
    assert_eq!(rows[0].get("cid").and_then(value_text).as_deref(), Some(""));
    assert_eq!(
        rows[0].get("exp").and_then(value_text).as_deref(),
        Some("2030-01-01T00:00:00.000Z")
    );
}

#[test]
fn keys_are_separate_and_bad_times_are_refused() {
    let host = run(&[
        label("porn", false, "2024-05-01T10:00:00.000Z", None),
        label(
            "porn",
            false,
            "2024-05-01T10:00:00.000Z",
            Some("bafyversion"),
        ),
        label("spam", false, "2024-05-01T10:00:00.000Z", None),
    ]);
    assert_eq!(host.rows("label").len(), 3);
    let mut host = host;
    let results = host.event(NetworkEvent::Label(label("x", false, "yesterday", None)));
    assert!(matches!(
        results[0],
        sluice_bsky_testkit::OpResult::Skipped(_)
    ));
}
