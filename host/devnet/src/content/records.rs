//! The record builders, one per kind, following the lexicons (`app.bsky.*`, `chat.bsky.*` and
//! the other apps' records).

use super::text::{self, Mention, heavy, paragraph, phrase};
use super::value::{Value, blob, datetime, obj, strong_ref};
use super::{ContentError, Generator};
use crate::draw::Draw;
use crate::slots::{
    CURATOR_LIST_SLOT, Media, OtherApp, PostKind, PostShape, RecordId, Slot, SlotKind,
};

/// The label values the labeler declares and applies.
pub(crate) const LABEL_VALUES: [&str; 6] =
    ["spam", "rude", "porn", "nudity", "graphic-media", "!warn"];

impl Generator<'_> {
    /// The value of record `id` (of slot `slot`) at `version`, created at `micros`.
    pub(super) fn build(
        &self,
        id: RecordId,
        slot: &Slot,
        version: u32,
        micros: u64,
    ) -> Result<Value, ContentError> {
        let mut draw = self.draw(id, 0);
        let created_at = datetime(micros);
        let collection = slot.collection(id.sub).nsid();
        let mut fields: Vec<(&str, Value)> = vec![("$type", collection.into())];
        match slot.kind {
            SlotKind::Profile => self.profile(&mut draw, id, version, &created_at, &mut fields),
            SlotKind::ChatDeclaration => {
                let allow = *draw.pick(&["following", "following", "all", "none"]);
                fields.push(("allowIncoming", allow.into()));
            }
            SlotKind::LabelerService => labeler_service(&mut fields),
            SlotKind::Post(shape) => match id.sub {
                0 => self.post(&mut draw, id, shape, version, micros, &mut fields)?,
                1 if shape.threadgate => self.threadgate(&mut draw, id, micros, &mut fields),
                _ => self.postgate(&mut draw, id, micros, &mut fields)?,
            },
            SlotKind::Like | SlotKind::Repost => {
                let target = self.pick_post(&mut draw, id.repo, micros, false);
                let post = self.post_ref(target)?;
                fields.push(("subject", strong_ref(&post.uri, post.cid)));
            }
            SlotKind::Follows { .. } | SlotKind::Block => {
                fields.push(("subject", self.other_did(&mut draw, id.repo).into()));
            }
            SlotKind::List { moderation, .. } => match id.sub {
                0 => {
                    let purpose = if moderation { "modlist" } else { "curatelist" };
                    list(&mut draw, purpose, version, &mut fields);
                }
                _ => {
                    let own_list = self.uri_at(RecordId::new(id.repo, id.slot, 0), micros);
                    self.list_item(&mut draw, id, own_list, &mut fields);
                }
            },
            SlotKind::ListItem => {
                let curated = self.uri(RecordId::new(id.repo, CURATOR_LIST_SLOT, 0));
                self.list_item(&mut draw, id, curated, &mut fields);
            }
            SlotKind::StarterPack { items } => {
                let own_list = self.uri_at(RecordId::new(id.repo, id.slot, 0), micros);
                match id.sub {
                    0 => list(&mut draw, "referencelist", version, &mut fields),
                    sub if sub <= items => self.list_item(&mut draw, id, own_list, &mut fields),
                    _ => {
                        fields.push(("name", phrase(&mut draw, 4, 50).into()));
                        if draw.chance(700) {
                            fields.push(("description", paragraph(&mut draw, 2, 300).into()));
                        }
                        fields.push(("list", own_list.into()));
                    }
                }
            }
            SlotKind::FeedGenerator => {
                fields.push(("did", "did:web:feeds.devnet.test".into()));
                fields.push(("displayName", phrase(&mut draw, 3, 24).into()));
                if draw.chance(800) {
                    fields.push(("description", paragraph(&mut draw, 2, 300).into()));
                }
                if draw.chance(500) {
                    fields.push(("avatar", blob(draw.next_u64(), "image/png", 20_000)));
                }
            }
            SlotKind::ListBlock => {
                let list = self.curated_list_elsewhere(&mut draw, id.repo);
                fields.push(("subject", self.uri(list).into()));
            }
            SlotKind::Other(app) => other_app(&mut draw, app, version, micros, &mut fields),
        }
        if !matches!(
            slot.kind,
            SlotKind::ChatDeclaration | SlotKind::Profile | SlotKind::Other(_)
        ) {
            fields.push(("createdAt", created_at.into()));
        }
        Ok(obj(fields))
    }

    /// The AT-URI of a record created at `micros` (same repo, same slot times as `path_at`).
    fn uri_at(&self, id: RecordId, micros: u64) -> String {
        let did = self.model.account(id.repo).map_or("", |a| a.did.as_str());
        format!("at://{did}/{}", self.path_at(id, micros))
    }

    /// The DID of an account other than `own` (popular ones more often).
    fn other_did(&self, draw: &mut Draw, own: u32) -> String {
        let mut repo = self.model.popular_repo(draw);
        if repo == own {
            repo = (own + 1) % self.model.repo_count().max(1);
        }
        self.model
            .account(repo)
            .map_or_else(String::new, |a| a.did.clone())
    }

    /// A curator's list, of another account when one is found.
    fn curated_list_elsewhere(&self, draw: &mut Draw, own: u32) -> RecordId {
        let mut repo = own;
        for _ in 0..24 {
            let candidate =
                u32::try_from(draw.below(u64::from(self.model.repo_count()))).unwrap_or(0);
            if candidate != own && self.model.repo(candidate).is_some_and(|r| r.curator) {
                repo = candidate;
                break;
            }
        }
        RecordId::new(repo, CURATOR_LIST_SLOT, 0)
    }

    fn profile(
        &self,
        draw: &mut Draw,
        id: RecordId,
        version: u32,
        created_at: &str,
        fields: &mut Vec<(&str, Value)>,
    ) {
        let name = self.model.account(id.repo).map_or("someone", |a| a.name);
        let mut display = format!(
            "{}{}",
            capitalise(name),
            ["", " ✨", " 🌱", "（東京）", " Ω"][draw.index(5)]
        );
        if version > 0 {
            display = format!("{display} v{version}");
        }
        fields.push(("displayName", display.into()));
        if draw.chance(800) {
            let mut description = {
                let n = 1 + draw.below(3);
                paragraph(draw, n, 256)
            };
            if version > 0 {
                description = phrase(draw, 6, 200);
            }
            fields.push(("description", description.into()));
        }
        if draw.chance(850) {
            fields.push((
                "avatar",
                blob(draw.next_u64(), "image/jpeg", 40_000 + draw.below(400_000)),
            ));
        }
        if draw.chance(400) {
            fields.push((
                "banner",
                blob(draw.next_u64(), "image/jpeg", 100_000 + draw.below(800_000)),
            ));
        }
        if draw.chance(300)
            && let Ok(pinned) = self.post_ref(RecordId::new(id.repo, 1, 0))
        {
            fields.push(("pinnedPost", strong_ref(&pinned.uri, pinned.cid)));
        }
        fields.push(("createdAt", created_at.to_owned().into()));
    }

    fn post(
        &self,
        draw: &mut Draw,
        id: RecordId,
        shape: PostShape,
        version: u32,
        micros: u64,
        fields: &mut Vec<(&str, Value)>,
    ) -> Result<(), ContentError> {
        let mention = draw.chance(150).then(|| {
            let repo = self.model.popular_repo(draw);
            self.model.account(repo).map(|a| Mention {
                handle: a.original_handle.clone(),
                did: a.did.clone(),
            })
        });
        let plain = id.slot == 1;
        let mut rich = if plain {
            text::RichText {
                text: format!(
                    "hello from {} 👋",
                    self.model.account(id.repo).map_or("", |a| a.name)
                ),
                facets: Vec::new(),
                lang: Some("en"),
                link: None,
            }
        } else {
            text::post_text(draw, mention.flatten())
        };
        if version > 0 {
            rich.text.push_str(" (edited)");
        }
        fields.push(("text", rich.text.clone().into()));
        if !rich.facets.is_empty() {
            fields.push(("facets", Value::List(rich.facets)));
        }
        if let Some(lang) = rich.lang {
            let mut langs = vec![lang.into()];
            if draw.chance(50) && lang != "en" {
                langs.push("en".into());
            }
            fields.push(("langs", Value::List(langs)));
        }
        if shape.kind == PostKind::Reply {
            let reply = self.reply_target(id, micros)?;
            fields.push((
                "reply",
                obj(vec![
                    ("root", strong_ref(&reply.root.0, reply.root.1)),
                    ("parent", strong_ref(&reply.parent.0, reply.parent.1)),
                ]),
            ));
        }
        let media = media_embed(draw, shape.media, rich.link.as_deref());
        let embed = if shape.kind == PostKind::Quote {
            let quoted = if draw.chance(900) {
                let target = self.pick_post(draw, id.repo, micros, true);
                let post = self.post_ref(target)?;
                strong_ref(&post.uri, post.cid)
            } else {
                let list = self.curated_list_elsewhere(draw, id.repo);
                let generated = self.record(list, 0)?;
                strong_ref(&self.uri(list), generated.cid)
            };
            let record = obj(vec![
                ("$type", "app.bsky.embed.record".into()),
                ("record", quoted),
            ]);
            Some(match media {
                Some(media) => obj(vec![
                    ("$type", "app.bsky.embed.recordWithMedia".into()),
                    ("record", record),
                    ("media", media),
                ]),
                None => record,
            })
        } else {
            media
        };
        if let Some(embed) = embed {
            fields.push(("embed", embed));
        }
        if !plain && draw.chance(20) {
            fields.push((
                "labels",
                obj(vec![
                    ("$type", "com.atproto.label.defs#selfLabels".into()),
                    (
                        "values",
                        Value::List(vec![obj(vec![(
                            "val",
                            (*draw.pick(&["nudity", "sexual", "graphic-media", "porn"])).into(),
                        )])]),
                    ),
                ]),
            ));
        }
        if !plain && draw.chance(30) {
            let tags = (0..1 + draw.below(3))
                .map(|_| Value::from(text::tag(draw)))
                .collect();
            fields.push(("tags", Value::List(tags)));
        }
        Ok(())
    }

    fn threadgate(
        &self,
        draw: &mut Draw,
        id: RecordId,
        micros: u64,
        fields: &mut Vec<(&str, Value)>,
    ) {
        let post = RecordId::new(id.repo, id.slot, 0);
        fields.push(("post", self.uri_at(post, micros).into()));
        let rule = |name: &str| {
            obj(vec![(
                "$type",
                format!("app.bsky.feed.threadgate#{name}").into(),
            )])
        };
        let mut allow = Vec::new();
        match draw.below(5) {
            0 => {}
            1 => allow.push(rule("mentionRule")),
            2 => allow.push(rule("followingRule")),
            3 => {
                allow.push(rule("followerRule"));
                allow.push(rule("mentionRule"));
            }
            _ => {
                let list = self.curated_list_elsewhere(draw, id.repo);
                allow.push(obj(vec![
                    ("$type", "app.bsky.feed.threadgate#listRule".into()),
                    ("list", self.uri(list).into()),
                ]));
            }
        }
        fields.push(("allow", Value::List(allow)));
    }

    fn postgate(
        &self,
        draw: &mut Draw,
        id: RecordId,
        micros: u64,
        fields: &mut Vec<(&str, Value)>,
    ) -> Result<(), ContentError> {
        let post = RecordId::new(id.repo, id.slot, 0);
        fields.push(("post", self.uri_at(post, micros).into()));
        if draw.chance(600) {
            fields.push((
                "embeddingRules",
                Value::List(vec![obj(vec![(
                    "$type",
                    "app.bsky.feed.postgate#disableRule".into(),
                )])]),
            ));
        } else {
            let detached = self.pick_post(draw, id.repo, micros, false);
            let detached = self.post_ref(detached)?;
            fields.push((
                "detachedEmbeddingUris",
                Value::List(vec![detached.uri.clone().into()]),
            ));
        }
        Ok(())
    }

    fn list_item(
        &self,
        draw: &mut Draw,
        id: RecordId,
        list: String,
        fields: &mut Vec<(&str, Value)>,
    ) {
        fields.push(("subject", self.other_did(draw, id.repo).into()));
        fields.push(("list", list.into()));
    }
}

fn capitalise(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn list(draw: &mut Draw, purpose: &str, version: u32, fields: &mut Vec<(&str, Value)>) {
    fields.push(("purpose", format!("app.bsky.graph.defs#{purpose}").into()));
    let mut name = {
        let n = 1 + draw.below(4);
        phrase(draw, n, 50)
    };
    if version > 0 {
        name = format!("{name} (v{version})");
    }
    fields.push(("name", name.into()));
    if draw.chance(600) {
        fields.push((
            "description",
            {
                let n = 1 + draw.below(2);
                paragraph(draw, n, 300)
            }
            .into(),
        ));
    }
}

fn aspect_ratio(draw: &mut Draw) -> Value {
    let (width, height) = *draw.pick(&[(1000, 1000), (1600, 900), (900, 1600), (1200, 800)]);
    obj(vec![("width", width.into()), ("height", height.into())])
}

fn image(draw: &mut Draw, type_name: Option<&'static str>) -> Value {
    let mime = *draw.pick(&["image/jpeg", "image/jpeg", "image/png", "image/webp"]);
    let mut fields = vec![
        (
            "image",
            blob(draw.next_u64(), mime, 50_000 + draw.below(900_000)),
        ),
        (
            "alt",
            if draw.chance(600) {
                phrase(draw, 8, 200)
            } else {
                String::new()
            }
            .into(),
        ),
        ("aspectRatio", aspect_ratio(draw)),
    ];
    if let Some(type_name) = type_name {
        fields.push(("$type", type_name.into()));
    }
    obj(fields)
}

/// The media embed of a post (`None` for [`Media::None`]).
fn media_embed(draw: &mut Draw, media: Media, link: Option<&str>) -> Option<Value> {
    Some(match media {
        Media::None => return None,
        Media::Images => {
            let count = 1 + draw.below(4);
            obj(vec![
                ("$type", "app.bsky.embed.images".into()),
                (
                    "images",
                    Value::List((0..count).map(|_| image(draw, None)).collect()),
                ),
            ])
        }
        Media::Gallery => {
            let count = 2 + draw.below(5);
            obj(vec![
                ("$type", "app.bsky.embed.gallery".into()),
                (
                    "items",
                    Value::List(
                        (0..count)
                            .map(|_| image(draw, Some("app.bsky.embed.gallery#image")))
                            .collect(),
                    ),
                ),
            ])
        }
        Media::Video => {
            let mut fields = vec![
                ("$type", "app.bsky.embed.video".into()),
                (
                    "video",
                    blob(
                        draw.next_u64(),
                        "video/mp4",
                        1_000_000 + draw.below(50_000_000),
                    ),
                ),
                ("aspectRatio", aspect_ratio(draw)),
            ];
            if draw.chance(500) {
                fields.push(("alt", phrase(draw, 6, 200).into()));
            }
            if draw.chance(100) {
                fields.push((
                    "captions",
                    Value::List(vec![obj(vec![
                        ("lang", "en".into()),
                        ("file", blob(draw.next_u64(), "text/vtt", 2_000)),
                    ])]),
                ));
            }
            obj(fields)
        }
        Media::External => {
            let uri = link.map_or_else(|| text::url(draw), str::to_owned);
            let mut external = vec![
                ("uri", uri.into()),
                ("title", phrase(draw, 6, 100).into()),
                (
                    "description",
                    {
                        let n = 1 + draw.below(2);
                        paragraph(draw, n, 300)
                    }
                    .into(),
                ),
            ];
            if draw.chance(700) {
                external.push((
                    "thumb",
                    blob(draw.next_u64(), "image/jpeg", 30_000 + draw.below(500_000)),
                ));
            }
            obj(vec![
                ("$type", "app.bsky.embed.external".into()),
                ("external", obj(external)),
            ])
        }
    })
}

fn labeler_service(fields: &mut Vec<(&str, Value)>) {
    let definition = obj(vec![
        ("identifier", "rude".into()),
        ("severity", "alert".into()),
        ("blurs", "none".into()),
        ("defaultSetting", "warn".into()),
        ("adultOnly", false.into()),
        (
            "locales",
            Value::List(vec![obj(vec![
                ("lang", "en".into()),
                ("name", "Rude".into()),
                ("description", "Not nice to others.".into()),
            ])]),
        ),
    ]);
    fields.push((
        "policies",
        obj(vec![
            (
                "labelValues",
                Value::List(LABEL_VALUES.iter().map(|v| (*v).into()).collect()),
            ),
            ("labelValueDefinitions", Value::List(vec![definition])),
        ]),
    ));
}

fn other_app(
    draw: &mut Draw,
    app: OtherApp,
    version: u32,
    micros: u64,
    fields: &mut Vec<(&str, Value)>,
) {
    match app {
        OtherApp::Statusphere => {
            let mut status = text::emoji(draw);
            for _ in 0..version {
                status = text::emoji(draw);
            }
            fields.push(("status", status.into()));
        }
        OtherApp::Blog => {
            fields.push(("title", phrase(draw, 6, 100).into()));
            let sentences = 5 + heavy(draw, 200);
            fields.push(("content", paragraph(draw, sentences, 20_000).into()));
            fields.push(("visibility", "public".into()));
        }
        OtherApp::Frontpage => {
            fields.push(("title", phrase(draw, 8, 120).into()));
            fields.push(("url", text::url(draw).into()));
        }
        OtherApp::Calendar => {
            fields.push(("name", phrase(draw, 5, 100).into()));
            fields.push(("description", paragraph(draw, 2, 500).into()));
            let starts = micros + (1 + draw.below(60)) * 86_400_000_000;
            fields.push(("startsAt", datetime(starts).into()));
            fields.push(("mode", "community.lexicon.calendar.event#inperson".into()));
            fields.push((
                "status",
                "community.lexicon.calendar.event#scheduled".into(),
            ));
        }
    }
    fields.push(("createdAt", datetime(micros).into()));
}
