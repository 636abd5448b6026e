//! Our migrations against the reference AppView's schema (see `migrations/README.md`).
//!
//! - Every object of a schema made by the reference's own migrator (@atproto/bsky 0.0.280) exists
//!   in ours with the same definition; our extras are reported, and extra indexes and columns must
//!   be documented.
//! - The reference migrator finds nothing to do on our schema, and our migrations adopt a schema
//!   that the reference's migrator made.
//! - The reference dataplane and API (`serve-appview`) read our schema as they read theirs.

use serde_json::Value;
use sluice_store::TestDb;

use crate::support::catalog::SchemaCatalog;
use crate::support::realnet::RealnetProcess;
use crate::support::{install_crypto_provider, reference, workspace_root};

/// The part of migrations/README.md that must name every column and index we add.
fn migrations_readme() -> String {
    let path = workspace_root().join("migrations/README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The text of the README section under `heading`, up to the next section.
fn readme_section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("migrations/README.md has no section {heading:?}"));
    let body = &readme[start + heading.len()..];
    body.split("\n## ").next().unwrap_or(body)
}

/// True when the README names `table.column` (either quoting style).
fn documents_column(readme: &str, key: &str) -> bool {
    let Some((table, column)) = key.trim_start_matches("column ").split_once('.') else {
        return false;
    };
    readme.contains(&format!("{table}.{column}"))
        || readme.contains(&format!("{table}.\"{column}\""))
}

/// The table an extra object belongs to, when the key names one (`relation t`, `column t.c`,
/// `constraint t.name`) or the index definition does (`… ON t USING …`).
fn table_of<'a>(key: &'a str, definition: &'a str) -> Option<&'a str> {
    if let Some(table) = key.strip_prefix("relation ") {
        return Some(table);
    }
    if let Some(rest) = key
        .strip_prefix("column ")
        .or_else(|| key.strip_prefix("constraint "))
    {
        return rest.split_once('.').map(|(table, _)| table);
    }
    let after_on = definition.split(" ON ").nth(1)?;
    after_on.split_whitespace().next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_objects_all_exist_in_our_schema_with_the_same_definition() {
    let ours = TestDb::migrated().await;
    let theirs = TestDb::new().await;
    let applied = reference::migrate(theirs.schema()).await;
    assert!(applied > 0, "the reference migrator applied nothing");

    let reference = SchemaCatalog::read(theirs.pool(), theirs.schema()).await;
    let our_catalog = SchemaCatalog::read(ours.pool(), ours.schema()).await;
    assert!(
        reference.count("relation ") > 50 && reference.count("index ") > 50,
        "the reference catalog looks empty: {:?}",
        reference.objects.keys().collect::<Vec<_>>()
    );

    let diff = our_catalog.diff_from(&reference);
    eprintln!(
        "schema comparison ({} reference objects):\n{}",
        reference.objects.len(),
        diff.report()
    );
    assert!(
        diff.covers_reference(),
        "our schema differs from the reference:\n{}",
        diff.report()
    );

    // Whatever we add must be documented in migrations/README.md.
    let readme = migrations_readme();
    let indexes_section = readme_section(&readme, "## Indexes added for the indexer");
    let sluice_tables = readme_section(&readme, "## Sluice tables");
    for (key, definition) in &diff.extra {
        // Sluice's own tables are documented as a whole, with their columns and indexes.
        if let Some(table) = table_of(key, definition)
            && table.starts_with("sluice_")
        {
            assert!(
                sluice_tables.contains(&format!("| `{table}` |")),
                "{key} belongs to table {table}, which is not documented under 'Sluice tables'"
            );
            continue;
        }
        if let Some(index) = key.strip_prefix("index ") {
            assert!(
                indexes_section.contains(&format!("`{index}`")),
                "index {index} ({definition}) is not documented under 'Indexes added for the indexer'"
            );
        } else if key.starts_with("column ") {
            assert!(
                documents_column(&readme, key),
                "{key} ({definition}) is not documented in migrations/README.md"
            );
        } else {
            panic!("undocumented extra object {key}: {definition}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_migrator_finds_nothing_to_do_on_our_schema() {
    let ours = TestDb::migrated().await;
    let before = SchemaCatalog::read(ours.pool(), ours.schema()).await;
    let applied = reference::migrate(ours.schema()).await;
    assert_eq!(
        applied, 0,
        "the reference migrator re-ran migrations on our schema"
    );
    let after = SchemaCatalog::read(ours.pool(), ours.schema()).await;
    let diff = after.diff_from(&before);
    assert!(
        diff.covers_reference() && diff.extra.is_empty(),
        "the reference migrator changed our schema:\n{}",
        diff.report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_migrations_adopt_a_schema_that_the_reference_made() {
    let adopted = TestDb::new().await;
    assert!(reference::migrate(adopted.schema()).await > 0);
    // A record the reference indexed before Sluice took over.
    sqlx::query(
        r#"INSERT INTO record (uri, cid, did, json, "indexedAt")
           VALUES ('at://did:plc:a/app.bsky.feed.post/1', 'c', 'did:plc:a', '{}', '2024-01-01T00:00:00.000Z')"#,
    )
    .execute(adopted.pool())
    .await
    .unwrap();

    adopted.store().migrate().await.unwrap();

    let fresh = TestDb::migrated().await;
    let expected = SchemaCatalog::read(fresh.pool(), fresh.schema()).await;
    let actual = SchemaCatalog::read(adopted.pool(), adopted.schema()).await;
    let diff = actual.diff_from(&expected);
    assert!(
        diff.covers_reference() && diff.extra.is_empty(),
        "an adopted reference schema differs from a fresh one:\n{}",
        diff.report()
    );
    let rev: String = sqlx::query_scalar("SELECT rev FROM record")
        .fetch_one(adopted.pool())
        .await
        .unwrap();
    assert_eq!(rev, "", "existing records start older than any revision");
    assert_eq!(reference::migrate(adopted.schema()).await, 0);
}

/// One xrpc GET: (status, JSON body or the raw text as a string).
async fn xrpc(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    params: &[(&str, &str)],
) -> (u16, Value) {
    let url = reqwest::Url::parse_with_params(&format!("{base}/xrpc/{method}"), params)
        .unwrap_or_else(|err| panic!("{method} on {base}: {err}"));
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|err| panic!("{method} on {base}: {err}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Starts `serve-appview` on `schema` for the network `net`.
async fn serve_appview(net: &RealnetProcess, schema: &str, migrate: bool) -> RealnetProcess {
    let mut args = vec![
        "--pg-schema",
        schema,
        "--plc",
        net.str_at("/plc/url"),
        "--pds",
        net.str_at("/pds/url"),
    ];
    if migrate {
        args.push("--migrate");
    }
    RealnetProcess::start("serve-appview", &args).await
}

/// Asks both AppViews the same questions; every answer must be equal and none a server error.
async fn assert_same_answers(
    client: &reqwest::Client,
    reference: &str,
    ours: &str,
    calls: &[(&str, Vec<(&str, &str)>)],
) {
    for (method, params) in calls {
        let theirs = xrpc(client, reference, method, params).await;
        let mine = xrpc(client, ours, method, params).await;
        eprintln!("{method} {params:?} -> {} {}", mine.0, mine.1);
        assert!(
            mine.0 < 500,
            "{method} {params:?} failed on our schema: {mine:?}"
        );
        assert_eq!(
            mine, theirs,
            "{method} {params:?}: our schema (left) vs the reference's (right)"
        );
    }
}

/// Inserts the same account row into a schema (as an indexer would for an #identity event).
async fn insert_actor(db: &TestDb, did: &str, handle: &str) {
    sqlx::query(r#"INSERT INTO actor (did, handle, "indexedAt") VALUES ($1, $2, '2024-01-01T00:00:00.000Z')"#)
        .bind(did)
        .bind(handle)
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query(
        r#"INSERT INTO profile_agg (did, "followersCount", "followsCount", "postsCount") VALUES ($1, 3, 2, 7)"#,
    )
    .bind(did)
    .execute(db.pool())
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_appview_reads_our_schema_as_it_reads_a_reference_one() {
    install_crypto_provider();
    let net = RealnetProcess::up(&["--users", "3"]).await;
    let ours = TestDb::migrated().await;
    let theirs = TestDb::new().await; // serve-appview --migrate fills it
    let (our_view, their_view) = tokio::join!(
        serve_appview(&net, ours.schema(), false),
        serve_appview(&net, theirs.schema(), true)
    );
    assert_eq!(
        our_view.info().get("migrated"),
        Some(&Value::Null),
        "serve-appview migrated our schema"
    );
    let (our_url, their_url) = (our_view.str_at("/url"), their_view.str_at("/url"));

    let did = net.str_at("/accounts/0/did");
    let handle = net.str_at("/accounts/0/handle");
    let post_uri = format!("at://{did}/app.bsky.feed.post/3kabcdefghijk");
    let calls = [
        ("app.bsky.actor.getProfile", vec![("actor", did)]),
        ("app.bsky.actor.getProfiles", vec![("actors", did)]),
        ("app.bsky.feed.getAuthorFeed", vec![("actor", did)]),
        ("app.bsky.graph.getFollows", vec![("actor", did)]),
        ("app.bsky.graph.getFollowers", vec![("actor", did)]),
        ("app.bsky.graph.getLists", vec![("actor", did)]),
        ("app.bsky.feed.getActorFeeds", vec![("actor", did)]),
        ("app.bsky.actor.searchActors", vec![("q", "alice")]),
        ("app.bsky.actor.searchActorsTypeahead", vec![("q", "ali")]),
        ("app.bsky.graph.searchStarterPacks", vec![("q", "pack")]),
        (
            "app.bsky.feed.getPostThread",
            vec![("uri", post_uri.as_str())],
        ),
        ("app.bsky.feed.getPosts", vec![("uris", post_uri.as_str())]),
        ("app.bsky.feed.getLikes", vec![("uri", post_uri.as_str())]),
    ];
    let client = reqwest::Client::new();

    // Empty schemas: the seeded account is unknown to both.
    let (status, body) = xrpc(
        &client,
        our_url,
        "app.bsky.actor.getProfile",
        &[("actor", did)],
    )
    .await;
    assert_eq!(
        status, 400,
        "getProfile of an unindexed account on our schema: {body}"
    );
    assert_same_answers(&client, their_url, our_url, &calls).await;

    // The same account row in both: both serve it, from the same columns.
    insert_actor(&ours, did, handle).await;
    insert_actor(&theirs, did, handle).await;
    let (status, body) = xrpc(
        &client,
        our_url,
        "app.bsky.actor.getProfile",
        &[("actor", did)],
    )
    .await;
    assert_eq!(status, 200, "getProfile on our schema: {body}");
    assert_eq!(
        body.get("handle").and_then(Value::as_str),
        Some(handle),
        "{body}"
    );
    assert_eq!(
        body.get("postsCount").and_then(Value::as_u64),
        Some(7),
        "{body}"
    );
    // Actor search goes through the trigram index on actor.handle.
    let (status, body) = xrpc(
        &client,
        our_url,
        "app.bsky.actor.searchActors",
        &[("q", "alice")],
    )
    .await;
    let found = body.pointer("/actors/0/did").and_then(Value::as_str);
    assert_eq!(
        (status, found),
        (200, Some(did)),
        "searchActors on our schema: {body}"
    );
    assert_same_answers(&client, their_url, our_url, &calls).await;
}
