//! Real guests that misbehave: each failure is contained to its operation, reported with
//! `plugin@version` and a reason, and the other operations of the batch are indexed.

use std::time::Duration;

use sluice_plugin_host::guest_build;
use sluice_plugin_host::types::{
    Action, Answer, Found, IndexError, Lookup, RecordOp, RowOp, Source, StoredRecord, Value,
};
use sluice_plugin_host::{
    CallFailure, ConflictError, DriverOptions, EngineConfig, LoadError, LoadOptions,
    MemoryResolver, OpResult, ParkReason, Plugin, PluginEngine, PluginSet,
};

const MISBEHAVE: &str = "sluice-misbehave-plugin";
const STATUSPHERE: &str = "statusphere-plugin";
const DID: &str = "did:plc:misbehaving";

fn engine() -> PluginEngine {
    PluginEngine::new(EngineConfig {
        memory_cap: 32 << 20,
        call_deadline: Duration::from_millis(300),
        max_instances: 16,
        ..EngineConfig::default()
    })
    .unwrap()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn load(engine: &PluginEngine, package: &str) -> Plugin {
    let path = guest_build::build(package).unwrap();
    block_on(Plugin::load_file(engine, &path, LoadOptions::default())).unwrap()
}

/// A create of `test.sluice.misbehave/<rkey>` (the body is an empty map: the guest ignores it).
fn op(rkey: &str) -> RecordOp {
    RecordOp {
        action: Action::Create,
        did: DID.into(),
        collection: "test.sluice.misbehave".into(),
        rkey: rkey.into(),
        record: Some(StoredRecord {
            cid: "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm".into(),
            body: vec![0xa0],
        }),
        previous: None,
        rev: "3l3qo2vuowo2b".into(),
        indexed_at: "2024-11-05T10:00:00.000Z".into(),
        source: Source::Live,
    }
}

fn run(
    plugin: &Plugin,
    ops: &[RecordOp],
    resolver: &MemoryResolver,
) -> sluice_plugin_host::BatchReport {
    let mut worker = plugin.worker();
    let future = worker.index_records(ops, resolver, DriverOptions::default());
    assert_send(&future);
    block_on(future).unwrap()
}

/// The indexer runs batches in spawned tasks: the future must be `Send`.
fn assert_send<T: Send>(_: &T) {}

fn assert_indexed(result: &OpResult, rkey: &str) {
    let OpResult::Indexed(indexed) = result else {
        panic!("{rkey}: expected indexed, got {result:?}");
    };
    let [RowOp::Upsert(upsert)] = indexed.ops.as_slice() else {
        panic!("{rkey}: expected one upsert, got {:?}", indexed.ops);
    };
    assert_eq!(upsert.table, "thing");
    assert_eq!(
        upsert.assignments[0].value,
        Value::Text(format!("at://{DID}/test.sluice.misbehave/{rkey}"))
    );
}

fn parked_reason(result: &OpResult) -> &ParkReason {
    match result {
        OpResult::Parked(parked) => {
            assert_eq!(parked.plugin, "misbehave@0.0.1");
            &parked.reason
        }
        other => panic!("expected parked, got {other:?}"),
    }
}

#[test]
fn every_misbehaviour_is_contained_to_its_operation() {
    let engine = engine();
    let plugin = load(&engine, MISBEHAVE);
    let rkeys = [
        "ok-1",
        "trap",
        "ok-2",
        "loop",
        "ok-3",
        "alloc",
        "undeclared-table",
        "ok-4",
        "undeclared-column",
        "wrong-kind",
        "invalid",
        "internal",
        "ok-5",
    ];
    let ops: Vec<RecordOp> = rkeys.iter().map(|rkey| op(rkey)).collect();
    let report = run(&plugin, &ops, &MemoryResolver::default());
    assert_eq!(report.results.len(), rkeys.len());

    for (rkey, result) in rkeys.iter().zip(&report.results) {
        match *rkey {
            ok if ok.starts_with("ok-") => assert_indexed(result, ok),
            "trap" => {
                let ParkReason::Failed(CallFailure::Trap(message)) = parked_reason(result) else {
                    panic!("trap: {result:?}");
                };
                assert!(
                    message.contains("trapping on purpose"),
                    "the panic message is reported: {message}"
                );
            }
            "loop" => assert!(matches!(
                parked_reason(result),
                ParkReason::Failed(CallFailure::Deadline(300))
            )),
            "alloc" => {
                let ParkReason::Failed(CallFailure::MemoryLimit(message)) = parked_reason(result)
                else {
                    panic!("alloc: {result:?}");
                };
                assert!(message.contains("cap is 33554432 bytes"), "{message}");
            }
            "undeclared-table" => {
                let ParkReason::InvalidOutput(message) = parked_reason(result) else {
                    panic!("{result:?}")
                };
                assert_eq!(message, "table secrets is not declared");
            }
            "undeclared-column" => {
                let ParkReason::InvalidOutput(message) = parked_reason(result) else {
                    panic!("{result:?}")
                };
                assert_eq!(message, "thing.evil is not a declared column");
            }
            "wrong-kind" => {
                let ParkReason::InvalidOutput(message) = parked_reason(result) else {
                    panic!("{result:?}")
                };
                assert_eq!(message, "thing.n is integer but the value is text");
            }
            "invalid" => assert!(
                matches!(result, OpResult::Skipped(IndexError::InvalidRecord(m)) if m.contains("on purpose"))
            ),
            "internal" => assert!(
                matches!(parked_reason(result), ParkReason::Internal(m) if m.contains("on purpose"))
            ),
            other => panic!("unexpected rkey {other}"),
        }
    }
    // Three whole-call failures were isolated by bisection: more calls than rounds.
    assert_eq!(report.rounds, 1);
    assert!(report.calls > 3, "bisection made {} calls", report.calls);
}

#[test]
fn a_worker_recovers_after_a_failure_and_reuses_its_instance_otherwise() {
    let engine = engine();
    let plugin = load(&engine, MISBEHAVE);
    let mut worker = plugin.worker();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let resolver = MemoryResolver::default();
    for _ in 0..3 {
        let report = runtime
            .block_on(worker.index_records(
                &[op("ok-1"), op("ok-2")],
                &resolver,
                DriverOptions::default(),
            ))
            .unwrap();
        assert_eq!(report.calls, 1);
    }
    assert_eq!(
        worker.instantiations(),
        1,
        "one instance serves every batch"
    );

    let report = runtime
        .block_on(worker.index_records(&[op("trap")], &resolver, DriverOptions::default()))
        .unwrap();
    assert!(matches!(report.results[0], OpResult::Parked(_)));
    let report = runtime
        .block_on(worker.index_records(&[op("ok-3")], &resolver, DriverOptions::default()))
        .unwrap();
    assert_indexed(&report.results[0], "ok-3");
    assert_eq!(
        worker.instantiations(),
        2,
        "the trapped instance was replaced"
    );
}

#[test]
fn lookups_run_in_rounds_and_absent_records_are_awaited() {
    let engine = engine();
    let plugin = load(&engine, MISBEHAVE);
    let parent = format!("at://{DID}/test.sluice.misbehave/parent");

    // Absent parent: two rounds, the result awaits the parent.
    let report = run(
        &plugin,
        &[op("reply"), op("ok-1")],
        &MemoryResolver::default(),
    );
    assert_eq!(report.rounds, 2);
    assert_eq!(report.lookups, 1);
    let OpResult::Indexed(indexed) = &report.results[0] else {
        panic!("{:?}", report.results[0])
    };
    assert_eq!(indexed.awaits, vec![parent.clone()]);
    let RowOp::Upsert(upsert) = &indexed.ops[0] else {
        panic!()
    };
    assert_eq!(
        upsert.assignments.last().unwrap().value,
        Value::Boolean(false)
    );
    assert_indexed(&report.results[1], "ok-1");

    // Present parent: no await.
    let resolver = MemoryResolver::new([Answer {
        lookup: Lookup::Record(parent),
        found: Found::Record(Some(StoredRecord {
            cid: "bafy".into(),
            body: vec![0xa0],
        })),
    }]);
    let report = run(&plugin, &[op("reply")], &resolver);
    let OpResult::Indexed(indexed) = &report.results[0] else {
        panic!()
    };
    assert!(indexed.awaits.is_empty());
    let RowOp::Upsert(upsert) = &indexed.ops[0] else {
        panic!()
    };
    assert_eq!(
        upsert.assignments.last().unwrap().value,
        Value::Boolean(true)
    );

    // With one round only, the operation is parked.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut worker = plugin.worker();
    let report = runtime
        .block_on(worker.index_records(
            &[op("reply")],
            &MemoryResolver::default(),
            DriverOptions { max_rounds: 1 },
        ))
        .unwrap();
    assert!(matches!(
        parked_reason(&report.results[0]),
        ParkReason::TooManyRounds(1)
    ));
}

#[test]
fn a_plugin_claiming_a_taken_collection_is_refused() {
    let engine = engine();
    let mut set = PluginSet::new();
    set.add(load(&engine, STATUSPHERE)).unwrap();
    let error = set.add(load(&engine, MISBEHAVE)).unwrap_err();
    let LoadError::Conflict { plugin, error } = error else {
        panic!("{error}")
    };
    assert_eq!(plugin, "misbehave@0.0.1");
    assert_eq!(
        error,
        ConflictError::Collection {
            collection: "xyz.statusphere.status".into(),
            owner: "statusphere@0.1.0".into(),
        }
    );
    // The set still routes the collection to its first owner.
    assert_eq!(
        set.for_collection("xyz.statusphere.status")
            .unwrap()
            .label(),
        "statusphere@0.1.0"
    );
    assert_eq!(set.plugins().len(), 1);
}

#[test]
fn a_component_of_another_contract_is_refused_naming_the_accepted_versions() {
    let engine = engine();
    // A component exporting an unrelated interface.
    let wat = r#"(component
        (core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func $f (canon lift (core func $i "f")))
        (instance $e (export "f" (func $f)))
        (export "other:thing/api@1.0.0" (instance $e)))"#;
    let bytes = wat::parse_str(wat).unwrap();
    match block_on(Plugin::load(&engine, &bytes, LoadOptions::default())) {
        Err(LoadError::UnsupportedVersion { accepted, exported }) => {
            assert_eq!(accepted, "sluice:indexer/plugin@0.1.0");
            assert_eq!(exported, "other:thing/api@1.0.0");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        block_on(Plugin::load(&engine, b"not wasm", LoadOptions::default())),
        Err(LoadError::Compile(_))
    ));
}

#[test]
fn compiled_code_is_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = guest_build::build(STATUSPHERE).unwrap();
    let config = EngineConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..EngineConfig::default()
    };
    let cold = block_on(Plugin::load_file(
        &PluginEngine::new(config.clone()).unwrap(),
        &path,
        LoadOptions::default(),
    ))
    .unwrap();
    let warm = block_on(Plugin::load_file(
        &PluginEngine::new(config).unwrap(),
        &path,
        LoadOptions::default(),
    ))
    .unwrap();
    assert_eq!(cold.sha256(), warm.sha256());
    let files = walk(dir.path());
    assert!(files > 0, "the cache directory holds compiled code");
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path) } else { 1 }
        })
        .sum()
}

#[test]
fn a_relative_cache_directory_is_taken_from_the_working_directory() {
    // Tests run with the crate's directory as the working directory; a fresh name under it.
    let parent = tempfile::tempdir_in(".").unwrap();
    let name = parent.path().file_name().unwrap().to_owned();
    let relative = std::path::Path::new(&name).join("cache");
    let config = EngineConfig {
        cache_dir: Some(relative.clone()),
        ..EngineConfig::default()
    };
    let path = guest_build::build(STATUSPHERE).unwrap();
    block_on(Plugin::load_file(
        &PluginEngine::new(config).unwrap(),
        &path,
        LoadOptions::default(),
    ))
    .unwrap();
    assert!(
        walk(&parent.path().join("cache")) > 0,
        "compiled code is cached there"
    );
}
