//! One holder's transfer spread over several streams, each on a connection of its own
//! (`streams_per_holder`): the fetch still gets every byte right, and both nodes count the
//! extra streams.

use anyhow::ensure;
use ostrom_testnet::NodeOptions;
use ostrom_tests::{
    assert_ids_are_blake3, assert_same_files, checkpoint_of_size, set_config, testnet,
};

/// Streams the fetcher opens to its one holder.
const STREAMS: usize = 3;

#[test]
fn one_holder_over_several_streams() -> anyhow::Result<()> {
    let mut net = testnet(2).start()?;
    let fx = checkpoint_of_size(&net.scratch_dir("src")?, 24 << 20)?;
    let published = net[1].publish(&fx.dir, "lab/spread")?;
    let fetcher = net.add_stopped_node(NodeOptions::new())?;
    set_config(
        net[fetcher].home(),
        "streams_per_holder",
        &STREAMS.to_string(),
    )?;
    net.start_node(fetcher)?;

    let out = net.scratch_dir("out")?;
    let fetched = net[fetcher].fetch(&published.id, &out)?;
    eprintln!("fetched over {STREAMS} streams: {fetched:?}");
    assert_same_files(&fx, &out)?;
    assert_ids_are_blake3(&fetched.files, &out)?;
    ensure!(
        fetched.stream_resets == 0 && fetched.retry_rounds == 0,
        "{fetched:?}"
    );

    let opened: serde_json::Value = net[fetcher].ostrom_json(&["traffic"])?;
    let accepted: serde_json::Value = net[1].ostrom_json(&["traffic"])?;
    let streams = STREAMS as u64;
    ensure!(
        opened["streams"]["outbound_opened"].as_u64() >= Some(streams),
        "the fetcher opened fewer than {STREAMS} streams: {opened}"
    );
    ensure!(
        accepted["streams"]["inbound_accepted"].as_u64() >= Some(streams),
        "the holder accepted fewer than {STREAMS} streams: {accepted}"
    );
    ensure!(
        accepted["uploaded"].as_u64() == Some(fetched.bytes_from_network),
        "the holder sent {} block bytes for a fetch of {}",
        accepted["uploaded"],
        fetched.bytes_from_network
    );
    Ok(())
}
