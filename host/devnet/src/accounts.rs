//! The accounts of the network: DIDs, handles, signing keys, what happens to each account over its
//! history, and the DID documents a PLC directory would serve for them.
//!
//! Everything is derived from `(seed, account index)`: the DID is `did:plc:` followed by 24 base32
//! characters drawn from the seed, the handle `<name>-<index>.<domain>`, the signing key a
//! secp256k1 key drawn from the seed. Account 0 is the network's labeler: its DID document also
//! has an `#atproto_label` key and an `#atproto_labeler` service.

use sluice_atproto::crypto::{KeyAlgorithm, Keypair};

use crate::draw::{Draw, Topic};

/// The handle domain of the network (`<name>-<n>.devnet.test`).
pub const HANDLE_DOMAIN: &str = "devnet.test";

/// Index of the labeler account.
pub const LABELER: u32 = 0;

const NAMES: [&str; 40] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "kai",
    "lena", "mallory", "niaj", "olivia", "peggy", "quinn", "rupert", "sybil", "trent", "uma",
    "victor", "wendy", "xena", "yusuf", "zoe", "akira", "bea", "chidi", "dara", "emeka", "fatima",
    "goran", "hana", "ines", "jonas", "kenji", "leila", "mateo", "noor",
];

/// How an account ends its history (what `listRepos` reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStatus {
    /// Active: its repo is served.
    Active,
    /// Deactivated by its owner: `getRepo` answers `RepoDeactivated`.
    Deactivated,
    /// Taken down by the host: `getRepo` answers `RepoTakendown`.
    Takendown,
}

impl FinalStatus {
    /// Whether the account is active.
    pub fn is_active(self) -> bool {
        self == Self::Active
    }

    /// The `status` string of `listRepos` / `#account` (`None` when active).
    pub fn status(self) -> Option<&'static str> {
        match self {
            Self::Active => None,
            Self::Deactivated => Some("deactivated"),
            Self::Takendown => Some("takendown"),
        }
    }
}

/// What happens to an account during the history, besides its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    /// The handle changes once (to [`Account::handle`]) after this fraction of the commits, in
    /// per-mille.
    pub handle_change_at: Option<u32>,
    /// The account is deactivated and reactivated after this fraction of the commits.
    pub pause_at: Option<u32>,
    /// The state after the last commit.
    pub final_status: FinalStatus,
}

/// One account (see the module docs).
#[derive(Debug, Clone)]
pub struct Account {
    /// Its index in the network (0 is the labeler).
    pub index: u32,
    /// `did:plc:…`.
    pub did: String,
    /// The handle it was created with.
    pub original_handle: String,
    /// Its handle at the end of the history (differs when the handle changes).
    pub handle: String,
    /// Its repo signing key.
    pub keypair: Keypair,
    /// The label signing key (the labeler only).
    pub label_keypair: Option<Keypair>,
    /// Handle changes, pauses and final status.
    pub lifecycle: Lifecycle,
    /// Its first name (for display names and texts).
    pub name: &'static str,
}

impl Account {
    /// Derives account `index` of the network `seed`.
    pub fn derive(seed: u64, index: u32) -> Self {
        let mut draw = Draw::new(seed, Topic::Account, u64::from(index), 0, 0);
        let mut id = [0u8; 15];
        rand::RngCore::fill_bytes(&mut draw, &mut id);
        let did = format!(
            "did:plc:{}",
            data_encoding::BASE32_NOPAD.encode(&id).to_ascii_lowercase()
        );
        let name = *draw.pick(&NAMES);
        let original_handle = format!("{name}-{index}.{HANDLE_DOMAIN}");
        let labeler = index == LABELER;
        let handle_change_at = (!labeler && draw.chance(15)).then(|| draw.range(100, 900) as u32);
        let handle = match handle_change_at {
            Some(_) => format!("{}-{index}-renamed.{HANDLE_DOMAIN}", draw.pick(&NAMES)),
            None => original_handle.clone(),
        };
        let pause_at = (!labeler && draw.chance(20)).then(|| draw.range(100, 900) as u32);
        let final_status = match draw.below(1000) {
            _ if labeler => FinalStatus::Active,
            0..10 => FinalStatus::Deactivated,
            10..15 => FinalStatus::Takendown,
            _ => FinalStatus::Active,
        };
        let mut keys = Draw::new(seed, Topic::Key, u64::from(index), 0, 0);
        let keypair = Keypair::generate_with(KeyAlgorithm::K256, &mut keys);
        let label_keypair = labeler.then(|| Keypair::generate_with(KeyAlgorithm::K256, &mut keys));
        Self {
            index,
            did,
            original_handle,
            handle,
            keypair,
            label_keypair,
            lifecycle: Lifecycle {
                handle_change_at,
                pause_at,
                final_status,
            },
            name,
        }
    }

    /// The DID document a PLC directory serves for this account, with `pds` as its PDS (and
    /// labeler) endpoint.
    pub fn did_document(&self, pds: &str) -> serde_json::Value {
        let method = |fragment: &str, key: &Keypair| {
            serde_json::json!({
                "id": format!("{}#{fragment}", self.did),
                "type": "Multikey",
                "controller": self.did,
                "publicKeyMultibase": key.public_key().to_multibase(),
            })
        };
        let mut methods = vec![method("atproto", &self.keypair)];
        let mut services = vec![serde_json::json!({
            "id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": pds,
        })];
        if let Some(label_key) = &self.label_keypair {
            methods.push(method("atproto_label", label_key));
            services.push(serde_json::json!({
                "id": "#atproto_labeler",
                "type": "AtprotoLabeler",
                "serviceEndpoint": pds,
            }));
        }
        serde_json::json!({
            "@context": [
                "https://www.w3.org/ns/did/v1",
                "https://w3id.org/security/multikey/v1",
                "https://w3id.org/security/suites/secp256k1-2019/v1"
            ],
            "id": self.did,
            "alsoKnownAs": [format!("at://{}", self.handle)],
            "verificationMethod": methods,
            "service": services,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_atproto::identity::DidDocument;
    use sluice_atproto::syntax::{Did, Handle};

    #[test]
    fn accounts_are_deterministic_and_distinct() {
        let a = Account::derive(1, 5);
        let b = Account::derive(1, 5);
        assert_eq!(a.did, b.did);
        assert_eq!(a.handle, b.handle);
        assert_eq!(a.keypair.secret_bytes(), b.keypair.secret_bytes());
        let other_seed = Account::derive(2, 5);
        assert_ne!(a.did, other_seed.did);
        assert_ne!(a.did, Account::derive(1, 6).did);
    }

    #[test]
    fn dids_and_handles_are_valid() {
        for index in 0..200 {
            let account = Account::derive(3, index);
            let did = Did::parse(&account.did).unwrap();
            did.check_strict_plc().unwrap();
            Handle::parse(&account.handle).unwrap();
            Handle::parse(&account.original_handle).unwrap();
        }
    }

    #[test]
    fn the_did_document_names_the_key_the_pds_and_the_handle() {
        let account = Account::derive(9, 3);
        let json = account.did_document("http://127.0.0.1:1234");
        let doc = DidDocument::from_json(json.to_string().as_bytes()).unwrap();
        assert_eq!(doc.signing_key().unwrap(), account.keypair.public_key());
        assert_eq!(doc.pds_endpoint(), Some("http://127.0.0.1:1234"));
        assert_eq!(
            doc.claimed_handle().as_deref(),
            Some(account.handle.as_str())
        );
    }

    #[test]
    fn only_the_labeler_has_a_label_key() {
        let labeler = Account::derive(4, LABELER);
        let label_key = labeler.label_keypair.as_ref().unwrap();
        assert_ne!(
            label_key.public_key().to_multibase(),
            labeler.keypair.public_key().to_multibase()
        );
        let doc = labeler.did_document("http://x").to_string();
        assert!(doc.contains("#atproto_labeler"));
        assert!(Account::derive(4, 1).label_keypair.is_none());
    }

    #[test]
    fn some_accounts_change_handle_pause_or_end_inactive() {
        let accounts: Vec<Account> = (0..2000).map(|i| Account::derive(5, i)).collect();
        let renamed = accounts
            .iter()
            .filter(|a| a.handle != a.original_handle)
            .count();
        let paused = accounts
            .iter()
            .filter(|a| a.lifecycle.pause_at.is_some())
            .count();
        let inactive = accounts
            .iter()
            .filter(|a| !a.lifecycle.final_status.is_active())
            .count();
        assert!((10..60).contains(&renamed), "{renamed}");
        assert!((15..70).contains(&paused), "{paused}");
        assert!((10..60).contains(&inactive), "{inactive}");
    }
}
