//! A node killed in the middle of a fetch (SIGKILL, as a crash would) restarts into a
//! consistent store, and fetching the same id into the same directory again keeps the
//! chunks it had verified and synced: only the rest comes over the network. Until then no
//! file is at its final name: unfinished files wait in the staging directory.
//!
//! The kill is triggered by what the fetch reports (its `--json` progress lines), not by
//! time. Whether it landed mid-fetch is judged afterwards from the restarted node's store:
//! some chunks held, not all. A kill that came too late (the fetch had finished) or too
//! early (nothing synced yet) proves nothing, so the test starts again from a fresh testnet,
//! a few times at most, and fails if no kill ever landed mid-fetch.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure};
use ostrom_testnet::{NodeOptions, Testnet};
use ostrom_tests::{
    assert_ids_are_blake3, assert_resumed, assert_same_files, count, small_checkpoint, testnet,
};
use ostrom_tests::{Fixture, Progress, StreamedFetch};

/// How long the first fetch may take to reach the kill point.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the CLI may take to notice its node is gone.
const CLI_EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Fresh setups tried before concluding that no kill can land mid-fetch.
const ATTEMPTS: usize = 3;
/// Where a fetch keeps files until they verified.
const STAGING_DIR: &str = ".ostrom-partial";

/// A testnet whose fetching node (node 1) was killed mid-fetch and started again.
struct Killed {
    net: Testnet,
    fx: Fixture,
    id: String,
    out: PathBuf,
    /// The last progress line seen before the kill.
    at: Progress,
}

/// What one attempt came to.
enum Attempt {
    /// The kill landed mid-fetch: the restarted node holds some chunks but not all.
    Landed(Box<Killed>),
    /// The kill landed outside the fetch, for this reason.
    Missed(String),
}

/// Publishes on node 0, fetches on node 1 at 1 MiB/s, kills node 1 once its progress shows
/// some but not all bytes in place, and starts it again without the limit.
fn kill_during_fetch() -> anyhow::Result<Attempt> {
    let slow = NodeOptions::new().arg("--download-limit").arg("1MiB");
    let mut net = testnet(2).node(1, slow).start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    let published = net[0].publish(&fx.dir, "lab/resumable")?;
    let out = net.scratch_dir("out")?;

    let mut first = StreamedFetch::start(&net, 1, &published.id, &out)?;
    // Written chunks are synced and recorded about once a second, so by the time 40% is
    // in place (two seconds or more at 1 MiB/s) some are held for good. A line that says
    // the fetch is done ends the wait too: the kill point was passed between two lines.
    let at = first.wait_for(PROGRESS_TIMEOUT, |p: &Progress| {
        p.fraction() >= 0.4 || p.done
    })?;
    ensure!(
        at.bytes_total == fx.total_bytes(),
        "progress total {} for a checkpoint of {} bytes",
        at.bytes_total,
        fx.total_bytes()
    );
    if at.done {
        return Ok(Attempt::Missed(format!(
            "the fetch was done before a line between 40% and the end was seen: {at:?}"
        )));
    }
    net[1].kill()?;
    let killed = first.finish(CLI_EXIT_TIMEOUT)?;
    if killed.status.success() {
        return Ok(Attempt::Missed(format!(
            "the fetch finished before the kill at {at:?} landed: {killed:?}"
        )));
    }
    ensure!(
        killed.outcome.is_none(),
        "the CLI failed but printed an outcome: {killed:?}"
    );
    eprintln!(
        "node killed at {at:?}; the CLI said: {}",
        killed.stderr.trim()
    );

    // Same home, same ports, no download limit.
    net[1].options_mut().extra_args.clear();
    net[1].start()?;
    let shown = net[1].show(&published.id)?;
    let (Some(chunks), Some(held)) = (count(&shown["chunks"]), count(&shown["chunks_held"])) else {
        bail!("`show` gives no chunk counts: {shown}");
    };
    if held == 0 || held == chunks {
        return Ok(Attempt::Missed(format!(
            "killed at {at:?}, the restarted node holds {held} of {chunks} chunks"
        )));
    }
    Ok(Attempt::Landed(Box::new(Killed {
        net,
        fx,
        id: published.id,
        out,
        at,
    })))
}

#[test]
fn resume_after_sigkill() -> anyhow::Result<()> {
    let mut missed = Vec::new();
    let killed = loop {
        if missed.len() == ATTEMPTS {
            bail!(
                "no kill landed mid-fetch in {ATTEMPTS} attempts:\n{}",
                missed.join("\n")
            );
        }
        match kill_during_fetch()? {
            Attempt::Landed(killed) => break killed,
            Attempt::Missed(reason) => {
                eprintln!("attempt {}: {reason}; starting again", missed.len() + 1);
                missed.push(reason);
            }
        }
    };
    let Killed {
        net,
        fx,
        id,
        out,
        at,
    } = *killed;

    // Unfinished files wait in the staging directory; none is at its final name yet.
    for file in &fx.files {
        ensure!(
            std::fs::symlink_metadata(out.join(&file.path)).is_err(),
            "{} is at its final name before the fetch finished",
            file.path
        );
    }
    ensure!(
        out.join(STAGING_DIR).is_dir(),
        "no staging directory after the kill"
    );

    let again = net[1].fetch(&id, &out)?;
    eprintln!("resumed: {again:?}");
    assert_resumed(&again, fx.total_bytes(), at.bytes_done)?;
    ensure!(
        again.bytes_from_network < again.bytes,
        "everything was fetched again: {again:?}"
    );
    assert_same_files(&fx, &out)?;
    assert_ids_are_blake3(&again.files, &out)?;
    ensure!(
        !out.join(STAGING_DIR).exists(),
        "the staging directory is left after the fetch"
    );
    Ok(())
}
