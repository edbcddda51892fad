//! The `[limits]` table of `config.toml` is what a node holds its peers to: a holder allowed
//! one exchange stream per peer refuses a fetcher's further streams at negotiation, and the
//! fetch still completes over the one it accepted, every byte right. A limit that cannot
//! run a node stops it at start with a message naming it.

use anyhow::ensure;
use ostrom_testnet::NodeOptions;
use ostrom_tests::{
    assert_ids_are_blake3, assert_same_files, checkpoint_of_size, set_config, testnet,
};

#[test]
fn a_holder_holds_peers_to_its_configured_stream_limit() -> anyhow::Result<()> {
    let mut net = testnet(1).start()?;
    let holder = net.add_stopped_node(NodeOptions::new())?;
    set_config(net[holder].home(), "exchange_streams_per_peer", "1")?;
    net.start_node(holder)?;
    let fx = checkpoint_of_size(&net.scratch_dir("src")?, 8 << 20)?;
    let published = net[holder].publish(&fx.dir, "lab/limited")?;

    let fetcher = net.add_stopped_node(NodeOptions::new())?;
    set_config(net[fetcher].home(), "streams_per_holder", "3")?;
    net.start_node(fetcher)?;
    let out = net.scratch_dir("out")?;
    let fetched = net[fetcher].fetch(&published.id, &out)?;
    assert_same_files(&fx, &out)?;
    assert_ids_are_blake3(&fetched.files, &out)?;

    let served: serde_json::Value = net[holder].ostrom_json(&["traffic"])?;
    let opened: serde_json::Value = net[fetcher].ostrom_json(&["traffic"])?;
    ensure!(
        served["streams"]["inbound_accepted"].as_u64() == Some(1),
        "the holder accepted other than one stream: {served}"
    );
    ensure!(
        opened["streams"]["outbound_refused"].as_u64() >= Some(1),
        "the fetcher's further streams were not refused: {opened}"
    );
    Ok(())
}

#[test]
fn a_limit_that_cannot_run_a_node_is_refused_at_start() -> anyhow::Result<()> {
    let mut net = testnet(0).start()?;
    let node = net.add_stopped_node(NodeOptions::new())?;
    set_config(net[node].home(), "connections", "0")?;
    let error = net
        .start_node(node)
        .expect_err("a node with no connections allowed started");
    let message = format!("{error:#}");
    ensure!(
        message.contains("limits.connections must be at least 1"),
        "{message}"
    );
    Ok(())
}
