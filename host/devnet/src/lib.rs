//! `sluice devnet`: a synthetic AT Protocol network at scale, deterministic from a seed.
//!
//! The network is built from Sluice's own repo code (MST, commits, CAR, firehose frames) and
//! served on loopback the way a PDS, a PLC directory and a labeler serve a real one.
//!
//! - [`draw`]: deterministic randomness (every choice is a function of the seed).
//! - [`accounts`]: DIDs, handles, keys, account lifecycles, DID documents.
//! - [`collections`]: the record types written.
//! - [`slots`]: a repo's history slot by slot (kinds, fates).
//! - [`plan`]: a repo's history as events, before any record is generated.
//! - [`model`]: the network's configuration and the shape of every repo.
//! - [`content`]: any record, generated alone from its id.
//! - [`repo`]: a repo's records, MST, signed commit and CAR; commits that edit it.
//! - [`history`]: every repo's history interleaved into one firehose, from any cursor.
//! - [`car`]: CAR framing into buffers.
//! - [`frames`]: firehose frames of repo events and labels.
//! - [`labels`]: the labeler's signed labels and negations.
//! - [`network`]: the running network: heads, live changes, ground truth.
//! - [`live`]: live mode, new events at a steady rate.
//! - [`server`]: the HTTP and WebSocket endpoints.
//! - [`run`]: serving a network on a loopback port.
//! - [`faults`]: fault injection (malformed frames, forged signatures, broken chains, bad repos).

// Errors carry the sluice-atproto errors they wrap (CIDs, keys), larger than clippy's default
// threshold; they are returned only on bad input, never on the hot path.
#![allow(clippy::result_large_err)]

pub mod accounts;
pub mod car;
pub mod collections;
pub mod content;
pub mod draw;
pub mod error;
pub mod faults;
pub mod frames;
pub mod history;
pub mod labels;
pub mod live;
pub mod model;
pub mod network;
pub mod plan;
pub mod repo;
pub mod run;
pub mod server;
pub mod slots;

pub use error::DevnetError;
pub use model::NetworkConfig;
pub use network::{DevnetConfig, Network};
pub use run::RunningDevnet;
