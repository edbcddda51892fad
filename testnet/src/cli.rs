//! Running one `ostrom` CLI command to completion, with a time limit, and reading what
//! it printed: [`CmdOutput`] keeps the exit status and both streams, and parses `--json`
//! output into the caller's type.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::signal;

/// What a finished command did.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub command: String,
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it wrote on stdout.
    pub stdout: String,
    /// Everything it wrote on stderr.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl CmdOutput {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// `self` if it succeeded, else [`Error::CommandFailed`] carrying its stderr.
    pub fn ok(self) -> Result<Self> {
        if self.success() {
            Ok(self)
        } else {
            Err(Error::CommandFailed {
                command: self.command,
                status: self.status,
                stderr: self.stderr,
            })
        }
    }

    /// The last non-empty stdout line, trimmed.
    pub fn last_line(&self) -> Option<&str> {
        self.stdout.lines().map(str::trim).rfind(|l| !l.is_empty())
    }

    /// Parses stdout as JSON: the whole of it, or failing that its last non-empty line
    /// (for commands that print progress before the result).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.stdout).or_else(|whole| {
            match self.last_line().map(serde_json::from_str) {
                Some(Ok(value)) => Ok(value),
                _ => Err(Error::BadJson {
                    command: self.command.clone(),
                    source: whole,
                    stdout: self.stdout.clone(),
                }),
            }
        })
    }

    /// Whether stderr contains `needle`, ignoring ASCII case.
    pub fn stderr_contains(&self, needle: &str) -> bool {
        self.stderr
            .to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase())
    }
}

/// Runs `ostrom ARGS...` (the located binary, no `--home`), killing it after `timeout`.
/// For commands that need no node home, such as `ostrom verify`.
pub fn ostrom<S: AsRef<OsStr>>(args: &[S], timeout: Duration) -> Result<CmdOutput> {
    let program = crate::locate::ostrom_binary()?;
    let mut cmd = Command::new(&program);
    cmd.args(args).env_remove("OSTROM_HOME");
    let mut command = describe_program(&program);
    for arg in args {
        command.push(' ');
        command.push_str(&arg.as_ref().to_string_lossy());
    }
    run_command(&mut cmd, command, timeout)
}

/// Runs `program --home HOME ARGS...`, killing it after `timeout`.
pub(crate) fn run<S: AsRef<OsStr>>(
    program: &Path,
    home: &Path,
    args: &[S],
    timeout: Duration,
) -> Result<CmdOutput> {
    let mut cmd = Command::new(program);
    cmd.arg("--home").arg(home).args(args);
    cmd.env_remove("OSTROM_HOME");
    let command = describe(program, home, args);
    run_command(&mut cmd, command, timeout)
}

/// Runs a prepared command with stdin closed and both streams captured.
pub(crate) fn run_command(
    cmd: &mut Command,
    command: String,
    timeout: Duration,
) -> Result<CmdOutput> {
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: cmd.get_program().into(),
            source,
        })?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("cmd-{pid}"))
        .spawn(move || {
            let _ = tx.send(child.wait_with_output());
        })
        .map_err(|e| Error::io("starting a thread", e))?;
    let (output, timed_out) = match rx.recv_timeout(timeout) {
        Ok(output) => (output, false),
        Err(_) => {
            // The child is not reaped until the thread's wait returns, so the pid is
            // still this process.
            signal::kill_now(pid).map_err(|e| Error::io(format!("killing `{command}`"), e))?;
            let output = rx.recv().map_err(|_| {
                Error::io(
                    format!("waiting for `{command}`"),
                    std::io::Error::other("the waiting thread stopped"),
                )
            })?;
            (output, true)
        }
    };
    let Output {
        status,
        stdout,
        stderr,
    } = output.map_err(|e| Error::io(format!("waiting for `{command}`"), e))?;
    if timed_out {
        return Err(Error::CommandTimeout { command, timeout });
    }
    Ok(CmdOutput {
        command,
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed: started.elapsed(),
    })
}

fn describe_program(program: &Path) -> String {
    program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned()
}

fn describe<S: AsRef<OsStr>>(program: &Path, home: &Path, args: &[S]) -> String {
    let mut text = format!("{} --home {}", describe_program(program), home.display());
    for arg in args {
        text.push(' ');
        text.push_str(&arg.as_ref().to_string_lossy());
    }
    text
}
