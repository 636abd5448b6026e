//! DID resolution, the Redis cache and handle verification against loopback test doubles and
//! the real Redis (REDIS_URL). No request leaves the machine.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{MockDns, MockHttp, TestPrefix, did_doc};
use sluice_identity::{
    DidCache, DidResolver, HandleError, HandleResolver, IdentityConfig, IdentityResolver,
    ResolveError, install_crypto_provider,
};

const ALICE: &str = "did:plc:alice234567abcdefghijklm";
const BOB: &str = "did:plc:bob234567abcdefghijklmnop";

struct Setup {
    http: MockHttp,
    prefix: TestPrefix,
    cache: DidCache,
    identity: IdentityResolver,
}

fn config(http: &MockHttp) -> IdentityConfig {
    IdentityConfig {
        plc_url: http.url(),
        handle_resolver_url: Some(http.url()),
        timeout: Duration::from_secs(5),
        allow_insecure_did_web: true,
        ..IdentityConfig::default()
    }
}

/// A client that can reach nothing but loopback: any name the tests use for HTTPS points at a
/// closed local port.
fn loopback_client(names: &[&str]) -> reqwest::Client {
    install_crypto_provider();
    let closed: SocketAddr = "127.0.0.1:1".parse().unwrap();
    names
        .iter()
        .fold(reqwest::Client::builder(), |b, name| {
            b.resolve(name, closed)
        })
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn setup(test: &str, config_edit: impl FnOnce(&mut IdentityConfig)) -> Setup {
    let http = MockHttp::start().await;
    let mut config = config(&http);
    config_edit(&mut config);
    let prefix = TestPrefix::new(test);
    let cache = DidCache::with_prefix(
        prefix.conn().await,
        format!("{}identity:", prefix.prefix),
        config.stale_after,
        config.expire_after,
    );
    let client = loopback_client(&[]);
    let identity = IdentityResolver::from_parts(
        DidResolver::new(client.clone(), &config),
        HandleResolver::new(client, &config).unwrap(),
        Some(cache.clone()),
    );
    Setup {
        http,
        prefix,
        cache,
        identity,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn stored(setup: &Setup, did: &str) -> Option<serde_json::Value> {
    let raw: Option<String> = redis::cmd("GET")
        .arg(setup.cache.key(did))
        .query_async(&mut setup.prefix.conn().await)
        .await
        .unwrap();
    raw.map(|r| serde_json::from_str(&r).unwrap())
}

#[tokio::test]
async fn a_plc_document_is_fetched_once_then_served_from_the_cache() {
    let s = setup("plc_cache", |_| {}).await;
    s.http.set_plc(ALICE, did_doc(ALICE, "alice.test"));

    let doc = s.identity.resolve_did(ALICE).await.unwrap();
    assert_eq!(doc.id, ALICE);
    assert_eq!(doc.claimed_handle().as_deref(), Some("alice.test"));
    assert_eq!(s.http.plc_hits(), 1);

    // The reference's shape: {doc, updatedAt}, the document kept whole, with an expiry.
    let entry = stored(&s, ALICE).await.expect("cached");
    assert_eq!(entry["doc"], did_doc(ALICE, "alice.test"));
    let updated_at = entry["updatedAt"].as_i64().unwrap();
    assert!((now_ms() - updated_at).abs() < 60_000);
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(s.cache.key(ALICE))
        .query_async(&mut s.prefix.conn().await)
        .await
        .unwrap();
    assert!(
        ttl_ms > 6 * 24 * 3600 * 1000,
        "expires after 7 days, ttl {ttl_ms} ms"
    );

    let again = s.identity.resolve_did(ALICE).await.unwrap();
    assert_eq!(again, doc);
    assert_eq!(s.http.plc_hits(), 1, "second lookup served from Redis");
}

#[tokio::test]
async fn a_stale_entry_is_served_then_refreshed_in_the_background() {
    let s = setup("stale", |_| {}).await;
    s.http.set_plc(ALICE, did_doc(ALICE, "new.test"));
    let seven_hours_ago = now_ms() - 7 * 3600 * 1000;
    s.cache
        .put_at(ALICE, &did_doc(ALICE, "old.test"), seven_hours_ago)
        .await
        .unwrap();
    let cached = s.cache.get(ALICE).await.unwrap().unwrap();
    assert!(cached.stale && !cached.expired);

    let doc = s.identity.resolve_did(ALICE).await.unwrap();
    assert_eq!(
        doc.claimed_handle().as_deref(),
        Some("old.test"),
        "stale served at once"
    );

    let mut refreshed = false;
    for _ in 0..100 {
        let entry = stored(&s, ALICE).await.unwrap();
        if entry["doc"]["alsoKnownAs"][0] == "at://new.test" {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refreshed, "the background refresh stored the new document");
    assert_eq!(s.http.plc_hits(), 1);
    let doc = s.identity.resolve_did(ALICE).await.unwrap();
    assert_eq!(doc.claimed_handle().as_deref(), Some("new.test"));
}

#[tokio::test]
async fn an_expired_entry_is_fetched_before_answering() {
    let s = setup("expired", |c| c.expire_after = Duration::from_secs(3600)).await;
    s.http.set_plc(ALICE, did_doc(ALICE, "new.test"));
    s.cache
        .put_at(
            ALICE,
            &did_doc(ALICE, "old.test"),
            now_ms() - 2 * 3600 * 1000,
        )
        .await
        .unwrap();

    let doc = s.identity.resolve_did(ALICE).await.unwrap();

    assert_eq!(doc.claimed_handle().as_deref(), Some("new.test"));
    assert_eq!(s.http.plc_hits(), 1);
}

#[tokio::test]
async fn resolve_fresh_skips_the_cache_and_invalidate_forgets() {
    let s = setup("fresh", |_| {}).await;
    s.http.set_plc(ALICE, did_doc(ALICE, "rotated.test"));
    s.cache
        .put(ALICE, &did_doc(ALICE, "cached.test"))
        .await
        .unwrap();
    assert_eq!(
        s.identity
            .resolve_did(ALICE)
            .await
            .unwrap()
            .claimed_handle()
            .as_deref(),
        Some("cached.test")
    );

    let fresh = s.identity.resolve_fresh(ALICE).await.unwrap();
    assert_eq!(fresh.claimed_handle().as_deref(), Some("rotated.test"));
    assert_eq!(
        stored(&s, ALICE).await.unwrap()["doc"]["alsoKnownAs"][0],
        "at://rotated.test"
    );

    s.identity.invalidate(ALICE).await.unwrap();
    assert!(stored(&s, ALICE).await.is_none());
}

#[tokio::test]
async fn an_unreadable_cache_entry_is_dropped() {
    let s = setup("unreadable", |_| {}).await;
    s.http.set_plc(ALICE, did_doc(ALICE, "alice.test"));
    redis::cmd("SET")
        .arg(s.cache.key(ALICE))
        .arg("{not json")
        .exec_async(&mut s.prefix.conn().await)
        .await
        .unwrap();
    let doc = s.identity.resolve_did(ALICE).await.unwrap();
    assert_eq!(doc.id, ALICE);
    assert_eq!(s.http.plc_hits(), 1);
    assert_eq!(stored(&s, ALICE).await.unwrap()["doc"]["id"], ALICE);
}

#[tokio::test]
async fn resolution_errors_are_typed() {
    let s = setup("errors", |_| {}).await;
    let tombstoned = "did:plc:gone234567abcdefghijklmn";
    let wrong = "did:plc:wrong234567abcdefghijklm";
    let junk = "did:plc:junk234567abcdefghijklmn";
    s.http.set_plc(tombstoned, serde_json::Value::Null);
    s.http.set_plc(wrong, did_doc(BOB, "bob.test"));
    s.http
        .served
        .lock()
        .unwrap()
        .plc_raw
        .insert(junk.into(), "<html>oops</html>".into());
    s.cache
        .put(tombstoned, &did_doc(tombstoned, "was.test"))
        .await
        .unwrap();

    let err = s.identity.resolve_did(BOB).await.unwrap_err();
    assert!(
        matches!(err, ResolveError::NotFound(ref d) if d == BOB),
        "{err}"
    );
    let err = s.identity.resolve_fresh(tombstoned).await.unwrap_err();
    assert!(matches!(err, ResolveError::Tombstoned(_)), "{err}");
    assert!(
        stored(&s, tombstoned).await.is_none(),
        "a tombstoned DID leaves the cache"
    );
    let err = s.identity.resolve_did(wrong).await.unwrap_err();
    assert!(matches!(err, ResolveError::BadDocument { .. }), "{err}");
    let err = s.identity.resolve_did(junk).await.unwrap_err();
    assert!(matches!(err, ResolveError::BadDocument { .. }), "{err}");
    assert!(!err.is_transient());
    let err = s.identity.resolve_did("did:key:zQ3sh").await.unwrap_err();
    assert!(matches!(err, ResolveError::UnsupportedDid { .. }), "{err}");

    // Nothing listens there: a network error, worth a retry.
    let closed = IdentityConfig {
        plc_url: "http://127.0.0.1:1".into(),
        ..config(&s.http)
    };
    let err = DidResolver::new(loopback_client(&[]), &closed)
        .resolve(ALICE)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn did_web_on_localhost_with_the_test_flag() {
    let s = setup("did_web", |_| {}).await;
    let did = format!("did:web:localhost%3A{}", s.http.addr.port());
    s.http.served.lock().unwrap().did_web = Some(did_doc(&did, "web.test"));

    let doc = s.identity.resolve_did(&did).await.unwrap();
    assert_eq!(doc.id, did);
    assert_eq!(doc.pds_endpoint(), Some("http://localhost:2583"));

    let strict = IdentityConfig {
        allow_insecure_did_web: false,
        ..config(&s.http)
    };
    let err = DidResolver::new(loopback_client(&[]), &strict)
        .resolve(&did)
        .await
        .unwrap_err();
    assert!(matches!(err, ResolveError::UnsupportedDid { .. }), "{err}");
}

#[tokio::test]
async fn handles_verify_through_the_resolver_url_by_host_header() {
    let s = setup("handle_url", |_| {}).await;
    {
        let mut served = s.http.served.lock().unwrap();
        served.handles.insert("alice.test".into(), ALICE.into());
        served.handles.insert("liar.test".into(), BOB.into());
    }
    let alice = serde_json::from_value(did_doc(ALICE, "Alice.Test")).unwrap();
    assert_eq!(
        s.identity.verify_handle(&alice).await.as_deref(),
        Some("alice.test"),
        "claimed handle, lower-cased, resolves back"
    );
    let claims_bobs = serde_json::from_value(did_doc(ALICE, "liar.test")).unwrap();
    assert_eq!(s.identity.verify_handle(&claims_bobs).await, None);
    let unknown = serde_json::from_value(did_doc(ALICE, "nobody.test")).unwrap();
    assert_eq!(s.identity.verify_handle(&unknown).await, None);
    let mut no_claim: sluice_atproto::identity::DidDocument =
        serde_json::from_value(did_doc(ALICE, "x.test")).unwrap();
    no_claim.also_known_as.clear();
    assert_eq!(s.identity.verify_handle(&no_claim).await, None);

    assert_eq!(
        s.identity
            .resolve_handle("alice.test")
            .await
            .unwrap()
            .as_deref(),
        Some(ALICE)
    );
    assert!(matches!(
        s.identity.resolve_handle("not a handle").await,
        Err(HandleError::InvalidHandle(_))
    ));
}

#[tokio::test]
async fn handles_resolve_by_dns_txt() {
    let dns = MockDns::start(HashMap::from([
        (
            "_atproto.alice.example.com.".to_owned(),
            vec![format!("did={ALICE}"), "v=spf1 -all".to_owned()],
        ),
        (
            "_atproto.twice.example.com.".to_owned(),
            vec![format!("did={ALICE}"), format!("did={BOB}")],
        ),
    ]))
    .await;
    let config = IdentityConfig {
        dns_servers: vec![dns.addr],
        timeout: Duration::from_secs(2),
        ..IdentityConfig::default()
    };
    // The HTTPS fallback of the names below reaches only a closed loopback port.
    let client = loopback_client(&["twice.example.com", "nobody.example.com"]);
    let handles = HandleResolver::new(client, &config).unwrap();

    assert_eq!(
        handles
            .resolve("Alice.Example.Com")
            .await
            .unwrap()
            .as_deref(),
        Some(ALICE)
    );
    assert_eq!(
        handles.resolve("twice.example.com").await.unwrap(),
        None,
        "two did= records are ambiguous"
    );
    assert_eq!(handles.resolve("nobody.example.com").await.unwrap(), None);
    assert!(dns.queries.load(std::sync::atomic::Ordering::SeqCst) >= 3);
}
