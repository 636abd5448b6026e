//! Starting and stopping a devnet: the server on a loopback port and, when asked, live mode.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::DevnetError;
use crate::network::Network;

/// A devnet being served (see the module docs). Dropping it stops live mode; call
/// [`RunningDevnet::shutdown`] to also stop the server and wait for it.
#[derive(Debug)]
pub struct RunningDevnet {
    network: Arc<Network>,
    address: SocketAddr,
    stop_live: Arc<AtomicBool>,
    live: Option<std::thread::JoinHandle<()>>,
    stop_server: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningDevnet {
    /// Serves `network` on `address` (port 0: any free port) and starts live mode when the
    /// network has a rate.
    pub async fn start(network: Network, address: SocketAddr) -> Result<Self, DevnetError> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        network.set_base_url(&format!("http://{address}"));
        let network = Arc::new(network);
        let (stop_server, stopped) = oneshot::channel::<()>();
        let app = crate::server::router(network.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%address, repos = network.model().repo_count(), "devnet serving");
        let rate = network.config().rate;
        let mut devnet = Self {
            network,
            address,
            stop_live: Arc::new(AtomicBool::new(false)),
            live: None,
            stop_server: Some(stop_server),
            server: Some(server),
        };
        if rate > 0.0 {
            devnet.start_live(rate)?;
        }
        Ok(devnet)
    }

    /// Starts live mode at `rate` events per second (after [`stop_live`](Self::stop_live), it
    /// goes on where it stopped). Fails if live mode is running.
    pub fn start_live(&mut self, rate: f64) -> Result<(), DevnetError> {
        if self.live.is_some() {
            return Err(DevnetError::BadRequest(
                "live mode is already running".into(),
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        self.stop_live = stop.clone();
        let network = self.network.clone();
        self.live = Some(
            std::thread::Builder::new()
                .name("devnet-live".into())
                .spawn(move || crate::live::run(network, stop, rate))?,
        );
        Ok(())
    }

    /// The network.
    pub fn network(&self) -> &Arc<Network> {
        &self.network
    }

    /// The address served.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL (`http://127.0.0.1:<port>`): the PDS, PLC and labeler endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The firehose URL.
    pub fn firehose_url(&self) -> String {
        format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos", self.address)
    }

    /// The label stream URL.
    pub fn labels_url(&self) -> String {
        format!(
            "ws://{}/xrpc/com.atproto.label.subscribeLabels",
            self.address
        )
    }

    /// What `sluice devnet` prints when ready: endpoints and sizes, as JSON.
    pub fn describe(&self) -> serde_json::Value {
        let network = &self.network;
        let model = network.model();
        let totals = model.total_counts();
        serde_json::json!({
            "url": self.url(),
            "plc": self.url(),
            "firehose": self.firehose_url(),
            "subscribe_labels": self.labels_url(),
            "labeler_did": model.account(crate::accounts::LABELER).map(|a| a.did.clone()),
            "handle_domain": format!(".{}", crate::accounts::HANDLE_DOMAIN),
            "seed": model.seed(),
            "repos": model.repo_count(),
            "records": totals.total(),
            "records_created": model.repos().iter().map(|r| r.created).sum::<u64>(),
            "history_events": network.history_events(),
            "history_labels": network.history_labels(),
            "rate": network.config().rate,
            "generate_s": network.generate_time().as_secs_f64(),
        })
    }

    /// Stops live mode (the server goes on serving the network as it is) and waits for it.
    pub async fn stop_live(&mut self) -> Result<(), DevnetError> {
        self.stop_live.store(true, Ordering::Relaxed);
        if let Some(live) = self.live.take() {
            tokio::task::spawn_blocking(move || live.join())
                .await
                .map_err(|e| DevnetError::Internal(e.to_string()))?
                .map_err(|_| DevnetError::Internal("the live thread panicked".into()))?;
        }
        Ok(())
    }

    /// Stops live mode and the server, and waits for both.
    pub async fn shutdown(mut self) -> Result<(), DevnetError> {
        self.stop_live().await?;
        if let Some(stop) = self.stop_server.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .map_err(|e| DevnetError::Internal(e.to_string()))??;
        }
        Ok(())
    }
}

impl Drop for RunningDevnet {
    fn drop(&mut self) {
        self.stop_live.store(true, Ordering::Relaxed);
        if let Some(stop) = self.stop_server.take() {
            let _ = stop.send(());
        }
    }
}
