//! What the long-running services (`ingester`, `backfiller`) share: the reference pipeline's
//! environment variables read as fallbacks, Redis and identity flags, the metrics endpoint,
//! and shutdown on SIGTERM/SIGINT.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use sluice_identity::IdentityConfig;
use tokio_util::sync::CancellationToken;

/// A value from its flag (or Sluice's own variable, which clap reads), else from the reference
/// AppView's variable `reference_name` (looked up with `lookup`), else `None`. Empty values
/// count as unset, as in the reference's `process.env.X || default`.
pub(crate) fn with_reference_env(
    value: Option<String>,
    reference_name: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    value
        .filter(|v| !v.is_empty())
        .or_else(|| lookup(reference_name).filter(|v| !v.is_empty()))
}

/// [`with_reference_env`] on the process environment.
pub(crate) fn from_env(value: Option<String>, reference_name: &str) -> Option<String> {
    with_reference_env(value, reference_name, |name| std::env::var(name).ok())
}

/// [`from_env`], parsed; `what` names the setting in errors.
pub(crate) fn parsed_from_env<T: std::str::FromStr>(
    value: Option<String>,
    reference_name: &str,
    what: &str,
) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    from_env(value, reference_name)
        .map(|text| {
            text.trim()
                .parse::<T>()
                .map_err(|e| anyhow::anyhow!("{what} ({reference_name}): {text:?}: {e}"))
        })
        .transpose()
}

/// A comma-separated list (empty items dropped).
pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Redis and metrics flags.
#[derive(Debug, Args)]
pub(crate) struct ServiceArgs {
    /// Redis: a URL (`redis://host:port/db`) or the reference's `host:port`
    /// [fallback: REDIS_HOST; default redis://127.0.0.1:6379].
    #[arg(long, env = "SLUICE_REDIS_URL")]
    redis_url: Option<String>,
    /// Port of the Prometheus endpoint (`/metrics`); 0 turns it off [fallback: METRICS_PORT].
    #[arg(long, env = "SLUICE_METRICS_PORT")]
    metrics_port: Option<String>,
}

impl ServiceArgs {
    /// The Redis URL.
    pub(crate) fn redis_url(&self) -> String {
        let host = from_env(self.redis_url.clone(), "REDIS_HOST")
            .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
        sluice_queue::redis_url(&host)
    }

    /// The metrics port (`default` when unset; `None` when 0).
    pub(crate) fn metrics_port(&self, default: u16) -> anyhow::Result<Option<u16>> {
        let port =
            parsed_from_env::<u16>(self.metrics_port.clone(), "METRICS_PORT", "metrics port")?
                .unwrap_or(default);
        Ok((port != 0).then_some(port))
    }
}

/// DID and handle resolution flags.
#[derive(Debug, Args)]
pub(crate) struct IdentityArgs {
    /// The PLC directory.
    #[arg(long, env = "SLUICE_PLC_URL", default_value = sluice_identity::config::DEFAULT_PLC_URL)]
    plc_url: String,
    /// Resolve every handle with `GET <url>/.well-known/atproto-did` and `Host: <handle>`
    /// (test networks whose handles only their PDS knows).
    #[arg(long, env = "SLUICE_HANDLE_RESOLVER_URL")]
    handle_resolver_url: Option<String>,
    /// Seconds after which a cached DID document is refreshed (served meanwhile).
    #[arg(long, env = "SLUICE_IDENTITY_STALE_SECS", default_value_t = 6 * 3600)]
    identity_stale_secs: u64,
    /// Seconds after which a cached DID document is no longer used.
    #[arg(long, env = "SLUICE_IDENTITY_EXPIRE_SECS", default_value_t = 7 * 24 * 3600)]
    identity_expire_secs: u64,
    /// Resolve `did:web` on localhost over plain HTTP (test networks only).
    #[arg(long, env = "SLUICE_ALLOW_INSECURE_DID_WEB", default_value_t = false)]
    allow_insecure_did_web: bool,
}

impl IdentityArgs {
    /// The identity configuration.
    pub(crate) fn config(&self) -> IdentityConfig {
        IdentityConfig {
            plc_url: self.plc_url.clone(),
            handle_resolver_url: self.handle_resolver_url.clone(),
            stale_after: Duration::from_secs(self.identity_stale_secs),
            expire_after: Duration::from_secs(self.identity_expire_secs),
            allow_insecure_did_web: self.allow_insecure_did_web,
            ..IdentityConfig::default()
        }
    }
}

/// Starts the Prometheus endpoint on `port` (inside the runtime).
pub(crate) fn start_metrics(port: Option<u16>) -> anyhow::Result<()> {
    let Some(port) = port else { return Ok(()) };
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(([0, 0, 0, 0], port))
        .install()
        .with_context(|| format!("starting the metrics endpoint on port {port}"))?;
    tracing::info!(port, "metrics on /metrics");
    Ok(())
}

/// A token cancelled on the first SIGTERM or SIGINT.
pub(crate) fn shutdown_on_signals() -> anyhow::Result<CancellationToken> {
    let token = CancellationToken::new();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutdown requested: finishing work in progress");
        cancel.cancel();
    });
    Ok(token)
}

/// The multi-threaded runtime the services run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_reference_variable_then_nothing() {
        let env = |name: &str| match name {
            "INGESTER_HOSTS" => Some("https://a,https://b".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(
            with_reference_env(Some("https://mine".into()), "INGESTER_HOSTS", env).as_deref(),
            Some("https://mine")
        );
        assert_eq!(
            with_reference_env(None, "INGESTER_HOSTS", env).as_deref(),
            Some("https://a,https://b")
        );
        assert_eq!(
            with_reference_env(Some(String::new()), "INGESTER_HOSTS", env).as_deref(),
            Some("https://a,https://b"),
            "an empty flag counts as unset"
        );
        assert_eq!(with_reference_env(None, "EMPTY", env), None);
        assert_eq!(with_reference_env(None, "MISSING", env), None);
    }

    #[test]
    fn lists_drop_blanks() {
        assert_eq!(split_list(" a, ,b,"), vec!["a", "b"]);
        assert!(split_list("").is_empty());
    }
}
