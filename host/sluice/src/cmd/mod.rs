//! The subcommands. Each lives in its own module with its own `Args` and `run`.

use clap::Subcommand;
use std::process::ExitCode;

/// Every `sluice` subcommand.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve a synthetic AT Protocol network on loopback (PDS, firehose, labels, PLC, handles).
    Devnet(devnet::DevnetArgs),
    /// Print the contents of CAR files and firehose frames as JSON lines.
    Inspect(inspect::InspectArgs),
    /// Work with indexer plugins (`plugin test`: run one on operations without a database).
    Plugin(plugin::PluginArgs),
    /// Follow relays/PDSes (listRepos, subscribeRepos) and labelers into Redis streams.
    Ingester(ingester::IngesterArgs),
    /// Fetch whole repos (getRepo) for the entries of repo_backfill into firehose_backfill.
    Backfiller(backfiller::BackfillerArgs),
    /// Index firehose_live, firehose_backfill and label_live into Postgres through the
    /// installed WASM plugins.
    Indexer(indexer::IndexerArgs),
    /// Recount every aggregate (post_agg, profile_agg, ...) from its rows; report and, with
    /// --fix, correct any drift.
    Repair(repair::RepairArgs),
    /// Show what the pipeline is doing: repos backfilled, records indexed and their rate,
    /// stream backlogs and dead letters (once, or every --every seconds).
    Status(status::StatusArgs),
}

mod backfiller;
mod devnet;
mod indexer;
mod ingester;
mod inspect;
mod plugin;
mod repair;
mod service;
mod status;

/// Runs one subcommand to completion.
pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Devnet(args) => devnet::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Plugin(args) => plugin::run(args),
        Command::Ingester(args) => ingester::run(args),
        Command::Backfiller(args) => backfiller::run(args),
        Command::Indexer(args) => indexer::run(args),
        Command::Repair(args) => repair::run(args),
        Command::Status(args) => status::run(args),
    }
}
