//! How full a stream is, for back-pressure.
//!
//! The measure is `XLEN`, as in the reference (`streamLengthBackpressure`): consumers delete what
//! they acknowledge (`XACK` + `XDEL`, see [`crate::ConsumerConfig::delete_on_ack`]), so the length
//! is exactly what is not yet processed — undelivered plus pending. It is one O(1) command, works
//! before any consumer group exists, and counts entries a consumer claimed and then died on,
//! which a group's `lag` would not.

use std::time::{Duration, Instant};

use redis::RedisError;
use redis::aio::ConnectionManager;

/// The default high-water mark of the reference's streams.
pub const DEFAULT_HIGH_WATER_MARK: u64 = 100_000;
/// How often the reference re-checks a stream's length (and polls while it is full).
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// The backlog of one stream.
#[derive(Clone)]
pub struct Backlog {
    conn: ConnectionManager,
    stream: String,
}

impl Backlog {
    /// The backlog of `stream`.
    pub fn new(conn: ConnectionManager, stream: impl Into<String>) -> Self {
        Self {
            conn,
            stream: stream.into(),
        }
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Entries in the stream (0 when it does not exist).
    pub async fn entries(&self) -> Result<u64, RedisError> {
        redis::cmd("XLEN")
            .arg(&self.stream)
            .query_async(&mut self.conn.clone())
            .await
    }

    /// Returns once the stream holds fewer than `high_water_mark` entries, checking every
    /// `poll`. Returns how long it waited. To give up early, race it (`tokio::select!`) against
    /// a shutdown signal.
    pub async fn wait_below(
        &self,
        high_water_mark: u64,
        poll: Duration,
    ) -> Result<Duration, RedisError> {
        let start = Instant::now();
        let mut warned = false;
        loop {
            let len = self.entries().await?;
            if len < high_water_mark {
                if warned {
                    tracing::info!(stream = %self.stream, len, high_water_mark, waited_ms = start.elapsed().as_millis() as u64, "stream drained below its high-water mark");
                }
                return Ok(start.elapsed());
            }
            if !warned {
                tracing::warn!(stream = %self.stream, len, high_water_mark, "stream at its high-water mark: pausing its source");
                warned = true;
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// A gate in front of a source: [`BackPressure::admit`] returns at once while the stream was
/// found below its mark less than `check_interval` ago, and otherwise checks `XLEN` (waiting,
/// polling every `check_interval`, while the stream is full). One `XLEN` per interval, not per
/// batch, like the reference.
pub struct BackPressure {
    backlog: Backlog,
    high_water_mark: u64,
    check_interval: Duration,
    last_below: Option<Instant>,
}

impl BackPressure {
    /// A gate keeping `backlog` below `high_water_mark`.
    pub fn new(backlog: Backlog, high_water_mark: u64, check_interval: Duration) -> Self {
        Self {
            backlog,
            high_water_mark,
            check_interval,
            last_below: None,
        }
    }

    /// The stream's backlog.
    pub fn backlog(&self) -> &Backlog {
        &self.backlog
    }

    /// Waits, if needed, until the source may send more. Returns how long it waited.
    pub async fn admit(&mut self) -> Result<Duration, RedisError> {
        if let Some(checked) = self.last_below
            && checked.elapsed() < self.check_interval
        {
            return Ok(Duration::ZERO);
        }
        let waited = self
            .backlog
            .wait_below(self.high_water_mark, self.check_interval)
            .await?;
        self.last_below = Some(Instant::now());
        Ok(waited)
    }
}
