//! A long-running child process watched by one thread: every line it writes on stdout,
//! then its exit, arrive as [`Event`]s on a channel, so callers wait for output or exit
//! with a deadline instead of polling.
//!
//! The watcher thread owns the [`std::process::Child`] and reaps it; signals go by
//! process id, which stays valid until the exit event has been sent.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::signal;

/// How long [`Drop`] waits for a killed process to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// Something a watched process did.
#[derive(Debug)]
pub(crate) enum Event {
    /// A line on stdout, without its line ending.
    Line(String),
    /// The process exited (stdout is closed and the process reaped).
    Exited(ExitStatus),
    /// Waiting for the process failed; it is treated as gone.
    WaitFailed(std::io::Error),
}

/// A running child whose stdout and exit are watched by a thread.
#[derive(Debug)]
pub(crate) struct WatchedProcess {
    pid: u32,
    events: Receiver<Event>,
    /// Set once the exit event has been received.
    exited: Option<Result<ExitStatus, String>>,
}

impl WatchedProcess {
    /// Spawns `cmd` with stdout piped (stdin is null; stderr as the caller set it).
    pub(crate) fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).spawn()?;
        let pid = child.id();
        let (tx, events) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("watch-{pid}"))
            .spawn(move || watch(&mut child, &tx))?;
        Ok(Self {
            pid,
            events,
            exited: None,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the exit event has been seen.
    pub(crate) fn has_exited(&mut self) -> bool {
        while self.exited.is_none() {
            match self.events.try_recv() {
                Ok(event) => self.note(&event),
                Err(_) => break,
            }
        }
        self.exited.is_some()
    }

    /// The next event, or `None` when `deadline` passes first.
    pub(crate) fn next_event(&mut self, deadline: Instant) -> Option<Event> {
        if let Some(exit) = &self.exited {
            return Some(match exit {
                Ok(status) => Event::Exited(*status),
                Err(e) => Event::WaitFailed(std::io::Error::other(e.clone())),
            });
        }
        let timeout = deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(timeout) {
            Ok(event) => {
                self.note(&event);
                Some(event)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                let msg = "the process watcher stopped".to_owned();
                self.exited = Some(Err(msg.clone()));
                Some(Event::WaitFailed(std::io::Error::other(msg)))
            }
        }
    }

    /// Waits until the process exits or `deadline` passes; stdout lines are dropped.
    /// Returns `None` on timeout.
    pub(crate) fn wait_exit(&mut self, deadline: Instant) -> Option<std::io::Result<ExitStatus>> {
        loop {
            match self.next_event(deadline)? {
                Event::Line(_) => continue,
                Event::Exited(status) => return Some(Ok(status)),
                Event::WaitFailed(e) => return Some(Err(e)),
            }
        }
    }

    /// Sends SIGTERM unless the process has already exited.
    pub(crate) fn terminate(&mut self) -> std::io::Result<()> {
        if self.has_exited() {
            return Ok(());
        }
        signal::terminate(self.pid)
    }

    /// Sends SIGKILL unless the process has already exited.
    pub(crate) fn kill(&mut self) -> std::io::Result<()> {
        if self.has_exited() {
            return Ok(());
        }
        signal::kill_now(self.pid)
    }

    /// SIGTERM, then waits up to `grace` for the exit; SIGKILL if it has not come.
    /// Returns the exit status and whether SIGKILL was needed.
    pub(crate) fn stop(&mut self, grace: Duration) -> std::io::Result<(ExitStatus, bool)> {
        self.terminate()?;
        if let Some(result) = self.wait_exit(Instant::now() + grace) {
            return result.map(|status| (status, false));
        }
        self.kill_and_reap().map(|status| (status, true))
    }

    /// SIGKILL, then waits for the exit.
    pub(crate) fn kill_and_reap(&mut self) -> std::io::Result<ExitStatus> {
        self.kill()?;
        self.wait_exit(Instant::now() + REAP_TIMEOUT)
            .unwrap_or_else(|| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("process {} survived SIGKILL", self.pid),
                ))
            })
    }

    fn note(&mut self, event: &Event) {
        match event {
            Event::Line(_) => {}
            Event::Exited(status) => self.exited = Some(Ok(*status)),
            Event::WaitFailed(e) => self.exited = Some(Err(e.to_string())),
        }
    }
}

impl Drop for WatchedProcess {
    fn drop(&mut self) {
        if !self.has_exited() {
            // Nothing to report to from a destructor; the process is gone either way.
            let _ = self.kill_and_reap();
        }
    }
}

/// The watcher thread: forwards stdout lines, then reaps the child and reports its exit.
/// Send errors mean nobody listens any more; the thread still drains and reaps.
fn watch(child: &mut Child, tx: &mpsc::Sender<Event>) {
    if let Some(stdout) = child.stdout.take() {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_owned();
                    let _ = tx.send(Event::Line(line));
                }
            }
        }
    }
    let event = match child.wait() {
        Ok(status) => Event::Exited(status),
        Err(e) => Event::WaitFailed(e),
    };
    let _ = tx.send(event);
}
