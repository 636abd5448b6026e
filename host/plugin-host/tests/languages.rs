//! The Statusphere example is one plugin written in three languages: the Rust
//! (`plugins/examples/statusphere/rust`), Python (componentize-py) and JavaScript
//! (componentize-js) components declare the same thing and give the same outcome for every
//! operation and event: the same row operations (derived deletes included) and the same wording
//! of every error, down to the DAG-CBOR decoder's.
//!
//! The Python and JavaScript components are built by `plugins/examples/statusphere/build.sh`,
//! which needs python3 (with venv) and node with npm and installs componentize-py and
//! componentize-js into `.cache/` on first use. Without them this test fails rather than skips:
//! CI runs it. Compiled code is cached in `.cache/wasmtime-languages`, so a warm run does not
//! compile the two interpreters (seconds each) again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_plugin_host::guest_build;
use sluice_plugin_host::types::{
    AccountEvent, Action, IdentityEvent, IndexError, Label, NetworkEvent, Outcome, RecordOp, RowOp,
    Source, StoredRecord, Value,
};
use sluice_plugin_host::{
    DriverOptions, EngineConfig, LoadOptions, MemoryResolver, OpResult, Plugin, PluginEngine,
};

const COLLECTION: &str = "xyz.statusphere.status";
const ALICE: &str = "did:plc:alice";
const CREATED_AT: &str = "2024-11-05T10:00:00.000Z";
const INDEXED_AT: &str = "2024-11-05T10:00:01.000Z";
/// The one case the plugin indexes and the host then refuses.
const HOST_REFUSES: &str = "a createdAt the plugin accepts and the host refuses";

#[test]
fn python_and_javascript_components_match_the_rust_one() {
    // Build the three components side by side (on a cold cache the tools are installed first).
    let (rust_path, python_path, js_path) = std::thread::scope(|scope| {
        let rust = scope.spawn(|| guest_build::build("statusphere-plugin"));
        let python = scope.spawn(|| build_with_script("python"));
        let js = scope.spawn(|| build_with_script("js"));
        (
            rust.join().unwrap().unwrap(),
            python.join().unwrap(),
            js.join().unwrap(),
        )
    });
    let engine = engine();
    let rust = load(&engine, &rust_path);
    let cases = record_cases();
    let ops: Vec<RecordOp> = cases.iter().map(|case| case.op.clone()).collect();
    let expected = call_records(&rust, &ops);
    let expected_events = call_events(&rust, &events());
    assert_rust_outcomes(&cases, &expected, &expected_events);
    // Only the case meant for it is refused by the host's checks.
    let expected_results = driver_results(&rust, &ops);
    for (case, result) in cases.iter().zip(&expected_results) {
        let parked = matches!(result, OpResult::Parked(_));
        assert_eq!(
            parked,
            case.name == HOST_REFUSES,
            "{}: {result:?}",
            case.name
        );
    }

    let mut differences = Vec::new();
    for (language, path) in [("python", python_path), ("js", js_path)] {
        let plugin = load(&engine, &path);
        if plugin.declaration().info() != rust.declaration().info() {
            differences.push(format!(
                "{language}: describe() = {:#?}\nrust: {:#?}",
                plugin.declaration().info(),
                rust.declaration().info()
            ));
        }
        let outcomes = call_records(&plugin, &ops);
        for ((case, want), got) in cases.iter().zip(&expected).zip(&outcomes) {
            if got != want {
                differences.push(format!(
                    "{language}, {}:\n  got  {got:?}\n  rust {want:?}",
                    case.name
                ));
            }
        }
        let events = call_events(&plugin, &events());
        if events != expected_events {
            differences.push(format!(
                "{language}, events:\n  got  {events:?}\n  rust {expected_events:?}"
            ));
        }
        let results = driver_results(&plugin, &ops);
        for ((case, want), got) in cases.iter().zip(&expected_results).zip(&results) {
            if got != want {
                differences.push(format!(
                    "{language}, {} (driver):\n  got  {got:?}\n  rust {want:?}",
                    case.name
                ));
            }
        }
        print_costs(language, &plugin, &path);
    }
    print_costs("rust", &rust, &rust_path);
    assert!(
        differences.is_empty(),
        "{} differences from the Rust plugin:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// The Python and JavaScript modules hold the list of characters Rust's `{:?}` escapes (it
/// depends on the Unicode version of Rust's standard library): it must be this Rust's.
#[test]
fn the_escaped_characters_are_those_of_this_rust() {
    let ranges = escaped_ranges();
    let expected: Vec<String> = ranges
        .iter()
        .map(|&(first, last)| match first == last {
            true => format!("{first:x}"),
            false => format!("{first:x}-{last:x}"),
        })
        .collect();
    for file in ["python/rust_debug.py", "js/src/rustDebug.js"] {
        let path = guest_build::workspace_root()
            .join("plugins/examples/statusphere")
            .join(file);
        let source = std::fs::read_to_string(&path).unwrap();
        let listed: Vec<String> = source
            .lines()
            .skip_while(|line| !line.contains("BEGIN ESCAPED"))
            .take_while(|line| !line.contains("END ESCAPED"))
            .flat_map(str::split_whitespace)
            .filter(|item| {
                item.split('-')
                    .all(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
            })
            .map(str::to_owned)
            .collect();
        assert!(
            listed == expected,
            "{file}: the list of escaped characters differs from this Rust's; replace it with:\n{}",
            fold(&expected)
        );
    }
}

/// One record operation of the batch, named for failure messages.
struct Case {
    name: &'static str,
    op: RecordOp,
}

/// A realistic batch: creates, updates and deletes with and without the previous version,
/// invalid statuses and datetimes, bodies that do not decode (each failing at another step of
/// the DAG-CBOR decoder), and `createdAt` values holding characters Rust's `{:?}` escapes.
fn record_cases() -> Vec<Case> {
    use Action::{Create, Delete, Update};
    let ok = record("🦋", CREATED_AT);
    let coffee = record("☕", "2024-11-05T11:00:00.000Z");
    let empty = record("", CREATED_AT);
    let too_long = record("a status far too long for the table", CREATED_AT);
    let every_kind = cbor(&json!({
        "$type": COLLECTION, "status": "👍", "createdAt": CREATED_AT,
        "n": -12, "big": 1_u64 << 40, "ok": true, "none": null,
        "list": [1, "two", {"three": [3]}],
        "link": {"$link": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},
        "bytes": {"$bytes": "aGVsbG8"},
    }));
    let reordered = text_map(&[("createdAt", CREATED_AT), ("status", "🙂")]);
    let json_body = br#"{"status":"\u00e9","createdAt":"2024-11-05T10:00:00Z"}"#.to_vec();
    let some = |body: &Vec<u8>| Some(body.clone());
    let mut cases = vec![
        case("create", Create, "a1", some(&ok), None),
        case(
            "update with previous",
            Update,
            "a1",
            some(&coffee),
            some(&ok),
        ),
        case("update without previous", Update, "a2", some(&coffee), None),
        case(
            "update over an invalid previous",
            Update,
            "a3",
            some(&ok),
            some(&empty),
        ),
        case(
            "update over an undecodable previous",
            Update,
            "a3",
            some(&ok),
            Some(vec![1]),
        ),
        case(
            "update to an invalid record",
            Update,
            "a4",
            some(&empty),
            some(&ok),
        ),
        case("update without a record", Update, "a5", None, some(&ok)),
        case(
            "create over a stored record",
            Create,
            "a6",
            some(&coffee),
            some(&ok),
        ),
        case("delete with previous", Delete, "a1", None, some(&coffee)),
        case("delete without previous", Delete, "a7", None, None),
        case(
            "delete with an invalid previous",
            Delete,
            "a8",
            None,
            some(&too_long),
        ),
        case(
            "delete carrying a record",
            Delete,
            "a9",
            some(&ok),
            some(&ok),
        ),
        case(
            "status of 32 bytes",
            Create,
            "b1",
            Some(record(&"🦋".repeat(8), CREATED_AT)),
            None,
        ),
        case(
            "family emoji",
            Create,
            "b2",
            Some(record("👨‍👩‍👧‍👦", CREATED_AT)),
            None,
        ),
        case("empty status", Create, "b3", some(&empty), None),
        case(
            "status of 33 bytes",
            Create,
            "b4",
            Some(record(&("🦋".repeat(8) + "!"), CREATED_AT)),
            None,
        ),
        case(
            "other fields of every kind",
            Create,
            "b5",
            some(&every_kind),
            None,
        ),
        case(
            "fields in another order",
            Create,
            "b6",
            some(&reordered),
            None,
        ),
        case("JSON body", Create, "b7", some(&json_body), None),
    ];
    let mut other_collection = case("another collection", Create, "b8", some(&ok), None);
    other_collection.op.collection = "xyz.statusphere.other".into();
    let mut backfill = case("backfill", Create, "b9", Some(ok), None);
    backfill.op.source = Source::Backfill;
    backfill.op.did = "did:web:bob.example".into();
    cases.extend([other_collection, backfill]);

    for (index, created_at) in [
        "yesterday",
        "2024-11-05",
        "2024-11-05T10:00:00",
        "2024-11-05T10:00:00z",
        "2024-11-05T10:00:00.Z",
        "2024-13-05T10:00:00Z",
        "2024-11-05T24:00:00Z",
        "2024-02-31T10:00:00Z",
        "2023-02-29T10:00:00Z",
        "1900-02-29T10:00:00Z",
        "2024-04-31T10:00:00Z",
        "2024-11-05T10:00:00+0530",
        "2024-11-05 10:00:00Z",
        "٢٠٢٤-11-05T10:00:00Z",
        "quote \" backslash \\ tab \t newline \n return \r nul \0 bell \u{7}",
        "e\u{301} zwj\u{200d} nbsp\u{a0} shy\u{ad} bom\u{feff} ls\u{2028} pua\u{e000} tag\u{e0001} 漢字 🦋 👍🏽",
    ]
    .into_iter()
    .enumerate()
    {
        cases.push(named(
            "invalid createdAt",
            index,
            Action::Create,
            Some(record("👍", created_at)),
        ));
    }
    for (index, created_at) in [
        "2024-11-05T10:00:00Z",
        "2024-11-05T10:00:60.123456789Z",
        "1985-04-12T23:20:50.52+05:30",
        "2024-11-05T10:00:00-00:00",
        "2024-02-29T10:00:00Z",
        "2000-02-29T10:00:00Z",
    ]
    .into_iter()
    .enumerate()
    {
        cases.push(named(
            "valid createdAt",
            index,
            Action::Create,
            Some(record("👍", created_at)),
        ));
    }
    // The SDK's `is_datetime` checks an offset's digits, not its range; the host refuses the
    // timestamp and parks the operation (the same in every language).
    cases.push(case(
        HOST_REFUSES,
        Action::Create,
        "c1",
        Some(record("👍", "2024-11-05T10:00:00+99:99")),
        None,
    ));
    // Every character Rust's `{:?}` escapes next to one it does not (the ends of each range),
    // and a spread over all of Unicode: the Python and JavaScript lists must agree with Rust.
    let mut boundaries = String::new();
    for (first, last) in escaped_ranges() {
        for code in [first.saturating_sub(1), first, last, last + 1] {
            boundaries.extend(char::from_u32(code));
        }
    }
    let spread: String = (0..=0x10FFFF_u32)
        .step_by(61)
        .filter_map(char::from_u32)
        .collect();
    for (index, created_at) in [boundaries, spread].iter().enumerate() {
        cases.push(named(
            "escaped characters",
            index,
            Action::Create,
            Some(record("👍", created_at)),
        ));
    }

    let status = b"\x66status\x62ok";
    let created_at = [&b"\x69createdAt\x78\x18"[..], CREATED_AT.as_bytes()].concat();
    let with = |head: &[u8], rest: &[&[u8]]| [head, &rest.concat()].concat();
    for (index, body) in [
        // Not a map, or not only one.
        vec![],
        vec![0x01],
        vec![0x20],
        vec![0xa0],
        vec![0x61, 0x61],
        vec![0xbf, 0xff],
        vec![0xf6],
        with(&[0xa2], &[status, &created_at, &[0x00]]),
        // Missing, repeated or mistyped fields.
        with(&[0xa1], &[status]),
        with(&[0xa1], &[&created_at]),
        with(&[0xa3], &[status, status, &created_at]),
        with(&[0xa2], &[b"\x66status\x18\x2a", &created_at]),
        with(&[0xa2], &[b"\x66status\xf6", &created_at]),
        with(&[0xa2], &[b"\x66status\x41x", &created_at]),
        with(&[0xa2], &[b"\x66status\xff", &created_at]),
        with(&[0xa2], &[b"\x01s\x62ok", &created_at]),
        // Truncated.
        with(&[0xa2], &[status]),
        with(&[0xa2], &[b"\x66status\x62o"]),
        with(&[0xa2], &[b"\x66status\x7a\xff\xff\xff\xffok"]),
        with(
            &[0xa2],
            &[b"\x66status\x7b\x00\x00\x00\x01\x00\x00\x00\x00ok"],
        ),
        vec![0xb9, 0x00],
        // Text in chunks, and chunks that are not text.
        with(&[0xa2], &[b"\x66status\x7f\x61o\x61k\xff", &created_at]),
        with(
            &[0xa2],
            &[b"\x66status\x7f\x61o\x7f\x61k\xff\xff", &created_at],
        ),
        with(&[0xa2], &[b"\x66status\x7f\x01o\xff", &created_at]),
        with(&[0xa2], &[b"\x66status\x7f\x61o", &created_at]),
        // Not UTF-8.
        with(&[0xa2], &[b"\x66status\x62\xc3\x28", &created_at]),
        with(&[0xa2], &[b"\x66status\x63o\xe2\x82", &created_at]),
        with(&[0xa2], &[b"\x66status\x63\xed\xa0\x80", &created_at]),
        with(&[0xa2], &[b"\x66status\x64\xf0\x9f\x98\x41", &created_at]),
        with(&[0xa2], &[b"\x66status\x62\xf8\x80", &created_at]),
        with(&[0xa2], &[b"\x66status\x62\xc0\x80", &created_at]),
        with(&[0xa2], &[b"\x66st\xffus\x62ok", &created_at]),
        // Other fields: items of every kind to skip, and items that cannot be skipped.
        with(&[0xa3], &[status, &created_at, b"\x61x\x1c"]),
        with(&[0xa3], &[status, &created_at, b"\x61x\xf8\x10"]),
        with(&[0xa3], &[status, &created_at, b"\x61x\xff"]),
        with(&[0xa3], &[status, &created_at, b"\x61x\xdc\x00"]),
        with(&[0xa3], &[status, &created_at, b"\x61x\x5c\x00"]),
        with(
            &[0xa3],
            &[
                status,
                &created_at,
                b"\x61x\x9b\x00\x00\x00\x01\x00\x00\x00\x00",
            ],
        ),
        with(
            &[0xa3],
            &[status, &created_at, b"\x61x\x9a\xff\xff\xff\xff"],
        ),
        with(&[0xa3], &[status, &created_at, b"\x61x\x5f\x41a\x61b\xff"]),
        with(&[0xa3], &[status, &created_at, b"\x61x\xbf\x61a\x01\xff"]),
        with(&[0xa3], &[status, &created_at, b"\x61x\x9f\x01\x02"]),
        with(
            &[0xa3],
            &[
                status,
                &created_at,
                b"\x61x\xd8\x2a\x45\x00\x01\x02\x03\x04",
            ],
        ),
        with(
            &[0xa3],
            &[
                status,
                &created_at,
                b"\x61x\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00",
            ],
        ),
        with(&[0xa3], &[status, &created_at, b"\x61x\xf9\x3c"]),
        with(&[0xa3], &[status, &created_at, &nested(255)]),
        with(&[0xa3], &[status, &created_at, &nested(254)]),
    ]
    .into_iter()
    .enumerate()
    {
        cases.push(named("body", index, Action::Create, Some(body)));
    }
    cases
}

/// `depth` nested one-element arrays around a 0, after the key `x`.
fn nested(depth: usize) -> Vec<u8> {
    let mut bytes = vec![0x61, b'x'];
    bytes.extend(std::iter::repeat_n(0x81, depth));
    bytes.push(0x00);
    bytes
}

/// The network events: the plugin takes none, and says so for each.
fn events() -> Vec<NetworkEvent> {
    vec![
        NetworkEvent::Identity(IdentityEvent {
            did: ALICE.into(),
            handle: Some("alice.test".into()),
        }),
        NetworkEvent::Account(AccountEvent {
            did: ALICE.into(),
            active: false,
            status: Some("takendown".into()),
        }),
        NetworkEvent::Label(Label {
            src: "did:plc:labeler".into(),
            uri: format!("at://{ALICE}/{COLLECTION}/a1"),
            cid: None,
            val: "spam".into(),
            neg: false,
            cts: CREATED_AT.into(),
            exp: None,
        }),
    ]
}

/// A few of the Rust plugin's outcomes, so that the comparison stands on known ground.
fn assert_rust_outcomes(cases: &[Case], outcomes: &[Outcome], events: &[Outcome]) {
    let outcome = |name: &str| {
        let index = cases.iter().position(|case| case.name == name).unwrap();
        &outcomes[index]
    };
    let uri = format!("at://{ALICE}/{COLLECTION}/a1");
    let Outcome::Indexed(created) = outcome("create") else {
        panic!("create: {:?}", outcome("create"));
    };
    let [RowOp::Upsert(upsert)] = created.ops.as_slice() else {
        panic!("create: {created:?}");
    };
    let columns: Vec<(&str, &Value)> = upsert
        .assignments
        .iter()
        .map(|assignment| (assignment.column.as_str(), &assignment.value))
        .collect();
    assert_eq!(
        columns,
        [
            ("uri", &Value::Text(uri.clone())),
            ("authorDid", &Value::Text(ALICE.into())),
            ("status", &Value::Text("🦋".into())),
            ("createdAt", &Value::Timestamp(CREATED_AT.into())),
            ("indexedAt", &Value::Timestamp(INDEXED_AT.into())),
        ]
    );
    let Outcome::Indexed(deleted) = outcome("delete with previous") else {
        panic!("{:?}", outcome("delete with previous"));
    };
    let [RowOp::Delete(delete)] = deleted.ops.as_slice() else {
        panic!("delete with previous: {deleted:?}");
    };
    assert_eq!(
        (delete.table.as_str(), &delete.matching[0].value),
        ("status", &Value::Text(uri))
    );
    assert!(matches!(outcome("delete without previous"), Outcome::Indexed(i) if i.ops.is_empty()));
    assert_eq!(
        outcome("empty status"),
        &Outcome::Failed(IndexError::InvalidRecord(
            "status must be 1 to 32 bytes, not 0".into()
        ))
    );
    let invalid = cases
        .iter()
        .position(|case| case.name == "invalid createdAt")
        .unwrap();
    assert_eq!(
        outcomes[invalid],
        Outcome::Failed(IndexError::InvalidRecord(
            "createdAt \"yesterday\" is not a datetime".into()
        ))
    );
    let unsupported = Outcome::Failed(IndexError::Unsupported(
        "this plugin does not index network events".into(),
    ));
    assert_eq!(
        events,
        [unsupported.clone(), unsupported.clone(), unsupported]
    );
}

/// What the driver makes of the batch (rounds, the checks of every row operation against the
/// declaration): one result per operation.
fn driver_results(plugin: &Plugin, ops: &[RecordOp]) -> Vec<OpResult> {
    let mut worker = plugin.worker();
    block_on(worker.index_records(ops, &MemoryResolver::default(), DriverOptions::default()))
        .unwrap()
        .results
}

/// Prints what a call and an operation cost (shown with `--no-capture`), and the component's
/// size and load times.
fn print_costs(language: &str, plugin: &Plugin, path: &Path) {
    let batch: Vec<RecordOp> = (0..100)
        .map(|index| {
            case(
                "",
                Action::Create,
                &format!("c{index}"),
                Some(record("🦋", CREATED_AT)),
                None,
            )
            .op
        })
        .collect();
    let mut worker = plugin.worker();
    let time = |worker: &mut sluice_plugin_host::PluginWorker, ops: &[RecordOp], calls: u32| {
        block_on(worker.call_records(ops, &[])).unwrap();
        let started = Instant::now();
        for _ in 0..calls {
            block_on(worker.call_records(ops, &[])).unwrap();
        }
        started.elapsed() / calls
    };
    let one = time(&mut worker, &batch[..1], 200);
    let hundred = time(&mut worker, &batch, 20);
    let size = std::fs::metadata(path).map_or(0, |metadata| metadata.len());
    let timings = plugin.timings();
    let per_op = hundred.saturating_sub(one) / 99;
    eprintln!(
        "{language}: {size} bytes, compiled in {:?}, described in {:?}; \
         a call of 1 op {one:?}, of 100 ops {hundred:?} ({per_op:?} per further op)",
        timings.compile, timings.describe,
    );
}

fn engine() -> PluginEngine {
    PluginEngine::new(EngineConfig {
        // Generous: the batch holds records with 20 000 characters to escape, and the machine
        // may be busy.
        call_deadline: Duration::from_secs(30),
        max_instances: 8,
        cache_dir: Some(guest_build::workspace_root().join(".cache/wasmtime-languages")),
        ..EngineConfig::default()
    })
    .unwrap()
}

/// Builds the Python or JavaScript component with the example's build script.
fn build_with_script(language: &str) -> PathBuf {
    let script = guest_build::workspace_root().join("plugins/examples/statusphere/build.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(language)
        .output()
        .unwrap_or_else(|error| panic!("could not run {}: {error}", script.display()));
    assert!(
        output.status.success(),
        "building the {language} component failed (it needs python3 with venv, or node and \
         npm):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

fn load(engine: &PluginEngine, path: &Path) -> Plugin {
    block_on(Plugin::load_file(engine, path, LoadOptions::default()))
        .unwrap_or_else(|error| panic!("loading {}: {error}", path.display()))
}

fn call_records(plugin: &Plugin, ops: &[RecordOp]) -> Vec<Outcome> {
    let mut worker = plugin.worker();
    block_on(worker.call_records(ops, &[]))
        .unwrap_or_else(|failure| panic!("{}: {failure}", plugin.label()))
}

fn call_events(plugin: &Plugin, events: &[NetworkEvent]) -> Vec<Outcome> {
    let mut worker = plugin.worker();
    block_on(worker.call_events(events, &[]))
        .unwrap_or_else(|failure| panic!("{}: {failure}", plugin.label()))
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn case(
    name: &'static str,
    action: Action,
    rkey: &str,
    record: Option<Vec<u8>>,
    previous: Option<Vec<u8>>,
) -> Case {
    let stored = |body: Vec<u8>| StoredRecord {
        cid: "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm".into(),
        body,
    };
    Case {
        name,
        op: RecordOp {
            action,
            did: ALICE.into(),
            collection: COLLECTION.into(),
            rkey: rkey.into(),
            record: record.map(stored),
            previous: previous.map(stored),
            rev: "3l4aaaaaaaa22".into(),
            indexed_at: INDEXED_AT.into(),
            source: Source::Live,
        },
    }
}

/// The `index`-th case of a group (its record key tells them apart).
fn named(name: &'static str, index: usize, action: Action, record: Option<Vec<u8>>) -> Case {
    case(
        name,
        action,
        &format!("{}-{index}", name.replace(' ', "-")),
        record,
        None,
    )
}

/// A status record as DAG-CBOR.
fn record(status: &str, created_at: &str) -> Vec<u8> {
    cbor(&json!({"$type": COLLECTION, "status": status, "createdAt": created_at}))
}

fn cbor(record: &serde_json::Value) -> Vec<u8> {
    sluice_atproto::data::record_json_to_dag_cbor(record)
        .unwrap()
        .0
}

/// A map of short text entries, in the order given (not DAG-CBOR's canonical order).
fn text_map(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut bytes = vec![0xa0 | u8::try_from(entries.len()).unwrap()];
    for text in entries.iter().flat_map(|(key, value)| [key, value]) {
        let length = u8::try_from(text.len()).unwrap();
        bytes.extend([0x78, length]);
        bytes.extend(text.as_bytes());
    }
    bytes
}

/// The code points (as ranges) that Rust's `{:?}` of a string writes as escapes, surrogates
/// (not characters) included.
fn escaped_ranges() -> Vec<(u32, u32)> {
    let escaped = |code: u32| {
        char::from_u32(code).is_none_or(|c| format!("{:?}", c.to_string()) != format!("\"{c}\""))
    };
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for code in (0..=0x10FFFF).filter(|&code| escaped(code)) {
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == code => *last = code,
            _ => ranges.push((code, code)),
        }
    }
    ranges
}

/// Items as lines of at most 96 characters.
fn fold(items: &[String]) -> String {
    let mut lines = vec![String::new()];
    for item in items {
        let line = lines.last_mut().unwrap();
        if !line.is_empty() && line.len() + 1 + item.len() > 96 {
            lines.push(item.clone());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(item);
        }
    }
    lines.join("\n")
}
