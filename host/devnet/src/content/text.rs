//! Texts: post bodies with mention, link and tag facets (byte offsets into UTF-8, with emoji,
//! Japanese and Greek so that byte and character offsets differ), names and descriptions.

use super::value::{Value, obj};
use crate::draw::Draw;

/// Longest text a post gets, in characters (the lexicon allows 300 graphemes, 3000 bytes; every
/// grapheme is at least one character).
const MAX_POST_CHARS: usize = 290;

const ENGLISH: [&str; 48] = [
    "the",
    "network",
    "is",
    "quiet",
    "today",
    "and",
    "I",
    "love",
    "it",
    "coffee",
    "first",
    "then",
    "code",
    "reading",
    "a",
    "paper",
    "about",
    "merkle",
    "trees",
    "who",
    "knew",
    "sunsets",
    "could",
    "be",
    "this",
    "orange",
    "new",
    "blog",
    "post",
    "is",
    "up",
    "thread",
    "below",
    "my",
    "cat",
    "disagrees",
    "weekend",
    "plans",
    "hiking",
    "rain",
    "again",
    "shipping",
    "small",
    "things",
    "every",
    "day",
    "café",
    "naïve",
];
const JAPANESE: [&str; 12] = [
    "こんにちは",
    "今日は",
    "いい天気",
    "ですね",
    "東京",
    "ラーメン",
    "食べたい",
    "新しい",
    "ブログ",
    "書きました",
    "猫",
    "かわいい",
];
const PORTUGUESE: [&str; 12] = [
    "bom", "dia", "pessoal", "hoje", "é", "sexta", "café", "com", "pão", "saudade", "praia",
    "ótimo",
];
const GERMAN: [&str; 12] = [
    "guten", "Morgen", "heute", "ist", "Kaffee", "wichtig", "Straße", "schön", "Wetter", "über",
    "Brücke", "Grüße",
];
const GREEK: [&str; 8] = [
    "καλημέρα",
    "σήμερα",
    "ήλιος",
    "θάλασσα",
    "καφές",
    "φίλοι",
    "ωραία",
    "μέρα",
];
const EMOJI: [&str; 10] = ["🎉", "☕", "🐈", "🌅", "🚀", "👩‍💻", "🏳️‍🌈", "👍🏽", "🦋", "❤️"];
const TAGS: [&str; 10] = [
    "atproto",
    "rustlang",
    "photography",
    "caturday",
    "coffee",
    "art",
    "science",
    "music",
    "bookclub",
    "devnet",
];
const SITES: [&str; 6] = [
    "https://example.com",
    "https://blog.example.org",
    "https://news.example.net",
    "https://docs.example.dev",
    "https://photos.example.com",
    "https://www.example.co.jp",
];

/// A post's text, its facets, and its language.
#[derive(Debug, Clone, PartialEq)]
pub struct RichText {
    /// The text.
    pub text: String,
    /// `app.bsky.richtext.facet` objects (byte offsets into `text`).
    pub facets: Vec<Value>,
    /// The language tag (`None`: the post declares none).
    pub lang: Option<&'static str>,
    /// The first link of the text, if any (external embeds point at it).
    pub link: Option<String>,
}

/// A mention the text may include: a handle and its DID.
#[derive(Debug, Clone)]
pub struct Mention {
    /// The handle written after `@`.
    pub handle: String,
    /// The DID the facet points at.
    pub did: String,
}

/// Builds text and facets together, tracking byte offsets.
struct Builder {
    text: String,
    chars: usize,
    facets: Vec<Value>,
}

impl Builder {
    fn fits(&self, piece: &str) -> bool {
        self.chars + 1 + piece.chars().count() <= MAX_POST_CHARS
    }

    fn push(&mut self, piece: &str) -> Option<(usize, usize)> {
        if !self.fits(piece) {
            return None;
        }
        if !self.text.is_empty() {
            self.text.push(' ');
            self.chars += 1;
        }
        let start = self.text.len();
        self.text.push_str(piece);
        self.chars += piece.chars().count();
        Some((start, self.text.len()))
    }

    fn facet(&mut self, (start, end): (usize, usize), feature: Value) {
        self.facets.push(obj(vec![
            (
                "index",
                obj(vec![
                    ("byteStart", Value::Int(start as i64)),
                    ("byteEnd", Value::Int(end as i64)),
                ]),
            ),
            ("features", Value::List(vec![feature])),
        ]));
    }
}

/// A post text: a few to a few dozen words in one language, sometimes emoji, and mention, link
/// and tag facets.
pub fn post_text(draw: &mut Draw, mention: Option<Mention>) -> RichText {
    let (lang, words): (Option<&'static str>, &[&str]) = match draw.below(100) {
        0..70 => (Some("en"), &ENGLISH),
        70..80 => (Some("ja"), &JAPANESE),
        80..88 => (Some("pt"), &PORTUGUESE),
        88..94 => (Some("de"), &GERMAN),
        94..97 => (Some("el"), &GREEK),
        _ => (None, &ENGLISH),
    };
    let mut builder = Builder {
        text: String::new(),
        chars: 0,
        facets: Vec::new(),
    };
    let length = 3 + heavy(draw, 50);
    let mention_at = draw.below(length + 1);
    let mut link = None;
    let link_at = draw.chance(120).then(|| draw.below(length + 1));
    let tag_at = draw.chance(150).then(|| draw.below(length + 1));
    for position in 0..=length {
        if position == mention_at
            && let Some(mention) = &mention
        {
            let written = format!("@{}", mention.handle);
            if let Some(range) = builder.push(&written) {
                builder.facet(
                    range,
                    obj(vec![
                        ("$type", "app.bsky.richtext.facet#mention".into()),
                        ("did", mention.did.clone().into()),
                    ]),
                );
            }
        }
        if Some(position) == link_at {
            let url = format!(
                "{}/{}-{}",
                draw.pick(&SITES),
                draw.pick(&TAGS),
                draw.below(10_000)
            );
            if let Some(range) = builder.push(&url) {
                builder.facet(
                    range,
                    obj(vec![
                        ("$type", "app.bsky.richtext.facet#link".into()),
                        ("uri", url.clone().into()),
                    ]),
                );
                link = Some(url);
            }
        }
        if Some(position) == tag_at {
            let tag = *draw.pick(&TAGS);
            if let Some(range) = builder.push(&format!("#{tag}")) {
                builder.facet(
                    range,
                    obj(vec![
                        ("$type", "app.bsky.richtext.facet#tag".into()),
                        ("tag", tag.into()),
                    ]),
                );
            }
        }
        if position < length {
            let word = if draw.chance(60) {
                draw.pick(&EMOJI)
            } else {
                *draw.pick(words)
            };
            builder.push(word);
        }
    }
    RichText {
        text: builder.text,
        facets: builder.facets,
        lang,
        link,
    }
}

/// A short phrase of `words` words (titles, names, alt texts), at most `max_chars` characters.
pub fn phrase(draw: &mut Draw, words: u64, max_chars: usize) -> String {
    let mut text = String::new();
    for _ in 0..words.max(1) {
        let word = *draw.pick(&ENGLISH);
        if text.chars().count() + word.chars().count() + 1 > max_chars {
            break;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(word);
    }
    if text.is_empty() {
        text.push_str("devnet");
    }
    text
}

/// A paragraph of `sentences` sentences (descriptions, blog entries).
pub fn paragraph(draw: &mut Draw, sentences: u64, max_chars: usize) -> String {
    let mut text = String::new();
    for _ in 0..sentences.max(1) {
        let length = 4 + draw.below(12);
        let mut sentence = phrase(draw, length, 120);
        if let Some(first) = sentence.get(..1) {
            let upper = first.to_uppercase();
            sentence.replace_range(..1, &upper);
        }
        sentence.push('.');
        if text.chars().count() + sentence.chars().count() + 1 > max_chars {
            break;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&sentence);
    }
    text
}

/// An emoji.
pub fn emoji(draw: &mut Draw) -> &'static str {
    draw.pick::<&str>(&EMOJI)
}

/// A hashtag word.
pub fn tag(draw: &mut Draw) -> &'static str {
    draw.pick::<&str>(&TAGS)
}

/// A web address.
pub fn url(draw: &mut Draw) -> String {
    format!(
        "{}/{}/{}",
        draw.pick(&SITES),
        draw.pick(&TAGS),
        draw.below(100_000)
    )
}

/// A value in `0..=max`, most often small.
pub fn heavy(draw: &mut Draw, max: u64) -> u64 {
    let u = draw.unit().max(1e-9);
    (((u.powf(-1.0 / 1.5) - 1.0) * 6.0) as u64).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draw::Topic;

    fn byte_slice(facet: &Value) -> (usize, usize) {
        let Value::Map(map) = facet else { panic!() };
        let Some((_, Value::Map(index))) = map.iter().find(|(k, _)| *k == "index") else {
            panic!()
        };
        let get = |key: &str| match index.iter().find(|(k, _)| *k == key) {
            Some((_, Value::Int(value))) => *value as usize,
            _ => panic!(),
        };
        (get("byteStart"), get("byteEnd"))
    }

    #[test]
    fn facets_point_at_the_bytes_they_annotate() {
        let mut with_facets = 0;
        let mut multibyte = 0;
        for i in 0..2000 {
            let mut draw = Draw::new(1, Topic::Content, i, 0, 0);
            let mention = Mention {
                handle: "alice-1.devnet.test".into(),
                did: "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa".into(),
            };
            let rich = post_text(&mut draw, Some(mention));
            assert!(rich.text.chars().count() <= 300, "{}", rich.text);
            assert!(rich.text.len() <= 3000);
            if rich.text.len() != rich.text.chars().count() {
                multibyte += 1;
            }
            for facet in &rich.facets {
                let (start, end) = byte_slice(facet);
                let annotated = rich.text.get(start..end).expect("facet on char boundaries");
                assert!(
                    annotated.starts_with('@')
                        || annotated.starts_with("https://")
                        || annotated.starts_with('#'),
                    "{annotated:?}"
                );
                with_facets += 1;
            }
        }
        assert!(with_facets > 500, "{with_facets}");
        assert!(multibyte > 500, "{multibyte}");
    }

    #[test]
    fn phrases_respect_their_limits() {
        for i in 0..500 {
            let mut draw = Draw::new(2, Topic::Content, i, 0, 0);
            let name = phrase(&mut draw, 10, 24);
            assert!(!name.is_empty() && name.chars().count() <= 24, "{name}");
            let text = paragraph(&mut draw, 20, 300);
            assert!(text.chars().count() <= 300);
        }
    }
}
