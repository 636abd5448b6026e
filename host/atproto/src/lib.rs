//! The AT Protocol core shared by every Sluice service.
//!
//! Everything here is pure: no network, no database, no runtime. Parsers never panic; every
//! error is typed and names what was wrong.
//!
//! - [`syntax`]: identifiers (DID, handle, NSID, AT-URI, record key, TID, datetime, language, CID).
//! - [`data`]: the data model: DAG-CBOR ⇄ atproto JSON, CID computation.
//! - [`crypto`]: `did:key` / Multikey public keys, signature verification and signing (k256, p256).
//! - [`car`]: a streaming CAR v1 reader that checks every block against its CID, and a writer.
//! - [`blockstore`]: block storage with a memory budget that spills to disk.
//! - [`mst`]: the Merkle Search Tree: walk in key order, build, insert, delete, proofs.
//! - [`commit`]: signed repo commits (v3, and v2 for old repos).
//! - [`repo`]: whole-repo reading: CAR stream → verified commit → records in key order.
//! - [`firehose`]: `subscribeRepos` / `subscribeLabels` frames, op resolution, sync 1.1 checks.
//! - [`identity`]: DID documents (signing key, PDS endpoint, handle).
//! - [`label`]: labels and their signatures.

// Errors carry the CIDs and keys they are about, which makes them larger than clippy's default
// threshold; they are returned only on bad input, never on the hot path.
#![allow(clippy::result_large_err)]

pub mod blockstore;
pub mod car;
pub mod commit;
pub mod crypto;
pub mod data;
pub mod firehose;
pub mod identity;
pub mod label;
pub mod mst;
pub mod repo;
pub mod syntax;

pub use cid::Cid;
pub use ipld_core::ipld::Ipld;

#[cfg(test)]
mod test_fixtures;
