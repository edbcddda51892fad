//! A node killed in the middle of a fetch (SIGKILL, as a crash would) restarts into a
//! consistent store, and fetching the same id into the same directory again keeps the
//! chunks it had verified and synced: only the rest comes over the network.

use std::time::Duration;

use anyhow::ensure;
use ostrom_testnet::NodeOptions;
use ostrom_tests::{assert_ids_are_blake3, assert_same_files, count, small_checkpoint, testnet};
use ostrom_tests::{Progress, StreamedFetch};

/// How long the first fetch may take to reach the kill point.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the CLI may take to notice its node is gone.
const CLI_EXIT_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn resume_after_sigkill() -> anyhow::Result<()> {
    // Node 0 seeds; node 1 fetches at 1 MiB/s, so the kill lands mid-transfer.
    let slow = NodeOptions::new().arg("--download-limit").arg("1MiB");
    let mut net = testnet(2).node(1, slow).start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    let published = net[0].publish(&fx.dir, "lab/resumable")?;
    let out = net.scratch_dir("out")?;

    let mut first = StreamedFetch::start(&net, 1, &published.id, &out)?;
    // Written chunks are synced and recorded about once a second, so by the time 40% is
    // in place (two seconds or more at 1 MiB/s) some are held for good.
    let at = first.wait_for(PROGRESS_TIMEOUT, |p: &Progress| p.fraction() >= 0.4)?;
    ensure!(
        at.bytes_total == fx.total_bytes(),
        "progress total {} for a checkpoint of {} bytes",
        at.bytes_total,
        fx.total_bytes()
    );
    // Progress lines can be a chunk or two (up to about a quarter of this checkpoint)
    // apart, so the line seen is somewhere from 40% to about 70%.
    ensure!(
        at.fraction() <= 0.85 && !at.done,
        "the fetch ran far past the kill point before it was seen: {at:?}"
    );
    net[1].kill()?;
    let killed = first.finish(CLI_EXIT_TIMEOUT)?;
    ensure!(
        !killed.status.success() && killed.outcome.is_none(),
        "the fetch succeeded although its node was killed at {at:?}: {killed:?}"
    );
    eprintln!(
        "node killed at {at:?}; the CLI said: {}",
        killed.stderr.trim()
    );

    // Same home, same ports, no download limit.
    net[1].options_mut().extra_args.clear();
    net[1].start()?;
    let shown = net[1].show(&published.id)?;
    let (chunks, held) = (count(&shown["chunks"]), count(&shown["chunks_held"]));
    ensure!(
        matches!((chunks, held), (Some(c), Some(h)) if h > 0 && h < c),
        "after the kill the store should hold some chunks but not all: {shown}"
    );
    let again = net[1].fetch(&published.id, &out)?;
    eprintln!("resumed: {again:?}");
    ensure!(again.bytes == fx.total_bytes(), "{again:?}");
    ensure!(
        again.bytes_from_network + again.bytes_resumed + again.bytes_from_store == again.bytes,
        "the sources do not add up to the total: {again:?}"
    );
    ensure!(
        again.bytes_resumed > 0,
        "nothing was resumed after {} bytes were in place: {again:?}",
        at.bytes_done
    );
    ensure!(
        again.bytes_from_network < again.bytes,
        "everything was fetched again: {again:?}"
    );
    assert_same_files(&fx, &out)?;
    assert_ids_are_blake3(&again.files, &out)?;
    Ok(())
}
