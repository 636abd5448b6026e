//! The scenarios, one subcommand each.

mod devnet;
mod index_throughput;

use clap::Subcommand;

use crate::report::Report;

/// Every scenario (`sluice-bench <scenario> --help` for its options).
// The variant names are the subcommands (`devnet-generate`, …): the prefix is the family.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
pub(crate) enum Scenario {
    /// Generate a devnet: time, records/s, memory.
    DevnetGenerate(devnet::NetworkArgs),
    /// `getRepo` throughput of a devnet: the largest repos one by one, then many small ones.
    DevnetGetrepo(devnet::GetRepoArgs),
    /// Firehose of a devnet: history replay events/s, then live events/s at the highest rate
    /// the live generator sustains.
    DevnetFirehose(devnet::FirehoseArgs),
    /// Everything above on one network (the 10,000 repos / 5,000,000 records run).
    DevnetScale(devnet::ScaleArgs),
    /// End-to-end indexing throughput from `firehose_backfill` to committed rows with the
    /// Bluesky plugins, beside the rate at which Postgres takes the same rows by `COPY`.
    IndexThroughput(index_throughput::IndexThroughputArgs),
}

impl Scenario {
    /// Runs the scenario, printing its figures into `report`.
    pub(crate) async fn run(self, report: &mut Report) -> anyhow::Result<()> {
        match self {
            Self::DevnetGenerate(args) => devnet::generate(args, report).await,
            Self::DevnetGetrepo(args) => devnet::get_repo(args, report).await,
            Self::DevnetFirehose(args) => devnet::firehose(args, report).await,
            Self::DevnetScale(args) => devnet::scale(args, report).await,
            Self::IndexThroughput(args) => index_throughput::run(args, report).await,
        }
    }
}
