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

pub mod accounts;
pub mod car;
pub mod collections;
pub mod content;
pub mod draw;
pub mod error;
pub mod history;
pub mod model;
pub mod plan;
pub mod repo;
pub mod slots;

pub use error::DevnetError;
