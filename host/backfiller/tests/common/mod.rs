//! Helpers of the backfiller's integration tests: a Redis key prefix per test (from
//! `sluice_queue::testing`) and a devnet on a loopback port.

#![allow(dead_code, unreachable_pub)]

pub use sluice_queue::testing::{TestRedis, wait_until};

use sluice_devnet::faults::FaultConfig;
use sluice_devnet::model::NetworkConfig;
use sluice_devnet::{DevnetConfig, Network, RunningDevnet};

/// The scope of this suite's Redis prefixes (`test:backfill:…`).
pub const SCOPE: &str = "backfill";

/// A devnet of `repos` repos and about `records` records, with `faults`.
pub async fn devnet(seed: u64, repos: u32, records: u64, faults: FaultConfig) -> RunningDevnet {
    let mut config = DevnetConfig::new(NetworkConfig::new(seed, repos).with_records(records));
    config.faults = faults;
    let network = Network::generate(config).unwrap();
    RunningDevnet::start(network, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}
