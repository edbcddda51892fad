//! Python for tests that check files with the libraries ML users load them with: a
//! virtualenv with the named packages from PyPI, made once under the build directory and
//! reused. Where `python3` is missing, [`venv`] says so on stderr and returns `None`, and
//! the test skips that check loudly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{ensure, Context};

/// Only one test of a process makes a virtualenv at a time.
static MAKING: Mutex<()> = Mutex::new(());

/// Where virtualenvs are kept: the workspace's `target/test-venvs/`.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-venvs")
}

/// The Python interpreter of a virtualenv holding `packages` (pip requirement strings),
/// made on first use; `None`, after an `eprintln!` saying the check is skipped, when this
/// machine has no `python3`.
pub fn venv(packages: &[&str]) -> anyhow::Result<Option<PathBuf>> {
    let found = Command::new("python3").arg("--version").output();
    if !found.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "skipped: python3 is not installed, so the Python check of this test did not run"
        );
        return Ok(None);
    }
    let _making = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let name = blake3::hash(packages.join("\n").as_bytes()).to_hex();
    let dir = root().join(&name[..16]);
    let python = dir.join("bin/python");
    // Written last: a virtualenv whose making was stopped half-way is made again.
    let ready = dir.join(".ready");
    if ready.exists() {
        return Ok(Some(python));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(root())?;
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .status()
        .context("running python3 -m venv")?;
    ensure!(status.success(), "python3 -m venv failed");
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(packages)
        .status()
        .context("running pip")?;
    ensure!(status.success(), "pip install {packages:?} failed");
    std::fs::write(&ready, packages.join("\n"))?;
    Ok(Some(python))
}

/// Runs `script` with `python`, passing `args`; fails with its output unless it exits 0.
pub fn run(python: &Path, script: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<String> {
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .context("running python")?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    ensure!(
        output.status.success(),
        "the Python check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(stdout)
}
