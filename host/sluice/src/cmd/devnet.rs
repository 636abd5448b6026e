//! `sluice devnet`: a synthetic AT Protocol network on loopback (see the `sluice-devnet` crate).
//!
//! Generates the network from `--seed`, serves it (PDS sync endpoints, firehose, labels, DID
//! documents, handles), prints one JSON line `{"devnet": {…}}` with its endpoints when ready,
//! and runs until interrupted (or, with `--exit-on-stdin-close`, until standard input closes).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use sluice_devnet::faults::FaultConfig;
use sluice_devnet::{DevnetConfig, Network, NetworkConfig, RunningDevnet};

/// Arguments of `sluice devnet`.
#[derive(Debug, Args)]
pub(crate) struct DevnetArgs {
    /// Number of accounts (repos).
    #[arg(long, env = "SLUICE_DEVNET_REPOS", default_value_t = 200)]
    repos: u32,
    /// The seed: the same seed and sizes give the same network (DIDs, keys, records, CIDs).
    #[arg(long, env = "SLUICE_DEVNET_SEED", default_value_t = 1)]
    seed: u64,
    /// Approximate number of records created over the history, deletions included
    /// (default: 500 per repo).
    #[arg(long, env = "SLUICE_DEVNET_RECORDS")]
    records: Option<u64>,
    /// Live events per second after the history (0: a static network).
    #[arg(long, env = "SLUICE_DEVNET_RATE", default_value_t = 0.0)]
    rate: f64,
    /// Address to listen on.
    #[arg(long, env = "SLUICE_DEVNET_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0: any free port; the JSON line says which).
    #[arg(long, env = "SLUICE_DEVNET_PORT", default_value_t = 0)]
    port: u16,
    /// The URL other machines reach the devnet at (the PDS and labeler endpoint written into
    /// every DID document); default `http://<host>:<port>`. Set it when listening on 0.0.0.0,
    /// e.g. `http://devnet:2583` in a compose network.
    #[arg(long, env = "SLUICE_DEVNET_PUBLIC_URL")]
    public_url: Option<String>,
    /// Number of repos whose histories are interleaved in the firehose at a time.
    #[arg(long, default_value_t = sluice_devnet::history::DEFAULT_WINDOW)]
    window: usize,
    /// Number of accounts live events go to.
    #[arg(long, default_value_t = 1000)]
    live_repos: usize,
    /// Write the ground truth (per repo: status, head, record count per collection) to this JSON
    /// file once the network is generated (it is also served at `/_devnet/ground-truth`).
    #[arg(long)]
    ground_truth: Option<PathBuf>,
    /// Exit when standard input closes (for tests and scripts that spawn the devnet).
    #[arg(long)]
    exit_on_stdin_close: bool,
    /// Share of firehose frames sent malformed (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    fault_malformed_frames: f64,
    /// Share of `#commit`s signed with a key that is not the account's.
    #[arg(long, default_value_t = 0.0)]
    fault_forged_signatures: f64,
    /// Share of `#commit`s whose `prevData` is wrong.
    #[arg(long, default_value_t = 0.0)]
    fault_broken_prev_data: f64,
    /// Share of repos whose `getRepo` answers HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    fault_failing_repos: f64,
    /// Share of repos whose `getRepo` stops in the middle of the CAR.
    #[arg(long, default_value_t = 0.0)]
    fault_truncated_repos: f64,
    /// Share of repos whose `getRepo` sends headers and then nothing (the client times out).
    #[arg(long, default_value_t = 0.0)]
    fault_stalled_repos: f64,
    /// Milliseconds every HTTP response waits before its first byte.
    #[arg(long, default_value_t = 0)]
    fault_slow_ms: u64,
}

impl DevnetArgs {
    fn config(&self) -> anyhow::Result<DevnetConfig> {
        let shares = [
            ("--fault-malformed-frames", self.fault_malformed_frames),
            ("--fault-forged-signatures", self.fault_forged_signatures),
            ("--fault-broken-prev-data", self.fault_broken_prev_data),
            ("--fault-failing-repos", self.fault_failing_repos),
            ("--fault-truncated-repos", self.fault_truncated_repos),
            ("--fault-stalled-repos", self.fault_stalled_repos),
        ];
        for (flag, share) in shares {
            if !(0.0..=1.0).contains(&share) {
                bail!("{flag} must be between 0 and 1, not {share}");
            }
        }
        if self.repos == 0 {
            bail!("--repos must be at least 1");
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            bail!(
                "--rate must be a positive number of events per second, not {}",
                self.rate
            );
        }
        let mut network = NetworkConfig::new(self.seed, self.repos);
        if let Some(records) = self.records {
            network = network.with_records(records);
        }
        Ok(DevnetConfig {
            network,
            window: self.window.max(1),
            rate: self.rate,
            live_repos: self.live_repos,
            faults: FaultConfig {
                malformed_frames: self.fault_malformed_frames,
                forged_signatures: self.fault_forged_signatures,
                broken_prev_data: self.fault_broken_prev_data,
                failing_repos: self.fault_failing_repos,
                truncated_repos: self.fault_truncated_repos,
                stalled_repos: self.fault_stalled_repos,
                slow_responses: Duration::from_millis(self.fault_slow_ms),
            },
        })
    }
}

/// Runs `sluice devnet`.
pub(crate) fn run(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args, config))
}

async fn serve(args: DevnetArgs, config: DevnetConfig) -> anyhow::Result<ExitCode> {
    tracing::info!(
        repos = config.network.repos,
        records = config.network.records,
        seed = config.network.seed,
        "generating the devnet"
    );
    let network = tokio::task::spawn_blocking(move || Network::generate(config))
        .await
        .context("the generator panicked")?
        .context("generating the network")?;
    if let Some(url) = &args.public_url {
        network.set_base_url(url);
    }
    let address = SocketAddr::new(args.host, args.port);
    let devnet = RunningDevnet::start(network, address)
        .await
        .with_context(|| format!("serving on {address}"))?;
    if let Some(path) = &args.ground_truth {
        let network = devnet.network().clone();
        let truth = tokio::task::spawn_blocking(move || network.ground_truth())
            .await
            .context("computing the ground truth")?;
        let text = serde_json::to_vec_pretty(&truth)?;
        std::fs::write(path, text)
            .with_context(|| format!("writing the ground truth to {}", path.display()))?;
    }
    println!("{}", serde_json::json!({ "devnet": devnet.describe() }));
    wait_for_exit(args.exit_on_stdin_close).await;
    tracing::info!("devnet shutting down");
    devnet.shutdown().await.context("shutting down")?;
    Ok(ExitCode::SUCCESS)
}

/// Waits for Ctrl-C, SIGTERM, or (when asked) the end of standard input.
async fn wait_for_exit(on_stdin_close: bool) {
    let stdin_closed = async {
        if !on_stdin_close {
            return std::future::pending().await;
        }
        // A plain thread reads standard input (blocking) and reports its end.
        let (closed_tx, closed) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            use std::io::Read as _;
            let mut stdin = std::io::stdin();
            let mut buffer = [0u8; 1024];
            while matches!(stdin.read(&mut buffer), Ok(n) if n > 0) {}
            let _ = closed_tx.send(());
        });
        let _ = closed.await;
    };
    let terminated = async {
        #[cfg(unix)]
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
        () = stdin_closed => {}
    }
}
