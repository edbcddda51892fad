//! `ostrom node run`: the daemon in the foreground.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use ostrom_node::api::server;
use ostrom_node::exchange::Misbehavior;
use ostrom_node::network::bootstrap::MAX_RETRY_DELAY;
use ostrom_node::rate::Rate;
use ostrom_node::{Home, Node, NodeOptions};
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::RunArgs;

fn parse_rate(text: Option<&str>, flag: &str) -> Result<Option<Rate>> {
    text.map(|t| t.parse().map_err(|e| anyhow::anyhow!("{flag}: {e}")))
        .transpose()
}

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

pub async fn run(home: &Home, args: RunArgs) -> Result<()> {
    let misbehavior: Misbehavior = args.misbehave.parse().map_err(anyhow::Error::msg)?;
    let config = home.config()?;
    let options = NodeOptions {
        listen: super::parse_addrs(&args.listen, "--listen")?,
        bootstrap: super::parse_addrs(&args.bootstrap, "--bootstrap")?,
        api: Some(args.api.unwrap_or(config.api)),
        misbehavior,
        upload_limit: parse_rate(args.upload_limit.as_deref(), "--upload-limit")?,
        download_limit: parse_rate(args.download_limit.as_deref(), "--download-limit")?,
        network_key: args.network_key.clone(),
        announce: true,
    };
    let api_addr = options.api.unwrap_or(config.api);
    // Its message already names the cause; as one error it is printed once.
    server::check_api_addr(api_addr).map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let bootstrap_peers = config.bootstrap.len() + options.bootstrap.len();
    let node = Node::start(home.clone(), options).await?;
    let bound = server::serve(node.clone(), api_addr).await?;
    if misbehavior != Misbehavior::None {
        tracing::warn!(%misbehavior, "this node deliberately serves bad data");
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "api http://{bound}")?;
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
