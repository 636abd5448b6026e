//! The plan of a repo, slot by slot.
//!
//! A repo's history is a sequence of *slots*. Each slot is one user action that creates one or a
//! few records in one commit: a post (with its threadgate and postgate), a like, a batch of
//! follows, a list with its items, a starter pack with its list, … A slot's kind and fate (kept,
//! deleted later, updated later) depend only on `(seed, repo, slot)`, so the plan of any slot is
//! known in O(1). Records are named by [`RecordId`]: the repo, the slot, and the record's place
//! within the slot (`sub`).
//!
//! Fixed slots: 0 is the profile, 1 a plain top-level post that is never deleted (every repo has
//! a post others can point at), 2 the chat declaration (the labeler service for the labeler),
//! and 3 the curated list of *curator* accounts (one in five).

use crate::collections::Collection;
use crate::draw::{Draw, Topic};

/// One record of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    /// The account index.
    pub repo: u32,
    /// The slot within the repo.
    pub slot: u32,
    /// The record's place within its slot.
    pub sub: u32,
}

impl RecordId {
    /// Record `sub` of `slot` of `repo`.
    pub fn new(repo: u32, slot: u32, sub: u32) -> Self {
        Self { repo, slot, sub }
    }
}

/// The kind of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostKind {
    /// A post that starts a thread.
    TopLevel,
    /// A reply to an earlier post.
    Reply,
    /// A post quoting an earlier post or list (`embed.record` / `embed.recordWithMedia`).
    Quote,
}

/// The media a post carries, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// Nothing.
    None,
    /// `app.bsky.embed.images`.
    Images,
    /// `app.bsky.embed.video`.
    Video,
    /// `app.bsky.embed.external`.
    External,
    /// `app.bsky.embed.gallery`.
    Gallery,
}

/// The shape of a post slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostShape {
    /// Top-level, reply or quote.
    pub kind: PostKind,
    /// Media (for a quote: the media of `recordWithMedia`).
    pub media: Media,
    /// Whether a threadgate comes with it (top-level posts only).
    pub threadgate: bool,
    /// Whether a postgate comes with it.
    pub postgate: bool,
}

/// Another app's record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherApp {
    /// `xyz.statusphere.status`.
    Statusphere,
    /// `com.whtwnd.blog.entry`.
    Blog,
    /// `fyi.unravel.frontpage.post`.
    Frontpage,
    /// `community.lexicon.calendar.event`.
    Calendar,
}

impl OtherApp {
    /// The collection it writes.
    pub fn collection(self) -> Collection {
        match self {
            Self::Statusphere => Collection::StatusphereStatus,
            Self::Blog => Collection::BlogEntry,
            Self::Frontpage => Collection::FrontpagePost,
            Self::Calendar => Collection::CalendarEvent,
        }
    }
}

/// What a slot creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// The profile (slot 0).
    Profile,
    /// The chat declaration.
    ChatDeclaration,
    /// The labeler's service record.
    LabelerService,
    /// A post, then its threadgate and postgate when it has them.
    Post(PostShape),
    /// A like of an earlier post.
    Like,
    /// A repost of an earlier post.
    Repost,
    /// `count` follows in one commit (one, or a "follow all" batch).
    Follows {
        /// Number of follows.
        count: u32,
    },
    /// A block.
    Block,
    /// A list, then `items` list items in the same commit.
    List {
        /// Number of items.
        items: u32,
        /// Whether it is a moderation list.
        moderation: bool,
    },
    /// One more item in the account's curated list (slot 3).
    ListItem,
    /// A starter pack: its list (sub 0), the items (subs 1..=items) and the pack (last).
    StarterPack {
        /// Number of list items.
        items: u32,
    },
    /// A feed generator declaration.
    FeedGenerator,
    /// A block of another account's list.
    ListBlock,
    /// Another app's record.
    Other(OtherApp),
}

/// What happens to a slot's first record later in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It stays as created.
    Kept,
    /// It is deleted after `after` more slots.
    Deleted {
        /// Slots between the create and the delete.
        after: u32,
    },
    /// It is replaced (version 1) after `after` more slots.
    Updated {
        /// Slots between the create and the update.
        after: u32,
    },
}

/// The plan of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// What it creates.
    pub kind: SlotKind,
    /// What happens to its first record.
    pub fate: Fate,
}

/// The curated-list slot of curator accounts.
pub const CURATOR_LIST_SLOT: u32 = 3;

/// Whether `repo` is a curator (has a curated list at [`CURATOR_LIST_SLOT`]).
pub fn is_curator(seed: u64, repo: u32) -> bool {
    Draw::new(seed, Topic::Slot, u64::from(repo), u64::MAX, 0).chance(200)
}

impl Slot {
    /// The plan of `slot` of `repo` under `seed` (`curator`: see [`is_curator`]).
    pub fn plan(seed: u64, repo: u32, slot: u32, curator: bool) -> Self {
        let mut draw = Draw::new(seed, Topic::Slot, u64::from(repo), u64::from(slot), 0);
        let kind = match slot {
            0 => SlotKind::Profile,
            1 => SlotKind::Post(PostShape {
                kind: PostKind::TopLevel,
                media: Media::None,
                threadgate: false,
                postgate: false,
            }),
            2 if repo == crate::accounts::LABELER => SlotKind::LabelerService,
            2 => SlotKind::ChatDeclaration,
            CURATOR_LIST_SLOT if curator => SlotKind::List {
                items: 1 + heavy_tail(&mut draw, 60),
                moderation: false,
            },
            _ => regular_kind(&mut draw, curator),
        };
        let fate = fate(&mut draw, slot, kind);
        Self { kind, fate }
    }

    /// Number of records the slot creates.
    pub fn record_count(&self) -> u32 {
        match self.kind {
            SlotKind::Post(shape) => 1 + u32::from(shape.threadgate) + u32::from(shape.postgate),
            SlotKind::Follows { count } => count,
            SlotKind::List { items, .. } => 1 + items,
            SlotKind::StarterPack { items } => 2 + items,
            _ => 1,
        }
    }

    /// The collection of record `sub` of the slot.
    pub fn collection(&self, sub: u32) -> Collection {
        match self.kind {
            SlotKind::Profile => Collection::Profile,
            SlotKind::ChatDeclaration => Collection::ChatDeclaration,
            SlotKind::LabelerService => Collection::LabelerService,
            SlotKind::Post(shape) => match sub {
                0 => Collection::Post,
                1 if shape.threadgate => Collection::Threadgate,
                _ => Collection::Postgate,
            },
            SlotKind::Like => Collection::Like,
            SlotKind::Repost => Collection::Repost,
            SlotKind::Follows { .. } => Collection::Follow,
            SlotKind::Block => Collection::Block,
            SlotKind::List { .. } => match sub {
                0 => Collection::List,
                _ => Collection::ListItem,
            },
            SlotKind::ListItem => Collection::ListItem,
            SlotKind::StarterPack { items } => match sub {
                0 => Collection::List,
                s if s <= items => Collection::ListItem,
                _ => Collection::StarterPack,
            },
            SlotKind::FeedGenerator => Collection::FeedGenerator,
            SlotKind::ListBlock => Collection::ListBlock,
            SlotKind::Other(app) => app.collection(),
        }
    }

    /// Whether the slot's first record is a post that is never deleted or updated (so that other
    /// records may point at it by CID).
    pub fn is_stable_post(&self) -> bool {
        matches!(self.kind, SlotKind::Post(_)) && self.fate == Fate::Kept
    }
}

/// A value in `0..=max`, most often small (a truncated power law).
fn heavy_tail(draw: &mut Draw, max: u32) -> u32 {
    let u = draw.unit().max(1e-9);
    let value = (u.powf(-1.0 / 1.3) - 1.0) * 2.0;
    (value as u32).min(max)
}

fn regular_kind(draw: &mut Draw, curator: bool) -> SlotKind {
    const WEIGHTS: [u32; 12] = [430, 220, 150, 80, 15, 5, 20, 3, 2, 3, 25, 47];
    match draw.weighted(&WEIGHTS) {
        0 => SlotKind::Like,
        1 => SlotKind::Post(post_shape(draw)),
        2 => {
            if draw.chance(30) {
                SlotKind::Follows {
                    count: 5 + heavy_tail(draw, 35),
                }
            } else {
                SlotKind::Follows { count: 1 }
            }
        }
        3 => SlotKind::Repost,
        4 => SlotKind::Block,
        5 => SlotKind::List {
            items: heavy_tail(draw, 30),
            moderation: draw.chance(300),
        },
        6 if curator => SlotKind::ListItem,
        6 => SlotKind::Follows { count: 1 },
        7 => SlotKind::StarterPack {
            items: 1 + heavy_tail(draw, 40),
        },
        8 => SlotKind::FeedGenerator,
        9 => SlotKind::ListBlock,
        10 => SlotKind::Other(*draw.pick(&[
            OtherApp::Statusphere,
            OtherApp::Statusphere,
            OtherApp::Blog,
            OtherApp::Frontpage,
            OtherApp::Calendar,
        ])),
        // The rest: more likes (the most common record of the network).
        _ => SlotKind::Like,
    }
}

fn post_shape(draw: &mut Draw) -> PostShape {
    let kind = match draw.below(100) {
        0..45 => PostKind::TopLevel,
        45..85 => PostKind::Reply,
        _ => PostKind::Quote,
    };
    let media = match kind {
        PostKind::TopLevel => match draw.below(100) {
            0..55 => Media::None,
            55..77 => Media::Images,
            77..89 => Media::External,
            89..96 => Media::Video,
            _ => Media::Gallery,
        },
        PostKind::Reply => match draw.below(100) {
            0..88 => Media::None,
            88..96 => Media::Images,
            _ => Media::External,
        },
        PostKind::Quote => match draw.below(100) {
            0..70 => Media::None,
            70..85 => Media::Images,
            85..92 => Media::External,
            92..97 => Media::Video,
            _ => Media::Gallery,
        },
    };
    PostShape {
        kind,
        media,
        threadgate: kind == PostKind::TopLevel && draw.chance(30),
        postgate: draw.chance(20),
    }
}

fn fate(draw: &mut Draw, slot: u32, kind: SlotKind) -> Fate {
    let after = 1 + draw.below(200) as u32;
    let (delete, update) = match kind {
        SlotKind::Profile => (0, 300),
        SlotKind::Post(shape) if slot > 1 && !shape.threadgate && !shape.postgate => (60, 5),
        SlotKind::Like | SlotKind::Block => (80, 0),
        SlotKind::Repost => (100, 0),
        SlotKind::Follows { count: 1 } => (50, 0),
        SlotKind::List { .. } if slot != CURATOR_LIST_SLOT => (0, 100),
        SlotKind::Other(OtherApp::Statusphere) => (0, 200),
        _ => (0, 0),
    };
    let roll = draw.below(1000) as u32;
    if roll < delete {
        Fate::Deleted { after }
    } else if roll < delete + update {
        Fate::Updated { after }
    } else {
        Fate::Kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_slots_have_fixed_kinds() {
        assert_eq!(Slot::plan(1, 7, 0, false).kind, SlotKind::Profile);
        assert!(Slot::plan(1, 7, 1, false).is_stable_post());
        assert_eq!(Slot::plan(1, 7, 2, false).kind, SlotKind::ChatDeclaration);
        assert_eq!(Slot::plan(1, 0, 2, false).kind, SlotKind::LabelerService);
        assert!(matches!(
            Slot::plan(1, 7, 3, true).kind,
            SlotKind::List {
                moderation: false,
                ..
            }
        ));
        assert_eq!(Slot::plan(1, 7, 3, true).fate, Fate::Kept);
    }

    #[test]
    fn plans_are_deterministic() {
        for slot in 0..500 {
            assert_eq!(Slot::plan(3, 9, slot, true), Slot::plan(3, 9, slot, true));
        }
    }

    #[test]
    fn the_mix_resembles_the_network() {
        let mut counts = crate::collections::CollectionCounts::default();
        let mut deleted = 0;
        let mut updated = 0;
        for slot in 4..20_000 {
            let plan = Slot::plan(11, 5, slot, true);
            for sub in 0..plan.record_count() {
                counts.add(plan.collection(sub), 1);
            }
            match plan.fate {
                Fate::Deleted { .. } => deleted += 1,
                Fate::Updated { .. } => updated += 1,
                Fate::Kept => {}
            }
        }
        let total = counts.total() as f64;
        let share = |c| counts.get(c) as f64 / total;
        assert!(share(Collection::Like) > 0.35, "{counts:?}");
        assert!(share(Collection::Post) > 0.12, "{counts:?}");
        assert!(share(Collection::Follow) > 0.10, "{counts:?}");
        for collection in Collection::ALL {
            if !matches!(
                collection,
                Collection::Profile | Collection::ChatDeclaration | Collection::LabelerService
            ) {
                assert!(counts.get(collection) > 0, "no {collection:?}: {counts:?}");
            }
        }
        assert!(deleted > 500 && updated > 20, "{deleted} {updated}");
    }
}
