//! Language tags (BCP 47 / RFC 5646), as in a post's `langs`.
//!
//! [`Language::parse`] (and `FromStr`, serde) checks that a tag is well-formed per the RFC 5646
//! grammar: `language[-extlang][-script][-region]*(-variant)*(-extension)[-x-private]`, a
//! private-use tag (`x-…`) or one of the grandfathered tags (`i-default`, `zh-hakka`, …). Like
//! the atproto interop vectors, it also requires the primary language subtag to be two or three
//! lower-case letters (so `JA` and `jaja` are rejected; RFC 5646 is otherwise case-insensitive).
//!
//! [`Language::parse_strict`] adds RFC 5646's validity rules that a grammar can not express: no
//! variant subtag and no extension singleton may appear twice (case-insensitively).

use super::error::{SyntaxError, SyntaxKind};
use super::string_conversions;

/// The grandfathered tags of RFC 5646 (irregular, then regular), matched case-insensitively.
const GRANDFATHERED: [&str; 26] = [
    "en-GB-oed",
    "i-ami",
    "i-bnn",
    "i-default",
    "i-enochian",
    "i-hak",
    "i-klingon",
    "i-lux",
    "i-mingo",
    "i-navajo",
    "i-pwn",
    "i-tao",
    "i-tay",
    "i-tsu",
    "sgn-BE-FR",
    "sgn-BE-NL",
    "sgn-CH-DE",
    "art-lojban",
    "cel-gaulish",
    "no-bok",
    "no-nyn",
    "zh-guoyu",
    "zh-hakka",
    "zh-min",
    "zh-min-nan",
    "zh-xiang",
];

/// A well-formed language tag, kept as written.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Language(String);

impl Language {
    /// Parses a well-formed language tag.
    pub fn parse(s: &str) -> Result<Self, SyntaxError> {
        check(s, false).map_err(|reason| SyntaxError::new(SyntaxKind::Language, s, reason))?;
        Ok(Self(s.to_owned()))
    }

    /// Parses a well-formed language tag that also repeats no variant and no extension
    /// singleton.
    pub fn parse_strict(s: &str) -> Result<Self, SyntaxError> {
        check(s, true).map_err(|reason| SyntaxError::new(SyntaxKind::Language, s, reason))?;
        Ok(Self(s.to_owned()))
    }

    /// The tag as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The primary language subtag (`pt` in `pt-BR`); `None` for private-use and grandfathered
    /// tags.
    pub fn primary_language(&self) -> Option<&str> {
        if is_grandfathered(&self.0) {
            return None;
        }
        let primary = self.0.split('-').next().unwrap_or_default();
        (!primary.eq_ignore_ascii_case("x")).then_some(primary)
    }
}

impl TryFrom<String> for Language {
    type Error = SyntaxError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match check(&s, false) {
            Ok(()) => Ok(Self(s)),
            Err(reason) => Err(SyntaxError::new(SyntaxKind::Language, &s, reason)),
        }
    }
}

impl From<Language> for String {
    fn from(language: Language) -> Self {
        language.0
    }
}

impl std::fmt::Debug for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Language({:?})", self.0)
    }
}

string_conversions!(Language, "a BCP 47 language tag");

fn is_grandfathered(s: &str) -> bool {
    GRANDFATHERED.iter().any(|tag| tag.eq_ignore_ascii_case(s))
}

fn is_alpha(subtag: &str, len: usize) -> bool {
    subtag.len() == len && subtag.bytes().all(|b| b.is_ascii_alphabetic())
}

fn is_alphanumeric(subtag: &str, lengths: std::ops::RangeInclusive<usize>) -> bool {
    lengths.contains(&subtag.len()) && subtag.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_region(subtag: &str) -> bool {
    is_alpha(subtag, 2) || (subtag.len() == 3 && subtag.bytes().all(|b| b.is_ascii_digit()))
}

fn is_variant(subtag: &str) -> bool {
    is_alphanumeric(subtag, 5..=8)
        || (is_alphanumeric(subtag, 4..=4) && subtag.starts_with(|c: char| c.is_ascii_digit()))
}

/// An extension singleton: one letter or digit other than `x`.
fn singleton(subtag: &str) -> Option<u8> {
    match subtag.as_bytes() {
        &[b] if b.is_ascii_alphanumeric() && !b.eq_ignore_ascii_case(&b'x') => {
            Some(b.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// A distinct number below 36 for each lower-case singleton (digits 0–9, letters 10–35).
fn singleton_index(letter: u8) -> u32 {
    if letter.is_ascii_digit() {
        u32::from(letter - b'0')
    } else {
        u32::from(letter.saturating_sub(b'a')) + 10
    }
}

/// Consumes `x-…` private-use subtags (the `x` already consumed): one or more of 1 to 8
/// letters and digits, to the end.
fn check_private_use<'a>(subtags: impl Iterator<Item = &'a str>) -> Result<(), &'static str> {
    let mut count = 0usize;
    for subtag in subtags {
        if !is_alphanumeric(subtag, 1..=8) {
            return Err("private-use subtags must be 1 to 8 letters or digits");
        }
        count += 1;
    }
    if count == 0 {
        return Err("\"x\" must be followed by private-use subtags");
    }
    Ok(())
}

/// Checks a tag's well-formedness and, when `strict`, its validity; the error is the reason.
fn check(s: &str, strict: bool) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if is_grandfathered(s) {
        return Ok(());
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("disallowed character (ASCII letters, digits and hyphens only)");
    }
    if s.split('-').any(str::is_empty) {
        return Err("empty subtag");
    }
    let mut subtags = s.split('-').peekable();
    let primary = subtags.next().unwrap_or_default();
    if primary.eq_ignore_ascii_case("x") {
        return check_private_use(subtags);
    }
    if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err("primary language subtag must be 2 or 3 letters");
    }
    if !primary.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err("primary language subtag must be lower case");
    }
    let mut extlangs = 0;
    while extlangs < 3 && subtags.next_if(|t| is_alpha(t, 3)).is_some() {
        extlangs += 1;
    }
    subtags.next_if(|t| is_alpha(t, 4)); // script
    subtags.next_if(|t| is_region(t));
    let mut seen_variants: Vec<&str> = Vec::new();
    while let Some(variant) = subtags.next_if(|t| is_variant(t)) {
        if strict {
            if seen_variants
                .iter()
                .any(|v| v.eq_ignore_ascii_case(variant))
            {
                return Err("variant subtag repeated");
            }
            seen_variants.push(variant);
        }
    }
    // One bit per singleton letter or digit seen.
    let mut seen_singletons = 0u64;
    while let Some(letter) = subtags.peek().and_then(|t| singleton(t)) {
        subtags.next();
        let bit = 1u64 << singleton_index(letter);
        if strict && seen_singletons & bit != 0 {
            return Err("extension singleton repeated");
        }
        seen_singletons |= bit;
        let mut extension_subtags = 0;
        while subtags.next_if(|t| is_alphanumeric(t, 2..=8)).is_some() {
            extension_subtags += 1;
        }
        if extension_subtags == 0 {
            return Err("an extension singleton must be followed by subtags of 2 to 8 characters");
        }
    }
    if subtags.next_if(|t| t.eq_ignore_ascii_case("x")).is_some() {
        return check_private_use(subtags);
    }
    if subtags.next().is_some() {
        return Err("misplaced or malformed subtag");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_tags() {
        for tag in [
            "ja",
            "pt-BR",
            "hy-Latn-IT-arevela",
            "zh-yue-HK",
            "en-a-bbb-x-a-ccc",
            "x-whatever",
            "I-DEFAULT",
        ] {
            assert!(Language::parse(tag).is_ok(), "{tag}");
        }
    }

    #[test]
    fn primary_language() {
        assert_eq!(
            Language::parse("pt-BR").unwrap().primary_language(),
            Some("pt")
        );
        assert_eq!(
            Language::parse("i-navajo").unwrap().primary_language(),
            None
        );
        assert_eq!(Language::parse("X-fr-CH").unwrap().primary_language(), None);
    }

    #[test]
    fn errors_say_why() {
        let reason = |s: &str| Language::parse(s).unwrap_err().reason().to_owned();
        assert_eq!(reason("JA"), "primary language subtag must be lower case");
        assert_eq!(
            reason("jaja"),
            "primary language subtag must be 2 or 3 letters"
        );
        assert_eq!(reason("ja-"), "empty subtag");
        assert_eq!(reason("de-419-DE"), "misplaced or malformed subtag");
        assert_eq!(
            reason("en-a"),
            "an extension singleton must be followed by subtags of 2 to 8 characters"
        );
    }

    #[test]
    fn strict_rejects_repeats_case_insensitively() {
        assert!(Language::parse("en-rozaj-ROZAJ").is_ok());
        assert_eq!(
            Language::parse_strict("en-rozaj-ROZAJ")
                .unwrap_err()
                .reason(),
            "variant subtag repeated"
        );
        assert_eq!(
            Language::parse_strict("en-u-co-phonebk-U-ca-buddhist")
                .unwrap_err()
                .reason(),
            "extension singleton repeated"
        );
        assert!(Language::parse_strict("en-u-co-phonebk-t-en-US").is_ok());
        // Every letter and digit is its own singleton (no two share a slot).
        assert!(Language::parse_strict("en-7-aa-w-bb-9-cc-y-dd-0-ee-a-ff-z-gg").is_ok());
        assert!(Language::parse_strict("en-7-aa-7-bb").is_err());
    }
}
