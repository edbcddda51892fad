//! A node stopped with SIGTERM while it serves one checkpoint and fetches another exits
//! promptly and cleanly: its fetch ends with a `cancelled` error, and after a restart the
//! interrupted fetch resumes from the chunks it had verified and finishes with the same
//! bytes; the peer it was serving gets its checkpoint whole too.

use std::time::Duration;

use anyhow::{bail, ensure};
use ostrom_testnet::NodeOptions;
use ostrom_tests::{
    assert_ids_are_blake3, assert_resumed, assert_same_files, checkpoint_with_seed, testnet,
};
use ostrom_tests::{Progress, StreamedFetch};

/// Size of each checkpoint's weights.
const WEIGHTS_BYTES: u64 = 8_000_000;
/// How long a fetch may take to reach the point the test waits for.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a node may take to exit after SIGTERM.
const EXIT_LIMIT: Duration = Duration::from_secs(5);
/// How long a CLI fetch may take to end once its node is gone or back.
const CLI_EXIT_TIMEOUT: Duration = Duration::from_secs(120);
/// Fresh setups tried when a transfer finished before SIGTERM could land in it.
const ATTEMPTS: usize = 3;

#[test]
fn sigterm_mid_transfer_exits_promptly_and_the_fetch_resumes() -> anyhow::Result<()> {
    for attempt in 1..=ATTEMPTS {
        if stop_mid_transfer()? {
            return Ok(());
        }
        eprintln!("attempt {attempt}: a transfer ended before SIGTERM; again, from scratch");
    }
    bail!("in {ATTEMPTS} attempts no transfer was still running when SIGTERM was sent")
}

/// One setup: false when a transfer had already finished when SIGTERM was due.
fn stop_mid_transfer() -> anyhow::Result<bool> {
    // Node 0 publishes A. Node 1 publishes B, serves it at 512 KiB/s, and fetches A at
    // 1 MiB/s; node 2 fetches B from node 1.
    let middle = NodeOptions::new()
        .arg("--download-limit")
        .arg("1MiB")
        .arg("--upload-limit")
        .arg("512KiB");
    let mut net = testnet(3).node(1, middle).start()?;
    let a = checkpoint_with_seed(&net.scratch_dir("a")?, WEIGHTS_BYTES, 1)?;
    let b = checkpoint_with_seed(&net.scratch_dir("b")?, WEIGHTS_BYTES, 2)?;
    let published_a = net[0].publish(&a.dir, "lab/a")?;
    let published_b = net[1].publish(&b.dir, "lab/b")?;

    let out_b = net.scratch_dir("out-b")?;
    let mut served = StreamedFetch::start(&net, 2, &published_b.id, &out_b)?;
    served.wait_for(PROGRESS_TIMEOUT, |p: &Progress| p.bytes_from_network > 0)?;
    let out_a = net.scratch_dir("out-a")?;
    let mut fetching = StreamedFetch::start(&net, 1, &published_a.id, &out_a)?;
    // Written chunks are synced and recorded about once a second, so by 40% (two seconds
    // or more at 1 MiB/s) some are held for good.
    let at = fetching.wait_for(PROGRESS_TIMEOUT, |p: &Progress| p.fraction() >= 0.4)?;
    // The next progress line of node 2's fetch says whether node 1 is still serving it.
    let serving = served.wait_for(PROGRESS_TIMEOUT, |_: &Progress| true)?;
    if at.done || at.fraction() > 0.85 || serving.done {
        eprintln!("too late to interrupt: fetching {at:?}, serving {serving:?}");
        return Ok(false);
    }

    let stopped = net[1].stop_measured()?;
    eprintln!("SIGTERM at fetching {at:?}, serving {serving:?}: {stopped:?}");
    ensure!(
        !stopped.killed && stopped.elapsed <= EXIT_LIMIT,
        "the node took {:?} to exit after SIGTERM (killed: {})",
        stopped.elapsed,
        stopped.killed
    );
    ensure!(
        stopped.status.success(),
        "the node exited with {} after SIGTERM",
        stopped.status
    );
    let interrupted = fetching.finish(CLI_EXIT_TIMEOUT)?;
    ensure!(
        !interrupted.status.success() && interrupted.outcome.is_none(),
        "the fetch succeeded although its node stopped at {at:?}: {interrupted:?}"
    );
    ensure!(
        interrupted
            .failure
            .as_ref()
            .is_some_and(|f| f.kind == "cancelled"),
        "the interrupted fetch did not end with a cancelled error: {interrupted:?}"
    );

    // Same home, same ports, no limits.
    net[1].options_mut().extra_args.clear();
    net[1].start()?;
    let again = net[1].fetch(&published_a.id, &out_a)?;
    eprintln!("resumed: {again:?}");
    assert_resumed(&again, a.total_bytes(), at.bytes_done)?;
    assert_same_files(&a, &out_a)?;
    assert_ids_are_blake3(&again.files, &out_a)?;

    // Node 2 gets B whole: its fetch finds node 1 again, or a second fetch does.
    let served_end = served.finish(CLI_EXIT_TIMEOUT)?;
    if !served_end.status.success() {
        eprintln!("node 2's fetch ended without its holder: {served_end:?}");
        net[2].fetch(&published_b.id, &out_b)?;
    }
    assert_same_files(&b, &out_b)?;
    Ok(true)
}
