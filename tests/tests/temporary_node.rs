//! `ostrom fetch` with no node running on its home fetches through a temporary node that
//! exits with the command. That node must not announce itself as a holder: a later fetch
//! of the same checkpoint by another node would find it listed and wait on it.

use anyhow::{ensure, Context};
use ostrom_testnet::NodeOptions;
use ostrom_tests::{assert_same_files, small_checkpoint, testnet};

#[test]
fn a_temporary_fetch_node_is_never_listed_as_a_holder() -> anyhow::Result<()> {
    let mut net = testnet(2).start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    let published = net[1].publish(&fx.dir, "lab/temporary")?;
    let holder = net[1].peer_id()?.to_owned();

    // No node runs on this home: the fetch runs a temporary node, joining through node 0.
    let temporary = net.add_stopped_node(NodeOptions::new())?;
    let temporary_peer = net[temporary].identity()?.peer_id;
    let bootstrap = net[0].multiaddr()?.to_owned();
    let out = net.scratch_dir("out-temporary")?;
    let out_text = out.to_string_lossy();
    net[temporary]
        .ostrom(&[
            "fetch",
            &published.id,
            "-o",
            &out_text,
            "--bootstrap",
            &bootstrap,
            "--json",
        ])?
        .ok()?;
    assert_same_files(&fx, &out)?;

    // A new node finds the real holder only, at once.
    let fresh = net.add_node(NodeOptions::new())?;
    let out = net.scratch_dir("out-fresh")?;
    let out_text = out.to_string_lossy();
    let report: serde_json::Value = net[fresh]
        .ostrom(&["fetch", &published.id, "-o", &out_text, "--json"])?
        .ok()?
        .json()?;
    assert_same_files(&fx, &out)?;
    let peers: Vec<&str> = report["peers"]
        .as_array()
        .context("no peers in the report")?
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    ensure!(peers == [holder.as_str()], "fetched from {peers:?}");
    ensure!(report["retry_rounds"] == 0, "{report}");
    ensure!(report["stream_resets"] == 0, "{report}");
    // The fresh node never heard of the temporary node: no holder record, no dial.
    let log = std::fs::read_to_string(net[fresh].log_path())?;
    ensure!(
        !log.contains(&temporary_peer),
        "the fresh node met the temporary node {temporary_peer}:\n{log}"
    );
    Ok(())
}
