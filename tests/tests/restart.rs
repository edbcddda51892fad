//! Nodes that stop and start again: a checkpoint published while its node was down is
//! announced when the node starts, and a restarted node (same home, same ports) still
//! serves what it holds, a checkpoint or a single file of one.

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

#[test]
fn a_restarted_node_announces_a_single_file_it_holds() -> anyhow::Result<()> {
    let mut net = testnet(3).start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    net[1].publish(&fx.dir, "lab/one-file")?;
    let weights = fx.weights()?.clone();
    net[2].fetch(&weights.id, &net.scratch_dir("partial")?)?;

    // The publisher leaves, and every provider record kept in memory goes with restarts:
    // the file can now be found only if node 2 announces it again when it starts.
    net[1].stop()?;
    net[0].restart()?;
    net[2].restart()?;
    let fresh = net.add_node(ostrom_testnet::NodeOptions::new())?;
    let out = net.scratch_dir("from-partial")?;
    let fetched = net[fresh].fetch(&weights.id, &out)?;
    ensure!(fetched.bytes == weights.size, "{fetched:?}");
    ensure!(
        std::fs::read(out.join(&weights.path))? == std::fs::read(fx.path_of(&weights))?,
        "the file fetched from the restarted partial holder differs"
    );
    Ok(())
}
