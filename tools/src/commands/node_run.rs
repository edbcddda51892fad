//! `ostrom node run`: the daemon in the foreground.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use ostrom_node::api::server;
use ostrom_node::config::layers::Flags;
use ostrom_node::exchange::Misbehavior;
use ostrom_node::metrics;
use ostrom_node::network::bootstrap::MAX_RETRY_DELAY;
use ostrom_node::{Home, Node, NodeOptions};
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::RunArgs;

/// How long a starting node may go without a peer before it says so.
const ALONE_WARNING: Duration = Duration::from_secs(5);

/// Warns (in the log and on stderr) when the node has no peer [`ALONE_WARNING`] after it
/// started; the network keeps dialing the bootstrap peers meanwhile.
async fn warn_if_alone(node: Node, bootstrap_peers: usize) {
    if node.network().wait_connected(ALONE_WARNING).await {
        return;
    }
    let message = if bootstrap_peers == 0 {
        format!(
            "no peers after {}s, and no bootstrap peer is configured: only nodes that dial \
             this one can reach it; give one with --bootstrap MULTIADDR (a node's address as \
             `ostrom id` prints it) or `bootstrap = [...]` in config.toml",
            ALONE_WARNING.as_secs()
        )
    } else {
        format!(
            "no peers after {}s: none of the {bootstrap_peers} bootstrap peers answered; \
             dialing them again with backoff (at most every {}s); check the addresses given \
             with --bootstrap and in config.toml",
            ALONE_WARNING.as_secs(),
            MAX_RETRY_DELAY.as_secs()
        )
    };
    tracing::warn!("{message}");
    eprintln!("warning: {message}");
}

/// The flags of `node run` as the top layer of the configuration.
fn flags(args: &RunArgs) -> Flags {
    Flags::default()
        .replace_list("listen", "--listen", &args.listen)
        .append_list("bootstrap", "--bootstrap", &args.bootstrap)
        .set("api", "--api", args.api.map(|a| a.to_string()))
        .set("upload_limit", "--upload-limit", args.upload_limit.clone())
        .set(
            "download_limit",
            "--download-limit",
            args.download_limit.clone(),
        )
        .set(
            "network_key",
            "--network-key",
            args.network_key.as_ref().map(|p| p.display().to_string()),
        )
        .set("metrics", "--metrics", args.metrics.clone())
        .set("log_format", "--log-format", args.log_format.clone())
        .set("log_level", "--log-level", args.log_level.clone())
}

pub async fn run(home: &Home, args: RunArgs) -> Result<()> {
    let misbehavior: Misbehavior = args.misbehave.parse().map_err(anyhow::Error::msg)?;
    let layered = home.layered_config(&flags(&args))?;
    let config = layered.config.clone();
    super::init_logging(&config.log_level, config.log_format);
    // Every address is checked, and the metrics port bound, before the node starts: a
    // port taken stops it at once, saying which.
    server::check_api_addr(config.api).map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let metrics_listener = match config.metrics {
        Some(addr) => Some(metrics::bind(addr).await?),
        None => None,
    };
    let bootstrap_peers = config.bootstrap.len();
    let options = NodeOptions {
        config: Some(layered),
        listen: Vec::new(),
        bootstrap: Vec::new(),
        api: Some(config.api),
        misbehavior,
        upload_limit: None,
        download_limit: None,
        network_key: None,
        announce: true,
    };
    let node = Node::start(home.clone(), options).await?;
    let bound = server::serve(node.clone(), config.api).await?;
    let metrics_bound = match metrics_listener {
        Some(listener) => Some(metrics::serve(&node, listener, node.metrics_registry())?),
        None => None,
    };
    if misbehavior != Misbehavior::None {
        tracing::warn!(%misbehavior, "this node deliberately serves bad data");
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "api http://{bound}")?;
        if let Some(addr) = metrics_bound {
            writeln!(out, "metrics http://{addr}/metrics")?;
        }
        for addr in node.network().listen_addrs() {
            writeln!(out, "listen {addr}")?;
        }
        writeln!(out, "ready")?;
        out.flush()?;
    }
    tracing::info!(peer = %node.network().local_peer_id(), api = %bound, "node running");
    node.spawn(
        node.shutdown_token()
            .run_until_cancelled_owned(warn_if_alone(node.clone(), bootstrap_peers)),
    );

    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("shutting down");
    // Commands stop using this node at once; running requests still get their answer.
    let _ = std::fs::remove_file(home.api_addr_path());
    node.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}
