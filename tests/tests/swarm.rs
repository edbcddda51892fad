//! Fetching from a swarm: several holders at once, a node that is still fetching serving
//! what it already has, upload limits that hold, and holders that corrupt blocks, lie
//! about what they hold or stall, none of which stops an honest holder's data getting
//! through. (Many fetches at once against one holder: `simultaneous.rs`.)

use std::time::Duration;

use anyhow::{ensure, Context};
use ostrom_testnet::{Fetched, NodeOptions, Testnet};
use ostrom_tests::{
    assert_ids_are_blake3, assert_same_files, checkpoint_of_size, set_config, small_checkpoint,
    testnet, Progress, StreamedFetch,
};

/// How long a background fetch may take to reach the point a test waits for, or to end.
const STREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// A node that serves at most `rate` bytes per second.
fn upload_limited(rate: &str) -> NodeOptions {
    NodeOptions::new().arg("--upload-limit").arg(rate)
}

/// Node `index`'s peer id, owned.
fn peer_id(net: &Testnet, index: usize) -> anyhow::Result<String> {
    Ok(net.node(index)?.peer_id()?.to_owned())
}

/// Whether `fetched` names `peer` among the peers that sent it good blocks.
fn sent_blocks(fetched: &Fetched, peer: &str) -> bool {
    fetched.peers.iter().any(|p| p == peer)
}

#[test]
fn bad_peers_do_not_stop_a_fetch() -> anyhow::Result<()> {
    // Node 0 publishes and stays honest; the others misbehave when serving.
    let liars = [(1, "corrupt-blocks"), (2, "lie-have"), (3, "stall")];
    let mut builder = testnet(4);
    for (index, mode) in liars {
        builder = builder.misbehave(index, mode);
    }
    let mut net = builder.start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    let published = net[0].publish(&fx.dir, "lab/contested")?;
    // Each liar fetches honestly first, so it holds every chunk. The staller goes last,
    // so no honest fetch here waits on it.
    for (index, mode) in liars {
        let out = net.scratch_dir(&format!("out-{mode}"))?;
        net[index].fetch(&published.id, &out)?;
        assert_same_files(&fx, &out)?;
    }

    // The fresh node gives up on a silent holder after 3 s instead of 30 s.
    let fresh = net.add_stopped_node(NodeOptions::new())?;
    set_config(net[fresh].home(), "peer_stall_timeout", "\"3s\"")?;
    net.start_node(fresh)?;
    let out = net.scratch_dir("out-fresh")?;
    let fetched = net[fresh].fetch(&published.id, &out)?;
    eprintln!("fetched past the liars: {fetched:?}");
    for line in net[fresh].log_tail(200).lines() {
        if line.contains("dropping holder") {
            eprintln!("fresh node: {line}");
        }
    }
    assert_same_files(&fx, &out)?;
    assert_ids_are_blake3(&fetched.files, &out)?;
    ensure!(
        fetched.bytes_from_network == fetched.bytes,
        "a fresh node holds nothing: {fetched:?}"
    );
    let honest = peer_id(&net, 0)?;
    ensure!(
        sent_blocks(&fetched, &honest),
        "the honest holder {honest} is not among the peers: {:?}",
        fetched.peers
    );
    for (index, mode) in liars {
        let liar = peer_id(&net, index)?;
        ensure!(
            !sent_blocks(&fetched, &liar),
            "the {mode} holder {liar} is counted among the peers that sent good blocks: {:?}",
            fetched.peers
        );
    }
    Ok(())
}

#[test]
fn many_sources() -> anyhow::Result<()> {
    // Every holder serves at most 2 MiB/s, so one holder alone would need seconds.
    let mut builder = testnet(4);
    for index in 0..3 {
        builder = builder.node(index, upload_limited("2MiB"));
    }
    let net = builder.start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    let published = net[0].publish(&fx.dir, "lab/popular")?;
    // Nodes 1 and 2 fetch one after the other, node 2 from nodes 0 and 1.
    for index in [1, 2] {
        let out = net.scratch_dir(&format!("out-{index}"))?;
        net[index].fetch(&published.id, &out)?;
        assert_same_files(&fx, &out)?;
    }

    let out = net.scratch_dir("out-3")?;
    let fetched = net[3].fetch(&published.id, &out)?;
    eprintln!("fetched from the swarm: {fetched:?}");
    assert_same_files(&fx, &out)?;
    assert_ids_are_blake3(&fetched.files, &out)?;
    let holders: Vec<String> = (0..3)
        .map(|i| peer_id(&net, i))
        .collect::<anyhow::Result<_>>()?;
    ensure!(
        fetched.peers.iter().all(|p| holders.contains(p)),
        "a peer that holds nothing sent blocks: {:?}",
        fetched.peers
    );
    ensure!(
        fetched.peers.len() >= 2,
        "pulled from {} holder(s) of 3 (each capped at 2 MiB/s): {:?}",
        fetched.peers.len(),
        fetched.peers
    );
    Ok(())
}

#[test]
fn upload_limit_is_respected() -> anyhow::Result<()> {
    let net = testnet(2).node(0, upload_limited("2MiB")).start()?;
    let fx = checkpoint_of_size(&net.scratch_dir("src")?, 6_000_000)?;
    let published = net[0].publish(&fx.dir, "lab/capped")?;
    let out = net.scratch_dir("out")?;
    let fetched = net[1].fetch(&published.id, &out)?;
    eprintln!("fetched from a capped holder: {fetched:?}");
    assert_same_files(&fx, &out)?;
    ensure!(
        fetched.bytes_from_network == fetched.bytes,
        "everything must come from the one holder: {fetched:?}"
    );
    // At 2 MiB/s, with at most about 1 MiB let through at once, 6 MB needs over 2.3 s.
    ensure!(
        fetched.seconds >= 2.0,
        "{} bytes from a holder capped at 2 MiB/s took only {:.2}s",
        fetched.bytes,
        fetched.seconds
    );
    Ok(())
}

#[test]
fn partial_holder_serves() -> anyhow::Result<()> {
    // The seeder serves 1 MiB/s in all; node 1 starts first, node 2 joins later.
    let net = testnet(3).node(0, upload_limited("1MiB")).start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    let published = net[0].publish(&fx.dir, "lab/spreading")?;
    let (a, b) = (1, 2);

    let out_a = net.scratch_dir("out-a")?;
    let mut fetch_a = StreamedFetch::start(&net, a, &published.id, &out_a)?;
    let at = fetch_a.wait_for(STREAM_TIMEOUT, |p: &Progress| p.fraction() >= 0.3)?;
    ensure!(
        !at.done,
        "node {a} finished before node {b} started: {at:?}"
    );

    let out_b = net.scratch_dir("out-b")?;
    let fetched_b = net[b].fetch(&published.id, &out_b)?;
    eprintln!("node {b} fetched: {fetched_b:?}");
    assert_same_files(&fx, &out_b)?;
    let peer_a = peer_id(&net, a)?;
    ensure!(
        sent_blocks(&fetched_b, &peer_a),
        "node {a} ({peer_a}) held {} of {} bytes when node {b} started, yet sent it nothing: {:?}",
        at.bytes_done,
        at.bytes_total,
        fetched_b.peers
    );

    let fetched_a = fetch_a
        .finish(STREAM_TIMEOUT)?
        .ok()
        .with_context(|| format!("node {a}'s fetch"))?;
    assert_same_files(&fx, &out_a)?;
    assert_ids_are_blake3(&fetched_a.files, &out_a)?;
    Ok(())
}
