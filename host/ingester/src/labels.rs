//! Following a labeler's `com.atproto.label.subscribeLabels` into the label stream.
//!
//! The first connection starts at cursor 0 (every label the labeler ever issued), later ones
//! at the stored cursor. Each `#labels` frame is checked (every label's signature against the
//! `#atproto_label` key of its `src`, resolved once per session and again once on a mismatch)
//! and written in one pipeline, after which the cursor moves to its `seq`. Labels that fail the
//! check go to `<label_stream>:dead` with the reason.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use redis::aio::ConnectionManager;
use sluice_atproto::crypto::PublicKey;
use sluice_atproto::firehose::Frame;
use sluice_atproto::identity::DidDocument;
use sluice_atproto::label::Label;
use sluice_identity::IdentityResolver;
use sluice_queue::{BackPressure, Backlog, Cursor, LabelEvent, StreamLabel, StreamPayload as _};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::config::IngesterConfig;
use crate::dead_letter::rejection_entry;
use crate::firehose::sleep_or_stop;
use crate::metrics as m;
use crate::status::SourceStatus;
use crate::verify::{REASON_MALFORMED, Rejection};
use crate::websocket::{self, host_label};
use crate::writer::{BatchWriter, Entry};

/// The XRPC method followed.
pub const SUBSCRIBE_LABELS: &str = "com.atproto.label.subscribeLabels";

/// One labeler's follower.
pub struct LabelFollower {
    /// The labeler as configured.
    pub host: String,
    /// Settings.
    pub config: Arc<IngesterConfig>,
    /// Redis.
    pub conn: ConnectionManager,
    /// DID resolution (labeler keys).
    pub resolver: IdentityResolver,
    /// Where the follower reports.
    pub status: SourceStatus,
}

/// The `#atproto_label` key of a labeler's DID document.
pub fn label_key(doc: &DidDocument) -> Option<PublicKey> {
    doc.label_key().ok()
}

impl LabelFollower {
    fn label(&self) -> String {
        host_label(&self.host).to_owned()
    }

    /// Follows the labeler until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let cursor = Cursor::new(
            self.conn.clone(),
            &self.config.label_stream.name,
            &self.host,
        );
        let mut backoff = Backoff::new(self.config.backoff);
        loop {
            let (frames, error) = self.session(&cursor, &shutdown).await;
            metrics::gauge!(m::INGESTER_CONNECTED, "source" => "labels", "host" => self.label())
                .set(0.0);
            if shutdown.is_cancelled() {
                break;
            }
            if frames > 0 {
                backoff.reset();
            }
            let delay = backoff.next_delay();
            tracing::warn!(host = %self.host, error, retry_in_ms = delay.as_millis() as u64, "label session ended; reconnecting");
            self.status.state("reconnecting");
            self.status.error(&error);
            metrics::counter!(m::INGESTER_RECONNECTS, "source" => "labels", "host" => self.label())
                .increment(1);
            if sleep_or_stop(delay, &shutdown).await {
                break;
            }
        }
        self.status.state("stopped");
    }

    /// One connection; returns the frames read and why it ended.
    async fn session(&self, cursor: &Cursor, shutdown: &CancellationToken) -> (u64, String) {
        let position = match cursor.get().await {
            Ok(position) => position.unwrap_or_else(|| "0".to_owned()),
            Err(error) => return (0, format!("reading the cursor: {error}")),
        };
        let url = websocket::subscription_url(&self.host, SUBSCRIBE_LABELS, Some(&position));
        self.status.state("connecting");
        let mut socket = tokio::select! {
            () = shutdown.cancelled() => return (0, "stopped".to_owned()),
            socket = websocket::connect(&url) => match socket {
                Ok(socket) => socket,
                Err(error) => return (0, format!("connecting to {url}: {error}")),
            },
        };
        tracing::info!(host = %self.host, cursor = %position, "label stream connected");
        self.status.state("streaming");
        metrics::gauge!(m::INGESTER_CONNECTED, "source" => "labels", "host" => self.label())
            .set(1.0);
        let writer = BatchWriter::new(self.conn.clone());
        let stream = &self.config.label_stream;
        let mut gate = BackPressure::new(
            Backlog::new(self.conn.clone(), &stream.name),
            stream.high_water_mark,
            self.config.backpressure_check,
        );
        let mut keys: HashMap<String, Option<PublicKey>> = HashMap::new();
        let mut frames = 0;
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => return (frames, "stopped".to_owned()),
                message = websocket::next_message(&mut socket, self.config.idle_timeout) => message,
            };
            let bytes: Bytes = match message {
                None | Some(Ok(Message::Close(_))) => {
                    return (frames, "the server closed the stream".to_owned());
                }
                Some(Err(error)) => return (frames, error),
                Some(Ok(Message::Binary(bytes))) => bytes,
                Some(Ok(_)) => continue,
            };
            frames += 1;
            let (entries, seq) = match Frame::decode(&bytes) {
                Ok(Frame::Labels(event)) => {
                    metrics::counter!(m::INGESTER_FRAMES, "source" => "labels", "host" => self.label(), "type" => "labels").increment(1);
                    let entries = self
                        .label_entries(&event.labels, &bytes, event.seq, &mut keys)
                        .await;
                    (entries, Some(event.seq))
                }
                Ok(Frame::Error(error)) => {
                    return (
                        frames,
                        format!(
                            "server error frame: {}: {}",
                            error.error,
                            error.message.unwrap_or_default()
                        ),
                    );
                }
                Ok(Frame::Info(info)) => {
                    tracing::warn!(host = %self.host, name = %info.name, message = ?info.message, "info frame from the labeler");
                    continue;
                }
                Ok(other) => (Vec::new(), other.seq()),
                Err(error) => {
                    metrics::counter!(m::INGESTER_REJECTED, "host" => self.label(), "reason" => REASON_MALFORMED).increment(1);
                    let rejection = Rejection {
                        reason: REASON_MALFORMED,
                        error: error.to_string(),
                        did: None,
                        frame: bytes.clone(),
                    };
                    let entry = rejection_entry(
                        &stream.name,
                        &self.host,
                        None,
                        &rejection,
                        self.config.dead_letter_max_len,
                    );
                    (vec![entry], None)
                }
            };
            let admitted = tokio::select! {
                () = shutdown.cancelled() => return (frames, "stopped".to_owned()),
                admitted = gate.admit() => admitted,
            };
            if let Err(error) = admitted {
                return (frames, format!("checking the backlog: {error}"));
            }
            let written = match seq {
                Some(seq) => {
                    writer
                        .write_then_set_cursor(&entries, cursor, &seq.to_string())
                        .await
                }
                None => writer.write(&entries).await,
            };
            if let Err(error) = written {
                metrics::counter!(m::INGESTER_WRITE_ERRORS, "source" => "labels", "host" => self.label()).increment(1);
                return (frames, format!("writing to Redis failed: {error}"));
            }
            let labels = entries.iter().filter(|e| e.stream == stream.name).count() as u64;
            metrics::counter!(m::INGESTER_ENTRIES, "stream" => stream.name.clone())
                .increment(labels);
            self.status.add("labels", labels);
            if let Some(seq) = seq {
                self.status.set("cursor", seq);
                metrics::gauge!(m::INGESTER_CURSOR, "source" => "labels", "host" => self.label())
                    .set(seq as f64);
            }
        }
    }

    /// The entries of one `#labels` frame: each label, or its dead letter.
    async fn label_entries(
        &self,
        labels: &[Label],
        frame: &Bytes,
        seq: i64,
        keys: &mut HashMap<String, Option<PublicKey>>,
    ) -> Vec<Entry> {
        let stream = &self.config.label_stream.name;
        let mut entries = Vec::with_capacity(labels.len());
        for label in labels {
            if self.config.verify.labels
                && let Err(error) = self.check(label, keys).await
            {
                metrics::counter!(m::INGESTER_REJECTED, "host" => self.label(), "reason" => "bad_label_signature").increment(1);
                let rejection = Rejection {
                    reason: "bad_label_signature",
                    error,
                    did: Some(label.src.clone()),
                    frame: frame.clone(),
                };
                entries.push(rejection_entry(
                    stream,
                    &self.host,
                    Some(seq),
                    &rejection,
                    self.config.dead_letter_max_len,
                ));
                continue;
            }
            let event = LabelEvent {
                label: StreamLabel {
                    ver: label.ver,
                    src: label.src.clone(),
                    uri: label.uri.clone(),
                    cid: label.cid.clone(),
                    val: label.val.clone(),
                    neg: label.neg,
                    cts: label.cts.clone(),
                    exp: label.exp.clone(),
                    sig: label.sig.as_deref().map(StreamLabel::sig_from_bytes),
                },
            };
            if let Ok(json) = event.to_json() {
                entries.push(Entry::single(stream, "event", json));
            }
        }
        entries
    }

    /// Checks a label's signature against its labeler's key (resolved afresh once on failure).
    async fn check(
        &self,
        label: &Label,
        keys: &mut HashMap<String, Option<PublicKey>>,
    ) -> Result<(), String> {
        if !keys.contains_key(&label.src) {
            let key = self
                .resolver
                .resolve_did(&label.src)
                .await
                .ok()
                .and_then(|doc| label_key(&doc));
            keys.insert(label.src.clone(), key);
        }
        let cached = keys.get(&label.src).cloned().flatten();
        let first = match &cached {
            Some(key) => label.verify(key).map_err(|e| e.to_string()),
            None => Err(format!("no #atproto_label key for {}", label.src)),
        };
        if first.is_ok() {
            return first;
        }
        let fresh = self
            .resolver
            .resolve_fresh(&label.src)
            .await
            .ok()
            .and_then(|doc| label_key(&doc));
        keys.insert(label.src.clone(), fresh.clone());
        match fresh {
            Some(key) if Some(&key) != cached.as_ref() => {
                label.verify(&key).map_err(|e| e.to_string())
            }
            _ => first,
        }
    }
}
