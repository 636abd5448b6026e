//! DID documents: what an account's identity says about its signing key, its PDS and its handle.
//!
//! Only parsing lives here; resolving a DID over the network (PLC directory, did:web) is the
//! identity service's job.

use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, KeyAlgorithm, PublicKey};

/// Why a DID document does not give what was asked of it.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The document is not valid JSON of the expected shape.
    #[error("invalid DID document: {0}")]
    Invalid(String),
    /// The document has no such verification method (`#atproto`, `#atproto_label`).
    #[error("DID document of {did} has no #{fragment} key")]
    NoKey {
        /// The document's DID.
        did: String,
        /// The verification method asked for.
        fragment: String,
    },
    /// The key could not be parsed.
    #[error("DID document of {did}: bad #{fragment} key: {source}")]
    BadKey {
        /// The document's DID.
        did: String,
        /// The verification method.
        fragment: String,
        /// Why the key failed.
        source: CryptoError,
    },
}

/// A DID document, as served by the PLC directory or a did:web host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidDocument {
    /// The DID this document describes.
    pub id: String,
    /// Other names of the subject; `at://<handle>` entries claim handles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_known_as: Vec<String>,
    /// Public keys.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub verification_method: Vec<VerificationMethod>,
    /// Service endpoints.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub service: Vec<Service>,
}

/// A public key entry of a DID document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMethod {
    /// `#atproto` or `<did>#atproto`.
    pub id: String,
    /// `Multikey`, or a legacy `EcdsaSecp256k1VerificationKey2019` / `…r1…`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The controlling DID.
    #[serde(default)]
    pub controller: String,
    /// The key, multibase-encoded.
    #[serde(default)]
    pub public_key_multibase: Option<String>,
}

/// A service entry of a DID document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// `#atproto_pds` or `<did>#atproto_pds`.
    pub id: String,
    /// `AtprotoPersonalDataServer` for the PDS.
    #[serde(rename = "type")]
    pub kind: String,
    /// The endpoint URL (a string for the services atproto uses).
    pub service_endpoint: serde_json::Value,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

impl DidDocument {
    /// Parses a DID document from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, IdentityError> {
        serde_json::from_slice(bytes).map_err(|e| IdentityError::Invalid(e.to_string()))
    }

    /// True when `id` names this document's fragment `name` (`#name` or `<did>#name`).
    fn is_fragment(&self, id: &str, name: &str) -> bool {
        match id.split_once('#') {
            Some((prefix, fragment)) => {
                fragment == name && (prefix.is_empty() || prefix == self.id)
            }
            None => false,
        }
    }

    /// The account's repo signing key: the `#atproto` verification method.
    pub fn signing_key(&self) -> Result<PublicKey, IdentityError> {
        self.verification_key("atproto")
    }

    /// A labeler's label signing key: the `#atproto_label` verification method.
    pub fn label_key(&self) -> Result<PublicKey, IdentityError> {
        self.verification_key("atproto_label")
    }

    /// The key of the verification method `#<fragment>` (`Multikey`, or the legacy
    /// `EcdsaSecp256k1VerificationKey2019` / `EcdsaSecp256r1VerificationKey2019` forms that the
    /// PLC directory still serves).
    pub fn verification_key(&self, fragment: &str) -> Result<PublicKey, IdentityError> {
        let method = self
            .verification_method
            .iter()
            .find(|m| self.is_fragment(&m.id, fragment))
            .ok_or_else(|| IdentityError::NoKey {
                did: self.id.clone(),
                fragment: fragment.to_owned(),
            })?;
        let multibase =
            method
                .public_key_multibase
                .as_deref()
                .ok_or_else(|| IdentityError::NoKey {
                    did: self.id.clone(),
                    fragment: fragment.to_owned(),
                })?;
        let bad_key = |source| IdentityError::BadKey {
            did: self.id.clone(),
            fragment: fragment.to_owned(),
            source,
        };
        match method.kind.as_str() {
            "EcdsaSecp256k1VerificationKey2019" => {
                PublicKey::from_legacy_multibase(KeyAlgorithm::K256, multibase).map_err(bad_key)
            }
            "EcdsaSecp256r1VerificationKey2019" => {
                PublicKey::from_legacy_multibase(KeyAlgorithm::P256, multibase).map_err(bad_key)
            }
            _ => PublicKey::from_multibase(multibase).map_err(bad_key),
        }
    }

    /// The account's PDS endpoint: the `#atproto_pds` service of type `AtprotoPersonalDataServer`.
    pub fn pds_endpoint(&self) -> Option<&str> {
        self.service
            .iter()
            .find(|s| {
                self.is_fragment(&s.id, "atproto_pds") && s.kind == "AtprotoPersonalDataServer"
            })
            .and_then(|s| s.service_endpoint.as_str())
    }

    /// The handle the document claims: the first `at://` entry of `alsoKnownAs`, lower-cased.
    /// A claim is not proof: verify it by resolving the handle back to this DID.
    pub fn claimed_handle(&self) -> Option<String> {
        self.also_known_as
            .iter()
            .find_map(|aka| aka.strip_prefix("at://"))
            .map(str::to_ascii_lowercase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::read_fixture;

    #[test]
    fn current_plc_document() {
        let doc =
            DidDocument::from_json(&read_fixture("indigo/identity/did_plc_doc.json")).unwrap();
        assert_eq!(doc.id, "did:plc:ewvi7nxzyoun6zhxrhs64oiz");
        assert_eq!(doc.claimed_handle().as_deref(), Some("atproto.com"));
        assert_eq!(doc.pds_endpoint(), Some("https://bsky.social"));
        let key = doc.signing_key().unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::K256);
        assert_eq!(
            key.to_multibase(),
            "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"
        );
    }

    #[test]
    fn legacy_plc_document_gives_the_same_key() {
        let legacy =
            DidDocument::from_json(&read_fixture("indigo/identity/did_plc_doc_legacy.json"))
                .unwrap();
        let current =
            DidDocument::from_json(&read_fixture("indigo/identity/did_plc_doc.json")).unwrap();
        assert_eq!(
            legacy.signing_key().unwrap(),
            current.signing_key().unwrap()
        );
    }

    #[test]
    fn web_document_without_keys() {
        let doc =
            DidDocument::from_json(&read_fixture("indigo/identity/did_web_doc.json")).unwrap();
        assert_eq!(doc.id, "did:web:discover.bsky.social");
        assert!(matches!(
            doc.signing_key(),
            Err(IdentityError::NoKey { .. })
        ));
        assert_eq!(
            doc.pds_endpoint(),
            None,
            "a feed generator service is not a PDS"
        );
        assert_eq!(doc.claimed_handle(), None);
    }

    #[test]
    fn real_repo_documents_parse() {
        for name in [
            "real/indigo/greenground.didDoc.json",
            "real/indigo/paul_staging.didDoc.json",
            "real/indigo/fakermaker.didDoc.json",
            "real/indigo/did_plc_z5vnbioquyhivxirw3bbljmu.didDoc.json",
        ] {
            let doc = DidDocument::from_json(&read_fixture(name)).unwrap();
            doc.signing_key().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_fragment_of_another_did_is_not_ours() {
        let doc = DidDocument::from_json(
            br#"{"id":"did:plc:a","verificationMethod":[{"id":"did:plc:b#atproto","type":"Multikey","controller":"did:plc:b","publicKeyMultibase":"zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"}]}"#,
        )
        .unwrap();
        assert!(matches!(
            doc.signing_key(),
            Err(IdentityError::NoKey { .. })
        ));
    }

    #[test]
    fn a_labeler_key_in_the_legacy_form_is_found() {
        // The shape the PLC directory serves for an ozone labeler: both keys in the legacy
        // `EcdsaSecp256k1VerificationKey2019` form (uncompressed points, no multicodec prefix).
        let doc = DidDocument::from_json(
            br##"{"id":"did:plc:ibowctdkgn53k5zjojmaoi72","verificationMethod":[
                {"id":"#atproto","type":"EcdsaSecp256k1VerificationKey2019","controller":"did:plc:ibowctdkgn53k5zjojmaoi72","publicKeyMultibase":"zNKaR23QgrvjTHPBCQUoN4DhsEBoxJ5nHG7X1XDckETgBgbgkb8eeudke6xJo9zjKimnA1LzJ3696cQtfTaNg8VL8"},
                {"id":"#atproto_label","type":"EcdsaSecp256k1VerificationKey2019","controller":"did:plc:ibowctdkgn53k5zjojmaoi72","publicKeyMultibase":"zPnh1W1JZFJbXGrDZdMNB3zuYCh1xgHrxs9U6LVwokxAjpxG7aY7nWkGbEuQTqzLG5NwBcER6vxEkQUM4kZnf2dC1"}]}"##,
        )
        .unwrap();
        let label = doc.label_key().unwrap();
        let signing = doc.signing_key().unwrap();
        assert_ne!(label, signing, "two different keys");
        let missing = DidDocument::from_json(br#"{"id":"did:plc:a","verificationMethod":[]}"#)
            .unwrap()
            .label_key()
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "DID document of did:plc:a has no #atproto_label key"
        );
    }
}
