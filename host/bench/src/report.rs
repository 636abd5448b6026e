//! Printing figures: one `name: value unit` line each, on stdout, as they are measured.

use std::io::Write as _;
use std::time::Duration;

/// The figures of one run.
#[derive(Debug, Default)]
pub(crate) struct Report {
    printed: Vec<String>,
}

impl Report {
    /// An empty report.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Prints one figure: `name: value unit`.
    pub(crate) fn figure(&mut self, name: &str, value: f64, unit: &str) {
        let value = if value.abs() >= 100.0 || value.fract() == 0.0 {
            format!("{value:.0}")
        } else if value.abs() >= 1.0 {
            format!("{value:.2}")
        } else {
            format!("{value:.4}")
        };
        let line = format!("{name}: {value} {unit}");
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
        self.printed.push(line);
    }

    /// Prints a duration in seconds.
    pub(crate) fn seconds(&mut self, name: &str, duration: Duration) {
        self.figure(name, duration.as_secs_f64(), "s");
    }

    /// Prints a rate: `count` per second over `duration`.
    pub(crate) fn rate(&mut self, name: &str, count: f64, duration: Duration, unit: &str) {
        let seconds = duration.as_secs_f64().max(1e-9);
        self.figure(name, count / seconds, unit);
    }

    /// Prints the process's current and peak resident memory (from `/proc/self/status`).
    pub(crate) fn memory(&mut self, prefix: &str) {
        if let Some(rss) = status_kib("VmRSS:") {
            self.figure(&format!("{prefix}_rss"), rss as f64 / 1024.0, "MiB");
        }
    }

    /// Prints the process's peak resident memory.
    pub(crate) fn peak_memory(&mut self) {
        if let Some(peak) = status_kib("VmHWM:") {
            self.figure("peak_rss", peak as f64 / 1024.0, "MiB");
        }
    }
}

/// A `kB` field of `/proc/self/status` (Linux only; `None` elsewhere).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
