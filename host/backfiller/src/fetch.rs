//! Where a repo lives and fetching it: the DID document names the PDS (a relay's redirect to
//! it is followed), `getRepo` is streamed into the verifying CAR reader without buffering the
//! response, and failures are sorted into those worth retrying and those that are final.

use std::time::Duration;

use futures::TryStreamExt as _;
use sluice_atproto::repo::{ReadOptions, RepoReader};
use sluice_identity::ResolveError;
use tokio_util::io::StreamReader;

/// Why a repo was not backfilled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Final: recorded per DID with the reason, and the entry acknowledged.
    Terminal {
        /// A short word: `repo_not_found`, `deactivated`, `takendown`, `bad_signature`, …
        reason: &'static str,
        /// The error in words.
        error: String,
    },
    /// Worth another try (network, server trouble, a broken response).
    Retry {
        /// A short word for metrics: `network`, `http_5xx`, `rate_limited`, `bad_car`, …
        reason: &'static str,
        /// The error in words.
        error: String,
    },
}

impl Failure {
    /// A final failure.
    pub fn terminal(reason: &'static str, error: impl Into<String>) -> Self {
        Self::Terminal {
            reason,
            error: error.into(),
        }
    }

    /// A failure worth retrying.
    pub fn retry(reason: &'static str, error: impl Into<String>) -> Self {
        Self::Retry {
            reason,
            error: error.into(),
        }
    }

    /// The short reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Terminal { reason, .. } | Self::Retry { reason, .. } => reason,
        }
    }

    /// The error in words.
    pub fn error(&self) -> &str {
        match self {
            Self::Terminal { error, .. } | Self::Retry { error, .. } => error,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason(), self.error())
    }
}

/// A failed DID resolution, sorted.
pub fn resolve_failure(error: &ResolveError) -> Failure {
    match error {
        ResolveError::NotFound(_) => Failure::terminal("did_not_found", error.to_string()),
        ResolveError::Tombstoned(_) => Failure::terminal("deleted", error.to_string()),
        ResolveError::UnsupportedDid { .. } | ResolveError::BadDocument { .. } => {
            Failure::terminal("invalid_did", error.to_string())
        }
        ResolveError::Network { .. } => Failure::retry("did_resolution", error.to_string()),
    }
}

/// The terminal reason of a hosting status (`listRepos`'s `status`, or a `getRepo` error name).
pub fn status_reason(status: &str) -> &'static str {
    match status {
        "RepoNotFound" | "not_found" => "repo_not_found",
        "RepoDeactivated" | "deactivated" => "deactivated",
        "RepoTakendown" | "takendown" => "takendown",
        "RepoSuspended" | "suspended" => "suspended",
        "deleted" => "deleted",
        _ => "inactive",
    }
}

/// A `getRepo` answer that is not the CAR, sorted by status and XRPC error name.
pub fn http_failure(status: reqwest::StatusCode, body: &[u8]) -> Failure {
    #[derive(serde::Deserialize)]
    struct XrpcError {
        error: Option<String>,
        message: Option<String>,
    }
    let parsed: Option<XrpcError> = serde_json::from_slice(body).ok();
    let name = parsed
        .as_ref()
        .and_then(|e| e.error.clone())
        .unwrap_or_default();
    let message = parsed.and_then(|e| e.message).unwrap_or_default();
    let error = format!("HTTP {status} {name}: {message}");
    match (status.as_u16(), name.as_str()) {
        (_, "RepoNotFound" | "RepoDeactivated" | "RepoTakendown" | "RepoSuspended") => {
            Failure::terminal(status_reason(&name), error)
        }
        (404, _) => Failure::terminal("repo_not_found", error),
        (429, _) => Failure::retry("rate_limited", error),
        (500..=599, _) => Failure::retry("http_5xx", error),
        _ => Failure::retry("http_4xx", error),
    }
}

/// The HTTP client of `getRepo`: connect and read timeouts (no total timeout: a big repo
/// takes long), redirects followed (a relay redirects `getRepo` to the PDS).
pub fn http_client(read_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    sluice_identity::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(read_timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("sluice-backfiller/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Fetches `did`'s repo from `pds` and reads it, checking every block, within `max_duration`.
/// The body streams into the reader; the reading runs on a blocking thread (the block store
/// writes to disk past its memory budget).
pub async fn get_repo(
    http: &reqwest::Client,
    pds: &str,
    did: &str,
    options: &ReadOptions,
    max_duration: Duration,
) -> Result<RepoReader, Failure> {
    let url = format!(
        "{}/xrpc/com.atproto.sync.getRepo",
        pds.trim_end_matches('/')
    );
    let url = reqwest::Url::parse_with_params(&url, [("did", did)])
        .map_err(|e| Failure::terminal("no_pds", format!("bad PDS URL {url}: {e}")))?;
    let response = http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| Failure::retry("network", format!("GET {url}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.bytes().await.unwrap_or_default();
        return Err(http_failure(status, &body));
    }
    let body = response.bytes_stream().map_err(std::io::Error::other);
    let reader = StreamReader::new(body);
    let options = options.clone();
    let handle = tokio::runtime::Handle::current();
    let read = tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
            tokio::time::timeout(max_duration, RepoReader::read(reader, &options)).await
        })
    });
    match read.await {
        Ok(Ok(Ok(reader))) => Ok(reader),
        Ok(Ok(Err(error))) => Err(Failure::retry(
            "bad_car",
            format!("reading the CAR from {url}: {error}"),
        )),
        Ok(Err(_)) => Err(Failure::retry(
            "timeout",
            format!("reading the CAR from {url} took over {max_duration:?}"),
        )),
        Err(error) => Err(Failure::retry(
            "internal",
            format!("the CAR reader stopped: {error}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getrepo_errors_are_sorted() {
        let body = br#"{"error":"RepoTakendown","message":"Repo has been takendown"}"#;
        assert_eq!(
            http_failure(reqwest::StatusCode::BAD_REQUEST, body).reason(),
            "takendown"
        );
        let body = br#"{"error":"RepoNotFound","message":"Could not find repo"}"#;
        assert!(matches!(
            http_failure(reqwest::StatusCode::BAD_REQUEST, body),
            Failure::Terminal {
                reason: "repo_not_found",
                ..
            }
        ));
        assert!(matches!(
            http_failure(reqwest::StatusCode::NOT_FOUND, b"nope"),
            Failure::Terminal {
                reason: "repo_not_found",
                ..
            }
        ));
        assert!(matches!(
            http_failure(reqwest::StatusCode::TOO_MANY_REQUESTS, b""),
            Failure::Retry {
                reason: "rate_limited",
                ..
            }
        ));
        assert!(matches!(
            http_failure(reqwest::StatusCode::BAD_GATEWAY, b"<html>"),
            Failure::Retry {
                reason: "http_5xx",
                ..
            }
        ));
    }

    #[test]
    fn listed_statuses_map_to_reasons() {
        assert_eq!(status_reason("deactivated"), "deactivated");
        assert_eq!(status_reason("takendown"), "takendown");
        assert_eq!(status_reason("desynchronized"), "inactive");
    }
}
