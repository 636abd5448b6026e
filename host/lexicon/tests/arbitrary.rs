//! Validating arbitrary values never panics, and every failure names a path inside the
//! record.

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;
use proptest::prelude::*;
use sluice_lexicon::{Catalog, ValidationOptions};

/// Keys and strings drawn from the record lexicons, so that values often reach deep into the
/// schemas (unions, blobs, facets) instead of failing at the top.
const WORDS: &[&str] = &[
    "$type",
    "text",
    "createdAt",
    "embed",
    "images",
    "image",
    "alt",
    "aspectRatio",
    "width",
    "height",
    "facets",
    "index",
    "byteStart",
    "byteEnd",
    "features",
    "did",
    "uri",
    "tag",
    "reply",
    "root",
    "parent",
    "cid",
    "langs",
    "labels",
    "values",
    "val",
    "tags",
    "subject",
    "record",
    "external",
    "title",
    "description",
    "thumb",
    "media",
    "ref",
    "mimeType",
    "size",
    "blob",
    "avatar",
    "displayName",
    "items",
    "list",
    "name",
    "purpose",
    "allow",
    "video",
    "captions",
    "app.bsky.feed.post",
    "app.bsky.embed.images",
    "app.bsky.embed.external",
    "app.bsky.embed.record",
    "app.bsky.embed.recordWithMedia",
    "app.bsky.embed.video",
    "app.bsky.richtext.facet#mention",
    "app.bsky.richtext.facet#link",
    "app.bsky.richtext.facet#tag",
    "com.atproto.label.defs#selfLabels",
    "com.atproto.repo.strongRef",
    "app.bsky.feed.threadgate#mentionRule",
    "image/png",
    "en",
    "2024-01-01T00:00:00Z",
    "did:plc:abc",
    "at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a",
    "bafkreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq",
    "https://example.com",
    "",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn cid() -> impl Strategy<Value = cid::Cid> {
    any::<[u8; 32]>().prop_map(|digest| {
        let hash = cid::multihash::Multihash::<64>::wrap(0x12, &digest).unwrap();
        cid::Cid::new_v1(0x55, hash)
    })
}

fn value() -> impl Strategy<Value = Ipld> {
    let leaf = prop_oneof![
        Just(Ipld::Null),
        any::<bool>().prop_map(Ipld::Bool),
        prop_oneof![
            any::<i64>().prop_map(i128::from),
            -3i128..3000,
            any::<i128>()
        ]
        .prop_map(Ipld::Integer),
        any::<f64>().prop_map(Ipld::Float),
        word().prop_map(Ipld::String),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Ipld::Bytes),
        cid().prop_map(Ipld::Link),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Ipld::List),
            proptest::collection::btree_map(word(), inner, 0..8).prop_map(Ipld::Map),
        ]
    })
}

/// A record-shaped value: a map with a `$type`, often the collection's own.
fn record() -> impl Strategy<Value = (String, Ipld)> {
    let catalog = Catalog::builtin();
    let types: Vec<String> = catalog
        .record_types()
        .into_iter()
        .map(str::to_owned)
        .collect();
    (
        proptest::sample::select(types),
        proptest::collection::btree_map(word(), value(), 0..10),
        any::<bool>(),
    )
        .prop_map(
            |(collection, mut map, typed): (String, BTreeMap<String, Ipld>, bool)| {
                if typed {
                    map.insert("$type".to_owned(), Ipld::String(collection.clone()));
                }
                (collection, Ipld::Map(map))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn validating_arbitrary_values_never_panics((collection, value) in record(), other in value()) {
        let catalog = Catalog::builtin();
        let schema = catalog.record(&collection).unwrap();
        for candidate in [&value, &other] {
            for options in [ValidationOptions::REFERENCE, ValidationOptions::SPEC] {
                if let Err(error) = schema.validate_with(candidate, options) {
                    prop_assert!(
                        error.path() == "record" || error.path().starts_with("record/"),
                        "{error}"
                    );
                    prop_assert!(!error.to_string().is_empty());
                }
            }
        }
    }
}
