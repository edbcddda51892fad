//! Finding the `ostrom` executable that testnets run.
//!
//! In order:
//! 1. `OSTROM_BIN`, when set, names the binary.
//! 2. When running under cargo (`cargo run`, `cargo test`: the `CARGO` variable is set),
//!    `cargo build --bin ostrom` for the same profile as the running executable, so a
//!    test never runs a stale binary; cargo reports where the binary is.
//! 3. Otherwise an `ostrom` file beside the running executable, or in its parent
//!    directory (test executables live in `target/<profile>/deps`).
//!
//! The answer is computed once per process and shared.

use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Environment variable naming the `ostrom` binary to run.
pub const OSTROM_BIN_ENV: &str = "OSTROM_BIN";

/// The file name of the binary.
const BIN_NAME: &str = "ostrom";

/// Returns the path of the `ostrom` binary, locating (and under cargo, building) it on
/// first use.
pub fn ostrom_binary() -> Result<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| locate().map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::Locate)
}

fn locate() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os(OSTROM_BIN_ENV) {
        let path = PathBuf::from(bin);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::Locate(format!(
                "{OSTROM_BIN_ENV}={} is not a file",
                path.display()
            )))
        };
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Locate(format!("cannot find the running executable: {e}")))?;
    if let Some(cargo) = std::env::var_os("CARGO") {
        return build_with_cargo(&cargo, &exe);
    }
    beside(&exe).ok_or_else(|| {
        Error::Locate(format!(
            "no `{BIN_NAME}` beside {}; set {OSTROM_BIN_ENV}, or run under cargo so it can be built",
            exe.display()
        ))
    })
}

/// The `ostrom` file in the executable's directory or that directory's parent.
fn beside(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    let candidates = [Some(dir), dir.parent()];
    candidates
        .into_iter()
        .flatten()
        .map(|d| d.join(BIN_NAME))
        .find(|p| p.is_file())
}

/// The cargo profile directory (`debug`, `release`, ...) the executable was built into.
fn profile_of(exe: &Path) -> Option<String> {
    let mut dir = exe.parent()?;
    if dir.file_name()? == "deps" || dir.file_name()? == "examples" {
        dir = dir.parent()?;
    }
    dir.file_name()?.to_str().map(str::to_owned)
}

/// The workspace manifest, when this crate's source tree is still where it was built.
fn workspace_manifest() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .join("Cargo.toml");
    manifest.is_file().then_some(manifest)
}

fn build_with_cargo(cargo: &OsString, exe: &Path) -> Result<PathBuf> {
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--bin",
        BIN_NAME,
        "--message-format=json-render-diagnostics",
    ]);
    match profile_of(exe).as_deref() {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    if let Some(manifest) = workspace_manifest() {
        cmd.arg("--manifest-path").arg(manifest);
    }
    // Cargo describes the running package in the environment; passed on, those values
    // would count as changed inputs (ring's build script watches CARGO_MANIFEST_DIR) and
    // make every nested build recompile half the dependency tree.
    for (name, _) in std::env::vars_os() {
        if is_package_variable(&name.to_string_lossy()) {
            cmd.env_remove(&name);
        }
    }
    eprintln!("ostrom-testnet: building `{BIN_NAME}` with cargo (set {OSTROM_BIN_ENV} to skip)");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| Error::Locate(format!("cannot run cargo: {e}")))?;
    let mut found = None;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.map_err(|e| Error::Locate(format!("reading cargo output: {e}")))?;
            if let Some(path) = executable_from_message(&line) {
                found = Some(path);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::Locate(format!("waiting for cargo: {e}")))?;
    if !status.success() {
        return Err(Error::Locate(format!(
            "`cargo build --bin {BIN_NAME}` failed ({status})"
        )));
    }
    found.ok_or_else(|| {
        Error::Locate(format!(
            "cargo built nothing named `{BIN_NAME}` (is the package that has it in this workspace?)"
        ))
    })
}

/// Whether `name` is one of the variables cargo sets to describe the package whose
/// executable it runs.
fn is_package_variable(name: &str) -> bool {
    const PREFIXES: [&str; 4] = [
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
    ];
    const NAMES: [&str; 4] = [
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// The executable path from one line of cargo's JSON messages, if the line reports the
/// `ostrom` binary.
fn executable_from_message(line: &str) -> Option<PathBuf> {
    let msg: serde_json::Value = serde_json::from_str(line).ok()?;
    if msg.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let target = msg.get("target")?;
    if target.get("name")?.as_str()? != BIN_NAME {
        return None;
    }
    let is_bin = target
        .get("kind")?
        .as_array()?
        .iter()
        .any(|k| k.as_str() == Some("bin"));
    if !is_bin {
        return None;
    }
    msg.get("executable")?.as_str().map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_is_read_from_the_target_layout() {
        assert_eq!(
            profile_of(Path::new("/w/target/debug/deps/e2e-123")).as_deref(),
            Some("debug")
        );
        assert_eq!(
            profile_of(Path::new("/w/target/release/ostrom-testnet")).as_deref(),
            Some("release")
        );
    }

    #[test]
    fn package_variables_are_recognised() {
        assert!(is_package_variable("CARGO_MANIFEST_DIR"));
        assert!(is_package_variable("CARGO_PKG_NAME"));
        assert!(!is_package_variable("CARGO_HOME"));
        assert!(!is_package_variable("CARGO_TARGET_DIR"));
    }

    #[test]
    fn cargo_messages_name_the_binary() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"ostrom","kind":["bin"]},"executable":"/t/debug/ostrom"}"#;
        assert_eq!(
            executable_from_message(line),
            Some(PathBuf::from("/t/debug/ostrom"))
        );
        let lib = r#"{"reason":"compiler-artifact","target":{"name":"ostrom","kind":["lib"]},"executable":null}"#;
        assert_eq!(executable_from_message(lib), None);
        assert_eq!(executable_from_message("not json"), None);
    }
}
