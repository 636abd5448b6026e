//! A Redis key prefix for one test, every key under it deleted on drop (never FLUSHALL).

use std::collections::HashMap;

use redis::aio::ConnectionManager;

/// The test's Redis.
pub(crate) struct TestRedis {
    pub(crate) url: String,
    pub(crate) conn: ConnectionManager,
    pub(crate) prefix: String,
}

impl TestRedis {
    pub(crate) async fn new(test: &str) -> Self {
        let url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection_manager()
            .await
            .expect("Redis at REDIS_URL");
        let prefix = format!("test:e2e:{test}:{:08x}:", std::process::id() ^ rand_u32());
        Self { url, conn, prefix }
    }

    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub(crate) async fn get(&self, key: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
            .unwrap()
    }

    pub(crate) async fn set(&self, key: &str, value: &str) {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .exec_async(&mut self.conn.clone())
            .await
            .unwrap();
    }

    pub(crate) async fn xlen(&self, stream: &str) -> u64 {
        redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut self.conn.clone())
            .await
            .unwrap()
    }

    /// The JSON of field `field` of every entry of `stream`, in order.
    pub(crate) async fn json(&self, stream: &str, field: &str) -> Vec<serde_json::Value> {
        let reply: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .query_async(&mut self.conn.clone())
            .await
            .unwrap();
        reply
            .into_iter()
            .map(|(_, fields)| serde_json::from_str(&fields[field]).unwrap())
            .collect()
    }
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}
