//! Sluice's Redis streams, in the reference AppView pipeline's layout.
//!
//! - [`events`]: the JSON of every stream entry (`firehose_*`, `label_live`, `repo_backfill`).
//! - [`producer`]: pipelined `XADD` with every reply checked, and source cursors saved after.
//! - [`backlog`]: stream length against a high-water mark, for back-pressure.
//! - [`consumer`]: consumer groups with priority between streams, ack, reclaim, delivery counts.
//! - [`dead_letter`]: `<stream>:dead`, where entries that keep failing are parked.
//! - [`connection`]: connections with timeouts fit for normal and blocking commands.
//!
//! Key layout (names configurable; these are the reference's defaults):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `firehose_live`, `firehose_backfill` | stream, group `firehose_group` | field `event`: [`FirehoseEvent`] |
//! | `label_live` | stream, group `label_group` | field `event`: [`LabelEvent`] |
//! | `repo_backfill` | stream, group `repo_backfill_group` | field `repo`: [`RepoToBackfill`] |
//! | `<stream>:cursor:<host without scheme>` | string | [`Cursor`]: last durable seq / listRepos cursor / [`LIST_REPOS_DONE`] |
//! | `<stream>:dead` | stream | [`dead_letter`] entries |

pub mod backlog;
pub mod connection;
pub mod consumer;
pub mod dead_letter;
pub mod events;
pub mod producer;
mod reply;
#[cfg(feature = "test-util")]
pub mod testing;

pub use backlog::{BackPressure, Backlog};
pub use connection::{connect, connect_for_blocking_reads, redis_url};
pub use consumer::{
    ConsumeError, Consumer, ConsumerConfig, ConsumerHandle, Delivery, FailOutcome, PayloadError,
    PendingInfo,
};
pub use dead_letter::{DeadLetter, DeadLetters, dead_letter_stream};
pub use events::{FirehoseEvent, LabelEvent, RepoToBackfill, StreamLabel, StreamPayload};
pub use producer::{Cursor, LIST_REPOS_DONE, OutgoingEntry, ProduceError, Producer, cursor_key};
pub use reply::UnexpectedReply;

/// The reference pipeline's default stream and group names.
pub mod names {
    /// Live firehose events.
    pub const FIREHOSE_LIVE: &str = "firehose_live";
    /// Events produced by repository backfill.
    pub const FIREHOSE_BACKFILL: &str = "firehose_backfill";
    /// Labels from labelers.
    pub const LABEL_LIVE: &str = "label_live";
    /// Repositories waiting for a backfill.
    pub const REPO_BACKFILL: &str = "repo_backfill";
    /// The indexers' group on the firehose streams.
    pub const FIREHOSE_GROUP: &str = "firehose_group";
    /// The indexers' group on the label stream.
    pub const LABEL_GROUP: &str = "label_group";
    /// The backfillers' group on `repo_backfill`.
    pub const REPO_BACKFILL_GROUP: &str = "repo_backfill_group";
}
