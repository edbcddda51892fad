//! Finding the external programs the baselines use (nginx, curl, b3sum, ip, tc), and
//! running small commands to completion.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Directories searched after `PATH`: nginx and ip live in sbin, which an unprivileged
/// user's `PATH` often lacks.
const EXTRA_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/local/bin"];

/// The script that installs what the benches compare against.
pub const INSTALL_HINT: &str = "scripts/install-bench-deps";

/// The path of executable `name`, searched in `PATH` and then the sbin directories.
pub fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `cmd` to completion with output captured; an error unless it exits 0. Returns its
/// stdout and how long it ran.
pub fn run_timed(cmd: &mut Command) -> anyhow::Result<(String, Duration)> {
    let describe = format!("{cmd:?}");
    let started = Instant::now();
    let output = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {describe}"))?;
    let took = started.elapsed();
    if !output.status.success() {
        bail!(
            "{describe} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok((String::from_utf8_lossy(&output.stdout).into_owned(), took))
}

/// Flushes dirty pages to disk (`sync`), so that one measurement's writes are not paid
/// for by the next. Untimed; failures are ignored (the measurement is only noisier).
pub fn sync_disks() {
    let _ = Command::new("sync").status();
}

/// Whether this process runs as root (needed for network namespaces).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
