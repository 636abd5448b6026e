//! Logging set-up shared by every subcommand.

use clap::Args;
use tracing_subscriber::EnvFilter;

/// Log output options.
#[derive(Debug, Args)]
pub(crate) struct TelemetryArgs {
    /// Log filter in `tracing` syntax (e.g. `info`, `sluice=debug,warn`).
    #[arg(long, env = "SLUICE_LOG", default_value = "info", global = true)]
    log: String,
    /// Log format.
    #[arg(
        long,
        env = "SLUICE_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global `tracing` subscriber; logs go to stderr so that stdout stays data.
pub(crate) fn init(args: &TelemetryArgs) {
    let filter = EnvFilter::try_new(&args.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
