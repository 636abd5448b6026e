//! The HTTP and WebSocket server: what a PDS, a PLC directory and a labeler serve.
//!
//! | route | what |
//! |---|---|
//! | `GET /xrpc/com.atproto.sync.listRepos` | repos with head, rev, `active`/`status`; cursor paging |
//! | `GET /xrpc/com.atproto.sync.getRepo` | the repo as a CAR, streamed while it is generated |
//! | `GET /xrpc/com.atproto.sync.getLatestCommit` | head CID and rev |
//! | `GET /xrpc/com.atproto.sync.getRepoStatus` | `active`, `status`, rev |
//! | `GET /xrpc/com.atproto.sync.subscribeRepos` | the firehose (WebSocket), replayable from `cursor` |
//! | `GET /xrpc/com.atproto.label.subscribeLabels` | the labeler's labels (WebSocket) |
//! | `GET /xrpc/com.atproto.server.describeServer` | the handle domain |
//! | `GET /xrpc/com.atproto.identity.resolveHandle` | handle → DID |
//! | `GET /.well-known/atproto-did` | the DID of the handle in the `Host` header |
//! | `GET /{did}` | the DID document (as a PLC directory serves it) |
//! | `GET /_devnet/ground-truth` | per repo record counts per collection, statuses, heads |
//!
//! Errors are XRPC errors: a status and `{"error", "message"}`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::accounts::HANDLE_DOMAIN;
use crate::content::Generator;
use crate::faults::RepoFault;
use crate::frames::{encode_error, encode_event, encode_info, encode_labels};
use crate::history::HistoryStream;
use crate::labels;
use crate::network::Network;

/// Size of the chunks a `getRepo` body is sent in.
const CAR_CHUNK: usize = 64 * 1024;
/// Most repos one `listRepos` page returns.
const MAX_PAGE: usize = 1000;

type Shared = Arc<Network>;

/// The router of the network's endpoints (see the module docs).
pub fn router(network: Shared) -> Router {
    Router::new()
        .route("/xrpc/com.atproto.sync.listRepos", get(list_repos))
        .route("/xrpc/com.atproto.sync.getRepo", get(get_repo))
        .route(
            "/xrpc/com.atproto.sync.getLatestCommit",
            get(get_latest_commit),
        )
        .route("/xrpc/com.atproto.sync.getRepoStatus", get(get_repo_status))
        .route(
            "/xrpc/com.atproto.sync.subscribeRepos",
            get(subscribe_repos),
        )
        .route(
            "/xrpc/com.atproto.label.subscribeLabels",
            get(subscribe_labels),
        )
        .route(
            "/xrpc/com.atproto.server.describeServer",
            get(describe_server),
        )
        .route(
            "/xrpc/com.atproto.identity.resolveHandle",
            get(resolve_handle),
        )
        .route("/xrpc/_health", get(health))
        .route("/.well-known/atproto-did", get(well_known_did))
        .route("/_devnet/ground-truth", get(ground_truth))
        .route("/{did}", get(did_document))
        .layer(middleware::from_fn_with_state(
            network.clone(),
            slow_responses,
        ))
        .with_state(network)
}

/// Waits before every response when the network has the slow-response fault.
async fn slow_responses(State(network): State<Shared>, request: Request, next: Next) -> Response {
    let delay = network.faults().response_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(request).await
}

/// An XRPC error response.
fn xrpc_error(status: StatusCode, error: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": error, "message": message.into() });
    (status, axum::Json(body)).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    xrpc_error(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

/// The repo named by a `did` parameter, or the error response.
fn find_repo(network: &Network, did: Option<&str>) -> Result<u32, Response> {
    let did = did.ok_or_else(|| bad_request("missing parameter: did"))?;
    network.repo_of_did(did).ok_or_else(|| {
        xrpc_error(
            StatusCode::BAD_REQUEST,
            "RepoNotFound",
            format!("could not find repo for DID: {did}"),
        )
    })
}

/// The error response of an inactive repo, if it is one.
fn inactive(network: &Network, repo: u32) -> Option<Response> {
    let status = network.repo_status(repo)?;
    let (error, what) = match status.status? {
        "takendown" => ("RepoTakendown", "taken down"),
        "suspended" => ("RepoSuspended", "suspended"),
        _ => ("RepoDeactivated", "deactivated"),
    };
    Some(xrpc_error(
        StatusCode::BAD_REQUEST,
        error,
        format!("repo has been {what}: {}", status.did),
    ))
}

#[derive(Debug, Deserialize)]
struct ListReposParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_repos(State(network): State<Shared>, params: Query<ListReposParams>) -> Response {
    let limit = params.limit.unwrap_or(500).clamp(1, MAX_PAGE);
    let start = match params.cursor.as_deref() {
        None | Some("") => 0,
        Some(cursor) => match cursor.parse::<u32>() {
            Ok(start) => start,
            Err(_) => return bad_request(format!("malformed cursor: {cursor}")),
        },
    };
    let total = network.model().repo_count();
    let end = start.saturating_add(limit as u32).min(total);
    let repos: Vec<serde_json::Value> = (start..end)
        .filter_map(|repo| network.repo_status(repo))
        .map(|status| {
            let mut entry = serde_json::json!({
                "did": status.did,
                "head": status.head.to_string(),
                "rev": status.rev,
                "active": status.active,
            });
            if let Some(reason) = status.status {
                entry["status"] = reason.into();
            }
            entry
        })
        .collect();
    let mut body = serde_json::json!({ "repos": repos });
    if end < total {
        body["cursor"] = end.to_string().into();
    }
    axum::Json(body).into_response()
}

#[derive(Debug, Deserialize)]
struct DidParam {
    did: Option<String>,
}

async fn get_repo(State(network): State<Shared>, params: Query<DidParam>) -> Response {
    let repo = match find_repo(&network, params.did.as_deref()) {
        Ok(repo) => repo,
        Err(response) => return response,
    };
    if let Some(response) = inactive(&network, repo) {
        return response;
    }
    let fault = network.faults().repo_fault(repo);
    match fault {
        Some(RepoFault::Fails) => {
            return xrpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "injected fault: this repo's getRepo fails",
            );
        }
        Some(RepoFault::Stalls) => {
            return car_response(Body::from_stream(futures::stream::pending::<
                Result<Bytes, std::io::Error>,
            >()));
        }
        _ => {}
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let producer = network.clone();
    let truncate = fault == Some(RepoFault::Truncated);
    tokio::task::spawn_blocking(move || {
        let generator = Generator::new(producer.model());
        let result = producer
            .snapshot(&generator, repo)
            .and_then(|mut snapshot| {
                snapshot.write_car(&generator, CAR_CHUNK, &mut |chunk| {
                    if truncate {
                        let half = chunk.slice(..chunk.len() / 2);
                        let _ = tx.blocking_send(Ok(half));
                        let _ = tx.blocking_send(Err(std::io::Error::other(
                            "injected fault: the CAR stops here",
                        )));
                        return false;
                    }
                    tx.blocking_send(Ok(chunk)).is_ok()
                })
            });
        if let Err(error) = result {
            tracing::error!(%error, repo, "getRepo failed");
            let _ = tx.blocking_send(Err(std::io::Error::other(error.to_string())));
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    car_response(Body::from_stream(body))
}

fn car_response(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/vnd.ipld.car")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn get_latest_commit(State(network): State<Shared>, params: Query<DidParam>) -> Response {
    let repo = match find_repo(&network, params.did.as_deref()) {
        Ok(repo) => repo,
        Err(response) => return response,
    };
    if let Some(response) = inactive(&network, repo) {
        return response;
    }
    match network.repo_status(repo) {
        Some(status) => {
            axum::Json(serde_json::json!({ "cid": status.head.to_string(), "rev": status.rev }))
                .into_response()
        }
        None => bad_request("unknown repo"),
    }
}

async fn get_repo_status(State(network): State<Shared>, params: Query<DidParam>) -> Response {
    let repo = match find_repo(&network, params.did.as_deref()) {
        Ok(repo) => repo,
        Err(response) => return response,
    };
    let Some(status) = network.repo_status(repo) else {
        return bad_request("unknown repo");
    };
    let mut body = serde_json::json!({ "did": status.did, "active": status.active });
    match status.status {
        Some(reason) => body["status"] = reason.into(),
        None => body["rev"] = status.rev.into(),
    }
    axum::Json(body).into_response()
}

async fn describe_server(State(network): State<Shared>, headers: HeaderMap) -> Response {
    let host = host_name(&headers).unwrap_or_else(|| "localhost".to_owned());
    axum::Json(serde_json::json!({
        "did": format!("did:web:{host}"),
        "availableUserDomains": [format!(".{HANDLE_DOMAIN}")],
        "inviteCodeRequired": false,
        "links": {},
        "devnet": { "repos": network.model().repo_count(), "seed": network.model().seed() },
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct HandleParam {
    handle: Option<String>,
}

async fn resolve_handle(State(network): State<Shared>, params: Query<HandleParam>) -> Response {
    let Some(handle) = params.handle.as_deref() else {
        return bad_request("missing parameter: handle");
    };
    match network
        .repo_of_handle(handle)
        .and_then(|repo| network.model().account(repo))
    {
        Some(account) => axum::Json(serde_json::json!({ "did": account.did })).into_response(),
        None => bad_request(format!("unable to resolve handle: {handle}")),
    }
}

/// The `Host` header without its port.
fn host_name(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    Some(name.to_ascii_lowercase())
}

async fn well_known_did(State(network): State<Shared>, headers: HeaderMap) -> Response {
    let found = host_name(&headers)
        .and_then(|handle| network.repo_of_handle(&handle))
        .and_then(|repo| network.model().account(repo));
    match found {
        Some(account) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            account.did.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no user by that handle").into_response(),
    }
}

async fn did_document(State(network): State<Shared>, Path(did): Path<String>) -> Response {
    match network
        .repo_of_did(&did)
        .and_then(|repo| network.did_document(repo))
    {
        Some(document) => axum::Json(document).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({ "message": format!("DID not registered: {did}") })),
        )
            .into_response(),
    }
}

async fn ground_truth(State(network): State<Shared>) -> Response {
    let truth = tokio::task::spawn_blocking(move || network.ground_truth()).await;
    match truth {
        Ok(truth) => axum::Json(truth).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn health() -> Response {
    axum::Json(serde_json::json!({ "version": env!("CARGO_PKG_VERSION") })).into_response()
}

#[derive(Debug, Deserialize)]
struct CursorParam {
    cursor: Option<String>,
}

/// Parses a `cursor` parameter (`None`: absent).
fn parse_cursor(params: &CursorParam) -> Result<Option<u64>, Response> {
    match params.cursor.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse::<i64>()
            .map(|value| Some(u64::try_from(value).unwrap_or(0)))
            .map_err(|_| bad_request(format!("malformed cursor: {text}"))),
    }
}

async fn subscribe_repos(
    State(network): State<Shared>,
    params: Query<CursorParam>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let cursor = match parse_cursor(&params) {
        Ok(cursor) => cursor,
        Err(response) => return response,
    };
    upgrade
        .max_write_buffer_size(64 << 20)
        .on_upgrade(move |socket| stream_frames(socket, network, cursor, Stream::Repos))
}

async fn subscribe_labels(
    State(network): State<Shared>,
    params: Query<CursorParam>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let cursor = match parse_cursor(&params) {
        Ok(cursor) => cursor,
        Err(response) => return response,
    };
    upgrade.on_upgrade(move |socket| stream_frames(socket, network, cursor, Stream::Labels))
}

/// Which stream a subscription reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Repos,
    Labels,
}

/// Sends frames after `cursor`: the history's (generated for this subscriber), then the live
/// ones, until the subscriber leaves. No cursor starts at the head.
async fn stream_frames(socket: WebSocket, network: Shared, cursor: Option<u64>, which: Stream) {
    let (mut sink, mut incoming) = socket.split();
    // Read (and drop) what the subscriber sends; its end means the subscriber left.
    let (left_tx, mut left) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        while let Some(Ok(message)) = incoming.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
        let _ = left_tx.send(());
    });
    let (head, history_end) = match which {
        Stream::Repos => (network.head_seq(), network.history_events()),
        Stream::Labels => (network.head_label_seq(), network.history_labels()),
    };
    let mut last = match cursor {
        None => head,
        Some(cursor) if cursor > head => {
            let frame = encode_error("FutureCursor", "cursor in the future");
            let _ = sink.send(Message::Binary(frame)).await;
            let _ = sink.close().await;
            return;
        }
        Some(cursor) => cursor,
    };
    if last < history_end {
        let (tx, mut rx) = mpsc::channel::<Bytes>(512);
        let producer = network.clone();
        let from = last;
        tokio::task::spawn_blocking(move || produce_history(&producer, which, from, &tx));
        loop {
            let frame = tokio::select! {
                frame = rx.recv() => frame,
                _ = &mut left => return,
            };
            let Some(frame) = frame else { break };
            if sink.feed(Message::Binary(frame)).await.is_err() {
                return;
            }
            if rx.is_empty() && sink.flush().await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
        last = history_end;
    }
    let mut watch = match which {
        Stream::Repos => network.watch_seq(),
        Stream::Labels => network.watch_label_seq(),
    };
    loop {
        let (frames, gap) = {
            let live = network.live();
            match which {
                Stream::Repos => live.frames.after(last, 1024),
                Stream::Labels => live.labels.after(last, 1024),
            }
        };
        if gap {
            let info = encode_info("OutdatedCursor", "live events before this one are gone");
            if sink.send(Message::Binary(info)).await.is_err() {
                return;
            }
        }
        if frames.is_empty() {
            tokio::select! {
                changed = watch.changed() => if changed.is_err() { return },
                _ = &mut left => return,
            }
            continue;
        }
        for (seq, frame) in frames {
            if sink.feed(Message::Binary(frame)).await.is_err() {
                return;
            }
            last = seq;
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

/// Generates the history's frames after `from` into `tx` until done or the subscriber left.
fn produce_history(network: &Network, which: Stream, from: u64, tx: &mpsc::Sender<Bytes>) {
    let model = network.model();
    match which {
        Stream::Repos => {
            let mut stream = HistoryStream::from_cursor(model, network.config().window, from);
            while let Some(event) = stream.next_event() {
                match event {
                    Ok((seq, event)) => {
                        let frame = encode_event(model, network.faults(), seq, &event);
                        if tx.blocking_send(frame).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "history event failed; stream ends");
                        return;
                    }
                }
            }
        }
        Stream::Labels => {
            let generator = Generator::new(model);
            for index in from..network.history_labels() {
                let Some(label) = labels::label(&generator, index, None) else {
                    continue;
                };
                if tx
                    .blocking_send(encode_labels(index + 1, vec![label]))
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
