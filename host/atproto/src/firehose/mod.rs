//! Firehose frames (`com.atproto.sync.subscribeRepos`, `com.atproto.label.subscribeLabels`),
//! commit resolution and the sync 1.1 checks.
//!
//! A frame is one WebSocket binary message: two concatenated DAG-CBOR objects, a header
//! `{op, t}` and a body. `op: 1` is a message whose type is `t` (`#commit`, `#sync`,
//! `#identity`, `#account`, `#info`, `#labels`); `op: -1` is an error `{error, message?}` after
//! which the server closes the stream.
//!
//! - [`Frame`]: decode and encode frames ([`codec`]); unknown message types (and the retired
//!   `#handle`, `#migrate`, `#tombstone`) decode to [`Frame::Unknown`], which callers count and
//!   skip. Re-encoding a decoded frame gives its bytes back (see [`codec`] for the one caveat).
//! - [`CarSlice`]: the CAR bytes of a `#commit` / `#sync`, parsed in memory with every block
//!   checked against its CID.
//! - [`resolve_commit`]: a `#commit` checked against its signed commit block and its ops
//!   resolved to record blocks: the [`ResolvedCommit`] the ingester turns into stream entries.
//! - [`check_prev_data`]: the sync 1.1 check: undo the ops on the proof blocks and compare the
//!   root with `prevData` ([`PrevDataCheck`]).
//! - [`RepoStreamValidator`]: the relay rules (sequence, rev order, account status, signature,
//!   chain continuity) as a pure state machine with a [`Verdict`] per event.
//! - [`frame_to_json`]: a frame as atproto JSON, for `sluice inspect frame`.
//!
//! To serve a stream (the devnet), build events with [`CommitEvent::from_commit_diff`] (a
//! commit made with [`crate::repo::Repo::apply_writes`], proof blocks included) and
//! [`SyncEvent::from_commit`], and write them with [`Frame::encode`].
//!
//! Nothing here panics on input: every failure is a typed error naming what was wrong.

mod car_slice;
pub mod codec;
mod json;
mod messages;
mod prev_data;
mod resolve;
mod validator;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod validator_tests;

pub use car_slice::CarSlice;
pub use codec::{Frame, FrameError, FrameHeader};
pub use json::frame_to_json;
pub use messages::{
    AccountEvent, CommitEvent, ErrorFrame, Extra, IdentityEvent, InfoEvent, LabelsEvent, SyncEvent,
    UnknownMessage,
};
pub use prev_data::{ChainBreak, PrevDataCheck, Unverifiable, check_prev_data};
pub use resolve::{
    ResolveError, ResolvedCommit, ResolvedOp, ResolvedSync, resolve_commit, resolve_sync,
};
pub use validator::{
    AccountStatus, DropReason, KeyLookup, RepoState, RepoStreamValidator, ResyncReason,
    ValidatorConfig, Verdict, Warning,
};

pub use crate::repo::{OpAction, RepoOp};
