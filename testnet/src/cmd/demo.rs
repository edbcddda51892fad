//! `ostrom-testnet demo`: with no set-up, starts a testnet, generates a checkpoint,
//! publishes it on node 1, fetches it by id on the last node (which knows only node 0,
//! never the publisher), checks every fetched file's BLAKE3 against the original, and
//! reports sizes, times and throughput (the start time counts from after the `ostrom`
//! binary is located or built). Any failure makes the exit status non-zero.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{ensure, Context};
use bytesize::ByteSize;
use ostrom_testnet::checkpoint::{self, CheckpointSpec};
use ostrom_testnet::locate::ostrom_binary;
use ostrom_testnet::{hash, Testnet};

use super::fmt;

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many nodes (at least 3: node 0 bootstraps, node 1 publishes, the last fetches).
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Approximate size of the checkpoint's weights, e.g. 300MB.
    #[arg(long, default_value = "300MB")]
    size: ByteSize,
    /// Keep homes, checkpoint and fetched files in this directory instead of a temporary
    /// one.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Runs `demo`.
pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.nodes >= 3, "the demo needs at least 3 nodes");
    // Locating the binary may build it (under cargo); that is not part of starting nodes.
    let bin = ostrom_binary().context("locating `ostrom`")?;
    let started = Instant::now();
    let mut builder = Testnet::builder().nodes(args.nodes).binary(bin);
    if let Some(dir) = &args.dir {
        builder = builder.dir(dir);
    }
    let testnet = builder.start().context("starting the testnet")?;
    println!(
        "started {} nodes in {} ({})",
        testnet.len(),
        fmt::secs(started.elapsed()),
        testnet.dir().display()
    );

    let src = testnet.scratch_dir("checkpoint")?;
    let t = Instant::now();
    let ckpt = checkpoint::generate(&src, &CheckpointSpec::new(args.size.as_u64()))?;
    let total = ckpt.total_bytes();
    println!(
        "generated {} in {} files ({} layers, hidden {}) in {}",
        fmt::mb(total),
        ckpt.files.len(),
        ckpt.shape.layers,
        ckpt.shape.hidden,
        fmt::secs(t.elapsed())
    );

    let t = Instant::now();
    let originals: Vec<(PathBuf, String)> = ckpt
        .files
        .iter()
        .map(|f| Ok((f.path.clone(), hash::file_id(&src.join(&f.path))?)))
        .collect::<ostrom_testnet::Result<_>>()?;
    let hashing = t.elapsed();
    println!(
        "hashed locally (BLAKE3, as b3sum): {} ({})",
        fmt::secs(hashing),
        fmt::rate(total, hashing)
    );

    let publisher = &testnet[1];
    let t = Instant::now();
    let published = publisher.publish(&src, "demo/model")?;
    let publish_time = t.elapsed();
    println!(
        "published on node 1 in {} ({}): {}",
        fmt::secs(publish_time),
        fmt::rate(total, publish_time),
        published.id
    );
    for (path, id) in &originals {
        let reported = published
            .files
            .iter()
            .find(|f| std::path::Path::new(&f.path) == path)
            .with_context(|| format!("publish did not list {}", path.display()))?;
        ensure!(
            reported.id == *id,
            "publish reported id {} for {}, BLAKE3 is {id}",
            reported.id,
            path.display()
        );
    }

    let last = testnet.len() - 1;
    let fetcher = &testnet[last];
    let publisher_id = publisher.peer_id()?;
    ensure!(
        !fetcher
            .bootstrap_addrs()
            .iter()
            .any(|a| a.contains(publisher_id)),
        "the fetcher must not be told the publisher's address"
    );
    let out = testnet.scratch_dir("fetched")?;
    let t = Instant::now();
    let fetched = fetcher.fetch(&published.id, &out)?;
    let fetch_time = t.elapsed();
    println!(
        "fetched on node {last} (bootstrap: node 0 only) in {} ({}); {} from the network, {} {}",
        fmt::secs(fetch_time),
        fmt::rate(total, fetch_time),
        fmt::mb(fetched.bytes_from_network),
        fetched.peers.len(),
        if fetched.peers.len() == 1 {
            "peer"
        } else {
            "peers"
        }
    );

    for (path, id) in &originals {
        let got = hash::file_id(&out.join(path))
            .with_context(|| format!("fetched {} is missing", path.display()))?;
        ensure!(
            got == *id,
            "fetched {} has BLAKE3 {got}, the original {id}",
            path.display()
        );
    }
    println!(
        "verified {} files: BLAKE3 of every fetched file equals the original",
        originals.len()
    );
    println!(
        "summary: {} | publish {} ({}) | fetch {} ({}) | b3sum-equivalent {}",
        fmt::mb(total),
        fmt::secs(publish_time),
        fmt::rate(total, publish_time),
        fmt::secs(fetch_time),
        fmt::rate(total, fetch_time),
        fmt::rate(total, hashing)
    );
    testnet.shutdown();
    Ok(())
}
