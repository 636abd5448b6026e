//! Test helpers (feature `test-util`): a Redis key prefix per test, every key under it deleted on
//! drop, even when the test panics. Never FLUSHALL: other tests and developers share the server.
//! Panics instead of returning errors: these run only in tests.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

/// One stream entry as XRANGE returns it: id, then field/value pairs.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

/// The Redis of the tests: `REDIS_URL`, else the standard local port.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A Redis key prefix for one test (`test:<scope>:<test>:<random>:`).
pub struct TestRedis {
    /// The server's URL.
    pub url: String,
    /// A connection to it.
    pub conn: ConnectionManager,
    /// The prefix of every key the test uses.
    pub prefix: String,
}

impl TestRedis {
    /// Connects and picks a fresh prefix; `scope` names the test suite, `test` the test.
    pub async fn new(scope: &str, test: &str) -> Self {
        let url = redis_url();
        let conn = crate::connect(&url).await.expect("Redis at REDIS_URL");
        let prefix = format!("test:{scope}:{test}:{:08x}:", rand::random::<u32>());
        Self { url, conn, prefix }
    }

    /// A key under this test's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// `GET key`.
    pub async fn get(&self, key: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
            .expect("GET")
    }

    /// `SET key value`.
    pub async fn set(&self, key: &str, value: &str) {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .exec_async(&mut self.conn.clone())
            .await
            .expect("SET");
    }

    /// `XLEN stream`.
    pub async fn xlen(&self, stream: &str) -> u64 {
        redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut self.conn.clone())
            .await
            .expect("XLEN")
    }

    /// Every entry of a stream, in order, as field → bytes.
    pub async fn entries(&self, stream: &str) -> Vec<HashMap<String, Vec<u8>>> {
        let mut out = Vec::new();
        let mut start = "-".to_owned();
        loop {
            let reply: Vec<StreamEntry> = redis::cmd("XRANGE")
                .arg(stream)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(5000)
                .query_async(&mut self.conn.clone())
                .await
                .expect("XRANGE");
            let Some((last, _)) = reply.last() else { break };
            start = format!("({last}");
            out.extend(
                reply
                    .into_iter()
                    .map(|(_, fields)| fields.into_iter().collect::<HashMap<_, _>>()),
            );
        }
        out
    }

    /// The JSON of every entry's `field`.
    pub async fn json(&self, stream: &str, field: &str) -> Vec<serde_json::Value> {
        self.entries(stream)
            .await
            .into_iter()
            .map(|e| serde_json::from_slice(&e[field]).expect("JSON field"))
            .collect()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let mut cursor: u64 = 0;
        loop {
            let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
            else {
                return;
            };
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

/// Polls `check` every 50 ms until it holds, or panics after `timeout` naming `what`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
