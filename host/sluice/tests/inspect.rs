//! `sluice inspect` on the real CAR files of the shared fixtures: record counts and signature
//! verdicts as `shared/fixtures/real/README.md` gives them, and clean one-line errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn real(relative: &str) -> PathBuf {
    let shared = std::env::var_os("SLUICE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    shared.join("fixtures/real").join(relative)
}

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_LOG", "warn")
        .output()
        .expect("running sluice")
}

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("every stdout line is JSON"))
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[test]
fn every_real_car_gives_its_documented_record_count() {
    // (file, records) from shared/fixtures/real/README.md.
    let expected = [
        ("indigo/greenground.repo.car", 2),
        ("indigo/paul_staging.repo.car", 185),
        ("indigo/fakermaker.repo.car", 142),
        (
            "indigo/bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car",
            6,
        ),
        ("indigo/divy.repo", 6),
        ("indigo/bnewbold.robocracy.org.20250310005405.car", 38),
        ("repo-stream/empty.car", 0),
        ("repo-stream/tiny.car", 8),
        ("repo-stream/little.car", 278),
        ("shrike/calabro.car", 4347),
        ("rsky/valid_repo.car", 6),
        ("dnproto/msttest-01-new.car", 0),
        ("dnproto/msttest-03-setprofile.car", 1),
        ("dnproto/msttest-04-firstpost.car", 2),
        ("dnproto/msttest-05-firstlike.car", 3),
        ("dnproto/msttest-06-reply.car", 4),
    ];
    for (file, records) in expected {
        let path = real(file);
        let output = sluice(&["inspect", "car", path.to_str().unwrap()]);
        assert!(output.status.success(), "{file}: {}", stderr(&output));
        let lines = json_lines(&output);
        let commit = &lines[0];
        assert_eq!(commit["signature"], "unchecked", "{file}");
        assert!(
            commit["did"].as_str().unwrap().starts_with("did:"),
            "{file}"
        );
        assert_eq!(lines.len() - 1, records, "{file}");
        // Records come in key order, each with its $type equal to its collection.
        let mut previous = String::new();
        for record in &lines[1..] {
            let collection = record["collection"].as_str().unwrap();
            let key = format!("{collection}/{}", record["rkey"].as_str().unwrap());
            assert!(key > previous, "{file}: {key} after {previous}");
            assert_eq!(record["record"]["$type"], collection, "{file}: {key}");
            assert!(record["cid"].as_str().unwrap().starts_with("bafyrei"));
            previous = key;
        }
    }
}

#[test]
fn signature_verdicts_match_the_fixture_readme() {
    let doc = |name: &str| real(&format!("indigo/{name}.didDoc.json"));
    let check = |car: &str, did_doc: PathBuf| {
        let output = sluice(&[
            "inspect",
            "car",
            "--summary",
            real(car).to_str().unwrap(),
            "--did-doc",
            did_doc.to_str().unwrap(),
        ]);
        let verdict = json_lines(&output)[0]["signature"]
            .as_str()
            .unwrap()
            .to_owned();
        (verdict, output.status.success(), stderr(&output))
    };

    let (verdict, ok, _) = check("indigo/paul_staging.repo.car", doc("paul_staging"));
    assert_eq!((verdict.as_str(), ok), ("valid", true));

    // greenground: the key is early bsky.social's shared key, so it verifies, but the commit's
    // DID is not the document's.
    let (verdict, ok, error) = check("indigo/greenground.repo.car", doc("greenground"));
    assert_eq!((verdict.as_str(), ok), ("invalid", false));
    assert!(
        error.contains("did:plc:kzcqyc3unb33eh5sxzsfs25z"),
        "{error}"
    );
    let key = {
        let text = std::fs::read(doc("greenground")).unwrap();
        let parsed = sluice_atproto::identity::DidDocument::from_json(&text).unwrap();
        parsed.signing_key().unwrap().to_did_key()
    };
    for car in ["indigo/greenground.repo.car", "indigo/divy.repo"] {
        let output = sluice(&[
            "inspect",
            "car",
            "--summary",
            real(car).to_str().unwrap(),
            "--key",
            &key,
        ]);
        assert!(output.status.success(), "{car}: {}", stderr(&output));
        assert_eq!(json_lines(&output)[0]["signature"], "valid", "{car}");
    }

    let (verdict, ok, error) = check("indigo/fakermaker.repo.car", doc("fakermaker"));
    assert_eq!((verdict.as_str(), ok), ("invalid", false));
    assert!(error.contains("low-S"), "{error}");

    let (verdict, ok, _) = check(
        "indigo/bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car",
        doc("did_plc_z5vnbioquyhivxirw3bbljmu"),
    );
    assert_eq!((verdict.as_str(), ok), ("invalid", false));
}

#[test]
fn a_partial_repo_fails_naming_the_missing_block_after_printing_what_it_could() {
    let output = sluice(&[
        "inspect",
        "car",
        real("indigo/repo_slice.car").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "one line: {error}");
    assert!(error.contains("is missing"), "{error}");
    let lines = json_lines(&output);
    // The commit line and the one record present.
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["rkey"], "3jquh3emtzo2o");
}

#[test]
fn garbage_input_is_one_clear_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["inspect", "car", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"this is not a CAR file").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(error.starts_with("error: "), "{error}");
    assert!(output.stdout.is_empty());
}

#[test]
fn a_firehose_frame_decodes_to_json() {
    // Build a real #commit frame with the core's own repo builder and frame encoder.
    use sluice_atproto::crypto::{KeyAlgorithm, Keypair};
    use sluice_atproto::firehose::{CommitEvent, Frame};
    use sluice_atproto::repo::{RecordWrite, Repo, encode_record};

    let key = Keypair::generate(KeyAlgorithm::K256);
    let mut repo = Repo::new("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", key);
    let record = encode_record(&serde_json::json!({
        "$type": "app.bsky.feed.post",
        "text": "hello",
        "createdAt": "2024-01-01T00:00:00.000Z"
    }))
    .unwrap();
    let diff = repo
        .apply_writes(&[RecordWrite::Create {
            path: "app.bsky.feed.post/3k2aaaaaaaa22".into(),
            record,
        }])
        .unwrap();
    let frame = Frame::Commit(Box::new(CommitEvent::from_commit_diff(
        &diff,
        7,
        "2024-01-01T00:00:00.000Z",
    )));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frame.bin");
    std::fs::write(&path, frame.encode()).unwrap();

    let output = sluice(&["inspect", "frame", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json = &json_lines(&output)[0];
    assert_eq!(json["header"]["t"], "#commit");
    assert_eq!(json["body"]["seq"], 7);
    let text = serde_json::to_string(json).unwrap();
    assert!(text.contains("\"hello\""), "the record is resolved: {text}");

    std::fs::write(&path, b"\xa2junk").unwrap();
    let output = sluice(&["inspect", "frame", path.to_str().unwrap()]);
    assert!(!output.status.success());
    assert_eq!(stderr(&output).lines().count(), 1);
}

#[test]
fn devnet_repos_read_and_verify_with_their_did_documents() {
    use sluice_devnet::content::Generator;
    use sluice_devnet::{DevnetConfig, Network, NetworkConfig};

    let network = Network::generate(DevnetConfig::new(
        NetworkConfig::new(7, 12).with_records(3_000),
    ))
    .expect("generate a devnet");
    let generator = Generator::new(network.model());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut checked = 0;
    for repo in 0..network.model().repo_count() {
        let (Some(status), Some(document)) =
            (network.repo_status(repo), network.did_document(repo))
        else {
            continue;
        };
        if !status.active {
            continue;
        }
        let mut snapshot = network.snapshot(&generator, repo).expect("snapshot");
        let records = snapshot.record_count();
        let car = dir.path().join(format!("{repo}.car"));
        let doc = dir.path().join(format!("{repo}.json"));
        std::fs::write(&car, snapshot.to_car(&generator).expect("CAR")).expect("write CAR");
        std::fs::write(&doc, document.to_string()).expect("write DID document");
        let output = sluice(&[
            "inspect",
            "car",
            car.to_str().expect("path"),
            "--did-doc",
            doc.to_str().expect("path"),
        ]);
        assert!(output.status.success(), "repo {repo}: {}", stderr(&output));
        let lines = json_lines(&output);
        assert_eq!(lines[0]["signature"], "valid", "repo {repo}");
        assert_eq!(lines[0]["did"], status.did.as_str(), "repo {repo}");
        assert_eq!(lines.len() - 1, records, "repo {repo}: one line per record");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} active repos");
}
