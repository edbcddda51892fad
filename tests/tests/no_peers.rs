//! A node with no peers says so at once: a fetch that needs the network fails within a
//! few seconds with kind `no_peers`, naming `--bootstrap` and `config.toml`, instead of
//! waiting out its timeout and blaming the holders; through a temporary node (no node
//! running on the home) and through a running node alike.

use std::time::Duration;

use anyhow::ensure;
use ostrom_testnet::{Bootstrap, CmdOutput, FetchFailure, NodeOptions};
use ostrom_tests::{random_id, testnet};

/// Checks that `result` is a prompt `no_peers` failure that tells how to add peers.
fn ensure_no_peers(result: &CmdOutput, how: &str) -> anyhow::Result<()> {
    ensure!(
        !result.success(),
        "{how}: the fetch succeeded: {}",
        result.stdout
    );
    let failure: FetchFailure = result.json()?;
    eprintln!("{how}: failed as expected: {failure:?}");
    ensure!(failure.kind == "no_peers", "{how}: {failure:?}");
    ensure!(
        failure.error.contains("--bootstrap") && failure.error.contains("config.toml"),
        "{how}: the message should say how to add peers: {}",
        failure.error
    );
    // The fetch may go 60 s without progress; with no peers it must not wait that long.
    ensure!(
        result.elapsed < Duration::from_secs(20),
        "{how}: took {:?}",
        result.elapsed
    );
    Ok(())
}

#[test]
fn a_fetch_with_no_peers_fails_at_once_and_says_why() -> anyhow::Result<()> {
    let mut net = testnet(0).start()?;
    let id = random_id();

    let stopped = net.add_stopped_node(NodeOptions::new().bootstrap(Bootstrap::None))?;
    let out = net.scratch_dir("out-temporary")?;
    let result = net[stopped].try_fetch_json(&id, &out, "60s")?;
    ensure_no_peers(&result, "temporary node")?;

    let alone = net.add_node(NodeOptions::new().bootstrap(Bootstrap::None))?;
    let out = net.scratch_dir("out-running")?;
    let result = net[alone].try_fetch_json(&id, &out, "60s")?;
    ensure_no_peers(&result, "running node")?;
    Ok(())
}
