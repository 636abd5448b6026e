//! The Redis cache of DID documents, shared with the reference AppView.
//!
//! Key `identity:<did>`, a string holding JSON `{"doc": <DID document>, "updatedAt": <ms since
//! the epoch>}`, set with an expiry (`PX`) of `expire_after`. The reference reads and writes the
//! same entries (`RedisDidCache` on a Redis namespaced `identity`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::RedisError;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sluice_atproto::identity::DidDocument;

/// The key prefix of cached DID documents.
pub const KEY_PREFIX: &str = "identity:";

/// A cache read or write failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Redis could not be reached or refused the command.
    #[error("DID cache: {0}")]
    Redis(#[from] RedisError),
    /// The entry could not be encoded.
    #[error("DID cache: encoding the entry: {0}")]
    Encode(#[from] serde_json::Error),
}

/// A cached DID document and how old it is.
#[derive(Debug, Clone)]
pub struct CachedDid {
    /// The parsed document.
    pub document: DidDocument,
    /// The document as stored.
    pub raw: serde_json::Value,
    /// When it was fetched (ms since the epoch).
    pub updated_at_ms: i64,
    /// Older than `stale_after`: still usable, due for a refresh.
    pub stale: bool,
    /// Older than `expire_after`: not to be used.
    pub expired: bool,
}

#[derive(Serialize)]
struct StoredOut<'a> {
    doc: &'a serde_json::Value,
    #[serde(rename = "updatedAt")]
    updated_at: i64,
}

#[derive(Deserialize)]
struct StoredIn {
    doc: serde_json::Value,
    #[serde(rename = "updatedAt")]
    updated_at: i64,
}

/// DID documents cached in Redis.
#[derive(Clone)]
pub struct DidCache {
    conn: ConnectionManager,
    prefix: String,
    stale_after: Duration,
    expire_after: Duration,
}

impl DidCache {
    /// A cache under [`KEY_PREFIX`].
    pub fn new(conn: ConnectionManager, stale_after: Duration, expire_after: Duration) -> Self {
        Self::with_prefix(conn, KEY_PREFIX, stale_after, expire_after)
    }

    /// A cache under another prefix (tests).
    pub fn with_prefix(
        conn: ConnectionManager,
        prefix: impl Into<String>,
        stale_after: Duration,
        expire_after: Duration,
    ) -> Self {
        Self {
            conn,
            prefix: prefix.into(),
            stale_after,
            expire_after,
        }
    }

    /// The key of `did`'s entry.
    pub fn key(&self, did: &str) -> String {
        format!("{}{did}", self.prefix)
    }

    /// The cached document of `did`. An entry that does not parse is deleted and reported as
    /// missing (as the reference does).
    pub async fn get(&self, did: &str) -> Result<Option<CachedDid>, CacheError> {
        let key = self.key(did);
        let stored: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut self.conn.clone())
            .await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let parsed = serde_json::from_slice::<StoredIn>(&stored)
            .map_err(|e| e.to_string())
            .and_then(|s| {
                let document: DidDocument =
                    serde_json::from_value(s.doc.clone()).map_err(|e| e.to_string())?;
                Ok((s, document))
            });
        let (stored, document) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                tracing::warn!(did, error, "unreadable DID cache entry: deleting it");
                self.invalidate(did).await?;
                return Ok(None);
            }
        };
        let age_ms = now_ms().saturating_sub(stored.updated_at);
        Ok(Some(CachedDid {
            document,
            raw: stored.doc,
            updated_at_ms: stored.updated_at,
            stale: age_ms > millis(self.stale_after),
            expired: age_ms > millis(self.expire_after),
        }))
    }

    /// Stores `raw` (a DID document as served) for `did`, fetched now.
    pub async fn put(&self, did: &str, raw: &serde_json::Value) -> Result<(), CacheError> {
        self.put_at(did, raw, now_ms()).await
    }

    /// Stores `raw` for `did` as fetched at `updated_at_ms` (tests of staleness use it).
    pub async fn put_at(
        &self,
        did: &str,
        raw: &serde_json::Value,
        updated_at_ms: i64,
    ) -> Result<(), CacheError> {
        let value = serde_json::to_string(&StoredOut {
            doc: raw,
            updated_at: updated_at_ms,
        })?;
        redis::cmd("SET")
            .arg(self.key(did))
            .arg(value)
            .arg("PX")
            .arg(millis(self.expire_after).max(1))
            .exec_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Forgets `did`'s document (e.g. on an `#identity` event).
    pub async fn invalidate(&self, did: &str) -> Result<(), CacheError> {
        redis::cmd("DEL")
            .arg(self.key(did))
            .exec_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}
