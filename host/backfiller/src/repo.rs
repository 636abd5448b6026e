//! Backfilling one repo: resolve, fetch (within the host's budget, with retries), verify the
//! commit signature, then queue the records in chunks, each chunk followed by a `repo` event.
//!
//! Before every chunk the output stream's length is checked against its high-water mark.
//! After each chunk is confirmed, the progress (`<repo_stream>:progress:<did>`: the commit and
//! the last record path written) is saved, so a backfill cut short (a crash, a SIGKILL)
//! resumes after the last confirmed chunk when the repo has not changed since — records reach
//! the stream once per backfill. An empty repo still gets its `repo` event.

use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sluice_atproto::data::dag_cbor_to_json_string;
use sluice_atproto::repo::{ReadOptions, RepoReader};
use sluice_identity::IdentityResolver;
use sluice_ingester::backoff::Backoff;
use sluice_ingester::writer::{BatchWriter, Entry};
use sluice_queue::events::{RecordEvent, RepoEvent, SEQ_BACKFILL};
use sluice_queue::{Backlog, FirehoseEvent, RepoToBackfill, StreamPayload as _};
use tokio::sync::mpsc;

use crate::config::BackfillerConfig;
use crate::fetch::{Failure, get_repo, resolve_failure, status_reason};
use crate::metrics as m;
use crate::rate::HostBudgets;

/// What a backfill did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backfilled {
    /// Records queued by this run.
    pub records: u64,
    /// Records skipped because an earlier, interrupted run had queued them.
    pub resumed_past: u64,
    /// Records left out because they are not valid DAG-CBOR.
    pub bad_records: u64,
    /// The commit's CID.
    pub commit: String,
    /// The commit's rev.
    pub rev: String,
    /// Bytes of CAR blocks read.
    pub car_bytes: u64,
}

/// How far an interrupted backfill got.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Progress {
    commit: String,
    path: String,
}

/// The key of `did`'s backfill progress.
pub fn progress_key(repo_stream: &str, did: &str) -> String {
    format!("{repo_stream}:progress:{did}")
}

/// Everything a backfill needs; shared by the workers.
#[derive(Clone)]
pub struct Backfiller {
    /// Settings.
    pub config: std::sync::Arc<BackfillerConfig>,
    /// Redis.
    pub conn: ConnectionManager,
    /// HTTP client for `getRepo`.
    pub http: reqwest::Client,
    /// DID resolution.
    pub resolver: IdentityResolver,
    /// Per-host request budgets.
    pub budgets: HostBudgets,
}

/// A chunk of records from the walk: their JSON and the last path.
struct Chunk {
    events: Vec<String>,
    last_path: String,
    skipped: u64,
    bad: u64,
}

impl Backfiller {
    /// Backfills `repo`.
    pub async fn backfill(&self, repo: &RepoToBackfill) -> Result<Backfilled, Failure> {
        if repo.active == Some(false) {
            let status = repo.status.as_deref().unwrap_or("inactive");
            return Err(Failure::terminal(
                status_reason(status),
                format!("listed as inactive ({status})"),
            ));
        }
        let doc = self
            .resolver
            .resolve_did(&repo.did)
            .await
            .map_err(|e| resolve_failure(&e))?;
        let pds = doc
            .pds_endpoint()
            .map(str::to_owned)
            .or_else(|| {
                repo.host
                    .as_deref()
                    .map(sluice_ingester::websocket::http_base)
            })
            .ok_or_else(|| Failure::terminal("no_pds", "the DID document names no PDS"))?;
        let reader = self.fetch(&pds, &repo.did).await?;
        self.verify(&reader, &repo.did, doc.signing_key().ok())
            .await?;
        self.queue_records(reader, &repo.did).await
    }

    /// `getRepo` within the host's budget, retried with backoff.
    async fn fetch(&self, pds: &str, did: &str) -> Result<RepoReader, Failure> {
        let options = ReadOptions {
            memory_budget: self.config.memory_budget,
            spill_directory: self.config.spill_directory.clone(),
        };
        let host = sluice_ingester::websocket::host_label(pds).to_owned();
        let mut backoff = Backoff::new(self.config.backoff);
        loop {
            let waited = self.budgets.acquire(&host).await;
            if !waited.is_zero() {
                metrics::counter!(m::BACKFILLER_RATE_WAIT).increment(waited.as_secs());
            }
            match get_repo(
                &self.http,
                pds,
                did,
                &options,
                self.config.max_fetch_duration,
            )
            .await
            {
                Ok(reader) => return Ok(reader),
                Err(failure @ Failure::Terminal { .. }) => return Err(failure),
                Err(failure) => {
                    metrics::counter!(m::BACKFILLER_FETCH_ERRORS, "reason" => failure.reason())
                        .increment(1);
                    if backoff.attempts() + 1 >= self.config.fetch_attempts.max(1) {
                        return Err(failure);
                    }
                    let delay = backoff.next_delay();
                    tracing::info!(did, pds, error = %failure, retry_in_ms = delay.as_millis() as u64, "getRepo failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Checks the commit's signature against the DID document's key, resolving the DID afresh
    /// once when it does not verify (the key may have rotated).
    async fn verify(
        &self,
        reader: &RepoReader,
        did: &str,
        key: Option<sluice_atproto::crypto::PublicKey>,
    ) -> Result<(), Failure> {
        let commit = reader.commit();
        let first = match &key {
            Some(key) => commit.verify_for(did, key).map_err(|e| e.to_string()),
            None => Err("the DID document has no #atproto key".to_owned()),
        };
        let Err(first_error) = first else {
            return Ok(());
        };
        let fresh = self
            .resolver
            .resolve_fresh(did)
            .await
            .map_err(|e| resolve_failure(&e))?
            .signing_key()
            .ok();
        match fresh {
            Some(fresh) if Some(&fresh) != key.as_ref() => commit
                .verify_for(did, &fresh)
                .map_err(|e| Failure::terminal("bad_signature", e.to_string())),
            _ => Err(Failure::terminal("bad_signature", first_error)),
        }
    }

    /// Walks the records (on a blocking thread) and writes them chunk by chunk.
    async fn queue_records(&self, reader: RepoReader, did: &str) -> Result<Backfilled, Failure> {
        let redis_failure = |e: &dyn std::fmt::Display| Failure::retry("redis", e.to_string());
        let commit_cid = reader.commit_cid().to_string();
        let rev = reader.commit().rev.clone().unwrap_or_default();
        let car_bytes = reader.car_block_bytes();
        let progress_key = progress_key(&self.config.repo_stream, did);
        let resume_after: Option<String> = {
            let stored: Option<String> = redis::cmd("GET")
                .arg(&progress_key)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(|e| redis_failure(&e))?;
            stored
                .and_then(|json| serde_json::from_str::<Progress>(&json).ok())
                .filter(|p| p.commit == commit_cid)
                .map(|p| p.path)
        };
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let repo_event = FirehoseEvent::Repo(RepoEvent {
            did: did.to_owned(),
            rev: rev.clone(),
            commit: commit_cid.clone(),
            time: time.clone(),
        })
        .to_json()
        .map_err(|e| Failure::retry("internal", e.to_string()))?;

        let (tx, mut rx) = mpsc::channel::<Result<Chunk, String>>(2);
        let walk = {
            let (did, commit_cid, rev, time) =
                (did.to_owned(), commit_cid.clone(), rev.clone(), time);
            let chunk_size = self.config.chunk_size.max(1);
            tokio::task::spawn_blocking(move || {
                walk_records(
                    &reader,
                    &did,
                    &commit_cid,
                    &rev,
                    &time,
                    chunk_size,
                    resume_after.as_deref(),
                    &tx,
                );
            })
        };

        let stream = &self.config.firehose_stream;
        let backlog = Backlog::new(self.conn.clone(), &stream.name);
        let writer = BatchWriter::new(self.conn.clone());
        let mut done = Backfilled {
            records: 0,
            resumed_past: 0,
            bad_records: 0,
            commit: commit_cid.clone(),
            rev,
            car_bytes,
        };
        let mut chunks_written = 0u64;
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk.map_err(|e| Failure::retry("bad_repo", e))?;
            done.resumed_past += chunk.skipped;
            done.bad_records += chunk.bad;
            if chunk.events.is_empty() {
                continue;
            }
            let waited = backlog
                .wait_below(stream.high_water_mark, Duration::from_secs(1))
                .await
                .map_err(|e| redis_failure(&e))?;
            if !waited.is_zero() {
                metrics::counter!(m::BACKFILLER_BACKPRESSURE).increment(waited.as_secs());
            }
            let mut entries: Vec<Entry> = chunk
                .events
                .iter()
                .map(|json| Entry::single(&stream.name, "event", json.as_bytes()))
                .collect();
            entries.push(Entry::single(&stream.name, "event", repo_event.as_bytes()));
            writer
                .write(&entries)
                .await
                .map_err(|e| redis_failure(&e))?;
            let progress = serde_json::to_string(&Progress {
                commit: commit_cid.clone(),
                path: chunk.last_path,
            })
            .map_err(|e| Failure::retry("internal", e.to_string()))?;
            redis::cmd("SET")
                .arg(&progress_key)
                .arg(progress)
                .arg("EX")
                .arg(7 * 24 * 3600)
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(|e| redis_failure(&e))?;
            done.records += chunk.events.len() as u64;
            chunks_written += 1;
            metrics::counter!(m::BACKFILLER_RECORDS).increment(chunk.events.len() as u64);
        }
        walk.await
            .map_err(|e| Failure::retry("internal", format!("the record walk stopped: {e}")))?;
        if chunks_written == 0 {
            // An empty repo (or one wholly written before an interruption): still recorded.
            let entry = Entry::single(&stream.name, "event", repo_event.as_bytes());
            writer
                .write(&[entry])
                .await
                .map_err(|e| redis_failure(&e))?;
        }
        Ok(done)
    }
}

/// Walks `reader`'s records in key order, sending chunks of `chunk_size` events; records up to
/// `resume_after` (inclusive) are skipped. Stops at the first error, which it sends.
#[allow(clippy::too_many_arguments)]
fn walk_records(
    reader: &RepoReader,
    did: &str,
    commit: &str,
    rev: &str,
    time: &str,
    chunk_size: usize,
    resume_after: Option<&str>,
    tx: &mpsc::Sender<Result<Chunk, String>>,
) {
    let mut chunk = Chunk {
        events: Vec::with_capacity(chunk_size),
        last_path: String::new(),
        skipped: 0,
        bad: 0,
    };
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let _ = tx.blocking_send(Err(error.to_string()));
                return;
            }
        };
        if resume_after.is_some_and(|after| record.path() <= after) {
            chunk.skipped += 1;
            continue;
        }
        let json = dag_cbor_to_json_string(&record.bytes)
            .map_err(|e| e.to_string())
            .and_then(|json| RawValue::from_string(json).map_err(|e| e.to_string()))
            .and_then(|record_json| {
                FirehoseEvent::Create(RecordEvent {
                    seq: SEQ_BACKFILL,
                    time: time.to_owned(),
                    did: did.to_owned(),
                    commit: commit.to_owned(),
                    rev: rev.to_owned(),
                    collection: record.collection().to_owned(),
                    rkey: record.rkey().to_owned(),
                    cid: record.cid.to_string(),
                    record: record_json,
                })
                .to_json()
                .map_err(|e| e.to_string())
            });
        match json {
            Ok(json) => chunk.events.push(json),
            Err(error) => {
                tracing::warn!(
                    did,
                    path = record.path(),
                    error,
                    "record skipped: not valid DAG-CBOR"
                );
                chunk.bad += 1;
                continue;
            }
        }
        chunk.last_path = record.path().to_owned();
        if chunk.events.len() >= chunk_size {
            let full = std::mem::replace(
                &mut chunk,
                Chunk {
                    events: Vec::with_capacity(chunk_size),
                    last_path: String::new(),
                    skipped: 0,
                    bad: 0,
                },
            );
            if tx.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if !chunk.events.is_empty() || chunk.skipped > 0 || chunk.bad > 0 {
        let _ = tx.blocking_send(Ok(chunk));
    }
}
