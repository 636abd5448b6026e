//! Listing a host's repos (`com.atproto.sync.listRepos`) into the repo stream.
//!
//! Pages are written as they come, and the host's cursor (`<repo_stream>:cursor:<host>`) moves
//! only after Redis confirmed a page's entries; the last page sets it to
//! [`LIST_REPOS_DONE`], as the reference does. A page that keeps failing is retried with
//! backoff `list_repos_attempts` times, then given up: the pass stops there (logged and
//! counted) and resumes from the same cursor at the next rescan.
//!
//! Rescans: hosts list repos in creation order, so new repos come after the last cursor. The
//! cursor of the last non-empty page is kept in `<repo_stream>:rescan:<host>`; every
//! `rescan_interval` (and at start-up when the listing is done) the listing runs again from
//! there, queuing only the repos created since.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::Deserialize;
use sluice_queue::{
    BackPressure, Backlog, Cursor, LIST_REPOS_DONE, RepoToBackfill, StreamPayload as _,
};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::config::IngesterConfig;
use crate::firehose::sleep_or_stop;
use crate::metrics as m;
use crate::status::SourceStatus;
use crate::websocket::{host_label, http_base};
use crate::writer::{BatchWriter, Entry};

/// One page of `listRepos`, with each repo kept raw so that one bad entry spoils only itself.
#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    cursor: Option<String>,
    repos: Vec<serde_json::Value>,
}

/// One repo of a page.
#[derive(Debug, Deserialize)]
struct ListedRepo {
    did: String,
    #[serde(default)]
    rev: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    status: Option<String>,
}

/// The key holding where a rescan of `host` starts.
pub fn rescan_key(repo_stream: &str, host: &str) -> String {
    format!("{repo_stream}:rescan:{}", host_label(host))
}

/// Lists one host's repos.
pub struct RepoLister {
    /// The host as configured.
    pub host: String,
    /// Settings.
    pub config: Arc<IngesterConfig>,
    /// Redis.
    pub conn: ConnectionManager,
    /// HTTP client.
    pub http: reqwest::Client,
    /// Where the lister reports.
    pub status: SourceStatus,
}

/// How a listing pass ended.
#[derive(Debug, PartialEq, Eq)]
enum PassEnd {
    Done,
    GaveUp,
    Stopped,
}

impl RepoLister {
    /// Lists the host (resuming its cursor), then rescans every `rescan_interval`, until
    /// `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let cursor = Cursor::new(self.conn.clone(), &self.config.repo_stream.name, &self.host);
        loop {
            let end = self.pass(&cursor, &shutdown).await;
            if end == PassEnd::Stopped {
                break;
            }
            let Some(interval) = self.config.rescan_interval else {
                self.status.state(if end == PassEnd::Done {
                    "done"
                } else {
                    "gave_up"
                });
                shutdown.cancelled().await;
                break;
            };
            self.status.state(if end == PassEnd::Done {
                "waiting_for_rescan"
            } else {
                "gave_up_until_rescan"
            });
            if sleep_or_stop(interval, &shutdown).await {
                break;
            }
            // Resume a finished listing from the last page's cursor.
            match self.rescan_start().await {
                Ok(Some(start)) => {
                    if let Err(error) = cursor.set(&start).await {
                        tracing::warn!(host = %self.host, %error, "cannot start a rescan");
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(host = %self.host, %error, "cannot read the rescan cursor");
                }
            }
        }
        self.status.state("stopped");
    }

    /// Where a rescan starts, when the listing is done and a last cursor is known.
    async fn rescan_start(&self) -> Result<Option<String>, redis::RedisError> {
        let cursor = Cursor::new(self.conn.clone(), &self.config.repo_stream.name, &self.host);
        if cursor.get().await?.as_deref() != Some(LIST_REPOS_DONE) {
            return Ok(None);
        }
        redis::cmd("GET")
            .arg(rescan_key(&self.config.repo_stream.name, &self.host))
            .query_async(&mut self.conn.clone())
            .await
    }

    /// One pass from the stored cursor to the end of the listing.
    async fn pass(&self, cursor: &Cursor, shutdown: &CancellationToken) -> PassEnd {
        let stream = &self.config.repo_stream;
        let writer = BatchWriter::new(self.conn.clone());
        let mut gate = BackPressure::new(
            Backlog::new(self.conn.clone(), &stream.name),
            stream.high_water_mark,
            self.config.backpressure_check,
        );
        let mut backoff = Backoff::new(self.config.backoff);
        let label = host_label(&self.host).to_owned();
        let mut position = loop {
            match cursor.get().await {
                Ok(position) => break position,
                Err(error) => {
                    tracing::warn!(host = %self.host, %error, "cannot read the listRepos cursor");
                    if sleep_or_stop(backoff.next_delay(), shutdown).await {
                        return PassEnd::Stopped;
                    }
                }
            }
        };
        if position.as_deref() == Some(LIST_REPOS_DONE) {
            return PassEnd::Done;
        }
        self.status.state("listing");
        loop {
            let admitted = tokio::select! {
                () = shutdown.cancelled() => return PassEnd::Stopped,
                admitted = gate.admit() => admitted,
            };
            if let Err(error) = admitted {
                tracing::warn!(host = %self.host, %error, "cannot check the repo stream's backlog");
            }
            let page = match self.fetch_with_retries(position.as_deref(), shutdown).await {
                Ok(page) => page,
                Err(PassEnd::Stopped) => return PassEnd::Stopped,
                Err(end) => return end,
            };
            let mut entries = Vec::with_capacity(page.repos.len());
            for raw in page.repos {
                let repo: ListedRepo = match serde_json::from_value(raw) {
                    Ok(repo) => repo,
                    Err(error) => {
                        tracing::warn!(host = %self.host, %error, "listRepos entry skipped");
                        metrics::counter!(m::INGESTER_LIST_ERRORS, "host" => label.clone())
                            .increment(1);
                        continue;
                    }
                };
                let entry = RepoToBackfill {
                    did: repo.did,
                    host: Some(self.host.clone()),
                    rev: repo.rev,
                    status: repo.status,
                    active: repo.active,
                };
                if let Ok(json) = entry.to_json() {
                    entries.push(Entry::single(&stream.name, "repo", json));
                }
            }
            let next = match (&page.cursor, entries.is_empty()) {
                (Some(next), _) if Some(next) != position.as_ref() => next.clone(),
                _ => LIST_REPOS_DONE.to_owned(),
            };
            let written = async {
                writer
                    .write_then_set_cursor(&entries, cursor, &next)
                    .await?;
                if next != LIST_REPOS_DONE {
                    redis::cmd("SET")
                        .arg(rescan_key(&stream.name, &self.host))
                        .arg(&next)
                        .exec_async(&mut self.conn.clone())
                        .await?;
                }
                Ok::<(), crate::writer::WriteError>(())
            }
            .await;
            if let Err(error) = written {
                tracing::warn!(host = %self.host, %error, "writing a listRepos page failed; retrying");
                self.status.error(&error.to_string());
                if sleep_or_stop(backoff.next_delay(), shutdown).await {
                    return PassEnd::Stopped;
                }
                continue;
            }
            backoff.reset();
            metrics::counter!(m::INGESTER_LISTED_REPOS, "host" => label.clone())
                .increment(entries.len() as u64);
            metrics::counter!(m::INGESTER_ENTRIES, "stream" => stream.name.clone())
                .increment(entries.len() as u64);
            self.status.add("repos", entries.len() as u64);
            self.status.set("cursor", next.clone());
            if next == LIST_REPOS_DONE {
                tracing::info!(host = %self.host, "repo listing finished");
                return PassEnd::Done;
            }
            position = Some(next);
        }
    }

    /// One page, retried with backoff; gives up after `list_repos_attempts` failures.
    async fn fetch_with_retries(
        &self,
        position: Option<&str>,
        shutdown: &CancellationToken,
    ) -> Result<Page, PassEnd> {
        let mut backoff = Backoff::new(self.config.backoff);
        let attempts = self.config.list_repos_attempts.max(1);
        let label = host_label(&self.host).to_owned();
        loop {
            let error = match self.fetch(position).await {
                Ok(page) => return Ok(page),
                Err(error) => error,
            };
            metrics::counter!(m::INGESTER_LIST_ERRORS, "host" => label.clone()).increment(1);
            self.status.error(&error);
            if backoff.attempts() + 1 >= attempts {
                tracing::error!(host = %self.host, cursor = ?position, attempts, error, "listRepos page failed every retry: giving up until the next rescan");
                metrics::counter!(m::INGESTER_LIST_SKIPPED, "host" => label).increment(1);
                return Err(PassEnd::GaveUp);
            }
            let delay = backoff.next_delay();
            tracing::warn!(host = %self.host, cursor = ?position, error, retry_in_ms = delay.as_millis() as u64, "listRepos page failed");
            if sleep_or_stop(delay, shutdown).await {
                return Err(PassEnd::Stopped);
            }
        }
    }

    async fn fetch(&self, position: Option<&str>) -> Result<Page, String> {
        let url = format!("{}/xrpc/com.atproto.sync.listRepos", http_base(&self.host));
        let mut query = vec![("limit", self.config.list_repos_page_size.to_string())];
        if let Some(position) = position {
            query.push(("cursor", position.to_owned()));
        }
        let url = reqwest::Url::parse_with_params(&url, &query)
            .map_err(|e| format!("bad listRepos URL {url}: {e}"))?;
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(format!(
                "GET {url}: HTTP {status}: {}",
                truncate(&body, 300)
            ));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("GET {url}: bad page: {e}"))
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

/// The HTTP client of `listRepos` requests.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    sluice_identity::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("sluice-ingester/", env!("CARGO_PKG_VERSION")))
        .build()
}
