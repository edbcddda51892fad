//! A node whose bootstrap peer is down when it starts keeps dialing it (with backoff) and
//! joins once it comes up: then it fetches like any other node.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use ostrom_testnet::{Bootstrap, NodeOptions};
use ostrom_tests::{assert_same_files, small_checkpoint, testnet};

/// Polls `done` every 200 ms until it holds, failing after `limit`.
fn wait_for(
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done()? {
        if Instant::now() > deadline {
            bail!("waited {limit:?} for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

#[test]
fn a_node_joins_a_bootstrap_peer_that_comes_up_later() -> anyhow::Result<()> {
    let mut net = testnet(1).start()?;
    let bootstrap = net[0].multiaddr()?.to_owned();
    net[0].stop()?;

    let late = net.add_node(NodeOptions::new().bootstrap(Bootstrap::Addrs(vec![bootstrap])))?;
    // The late node finds nobody, and dials again.
    wait_for(
        Duration::from_secs(20),
        "a retry of the bootstrap peer",
        || {
            Ok(net[late]
                .log_tail(50)
                .contains("dialing the bootstrap peers again"))
        },
    )?;
    // Same home, same ports: the address the late node keeps dialing.
    net[0].start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    let published = net[0].publish(&fx.dir, "lab/late")?;

    // Retries come 1 s, 2 s, 4 s, 8 s ... apart while the late node is alone.
    wait_for(Duration::from_secs(40), "the late node to join", || {
        let info: serde_json::Value = net[late].ostrom_json(&["id"])?;
        Ok(info["connected_peers"].as_u64().unwrap_or(0) > 0)
    })?;
    let out = net.scratch_dir("out")?;
    let fetched = net[late].fetch(&published.id, &out)?;
    ensure!(fetched.bytes == published.bytes, "{fetched:?}");
    assert_same_files(&fx, &out)?;
    Ok(())
}
