//! Adding entries to streams: many XADDs in one round trip, every reply checked, and the source
//! cursor saved only after all of them were confirmed.

use redis::aio::ConnectionManager;
use redis::{RedisError, Value};

use crate::events::StreamPayload;
use crate::reply::{UnexpectedReply, text};

/// The listRepos cursor value that marks a host's repository listing as finished.
pub const LIST_REPOS_DONE: &str = "!ingester-done";

/// Why a batch of entries was not (wholly) added.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// Redis could not be reached, or the pipeline as a whole failed.
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    /// Redis refused some entries. Entries before `index` may have been added (the batch is not a
    /// transaction): replaying the whole batch gives duplicates, which consumers must tolerate.
    #[error("XADD to {stream} refused entry {index} ({failed} of {total} refused): {error}")]
    EntryRejected {
        /// The stream of the refused entry.
        stream: String,
        /// Index in the batch of the first refused entry.
        index: usize,
        /// How many entries of the batch were refused.
        failed: usize,
        /// The batch size.
        total: usize,
        /// Redis's error for entry `index` (e.g. `WRONGTYPE …`).
        error: String,
    },
    /// An entry could not be encoded as JSON.
    #[error("encoding entry {index} for {stream}: {source}")]
    Encode {
        /// The stream.
        stream: String,
        /// Index in the batch.
        index: usize,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// A reply did not have the expected shape.
    #[error(transparent)]
    Reply(#[from] UnexpectedReply),
}

/// One entry to add: a single field holding a value (the layout of every Sluice stream).
#[derive(Debug, Clone, Copy)]
pub struct OutgoingEntry<'a> {
    /// The stream.
    pub stream: &'a str,
    /// The field name (`event`, `repo`).
    pub field: &'a str,
    /// The field's value (JSON text).
    pub value: &'a [u8],
}

/// Adds entries to streams with pipelined XADDs.
#[derive(Clone)]
pub struct Producer {
    conn: ConnectionManager,
}

impl Producer {
    /// A producer sending on `conn` (a shared connection from [`crate::connect`]).
    pub fn new(conn: ConnectionManager) -> Self {
        Self { conn }
    }

    /// Adds entries, possibly to several streams, in one round trip. Returns the new entry IDs
    /// in order, or names the first entry Redis refused.
    pub async fn add_entries(
        &self,
        entries: &[OutgoingEntry<'_>],
    ) -> Result<Vec<String>, ProduceError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for entry in entries {
            pipe.cmd("XADD")
                .arg(entry.stream)
                .arg("*")
                .arg(entry.field)
                .arg(entry.value);
        }
        pipe.ignore_errors();
        let replies: Vec<Value> = pipe.query_async(&mut self.conn.clone()).await?;
        check_xadd_replies(entries, replies)
    }

    /// Adds one entry per value to `stream`, each with the single field `field`, in one round
    /// trip. Returns the new entry IDs in order, or names the first entry Redis refused.
    pub async fn add_raw<V: AsRef<[u8]>>(
        &self,
        stream: &str,
        field: &str,
        values: &[V],
    ) -> Result<Vec<String>, ProduceError> {
        let entries: Vec<OutgoingEntry<'_>> = values
            .iter()
            .map(|value| OutgoingEntry {
                stream,
                field,
                value: value.as_ref(),
            })
            .collect();
        self.add_entries(&entries).await
    }

    /// Encodes `items` as JSON into their field ([`StreamPayload::FIELD`]) and adds them to
    /// `stream` in one round trip.
    pub async fn add<T: StreamPayload>(
        &self,
        stream: &str,
        items: &[T],
    ) -> Result<Vec<String>, ProduceError> {
        let values = encode(stream, items)?;
        self.add_raw(stream, T::FIELD, &values).await
    }

    /// Adds `items` to `stream`, then — only once Redis confirmed every XADD — sets `cursor` to
    /// `position`. Two round trips, on purpose: a failed XADD leaves the cursor where it was, so
    /// a restart reads the source again from before the lost entries. (Inside MULTI/EXEC or one
    /// pipeline, Redis would run the SET even after a refused XADD.)
    ///
    /// Call it for one batch at a time per source: batches in flight together could confirm out
    /// of order and move the cursor past an unconfirmed one.
    pub async fn add_then_set_cursor<T: StreamPayload>(
        &self,
        stream: &str,
        items: &[T],
        cursor: &Cursor,
        position: &str,
    ) -> Result<Vec<String>, ProduceError> {
        let ids = self.add(stream, items).await?;
        cursor.set(position).await?;
        Ok(ids)
    }
}

fn encode<T: StreamPayload>(stream: &str, items: &[T]) -> Result<Vec<String>, ProduceError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item.to_json().map_err(|source| ProduceError::Encode {
                stream: stream.to_owned(),
                index,
                source,
            })
        })
        .collect()
}

fn check_xadd_replies(
    entries: &[OutgoingEntry<'_>],
    replies: Vec<Value>,
) -> Result<Vec<String>, ProduceError> {
    let total = entries.len();
    if replies.len() != total {
        return Err(UnexpectedReply {
            command: "XADD",
            detail: format!("{} replies to {total} commands", replies.len()),
        }
        .into());
    }
    let mut first_error = None;
    let mut failed = 0;
    let mut ids = Vec::with_capacity(total);
    for (index, reply) in replies.into_iter().enumerate() {
        match reply {
            Value::ServerError(error) => {
                failed += 1;
                first_error.get_or_insert((index, error.to_string()));
            }
            other => ids.push(text(other, "XADD")?),
        }
    }
    match first_error {
        None => Ok(ids),
        Some((index, error)) => Err(ProduceError::EntryRejected {
            stream: entries
                .get(index)
                .map(|e| e.stream.to_owned())
                .unwrap_or_default(),
            index,
            failed,
            total,
            error,
        }),
    }
}

/// The key of a source's cursor: `<stream>:cursor:<host>`, with a leading `http://` or
/// `https://` removed from the host (as the reference does).
pub fn cursor_key(stream: &str, host: &str) -> String {
    let host = host
        .strip_prefix("https://")
        .or_else(|| host.strip_prefix("http://"))
        .unwrap_or(host);
    format!("{stream}:cursor:{host}")
}

/// Where reading a source (a host's firehose, labels or listRepos) into a stream got to: the last
/// durable `seq`, the listRepos cursor, or [`LIST_REPOS_DONE`].
#[derive(Clone)]
pub struct Cursor {
    conn: ConnectionManager,
    key: String,
}

impl Cursor {
    /// The cursor of `host` feeding `stream` (key from [`cursor_key`]).
    pub fn new(conn: ConnectionManager, stream: &str, host: &str) -> Self {
        Self {
            conn,
            key: cursor_key(stream, host),
        }
    }

    /// The Redis key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The saved position, if any.
    pub async fn get(&self) -> Result<Option<String>, RedisError> {
        redis::cmd("GET")
            .arg(&self.key)
            .query_async(&mut self.conn.clone())
            .await
    }

    /// Saves a position. Prefer [`Producer::add_then_set_cursor`], which orders it after the
    /// entries it covers.
    pub async fn set(&self, position: &str) -> Result<(), RedisError> {
        redis::cmd("SET")
            .arg(&self.key)
            .arg(position)
            .exec_async(&mut self.conn.clone())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_keys_drop_the_scheme_only() {
        assert_eq!(
            cursor_key("firehose_live", "https://bsky.network"),
            "firehose_live:cursor:bsky.network"
        );
        assert_eq!(
            cursor_key("repo_backfill", "http://localhost:2583"),
            "repo_backfill:cursor:localhost:2583"
        );
        assert_eq!(
            cursor_key("label_live", "mod.example"),
            "label_live:cursor:mod.example"
        );
    }

    #[test]
    fn reply_count_mismatch_is_an_error() {
        let entry = OutgoingEntry {
            stream: "s",
            field: "event",
            value: b"{}",
        };
        let err = check_xadd_replies(&[entry, entry], vec![Value::BulkString(b"1-0".to_vec())]);
        assert!(matches!(err, Err(ProduceError::Reply(_))));
    }
}
