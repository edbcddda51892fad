//! `ostrom-testnet up --nodes N`: starts N nodes, prints how to reach and use them, and
//! keeps them running until Ctrl-C or SIGTERM, then stops them all.

use std::path::PathBuf;

use anyhow::Context;
use ostrom_testnet::{Node, Testnet};
use tokio::signal::unix::{signal, SignalKind};

/// Arguments of `up`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many nodes to start.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Keep the node homes in this directory (reused when run again) instead of a
    /// temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Make a node misbehave, e.g. `--misbehave 2=corrupt-blocks` (repeatable).
    #[arg(long, value_name = "INDEX=MODE", value_parser = parse_misbehave)]
    misbehave: Vec<(usize, String)>,
}

fn parse_misbehave(text: &str) -> Result<(usize, String), String> {
    let (index, mode) = text
        .split_once('=')
        .ok_or_else(|| format!("expected INDEX=MODE, got {text:?}"))?;
    let index = index
        .parse()
        .map_err(|_| format!("{index:?} is not a node index"))?;
    Ok((index, mode.to_owned()))
}

/// Runs `up`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal runtime")?;
    // Listen before starting nodes, so a Ctrl-C during start-up still tears down.
    let (mut interrupt, mut terminate) = {
        let _guard = runtime.enter();
        (
            signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        )
    };

    anyhow::ensure!(args.nodes > 0, "--nodes must be at least 1");
    let mut builder = Testnet::builder().nodes(args.nodes);
    if let Some(dir) = &args.dir {
        builder = builder.dir(dir);
    }
    for (index, mode) in &args.misbehave {
        anyhow::ensure!(
            *index < args.nodes,
            "--misbehave names node {index}, but there are {} nodes",
            args.nodes
        );
        builder = builder.misbehave(*index, mode);
    }
    let mut testnet = builder.start().context("starting the testnet")?;

    print_nodes(&testnet)?;
    let got = runtime.block_on(async {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    });
    eprintln!("{got}: stopping {} nodes", testnet.len());
    testnet.stop_all();
    Ok(())
}

fn print_nodes(testnet: &Testnet) -> anyhow::Result<()> {
    println!(
        "testnet: {} nodes in {}",
        testnet.len(),
        testnet.dir().display()
    );
    println!("ostrom binary: {}", testnet.binary().display());
    for node in testnet.nodes() {
        print_node(node)?;
    }
    let last = testnet.len().saturating_sub(1);
    if let (Ok(publisher), Ok(fetcher)) = (testnet.node(1.min(last)), testnet.node(last)) {
        let (p, f) = (publisher.home().display(), fetcher.home().display());
        println!();
        println!("try:");
        println!("  ostrom-testnet gen ./ckpt --size 100MB");
        println!("  ostrom --home {p} publish ./ckpt --name lab/model --tag step-1");
        println!("  ostrom --home {f} fetch <ID> -o ./weights");
        println!("  ostrom --home {f} ls");
    }
    println!();
    println!("running; Ctrl-C stops every node");
    Ok(())
}

fn print_node(node: &Node) -> anyhow::Result<()> {
    let addrs = node.addrs()?;
    println!();
    println!("node {}", node.index());
    println!("  home      {}", node.home().display());
    println!("  peer id   {}", addrs.peer_id);
    println!("  api       {}", addrs.api_url);
    for addr in &addrs.listen {
        println!("  multiaddr {addr}");
    }
    println!("  log       {}", node.log_path().display());
    if !node.options().extra_args.is_empty() {
        println!("  args      {}", node.options().extra_args.join(" "));
    }
    Ok(())
}
