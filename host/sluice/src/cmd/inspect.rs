//! `sluice inspect`: the operator's and tester's window into CAR files and firehose frames.

use clap::Args;
use std::process::ExitCode;

/// Arguments of `sluice inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {}

/// Runs `sluice inspect`.
pub(crate) fn run(_args: InspectArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sluice inspect is being written")
}
