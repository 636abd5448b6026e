//! The collections (record types) the network writes.

/// A collection of the network: the Bluesky record types and a few other apps' (see
/// [`Collection::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    /// `app.bsky.actor.profile` (key `self`).
    Profile,
    /// `chat.bsky.actor.declaration` (key `self`).
    ChatDeclaration,
    /// `app.bsky.labeler.service` (key `self`, the labeler only).
    LabelerService,
    /// `app.bsky.feed.post`.
    Post,
    /// `app.bsky.feed.like`.
    Like,
    /// `app.bsky.feed.repost`.
    Repost,
    /// `app.bsky.feed.threadgate` (same key as its post).
    Threadgate,
    /// `app.bsky.feed.postgate` (same key as its post).
    Postgate,
    /// `app.bsky.feed.generator`.
    FeedGenerator,
    /// `app.bsky.graph.follow`.
    Follow,
    /// `app.bsky.graph.block`.
    Block,
    /// `app.bsky.graph.list`.
    List,
    /// `app.bsky.graph.listitem`.
    ListItem,
    /// `app.bsky.graph.listblock`.
    ListBlock,
    /// `app.bsky.graph.starterpack`.
    StarterPack,
    /// `xyz.statusphere.status` (the atproto tutorial app).
    StatusphereStatus,
    /// `com.whtwnd.blog.entry` (a blogging app).
    BlogEntry,
    /// `fyi.unravel.frontpage.post` (a link aggregator).
    FrontpagePost,
    /// `community.lexicon.calendar.event` (calendar events).
    CalendarEvent,
}

impl Collection {
    /// Every collection, in [`index`](Self::index) order.
    pub const ALL: [Collection; 19] = [
        Self::Profile,
        Self::ChatDeclaration,
        Self::LabelerService,
        Self::Post,
        Self::Like,
        Self::Repost,
        Self::Threadgate,
        Self::Postgate,
        Self::FeedGenerator,
        Self::Follow,
        Self::Block,
        Self::List,
        Self::ListItem,
        Self::ListBlock,
        Self::StarterPack,
        Self::StatusphereStatus,
        Self::BlogEntry,
        Self::FrontpagePost,
        Self::CalendarEvent,
    ];

    /// Number of collections.
    pub const COUNT: usize = Self::ALL.len();

    /// The collection's NSID.
    pub fn nsid(self) -> &'static str {
        match self {
            Self::Profile => "app.bsky.actor.profile",
            Self::ChatDeclaration => "chat.bsky.actor.declaration",
            Self::LabelerService => "app.bsky.labeler.service",
            Self::Post => "app.bsky.feed.post",
            Self::Like => "app.bsky.feed.like",
            Self::Repost => "app.bsky.feed.repost",
            Self::Threadgate => "app.bsky.feed.threadgate",
            Self::Postgate => "app.bsky.feed.postgate",
            Self::FeedGenerator => "app.bsky.feed.generator",
            Self::Follow => "app.bsky.graph.follow",
            Self::Block => "app.bsky.graph.block",
            Self::List => "app.bsky.graph.list",
            Self::ListItem => "app.bsky.graph.listitem",
            Self::ListBlock => "app.bsky.graph.listblock",
            Self::StarterPack => "app.bsky.graph.starterpack",
            Self::StatusphereStatus => "xyz.statusphere.status",
            Self::BlogEntry => "com.whtwnd.blog.entry",
            Self::FrontpagePost => "fyi.unravel.frontpage.post",
            Self::CalendarEvent => "community.lexicon.calendar.event",
        }
    }

    /// The collection's position in [`ALL`](Self::ALL) (for per-collection counters).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The collection of an NSID, if the network writes it.
    pub fn from_nsid(nsid: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.nsid() == nsid)
    }
}

/// A record count per collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionCounts([i64; Collection::COUNT]);

impl CollectionCounts {
    /// Adds `delta` to a collection's count.
    pub fn add(&mut self, collection: Collection, delta: i64) {
        if let Some(count) = self.0.get_mut(collection.index()) {
            *count += delta;
        }
    }

    /// A collection's count.
    pub fn get(&self, collection: Collection) -> i64 {
        self.0.get(collection.index()).copied().unwrap_or(0)
    }

    /// The total over all collections.
    pub fn total(&self) -> i64 {
        self.0.iter().sum()
    }

    /// The non-zero counts, by NSID.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        Collection::ALL
            .into_iter()
            .filter(|c| self.get(*c) != 0)
            .map(|c| (c.nsid().to_owned(), self.get(c).into()))
            .collect()
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &CollectionCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
            *mine += theirs;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_atproto::syntax::Nsid;

    #[test]
    fn every_nsid_is_valid_unique_and_round_trips() {
        let mut seen = std::collections::HashSet::new();
        for (position, collection) in Collection::ALL.into_iter().enumerate() {
            assert_eq!(collection.index(), position);
            Nsid::parse(collection.nsid()).unwrap();
            assert!(seen.insert(collection.nsid()));
            assert_eq!(Collection::from_nsid(collection.nsid()), Some(collection));
        }
        assert_eq!(Collection::from_nsid("com.example.other"), None);
    }

    #[test]
    fn counts_add_and_merge() {
        let mut a = CollectionCounts::default();
        a.add(Collection::Post, 3);
        a.add(Collection::Post, -1);
        a.add(Collection::Like, 5);
        let mut b = CollectionCounts::default();
        b.add(Collection::Like, 1);
        b.merge(&a);
        assert_eq!(b.get(Collection::Post), 2);
        assert_eq!(b.get(Collection::Like), 6);
        assert_eq!(b.total(), 8);
        assert_eq!(b.to_json().len(), 2);
    }
}
