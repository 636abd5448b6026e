//! A Redis handle for one test: its own key prefix, and every key under it deleted on drop
//! (even when the test panics). Never FLUSHALL: other tests and developers share the server.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub struct TestRedis {
    pub url: String,
    pub conn: ConnectionManager,
    pub prefix: String,
}

impl TestRedis {
    pub async fn new(test: &str) -> Self {
        let url = redis_url();
        let conn = sluice_queue::connect(&url)
            .await
            .expect("Redis at REDIS_URL");
        let prefix = format!("test:queue:{test}:{:08x}:", rand::random::<u32>());
        Self { url, conn, prefix }
    }

    /// A key under this test's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub async fn xlen(&self, stream: &str) -> u64 {
        redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut self.conn.clone())
            .await
            .unwrap()
    }

    /// The entries of a stream as (id, field → value).
    pub async fn xrange(&self, stream: &str) -> Vec<(String, HashMap<String, String>)> {
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .query_async(&mut self.conn.clone())
            .await
            .unwrap();
        reply
            .ids
            .into_iter()
            .map(|entry| {
                let fields = entry
                    .map
                    .iter()
                    .map(|(k, v)| (k.clone(), redis::from_redis_value_ref::<String>(v).unwrap()))
                    .collect();
                (entry.id, fields)
            })
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
                let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query(&mut conn);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}
