//! A fetch running in the background with `--json`: its progress lines are read as they
//! arrive, so a test can act at a chosen point of a transfer (kill a node, start another
//! fetch) and then wait for the fetch to end and read its outcome.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ostrom_testnet::{FetchFailure, Fetched, Testnet};

/// One `{"progress": {...}}` line of `ostrom fetch --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of all files being fetched.
    pub bytes_total: u64,
    /// Bytes in place so far.
    pub bytes_done: u64,
    /// Of those, bytes received from peers.
    pub bytes_from_network: u64,
    /// Holders being fetched from now.
    pub holders: u64,
    /// Whether every chunk is in place.
    pub done: bool,
}

impl Progress {
    /// Parses a progress line; `None` for any other line.
    pub fn parse(line: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let p = value.get("progress")?;
        Some(Self {
            bytes_total: p.get("bytes_total")?.as_u64()?,
            bytes_done: p.get("bytes_done")?.as_u64()?,
            bytes_from_network: p.get("bytes_from_network")?.as_u64()?,
            holders: p.get("holders")?.as_u64()?,
            done: p.get("done")?.as_bool()?,
        })
    }

    /// `bytes_done` as a fraction of `bytes_total` (1 for an empty fetch).
    pub fn fraction(&self) -> f64 {
        if self.bytes_total == 0 {
            1.0
        } else {
            self.bytes_done as f64 / self.bytes_total as f64
        }
    }
}

/// How a streamed fetch ended.
#[derive(Debug)]
pub struct FetchEnd {
    /// The command line, for messages.
    pub command: String,
    /// How the CLI exited.
    pub status: ExitStatus,
    /// The outcome line, when it printed one.
    pub outcome: Option<Fetched>,
    /// The failure line, when it printed one.
    pub failure: Option<FetchFailure>,
    /// Everything it wrote on stderr.
    pub stderr: String,
    /// How many progress lines it printed in all.
    pub progress_lines: usize,
    /// The last of them.
    pub last_progress: Option<Progress>,
}

impl FetchEnd {
    /// The outcome, or an error unless the fetch succeeded and printed one.
    pub fn ok(self) -> anyhow::Result<Fetched> {
        match self.outcome {
            Some(outcome) if self.status.success() => Ok(outcome),
            _ => bail!(
                "`{}` failed ({}): {}",
                self.command,
                self.status,
                self.stderr.trim()
            ),
        }
    }
}

/// `ostrom --home HOME fetch ID -o OUT --json`, running.
#[derive(Debug)]
pub struct StreamedFetch {
    command: String,
    child: Child,
    /// Stdout lines; `None` once stdout is closed.
    lines: Receiver<Option<String>>,
    stderr: Option<JoinHandle<String>>,
    closed: bool,
    outcome: Option<Fetched>,
    failure: Option<FetchFailure>,
    progress_lines: usize,
    last_progress: Option<Progress>,
}

impl StreamedFetch {
    /// Starts fetching `id` into `out` on node `index` of `net`.
    pub fn start(net: &Testnet, index: usize, id: &str, out: &Path) -> anyhow::Result<Self> {
        let home = net.node(index)?.home();
        let mut cmd = Command::new(net.binary());
        cmd.arg("--home")
            .arg(home)
            .args(["fetch", id, "-o"])
            .arg(out)
            .arg("--json")
            .env_remove("OSTROM_HOME")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let command = format!(
            "ostrom --home {} fetch {id} -o {} --json",
            home.display(),
            out.display()
        );
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting `{command}`"))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let mut stderr_pipe = child.stderr.take().context("no stderr pipe")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => {
                        if tx.send(Some(line)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(None);
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        Ok(Self {
            command,
            child,
            lines,
            stderr: Some(stderr),
            closed: false,
            outcome: None,
            failure: None,
            progress_lines: 0,
            last_progress: None,
        })
    }

    /// The last progress line read so far.
    pub fn last_progress(&self) -> Option<Progress> {
        self.last_progress
    }

    /// Reads lines until a progress line satisfies `want`, and returns it. An error when
    /// the fetch ends first or `timeout` passes.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut want: impl FnMut(&Progress) -> bool,
    ) -> anyhow::Result<Progress> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_line(deadline)? {
                Some(line) => {
                    if let Some(progress) = self.note(&line)? {
                        if want(&progress) {
                            return Ok(progress);
                        }
                    }
                }
                None => bail!(
                    "`{}` ended before the progress wanted; last progress {:?}, outcome {:?}",
                    self.command,
                    self.last_progress,
                    self.outcome
                ),
            }
        }
    }

    /// Reads the remaining lines (for at most `timeout`) and waits for the CLI to exit.
    pub fn finish(mut self, timeout: Duration) -> anyhow::Result<FetchEnd> {
        let deadline = Instant::now() + timeout;
        while let Some(line) = self.next_line(deadline)? {
            self.note(&line)?;
        }
        // Stdout is closed: the process is exiting.
        let status = self
            .child
            .wait()
            .with_context(|| format!("waiting for `{}`", self.command))?;
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        Ok(FetchEnd {
            command: self.command.clone(),
            status,
            outcome: self.outcome.take(),
            failure: self.failure.take(),
            stderr,
            progress_lines: self.progress_lines,
            last_progress: self.last_progress,
        })
    }

    /// The next stdout line; `None` once stdout is closed.
    fn next_line(&mut self, deadline: Instant) -> anyhow::Result<Option<String>> {
        if self.closed {
            return Ok(None);
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(Some(line)) => Ok(Some(line)),
            Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                Ok(None)
            }
            Err(RecvTimeoutError::Timeout) => bail!(
                "`{}` still running after the time allowed; last progress {:?}",
                self.command,
                self.last_progress
            ),
        }
    }

    /// Takes one stdout line: a progress line (returned), the outcome, the failure, or an
    /// error for anything else.
    fn note(&mut self, line: &str) -> anyhow::Result<Option<Progress>> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(None);
        }
        if let Some(progress) = Progress::parse(line) {
            anyhow::ensure!(
                progress.bytes_done <= progress.bytes_total
                    && progress.bytes_from_network <= progress.bytes_done,
                "inconsistent progress line: {line}"
            );
            if let Some(last) = self.last_progress {
                anyhow::ensure!(
                    progress.bytes_done >= last.bytes_done,
                    "progress went backwards: {last:?} then {progress:?}"
                );
            }
            self.progress_lines += 1;
            self.last_progress = Some(progress);
            return Ok(Some(progress));
        }
        anyhow::ensure!(
            self.outcome.is_none() && self.failure.is_none(),
            "`{}` printed a line after its result: {line}",
            self.command
        );
        if let Ok(failure) = serde_json::from_str::<FetchFailure>(line) {
            self.failure = Some(failure);
            return Ok(None);
        }
        let outcome: Fetched = serde_json::from_str(line)
            .with_context(|| format!("`{}` printed an unexpected line: {line}", self.command))?;
        self.outcome = Some(outcome);
        Ok(None)
    }
}

impl Drop for StreamedFetch {
    fn drop(&mut self) {
        // A fetch left running would outlive its test; it is of no use any more.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
