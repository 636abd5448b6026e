//! Test doubles on loopback only: an HTTP server standing in for the PLC directory, did:web hosts
//! and a PDS answering `/.well-known/atproto-did` by `Host`; a UDP DNS server answering TXT
//! queries; and a Redis key prefix deleted on drop.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use serde_json::{Value, json};

/// What the mock HTTP server answers.
#[derive(Default)]
pub struct Served {
    /// did:plc documents by DID; a `Value::Null` document answers 410 (tombstone).
    pub plc: HashMap<String, Value>,
    /// Raw bodies served for a DID instead of a document (bad documents).
    pub plc_raw: HashMap<String, String>,
    /// The did:web document at `/.well-known/did.json`.
    pub did_web: Option<Value>,
    /// `/.well-known/atproto-did` answers by `Host` header.
    pub handles: HashMap<String, String>,
    /// PLC requests received.
    pub plc_hits: usize,
}

#[derive(Clone)]
pub struct MockHttp {
    pub addr: SocketAddr,
    pub served: Arc<Mutex<Served>>,
}

impl MockHttp {
    pub async fn start() -> Self {
        let served = Arc::new(Mutex::new(Served::default()));
        let app = Router::new()
            .route("/.well-known/did.json", get(did_web))
            .route("/.well-known/atproto-did", get(atproto_did))
            .route("/{did}", get(plc))
            .with_state(served.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, served }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn plc_hits(&self) -> usize {
        self.served.lock().unwrap().plc_hits
    }

    pub fn set_plc(&self, did: &str, doc: Value) {
        self.served.lock().unwrap().plc.insert(did.to_owned(), doc);
    }
}

async fn plc(State(served): State<Arc<Mutex<Served>>>, Path(did): Path<String>) -> Response {
    let mut served = served.lock().unwrap();
    served.plc_hits += 1;
    if let Some(raw) = served.plc_raw.get(&did) {
        return raw.clone().into_response();
    }
    match served.plc.get(&did) {
        Some(Value::Null) => (StatusCode::GONE, "DID not available: tombstoned").into_response(),
        Some(doc) => axum::Json(doc.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "DID not registered").into_response(),
    }
}

async fn did_web(State(served): State<Arc<Mutex<Served>>>) -> Response {
    match &served.lock().unwrap().did_web {
        Some(doc) => axum::Json(doc.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn atproto_did(State(served): State<Arc<Mutex<Served>>>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match served.lock().unwrap().handles.get(&host) {
        Some(did) => format!("{did}\n").into_response(),
        None => (StatusCode::NOT_FOUND, "no user by that handle").into_response(),
    }
}

/// A DID document claiming `handle`, with a PDS.
pub fn did_doc(did: &str, handle: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "alsoKnownAs": [format!("at://{handle}")],
        "verificationMethod": [{
            "id": format!("{did}#atproto"),
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"
        }],
        "service": [{
            "id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": "http://localhost:2583"
        }]
    })
}

/// A DNS server on 127.0.0.1 answering TXT queries from a table (name with trailing dot →
/// strings); NXDOMAIN for any other name.
pub struct MockDns {
    pub addr: SocketAddr,
    pub queries: Arc<AtomicUsize>,
}

impl MockDns {
    pub async fn start(records: HashMap<String, Vec<String>>) -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let counter = queries.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut response = Message::response(query.metadata.id, OpCode::Query);
                response.metadata.recursion_desired = query.metadata.recursion_desired;
                response.metadata.recursion_available = true;
                let mut found = false;
                for q in &query.queries {
                    response.add_query(q.clone());
                    let name = q.name().to_ascii().to_ascii_lowercase();
                    if q.query_type() == RecordType::TXT
                        && let Some(texts) = records.get(&name)
                    {
                        found = true;
                        for text in texts {
                            response.add_answer(Record::from_rdata(
                                q.name().clone(),
                                60,
                                RData::TXT(TXT::new(vec![text.clone()])),
                            ));
                        }
                    }
                }
                if !found {
                    response.metadata.response_code = ResponseCode::NXDomain;
                }
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        Self { addr, queries }
    }
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A Redis key prefix for one test, whose keys are deleted on drop.
pub struct TestPrefix {
    pub url: String,
    pub prefix: String,
}

impl TestPrefix {
    pub fn new(test: &str) -> Self {
        Self {
            url: redis_url(),
            prefix: format!("test:identity:{test}:{:08x}:", rand::random::<u32>()),
        }
    }

    pub async fn conn(&self) -> redis::aio::ConnectionManager {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_connection_manager()
            .await
            .expect("Redis at REDIS_URL")
    }
}

impl Drop for TestPrefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let mut cursor: u64 = 0;
        loop {
            let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
            else {
                return;
            };
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query(&mut conn);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}
