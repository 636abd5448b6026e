//! Writing a batch of stream entries in one pipeline, every reply checked, and moving a source's
//! cursor only once all of them were confirmed.
//!
//! [`sluice_queue::Producer`] does the same for single-field entries; this writer also takes the
//! multi-field entries of the ingester's dead letters and an optional `MAXLEN ~` cap.

use redis::Value;
use redis::aio::ConnectionManager;
use sluice_queue::Cursor;

/// One entry to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stream.
    pub stream: String,
    /// Field names and values, in order.
    pub fields: Vec<(&'static str, Vec<u8>)>,
    /// Trim the stream to about this many entries (`MAXLEN ~`); `None` never trims.
    pub max_len: Option<u64>,
}

impl Entry {
    /// An entry with one field, never trimmed (the layout of every pipeline stream).
    pub fn single(
        stream: impl Into<String>,
        field: &'static str,
        value: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            stream: stream.into(),
            fields: vec![(field, value.into())],
            max_len: None,
        }
    }
}

/// Why a batch was not (wholly) written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Redis could not be reached, or the pipeline failed as a whole.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis refused an entry (entries before it may have been added).
    #[error("XADD to {stream} refused entry {index} of {total}: {error}")]
    Rejected {
        /// The stream of the refused entry.
        stream: String,
        /// Its index in the batch.
        index: usize,
        /// The batch size.
        total: usize,
        /// Redis's error.
        error: String,
    },
    /// The reply did not have one result per command.
    #[error("{replies} replies to {total} XADDs")]
    ReplyCount {
        /// Replies received.
        replies: usize,
        /// Commands sent.
        total: usize,
    },
}

/// Writes batches of entries.
#[derive(Clone)]
pub struct BatchWriter {
    conn: ConnectionManager,
}

impl BatchWriter {
    /// A writer sending on `conn`.
    pub fn new(conn: ConnectionManager) -> Self {
        Self { conn }
    }

    /// Adds every entry in one round trip; fails unless Redis confirmed each of them.
    pub async fn write(&self, entries: &[Entry]) -> Result<(), WriteError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for entry in entries {
            let cmd = pipe.cmd("XADD").arg(&entry.stream);
            if let Some(max_len) = entry.max_len {
                cmd.arg("MAXLEN").arg("~").arg(max_len);
            }
            cmd.arg("*");
            for (name, value) in &entry.fields {
                cmd.arg(*name).arg(value.as_slice());
            }
        }
        pipe.ignore_errors();
        let replies: Vec<Value> = pipe.query_async(&mut self.conn.clone()).await?;
        check_replies(entries, &replies)
    }

    /// Adds the entries, then — only once every XADD was confirmed — sets `cursor` to
    /// `position`. A failure leaves the cursor where it was, so the source is read again from
    /// before the lost entries.
    pub async fn write_then_set_cursor(
        &self,
        entries: &[Entry],
        cursor: &Cursor,
        position: &str,
    ) -> Result<(), WriteError> {
        self.write(entries).await?;
        cursor.set(position).await?;
        Ok(())
    }
}

fn check_replies(entries: &[Entry], replies: &[Value]) -> Result<(), WriteError> {
    if replies.len() != entries.len() {
        return Err(WriteError::ReplyCount {
            replies: replies.len(),
            total: entries.len(),
        });
    }
    let refused = replies
        .iter()
        .enumerate()
        .find_map(|(index, reply)| match reply {
            Value::ServerError(error) => Some((index, error.to_string())),
            _ => None,
        });
    match refused {
        None => Ok(()),
        Some((index, error)) => Err(WriteError::Rejected {
            stream: entries
                .get(index)
                .map(|e| e.stream.clone())
                .unwrap_or_default(),
            index,
            total: entries.len(),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_needs_a_reply() {
        let entries = vec![
            Entry::single("a", "event", "1"),
            Entry::single("b", "event", "2"),
        ];
        let ok = Value::BulkString(b"1-0".to_vec());
        assert!(check_replies(&entries, &[ok.clone(), ok.clone()]).is_ok());
        assert!(matches!(
            check_replies(&entries, &[ok]),
            Err(WriteError::ReplyCount { .. })
        ));
    }
}
