//! Where a fetch writes, and what it leaves alone: symbolic links under the output
//! directory are never followed, files the fetch did not write are never replaced
//! (unless `--force`), files already holding the right bytes are kept, a fetch that fails
//! before writing creates no output directory, and without `-o` the files go to ./NAME.
//!
//! One publisher and one fetcher serve every case, each in its own output directory.

use std::ffi::OsStr;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{ensure, Context};
use ostrom_testnet::{CmdOutput, FetchFailure, Testnet};
use ostrom_tests::{assert_same_files, random_id, small_checkpoint, testnet, Fixture};

/// The staging directory fetch keeps under an output directory.
const STAGING_DIR: &str = ".ostrom-partial";

/// `ostrom fetch ID -o OUT --json EXTRA...` on node 1, whatever its exit status.
fn fetch(net: &Testnet, id: &str, out: &Path, extra: &[&str]) -> anyhow::Result<CmdOutput> {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("fetch"),
        OsStr::new(id),
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("--timeout"),
        OsStr::new("30s"),
        OsStr::new("--json"),
    ];
    args.extend(extra.iter().map(OsStr::new));
    Ok(net[1].ostrom(&args)?)
}

/// The failure a fetch ended with; an error if it succeeded.
fn failure(output: &CmdOutput) -> anyhow::Result<FetchFailure> {
    ensure!(!output.success(), "the fetch succeeded: {output:?}");
    output.json().context("the last line is not a failure")
}

/// Whether anything exists at `path`, a dangling link included.
fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// A link at a file's path is refused, naming it; its target keeps its bytes and no file
/// of the checkpoint is written.
fn linked_file(net: &Testnet, fx: &Fixture, id: &str) -> anyhow::Result<()> {
    let dir = net.scratch_dir("linked-file")?;
    let out = dir.join("out");
    std::fs::create_dir(&out)?;
    let precious = dir.join("precious.txt");
    std::fs::write(&precious, b"keep me")?;
    symlink("../precious.txt", out.join("config.json"))?;
    let refused = failure(&fetch(net, id, &out, &[])?)?;
    ensure!(
        refused.error.contains("config.json") && refused.error.contains("symbolic link"),
        "{refused:?}"
    );
    ensure!(
        std::fs::read(&precious)? == b"keep me",
        "the link's target changed"
    );
    for file in &fx.files {
        if file.path != "config.json" {
            ensure!(!exists(&out.join(&file.path)), "{} was written", file.path);
        }
    }
    ensure!(
        !exists(&out.join(STAGING_DIR)),
        "staging files were written"
    );
    Ok(())
}

/// A link at a directory on the way to a file is refused, and nothing is written where
/// it points.
fn linked_directory(net: &Testnet, id: &str) -> anyhow::Result<()> {
    let dir = net.scratch_dir("linked-dir")?;
    let out = dir.join("out");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir(&out)?;
    std::fs::create_dir(&elsewhere)?;
    symlink(&elsewhere, out.join("sub"))?;
    let refused = failure(&fetch(net, id, &out, &[])?)?;
    ensure!(
        refused.error.contains("sub") && refused.error.contains("symbolic link"),
        "{refused:?}"
    );
    ensure!(
        std::fs::read_dir(&elsewhere)?.next().is_none(),
        "something was written through the link"
    );
    Ok(())
}

/// A file with other bytes is refused, named, and left as it was; `--force` replaces it.
fn different_file(net: &Testnet, fx: &Fixture, id: &str) -> anyhow::Result<()> {
    let out = net.scratch_dir("different")?;
    let mine = out.join("tokenizer.json");
    std::fs::write(&mine, b"my own tokenizer")?;
    let refused = failure(&fetch(net, id, &out, &[])?)?;
    ensure!(
        refused.error.contains("tokenizer.json") && refused.error.contains("--force"),
        "{refused:?}"
    );
    ensure!(
        std::fs::read(&mine)? == b"my own tokenizer",
        "the file was changed"
    );
    let forced = fetch(net, id, &out, &["--force"])?;
    ensure!(forced.success(), "the forced fetch failed: {forced:?}");
    assert_same_files(fx, &out)?;
    ensure!(
        !exists(&out.join(STAGING_DIR)),
        "the staging directory is left"
    );
    Ok(())
}

/// A file that already has the checkpoint's bytes is kept as it is, not written again.
fn identical_file(net: &Testnet, fx: &Fixture, id: &str) -> anyhow::Result<()> {
    let out = net.scratch_dir("identical")?;
    let weights = fx.weights()?;
    let kept = out.join(&weights.path);
    std::fs::copy(fx.path_of(weights), &kept)?;
    let before = std::fs::metadata(&kept)?;
    let output = fetch(net, id, &out, &[])?;
    ensure!(output.success(), "the fetch failed: {output:?}");
    let fetched: ostrom_testnet::Fetched = output.json()?;
    ensure!(fetched.bytes_resumed >= weights.size, "{fetched:?}");
    let after = std::fs::metadata(&kept)?;
    ensure!(
        (before.ino(), before.mtime(), before.mtime_nsec())
            == (after.ino(), after.mtime(), after.mtime_nsec()),
        "the identical file was written again"
    );
    assert_same_files(fx, &out)
}

/// A fetch that fails before writing (nobody holds the id) creates no output directory.
fn unknown_id(net: &Testnet) -> anyhow::Result<()> {
    let out = net.scratch_dir("unknown")?.join("never");
    let output = net[1].ostrom(&[
        OsStr::new("fetch"),
        OsStr::new(&random_id()),
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("--timeout"),
        OsStr::new("2s"),
    ])?;
    ensure!(!output.success(), "an unknown id was fetched: {output:?}");
    ensure!(!exists(&out), "the output directory was created");
    Ok(())
}

/// Without `-o`, the files go to ./NAME (the last part of the model name), and the
/// result says so.
fn default_directory(net: &Testnet, fx: &Fixture, id: &str) -> anyhow::Result<()> {
    let cwd = net.scratch_dir("cwd")?;
    let output = Command::new(ostrom_testnet::locate::ostrom_binary()?)
        .arg("--home")
        .arg(net[1].home())
        .args(["fetch", id, "--timeout", "30s", "--json"])
        .env_remove("OSTROM_HOME")
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "fetch without -o failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().context("no output")?;
    let report: serde_json::Value = serde_json::from_str(last)?;
    let expected = cwd.canonicalize()?.join("outputs");
    ensure!(
        report["out"].as_str() == Some(expected.to_string_lossy().as_ref()),
        "the result names {} as the output directory, not {}",
        report["out"],
        expected.display()
    );
    assert_same_files(fx, &expected)
}

#[test]
fn fetch_writes_only_where_it_may() -> anyhow::Result<()> {
    let net = testnet(2).start()?;
    let fx = small_checkpoint(&net.scratch_dir("src")?)?;
    let id = net[0].publish(&fx.dir, "lab/outputs")?.id;
    // A checkpoint with a file in a directory, for the linked directory.
    let nested = net.scratch_dir("nested")?;
    std::fs::create_dir(nested.join("sub"))?;
    std::fs::write(nested.join("sub/notes.txt"), b"notes")?;
    let nested_id = net[0].publish(&nested, "lab/nested")?.id;

    unknown_id(&net).context("unknown id")?;
    linked_file(&net, &fx, &id).context("linked file")?;
    linked_directory(&net, &nested_id).context("linked directory")?;
    different_file(&net, &fx, &id).context("different file")?;
    identical_file(&net, &fx, &id).context("identical file")?;
    default_directory(&net, &fx, &id).context("default directory")?;
    Ok(())
}
