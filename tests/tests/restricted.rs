//! Restricted checkpoints and lab membership: a checkpoint published with --restrict-to
//! is readable by the publisher's lab (nodes it vouched for) and the named labs, and by no
//! one else, who gets a clear "not authorized" and stores nothing.

use anyhow::{ensure, Context};
use ostrom_testnet::checkpoint::{generate, CheckpointSpec};
use ostrom_tests::{mentions_any, testnet};

#[test]
fn only_vouched_members_and_named_labs_read_a_restricted_checkpoint() -> anyhow::Result<()> {
    // Node 0 publishes for lab A; node 1 is another node of lab A; node 2 is lab B, named
    // as a reader; node 3 is an outsider. Every node trusts every publisher key.
    let net = testnet(4).start()?;
    let dir = net.scratch_dir("ckpt")?;
    generate(&dir, &CheckpointSpec::new(2 << 20))?;

    let member = net[1].peer_id()?.to_owned();
    let vouch = net[0]
        .ostrom(&["lab", "vouch", &member, "--days", "30"])?
        .ok()?;
    let vouch = vouch.last_line().context("no vouch printed")?.to_owned();
    net[1].ostrom(&["lab", "join", &vouch])?.ok()?;
    let stolen = net[3].ostrom(&["lab", "join", &vouch])?;
    ensure!(
        !stolen.success(),
        "a vouch for node 1 was accepted by node 3"
    );

    let published: serde_json::Value = net[0].ostrom_json(&[
        "publish",
        &dir.display().to_string(),
        "--name",
        "secret-model",
        "--restrict-to",
        "node-2",
    ])?;
    let id = published["id"].as_str().context("no id")?.to_owned();

    for reader in [1, 2] {
        let out = net.scratch_dir(&format!("reader-{reader}"))?;
        let fetched = net[reader].fetch(&id, &out)?;
        ensure!(
            fetched.bytes == published["bytes"],
            "node {reader}: {fetched:?}"
        );
    }

    let out = net.scratch_dir("outsider")?;
    let refused = net[3].try_fetch(&id, &out, "10s")?;
    ensure!(
        !refused.success(),
        "an outsider read a restricted checkpoint"
    );
    ensure!(
        mentions_any(&refused.stderr, &["not authorized"]),
        "unclear refusal: {}",
        refused.stderr
    );
    let shown = net[3].ostrom(&["show", &id])?;
    ensure!(
        !shown.success(),
        "the outsider stored the manifest: {}",
        shown.stdout
    );
    ensure!(
        std::fs::read_dir(&out)?.next().is_none(),
        "the outsider wrote files"
    );
    Ok(())
}
