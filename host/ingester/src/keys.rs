//! Accounts' signing keys, looked up ahead of need and kept in memory.
//!
//! The verification workers judge events one by one, in order, per account; resolving a key
//! (Redis, or the PLC directory on a cache miss) inside that loop would serialise every lookup.
//! So the reader asks for an event's key as soon as it reads the event ([`SigningKeys::lookup`]):
//! the lookup runs as its own task, at most `max_concurrent` at a time, and the worker awaits
//! the result when the event's turn comes. Results are kept in memory for `ttl` (keys rotate
//! rarely; a commit that fails to verify triggers [`SigningKeys::refresh`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use sluice_atproto::crypto::PublicKey;
use sluice_identity::IdentityResolver;
use tokio::sync::Semaphore;

/// A key, or why there is none (the DID did not resolve, or its document names no key).
pub type KeyResult = Result<PublicKey, String>;

/// A key lookup in progress (or done); cheap to clone, usable from any thread.
pub type KeyFuture = Shared<BoxFuture<'static, KeyResult>>;

enum Slot {
    Ready { key: KeyResult, at: Instant },
    Pending(KeyFuture),
}

struct Inner {
    resolver: IdentityResolver,
    slots: Mutex<HashMap<String, Slot>>,
    limit: Arc<Semaphore>,
    ttl: Duration,
    max_entries: usize,
}

/// The in-memory key cache in front of an [`IdentityResolver`]. Cheap to clone.
#[derive(Clone)]
pub struct SigningKeys {
    inner: Arc<Inner>,
}

impl SigningKeys {
    /// A cache over `resolver` keeping up to `max_entries` keys for `ttl` each, with at most
    /// `max_concurrent` lookups running.
    pub fn new(
        resolver: IdentityResolver,
        ttl: Duration,
        max_entries: usize,
        max_concurrent: usize,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                resolver,
                slots: Mutex::new(HashMap::new()),
                limit: Arc::new(Semaphore::new(max_concurrent.max(1))),
                ttl,
                max_entries: max_entries.max(1),
            }),
        }
    }

    /// The resolver behind the cache.
    pub fn resolver(&self) -> &IdentityResolver {
        &self.inner.resolver
    }

    /// The key of `did`: at once when cached, else from a lookup started now (or already
    /// running). Must be called inside a tokio runtime.
    pub fn lookup(&self, did: &str) -> KeyFuture {
        let mut slots = self.lock();
        match slots.get(did) {
            Some(Slot::Ready { key, at }) if at.elapsed() < self.inner.ttl => {
                return futures::future::ready(key.clone()).boxed().shared();
            }
            Some(Slot::Pending(pending)) => return pending.clone(),
            _ => {}
        }
        if slots.len() >= self.inner.max_entries {
            // Crude but bounded: forget every finished lookup and start filling again.
            slots.retain(|_, slot| matches!(slot, Slot::Pending(_)));
        }
        let this = self.clone();
        let owned = did.to_owned();
        let task = tokio::spawn(async move {
            let key = {
                let _permit = this.inner.limit.clone().acquire_owned().await;
                match this.inner.resolver.resolve_did(&owned).await {
                    Ok(doc) => doc.signing_key().map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            };
            this.store(&owned, key.clone());
            key
        });
        let pending = task
            .map(|joined| joined.unwrap_or_else(|e| Err(format!("key lookup failed: {e}"))))
            .boxed()
            .shared();
        slots.insert(did.to_owned(), Slot::Pending(pending.clone()));
        pending
    }

    /// The key of `did` fetched afresh, skipping both caches (after a signature did not verify
    /// with the cached key); the caches are updated.
    pub async fn refresh(&self, did: &str) -> KeyResult {
        let key = match self.inner.resolver.resolve_fresh(did).await {
            Ok(doc) => doc.signing_key().map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        self.store(did, key.clone());
        key
    }

    /// Forgets `did`'s key (on an `#identity` event, its document may have changed).
    pub fn forget(&self, did: &str) {
        self.lock().remove(did);
    }

    /// Keys (and lookups) held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn store(&self, did: &str, key: KeyResult) {
        self.lock().insert(
            did.to_owned(),
            Slot::Ready {
                key,
                at: Instant::now(),
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        match self.inner.slots.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}
