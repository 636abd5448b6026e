//! `sluice-bench`: Sluice's benchmark scenarios.
//!
//! `cargo run --release -p sluice-bench -- <SCENARIO> [options]`. Every figure is printed on
//! stdout as one `name: value unit` line as soon as it is measured; logs go to stderr. The
//! scenarios, what they measure and the figures last measured are in `host/bench/README.md`.
//!
//! Adding a scenario: a module under `scenarios/` with an `Args` struct and an
//! `async fn run(args, &mut Report)`, one variant in [`scenarios::Scenario`] and one arm in
//! [`scenarios::Scenario::run`].

mod report;
mod scenarios;

use clap::Parser;

/// The allocator `sluice` runs with (`host/sluice/src/main.rs`), so that the indexer measured
/// here is the one deployed: under glibc's allocator `malloc`/`free` took 28 % of the
/// index-throughput scenario's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sluice's benchmark scenarios.
#[derive(Debug, Parser)]
#[command(name = "sluice-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    scenario: scenarios::Scenario,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // reqwest is built without a default TLS provider; an error means one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut report = report::Report::new();
    match runtime.block_on(cli.scenario.run(&mut report)) {
        Ok(()) => {
            report.peak_memory();
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
