//! Whole-repo tests on every real CAR of the fixtures, and builder round trips.

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::crypto::{CryptoError, KeyAlgorithm, PublicKey};
use crate::identity::DidDocument;
use crate::mst::invert_ops;
use crate::test_fixtures::read_fixture;

async fn read(name: &str) -> RepoReader {
    read_with(name, &ReadOptions::default()).await
}

async fn read_with(name: &str, options: &ReadOptions) -> RepoReader {
    let bytes = read_fixture(name);
    RepoReader::read(bytes.as_slice(), options)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn all_records(repo: &RepoReader, name: &str) -> Vec<Record> {
    repo.records()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn did_document_key(name: &str) -> (String, PublicKey) {
    let document = DidDocument::from_json(&read_fixture(name)).unwrap();
    let key = document.signing_key().unwrap();
    (document.id, key)
}

/// (file, commit version, records, duplicate block entries)
const REAL_REPOS: &[(&str, u64, usize, u64)] = &[
    ("real/indigo/greenground.repo.car", 3, 2, 0),
    ("real/indigo/paul_staging.repo.car", 2, 185, 6),
    ("real/indigo/fakermaker.repo.car", 2, 142, 8),
    (
        "real/indigo/bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car",
        2,
        6,
        1,
    ),
    ("real/indigo/divy.repo", 2, 6, 0),
    (
        "real/indigo/bnewbold.robocracy.org.20250310005405.car",
        3,
        38,
        0,
    ),
    ("real/repo-stream/empty.car", 3, 0, 0),
    ("real/repo-stream/tiny.car", 3, 8, 0),
    ("real/repo-stream/little.car", 3, 278, 0),
    ("real/shrike/calabro.car", 3, 4347, 0),
    ("real/rsky/valid_repo.car", 3, 6, 0),
    ("real/dnproto/msttest-01-new.car", 3, 0, 0),
    ("real/dnproto/msttest-03-setprofile.car", 3, 1, 0),
    ("real/dnproto/msttest-04-firstpost.car", 3, 2, 0),
    ("real/dnproto/msttest-05-firstlike.car", 3, 3, 0),
    ("real/dnproto/msttest-06-reply.car", 3, 4, 0),
];

#[tokio::test]
async fn every_real_repo_reads_with_the_expected_records() {
    for &(name, version, count, duplicates) in REAL_REPOS {
        let repo = read(name).await;
        assert_eq!(repo.commit().version, version, "{name}: version");
        assert_eq!(repo.commit().rev.is_some(), version == 3, "{name}: rev");
        assert_eq!(repo.duplicate_blocks(), duplicates, "{name}: duplicates");
        let records = all_records(&repo, name);
        assert_eq!(records.len(), count, "{name}: records");
        let mut previous: Option<&str> = None;
        for record in &records {
            if let Some(previous) = previous {
                assert!(previous < record.path(), "{name}: order");
            }
            previous = Some(record.path());
            assert_eq!(cid_for_dag_cbor(&record.bytes), record.cid, "{name}");
            assert_eq!(
                record.record_type().unwrap().as_deref(),
                Some(record.collection()),
                "{name}: $type of {}",
                record.path()
            );
            assert!(!record.rkey().is_empty());
            let json = record.to_json().unwrap();
            assert_eq!(json["$type"], record.collection());
        }
        // The MST is canonical: rebuilding it from the records gives the signed root.
        let mut rebuilt =
            Mst::from_entries(records.iter().map(|r| (r.path().to_owned(), r.cid))).unwrap();
        assert_eq!(
            rebuilt.root_cid(),
            repo.commit().data,
            "{name}: rebuilt root"
        );
    }
}

#[tokio::test]
async fn old_history_blocks_are_tolerated_and_counted() {
    let repo = read("real/indigo/paul_staging.repo.car").await;
    let records = all_records(&repo, "paul_staging").len() as u64;
    // Far more blocks than the commit, the MST and the records: the unreachable history.
    assert!(repo.store().len() > records + 215, "{}", repo.store().len());
    assert_eq!(
        repo.car_blocks(),
        repo.store().len() + repo.duplicate_blocks()
    );
}

#[tokio::test]
async fn a_repo_slice_fails_cleanly_naming_the_absent_blocks() {
    let repo = read("real/indigo/repo_slice.car").await;
    let mut present = Vec::new();
    let mut missing_records = Vec::new();
    let mut mst_error = None;
    for item in repo.records() {
        match item {
            Ok(record) => present.push(record.path().to_owned()),
            Err(RepoError::MissingRecord { key, cid }) => {
                assert!(!repo.store().contains(&cid).unwrap());
                missing_records.push(key);
            }
            Err(RepoError::Mst(MstError::MissingBlock { cid, location })) => {
                assert!(!repo.store().contains(&cid).unwrap());
                assert!(location.after.is_some() || location.before.is_some());
                mst_error = Some(cid);
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(present, vec!["app.bsky.feed.post/3jquh3emtzo2o".to_owned()]);
    assert!(mst_error.is_some(), "the absent MST node is reported");
    assert!(!missing_records.is_empty());
    assert!(missing_records.len() <= 4);
}

#[tokio::test]
async fn signatures_of_real_commits() {
    let (green_did, green_key) = did_document_key("real/indigo/greenground.didDoc.json");
    let green = read("real/indigo/greenground.repo.car").await;
    green.commit().verify(&green_key).unwrap();
    // The key is the old shared PDS key: the DID in the commit is another account's.
    assert!(matches!(
        green.commit().verify_for(&green_did, &green_key),
        Err(CommitError::DidMismatch { .. })
    ));
    assert!(green.commit().prev.is_some());

    let (paul_did, paul_key) = did_document_key("real/indigo/paul_staging.didDoc.json");
    let paul = read("real/indigo/paul_staging.repo.car").await;
    paul.commit().verify_for(&paul_did, &paul_key).unwrap();

    let divy = read("real/indigo/divy.repo").await;
    divy.commit().verify(&green_key).unwrap();
    assert!(divy.commit().verify(&paul_key).is_err());

    let (faker_did, faker_key) = did_document_key("real/indigo/fakermaker.didDoc.json");
    assert_eq!(faker_key.algorithm(), KeyAlgorithm::P256);
    let faker = read("real/indigo/fakermaker.repo.car").await;
    assert!(matches!(
        faker.commit().verify_for(&faker_did, &faker_key),
        Err(CommitError::Signature(CryptoError::HighS))
    ));

    let (_, z5_key) = did_document_key("real/indigo/did_plc_z5vnbioquyhivxirw3bbljmu.didDoc.json");
    let z5 =
        read("real/indigo/bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car").await;
    assert!(matches!(
        z5.commit().verify(&z5_key),
        Err(CommitError::Signature(_))
    ));
}

#[tokio::test]
async fn the_dnproto_series_adds_one_record_per_step() {
    let steps = [
        "real/dnproto/msttest-01-new.car",
        "real/dnproto/msttest-03-setprofile.car",
        "real/dnproto/msttest-04-firstpost.car",
        "real/dnproto/msttest-05-firstlike.car",
        "real/dnproto/msttest-06-reply.car",
    ];
    let mut previous: Option<BTreeMap<String, Cid>> = None;
    let mut did = None;
    for name in steps {
        let repo = read(name).await;
        if let Some(did) = &did {
            assert_eq!(&repo.commit().did, did);
        }
        did = Some(repo.commit().did.clone());
        let now: BTreeMap<String, Cid> = all_records(&repo, name)
            .into_iter()
            .map(|r| (r.path().to_owned(), r.cid))
            .collect();
        if let Some(previous) = &previous {
            assert_eq!(now.len(), previous.len() + 1, "{name}");
            for (key, cid) in previous {
                assert_eq!(now.get(key), Some(cid), "{name}: {key} kept");
            }
        }
        previous = Some(now);
    }
}

#[tokio::test]
async fn a_small_budget_spills_and_reads_the_same_records() {
    let name = "real/shrike/calabro.car";
    let in_memory = read(name).await;
    assert_eq!(in_memory.store().spilled_blocks(), 0);
    let spilled = read_with(
        name,
        &ReadOptions {
            memory_budget: 128 * 1024,
            spill_directory: None,
        },
    )
    .await;
    assert!(spilled.store().spilled_blocks() > spilled.store().len() / 2);
    assert!(spilled.store().memory_bytes() <= 128 * 1024);
    let a = all_records(&in_memory, name);
    let b = all_records(&spilled, name);
    assert_eq!(a, b);
}

#[tokio::test]
async fn a_real_repo_rebuilt_writes_a_car_that_reads_back_identically() {
    let name = "real/repo-stream/little.car";
    let original = read(name).await;
    let records = all_records(&original, name);
    let keypair = Keypair::generate(KeyAlgorithm::K256);
    let mut builder = RepoBuilder::new(original.commit().did.clone(), keypair.clone());
    for record in &records {
        builder
            .put(record.collection(), record.rkey(), record.bytes.clone())
            .unwrap();
    }
    assert_eq!(builder.record_count(), records.len());
    let mut repo = builder.build();
    let car = repo.write_car(Vec::new()).await.unwrap();
    let reread = RepoReader::read(car.as_slice(), &ReadOptions::default())
        .await
        .unwrap();
    assert_eq!(reread.commit().data, original.commit().data);
    reread
        .commit()
        .verify_for(&original.commit().did, &keypair.public_key())
        .unwrap();
    assert_eq!(all_records(&reread, "rebuilt"), records);
    assert_eq!(reread.duplicate_blocks(), 0);
}

fn post(text: &str) -> Bytes {
    let mut map = BTreeMap::new();
    map.insert(
        "$type".to_owned(),
        Ipld::String("app.bsky.feed.post".into()),
    );
    map.insert("text".to_owned(), Ipld::String(text.into()));
    map.insert(
        "createdAt".to_owned(),
        Ipld::String("2024-01-01T00:00:00.000Z".into()),
    );
    encode_record(&Ipld::Map(map)).unwrap()
}

#[tokio::test]
async fn commits_carry_diffs_that_invert_to_the_previous_root() {
    let keypair = Keypair::generate(KeyAlgorithm::P256);
    let mut repo = Repo::new("did:plc:testtesttesttesttesttest", keypair.clone());
    let creates: Vec<RecordWrite> = (0..300)
        .map(|i| RecordWrite::Create {
            path: format!("app.bsky.feed.post/3k{i:011}"),
            record: post(&format!("post {i}")),
        })
        .collect();
    let first = repo.apply_writes(&creates).unwrap();
    assert_eq!(first.since, None);
    assert_eq!(first.prev_data, None);
    assert_eq!(first.ops.len(), 300);
    assert_eq!(repo.record_count(), 300);

    let batch = vec![
        RecordWrite::Create {
            path: "app.bsky.feed.post/3kzzzzzzzzzzz".into(),
            record: post("new"),
        },
        RecordWrite::Update {
            path: "app.bsky.feed.post/3k00000000007".into(),
            record: post("edited"),
        },
        RecordWrite::Delete {
            path: "app.bsky.feed.post/3k00000000100".into(),
        },
    ];
    let diff = repo.apply_writes(&batch).unwrap();
    assert_eq!(diff.since, first.commit.rev);
    assert_eq!(diff.prev_data, Some(first.commit.data));
    assert!(diff.commit.rev > first.commit.rev);
    assert_eq!(
        diff.ops.iter().map(|op| op.action).collect::<Vec<_>>(),
        vec![OpAction::Create, OpAction::Update, OpAction::Delete]
    );
    assert_eq!(diff.blocks.first().map(|b| b.0), Some(diff.commit_cid));
    // The CAR slice of the event: verified, rooted at the commit, enough to invert the ops.
    let car = diff.to_car().await.unwrap();
    let (roots, blocks) = crate::car::read_car_bytes(&car).await.unwrap();
    assert_eq!(roots, vec![diff.commit_cid]);
    let blocks: HashMap<Cid, Bytes> = blocks.into_iter().collect();
    let commit = Commit::decode(&blocks[&diff.commit_cid]).unwrap();
    commit
        .verify_for(repo.did(), &keypair.public_key())
        .unwrap();
    let ops: Vec<_> = diff.ops.iter().filter_map(RepoOp::to_mst_op).collect();
    assert_eq!(ops.len(), 3);
    assert_eq!(
        invert_ops(commit.data, &ops, &blocks).unwrap(),
        first.commit.data
    );
    // New records travel with the commit.
    let new_cid = diff.ops[0].cid.unwrap();
    assert!(blocks.contains_key(&new_cid));
    // The diff is small compared with the repo.
    assert!(diff.blocks.len() < 30, "{}", diff.blocks.len());

    // Invalid batches change nothing.
    let head = *repo.head().unwrap().0;
    for bad in [
        RecordWrite::Create {
            path: "app.bsky.feed.post/3kzzzzzzzzzzz".into(),
            record: post("again"),
        },
        RecordWrite::Delete {
            path: "app.bsky.feed.post/3k00000000100".into(),
        },
        RecordWrite::Update {
            path: "not a path".into(),
            record: post("x"),
        },
    ] {
        assert!(repo.apply_writes(&[bad]).is_err());
    }
    assert_eq!(*repo.head().unwrap().0, head);
    assert_eq!(repo.record_count(), 300);

    // The whole repo reads back with its edits.
    let car = repo.write_car(Vec::new()).await.unwrap();
    let reread = RepoReader::read(car.as_slice(), &ReadOptions::default())
        .await
        .unwrap();
    let records = all_records(&reread, "edited");
    assert_eq!(records.len(), 300);
    let edited = records
        .iter()
        .find(|r| r.rkey() == "3k00000000007")
        .unwrap();
    assert_eq!(edited.to_json().unwrap()["text"], "edited");
    assert!(records.iter().all(|r| r.rkey() != "3k00000000100"));
}

#[tokio::test]
async fn identical_records_share_one_block() {
    let keypair = Keypair::generate(KeyAlgorithm::K256);
    let mut builder = RepoBuilder::new("did:plc:same", keypair);
    for i in 0..5 {
        builder
            .put("app.bsky.feed.like", &format!("3k{i:011}"), post("same"))
            .unwrap();
    }
    let mut repo = builder.build();
    let car = repo.write_car(Vec::new()).await.unwrap();
    let reread = RepoReader::read(car.as_slice(), &ReadOptions::default())
        .await
        .unwrap();
    assert_eq!(reread.duplicate_blocks(), 0);
    assert_eq!(all_records(&reread, "shared").len(), 5);
    // Deleting one of them keeps the block for the others.
    repo.apply_writes(&[RecordWrite::Delete {
        path: "app.bsky.feed.like/3k00000000000".into(),
    }])
    .unwrap();
    assert!(
        repo.get_record("app.bsky.feed.like/3k00000000001")
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_car_without_its_commit_is_a_clear_error() {
    let bytes = post("x");
    let cid = cid_for_dag_cbor(&bytes);
    let other = cid_for_dag_cbor(b"\xa0");
    let car = crate::car::write_car(Vec::new(), vec![other], [(cid, bytes)])
        .await
        .unwrap();
    let error = RepoReader::read(car.as_slice(), &ReadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, RepoError::MissingCommit(c) if c == other));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    #[test]
    fn corrupted_repo_cars_never_panic(position in 0usize..100_000, bit in 0u8..8, cut in 0usize..100_000) {
        let car = read_fixture("real/repo-stream/tiny.car");
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut flipped = car.clone();
        let position = position % flipped.len();
        flipped[position] ^= 1 << bit;
        let consume = |bytes: Vec<u8>| runtime.block_on(async {
            if let Ok(repo) = RepoReader::read(bytes.as_slice(), &ReadOptions::default()).await {
                let _ = repo.commit().unsigned_bytes();
                for record in repo.records().flatten() {
                    let _ = record.to_json();
                }
            }
        });
        consume(flipped);
        consume(car[..cut % car.len()].to_vec());
    }
}
