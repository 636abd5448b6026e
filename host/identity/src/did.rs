//! Fetching DID documents: `did:plc` from the PLC directory, `did:web` from the named host.

use reqwest::StatusCode;
use sluice_atproto::identity::DidDocument;

use crate::config::IdentityConfig;
use crate::http::{BodyError, read_limited};

/// Why a DID could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Not a DID this resolver handles (malformed, another method, a did:web path or port).
    #[error("cannot resolve {did:?}: {reason}")]
    UnsupportedDid {
        /// The DID as given.
        did: String,
        /// Why.
        reason: &'static str,
    },
    /// The directory or host has no document for it (HTTP 404).
    #[error("{0} not found")]
    NotFound(String),
    /// The DID was deactivated for good (PLC tombstone, HTTP 410).
    #[error("{0} is tombstoned")]
    Tombstoned(String),
    /// A document came back but is not a valid DID document for this DID.
    #[error("bad DID document for {did}: {reason}")]
    BadDocument {
        /// The DID.
        did: String,
        /// What is wrong.
        reason: String,
    },
    /// The request failed (connection, timeout, TLS, or an unexpected HTTP status).
    #[error("resolving {did}: {reason}")]
    Network {
        /// The DID.
        did: String,
        /// What failed.
        reason: String,
    },
}

impl ResolveError {
    /// True when retrying later may succeed (network trouble), false when the answer is final.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Network { .. })
    }
}

/// A resolved DID document: parsed, and as served (kept whole for the cache, so that fields
/// Sluice does not model, like `@context`, survive).
#[derive(Debug, Clone)]
pub struct ResolvedDid {
    /// The parsed document.
    pub document: DidDocument,
    /// The document as served.
    pub raw: serde_json::Value,
}

/// Resolves DIDs over HTTP, without caching.
#[derive(Clone)]
pub struct DidResolver {
    http: reqwest::Client,
    plc_url: String,
    allow_insecure_did_web: bool,
}

impl DidResolver {
    /// A resolver using `http` (see [`crate::http_client`]) and `config`'s PLC URL.
    pub fn new(http: reqwest::Client, config: &IdentityConfig) -> Self {
        Self {
            http,
            plc_url: config.plc_url.trim_end_matches('/').to_owned(),
            allow_insecure_did_web: config.allow_insecure_did_web,
        }
    }

    /// Where the document of `did` is fetched from.
    pub fn document_url(&self, did: &str) -> Result<String, ResolveError> {
        let unsupported = |reason| ResolveError::UnsupportedDid {
            did: did.to_owned(),
            reason,
        };
        if let Some(id) = did.strip_prefix("did:plc:") {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(unsupported("malformed did:plc identifier"));
            }
            return Ok(format!("{}/{did}", self.plc_url));
        }
        if let Some(id) = did.strip_prefix("did:web:") {
            if id.contains(':') {
                return Err(unsupported("did:web with a path is not used by atproto"));
            }
            let host = id.replace("%3A", ":").replace("%3a", ":");
            let valid = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':');
            if !valid {
                return Err(unsupported("malformed did:web host"));
            }
            let Some((name, port)) = host.split_once(':') else {
                return Ok(format!("https://{host}/.well-known/did.json"));
            };
            let local = name == "localhost" || name == "127.0.0.1";
            if !(self.allow_insecure_did_web && local && port.parse::<u16>().is_ok()) {
                return Err(unsupported(
                    "did:web with a port is only allowed for localhost in tests",
                ));
            }
            return Ok(format!("http://{host}/.well-known/did.json"));
        }
        Err(unsupported("only did:plc and did:web are supported"))
    }

    /// Fetches and checks the document of `did`.
    pub async fn resolve(&self, did: &str) -> Result<ResolvedDid, ResolveError> {
        let url = self.document_url(did)?;
        let network = |reason: String| ResolveError::Network {
            did: did.to_owned(),
            reason,
        };
        let response = self
            .http
            .get(&url)
            .header(
                reqwest::header::ACCEPT,
                "application/did+ld+json, application/json",
            )
            .send()
            .await
            .map_err(|e| network(format!("GET {url}: {e}")))?;
        match response.status() {
            StatusCode::NOT_FOUND => return Err(ResolveError::NotFound(did.to_owned())),
            StatusCode::GONE => return Err(ResolveError::Tombstoned(did.to_owned())),
            status if !status.is_success() => {
                return Err(network(format!("GET {url}: HTTP {status}")));
            }
            _ => {}
        }
        let body = read_limited(response).await.map_err(|e| match e {
            BodyError::TooLarge => ResolveError::BadDocument {
                did: did.to_owned(),
                reason: e.to_string(),
            },
            BodyError::Http(e) => network(format!("GET {url}: {e}")),
        })?;
        parse_document(did, &body)
    }
}

/// Parses a served document and checks that it describes `did`.
fn parse_document(did: &str, body: &[u8]) -> Result<ResolvedDid, ResolveError> {
    let bad = |reason: String| ResolveError::BadDocument {
        did: did.to_owned(),
        reason,
    };
    let raw: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let document: DidDocument =
        serde_json::from_value(raw.clone()).map_err(|e| bad(e.to_string()))?;
    if document.id != did {
        return Err(bad(format!("document is for {}", document.id)));
    }
    Ok(ResolvedDid { document, raw })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn resolver(allow_insecure: bool) -> DidResolver {
        let config = IdentityConfig {
            plc_url: "http://plc.local:2582/".into(),
            allow_insecure_did_web: allow_insecure,
            ..IdentityConfig::default()
        };
        DidResolver::new(crate::http_client(Duration::from_secs(1)).unwrap(), &config)
    }

    #[test]
    fn document_urls() {
        let r = resolver(false);
        assert_eq!(
            r.document_url("did:plc:ewvi7nxzyoun6zhxrhs64oiz").unwrap(),
            "http://plc.local:2582/did:plc:ewvi7nxzyoun6zhxrhs64oiz"
        );
        assert_eq!(
            r.document_url("did:web:example.com").unwrap(),
            "https://example.com/.well-known/did.json"
        );
        for bad in [
            "did:web:localhost%3A1234",
            "did:web:example.com:user:alice",
            "did:web:exa/mple.com",
            "did:key:zQ3sh",
            "did:plc:",
            "did:plc:abc/../x",
            "plc:abc",
        ] {
            assert!(
                matches!(
                    r.document_url(bad),
                    Err(ResolveError::UnsupportedDid { .. })
                ),
                "{bad}"
            );
        }
        let tests = resolver(true);
        assert_eq!(
            tests.document_url("did:web:localhost%3A1234").unwrap(),
            "http://localhost:1234/.well-known/did.json"
        );
        assert!(
            tests.document_url("did:web:example.com%3A1234").is_err(),
            "ports only for localhost"
        );
    }

    #[test]
    fn documents_must_describe_the_did() {
        let body = br#"{"id":"did:plc:other","alsoKnownAs":["at://a.test"]}"#;
        let err = parse_document("did:plc:mine", body).unwrap_err();
        assert!(matches!(err, ResolveError::BadDocument { .. }), "{err}");
        assert!(parse_document("did:plc:mine", b"<html>").is_err());
        let ok = parse_document(
            "did:plc:mine",
            br#"{"@context":["https://www.w3.org/ns/did/v1"],"id":"did:plc:mine"}"#,
        )
        .unwrap();
        assert_eq!(ok.raw["@context"][0], "https://www.w3.org/ns/did/v1");
    }
}
