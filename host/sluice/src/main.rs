//! `sluice`: one binary, a subcommand per service. Every option is a flag that can also be set by an
//! environment variable.

mod cmd;
mod telemetry;

use clap::Parser;

/// mimalloc instead of glibc's allocator: the indexer lifts every row operation of every plugin
/// call into many small strings, and under glibc `malloc`/`free` and their consolidation took
/// about a fifth of a plugin benchmark's host time (see `host/bench/README.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sluice: an AT Protocol indexing host.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    telemetry: telemetry::TelemetryArgs,
    #[command(subcommand)]
    command: cmd::Command,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(&cli.telemetry);
    match cmd::run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            // One clear line: the chain of causes, outermost first.
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
