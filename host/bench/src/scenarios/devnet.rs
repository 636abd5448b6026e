//! The devnet scenarios: generation, `getRepo` throughput, firehose replay and live rates.
//!
//! Server and client run in this one process (on loopback), so the figures are what the devnet
//! delivers to a consumer sharing its cores — the situation of every other benchmark that uses
//! the devnet as its source.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use futures::StreamExt;
use sluice_devnet::{DevnetConfig, Network, NetworkConfig, RunningDevnet};
use tokio_tungstenite::tungstenite::Message;

use crate::report::Report;

/// Which network to generate.
#[derive(Debug, Clone, Args)]
pub(crate) struct NetworkArgs {
    /// Number of repos.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) repos: u32,
    /// Approximate number of records created over the history.
    #[arg(long, default_value_t = 5_000_000)]
    pub(crate) records: u64,
    /// The seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

/// Options of `devnet-getrepo`.
#[derive(Debug, Clone, Args)]
pub(crate) struct GetRepoArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    get_repo: GetRepoOptions,
}

/// How `getRepo` is exercised.
#[derive(Debug, Clone, Args)]
pub(crate) struct GetRepoOptions {
    /// Number of largest repos fetched one after the other.
    #[arg(long, default_value_t = 3)]
    largest: usize,
    /// Number of other repos fetched, `--concurrency` at a time.
    #[arg(long, default_value_t = 500)]
    sample: usize,
    /// Concurrent requests for the sample.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

/// Options of `devnet-firehose`.
#[derive(Debug, Clone, Args)]
pub(crate) struct FirehoseArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    firehose: FirehoseOptions,
}

/// How the firehose is exercised.
#[derive(Debug, Clone, Args)]
pub(crate) struct FirehoseOptions {
    /// Longest time spent replaying the history (it stops earlier at the end of the history).
    #[arg(long, default_value_t = 60)]
    replay_seconds: u64,
    /// Time spent following live events (0: skip live mode).
    #[arg(long, default_value_t = 30)]
    live_seconds: u64,
    /// Live events per second asked for (the default asks for more than can be made, to
    /// measure the highest sustained rate).
    #[arg(long, default_value_t = 1_000_000.0)]
    live_rate: f64,
}

/// Options of `devnet-scale`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ScaleArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    get_repo: GetRepoOptions,
    #[command(flatten)]
    firehose: FirehoseOptions,
}

/// Generates the network, printing the generation figures.
pub(crate) async fn generate_network(
    args: &NetworkArgs,
    report: &mut Report,
) -> anyhow::Result<Network> {
    let config =
        DevnetConfig::new(NetworkConfig::new(args.seed, args.repos).with_records(args.records));
    tracing::info!(repos = args.repos, records = args.records, "generating");
    let started = Instant::now();
    let network = tokio::task::spawn_blocking(move || Network::generate(config))
        .await
        .context("the generator panicked")??;
    let elapsed = started.elapsed();
    let model = network.model();
    let created: u64 = model.repos().iter().map(|r| r.created).sum();
    let largest = model.repos().iter().map(|r| r.created).max().unwrap_or(0);
    report.figure("devnet_repos", f64::from(model.repo_count()), "repos");
    report.figure("devnet_records_created", created as f64, "records");
    report.figure(
        "devnet_records_live",
        model.total_counts().total() as f64,
        "records",
    );
    report.figure("devnet_largest_repo", largest as f64, "records");
    report.figure(
        "devnet_history_events",
        network.history_events() as f64,
        "events",
    );
    report.seconds("devnet_generate_time", elapsed);
    report.rate("devnet_generate_rate", created as f64, elapsed, "records/s");
    report.memory("devnet_after_generate");
    Ok(network)
}

async fn start(network: Network) -> anyhow::Result<RunningDevnet> {
    Ok(RunningDevnet::start(network, "127.0.0.1:0".parse()?).await?)
}

/// `devnet-generate`.
pub(crate) async fn generate(args: NetworkArgs, report: &mut Report) -> anyhow::Result<()> {
    generate_network(&args, report).await.map(drop)
}

/// `devnet-getrepo`.
pub(crate) async fn get_repo(args: GetRepoArgs, report: &mut Report) -> anyhow::Result<()> {
    let network = generate_network(&args.network, report).await?;
    let devnet = start(network).await?;
    measure_get_repo(&devnet, &args.get_repo, report).await?;
    devnet.shutdown().await?;
    Ok(())
}

/// `devnet-firehose`.
pub(crate) async fn firehose(args: FirehoseArgs, report: &mut Report) -> anyhow::Result<()> {
    let network = generate_network(&args.network, report).await?;
    let mut devnet = start(network).await?;
    measure_firehose(&mut devnet, &args.firehose, report).await?;
    devnet.shutdown().await?;
    Ok(())
}

/// `devnet-scale`.
pub(crate) async fn scale(args: ScaleArgs, report: &mut Report) -> anyhow::Result<()> {
    let network = generate_network(&args.network, report).await?;
    let mut devnet = start(network).await?;
    measure_get_repo(&devnet, &args.get_repo, report).await?;
    measure_firehose(&mut devnet, &args.firehose, report).await?;
    devnet.shutdown().await?;
    Ok(())
}

/// Fetches one repo, counting its bytes; returns (bytes, time to first byte, total time).
async fn fetch_repo(
    client: &reqwest::Client,
    url: &str,
    did: &str,
) -> anyhow::Result<(u64, Duration, Duration)> {
    let started = Instant::now();
    let mut response = client
        // DIDs need no escaping in a query string.
        .get(format!("{url}/xrpc/com.atproto.sync.getRepo?did={did}"))
        .send()
        .await?
        .error_for_status()?;
    let mut bytes = 0u64;
    let mut first_byte = None;
    while let Some(chunk) = response.chunk().await? {
        first_byte.get_or_insert_with(|| started.elapsed());
        bytes += chunk.len() as u64;
    }
    Ok((bytes, first_byte.unwrap_or_default(), started.elapsed()))
}

async fn measure_get_repo(
    devnet: &RunningDevnet,
    options: &GetRepoOptions,
    report: &mut Report,
) -> anyhow::Result<()> {
    let network = devnet.network();
    let model = network.model();
    let client = reqwest::Client::new();
    let url = devnet.url();
    let mut active: Vec<u32> = (0..model.repo_count())
        .filter(|&repo| network.repo_status(repo).is_some_and(|s| s.active))
        .collect();
    active.sort_by_key(|&repo| std::cmp::Reverse(model.repo(repo).map_or(0, |r| r.created)));
    let (largest, rest) = active.split_at(options.largest.min(active.len()));

    let mut total_bytes = 0u64;
    let mut total_records = 0i64;
    let mut total_time = Duration::ZERO;
    for (rank, &repo) in largest.iter().enumerate() {
        let did = &model.account(repo).context("no account")?.did;
        let records = network.record_counts(repo).total();
        let (bytes, first_byte, elapsed) = fetch_repo(&client, &url, did).await?;
        tracing::info!(repo, records, bytes, ?first_byte, ?elapsed, "getRepo");
        if rank == 0 {
            report.figure("getrepo_largest_records", records as f64, "records");
            report.figure("getrepo_largest_size", bytes as f64 / 1e6, "MB");
            report.seconds("getrepo_largest_first_byte", first_byte);
            report.seconds("getrepo_largest_time", elapsed);
        }
        total_bytes += bytes;
        total_records += records;
        total_time += elapsed;
    }
    if !largest.is_empty() {
        report.rate(
            "getrepo_large_throughput",
            total_bytes as f64 / 1e6,
            total_time,
            "MB/s",
        );
        report.rate(
            "getrepo_large_records_rate",
            total_records as f64,
            total_time,
            "records/s",
        );
    }

    // A sample of the other repos, spread over the sizes, a few at a time.
    let step = (rest.len() / options.sample.max(1)).max(1);
    let sample: Vec<u32> = rest
        .iter()
        .step_by(step)
        .take(options.sample)
        .copied()
        .collect();
    if sample.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let client = &client;
    let url = &url;
    let results: Vec<anyhow::Result<(u64, Duration, Duration)>> =
        futures::stream::iter(sample.iter().map(|&repo| async move {
            let did = &model.account(repo).context("no account")?.did;
            fetch_repo(client, url, did).await
        }))
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut bytes = 0u64;
    for result in results {
        bytes += result?.0;
    }
    report.figure("getrepo_sample_repos", sample.len() as f64, "repos");
    report.rate(
        "getrepo_sample_repos_rate",
        sample.len() as f64,
        elapsed,
        "repos/s",
    );
    report.rate(
        "getrepo_sample_throughput",
        bytes as f64 / 1e6,
        elapsed,
        "MB/s",
    );
    Ok(())
}

/// Reads frames from `url` for at most `limit`, or until `until_seq` is reached; returns
/// (frames, bytes, last seq seen, elapsed).
async fn follow(
    url: &str,
    limit: Duration,
    until_seq: Option<u64>,
) -> anyhow::Result<(u64, u64, u64, Duration)> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    let started = Instant::now();
    let deadline = started + limit;
    let (mut frames, mut bytes, mut last_seq) = (0u64, 0u64, 0u64);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        let message = match tokio::time::timeout(remaining, socket.next()).await {
            Err(_) => break,
            Ok(None) => bail!("the firehose closed"),
            Ok(Some(message)) => message?,
        };
        let Message::Binary(frame) = message else {
            continue;
        };
        frames += 1;
        bytes += frame.len() as u64;
        if let Ok(decoded) = sluice_atproto::firehose::Frame::decode(&frame)
            && let Some(seq) = decoded.seq()
        {
            last_seq = u64::try_from(seq).unwrap_or(0);
        }
        if until_seq.is_some_and(|until| last_seq >= until) {
            break;
        }
    }
    Ok((frames, bytes, last_seq, started.elapsed()))
}

async fn measure_firehose(
    devnet: &mut RunningDevnet,
    options: &FirehoseOptions,
    report: &mut Report,
) -> anyhow::Result<()> {
    let history = devnet.network().history_events();
    let (frames, bytes, last_seq, elapsed) = follow(
        &format!("{}?cursor=0", devnet.firehose_url()),
        Duration::from_secs(options.replay_seconds),
        Some(history),
    )
    .await?;
    report.figure("firehose_replay_events", frames as f64, "events");
    report.figure(
        "firehose_replay_share",
        last_seq as f64 / history.max(1) as f64 * 100.0,
        "%",
    );
    report.rate("firehose_replay_rate", frames as f64, elapsed, "events/s");
    report.rate(
        "firehose_replay_throughput",
        bytes as f64 / 1e6,
        elapsed,
        "MB/s",
    );
    report.memory("firehose_after_replay");
    if options.live_seconds == 0 {
        return Ok(());
    }
    devnet.start_live(options.live_rate)?;
    let (frames, bytes, _, elapsed) = follow(
        &devnet.firehose_url(),
        Duration::from_secs(options.live_seconds),
        None,
    )
    .await?;
    report.figure("firehose_live_rate_asked", options.live_rate, "events/s");
    report.rate("firehose_live_rate", frames as f64, elapsed, "events/s");
    report.rate(
        "firehose_live_throughput",
        bytes as f64 / 1e6,
        elapsed,
        "MB/s",
    );
    report.memory("firehose_after_live");
    Ok(())
}
