//! Following one host's `com.atproto.sync.subscribeRepos` into the firehose stream.
//!
//! A session has two halves running together:
//! - the reader takes frames off the socket, decodes them, starts the signing-key lookup and
//!   hands each event to the [`VerifierPool`], queueing the pool's one-shot reply in read order;
//! - the writer takes the replies in that order, gathers up to `batch_size` of them, waits while
//!   the firehose stream is above its high-water mark, and writes them in one pipeline: events
//!   to the firehose stream, repos to re-backfill to the repo stream, rejected frames to the
//!   dead-letter stream. Only when Redis confirmed every entry does the cursor move to the
//!   batch's last `seq`.
//!
//! The queue between them is bounded (`max_in_flight`): when the writer waits (back-pressure,
//! a slow Redis), the reader stops reading and the socket's flow control holds the sender.
//! When the socket ends, the writer still writes what was read, then the session ends and the
//! follower reconnects from the cursor with capped, jittered backoff. When a write fails, the
//! chain state of the host is forgotten (the same events will be read again).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::ConnectionManager;
use sluice_atproto::firehose::Frame;
use sluice_queue::{BackPressure, Backlog, Cursor, RepoToBackfill, StreamPayload as _};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::config::IngesterConfig;
use crate::dead_letter::rejection_entry;
use crate::keys::SigningKeys;
use crate::metrics as m;
use crate::status::SourceStatus;
use crate::verify::{Job, Processed, REASON_MALFORMED, VerifierPool};
use crate::websocket::{self, host_label};
use crate::writer::{BatchWriter, Entry, WriteError};

/// The XRPC method followed.
pub const SUBSCRIBE_REPOS: &str = "com.atproto.sync.subscribeRepos";

/// One host's firehose follower.
pub struct FirehoseFollower {
    /// The host as configured.
    pub host: String,
    /// Its index among the configured hosts (its chain state in the pool).
    pub host_index: usize,
    /// Settings.
    pub config: Arc<IngesterConfig>,
    /// Redis.
    pub conn: ConnectionManager,
    /// The verification pool.
    pub pool: VerifierPool,
    /// Signing keys (when signatures are checked).
    pub keys: Option<SigningKeys>,
    /// Where the follower reports its state.
    pub status: SourceStatus,
}

/// How a session's reading ended.
#[derive(Debug)]
enum ReadEnd {
    /// Shutdown, or the writer stopped.
    Stopped,
    /// The server closed the stream.
    Closed,
    /// The connection failed.
    Failed(String),
    /// The server sent an error frame.
    ServerError(String),
}

/// How a session's writing ended.
#[derive(Debug)]
enum WriteEnd {
    /// Everything read was written.
    Drained,
    /// Shutdown while waiting at the high-water mark: the rest is read again next time.
    Stopped,
    /// A write failed: the rest is read again from the cursor.
    Failed(String),
}

impl FirehoseFollower {
    fn label(&self) -> String {
        host_label(&self.host).to_owned()
    }

    /// Follows the host until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let cursor = Cursor::new(
            self.conn.clone(),
            &self.config.firehose_stream.name,
            &self.host,
        );
        let mut backoff = Backoff::new(self.config.backoff);
        let mut from_live = false;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let position = if from_live {
                None
            } else {
                match cursor.get().await {
                    Ok(position) => position,
                    Err(error) => {
                        self.status.error(&format!("reading the cursor: {error}"));
                        tracing::warn!(host = %self.host, %error, "cannot read the firehose cursor");
                        if sleep_or_stop(backoff.next_delay(), &shutdown).await {
                            break;
                        }
                        continue;
                    }
                }
            };
            from_live = false;
            let (read, write, frames) = self.session(&cursor, position, &shutdown).await;
            metrics::gauge!(m::INGESTER_CONNECTED, "source" => "firehose", "host" => self.label())
                .set(0.0);
            if matches!(write, WriteEnd::Failed(_))
                && self.pool.forget_host(self.host_index).await.is_err()
            {
                break;
            }
            if shutdown.is_cancelled() {
                break;
            }
            let reason = match (&read, &write) {
                (_, WriteEnd::Failed(error)) => format!("writing to Redis failed: {error}"),
                (ReadEnd::ServerError(error), _) => format!("server error frame: {error}"),
                (ReadEnd::Failed(error), _) => error.clone(),
                (ReadEnd::Closed, _) => "the server closed the stream".to_owned(),
                (ReadEnd::Stopped, _) => "stopped".to_owned(),
            };
            if matches!(&read, ReadEnd::ServerError(e) if e.starts_with("FutureCursor")) {
                tracing::error!(host = %self.host, "the host is behind our cursor (was it reset?): resuming from its live head");
                from_live = true;
            }
            if frames > 0 {
                backoff.reset();
            }
            let delay = backoff.next_delay();
            tracing::warn!(host = %self.host, reason, retry_in_ms = delay.as_millis() as u64, "firehose session ended; reconnecting");
            self.status.state("reconnecting");
            self.status.error(&reason);
            metrics::counter!(m::INGESTER_RECONNECTS, "source" => "firehose", "host" => self.label()).increment(1);
            if sleep_or_stop(delay, &shutdown).await {
                break;
            }
        }
        self.status.state("stopped");
    }

    /// One connection: returns how reading and writing ended and how many frames were read.
    async fn session(
        &self,
        cursor: &Cursor,
        position: Option<String>,
        shutdown: &CancellationToken,
    ) -> (ReadEnd, WriteEnd, u64) {
        let url = websocket::subscription_url(&self.host, SUBSCRIBE_REPOS, position.as_deref());
        self.status.state("connecting");
        let mut socket = tokio::select! {
            () = shutdown.cancelled() => return (ReadEnd::Stopped, WriteEnd::Drained, 0),
            socket = websocket::connect(&url) => match socket {
                Ok(socket) => socket,
                Err(error) => return (ReadEnd::Failed(format!("connecting to {url}: {error}")), WriteEnd::Drained, 0),
            },
        };
        tracing::info!(host = %self.host, cursor = ?position, "firehose connected");
        self.status.state("streaming");
        metrics::gauge!(m::INGESTER_CONNECTED, "source" => "firehose", "host" => self.label())
            .set(1.0);
        let (tx, rx) = mpsc::channel(self.config.max_in_flight.max(1));
        let stop = shutdown.child_token();
        let mut frames = 0;
        let (read, write) = tokio::join!(
            self.read_frames(&mut socket, tx, &stop, &mut frames),
            self.write_batches(rx, cursor, &stop, shutdown),
        );
        (read, write, frames)
    }

    async fn read_frames(
        &self,
        socket: &mut websocket::Socket,
        tx: mpsc::Sender<oneshot::Receiver<Processed>>,
        stop: &CancellationToken,
        frames: &mut u64,
    ) -> ReadEnd {
        let host_name: Arc<str> = Arc::from(self.label());
        loop {
            let message = tokio::select! {
                biased;
                () = stop.cancelled() => return ReadEnd::Stopped,
                message = websocket::next_message(socket, self.config.idle_timeout) => message,
            };
            let bytes: Bytes = match message {
                None => return ReadEnd::Closed,
                Some(Err(error)) => return ReadEnd::Failed(error),
                Some(Ok(Message::Binary(bytes))) => bytes,
                Some(Ok(Message::Close(_))) => return ReadEnd::Closed,
                Some(Ok(_)) => continue,
            };
            *frames += 1;
            let reply = match Frame::decode(&bytes) {
                Err(error) => {
                    metrics::counter!(m::INGESTER_FRAMES, "source" => "firehose", "host" => host_name.to_string(), "type" => "malformed").increment(1);
                    metrics::counter!(m::INGESTER_REJECTED, "host" => host_name.to_string(), "reason" => REASON_MALFORMED).increment(1);
                    tracing::warn!(host = %self.host, %error, "malformed frame");
                    ready(Processed::rejected(
                        None,
                        REASON_MALFORMED,
                        error.to_string(),
                        bytes,
                    ))
                }
                Ok(Frame::Error(error)) => {
                    return ReadEnd::ServerError(format!(
                        "{}: {}",
                        error.error,
                        error.message.unwrap_or_default()
                    ));
                }
                Ok(Frame::Info(info)) => {
                    tracing::warn!(host = %self.host, name = %info.name, message = ?info.message, "info frame from the host");
                    continue;
                }
                Ok(
                    frame @ (Frame::Commit(_)
                    | Frame::Sync(_)
                    | Frame::Identity(_)
                    | Frame::Account(_)),
                ) => {
                    metrics::counter!(m::INGESTER_FRAMES, "source" => "firehose", "host" => host_name.to_string(), "type" => frame_type(&frame)).increment(1);
                    let did = frame.did().unwrap_or_default();
                    let key = match (&self.keys, &frame) {
                        (Some(keys), Frame::Commit(_) | Frame::Sync(_)) => Some(keys.lookup(did)),
                        (Some(keys), Frame::Identity(_)) => {
                            keys.forget(did);
                            None
                        }
                        _ => None,
                    };
                    let (reply, receiver) = oneshot::channel();
                    let job = Job {
                        host: self.host_index,
                        host_name: host_name.clone(),
                        frame,
                        raw: bytes,
                        key,
                        reply,
                    };
                    let submitted = tokio::select! {
                        () = stop.cancelled() => return ReadEnd::Stopped,
                        submitted = self.pool.submit(job) => submitted,
                    };
                    if submitted.is_err() {
                        return ReadEnd::Failed("the verification pool stopped".to_owned());
                    }
                    receiver
                }
                Ok(other) => {
                    metrics::counter!(m::INGESTER_FRAMES, "source" => "firehose", "host" => host_name.to_string(), "type" => "unknown").increment(1);
                    ready(Processed::nothing(other.seq()))
                }
            };
            let sent = tokio::select! {
                () = stop.cancelled() => return ReadEnd::Stopped,
                sent = tx.send(reply) => sent,
            };
            if sent.is_err() {
                return ReadEnd::Stopped;
            }
        }
    }

    async fn write_batches(
        &self,
        mut rx: mpsc::Receiver<oneshot::Receiver<Processed>>,
        cursor: &Cursor,
        stop: &CancellationToken,
        shutdown: &CancellationToken,
    ) -> WriteEnd {
        let writer = BatchWriter::new(self.conn.clone());
        let stream = &self.config.firehose_stream;
        let mut gate = BackPressure::new(
            Backlog::new(self.conn.clone(), &stream.name),
            stream.high_water_mark,
            self.config.backpressure_check,
        );
        let batch_size = self.config.batch_size.max(1);
        loop {
            let Some(first) = rx.recv().await else {
                return WriteEnd::Drained;
            };
            let mut batch = Vec::with_capacity(batch_size);
            match first.await {
                Ok(processed) => batch.push(processed),
                Err(_) => return self.write_failed(stop, "a verification worker dropped an event"),
            }
            while batch.len() < batch_size {
                let Ok(next) = rx.try_recv() else { break };
                match next.await {
                    Ok(processed) => batch.push(processed),
                    Err(_) => {
                        return self.write_failed(stop, "a verification worker dropped an event");
                    }
                }
            }
            let admitted = tokio::select! {
                () = shutdown.cancelled() => return WriteEnd::Stopped,
                admitted = gate.admit() => admitted,
            };
            match admitted {
                Ok(waited) if !waited.is_zero() => {
                    metrics::counter!(m::INGESTER_BACKPRESSURE, "stream" => stream.name.clone())
                        .increment(waited.as_secs());
                }
                Ok(_) => {}
                Err(error) => {
                    return self.write_failed(stop, &format!("checking the backlog: {error}"));
                }
            }
            if let Err(error) = self.write_batch(&writer, cursor, &batch).await {
                metrics::counter!(m::INGESTER_WRITE_ERRORS, "source" => "firehose", "host" => self.label()).increment(1);
                return self.write_failed(stop, &error.to_string());
            }
        }
    }

    fn write_failed(&self, stop: &CancellationToken, error: &str) -> WriteEnd {
        stop.cancel();
        WriteEnd::Failed(error.to_owned())
    }

    /// Writes one batch, then moves the cursor to its last `seq`.
    async fn write_batch(
        &self,
        writer: &BatchWriter,
        cursor: &Cursor,
        batch: &[Processed],
    ) -> Result<(), WriteError> {
        let config = &self.config;
        let mut entries = Vec::new();
        let (mut events, mut resyncs, mut rejected) = (0u64, 0u64, 0u64);
        for processed in batch {
            for event in &processed.events {
                entries.push(Entry::single(
                    &config.firehose_stream.name,
                    "event",
                    event.as_bytes(),
                ));
                events += 1;
            }
            if let Some((did, _reason)) = &processed.resync {
                let repo = RepoToBackfill {
                    did: did.clone(),
                    host: Some(self.host.clone()),
                    rev: None,
                    status: None,
                    active: None,
                };
                if let Ok(json) = repo.to_json() {
                    entries.push(Entry::single(&config.repo_stream.name, "repo", json));
                    resyncs += 1;
                }
            }
            if let Some(rejection) = &processed.rejection {
                entries.push(rejection_entry(
                    &config.firehose_stream.name,
                    &self.host,
                    processed.seq,
                    rejection,
                    config.dead_letter_max_len,
                ));
                rejected += 1;
            }
        }
        let last_seq = batch.iter().rev().find_map(|p| p.seq);
        let started = Instant::now();
        match last_seq {
            Some(seq) => {
                writer
                    .write_then_set_cursor(&entries, cursor, &seq.to_string())
                    .await?;
            }
            None => {
                writer.write(&entries).await?;
            }
        }
        metrics::histogram!(m::INGESTER_WRITE_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::counter!(m::INGESTER_ENTRIES, "stream" => config.firehose_stream.name.clone())
            .increment(events);
        if resyncs > 0 {
            metrics::counter!(m::INGESTER_ENTRIES, "stream" => config.repo_stream.name.clone())
                .increment(resyncs);
        }
        self.status.add("frames", batch.len() as u64);
        self.status.add("events", events);
        self.status.add("resyncs", resyncs);
        self.status.add("rejected", rejected);
        if let Some(seq) = last_seq {
            self.status.set("cursor", seq);
            metrics::gauge!(m::INGESTER_CURSOR, "source" => "firehose", "host" => self.label())
                .set(seq as f64);
        }
        Ok(())
    }
}

/// A reply that is already there.
fn ready(processed: Processed) -> oneshot::Receiver<Processed> {
    let (tx, rx) = oneshot::channel();
    let _ = tx.send(processed);
    rx
}

fn frame_type(frame: &Frame) -> &'static str {
    match frame {
        Frame::Commit(_) => "commit",
        Frame::Sync(_) => "sync",
        Frame::Identity(_) => "identity",
        Frame::Account(_) => "account",
        Frame::Info(_) => "info",
        Frame::Labels(_) => "labels",
        Frame::Error(_) => "error",
        Frame::Unknown(_) => "unknown",
    }
}

/// Sleeps for `delay` unless `shutdown` comes first; true when it did.
pub(crate) async fn sleep_or_stop(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(delay) => false,
    }
}
