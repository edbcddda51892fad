//! Peers that lie: one serving corrupted blocks, one serving manifests with forged
//! signatures, one answering with junk about ids never asked for. In each case the publisher is gone, the liar is the only holder, and a
//! fresh node's fetch must fail loudly, with the error kind `ostrom fetch --json` names
//! for that failure, without storing or writing anything it was sent.

use std::path::Path;

use anyhow::ensure;
use ostrom_testnet::{FetchFailure, NodeOptions, Testnet};
use ostrom_tests::{
    assert_no_original_content, assert_same_files, count, small_checkpoint, testnet, Fixture,
};

/// Runs `ostrom fetch ID --json` on node `index`, which must fail with error `kind`.
fn fetch_fails_with(
    net: &Testnet,
    index: usize,
    id: &str,
    out: &Path,
    kind: &str,
) -> anyhow::Result<FetchFailure> {
    let result = net[index].try_fetch_json(id, out, "20s")?;
    ensure!(
        !result.success(),
        "fetch of {id} succeeded: {}",
        result.stdout
    );
    let failure: FetchFailure = result.json()?;
    eprintln!("failed as expected: {failure:?}");
    ensure!(
        failure.kind == kind && !failure.error.is_empty(),
        "expected a {kind} failure, got {failure:?}; stderr: {}",
        result.stderr
    );
    Ok(failure)
}

/// Publisher node 1, liar node 2 (`--misbehave MODE`) that fetched the checkpoint
/// honestly; then the publisher stops and a fresh node joins through node 0. Returns the
/// testnet, the fixture, the checkpoint id and the fresh node's index.
fn liar_holds_the_only_copy(mode: &str) -> anyhow::Result<(Testnet, Fixture, String, usize)> {
    let mut net = testnet(3).misbehave(2, mode).start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    let published = net[1].publish(&fx.dir, "lab/victim")?;
    let liar_out = net.scratch_dir("liar-out")?;
    net[2].fetch(&published.id, &liar_out)?;
    assert_same_files(&fx, &liar_out)?;
    net[1].stop()?;
    let fresh = net.add_node(NodeOptions::new())?;
    Ok((net, fx, published.id, fresh))
}

#[test]
fn corrupt_blocks_are_rejected() -> anyhow::Result<()> {
    let (net, fx, id, c) = liar_holds_the_only_copy("corrupt-blocks")?;
    let out = net.scratch_dir("c-out")?;
    // The only holder is dropped for the bad block it sent, and no other is left.
    fetch_fails_with(&net, c, &id, &out, "holders_exhausted")?;
    // The manifest verified, so it is kept; not one of the corrupted chunks is.
    let shown: serde_json::Value = net[c].ostrom(&["show", &id, "--json"])?.ok()?.json()?;
    ensure!(
        count(&shown["chunks_held"]) == Some(0),
        "bad chunks stored: {shown}"
    );
    assert_no_original_content(&fx, &out)?;
    Ok(())
}

#[test]
fn forged_manifests_are_rejected() -> anyhow::Result<()> {
    let (net, fx, id, c) = liar_holds_the_only_copy("forge-manifests")?;

    let weights = fx.weights()?;
    let out = net.scratch_dir("c-out-file")?;
    fetch_fails_with(&net, c, &weights.id, &out, "no_valid_manifest")?;
    assert_no_original_content(&fx, &out)?;

    let out = net.scratch_dir("c-out-checkpoint")?;
    fetch_fails_with(&net, c, &id, &out, "no_valid_manifest")?;
    assert_no_original_content(&fx, &out)?;
    Ok(())
}

/// Peak resident memory of process `pid` in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        });
    kib.map(|k| k * 1024)
        .ok_or_else(|| anyhow::anyhow!("no VmHWM for {pid}"))
}

#[test]
fn junk_cannot_hold_a_fetch_past_its_timeout() -> anyhow::Result<()> {
    let (net, fx, id, c) = liar_holds_the_only_copy("junk")?;
    let out = net.scratch_dir("c-out")?;
    // The only holder answers every chunk request with floods of messages about ids never
    // asked for: none of it is progress, so the fetch ends at its timeout.
    let started = std::time::Instant::now();
    let result = net[c].try_fetch_json(&id, &out, "5s")?;
    let took = started.elapsed();
    ensure!(!result.success(), "fetch from a junk holder succeeded");
    let failure: FetchFailure = result.json()?;
    eprintln!("failed as expected after {took:?}: {failure:?}");
    ensure!(
        failure.kind == "no_progress",
        "expected no_progress, got {failure:?}"
    );
    ensure!(
        took < std::time::Duration::from_secs(20),
        "a 5 s fetch timeout ended only after {took:?}"
    );
    if let Some(pid) = net[c].pid() {
        let peak = peak_rss(pid)?;
        ensure!(
            peak < 300 << 20,
            "the fetching node reached {} MiB",
            peak >> 20
        );
    }
    assert_no_original_content(&fx, &out)?;
    Ok(())
}
