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

pub mod accounts;
pub mod collections;
pub mod draw;
pub mod model;
pub mod plan;
pub mod slots;
