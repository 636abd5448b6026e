use std::collections::HashMap;
use std::time::Duration;

use axum::body::to_bytes;
use axum::http::Request;
use futures::StreamExt;
use sluice_atproto::crypto::PublicKey;
use sluice_atproto::firehose::{Frame, RepoStreamValidator, ValidatorConfig, Verdict};
use sluice_atproto::identity::DidDocument;
use sluice_atproto::repo::{ReadOptions, RepoReader};
use tokio_tungstenite::tungstenite;
use tower::ServiceExt;

use super::*;
use crate::faults::FaultConfig;
use crate::model::NetworkConfig;
use crate::network::DevnetConfig;
use crate::run::RunningDevnet;

fn network(seed: u64, repos: u32, records: u64) -> Network {
    Network::generate(DevnetConfig::new(
        NetworkConfig::new(seed, repos).with_records(records),
    ))
    .unwrap()
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Bytes) {
    get_with(app, Request::get(uri)).await
}

async fn get_with(app: &Router, request: axum::http::request::Builder) -> (StatusCode, Bytes) {
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    (
        status,
        to_bytes(response.into_body(), usize::MAX).await.unwrap(),
    )
}

async fn get_json(app: &Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let (status, body) = get(app, uri).await;
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn list_repos_pages_through_every_repo() {
    let network = Arc::new(network(71, 23, 1_500));
    let app = router(network.clone());
    let mut dids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let uri = match &cursor {
            Some(cursor) => format!("/xrpc/com.atproto.sync.listRepos?limit=5&cursor={cursor}"),
            None => "/xrpc/com.atproto.sync.listRepos?limit=5".to_owned(),
        };
        let (status, body) = get_json(&app, &uri).await;
        assert_eq!(status, StatusCode::OK);
        pages += 1;
        for repo in body["repos"].as_array().unwrap() {
            dids.push(repo["did"].as_str().unwrap().to_owned());
            let index = network.repo_of_did(repo["did"].as_str().unwrap()).unwrap();
            let status = network.repo_status(index).unwrap();
            assert_eq!(repo["head"], status.head.to_string());
            assert_eq!(repo["active"], status.active);
            assert_eq!(repo["status"].as_str(), status.status);
        }
        match body["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let expected: Vec<String> = network
        .model()
        .accounts()
        .iter()
        .map(|a| a.did.clone())
        .collect();
    assert_eq!(dids, expected);
    let (status, body) = get_json(&app, "/xrpc/com.atproto.sync.listRepos?cursor=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "InvalidRequest");
}

#[tokio::test]
async fn get_repo_serves_verified_repos_matching_the_ground_truth() {
    let network = Arc::new(network(72, 15, 3_000));
    let app = router(network.clone());
    let truth = network.ground_truth();
    let mut served = 0;
    for (repo, entry) in truth["per_repo"].as_array().unwrap().iter().enumerate() {
        let did = entry["did"].as_str().unwrap();
        let (status, document) = get_json(&app, &format!("/{did}")).await;
        assert_eq!(status, StatusCode::OK);
        let document = DidDocument::from_json(document.to_string().as_bytes()).unwrap();
        let key = document.signing_key().unwrap();
        let (status, car) = get(&app, &format!("/xrpc/com.atproto.sync.getRepo?did={did}")).await;
        if !entry["active"].as_bool().unwrap() {
            assert_eq!(status, StatusCode::BAD_REQUEST);
            let error: serde_json::Value = serde_json::from_slice(&car).unwrap();
            let expected = match entry["status"].as_str() {
                Some("takendown") => "RepoTakendown",
                _ => "RepoDeactivated",
            };
            assert_eq!(error["error"], expected);
            continue;
        }
        assert_eq!(status, StatusCode::OK, "repo {repo}");
        let reader = RepoReader::read(car.as_ref(), &ReadOptions::default())
            .await
            .unwrap();
        reader.commit().verify_for(did, &key).unwrap();
        assert_eq!(
            reader.commit_cid().to_string(),
            entry["head"].as_str().unwrap()
        );
        let mut counts: HashMap<String, i64> = HashMap::new();
        for record in reader.records() {
            *counts
                .entry(record.unwrap().collection().to_owned())
                .or_default() += 1;
        }
        let expected: HashMap<String, i64> = entry["collections"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
            .collect();
        assert_eq!(counts, expected, "repo {repo}");
        let (_, latest) = get_json(
            &app,
            &format!("/xrpc/com.atproto.sync.getLatestCommit?did={did}"),
        )
        .await;
        assert_eq!(latest["cid"], entry["head"]);
        served += 1;
    }
    assert!(served >= 10);
    let (status, body) = get_json(&app, "/xrpc/com.atproto.sync.getRepo?did=did:plc:nobody").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "RepoNotFound");
}

#[tokio::test]
async fn handles_resolve_by_host_header() {
    let network = Arc::new(network(73, 10, 500));
    let app = router(network.clone());
    for account in network.model().accounts() {
        let (status, did) = get_with(
            &app,
            Request::get("/.well-known/atproto-did").header("host", &account.handle),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(did, account.did.as_bytes());
        let (_, resolved) = get_json(
            &app,
            &format!(
                "/xrpc/com.atproto.identity.resolveHandle?handle={}",
                account.handle
            ),
        )
        .await;
        assert_eq!(resolved["did"], account.did);
        if account.handle != account.original_handle {
            let (status, _) = get_with(
                &app,
                Request::get("/.well-known/atproto-did").header("host", &account.original_handle),
            )
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
    }
    let (status, _) = get_with(
        &app,
        Request::get("/.well-known/atproto-did").header("host", "nobody.devnet.test:1234"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, describe) = get_json(&app, "/xrpc/com.atproto.server.describeServer").await;
    assert_eq!(describe["availableUserDomains"][0], ".devnet.test");
}

#[tokio::test]
async fn get_repo_faults_happen_to_the_chosen_repos() {
    let config = DevnetConfig {
        faults: FaultConfig {
            failing_repos: 0.3,
            truncated_repos: 0.3,
            stalled_repos: 0.3,
            ..FaultConfig::default()
        },
        ..DevnetConfig::new(NetworkConfig::new(74, 20).with_records(2_000))
    };
    let network = Arc::new(Network::generate(config).unwrap());
    let app = router(network.clone());
    let mut seen = HashMap::new();
    for repo in 0..20 {
        let status = network.repo_status(repo).unwrap();
        if !status.active {
            continue;
        }
        let uri = format!("/xrpc/com.atproto.sync.getRepo?did={}", status.did);
        let response = app
            .clone()
            .oneshot(Request::get(&uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let code = response.status();
        let body = tokio::time::timeout(
            Duration::from_millis(500),
            to_bytes(response.into_body(), usize::MAX),
        )
        .await;
        let fault = network.faults().repo_fault(repo);
        match fault {
            Some(RepoFault::Fails) => assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR),
            Some(RepoFault::Truncated) => assert!(matches!(body, Ok(Err(_)))),
            Some(RepoFault::Stalls) => assert!(body.is_err(), "a stalled body completed"),
            None => {
                let car = body.unwrap().unwrap();
                RepoReader::read(car.as_ref(), &ReadOptions::default())
                    .await
                    .unwrap();
            }
        }
        *seen.entry(format!("{fault:?}")).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn next_frame(socket: &mut Socket) -> Option<Frame> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .ok()??
            .ok()?;
        if let tungstenite::Message::Binary(bytes) = message {
            return Some(Frame::decode(&bytes).unwrap());
        }
    }
}

fn keys(network: &Network) -> HashMap<String, PublicKey> {
    network
        .model()
        .accounts()
        .iter()
        .map(|a| (a.did.clone(), a.keypair.public_key()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_firehose_replays_the_history_and_passes_the_relay_rules() {
    let devnet = RunningDevnet::start(network(75, 20, 2_000), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let network = devnet.network().clone();
    let head = network.history_events();
    let mut socket = subscribe(&format!("{}?cursor=0", devnet.firehose_url())).await;
    let mut validator = RepoStreamValidator::new(ValidatorConfig::default(), keys(&network));
    let mut last_commit: HashMap<String, String> = HashMap::new();
    let mut tail = Vec::new();
    for expected_seq in 1..=head {
        let frame = next_frame(&mut socket).await.unwrap();
        assert_eq!(frame.seq(), Some(expected_seq as i64));
        if let Frame::Commit(commit) = &frame {
            last_commit.insert(commit.repo.clone(), commit.commit.to_string());
        }
        let is_sync = matches!(frame, Frame::Sync(_));
        match validator.validate(&frame) {
            Verdict::Accept { warnings, .. } => assert!(warnings.is_empty(), "{warnings:?}"),
            Verdict::UpdateAccount { .. } => {}
            Verdict::Resync { reason, .. } => assert!(is_sync, "seq {expected_seq}: {reason:?}"),
            other => panic!("seq {expected_seq}: {other:?}"),
        }
        if expected_seq + 5 > head {
            tail.push(frame.encode());
        }
    }
    for repo in 0..network.model().repo_count() {
        let status = network.repo_status(repo).unwrap();
        assert_eq!(last_commit[&status.did], status.head.to_string());
    }
    // A cursor replays from just after it.
    let mut socket = subscribe(&format!("{}?cursor={}", devnet.firehose_url(), head - 5)).await;
    for expected in tail {
        assert_eq!(next_frame(&mut socket).await.unwrap().encode(), expected);
    }
    // A cursor in the future is an error.
    let mut socket = subscribe(&format!("{}?cursor={}", devnet.firehose_url(), head + 100)).await;
    match next_frame(&mut socket).await.unwrap() {
        Frame::Error(error) => assert_eq!(error.error, "FutureCursor"),
        other => panic!("{other:?}"),
    }
    devnet.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_label_stream_replays_signed_labels() {
    let devnet = RunningDevnet::start(network(76, 100, 1_000), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let network = devnet.network().clone();
    let labeler = network.model().account(crate::accounts::LABELER).unwrap();
    let key = labeler.label_keypair.as_ref().unwrap().public_key();
    let mut socket = subscribe(&format!("{}?cursor=0", devnet.labels_url())).await;
    let mut negations = 0;
    for seq in 1..=network.history_labels() {
        let Frame::Labels(event) = next_frame(&mut socket).await.unwrap() else {
            panic!("not a #labels frame")
        };
        assert_eq!(event.seq, seq as i64);
        for label in event.labels {
            label.verify(&key).unwrap();
            assert_eq!(label.src, labeler.did);
            negations += usize::from(label.is_negation());
        }
    }
    assert!(negations > 0);
    devnet.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_keep_verifying_and_getrepo_follows_them() {
    let config = DevnetConfig {
        rate: 400.0,
        live_repos: 10,
        ..DevnetConfig::new(NetworkConfig::new(77, 30).with_records(2_000))
    };
    let mut devnet = RunningDevnet::start(
        Network::generate(config).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let network = devnet.network().clone();
    // Replay the history to learn every repo's state, then follow the live events.
    let mut socket = subscribe(&format!("{}?cursor=0", devnet.firehose_url())).await;
    let mut validator = RepoStreamValidator::new(ValidatorConfig::default(), keys(&network));
    let mut kinds: HashMap<String, usize> = HashMap::new();
    let mut last_seq = 0;
    let mut touched = std::collections::HashSet::new();
    while kinds.values().sum::<usize>() < 400 {
        let frame = next_frame(&mut socket).await.unwrap();
        let seq = frame.seq().unwrap() as u64;
        assert!(seq > last_seq);
        last_seq = seq;
        let is_sync = matches!(frame, Frame::Sync(_));
        let verdict = validator.validate(&frame);
        match verdict {
            Verdict::Accept { warnings, .. } => assert!(warnings.is_empty(), "{warnings:?}"),
            Verdict::UpdateAccount { .. } => {}
            Verdict::Resync { reason, .. } => assert!(is_sync, "seq {seq}: {reason:?}"),
            other => panic!("seq {seq}: {other:?}"),
        }
        if seq > network.history_events() {
            if let Some(did) = frame.did() {
                touched.insert(did.to_owned());
            }
            *kinds.entry(frame.type_name().to_owned()).or_default() += 1;
        }
    }
    assert!(kinds["#commit"] > 300, "{kinds:?}");
    // getRepo serves the state after the live commits.
    devnet.stop_live().await.unwrap();
    let app = router(network.clone());
    for did in touched {
        let repo = network.repo_of_did(&did).unwrap();
        let status = network.repo_status(repo).unwrap();
        if !status.active {
            continue;
        }
        let (code, car) = get(&app, &format!("/xrpc/com.atproto.sync.getRepo?did={did}")).await;
        assert_eq!(code, StatusCode::OK);
        let reader = RepoReader::read(car.as_ref(), &ReadOptions::default())
            .await
            .unwrap();
        assert_eq!(reader.commit_cid(), status.head);
        let count = reader.records().count() as i64;
        assert_eq!(count, network.record_counts(repo).total());
    }
    devnet.shutdown().await.unwrap();
}
