//! `sluice`: one binary, a subcommand per service. Every option is a flag that can also be set by an
//! environment variable.

mod cmd;
mod telemetry;

use clap::Parser;

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
