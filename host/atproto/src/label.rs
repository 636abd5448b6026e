//! Labels (`com.atproto.label.defs#label`) and their signatures.
//!
//! A labeler signs the DAG-CBOR encoding of the label without its `sig` field, with the key named
//! `#atproto_label` in its DID document.

use serde::{Deserialize, Serialize};
use serde_bytes_compat::OptionalBytes;

use crate::crypto::{CryptoError, PublicKey};
use crate::data::{DataError, to_dag_cbor};

/// Why a label could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The label has no signature.
    #[error("label {val:?} on {uri} is not signed")]
    Unsigned {
        /// The label value.
        val: String,
        /// The subject.
        uri: String,
    },
    /// The signature does not verify.
    #[error("label {val:?} on {uri}: {source}")]
    BadSignature {
        /// The label value.
        val: String,
        /// The subject.
        uri: String,
        /// Why.
        source: CryptoError,
    },
    /// The label could not be encoded for checking.
    #[error(transparent)]
    Encode(#[from] DataError),
}

/// A label, as carried by `subscribeLabels` and `queryLabels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Label format version (1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<i64>,
    /// The labeler's DID.
    pub src: String,
    /// The subject: an AT-URI (record) or a DID (account).
    pub uri: String,
    /// The subject record's CID, when the label is about one version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// The label value (e.g. `porn`, `!hide`).
    pub val: String,
    /// True when this negates an earlier label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neg: Option<bool>,
    /// Creation time.
    pub cts: String,
    /// Expiry time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<String>,
    /// The signature (64-byte compact ECDSA).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "OptionalBytes"
    )]
    pub sig: Option<Vec<u8>>,
}

impl Label {
    /// True when the label negates an earlier one.
    pub fn is_negation(&self) -> bool {
        self.neg.unwrap_or(false)
    }

    /// The bytes the labeler signed: the DAG-CBOR encoding of the label without `sig`.
    pub fn signing_bytes(&self) -> Result<Vec<u8>, DataError> {
        let unsigned = Label {
            sig: None,
            ..self.clone()
        };
        to_dag_cbor(&unsigned)
    }

    /// Verifies the label's signature against the labeler's key.
    pub fn verify(&self, key: &PublicKey) -> Result<(), LabelError> {
        let sig = self.sig.as_deref().ok_or_else(|| LabelError::Unsigned {
            val: self.val.clone(),
            uri: self.uri.clone(),
        })?;
        key.verify(&self.signing_bytes()?, sig)
            .map_err(|source| LabelError::BadSignature {
                val: self.val.clone(),
                uri: self.uri.clone(),
                source,
            })
    }

    /// Signs the label with a labeler key (used by the devnet's labeler and by tests).
    pub fn sign(&mut self, key: &crate::crypto::Keypair) -> Result<(), DataError> {
        self.sig = Some(key.sign(&self.signing_bytes()?));
        Ok(())
    }
}

/// Serde glue: `Option<Vec<u8>>` as a CBOR byte string (not an array of integers).
mod serde_bytes_compat {
    use serde::{Deserialize, Deserializer, Serializer};

    /// `with = "OptionalBytes"` helper.
    pub(super) struct OptionalBytes;

    impl OptionalBytes {
        pub(super) fn serialize<S: Serializer>(
            value: &Option<Vec<u8>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(bytes) => serializer.serialize_bytes(bytes),
                None => serializer.serialize_none(),
            }
        }

        pub(super) fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Vec<u8>>, D::Error> {
            Ok(
                Option::<ipld_core::ipld::Ipld>::deserialize(deserializer)?.and_then(|v| match v {
                    ipld_core::ipld::Ipld::Bytes(b) => Some(b),
                    _ => None,
                }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{KeyAlgorithm, Keypair};
    use crate::data::from_dag_cbor;

    fn sample() -> Label {
        Label {
            ver: Some(1),
            src: "did:plc:labeler".into(),
            uri: "at://did:plc:alice/app.bsky.feed.post/3k2a".into(),
            cid: None,
            val: "porn".into(),
            neg: None,
            cts: "2024-01-01T00:00:00.000Z".into(),
            exp: None,
            sig: None,
        }
    }

    #[test]
    fn signed_labels_verify_and_tampering_is_caught() {
        let key = Keypair::generate(KeyAlgorithm::K256);
        let mut label = sample();
        assert!(matches!(
            label.verify(&key.public_key()),
            Err(LabelError::Unsigned { .. })
        ));
        label.sign(&key).unwrap();
        label.verify(&key.public_key()).unwrap();

        // Through DAG-CBOR and back, the signature still verifies.
        let bytes = to_dag_cbor(&label).unwrap();
        let decoded: Label = from_dag_cbor(&bytes).unwrap();
        assert_eq!(decoded, label);
        decoded.verify(&key.public_key()).unwrap();

        let mut tampered = label.clone();
        tampered.val = "nudity".into();
        assert!(matches!(
            tampered.verify(&key.public_key()),
            Err(LabelError::BadSignature { .. })
        ));
    }
}
