//! Handles for identity events: the host resolves an account's DID document and checks that the
//! handle it claims resolves back to the DID (verified both ways) before it tells plugins.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use futures::future::BoxFuture;
use sluice_identity::IdentityResolver;

/// Where verified handles come from.
pub trait HandleSource: Send + Sync {
    /// The handle of `did`, verified both ways, or `None` (unresolvable, or it does not
    /// verify). `fresh`: bypass caches (an `#identity` event says something changed).
    fn verified_handle<'a>(&'a self, did: &'a str, fresh: bool) -> BoxFuture<'a, Option<String>>;
}

/// Handles from the network, through [`IdentityResolver`] (DID documents cached in Redis).
#[derive(Clone)]
pub struct ResolvedHandles(pub IdentityResolver);

impl HandleSource for ResolvedHandles {
    fn verified_handle<'a>(&'a self, did: &'a str, fresh: bool) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let document = if fresh {
                if let Err(error) = self.0.invalidate(did).await {
                    tracing::debug!(did, %error, "could not drop a cached DID document");
                }
                self.0.resolve_fresh(did).await
            } else {
                self.0.resolve_did(did).await
            };
            match document {
                Ok(document) => self
                    .0
                    .verify_handle(&document)
                    .await
                    .map(|handle| handle.to_lowercase()),
                Err(error) => {
                    tracing::info!(did, %error, "DID could not be resolved: no handle");
                    None
                }
            }
        })
    }
}

/// No resolution at all: every handle is `None` (accounts are still announced to plugins).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHandles;

impl HandleSource for NoHandles {
    fn verified_handle<'a>(&'a self, _did: &'a str, _fresh: bool) -> BoxFuture<'a, Option<String>> {
        Box::pin(async { None })
    }
}

/// Fixed answers (tests, benchmarks): DID → handle.
#[derive(Debug, Clone, Default)]
pub struct FixedHandles(pub HashMap<String, String>);

impl HandleSource for FixedHandles {
    fn verified_handle<'a>(&'a self, did: &'a str, _fresh: bool) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move { self.0.get(did).cloned() })
    }
}

/// The accounts this process announced recently (an identity event for a repo first seen), so
/// that a repo without an `actor` row (no plugin writes one) is not announced on every batch.
/// Bounded: the oldest are forgotten first.
#[derive(Debug)]
pub struct RecentlyAnnounced {
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
    capacity: usize,
}

impl RecentlyAnnounced {
    /// Remembers at most `capacity` accounts.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
            capacity: capacity.max(1),
        }
    }

    /// Whether `did` was announced recently.
    pub fn contains(&self, did: &str) -> bool {
        let inner = match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        };
        inner.0.contains(did)
    }

    /// Remembers that `did` was announced.
    pub fn insert(&self, did: &str) {
        let mut inner = match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (set, order) = &mut *inner;
        if set.insert(did.to_owned()) {
            order.push_back(did.to_owned());
            while order.len() > self.capacity {
                if let Some(oldest) = order.pop_front() {
                    set.remove(&oldest);
                }
            }
        }
    }

    /// Forgets `did` (its announcement was not committed).
    pub fn forget(&self, did: &str) {
        let mut inner = match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        };
        inner.0.remove(did);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recently_announced_is_bounded() {
        let recent = RecentlyAnnounced::new(2);
        recent.insert("a");
        recent.insert("b");
        recent.insert("c");
        assert!(!recent.contains("a"), "the oldest is forgotten");
        assert!(recent.contains("b") && recent.contains("c"));
        recent.forget("c");
        assert!(!recent.contains("c"));
    }

    #[tokio::test]
    async fn fixed_handles_answer_from_their_map() {
        let handles = FixedHandles(HashMap::from([("did:plc:a".into(), "a.test".into())]));
        assert_eq!(
            handles.verified_handle("did:plc:a", false).await.as_deref(),
            Some("a.test")
        );
        assert_eq!(handles.verified_handle("did:plc:b", true).await, None);
        assert_eq!(NoHandles.verified_handle("did:plc:a", false).await, None);
    }
}
