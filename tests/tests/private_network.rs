//! A private network: nodes that share a network key connect and fetch from each other;
//! a node without the key cannot connect to them at all.

use anyhow::ensure;
use ostrom_testnet::{cli, NodeOptions, Testnet};
use ostrom_tests::{mentions_any, small_checkpoint, testnet};
use std::time::Duration;

#[test]
fn only_nodes_with_the_key_can_connect() -> anyhow::Result<()> {
    let keys = tempfile::tempdir()?;
    let key = keys.path().join("swarm.key");
    let key_text = key.display().to_string();
    cli::ostrom(&["network-key", "new", &key_text], Duration::from_secs(30))?.ok()?;
    let again = cli::ostrom(&["network-key", "new", &key_text], Duration::from_secs(30))?;
    ensure!(!again.success(), "an existing network key was overwritten");

    let member = || {
        NodeOptions::new()
            .arg("--network-key")
            .arg(key_text.clone())
    };
    let mut net: Testnet = testnet(2).node(0, member()).node(1, member()).start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    let published = net[0].publish(&fx.dir, "consortium/model")?;
    let fetched = net[1].fetch(&published.id, &net.scratch_dir("member-out")?)?;
    ensure!(fetched.bytes == published.bytes, "{fetched:?}");

    // An outsider bootstraps to the same node but cannot complete a connection: it has
    // no peers at all, and its fetch says so.
    let outsider = net.add_node(NodeOptions::new())?;
    let out = net.scratch_dir("outsider-out")?;
    let refused = net[outsider].try_fetch(&published.id, &out, "5s")?;
    ensure!(
        !refused.success(),
        "a node without the key fetched from the private network"
    );
    ensure!(
        mentions_any(&refused.stderr, &["no peers"]),
        "unclear failure: {}",
        refused.stderr
    );
    Ok(())
}
