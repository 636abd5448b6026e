//! Keys and signatures: `did:key` / Multikey public keys, strict verification and signing.
//!
//! atproto signs with ECDSA over SHA-256 on two curves: secp256k1 (`ES256K`, k256) and NIST P-256
//! (`ES256`, p256). Signatures are the 64-byte compact `r || s` form, and only low-S signatures are
//! valid: a high-S or DER-encoded signature is rejected even when it is mathematically correct.

use k256::ecdsa::signature::Verifier as _;
use std::fmt;

/// Multicodec varint prefix of a compressed secp256k1 public key (`0xe7`).
const K256_PREFIX: [u8; 2] = [0xe7, 0x01];
/// Multicodec varint prefix of a compressed P-256 public key (`0x1200`).
const P256_PREFIX: [u8; 2] = [0x80, 0x24];
/// Length of a compact `r || s` signature.
const SIGNATURE_LEN: usize = 64;

/// Why a key could not be parsed or a signature did not verify.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The string is not `did:key:z…`.
    #[error("not a did:key: {0:?}")]
    NotDidKey(String),
    /// The multibase text could not be decoded (atproto keys are base58btc, prefix `z`).
    #[error("invalid multibase key {0:?}")]
    Multibase(String),
    /// The key names a codec other than secp256k1 or P-256.
    #[error("unsupported key type (multicodec prefix {0:02x?})")]
    UnsupportedKeyType(Vec<u8>),
    /// The key bytes are not a point on the curve.
    #[error("invalid {algorithm} public key: {reason}")]
    InvalidKey {
        /// The curve.
        algorithm: KeyAlgorithm,
        /// What is wrong.
        reason: String,
    },
    /// A secret key is out of range.
    #[error("invalid {0} secret key")]
    InvalidSecretKey(KeyAlgorithm),
    /// The signature is not 64 bytes (DER-encoded signatures land here).
    #[error("signature is {0} bytes; atproto requires the 64-byte compact form (DER is rejected)")]
    SignatureLength(usize),
    /// The signature is not in low-S form.
    #[error("signature is not low-S (atproto rejects high-S signatures)")]
    HighS,
    /// The signature does not verify against the key.
    #[error("signature does not verify against {0}")]
    BadSignature(String),
}

/// The two curves atproto uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// secp256k1 (`ES256K`).
    K256,
    /// NIST P-256 (`ES256`).
    P256,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::K256 => "secp256k1",
            Self::P256 => "P-256",
        })
    }
}

/// A public signing key.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// secp256k1.
    K256(k256::ecdsa::VerifyingKey),
    /// P-256.
    P256(p256::ecdsa::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_did_key())
    }
}

impl PublicKey {
    /// Parses `did:key:z…`.
    pub fn from_did_key(did_key: &str) -> Result<Self, CryptoError> {
        let multibase = did_key
            .strip_prefix("did:key:")
            .ok_or_else(|| CryptoError::NotDidKey(did_key.to_owned()))?;
        Self::from_multibase(multibase)
    }

    /// Parses a Multikey `publicKeyMultibase` value: `z` + base58btc(multicodec prefix + key).
    pub fn from_multibase(multibase: &str) -> Result<Self, CryptoError> {
        let bytes = decode_base58btc(multibase)?;
        if let Some(key) = bytes.strip_prefix(&K256_PREFIX) {
            Self::from_sec1(KeyAlgorithm::K256, key)
        } else if let Some(key) = bytes.strip_prefix(&P256_PREFIX) {
            Self::from_sec1(KeyAlgorithm::P256, key)
        } else {
            Err(CryptoError::UnsupportedKeyType(
                bytes.iter().take(2).copied().collect(),
            ))
        }
    }

    /// Parses a legacy DID document key (`EcdsaSecp256k1VerificationKey2019` /
    /// `EcdsaSecp256r1VerificationKey2019`): base58btc of the bare SEC1 point, no multicodec.
    pub fn from_legacy_multibase(
        algorithm: KeyAlgorithm,
        multibase: &str,
    ) -> Result<Self, CryptoError> {
        let bytes = decode_base58btc(multibase)?;
        Self::from_sec1(algorithm, &bytes)
    }

    /// Builds a key from a SEC1-encoded point (compressed or uncompressed).
    pub fn from_sec1(algorithm: KeyAlgorithm, bytes: &[u8]) -> Result<Self, CryptoError> {
        let invalid = |e: k256::ecdsa::Error| CryptoError::InvalidKey {
            algorithm,
            reason: e.to_string(),
        };
        Ok(match algorithm {
            KeyAlgorithm::K256 => {
                Self::K256(k256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(invalid)?)
            }
            KeyAlgorithm::P256 => {
                Self::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(invalid)?)
            }
        })
    }

    /// The curve of this key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::K256(_) => KeyAlgorithm::K256,
            Self::P256(_) => KeyAlgorithm::P256,
        }
    }

    /// The compressed SEC1 point.
    pub fn to_sec1_compressed(&self) -> Vec<u8> {
        match self {
            Self::K256(key) => key.to_sec1_point(true).as_bytes().to_vec(),
            Self::P256(key) => key.to_sec1_point(true).as_bytes().to_vec(),
        }
    }

    /// The Multikey form: `z` + base58btc(multicodec prefix + compressed point).
    pub fn to_multibase(&self) -> String {
        let prefix = match self {
            Self::K256(_) => K256_PREFIX,
            Self::P256(_) => P256_PREFIX,
        };
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&self.to_sec1_compressed());
        multibase::encode(multibase::Base::Base58Btc, bytes)
    }

    /// The `did:key:` form.
    pub fn to_did_key(&self) -> String {
        format!("did:key:{}", self.to_multibase())
    }

    /// Verifies a signature over `message` (hashed with SHA-256): 64-byte compact, low-S only.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        if signature.len() != SIGNATURE_LEN {
            return Err(CryptoError::SignatureLength(signature.len()));
        }
        let bad = |_| CryptoError::BadSignature(self.to_did_key());
        match self {
            Self::K256(key) => {
                let sig = k256::ecdsa::Signature::from_slice(signature).map_err(bad)?;
                if sig.normalize_s() != sig {
                    return Err(CryptoError::HighS);
                }
                key.verify(message, &sig).map_err(bad)
            }
            Self::P256(key) => {
                let sig = p256::ecdsa::Signature::from_slice(signature).map_err(bad)?;
                if sig.normalize_s() != sig {
                    return Err(CryptoError::HighS);
                }
                key.verify(message, &sig).map_err(bad)
            }
        }
    }
}

fn decode_base58btc(multibase: &str) -> Result<Vec<u8>, CryptoError> {
    match multibase::decode(multibase) {
        Ok((multibase::Base::Base58Btc, bytes)) => Ok(bytes),
        _ => Err(CryptoError::Multibase(multibase.to_owned())),
    }
}

/// A signing key pair.
#[derive(Clone)]
pub enum Keypair {
    /// secp256k1.
    K256(k256::ecdsa::SigningKey),
    /// P-256.
    P256(p256::ecdsa::SigningKey),
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secret material.
        write!(f, "Keypair({})", self.public_key().to_did_key())
    }
}

impl Keypair {
    /// A fresh random key pair.
    pub fn generate(algorithm: KeyAlgorithm) -> Self {
        Self::generate_with(algorithm, &mut rand::rng())
    }

    /// A key pair drawn from `rng` (deterministic for a seeded RNG).
    pub fn generate_with<R: rand::Rng + ?Sized>(algorithm: KeyAlgorithm, rng: &mut R) -> Self {
        loop {
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            // Out-of-range scalars (probability ~2^-128) are simply drawn again.
            if let Ok(pair) = Self::from_secret_bytes(algorithm, &secret) {
                return pair;
            }
        }
    }

    /// A key pair from its 32-byte secret scalar.
    pub fn from_secret_bytes(algorithm: KeyAlgorithm, secret: &[u8]) -> Result<Self, CryptoError> {
        let invalid = |_| CryptoError::InvalidSecretKey(algorithm);
        Ok(match algorithm {
            KeyAlgorithm::K256 => {
                Self::K256(k256::ecdsa::SigningKey::from_slice(secret).map_err(invalid)?)
            }
            KeyAlgorithm::P256 => {
                Self::P256(p256::ecdsa::SigningKey::from_slice(secret).map_err(invalid)?)
            }
        })
    }

    /// The 32-byte secret scalar (key material: handle with care).
    pub fn secret_bytes(&self) -> Vec<u8> {
        match self {
            Self::K256(key) => key.to_bytes().to_vec(),
            Self::P256(key) => key.to_bytes().to_vec(),
        }
    }

    /// The curve of this key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public_key().algorithm()
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::K256(key) => PublicKey::K256(*key.verifying_key()),
            Self::P256(key) => PublicKey::P256(*key.verifying_key()),
        }
    }

    /// Signs `message` (hashed with SHA-256), returning the 64-byte compact low-S signature.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use k256::ecdsa::signature::Signer as _;
        match self {
            Self::K256(key) => {
                let sig: k256::ecdsa::Signature = key.sign(message);
                sig.normalize_s().to_bytes().to_vec()
            }
            Self::P256(key) => {
                let sig: p256::ecdsa::Signature = key.sign(message);
                sig.normalize_s().to_bytes().to_vec()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::read_fixture;
    use base64::Engine as _;

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SignatureCase {
        comment: String,
        message_base64: String,
        algorithm: String,
        public_key_did: String,
        public_key_multibase: String,
        signature_base64: String,
        valid_signature: bool,
        tags: Vec<String>,
    }

    fn b64(text: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text.trim_end_matches('='))
            .unwrap()
    }

    #[test]
    fn signature_fixtures_give_the_expected_verdicts() {
        let cases: Vec<SignatureCase> = serde_json::from_slice(&read_fixture(
            "interop-tests/crypto/signature-fixtures.json",
        ))
        .unwrap();
        assert_eq!(cases.len(), 6);
        let mut tags_seen = std::collections::BTreeSet::new();
        for case in &cases {
            let key = PublicKey::from_did_key(&case.public_key_did).unwrap();
            let expected_algorithm = match case.algorithm.as_str() {
                "ES256K" => KeyAlgorithm::K256,
                "ES256" => KeyAlgorithm::P256,
                other => panic!("unknown algorithm {other}"),
            };
            assert_eq!(key.algorithm(), expected_algorithm);
            // The bare multibase is the legacy form of the same key.
            let legacy =
                PublicKey::from_legacy_multibase(expected_algorithm, &case.public_key_multibase)
                    .unwrap();
            assert_eq!(legacy, key);
            let verdict = key.verify(&b64(&case.message_base64), &b64(&case.signature_base64));
            assert_eq!(verdict.is_ok(), case.valid_signature, "{}", case.comment);
            for tag in &case.tags {
                tags_seen.insert(tag.clone());
                let error = verdict.clone().unwrap_err();
                match tag.as_str() {
                    "high-s" => assert_eq!(error, CryptoError::HighS),
                    "der-encoded" => assert!(matches!(error, CryptoError::SignatureLength(_))),
                    other => panic!("unknown tag {other}"),
                }
            }
        }
        assert_eq!(
            tags_seen.len(),
            2,
            "both the high-s and der-encoded cases ran"
        );
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct DidKeyCase {
        private_key_bytes_hex: Option<String>,
        private_key_bytes_base58: Option<String>,
        public_did_key: String,
    }

    fn check_did_key_cases(file: &str, algorithm: KeyAlgorithm) -> usize {
        let cases: Vec<DidKeyCase> = serde_json::from_slice(&read_fixture(file)).unwrap();
        for case in &cases {
            let secret = match (&case.private_key_bytes_hex, &case.private_key_bytes_base58) {
                (Some(hex), _) => data_encoding::HEXLOWER_PERMISSIVE
                    .decode(hex.as_bytes())
                    .unwrap(),
                (None, Some(b58)) => multibase::Base::Base58Btc.decode(b58).unwrap(),
                _ => panic!("case without a private key"),
            };
            let pair = Keypair::from_secret_bytes(algorithm, &secret).unwrap();
            assert_eq!(pair.public_key().to_did_key(), case.public_did_key);
            let parsed = PublicKey::from_did_key(&case.public_did_key).unwrap();
            assert_eq!(parsed, pair.public_key());
        }
        cases.len()
    }

    #[test]
    fn w3c_did_key_vectors_derive_the_expected_keys() {
        assert!(
            check_did_key_cases(
                "interop-tests/crypto/w3c_didkey_K256.json",
                KeyAlgorithm::K256
            ) >= 1
        );
        assert_eq!(
            check_did_key_cases(
                "interop-tests/crypto/w3c_didkey_P256.json",
                KeyAlgorithm::P256
            ),
            1
        );
    }

    #[test]
    fn signing_produces_low_s_signatures_that_verify() {
        for algorithm in [KeyAlgorithm::K256, KeyAlgorithm::P256] {
            let pair = Keypair::generate(algorithm);
            for i in 0..32u8 {
                let message = [i; 17];
                let signature = pair.sign(&message);
                assert_eq!(signature.len(), 64);
                pair.public_key().verify(&message, &signature).unwrap();
                assert!(matches!(
                    pair.public_key().verify(b"other", &signature),
                    Err(CryptoError::BadSignature(_))
                ));
            }
        }
    }

    #[test]
    fn malformed_keys_are_typed_errors() {
        assert!(matches!(
            PublicKey::from_did_key("did:plc:abc"),
            Err(CryptoError::NotDidKey(_))
        ));
        assert!(matches!(
            PublicKey::from_did_key("did:key:zzzz0OIl"),
            Err(CryptoError::Multibase(_))
        ));
        // Ed25519 (0xed01) is not an atproto signing key.
        let ed = multibase::encode(multibase::Base::Base58Btc, [0xed, 0x01, 1, 2, 3]);
        assert!(matches!(
            PublicKey::from_multibase(&ed),
            Err(CryptoError::UnsupportedKeyType(_))
        ));
    }
}
