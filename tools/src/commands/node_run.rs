//! `ostrom node run`: the daemon in the foreground.

use std::io::Write;

use anyhow::Result;
use ostrom_node::api::server;
use ostrom_node::exchange::Misbehavior;
use ostrom_node::rate::Rate;
use ostrom_node::{Home, Node, NodeOptions};
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::RunArgs;

fn parse_rate(text: Option<&str>, flag: &str) -> Result<Option<Rate>> {
    text.map(|t| t.parse().map_err(|e| anyhow::anyhow!("{flag}: {e}")))
        .transpose()
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
