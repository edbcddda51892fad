//! `ostrom fetch`: through the running node, or through a temporary in-process node on the
//! home's configuration when none runs.

use anyhow::{Context, Result};
use ostrom_node::api::types::{FetchBody, FetchOutcome};
use ostrom_node::exchange::{FetchRequest, Misbehavior};
use ostrom_node::{Home, Multiaddr, Node, NodeOptions};
use ostrom_protocol::Id;

use crate::cli::FetchArgs;
use crate::client::ApiClient;
use crate::format;

pub async fn run(home: &Home, args: FetchArgs) -> Result<()> {
    let id: Id = args.id.parse()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let out = std::fs::canonicalize(&args.out)?;
    let timeout = match &args.timeout {
        Some(text) => humantime::parse_duration(text).with_context(|| {
            format!("--timeout {text:?}: expected a duration such as 30s or 5m")
        })?,
        None => home.config()?.fetch_timeout,
    };
    let outcome: FetchOutcome = match ApiClient::connect(home).await {
        Some(client) => {
            let body = FetchBody {
                id: id.to_string(),
                out: out.display().to_string(),
                timeout_ms: timeout.as_millis() as u64,
            };
            client.post("/v1/fetch", &body).await?
        }
        None => {
            let bootstrap = super::parse_addrs(&args.bootstrap, "--bootstrap")?;
            fetch_in_process(home, bootstrap, FetchRequest { id, out, timeout }).await?
        }
    };
    if args.json {
        return super::print_json(&outcome);
    }
    println!(
        "fetched {}{} into {}",
        outcome.name,
        outcome
            .tag
            .as_deref()
            .map(|t| format!("@{t}"))
            .unwrap_or_default(),
        outcome.out
    );
    for file in &outcome.files {
        println!("  {}  {}  {}", file.id, format::bytes(file.size), file.path);
    }
    println!(
        "{} in {:.2}s ({}); {} from {} peers, {} from the local store, {} already in place; every file verified",
        format::bytes(outcome.bytes),
        outcome.seconds,
        format::rate(outcome.bytes, outcome.seconds),
        format::bytes(outcome.bytes_from_network),
        outcome.peers.len(),
        format::bytes(outcome.bytes_from_store),
        format::bytes(outcome.bytes_resumed),
    );
    Ok(())
}

/// Runs a node for the length of one fetch, on ephemeral ports, joining through the
/// home's configured bootstrap peers and `bootstrap`.
async fn fetch_in_process(
    home: &Home,
    bootstrap: Vec<Multiaddr>,
    request: FetchRequest,
) -> Result<FetchOutcome> {
    eprintln!(
        "note: no node is running on {}; fetching through a temporary node that joins via config.toml's bootstrap peers",
        home.root().display()
    );
    let options = NodeOptions {
        listen: vec![
            "/ip4/0.0.0.0/tcp/0".parse()?,
            "/ip4/0.0.0.0/udp/0/quic-v1".parse()?,
        ],
        bootstrap,
        api: None,
        misbehavior: Misbehavior::None,
    };
    let node = Node::start(home.clone(), options).await?;
    let outcome = node.fetch(request).await;
    node.shutdown().await;
    Ok(outcome?)
}
