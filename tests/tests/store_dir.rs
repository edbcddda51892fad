//! A node whose store directory is on a read-only file system, or on a full one, stops at
//! start saying so, before it listens. Both mount a small tmpfs over the store directory,
//! which needs root; without it each test says "skipped" on stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::ensure;
use ostrom_testnet::{Bootstrap, NodeOptions};
use ostrom_tests::testnet;

/// A tmpfs mounted at a directory, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs with `options` at `dir`; `None` when this process may not mount.
    fn tmpfs(dir: &Path, options: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .output()
            .ok()?;
        if !mounted.status.success() {
            eprintln!(
                "skipped: cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&mounted.stderr).trim()
            );
            return None;
        }
        Some(Self(dir.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Starts a node whose store directory is a tmpfs mounted with `options`; returns the
/// start error, or `None` when the test cannot run here.
fn start_error(options: &str) -> anyhow::Result<Option<String>> {
    let mut net = testnet(0).start()?;
    let node = net.add_stopped_node(NodeOptions::new().bootstrap(Bootstrap::None))?;
    let Some(_mount) = Mount::tmpfs(&net[node].home().join("store"), options) else {
        return Ok(None);
    };
    let error = net
        .start_node(node)
        .expect_err("the node started on an unusable store directory");
    Ok(Some(format!("{error:#}")))
}

#[test]
fn a_read_only_store_directory_stops_the_node_at_start() -> anyhow::Result<()> {
    let Some(message) = start_error("ro,size=4m")? else {
        return Ok(());
    };
    ensure!(message.contains("cannot be written"), "{message}");
    ensure!(message.contains("read-only"), "{message}");
    Ok(())
}

#[test]
fn a_full_disk_stops_the_node_at_start() -> anyhow::Result<()> {
    let Some(message) = start_error("size=1m")? else {
        return Ok(());
    };
    ensure!(message.contains("is full"), "{message}");
    Ok(())
}
