//! Parking entries that cannot be processed, so that nothing stays pending forever.
//!
//! The dead letters of stream `S` go to the stream `S:dead` ([`dead_letter_stream`]). Each dead
//! letter holds the original entry's fields, then:
//!
//! | field | value |
//! |---|---|
//! | `source_stream` | `S` |
//! | `source_id` | the original entry's ID |
//! | `reason` | why it was parked: [`REASON_FAILED`], [`REASON_ABANDONED`], or the caller's own word |
//! | `error` | the last error |
//! | `consumer` | the consumer that parked it |
//! | `deliveries` | how many times it had been delivered |
//!
//! To replay a dead letter, `XADD` its original fields back to `source_stream` and `XDEL` it.
//! Parking is at-least-once: the dead letter is added first and the original acknowledged after,
//! so a crash in between may park the same entry twice, never lose it.

use redis::Value;
use redis::aio::ConnectionManager;

use crate::consumer::{ConsumeError, Delivery};
use crate::reply::{UnexpectedReply, text};

/// `reason` of an entry whose processing failed on its last allowed delivery.
pub const REASON_FAILED: &str = "failed";
/// `reason` of an entry delivered too many times without an ack or a recorded failure (its
/// consumers died or stalled while processing it).
pub const REASON_ABANDONED: &str = "abandoned";

/// The dead-letter stream of `stream`: `<stream>:dead`.
pub fn dead_letter_stream(stream: &str) -> String {
    format!("{stream}:dead")
}

/// Why an entry is parked.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    /// A short word: [`REASON_FAILED`], [`REASON_ABANDONED`], or the caller's (e.g. `invalid`).
    pub reason: &'a str,
    /// The last error, human-readable.
    pub error: &'a str,
    /// The consumer parking it.
    pub consumer: &'a str,
    /// How many times the entry had been delivered.
    pub deliveries: u64,
}

/// Writes dead letters for the streams of one consumer group.
#[derive(Clone)]
pub struct DeadLetters {
    conn: ConnectionManager,
    group: String,
    delete_on_ack: bool,
}

impl DeadLetters {
    /// Dead letters for entries of `group`; the original is acknowledged (and deleted when
    /// `delete_on_ack`) once its dead letter is stored.
    pub fn new(conn: ConnectionManager, group: impl Into<String>, delete_on_ack: bool) -> Self {
        Self {
            conn,
            group: group.into(),
            delete_on_ack,
        }
    }

    /// Adds `delivery` to its dead-letter stream with `letter`'s fields, then acknowledges it.
    /// Returns the dead letter's ID.
    pub async fn park(
        &self,
        delivery: &Delivery,
        letter: &DeadLetter<'_>,
    ) -> Result<String, ConsumeError> {
        let mut conn = self.conn.clone();
        let mut xadd = redis::cmd("XADD");
        xadd.arg(dead_letter_stream(&delivery.stream)).arg("*");
        for (name, value) in &delivery.fields {
            xadd.arg(name).arg(value);
        }
        xadd.arg("source_stream")
            .arg(&delivery.stream)
            .arg("source_id")
            .arg(&delivery.id)
            .arg("reason")
            .arg(letter.reason)
            .arg("error")
            .arg(letter.error)
            .arg("consumer")
            .arg(letter.consumer)
            .arg("deliveries")
            .arg(letter.deliveries);
        let reply: Value = xadd.query_async(&mut conn).await?;
        let dead_id = text(reply, "XADD")?;
        tracing::warn!(
            stream = %delivery.stream,
            id = %delivery.id,
            dead_id = %dead_id,
            reason = letter.reason,
            error = letter.error,
            deliveries = letter.deliveries,
            "entry parked in its dead-letter stream"
        );
        ack_ids(
            &mut conn,
            &self.group,
            self.delete_on_ack,
            &delivery.stream,
            &[delivery.id.as_str()],
        )
        .await?;
        Ok(dead_id)
    }
}

/// `XACK` (and `XDEL` when `delete`) of `ids` in one round trip; returns how many were pending.
pub(crate) async fn ack_ids(
    conn: &mut ConnectionManager,
    group: &str,
    delete: bool,
    stream: &str,
    ids: &[&str],
) -> Result<u64, ConsumeError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    pipe.cmd("XACK").arg(stream).arg(group).arg(ids);
    if delete {
        pipe.cmd("XDEL").arg(stream).arg(ids);
    }
    let replies: Vec<Value> = pipe.query_async(conn).await?;
    let acked = replies
        .first()
        .ok_or_else(|| UnexpectedReply {
            command: "XACK",
            detail: "no reply".into(),
        })
        .and_then(|v| crate::reply::int(v, "XACK"))?;
    Ok(u64::try_from(acked).unwrap_or(0))
}
