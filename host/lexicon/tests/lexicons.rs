//! The official lexicons: every document of the shared copy loads, and the built-in catalog
//! is that copy's subset, unchanged, with every record type and everything records refer to.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::shared;
use sluice_lexicon::{Catalog, RecordKeyType};

fn shared_catalog() -> Catalog {
    Catalog::load_dir(shared("lexicons")).unwrap()
}

#[test]
fn every_shared_lexicon_loads_and_resolves() {
    let catalog = shared_catalog();
    // shared/lexicons/README.md: 394 documents, 20 of them records.
    assert_eq!(catalog.documents().len(), 394);
    assert_eq!(catalog.record_types().len(), 20);
    assert_eq!(catalog.unresolved_refs(), []);
}

#[test]
fn builtin_catalog_is_the_shared_documents_unchanged() {
    let builtin = Catalog::builtin();
    let shared = shared_catalog();
    for (id, doc) in builtin.documents() {
        assert_eq!(shared.document(id), Some(doc), "{id}");
    }
    assert_eq!(builtin.record_types(), shared.record_types());
    assert_eq!(builtin.unresolved_refs(), []);
    assert_eq!(builtin.documents().len(), 264);
}

#[test]
fn builtin_files_are_byte_for_byte_the_shared_files() {
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons");
    let mut files = BTreeSet::new();
    collect(&ours, &ours, &mut files);
    assert_eq!(files.len(), 264);
    for file in &files {
        let mine = std::fs::read(ours.join(file)).unwrap();
        let upstream = std::fs::read(shared("lexicons").join(file)).unwrap();
        assert!(mine == upstream, "{file} differs from the shared copy");
    }
}

fn collect(root: &Path, dir: &Path, files: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "json") {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            files.insert(relative);
        }
    }
}

#[test]
fn record_key_types_of_the_indexed_records() {
    let catalog = Catalog::builtin();
    let key = |nsid: &str| catalog.record(nsid).unwrap().key_type().clone();
    assert_eq!(key("app.bsky.feed.post"), RecordKeyType::Tid);
    assert_eq!(key("app.bsky.feed.generator"), RecordKeyType::Any);
    assert_eq!(
        key("app.bsky.actor.profile"),
        RecordKeyType::Literal("self".into())
    );
    assert_eq!(
        key("chat.bsky.actor.declaration"),
        RecordKeyType::Literal("self".into())
    );
    assert_eq!(key("com.atproto.lexicon.schema"), RecordKeyType::Nsid);
    assert!(catalog.record("app.bsky.feed.defs").is_none());
    assert!(catalog.record("app.bsky.system.declaration").is_none());
}
