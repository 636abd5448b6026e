//! Helpers of the ingester's integration tests: a Redis key prefix per test (deleted on drop,
//! never FLUSHALL) and a devnet on a loopback port.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One stream entry as XRANGE returns it: id, then field/value pairs.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

use redis::aio::ConnectionManager;
use sluice_devnet::faults::FaultConfig;
use sluice_devnet::model::NetworkConfig;
use sluice_devnet::{DevnetConfig, Network, RunningDevnet};

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A Redis key prefix for one test; every key under it is deleted on drop.
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
        let prefix = format!("test:ingest:{test}:{:08x}:", rand::random::<u32>());
        Self { url, conn, prefix }
    }

    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub async fn get(&self, key: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
            .unwrap()
    }

    pub async fn set(&self, key: &str, value: &str) {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .exec_async(&mut self.conn.clone())
            .await
            .unwrap();
    }

    pub async fn xlen(&self, stream: &str) -> u64 {
        redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut self.conn.clone())
            .await
            .unwrap()
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
                .unwrap();
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
            .map(|e| serde_json::from_slice(&e[field]).unwrap())
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

/// A devnet of `repos` repos and about `records` records, with `faults`.
pub async fn devnet(seed: u64, repos: u32, records: u64, faults: FaultConfig) -> RunningDevnet {
    let mut config = DevnetConfig::new(NetworkConfig::new(seed, repos).with_records(records));
    config.faults = faults;
    let network = Network::generate(config).unwrap();
    RunningDevnet::start(network, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
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
