//! Signed statements about checkpoints and keys: a retracted checkpoint is refused unless
//! allowed (and then flagged), and a publisher's key rotation is followed by nodes that
//! trust the old key, for names and for trust.

use anyhow::{ensure, Context};
use ostrom_testnet::checkpoint::{generate, CheckpointSpec};
use ostrom_tests::testnet;

#[test]
fn retracted_checkpoints_are_refused_unless_allowed() -> anyhow::Result<()> {
    let net = testnet(3).start()?;
    let dir = net.scratch_dir("ckpt")?;
    generate(&dir, &CheckpointSpec::new(1 << 20))?;
    let published = net[0].publish(&dir, "gpt")?;
    net[1].fetch(&published.id, &net.scratch_dir("before")?)?;

    net[0]
        .ostrom(&[
            "retract",
            &published.id,
            "--reason",
            "trained on the test set",
        ])?
        .ok()?;
    let out = net.scratch_dir("after")?;
    let out = out.display().to_string();
    let refused = net[2].ostrom(&["fetch", &published.id, "-o", &out])?;
    ensure!(
        !refused.success()
            && refused.stderr_contains("retracted by its publisher (trained on the test set)"),
        "retracted checkpoint fetched, or unclear: {}",
        refused.stderr
    );
    let allowed: serde_json::Value =
        net[2].ostrom_json(&["fetch", &published.id, "-o", &out, "--allow-retracted"])?;
    ensure!(
        allowed["retracted"] == "trained on the test set",
        "{allowed}"
    );

    let stranger = net[1].ostrom(&["retract", &published.id])?;
    ensure!(
        !stranger.success() && stranger.stderr_contains("only its publisher can retract it"),
        "{}",
        stranger.stderr
    );
    Ok(())
}

#[test]
fn a_rotated_key_is_followed_by_nodes_that_trust_the_old_one() -> anyhow::Result<()> {
    let mut net = testnet(2).start()?;
    let dir = net.scratch_dir("ckpt")?;
    generate(&dir, &CheckpointSpec::new(1 << 20).seed(1))?;
    let old_key = net[0].publisher_key()?;
    net[0]
        .ostrom(&[
            "publish",
            &dir.display().to_string(),
            "--name",
            "gpt",
            "--tag",
            "v1",
        ])?
        .ok()?;

    let running = net[0].ostrom(&["key", "rotate"])?;
    ensure!(
        !running.success() && running.stderr_contains("stop the node"),
        "{}",
        running.stderr
    );
    net[0].stop()?;
    net[0].ostrom(&["key", "rotate"])?.ok()?;
    let new_key = net[0].publisher_key()?;
    ensure!(new_key != old_key, "the key did not change");
    net[0].restart()?;

    generate(&dir, &CheckpointSpec::new(1 << 20).seed(2))?;
    let v2: serde_json::Value = net[0].ostrom_json(&[
        "publish",
        &dir.display().to_string(),
        "--name",
        "gpt",
        "--tag",
        "v2",
    ])?;
    let v2 = v2["id"].as_str().context("id")?.to_owned();

    // Node 1 trusts only the old key (the testnet wrote it as node-0 before the rotation).
    let out = net.scratch_dir("out")?;
    let fetched: serde_json::Value = net[1].ostrom_json(&[
        "fetch",
        "node-0/gpt@latest",
        "-o",
        &out.display().to_string(),
    ])?;
    ensure!(
        fetched["checkpoint"] == v2.as_str(),
        "resolved to {fetched}"
    );
    ensure!(fetched["publisher"] == new_key.as_str(), "{fetched}");
    ensure!(
        fetched["publisher_alias"] == "node-0",
        "not trusted through the rotation: {fetched}"
    );
    Ok(())
}
