//! Nodes that stop and start again: a checkpoint published while its node was down is
//! announced when the node starts, and a restarted node (same home, same ports) still
//! serves what it holds.

use anyhow::ensure;
use ostrom_tests::{assert_same_files, small_checkpoint, testnet};

#[test]
fn publish_while_stopped_then_serve_after_restarts() -> anyhow::Result<()> {
    let mut net = testnet(3).start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;

    net[1].stop()?;
    let published = net[1].publish(&fx.dir, "lab/offline")?;
    let before = net[1].start()?.multiaddr().to_owned();
    let out = net.scratch_dir("out-1")?;
    net[2].fetch(&published.id, &out)?;
    assert_same_files(&fx, &out)?;

    net[1].restart()?;
    ensure!(
        net[1].multiaddr()? == before,
        "a restart should keep the listen address"
    );
    net[2].kill()?;
    net[2].start()?;
    let out = net.scratch_dir("out-2")?;
    let again = net[2].fetch(&published.id, &out)?;
    ensure!(
        again.bytes_from_store == again.bytes,
        "a restarted node should have everything in its store: {again:?}"
    );
    assert_same_files(&fx, &out)?;
    Ok(())
}
