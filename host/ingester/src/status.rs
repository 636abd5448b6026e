//! A Redis hash that operators read to see what each source is doing
//! (`HGETALL ingester:status`, `HGETALL backfiller:status`).
//!
//! One field per source (e.g. `firehose:bsky.network`, `list_repos:bsky.network`,
//! `labels:mod.example`, or a backfiller's consumer name), holding a JSON object: `state`, and
//! whatever the source reports (`cursor`, `events`, `last_error`, …), plus `updated_at`.
//! Written every few seconds; a field whose `updated_at` is old belongs to a process that
//! stopped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

/// The ingester's status hash.
pub const INGESTER_STATUS_KEY: &str = "ingester:status";

/// Every source's status, written to one hash.
#[derive(Clone, Default)]
pub struct StatusBoard {
    fields: Arc<Mutex<BTreeMap<String, Map<String, Value>>>>,
}

/// One source's part of the board. Cheap to clone.
#[derive(Clone)]
pub struct SourceStatus {
    board: StatusBoard,
    field: String,
}

impl StatusBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    /// The handle of field `field`.
    pub fn source(&self, field: impl Into<String>) -> SourceStatus {
        let field = field.into();
        self.lock().entry(field.clone()).or_default();
        SourceStatus {
            board: self.clone(),
            field,
        }
    }

    /// The fields as JSON text.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.lock()
            .iter()
            .map(|(field, values)| {
                let mut values = values.clone();
                values.insert("updated_at".into(), Value::String(now.clone()));
                (field.clone(), Value::Object(values).to_string())
            })
            .collect()
    }

    /// Writes the board to hash `key` every `interval` until `shutdown`, and once more then.
    pub async fn publish(
        self,
        conn: ConnectionManager,
        key: String,
        interval: Duration,
        shutdown: CancellationToken,
    ) {
        loop {
            let stop = tokio::select! {
                () = shutdown.cancelled() => true,
                () = tokio::time::sleep(interval) => false,
            };
            let fields = self.snapshot();
            if !fields.is_empty() {
                let written: Result<(), redis::RedisError> = redis::cmd("HSET")
                    .arg(&key)
                    .arg(fields)
                    .exec_async(&mut conn.clone())
                    .await;
                if let Err(error) = written {
                    tracing::debug!(%error, "could not write the status hash");
                }
            }
            if stop {
                return;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Map<String, Value>>> {
        match self.fields.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl SourceStatus {
    /// Sets one value of this source's status.
    pub fn set(&self, name: &str, value: impl Into<Value>) {
        if let Some(values) = self.board.lock().get_mut(&self.field) {
            values.insert(name.to_owned(), value.into());
        }
    }

    /// Sets `state` (`connecting`, `streaming`, `listing`, `done`, `waiting`, …).
    pub fn state(&self, state: &str) {
        self.set("state", state);
    }

    /// Adds `n` to the counter `name`.
    pub fn add(&self, name: &str, n: u64) {
        if let Some(values) = self.board.lock().get_mut(&self.field) {
            let current = values.get(name).and_then(Value::as_u64).unwrap_or(0);
            values.insert(name.to_owned(), Value::from(current.saturating_add(n)));
        }
    }

    /// Records an error with the time it happened.
    pub fn error(&self, error: &str) {
        self.set("last_error", error);
        self.set(
            "last_error_at",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_report_their_fields() {
        let board = StatusBoard::new();
        let source = board.source("firehose:example.com");
        source.state("streaming");
        source.add("events", 3);
        source.add("events", 4);
        source.set("cursor", "42");
        let snapshot = board.snapshot();
        assert_eq!(snapshot.len(), 1);
        let (field, json) = &snapshot[0];
        assert_eq!(field, "firehose:example.com");
        let value: Value = serde_json::from_str(json).unwrap();
        assert_eq!(value["state"], "streaming");
        assert_eq!(value["events"], 7);
        assert_eq!(value["cursor"], "42");
        assert!(value["updated_at"].is_string());
    }
}
