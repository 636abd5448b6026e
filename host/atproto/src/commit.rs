//! Signed repo commits.
//!
//! A commit is the DAG-CBOR block at the root of a repo: `{did, version, data, rev, prev, sig}`.
//! `data` links to the MST root; `sig` signs the DAG-CBOR of the same object without `sig`.
//! Version 3 (current) has `rev`, a TID that increases with each commit, and `prev` is usually
//! null. Version 2 (before 2023-08) has no `rev`. Fields this code does not know are kept, so that
//! the unsigned bytes (and the signature check) stay exact.

// Errors name the CIDs involved (a CID is ~90 bytes); they are rare, so their size costs
// nothing on the success path, and boxing them would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use bytes::Bytes;
use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::crypto::{CryptoError, Keypair, PublicKey};
use crate::data::{self, cid_for_dag_cbor};

/// The commit format written by [`Commit::new`].
pub const CURRENT_VERSION: u64 = 3;

/// Why a commit could not be decoded or verified.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The block is not a DAG-CBOR map.
    #[error("commit is not valid DAG-CBOR: {0}")]
    Decode(String),
    /// A required field is absent.
    #[error("commit has no `{0}` field")]
    MissingField(&'static str),
    /// A field has the wrong type.
    #[error("commit field `{0}` has the wrong type")]
    WrongType(&'static str),
    /// The version is not 2 or 3.
    #[error("commit version {0} is not supported (2 and 3 are)")]
    UnsupportedVersion(i128),
    /// The signature does not verify against the key.
    #[error("commit signature does not verify: {0}")]
    Signature(#[from] CryptoError),
    /// The commit is for another account than the one expected.
    #[error("commit is for {found}, expected {expected}")]
    DidMismatch {
        /// The DID the caller expected.
        expected: String,
        /// The DID in the commit.
        found: String,
    },
}

/// A repo commit (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The account.
    pub did: String,
    /// Format version: 3, or 2 for old repos.
    pub version: u64,
    /// The MST root.
    pub data: Cid,
    /// The revision (a TID); absent in version 2.
    pub rev: Option<String>,
    /// The previous commit (usually null in version 3).
    pub prev: Option<Cid>,
    /// The signature over the unsigned bytes (64-byte compact ECDSA).
    pub sig: Bytes,
    /// Whether `prev` is written (as null when `None`): true for every real commit.
    prev_present: bool,
    /// Fields unknown to this code, kept for the signature.
    extra: BTreeMap<String, Ipld>,
}

impl Commit {
    /// An unsigned version 3 commit.
    pub fn new(
        did: impl Into<String>,
        data: Cid,
        rev: impl Into<String>,
        prev: Option<Cid>,
    ) -> Self {
        Self {
            did: did.into(),
            version: CURRENT_VERSION,
            data,
            rev: Some(rev.into()),
            prev,
            sig: Bytes::new(),
            prev_present: true,
            extra: BTreeMap::new(),
        }
    }

    /// Decodes a commit block.
    pub fn decode(bytes: &[u8]) -> Result<Self, CommitError> {
        let mut map: BTreeMap<String, Ipld> =
            data::from_dag_cbor(bytes).map_err(|e| CommitError::Decode(e.to_string()))?;
        let did = match map.remove("did") {
            Some(Ipld::String(did)) => did,
            Some(_) => return Err(CommitError::WrongType("did")),
            None => return Err(CommitError::MissingField("did")),
        };
        let version = match map.remove("version") {
            Some(Ipld::Integer(v @ (2 | 3))) => v as u64,
            Some(Ipld::Integer(other)) => return Err(CommitError::UnsupportedVersion(other)),
            Some(_) => return Err(CommitError::WrongType("version")),
            None => return Err(CommitError::MissingField("version")),
        };
        let data = match map.remove("data") {
            Some(Ipld::Link(cid)) => cid,
            Some(_) => return Err(CommitError::WrongType("data")),
            None => return Err(CommitError::MissingField("data")),
        };
        let rev = match map.remove("rev") {
            Some(Ipld::String(rev)) => Some(rev),
            Some(_) => return Err(CommitError::WrongType("rev")),
            None if version >= 3 => return Err(CommitError::MissingField("rev")),
            None => None,
        };
        let (prev, prev_present) = match map.remove("prev") {
            Some(Ipld::Link(cid)) => (Some(cid), true),
            Some(Ipld::Null) => (None, true),
            Some(_) => return Err(CommitError::WrongType("prev")),
            None => (None, false),
        };
        let sig = match map.remove("sig") {
            Some(Ipld::Bytes(sig)) => Bytes::from(sig),
            Some(_) => return Err(CommitError::WrongType("sig")),
            None => return Err(CommitError::MissingField("sig")),
        };
        Ok(Self {
            did,
            version,
            data,
            rev,
            prev,
            sig,
            prev_present,
            extra: map,
        })
    }

    fn to_ipld(&self, with_signature: bool) -> Ipld {
        let mut map = self.extra.clone();
        map.insert("did".to_owned(), Ipld::String(self.did.clone()));
        map.insert("version".to_owned(), Ipld::Integer(self.version.into()));
        map.insert("data".to_owned(), Ipld::Link(self.data));
        if let Some(rev) = &self.rev {
            map.insert("rev".to_owned(), Ipld::String(rev.clone()));
        }
        if self.prev_present || self.prev.is_some() {
            map.insert("prev".to_owned(), self.prev.map_or(Ipld::Null, Ipld::Link));
        }
        if with_signature {
            map.insert("sig".to_owned(), Ipld::Bytes(self.sig.to_vec()));
        }
        Ipld::Map(map)
    }

    fn encode_ipld(value: &Ipld) -> Vec<u8> {
        // An IPLD map of strings, integers, links and bytes always encodes.
        data::to_dag_cbor(value).unwrap_or_default()
    }

    /// The bytes the signature covers: the commit without `sig`, as DAG-CBOR.
    pub fn unsigned_bytes(&self) -> Vec<u8> {
        Self::encode_ipld(&self.to_ipld(false))
    }

    /// The commit block (with `sig`).
    pub fn encode(&self) -> Vec<u8> {
        Self::encode_ipld(&self.to_ipld(true))
    }

    /// The commit block and its CID.
    pub fn to_block(&self) -> (Cid, Bytes) {
        let bytes = self.encode();
        (cid_for_dag_cbor(&bytes), Bytes::from(bytes))
    }

    /// Signs the commit (replacing any signature).
    pub fn sign(&mut self, keypair: &Keypair) {
        self.sig = Bytes::from(keypair.sign(&self.unsigned_bytes()));
    }

    /// Checks the signature against `key` (strict: compact, low-S).
    pub fn verify(&self, key: &PublicKey) -> Result<(), CommitError> {
        key.verify(&self.unsigned_bytes(), &self.sig)?;
        Ok(())
    }

    /// Checks that the commit is for `did`.
    pub fn check_did(&self, did: &str) -> Result<(), CommitError> {
        if self.did == did {
            Ok(())
        } else {
            Err(CommitError::DidMismatch {
                expected: did.to_owned(),
                found: self.did.clone(),
            })
        }
    }

    /// Checks both that the commit is for `did` and that `key` signed it.
    pub fn verify_for(&self, did: &str, key: &PublicKey) -> Result<(), CommitError> {
        self.check_did(did)?;
        self.verify(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyAlgorithm;
    use crate::test_fixtures::read_fixture;

    #[test]
    fn a_real_commit_round_trips_byte_for_byte() {
        let bytes = read_fixture("real/shrike/commit.cbor");
        let commit = Commit::decode(&bytes).unwrap();
        assert_eq!(commit.version, 3);
        assert!(commit.did.starts_with("did:"));
        assert!(commit.rev.is_some());
        assert_eq!(commit.sig.len(), 64);
        assert_eq!(commit.encode(), bytes);
        // The unsigned bytes are the block minus the `sig` entry.
        assert!(commit.unsigned_bytes().len() < bytes.len());
    }

    #[test]
    fn signing_and_verifying_on_both_curves() {
        let data = cid_for_dag_cbor(b"\xa0");
        for algorithm in [KeyAlgorithm::K256, KeyAlgorithm::P256] {
            let keypair = Keypair::generate(algorithm);
            let mut commit = Commit::new("did:plc:abc", data, "3kaaaaaaaaaaa", None);
            commit.sign(&keypair);
            commit.verify(&keypair.public_key()).unwrap();
            let decoded = Commit::decode(&commit.encode()).unwrap();
            assert_eq!(decoded, commit);
            decoded.verify(&keypair.public_key()).unwrap();
            // Any change breaks the signature.
            let mut tampered = decoded.clone();
            tampered.rev = Some("3kaaaaaaaaaab".to_owned());
            assert!(tampered.verify(&keypair.public_key()).is_err());
            let other = Keypair::generate(algorithm);
            assert!(decoded.verify(&other.public_key()).is_err());
        }
    }

    #[test]
    fn the_did_is_checked_when_asked() {
        let keypair = Keypair::generate(KeyAlgorithm::K256);
        let mut commit = Commit::new(
            "did:plc:abc",
            cid_for_dag_cbor(b"\xa0"),
            "3kaaaaaaaaaaa",
            None,
        );
        commit.sign(&keypair);
        commit
            .verify_for("did:plc:abc", &keypair.public_key())
            .unwrap();
        assert!(matches!(
            commit.verify_for("did:plc:other", &keypair.public_key()),
            Err(CommitError::DidMismatch { .. })
        ));
    }

    #[test]
    fn malformed_commits_are_typed_errors() {
        let data = Ipld::Link(cid_for_dag_cbor(b"\xa0"));
        let encode = |pairs: Vec<(&str, Ipld)>| {
            let map: BTreeMap<String, Ipld> =
                pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            data::to_dag_cbor(&Ipld::Map(map)).unwrap()
        };
        let base = || {
            vec![
                ("did", Ipld::String("did:plc:abc".into())),
                ("version", Ipld::Integer(3)),
                ("data", data.clone()),
                ("rev", Ipld::String("3kaaaaaaaaaaa".into())),
                ("prev", Ipld::Null),
                ("sig", Ipld::Bytes(vec![0; 64])),
            ]
        };
        assert!(Commit::decode(&encode(base())).is_ok());
        let without = |field: &str| -> Vec<(&str, Ipld)> {
            base().into_iter().filter(|(k, _)| *k != field).collect()
        };
        assert!(matches!(
            Commit::decode(&encode(without("rev"))),
            Err(CommitError::MissingField("rev"))
        ));
        assert!(matches!(
            Commit::decode(&encode(without("sig"))),
            Err(CommitError::MissingField("sig"))
        ));
        let mut v9 = base();
        v9[1].1 = Ipld::Integer(9);
        assert!(matches!(
            Commit::decode(&encode(v9)),
            Err(CommitError::UnsupportedVersion(9))
        ));
        let mut bad_data = base();
        bad_data[2].1 = Ipld::String("nope".into());
        assert!(matches!(
            Commit::decode(&encode(bad_data)),
            Err(CommitError::WrongType("data"))
        ));
        assert!(matches!(
            Commit::decode(b"\x01"),
            Err(CommitError::Decode(_))
        ));
        // Version 2 needs no rev; unknown fields survive a round trip.
        let mut v2 = without("rev");
        v2[1].1 = Ipld::Integer(2);
        v2.push(("future", Ipld::Bool(true)));
        let bytes = encode(v2);
        let commit = Commit::decode(&bytes).unwrap();
        assert_eq!(commit.version, 2);
        assert_eq!(commit.encode(), bytes);
    }
}
