//! Which collections' record ops are queued.
//!
//! The reference queued every op of every collection, filling Redis with traffic no plugin
//! reads. Here an op is queued only when its collection is claimed, by one of:
//! - an explicit list (`--collections`; an entry ending in `.*` claims an NSID prefix);
//! - the plugins' claims in Postgres, table `sluice_plugin_collection(collection, plugin)`,
//!   read again every refresh interval ([`claimed_collections_query`]);
//! - or everything ([`CollectionSource::KeepAll`]).
//!
//! While the table cannot be read, or is empty (no plugin installed yet), everything is kept
//! and a warning logged: dropping ops that a plugin about to be installed wants would lose them
//! until a backfill.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The query that reads the plugins' claimed collections from the index's schema.
pub fn claimed_collections_query(schema: &str) -> String {
    let quoted = schema.replace('"', "\"\"");
    format!("SELECT collection FROM \"{quoted}\".sluice_plugin_collection")
}

/// Where the claimed collections come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectionSource {
    /// Queue every collection.
    KeepAll,
    /// Queue these collections (NSIDs, or prefixes written `app.bsky.*`).
    List(Vec<String>),
    /// Queue what the plugins claim in Postgres.
    Postgres {
        /// The database URL.
        url: String,
        /// The schema of the index (where the plugin registry's tables are).
        schema: String,
        /// How often the claims are read again.
        refresh: Duration,
    },
}

/// A set of claimed collections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectionMatcher {
    /// Every collection is claimed.
    All,
    /// Only these.
    Only {
        /// Exact NSIDs.
        exact: HashSet<String>,
        /// NSID prefixes (each ends with `.`).
        prefixes: Vec<String>,
    },
}

impl CollectionMatcher {
    /// A matcher for NSIDs and `prefix.*` patterns.
    pub fn from_patterns<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> Self {
        let mut exact = HashSet::new();
        let mut prefixes = Vec::new();
        for pattern in patterns {
            let pattern = pattern.as_ref().trim();
            if pattern.is_empty() {
                continue;
            }
            if pattern == "*" {
                return Self::All;
            }
            match pattern.strip_suffix('*') {
                Some(prefix) => prefixes.push(prefix.to_owned()),
                None => {
                    exact.insert(pattern.to_owned());
                }
            }
        }
        Self::Only { exact, prefixes }
    }

    /// Whether ops of `collection` are queued.
    pub fn claims(&self, collection: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only { exact, prefixes } => {
                exact.contains(collection) || prefixes.iter().any(|p| collection.starts_with(p))
            }
        }
    }

    /// How many patterns it holds (`None` for all).
    pub fn len(&self) -> Option<usize> {
        match self {
            Self::All => None,
            Self::Only { exact, prefixes } => Some(exact.len() + prefixes.len()),
        }
    }

    /// True when it claims nothing at all.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

/// The current matcher, shared by every worker and replaced when the claims change.
#[derive(Debug, Clone)]
pub struct CollectionFilter {
    current: Arc<RwLock<Arc<CollectionMatcher>>>,
}

impl CollectionFilter {
    /// A filter starting with `matcher`.
    pub fn new(matcher: CollectionMatcher) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(matcher))),
        }
    }

    /// The matcher in force now (cheap: one lock and one reference count).
    pub fn snapshot(&self) -> Arc<CollectionMatcher> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the matcher.
    pub fn replace(&self, matcher: CollectionMatcher) {
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(matcher);
    }

    /// The filter for `source`; for Postgres, starts a task refreshing it until `shutdown`.
    pub fn start(source: &CollectionSource, shutdown: CancellationToken) -> Self {
        match source {
            CollectionSource::KeepAll => Self::new(CollectionMatcher::All),
            CollectionSource::List(patterns) => {
                Self::new(CollectionMatcher::from_patterns(patterns))
            }
            CollectionSource::Postgres {
                url,
                schema,
                refresh,
            } => {
                let filter = Self::new(CollectionMatcher::All);
                tokio::spawn(refresh_from_postgres(
                    filter.clone(),
                    url.clone(),
                    claimed_collections_query(schema),
                    *refresh,
                    shutdown,
                ));
                filter
            }
        }
    }
}

/// Reads the claimed collections every `refresh` until `shutdown`.
async fn refresh_from_postgres(
    filter: CollectionFilter,
    url: String,
    query: String,
    refresh: Duration,
    shutdown: CancellationToken,
) {
    let pool = match sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy(&url)
    {
        Ok(pool) => pool,
        Err(error) => {
            tracing::warn!(%error, "bad database URL for the collection filter: keeping every collection");
            return;
        }
    };
    let mut last: Option<CollectionMatcher> = None;
    loop {
        let next = match sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(query.clone()))
            .fetch_all(&pool)
            .await
        {
            Ok(rows) if rows.is_empty() => {
                tracing::warn!("no plugin claims a collection yet: keeping every collection");
                CollectionMatcher::All
            }
            Ok(rows) => CollectionMatcher::from_patterns(rows),
            Err(error) => {
                tracing::warn!(%error, "cannot read the plugins' collections: keeping every collection");
                CollectionMatcher::All
            }
        };
        if last.as_ref() != Some(&next) {
            tracing::info!(collections = ?next.len(), "collection filter updated");
            filter.replace(next.clone());
            last = Some(next);
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(refresh) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_and_prefixes() {
        let matcher =
            CollectionMatcher::from_patterns(["app.bsky.feed.post", "app.bsky.graph.*", " "]);
        assert!(matcher.claims("app.bsky.feed.post"));
        assert!(!matcher.claims("app.bsky.feed.like"));
        assert!(matcher.claims("app.bsky.graph.follow"));
        assert!(!matcher.claims("app.bsky.graphics.x"));
        assert_eq!(matcher.len(), Some(2));
        assert!(CollectionMatcher::from_patterns(["*"]).claims("anything"));
        assert!(CollectionMatcher::from_patterns(Vec::<String>::new()).is_empty());
    }

    #[test]
    fn replacing_the_matcher_is_seen_by_clones() {
        let filter = CollectionFilter::new(CollectionMatcher::All);
        let clone = filter.clone();
        filter.replace(CollectionMatcher::from_patterns(["a.b.c"]));
        assert!(!clone.snapshot().claims("x.y.z"));
        assert!(clone.snapshot().claims("a.b.c"));
    }
}
