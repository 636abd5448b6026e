use std::collections::HashMap;

use sluice_atproto::data::{self, from_dag_cbor};
use sluice_atproto::syntax::{AtUri, Datetime, RecordKey};

use super::*;
use crate::model::NetworkConfig;
use ipld_core::ipld::Ipld;

fn small_model() -> Model {
    Model::build(NetworkConfig::new(21, 30).with_records(3_000))
}

/// Every record the history creates, at version 0 and (when updated) version 1.
fn all_records(model: &Model) -> Vec<(Generated, u32)> {
    let generator = Generator::new(model);
    let mut out = Vec::new();
    for repo in 0..model.repo_count() {
        let info = model.repo(repo).unwrap();
        for slot in 0..info.slots {
            let plan = model.slot(repo, slot);
            for sub in 0..plan.record_count() {
                let id = RecordId::new(repo, slot, sub);
                out.push((generator.record(id, 0).unwrap(), 0));
                if sub == 0 && matches!(plan.fate, crate::slots::Fate::Updated { .. }) {
                    out.push((generator.record(id, 1).unwrap(), 1));
                }
            }
        }
    }
    out
}

fn strong_refs(value: &serde_json::Value, found: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            if let (Some(uri), Some(cid)) = (map.get("uri"), map.get("cid"))
                && let (Some(uri), Some(cid)) = (uri.as_str(), cid.as_str())
            {
                found.push((uri.to_owned(), cid.to_owned()));
            }
            for child in map.values() {
                strong_refs(child, found);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                strong_refs(item, found);
            }
        }
        _ => {}
    }
}

#[test]
fn records_are_deterministic() {
    let model = small_model();
    let a = Generator::new(&model);
    let b = Generator::new(&model);
    for repo in 0..5 {
        for slot in 0..model.repo(repo).unwrap().slots {
            let id = RecordId::new(repo, slot, 0);
            assert_eq!(a.record(id, 0).unwrap(), b.record(id, 0).unwrap());
        }
    }
    // Another seed gives other records.
    let other = Model::build(NetworkConfig::new(22, 30).with_records(3_000));
    let c = Generator::new(&other);
    let id = RecordId::new(1, 1, 0);
    assert_ne!(a.record(id, 0).unwrap().cid, c.record(id, 0).unwrap().cid);
}

#[test]
fn records_are_well_formed() {
    let model = small_model();
    let mut paths = std::collections::HashSet::new();
    for (record, version) in all_records(&model) {
        // Canonical DAG-CBOR: decoding and re-encoding gives the same bytes.
        let ipld: Ipld = from_dag_cbor(&record.bytes).unwrap();
        assert_eq!(data::to_dag_cbor(&ipld).unwrap(), record.bytes.to_vec());
        let json = data::ipld_to_json(&ipld);
        assert_eq!(json["$type"], record.collection.nsid(), "{json}");
        let (collection, rkey) = record.path.split_once('/').unwrap();
        assert_eq!(collection, record.collection.nsid());
        RecordKey::parse(rkey).unwrap();
        if let Some(created) = json.get("createdAt") {
            Datetime::parse(created.as_str().unwrap()).unwrap();
        }
        if version == 0 {
            assert!(
                paths.insert((record.id.repo, record.path.clone())),
                "duplicate path {}",
                record.path
            );
        }
    }
}

#[test]
fn strong_refs_point_at_records_of_the_network() {
    let model = small_model();
    let records = all_records(&model);
    let generator = Generator::new(&model);
    let mut by_uri: HashMap<String, String> = HashMap::new();
    for (record, version) in &records {
        if *version == 0 {
            let did = &model.account(record.id.repo).unwrap().did;
            by_uri.insert(
                format!("at://{did}/{}", record.path),
                record.cid.to_string(),
            );
        }
    }
    let mut checked = 0;
    let mut replies = 0;
    for (record, _) in &records {
        let json = data::ipld_to_json(&from_dag_cbor::<Ipld>(&record.bytes).unwrap());
        let mut refs = Vec::new();
        strong_refs(&json, &mut refs);
        for (uri, cid) in refs {
            AtUri::parse(&uri).unwrap();
            assert_eq!(
                by_uri.get(&uri),
                Some(&cid),
                "{} points at {uri}",
                record.path
            );
            checked += 1;
        }
        if json.get("reply").is_some() {
            replies += 1;
            let reply = generator.reply_of(record.id).unwrap().unwrap();
            assert!(reply.depth <= MAX_REPLY_DEPTH);
        }
    }
    assert!(checked > 1000, "{checked}");
    assert!(replies > 50, "{replies}");
}

#[test]
fn threads_get_deep() {
    let model = Model::build(NetworkConfig::new(23, 20).with_records(20_000));
    let generator = Generator::new(&model);
    let mut deepest = 0;
    for repo in 0..20 {
        for slot in 0..model.repo(repo).unwrap().slots {
            if let Some(reply) = generator.reply_of(RecordId::new(repo, slot, 0)).unwrap() {
                deepest = deepest.max(reply.depth);
            }
        }
    }
    assert!(deepest >= 4, "deepest thread {deepest}");
}

#[test]
fn every_embed_kind_appears() {
    let model = Model::build(NetworkConfig::new(24, 20).with_records(10_000));
    let mut kinds = std::collections::BTreeSet::new();
    for (record, _) in all_records(&model) {
        let json = data::ipld_to_json(&from_dag_cbor::<Ipld>(&record.bytes).unwrap());
        if let Some(embed) = json.get("embed") {
            kinds.insert(embed["$type"].as_str().unwrap().to_owned());
            if let Some(media) = embed.get("media") {
                kinds.insert(format!("media:{}", media["$type"].as_str().unwrap()));
            }
        }
    }
    for kind in [
        "app.bsky.embed.images",
        "app.bsky.embed.video",
        "app.bsky.embed.external",
        "app.bsky.embed.gallery",
        "app.bsky.embed.record",
        "app.bsky.embed.recordWithMedia",
    ] {
        assert!(kinds.contains(kind), "no {kind}: {kinds:?}");
    }
}

#[test]
#[ignore]
fn speed_probe() {
    let t = std::time::Instant::now();
    let model = Model::build(NetworkConfig::new(1, 2000).with_records(1_000_000));
    eprintln!("model {:?}", t.elapsed());
    let generator = Generator::new(&model);
    let t = std::time::Instant::now();
    let mut n = 0u64;
    let mut bytes = 0u64;
    for repo in 0..2000 {
        let info = model.repo(repo).unwrap();
        for slot in 0..info.slots {
            let plan = model.slot(repo, slot);
            for sub in 0..plan.record_count() {
                let g = generator.record(RecordId::new(repo, slot, sub), 0).unwrap();
                n += 1;
                bytes += g.bytes.len() as u64;
            }
        }
        if t.elapsed().as_secs() > 20 {
            break;
        }
    }
    let s = t.elapsed().as_secs_f64();
    eprintln!(
        "{n} records {bytes} bytes in {s:.2}s: {:.0}/s, avg {} B",
        n as f64 / s,
        bytes / n
    );
}
