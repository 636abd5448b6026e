//! Resolving a handle to the DID it claims to belong to.
//!
//! As the reference does: a DNS TXT record `_atproto.<handle>` holding `did=<did>` (exactly one
//! such record), else `https://<handle>/.well-known/atproto-did` (first line of the body). With
//! a handle-resolver URL configured (test networks), only `GET <url>/.well-known/atproto-did`
//! with header `Host: <handle>`.

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::config::IdentityConfig;
use crate::http::read_limited;

/// Why a handle could not be resolved (as opposed to resolving to nothing).
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Not a syntactically valid handle.
    #[error("invalid handle {0:?}")]
    InvalidHandle(String),
    /// Every method failed for a reason that may pass (network, timeout, server error).
    #[error("resolving handle {handle}: {reason}")]
    Lookup {
        /// The handle.
        handle: String,
        /// What failed.
        reason: String,
    },
}

/// Why the DNS resolver could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("DNS resolver: {0}")]
pub struct DnsSetupError(String);

/// Resolves handles to DIDs (not verified: see [`crate::IdentityResolver::verify_handle`]).
#[derive(Clone)]
pub struct HandleResolver {
    http: reqwest::Client,
    dns: TokioResolver,
    resolver_url: Option<String>,
}

/// What one method found: a DID, nothing, or an error worth reporting.
type Found = Result<Option<String>, String>;

impl HandleResolver {
    /// A resolver using `http` and `config`'s DNS servers (the system's when empty), timeout and
    /// handle-resolver URL.
    pub fn new(http: reqwest::Client, config: &IdentityConfig) -> Result<Self, DnsSetupError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if config.dns_servers.is_empty() {
            TokioResolver::builder(provider).map_err(|e| DnsSetupError(e.to_string()))?
        } else {
            let servers = config
                .dns_servers
                .iter()
                .map(|addr| {
                    let connections = [ProtocolConfig::Udp, ProtocolConfig::Tcp]
                        .into_iter()
                        .map(|protocol| {
                            let mut connection = ConnectionConfig::new(protocol);
                            connection.port = addr.port();
                            connection
                        })
                        .collect();
                    NameServerConfig::new(addr.ip(), true, connections)
                })
                .collect();
            TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
        };
        builder.options_mut().timeout = config.timeout;
        builder.options_mut().attempts = 2;
        let dns = builder.build().map_err(|e| DnsSetupError(e.to_string()))?;
        Ok(Self {
            http,
            dns,
            resolver_url: config
                .handle_resolver_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_owned()),
        })
    }

    /// The DID `handle` points to; `Ok(None)` when it points nowhere (no record, no document,
    /// or an ambiguous answer), an error when no method could give an answer.
    pub async fn resolve(&self, handle: &str) -> Result<Option<String>, HandleError> {
        let handle = normalize(handle)?;
        let lookup_error = |reason: String| HandleError::Lookup {
            handle: handle.clone(),
            reason,
        };
        if let Some(base) = &self.resolver_url {
            let url = format!("{base}/.well-known/atproto-did");
            return self
                .resolve_http(&url, Some(&handle))
                .await
                .map_err(lookup_error);
        }
        let dns = self.resolve_dns(&handle).await;
        if let Ok(Some(did)) = dns {
            return Ok(Some(did));
        }
        let url = format!("https://{handle}/.well-known/atproto-did");
        match (dns, self.resolve_http(&url, None).await) {
            (_, Ok(Some(did))) => Ok(Some(did)),
            (Err(dns), Err(http)) => Err(lookup_error(format!("DNS: {dns}; HTTPS: {http}"))),
            _ => Ok(None),
        }
    }

    /// `_atproto.<handle>` TXT records: the DID of the only `did=` record.
    async fn resolve_dns(&self, handle: &str) -> Found {
        let name = format!("_atproto.{handle}.");
        let lookup = match self.dns.txt_lookup(name.as_str()).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let dids: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => {
                    let joined: Vec<u8> = txt
                        .txt_data
                        .iter()
                        .flat_map(|c| c.iter().copied())
                        .collect();
                    String::from_utf8(joined).ok()
                }
                _ => None,
            })
            .filter_map(|text| text.strip_prefix("did=").map(str::to_owned))
            .collect();
        match dids.as_slice() {
            [did] if did.starts_with("did:") => Ok(Some(did.clone())),
            [] => Ok(None),
            _ => {
                tracing::debug!(handle, count = dids.len(), "ambiguous _atproto TXT records");
                Ok(None)
            }
        }
    }

    /// A well-known `atproto-did` document: its first line when it is a DID.
    async fn resolve_http(&self, url: &str, host: Option<&str>) -> Found {
        let mut request = self.http.get(url);
        if let Some(host) = host {
            request = request.header(reqwest::header::HOST, host);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        if status.is_server_error() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        if !status.is_success() {
            return Ok(None);
        }
        let body = read_limited(response).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&body);
        let first = text.lines().next().unwrap_or_default().trim();
        Ok(first.starts_with("did:").then(|| first.to_owned()))
    }
}

/// Lower-cases a handle and checks its syntax (labels of letters, digits and hyphens, at least
/// two, at most 253 characters), so that nothing else reaches DNS or a URL.
fn normalize(handle: &str) -> Result<String, HandleError> {
    let lower = handle.trim().to_ascii_lowercase();
    let labels_ok = lower.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    let tld_ok = lower
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.starts_with(|c: char| c.is_ascii_alphabetic()));
    if lower.len() <= 253 && lower.contains('.') && labels_ok && tld_ok {
        Ok(lower)
    } else {
        Err(HandleError::InvalidHandle(handle.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_normalized_and_checked() {
        assert_eq!(normalize("Alice.Bsky.Social").unwrap(), "alice.bsky.social");
        assert_eq!(normalize("alice.test").unwrap(), "alice.test");
        for bad in [
            "alice",
            "alice..test",
            "-a.test",
            "a-.test",
            "a.123",
            "a/b.test",
            "a.test/",
            "",
            "ünï.test",
        ] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
        assert!(normalize(&format!("{}.test", "a".repeat(64))).is_err());
    }
}
