//! Consumer groups: reading batches from several streams in priority order, acknowledging,
//! reclaiming what dead consumers left pending, and parking entries that keep failing.
//!
//! Life of an entry, for a consumer of group `G`:
//! 1. [`Consumer::read`] delivers it (delivery count 1). At start-up the consumer first re-reads
//!    its own pending entries (those it held before a restart under the same name); Redis counts
//!    each such re-read as one more delivery.
//! 2. Success: [`ConsumerHandle::ack`] — `XACK`, then `XDEL` (the reference deletes processed
//!    entries, which keeps `XLEN` equal to the backlog; see [`crate::backlog`]).
//! 3. Failure: [`ConsumerHandle::fail`] — below `max_deliveries` the entry stays pending; after
//!    `claim_min_idle` any consumer's [`Consumer::reclaim`] (`XAUTOCLAIM`) takes it again (count
//!    +1). On its `max_deliveries`-th failure it is parked in `<stream>:dead` with the error.
//! 4. Consumer died: the entry idles in the dead consumer's pending list until someone's
//!    reclaim takes it; one reclaimed with a count already past `max_deliveries` (its consumers
//!    keep dying on it) is parked as [`REASON_ABANDONED`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::{RedisError, Value};

use crate::dead_letter::{DeadLetter, DeadLetters, REASON_ABANDONED, REASON_FAILED, ack_ids};
use crate::events::StreamPayload;
use crate::reply::{self, RawEntry, UnexpectedReply};

/// Why a consumer-group operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// Redis could not be reached or refused the command.
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    /// A reply did not have the expected shape.
    #[error(transparent)]
    Reply(#[from] UnexpectedReply),
}

/// Why a delivery's payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The entry has no such field (e.g. added by hand with another name).
    #[error("entry {id} of {stream} has no field {field:?}")]
    MissingField {
        /// The stream.
        stream: String,
        /// The entry ID.
        id: String,
        /// The field looked for.
        field: &'static str,
    },
    /// The field is not valid JSON of the expected shape.
    #[error("entry {id} of {stream}: bad {field:?} JSON: {source}")]
    Json {
        /// The stream.
        stream: String,
        /// The entry ID.
        id: String,
        /// The field.
        field: &'static str,
        /// The parser's error.
        source: serde_json::Error,
    },
}

/// What a consumer group member reads and how it treats failures.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The consumer group (e.g. `firehose_group`).
    pub group: String,
    /// This consumer's name, stable across restarts (so it finds its own pending entries).
    pub consumer: String,
    /// The streams, highest priority first (e.g. `firehose_live`, `firehose_backfill`): a later
    /// stream is read only when the earlier ones have nothing, so backfill never delays live.
    pub streams: Vec<String>,
    /// Most entries returned by one [`Consumer::read`].
    pub batch_size: usize,
    /// How long [`Consumer::read`] waits when every stream is empty.
    pub block: Duration,
    /// How long an entry must sit unacknowledged before a reclaim may take it (from any
    /// consumer, this one included). Keep it above the longest time processing one batch may
    /// take, or a slow entry is delivered twice.
    pub claim_min_idle: Duration,
    /// How often [`Consumer::read`] runs [`Consumer::reclaim`] by itself.
    pub reclaim_every: Duration,
    /// Deliveries after which a failing entry is parked in the dead-letter stream.
    pub max_deliveries: u64,
    /// Delete entries once acknowledged (`XDEL`), as the reference does; keeps `XLEN` a measure
    /// of the backlog. Turn off only when other groups read the same streams.
    pub delete_on_ack: bool,
}

impl ConsumerConfig {
    /// A configuration with defaults: batches of 100, 1 s block, reclaim after 60 s idle
    /// (checked every 10 s), 5 deliveries, delete on ack.
    pub fn new(
        group: impl Into<String>,
        consumer: impl Into<String>,
        streams: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            group: group.into(),
            consumer: consumer.into(),
            streams: streams.into_iter().map(Into::into).collect(),
            batch_size: 100,
            block: Duration::from_secs(1),
            claim_min_idle: Duration::from_secs(60),
            reclaim_every: Duration::from_secs(10),
            max_deliveries: 5,
            delete_on_ack: true,
        }
    }
}

/// One entry delivered to this consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The stream it came from.
    pub stream: String,
    /// Its entry ID.
    pub id: String,
    /// Its fields, in order.
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Delivery {
    /// The value of field `name`.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Parses the payload (field [`StreamPayload::FIELD`]) as `T`.
    pub fn payload<T: StreamPayload>(&self) -> Result<T, PayloadError> {
        let bytes = self
            .field(T::FIELD)
            .ok_or_else(|| PayloadError::MissingField {
                stream: self.stream.clone(),
                id: self.id.clone(),
                field: T::FIELD,
            })?;
        T::from_json(bytes).map_err(|source| PayloadError::Json {
            stream: self.stream.clone(),
            id: self.id.clone(),
            field: T::FIELD,
            source,
        })
    }
}

/// A pending entry's bookkeeping (`XPENDING`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInfo {
    /// The consumer holding it.
    pub consumer: String,
    /// Milliseconds since it was last delivered.
    pub idle_ms: u64,
    /// How many times it was delivered.
    pub deliveries: u64,
}

/// What [`ConsumerHandle::fail`] did with a failed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailOutcome {
    /// Left pending: it will be reclaimed and delivered again after `claim_min_idle`.
    WillRetry {
        /// Deliveries so far.
        deliveries: u64,
    },
    /// Parked in the dead-letter stream and acknowledged.
    DeadLettered {
        /// The dead letter's ID.
        dead_id: String,
        /// Deliveries it had.
        deliveries: u64,
    },
    /// It was no longer pending for the group (already acknowledged elsewhere).
    NotPending,
}

/// The non-blocking operations of a consumer (ack, fail, park), cheap to clone into tasks.
#[derive(Clone)]
pub struct ConsumerHandle {
    conn: ConnectionManager,
    config: Arc<ConsumerConfig>,
    dead_letters: DeadLetters,
}

impl ConsumerHandle {
    /// Operations for `config`'s group, sent on `conn`.
    pub fn new(conn: ConnectionManager, config: ConsumerConfig) -> Self {
        let dead_letters = DeadLetters::new(conn.clone(), &config.group, config.delete_on_ack);
        Self {
            conn,
            config: Arc::new(config),
            dead_letters,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Creates the group on every stream (and the stream itself when missing), reading from the
    /// start (`0`); an existing group is kept as it is.
    pub async fn ensure_groups(&self) -> Result<(), ConsumeError> {
        let mut conn = self.conn.clone();
        for stream in &self.config.streams {
            let created: Result<(), RedisError> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(stream)
                .arg(&self.config.group)
                .arg("0")
                .arg("MKSTREAM")
                .exec_async(&mut conn)
                .await;
            match created {
                Ok(()) => {
                    tracing::info!(stream = %stream, group = %self.config.group, "consumer group created");
                }
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Acknowledges deliveries (and deletes them when `delete_on_ack`), one round trip per
    /// stream. Returns how many were still pending.
    pub async fn ack<'a>(
        &self,
        deliveries: impl IntoIterator<Item = &'a Delivery>,
    ) -> Result<u64, ConsumeError> {
        let mut by_stream: Vec<(&str, Vec<&str>)> = Vec::new();
        for delivery in deliveries {
            match by_stream.iter_mut().find(|(s, _)| *s == delivery.stream) {
                Some((_, ids)) => ids.push(&delivery.id),
                None => by_stream.push((&delivery.stream, vec![&delivery.id])),
            }
        }
        let mut acked = 0;
        for (stream, ids) in by_stream {
            acked += self.ack_ids(stream, &ids).await?;
        }
        Ok(acked)
    }

    /// Acknowledges entry IDs of one stream (and deletes them when `delete_on_ack`).
    pub async fn ack_ids(&self, stream: &str, ids: &[&str]) -> Result<u64, ConsumeError> {
        ack_ids(
            &mut self.conn.clone(),
            &self.config.group,
            self.config.delete_on_ack,
            stream,
            ids,
        )
        .await
    }

    /// Resets the idle time of pending entries of `stream` (`XCLAIM … JUSTID`, which leaves
    /// delivery counts as they are): a heartbeat for entries this consumer is still working on,
    /// so that no other consumer reclaims them. Only entries idle for at least `min_idle` are
    /// touched. `XCLAIM` cannot tell whose an entry is: an entry another consumer has claimed
    /// and left idle that long becomes this consumer's again, so call it only for entries this
    /// consumer is working on right now. Returns how many were touched.
    pub async fn keep_pending(
        &self,
        stream: &str,
        ids: &[&str],
        min_idle: Duration,
    ) -> Result<usize, ConsumeError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let reply: Value = redis::cmd("XCLAIM")
            .arg(stream)
            .arg(&self.config.group)
            .arg(&self.config.consumer)
            .arg(duration_ms(min_idle))
            .arg(ids)
            .arg("JUSTID")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(reply::items(reply, "XCLAIM")?.len())
    }

    /// The pending bookkeeping of one entry; `None` when it is not pending for the group.
    pub async fn pending_info(
        &self,
        stream: &str,
        id: &str,
    ) -> Result<Option<PendingInfo>, ConsumeError> {
        let reply: Value = xpending_one(stream, &self.config.group, id)
            .query_async(&mut self.conn.clone())
            .await?;
        parse_pending_one(reply)
    }

    /// How many entries of `stream` are pending for the group (delivered, not acknowledged).
    pub async fn pending_count(&self, stream: &str) -> Result<u64, ConsumeError> {
        let reply: Value = redis::cmd("XPENDING")
            .arg(stream)
            .arg(&self.config.group)
            .query_async(&mut self.conn.clone())
            .await?;
        let first = reply::items(reply, "XPENDING")?
            .into_iter()
            .next()
            .ok_or_else(|| UnexpectedReply {
                command: "XPENDING",
                detail: "empty summary".into(),
            })?;
        Ok(u64::try_from(reply::int(&first, "XPENDING")?).unwrap_or(0))
    }

    /// Records that processing `delivery` failed with `error`: parks it on its
    /// `max_deliveries`-th delivery, else leaves it pending for a later reclaim.
    pub async fn fail(
        &self,
        delivery: &Delivery,
        error: &str,
    ) -> Result<FailOutcome, ConsumeError> {
        let Some(info) = self.pending_info(&delivery.stream, &delivery.id).await? else {
            return Ok(FailOutcome::NotPending);
        };
        if info.deliveries >= self.config.max_deliveries {
            let dead_id = self
                .park(delivery, REASON_FAILED, error, info.deliveries)
                .await?;
            return Ok(FailOutcome::DeadLettered {
                dead_id,
                deliveries: info.deliveries,
            });
        }
        tracing::debug!(stream = %delivery.stream, id = %delivery.id, deliveries = info.deliveries, error, "entry failed; left pending for a retry");
        Ok(FailOutcome::WillRetry {
            deliveries: info.deliveries,
        })
    }

    /// Parks `delivery` in its dead-letter stream at once (e.g. a payload that can never be
    /// processed), then acknowledges it. Returns the dead letter's ID.
    pub async fn park(
        &self,
        delivery: &Delivery,
        reason: &str,
        error: &str,
        deliveries: u64,
    ) -> Result<String, ConsumeError> {
        self.dead_letters
            .park(
                delivery,
                &DeadLetter {
                    reason,
                    error,
                    consumer: &self.config.consumer,
                    deliveries,
                },
            )
            .await
    }

    /// Delivery counts of several entries of `stream` in one round trip (`None`: not pending).
    async fn delivery_counts(
        &self,
        stream: &str,
        ids: &[&str],
    ) -> Result<Vec<Option<u64>>, ConsumeError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.add_command(xpending_one(stream, &self.config.group, id));
        }
        let replies: Vec<Value> = pipe.query_async(&mut self.conn.clone()).await?;
        replies
            .into_iter()
            .map(|r| Ok(parse_pending_one(r)?.map(|info| info.deliveries)))
            .collect()
    }
}

fn xpending_one(stream: &str, group: &str, id: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("XPENDING");
    cmd.arg(stream).arg(group).arg(id).arg(id).arg(1);
    cmd
}

/// `[[id, consumer, idle, deliveries]]` or `[]`.
fn parse_pending_one(reply: Value) -> Result<Option<PendingInfo>, ConsumeError> {
    let Some(row) = reply::items(reply, "XPENDING")?.into_iter().next() else {
        return Ok(None);
    };
    let row = reply::items(row, "XPENDING")?;
    let [_, consumer, idle, deliveries] =
        <[Value; 4]>::try_from(row).map_err(|row| UnexpectedReply {
            command: "XPENDING",
            detail: format!("{row:?}"),
        })?;
    Ok(Some(PendingInfo {
        consumer: reply::text(consumer, "XPENDING")?,
        idle_ms: u64::try_from(reply::int(&idle, "XPENDING")?).unwrap_or(0),
        deliveries: u64::try_from(reply::int(&deliveries, "XPENDING")?).unwrap_or(0),
    }))
}

/// Where reading a stream stands: re-reading this consumer's own pending entries (after the
/// given ID), or taking new ones (`>`).
#[derive(Debug, Clone)]
enum Position {
    History(String),
    New,
}

/// A member of a consumer group reading several streams in priority order.
pub struct Consumer {
    reader: ConnectionManager,
    handle: ConsumerHandle,
    positions: Vec<Position>,
    claim_starts: Vec<String>,
    last_reclaim: Option<Instant>,
}

impl Consumer {
    /// A consumer reading on `reader` (its own connection, from
    /// [`crate::connect_for_blocking_reads`]) and sending everything else on `commands`.
    /// Creates the groups when missing.
    pub async fn new(
        commands: ConnectionManager,
        reader: ConnectionManager,
        config: ConsumerConfig,
    ) -> Result<Self, ConsumeError> {
        let streams = config.streams.len();
        let handle = ConsumerHandle::new(commands, config);
        handle.ensure_groups().await?;
        Ok(Self {
            reader,
            handle,
            positions: vec![Position::History("0".into()); streams],
            claim_starts: vec!["0-0".into(); streams],
            last_reclaim: None,
        })
    }

    /// Opens both connections to `url` and creates the consumer.
    pub async fn connect(url: &str, config: ConsumerConfig) -> Result<Self, ConsumeError> {
        let commands = crate::connect(url).await?;
        let reader = crate::connect_for_blocking_reads(url, config.block).await?;
        Self::new(commands, reader, config).await
    }

    /// The non-blocking operations (ack, fail, park), to clone into worker tasks.
    pub fn handle(&self) -> &ConsumerHandle {
        &self.handle
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        self.handle.config()
    }

    /// Acknowledges deliveries; see [`ConsumerHandle::ack`].
    pub async fn ack<'a>(
        &self,
        deliveries: impl IntoIterator<Item = &'a Delivery>,
    ) -> Result<u64, ConsumeError> {
        self.handle.ack(deliveries).await
    }

    /// Records a failure; see [`ConsumerHandle::fail`].
    pub async fn fail(
        &self,
        delivery: &Delivery,
        error: &str,
    ) -> Result<FailOutcome, ConsumeError> {
        self.handle.fail(delivery, error).await
    }

    /// The next batch, at most `batch_size` entries, in this order:
    /// 1. this consumer's own pending entries from before a restart (once, until exhausted);
    /// 2. entries reclaimed from consumers idle past `claim_min_idle` (every `reclaim_every`);
    /// 3. new entries, each stream exhausted before the next is read.
    ///
    /// Waits up to `block` when there is nothing; an empty batch means the wait ran out.
    pub async fn read(&mut self) -> Result<Vec<Delivery>, ConsumeError> {
        let batch_size = self.config().batch_size.max(1);
        let mut batch = Vec::new();
        for index in 0..self.positions.len() {
            while batch.len() < batch_size && matches!(self.positions[index], Position::History(_))
            {
                let (deliveries, _) = self.read_one(index, batch_size - batch.len()).await?;
                batch.extend(deliveries);
            }
        }
        // Only once the history is done: reclaimed entries join this consumer's pending list,
        // which the history pass would otherwise deliver a second time.
        let history_done = self.positions.iter().all(|p| matches!(p, Position::New));
        let reclaim_due = self
            .last_reclaim
            .is_none_or(|t| t.elapsed() >= self.config().reclaim_every);
        if history_done && reclaim_due && batch.len() < batch_size {
            let reclaimed = self.reclaim(batch_size - batch.len()).await?;
            batch.extend(reclaimed);
        }
        for index in 0..self.positions.len() {
            while batch.len() < batch_size && matches!(self.positions[index], Position::New) {
                let room = batch_size - batch.len();
                let (deliveries, got) = self.read_one(index, room).await?;
                batch.extend(deliveries);
                if got < room {
                    break;
                }
            }
        }
        if batch.is_empty() {
            batch = self.read_blocking(batch_size).await?;
        }
        Ok(batch)
    }

    /// Takes over entries of any consumer idle longer than `claim_min_idle` (`XAUTOCLAIM`), at
    /// most `max` across the streams in priority order. Entries already delivered more than
    /// `max_deliveries` times are parked as [`REASON_ABANDONED`] instead of returned.
    pub async fn reclaim(&mut self, max: usize) -> Result<Vec<Delivery>, ConsumeError> {
        self.last_reclaim = Some(Instant::now());
        let mut claimed = Vec::new();
        for index in 0..self.claim_starts.len() {
            if claimed.len() >= max {
                break;
            }
            let stream = self.config().streams[index].clone();
            let reply: Value = match redis::cmd("XAUTOCLAIM")
                .arg(&stream)
                .arg(&self.config().group)
                .arg(&self.config().consumer)
                .arg(duration_ms(self.config().claim_min_idle))
                .arg(&self.claim_starts[index])
                .arg("COUNT")
                .arg(max - claimed.len())
                .query_async(&mut self.handle.conn.clone())
                .await
            {
                Err(e) if e.code() == Some("NOGROUP") => {
                    tracing::warn!(stream = %stream, group = %self.config().group, "consumer group missing (stream deleted?): recreating it");
                    self.handle.ensure_groups().await?;
                    continue;
                }
                other => other?,
            };
            let mut parts = reply::items(reply, "XAUTOCLAIM")?.into_iter();
            let (Some(next), Some(entries)) = (parts.next(), parts.next()) else {
                return Err(UnexpectedReply {
                    command: "XAUTOCLAIM",
                    detail: "fewer than 2 items".into(),
                }
                .into());
            };
            self.claim_starts[index] = reply::text(next, "XAUTOCLAIM")?;
            let entries = reply::entries(entries, "XAUTOCLAIM")?;
            let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
            let counts = self.handle.delivery_counts(&stream, &ids).await?;
            for (entry, count) in entries.into_iter().zip(counts) {
                // Acknowledged by its previous owner in the meantime: nothing left to do.
                let Some(deliveries) = count else { continue };
                let delivery = to_delivery(&stream, entry);
                if deliveries > self.config().max_deliveries {
                    let error = format!(
                        "delivered {deliveries} times without an ack or a recorded failure"
                    );
                    self.handle
                        .park(&delivery, REASON_ABANDONED, &error, deliveries)
                        .await?;
                } else {
                    tracing::info!(stream = %stream, id = %delivery.id, deliveries, "reclaimed an idle pending entry");
                    claimed.push(delivery);
                }
            }
        }
        Ok(claimed)
    }

    /// Reads up to `count` entries from stream `index` without blocking. Returns the deliveries
    /// and how many entries the stream gave (deleted ones included). Moves from this consumer's
    /// history to new entries when the history runs out.
    async fn read_one(
        &mut self,
        index: usize,
        count: usize,
    ) -> Result<(Vec<Delivery>, usize), ConsumeError> {
        let stream = self.config().streams[index].clone();
        let from = match &self.positions[index] {
            Position::History(after) => after.clone(),
            Position::New => ">".to_owned(),
        };
        let reply = self
            .xreadgroup(count, None, &[(stream.as_str(), from.as_str())])
            .await?;
        let entries: Vec<RawEntry> = reply
            .into_iter()
            .filter(|(key, _)| *key == stream)
            .flat_map(|(_, entries)| entries)
            .collect();
        let got = entries.len();
        if let Position::History(after) = &mut self.positions[index] {
            match entries.last() {
                Some(last) if got >= count => *after = last.id.clone(),
                _ => {
                    tracing::debug!(stream = %stream, "own pending entries re-read; now reading new entries");
                    self.positions[index] = Position::New;
                }
            }
        }
        let deliveries = self.settle_deleted(&stream, entries).await?;
        Ok((deliveries, got))
    }

    /// Waits up to `block` for new entries on every stream at once.
    async fn read_blocking(&mut self, count: usize) -> Result<Vec<Delivery>, ConsumeError> {
        let streams: Vec<String> = self
            .config()
            .streams
            .iter()
            .zip(&self.positions)
            .filter(|(_, p)| matches!(p, Position::New))
            .map(|(s, _)| s.clone())
            .collect();
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<(&str, &str)> = streams.iter().map(|s| (s.as_str(), ">")).collect();
        let block = self.config().block;
        let reply = self.xreadgroup(count, Some(block), &keys).await?;
        // Keep the priority order even when several streams answered at once.
        let mut answered: Vec<(usize, String, Vec<RawEntry>)> = reply
            .into_iter()
            .filter_map(|(key, entries)| {
                let priority = streams.iter().position(|s| *s == key)?;
                Some((priority, key, entries))
            })
            .collect();
        answered.sort_by_key(|(priority, ..)| *priority);
        Ok(answered
            .into_iter()
            .flat_map(|(_, key, entries)| {
                entries
                    .into_iter()
                    .filter(|e| e.fields.is_some())
                    .map(move |e| to_delivery(&key, e))
                    .collect::<Vec<_>>()
            })
            .collect())
    }

    /// `XREADGROUP` on the reader connection; recreates the groups once if Redis lost them
    /// (`NOGROUP`: the stream was deleted).
    async fn xreadgroup(
        &mut self,
        count: usize,
        block: Option<Duration>,
        streams: &[(&str, &str)],
    ) -> Result<Vec<(String, Vec<RawEntry>)>, ConsumeError> {
        let config = self.handle.config.clone();
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&config.group)
            .arg(&config.consumer)
            .arg("COUNT")
            .arg(count);
        if let Some(block) = block {
            cmd.arg("BLOCK").arg(duration_ms(block).max(1));
        }
        cmd.arg("STREAMS");
        for (stream, _) in streams {
            cmd.arg(*stream);
        }
        for (_, from) in streams {
            cmd.arg(*from);
        }
        let reply: Value = match cmd.query_async(&mut self.reader).await {
            Err(e) if e.code() == Some("NOGROUP") => {
                tracing::warn!(group = %config.group, "consumer group missing (stream deleted?): recreating it");
                self.handle.ensure_groups().await?;
                cmd.query_async(&mut self.reader).await?
            }
            other => other?,
        };
        Ok(reply::read_reply(reply, "XREADGROUP")?)
    }

    /// Turns raw entries into deliveries; entries deleted while pending (no fields) have nothing
    /// to process and are acknowledged on the spot.
    async fn settle_deleted(
        &self,
        stream: &str,
        entries: Vec<RawEntry>,
    ) -> Result<Vec<Delivery>, ConsumeError> {
        let deleted: Vec<String> = entries
            .iter()
            .filter(|e| e.fields.is_none())
            .map(|e| e.id.clone())
            .collect();
        if !deleted.is_empty() {
            tracing::debug!(
                stream,
                count = deleted.len(),
                "acknowledging pending entries that were deleted"
            );
            let ids: Vec<&str> = deleted.iter().map(String::as_str).collect();
            self.handle.ack_ids(stream, &ids).await?;
        }
        Ok(entries
            .into_iter()
            .filter(|e| e.fields.is_some())
            .map(|e| to_delivery(stream, e))
            .collect())
    }
}

fn to_delivery(stream: &str, entry: RawEntry) -> Delivery {
    Delivery {
        stream: stream.to_owned(),
        id: entry.id,
        fields: entry.fields.unwrap_or_default(),
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
