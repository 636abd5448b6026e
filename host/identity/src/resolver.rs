//! DID documents through the cache, and handles verified both ways.
//!
//! Cache policy (the reference's): a fresh entry is served; a stale one (older than
//! `stale_after`) is served at once and refreshed in the background, one refresh per DID at a
//! time; an expired one (older than `expire_after`) or none is fetched before answering. When
//! Redis fails, resolution goes to the network and says so in the log: the cache is an
//! optimisation, never a reason to fail.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use redis::aio::ConnectionManager;
use sluice_atproto::identity::DidDocument;

use crate::cache::{CacheError, DidCache};
use crate::config::IdentityConfig;
use crate::did::{DidResolver, ResolveError};
use crate::handle::{DnsSetupError, HandleError, HandleResolver};
use crate::http::http_client;

/// Why the resolver could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The DNS resolver could not be built.
    #[error(transparent)]
    Dns(#[from] DnsSetupError),
}

/// Resolves DIDs (cached in Redis) and handles. Cheap to clone.
#[derive(Clone)]
pub struct IdentityResolver {
    inner: Arc<Inner>,
}

struct Inner {
    dids: DidResolver,
    handles: HandleResolver,
    cache: Option<DidCache>,
    refreshing: Mutex<HashSet<String>>,
}

impl IdentityResolver {
    /// A resolver for `config`, caching in `redis` when given (key `identity:<did>`).
    pub fn new(
        config: &IdentityConfig,
        redis: Option<ConnectionManager>,
    ) -> Result<Self, SetupError> {
        let http = http_client(config.timeout)?;
        let cache = redis.map(|conn| DidCache::new(conn, config.stale_after, config.expire_after));
        Ok(Self::from_parts(
            DidResolver::new(http.clone(), config),
            HandleResolver::new(http, config)?,
            cache,
        ))
    }

    /// A resolver from its parts (e.g. a cache under a test prefix).
    pub fn from_parts(dids: DidResolver, handles: HandleResolver, cache: Option<DidCache>) -> Self {
        Self {
            inner: Arc::new(Inner {
                dids,
                handles,
                cache,
                refreshing: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// The DID resolver (no cache).
    pub fn dids(&self) -> &DidResolver {
        &self.inner.dids
    }

    /// The handle resolver (no verification).
    pub fn handles(&self) -> &HandleResolver {
        &self.inner.handles
    }

    /// The DID document of `did`, from the cache when fresh enough (see the module doc).
    pub async fn resolve_did(&self, did: &str) -> Result<DidDocument, ResolveError> {
        if let Some(cache) = &self.inner.cache {
            match cache.get(did).await {
                Ok(Some(cached)) if !cached.expired => {
                    if cached.stale {
                        self.refresh_in_background(did);
                    }
                    return Ok(cached.document);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(did, error = %e, "DID cache unavailable: resolving over the network");
                }
            }
        }
        self.resolve_fresh(did).await
    }

    /// The DID document of `did` fetched now, skipping the cache, which it then updates (e.g.
    /// after a signature did not verify with the cached key). A DID found gone (404, 410) is
    /// removed from the cache.
    pub async fn resolve_fresh(&self, did: &str) -> Result<DidDocument, ResolveError> {
        match self.inner.dids.resolve(did).await {
            Ok(resolved) => {
                if let Some(cache) = &self.inner.cache
                    && let Err(e) = cache.put(did, &resolved.raw).await
                {
                    tracing::warn!(did, error = %e, "could not cache a DID document");
                }
                Ok(resolved.document)
            }
            Err(error) => {
                if matches!(
                    error,
                    ResolveError::NotFound(_) | ResolveError::Tombstoned(_)
                ) && let Err(e) = self.invalidate(did).await
                {
                    tracing::warn!(did, error = %e, "could not drop a gone DID from the cache");
                }
                Err(error)
            }
        }
    }

    /// Drops `did`'s cached document (on an `#identity` event), so the next lookup fetches it.
    pub async fn invalidate(&self, did: &str) -> Result<(), CacheError> {
        match &self.inner.cache {
            Some(cache) => cache.invalidate(did).await,
            None => Ok(()),
        }
    }

    /// The DID `handle` points to, unverified; see [`HandleResolver::resolve`].
    pub async fn resolve_handle(&self, handle: &str) -> Result<Option<String>, HandleError> {
        self.inner.handles.resolve(handle).await
    }

    /// The handle `doc` claims (its first `at://` alias), if that handle resolves back to
    /// `doc`'s DID; otherwise `None`, which the AppView shows as `handle.invalid`.
    pub async fn verify_handle(&self, doc: &DidDocument) -> Option<String> {
        let handle = doc.claimed_handle()?;
        match self.inner.handles.resolve(&handle).await {
            Ok(Some(did)) if did == doc.id => Some(handle),
            Ok(Some(other)) => {
                tracing::debug!(did = %doc.id, handle, points_to = %other, "handle points to another DID");
                None
            }
            Ok(None) => None,
            Err(e) => {
                tracing::info!(did = %doc.id, handle, error = %e, "handle could not be resolved");
                None
            }
        }
    }

    /// Starts a background refresh of `did`, unless one is already running.
    fn refresh_in_background(&self, did: &str) {
        {
            let mut refreshing = match self.inner.refreshing.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            if !refreshing.insert(did.to_owned()) {
                return;
            }
        }
        let this = self.clone();
        let did = did.to_owned();
        tokio::spawn(async move {
            if let Err(e) = this.resolve_fresh(&did).await {
                tracing::info!(did, error = %e, "refreshing a stale DID document failed; serving the cached one");
            }
            let mut refreshing = match this.inner.refreshing.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            refreshing.remove(&did);
        });
    }
}
