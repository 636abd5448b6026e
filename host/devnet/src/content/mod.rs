//! Record content: any record of the network, generated alone from its [`RecordId`].
//!
//! A record is a pure function of the network seed, its id, its version (0 as created, 1 after
//! the history's update, more for live updates) and its time. Records point at other records of
//! the same network — replies at their parent and root, likes and reposts at posts, quotes at
//! posts or lists, list items at lists — always at records *earlier* in time, so generating a
//! record generates the records it points at (to learn their CIDs) and the recursion ends: reply
//! chains are at most [`MAX_REPLY_DEPTH`] deep and quotes never point at quotes. A [`Generator`]
//! keeps the posts it generated for references in a small cache.

pub(crate) mod records;
pub mod text;
pub mod value;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use cid::Cid;
use sluice_atproto::data::{DataError, cid_for_dag_cbor};
use sluice_atproto::syntax::Tid;

use crate::collections::Collection;
use crate::draw::{Draw, Topic};
use crate::model::Model;
use crate::slots::{PostKind, RecordId, Slot, SlotKind};

pub use value::datetime;

/// The deepest reply chain the network has.
pub const MAX_REPLY_DEPTH: u32 = 8;

/// Posts kept by a [`Generator`] for references before its cache is cleared.
const POST_CACHE_LIMIT: usize = 200_000;

/// Why a record could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The record's account does not exist.
    #[error("no account {0} in the network")]
    NoSuchRepo(u32),
    /// Encoding failed (a bug: generated values are always encodable).
    #[error(transparent)]
    Encode(#[from] DataError),
}

/// A generated record.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// Its id.
    pub id: RecordId,
    /// Its collection.
    pub collection: Collection,
    /// Its repo path, `collection/rkey`.
    pub path: String,
    /// Its CID.
    pub cid: Cid,
    /// Its DAG-CBOR bytes.
    pub bytes: Bytes,
}

/// What a reference to a post needs: its strong ref, its thread root and its depth.
#[derive(Debug, Clone)]
struct PostRef {
    uri: String,
    cid: Cid,
    /// The thread root, when the post is a reply.
    root: Option<(String, Cid)>,
    depth: u32,
}

/// Generates records of one network (see the module docs). Not shared between threads: each
/// task makes its own (they are cheap).
#[derive(Debug)]
pub struct Generator<'m> {
    model: &'m Model,
    posts: RefCell<HashMap<RecordId, Rc<PostRef>>>,
}

impl<'m> Generator<'m> {
    /// A generator for `model`.
    pub fn new(model: &'m Model) -> Self {
        Self {
            model,
            posts: RefCell::new(HashMap::new()),
        }
    }

    /// The model.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// The time of a record of the history (µs since the epoch).
    pub fn history_micros(&self, id: RecordId) -> u64 {
        self.model.slot_micros(id.repo, id.slot)
    }

    /// The record key of a record created at `micros`.
    pub fn rkey_at(&self, id: RecordId, slot: &Slot, micros: u64) -> String {
        let clock = self.model.repo(id.repo).map_or(0, |r| r.clock_id);
        let tid = |offset: u32| Tid::from_parts(micros + u64::from(offset), clock);
        match slot.kind {
            SlotKind::Profile | SlotKind::ChatDeclaration | SlotKind::LabelerService => {
                "self".to_owned()
            }
            // The threadgate and postgate share their post's key.
            SlotKind::Post(_) => tid(0).as_str().to_owned(),
            SlotKind::FeedGenerator => format!("{}-{}", text::tag(&mut self.draw(id, 9)), id.slot),
            _ => tid(id.sub).as_str().to_owned(),
        }
    }

    /// The path of a record created at `micros`.
    pub fn path_at(&self, id: RecordId, micros: u64) -> String {
        let slot = self.model.slot(id.repo, id.slot);
        format!(
            "{}/{}",
            slot.collection(id.sub).nsid(),
            self.rkey_at(id, &slot, micros)
        )
    }

    /// The path of a record of the history.
    pub fn path(&self, id: RecordId) -> String {
        self.path_at(id, self.history_micros(id))
    }

    /// The AT-URI of a record of the history.
    pub fn uri(&self, id: RecordId) -> String {
        let did = self.model.account(id.repo).map_or("", |a| a.did.as_str());
        format!("at://{did}/{}", self.path(id))
    }

    /// A record of the history, as it is at `version`.
    pub fn record(&self, id: RecordId, version: u32) -> Result<Generated, ContentError> {
        self.record_at(id, version, self.history_micros(id))
    }

    /// A record created at `micros` (live records have their own times), at `version`.
    pub fn record_at(
        &self,
        id: RecordId,
        version: u32,
        micros: u64,
    ) -> Result<Generated, ContentError> {
        if self.model.account(id.repo).is_none() {
            return Err(ContentError::NoSuchRepo(id.repo));
        }
        let slot = self.model.slot(id.repo, id.slot);
        let value = self.build(id, &slot, version, micros)?;
        let bytes = Bytes::from(value.to_dag_cbor());
        Ok(Generated {
            id,
            collection: slot.collection(id.sub),
            path: format!(
                "{}/{}",
                slot.collection(id.sub).nsid(),
                self.rkey_at(id, &slot, micros)
            ),
            cid: cid_for_dag_cbor(&bytes),
            bytes,
        })
    }

    /// The stream of random choices of one record's content.
    fn draw(&self, id: RecordId, part: u64) -> Draw {
        Draw::new(
            self.model.seed(),
            Topic::Content,
            u64::from(id.repo),
            (u64::from(id.slot) << 20) | u64::from(id.sub),
            part,
        )
    }

    /// A stable post (never deleted or updated) from before `before_micros`, of another account
    /// most of the time; `quotable` excludes quotes. Falls back to `own_repo`'s first post.
    pub(crate) fn pick_post(
        &self,
        draw: &mut Draw,
        own_repo: u32,
        before_micros: u64,
        quotable: bool,
    ) -> RecordId {
        for _ in 0..12 {
            let repo = self.model.popular_repo(draw);
            let Some(info) = self.model.repo(repo) else {
                continue;
            };
            let elapsed = before_micros.saturating_sub(info.created_micros);
            // Slots are at least one step apart: slots past this one are surely later.
            let last = (elapsed / info.step_micros.max(1))
                .min(u64::from(info.slots))
                .saturating_sub(1);
            if last < 1 {
                continue;
            }
            let slot = u32::try_from(draw.range(1, last)).unwrap_or(1);
            let plan = self.model.slot(repo, slot);
            let fits = match plan.kind {
                SlotKind::Post(shape) => !quotable || shape.kind != PostKind::Quote,
                _ => false,
            };
            if fits && plan.is_stable_post() && self.model.slot_micros(repo, slot) < before_micros {
                return RecordId::new(repo, slot, 0);
            }
        }
        RecordId::new(own_repo, 1, 0)
    }

    /// The strong ref, root and depth of a post of the history (generating it if needed).
    fn post_ref(&self, id: RecordId) -> Result<Rc<PostRef>, ContentError> {
        if let Some(found) = self.posts.borrow().get(&id) {
            return Ok(Rc::clone(found));
        }
        let generated = self.record(id, 0)?;
        let did = self.model.account(id.repo).map_or("", |a| a.did.as_str());
        let uri = format!("at://{did}/{}", generated.path);
        let (root, depth) = match self.reply_of(id)? {
            Some(reply) => (Some(reply.root), reply.depth),
            None => (None, 0),
        };
        let post = Rc::new(PostRef {
            uri,
            cid: generated.cid,
            root,
            depth,
        });
        let mut posts = self.posts.borrow_mut();
        if posts.len() >= POST_CACHE_LIMIT {
            posts.clear();
        }
        posts.insert(id, Rc::clone(&post));
        Ok(post)
    }
}

/// The thread position of a reply.
#[derive(Debug, Clone)]
struct ReplyTo {
    parent: (String, Cid),
    root: (String, Cid),
    depth: u32,
}

impl Generator<'_> {
    /// Where a post of the history replies (`None` for a post that is not a reply).
    fn reply_of(&self, id: RecordId) -> Result<Option<ReplyTo>, ContentError> {
        let slot = self.model.slot(id.repo, id.slot);
        match slot.kind {
            SlotKind::Post(shape) if shape.kind == PostKind::Reply => {
                self.reply_target(id, self.history_micros(id)).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The parent and root of reply `id` created at `micros`.
    fn reply_target(&self, id: RecordId, micros: u64) -> Result<ReplyTo, ContentError> {
        let mut draw = self.draw(id, 1);
        let parent_id = self.pick_post(&mut draw, id.repo, micros, false);
        let parent = self.post_ref(parent_id)?;
        let as_ref = |post: &PostRef| (post.uri.clone(), post.cid);
        Ok(match &parent.root {
            // Too deep: reply to the root instead.
            Some(root) if parent.depth >= MAX_REPLY_DEPTH => ReplyTo {
                parent: root.clone(),
                root: root.clone(),
                depth: 1,
            },
            Some(root) => ReplyTo {
                parent: as_ref(&parent),
                root: root.clone(),
                depth: parent.depth + 1,
            },
            None => ReplyTo {
                parent: as_ref(&parent),
                root: as_ref(&parent),
                depth: 1,
            },
        })
    }
}

#[cfg(test)]
mod tests;
