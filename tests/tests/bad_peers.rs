//! Peers that lie: one serving corrupted blocks, one serving manifests with forged
//! signatures. In both cases the publisher is gone, the liar is the only holder, and a
//! fresh node's fetch must fail loudly without storing or writing anything it was sent.

use anyhow::ensure;
use ostrom_testnet::{NodeOptions, Testnet};
use ostrom_tests::{
    assert_no_original_content, assert_same_files, count, mentions_any, small_checkpoint, testnet,
    Fixture,
};

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
    let result = net[c].try_fetch(&id, &out, "20s")?;
    ensure!(!result.success(), "fetch from a corrupting peer succeeded");
    eprintln!("failed as expected: {}", result.stderr.trim());
    ensure!(
        mentions_any(&result.stderr, &["did not match", "mismatch"]),
        "no hash mismatch in the message: {}",
        result.stderr
    );
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
    let by_file = net[c].try_fetch(&weights.id, &out, "20s")?;
    ensure!(
        !by_file.success(),
        "fetch by file id through a forged manifest succeeded"
    );
    eprintln!("failed as expected: {}", by_file.stderr.trim());
    ensure!(
        mentions_any(&by_file.stderr, &["signature"]),
        "no signature failure in the message: {}",
        by_file.stderr
    );
    assert_no_original_content(&fx, &out)?;

    let out = net.scratch_dir("c-out-checkpoint")?;
    let by_id = net[c].try_fetch(&id, &out, "20s")?;
    ensure!(
        !by_id.success(),
        "fetch by checkpoint id of a forged manifest succeeded"
    );
    eprintln!("failed as expected: {}", by_id.stderr.trim());
    ensure!(
        mentions_any(
            &by_id.stderr,
            &["match", "hash", "signature", "invalid", "forged"]
        ),
        "unclear message: {}",
        by_id.stderr
    );
    assert_no_original_content(&fx, &out)?;
    Ok(())
}
