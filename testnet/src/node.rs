//! One node of a testnet: its home directory, its `ostrom node run` process (started,
//! stopped, killed, restarted with the same home and ports), and the CLI commands run
//! against its home.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::cli::{self, CmdOutput};
use crate::error::{Error, IoContext, Result};
use crate::logfile;
use crate::options::{NodeOptions, Timeouts};
use crate::process::WatchedProcess;
use crate::ready::{self, NodeAddrs, NotReady};
use crate::report::{Fetched, Identity, Published};

/// The listen address a node binds first: loopback, any free port.
const FIRST_LISTEN: &str = "/ip4/127.0.0.1/tcp/0";
/// The control API address a node binds first.
const FIRST_API: &str = "127.0.0.1:0";
/// Log lines quoted in errors.
const LOG_TAIL_LINES: usize = 40;

/// A node: a home directory and, while running, an `ostrom node run` process.
#[derive(Debug)]
pub struct Node {
    index: usize,
    home: PathBuf,
    bin: PathBuf,
    options: NodeOptions,
    timeouts: Timeouts,
    /// Resolved bootstrap multiaddrs.
    bootstrap: Vec<String>,
    /// `--listen` values: any port at first, then the ports it bound, so a restart keeps
    /// the addresses other nodes know.
    listen: Vec<String>,
    /// `--api` value, likewise.
    api: String,
    starts: usize,
    process: Option<WatchedProcess>,
    addrs: Option<NodeAddrs>,
}

impl Node {
    pub(crate) fn new(
        index: usize,
        home: PathBuf,
        bin: PathBuf,
        options: NodeOptions,
        timeouts: Timeouts,
    ) -> Self {
        Self {
            index,
            home,
            bin,
            options,
            timeouts,
            bootstrap: Vec::new(),
            listen: vec![FIRST_LISTEN.to_owned()],
            api: FIRST_API.to_owned(),
            starts: 0,
            process: None,
            addrs: None,
        }
    }

    /// The node's index in its testnet.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The node's home directory (`ostrom --home`).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The file its stderr goes to.
    pub fn log_path(&self) -> PathBuf {
        self.home.join("node.log")
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        logfile::tail(&self.log_path(), lines)
    }

    /// The options it was created with.
    pub fn options(&self) -> &NodeOptions {
        &self.options
    }

    /// Its options, to change before the next start (e.g. to drop an extra argument
    /// before a restart).
    pub fn options_mut(&mut self) -> &mut NodeOptions {
        &mut self.options
    }

    /// The multiaddrs it bootstraps to.
    pub fn bootstrap_addrs(&self) -> &[String] {
        &self.bootstrap
    }

    /// Whether its process was started and not stopped or killed through this handle.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Whether its process was started and has exited on its own since.
    pub fn has_exited(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(WatchedProcess::has_exited)
    }

    /// Where it can be reached; an error unless it is running.
    pub fn addrs(&self) -> Result<&NodeAddrs> {
        match (&self.process, &self.addrs) {
            (Some(_), Some(addrs)) => Ok(addrs),
            _ => Err(Error::NotRunning(self.index)),
        }
    }

    /// Its peer id (known once it has run).
    pub fn peer_id(&self) -> Result<&str> {
        self.addrs
            .as_ref()
            .map(|a| a.peer_id.as_str())
            .ok_or(Error::NotRunning(self.index))
    }

    /// Its first listen multiaddr, with `/p2p/PEER_ID`.
    pub fn multiaddr(&self) -> Result<&str> {
        self.addrs().map(NodeAddrs::multiaddr)
    }

    /// Its control API URL.
    pub fn api_url(&self) -> Result<&str> {
        self.addrs().map(|a| a.api_url.as_str())
    }

    /// The process id of its `node run` process.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(WatchedProcess::pid)
    }

    /// Starts `ostrom node run` and waits for `ready`.
    pub fn start(&mut self) -> Result<&NodeAddrs> {
        self.spawn()?;
        self.wait_ready()
    }

    /// Stops the node: SIGTERM, then SIGKILL if it has not exited within the stop
    /// timeout. Returns how it exited.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let mut process = self.process.take().ok_or(Error::NotRunning(self.index))?;
        let (status, _killed) = process
            .stop(self.timeouts.stop)
            .context_with(|| format!("stopping node {}", self.index))?;
        Ok(status)
    }

    /// Stops the node as [`Node::stop`] does, and reports how long it took to exit after
    /// SIGTERM and whether it had to be killed.
    pub fn stop_measured(&mut self) -> Result<Stopped> {
        let mut process = self.process.take().ok_or(Error::NotRunning(self.index))?;
        let started = Instant::now();
        let (status, killed) = process
            .stop(self.timeouts.stop)
            .context_with(|| format!("stopping node {}", self.index))?;
        Ok(Stopped {
            status,
            elapsed: started.elapsed(),
            killed,
        })
    }

    /// Kills the node at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        let mut process = self.process.take().ok_or(Error::NotRunning(self.index))?;
        process
            .kill_and_reap()
            .context_with(|| format!("killing node {}", self.index))
    }

    /// Stops the node if it runs, then starts it again with the same home, listen port and
    /// API port.
    pub fn restart(&mut self) -> Result<&NodeAddrs> {
        if self.is_running() {
            self.stop()?;
        }
        self.start()
    }

    /// Runs `ostrom --home HOME ARGS...` with the default command timeout. A non-zero exit
    /// is not an error here: see [`CmdOutput::ok`].
    pub fn ostrom<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<CmdOutput> {
        self.ostrom_with_timeout(args, self.timeouts.command)
    }

    /// Runs `ostrom --home HOME ARGS...`, killing it after `timeout`.
    pub fn ostrom_with_timeout<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        timeout: Duration,
    ) -> Result<CmdOutput> {
        cli::run(&self.bin, &self.home, args, timeout)
    }

    /// Runs `ostrom --home HOME ARGS... --json`, requires success, and parses stdout.
    pub fn ostrom_json<T: DeserializeOwned, S: AsRef<OsStr>>(&self, args: &[S]) -> Result<T> {
        let mut all: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
        all.push(OsStr::new("--json"));
        self.ostrom(&all)?.ok()?.json()
    }

    /// The node's publisher key, as `ostrom key --json` prints it (64 hex digits).
    pub fn publisher_key(&self) -> Result<String> {
        let keys: serde_json::Value = self.ostrom_json(&["key"])?;
        match keys["publisher_key"].as_str() {
            Some(key) => Ok(key.to_owned()),
            None => Err(Error::io(
                format!("reading node {}'s publisher key", self.index),
                std::io::Error::other(format!("`ostrom key --json` printed {keys}")),
            )),
        }
    }

    /// `ostrom publish PATH --name NAME --json`.
    pub fn publish(&self, path: &Path, name: &str) -> Result<Published> {
        self.ostrom_json(&[
            OsStr::new("publish"),
            path.as_os_str(),
            OsStr::new("--name"),
            OsStr::new(name),
        ])
    }

    /// `ostrom fetch ID -o OUT --json`, requiring success.
    pub fn fetch(&self, id: &str, out: &Path) -> Result<Fetched> {
        self.ostrom_json(&[
            OsStr::new("fetch"),
            OsStr::new(id),
            OsStr::new("-o"),
            out.as_os_str(),
        ])
    }

    /// `ostrom fetch ID -o OUT --timeout TIMEOUT`, whatever its exit status.
    pub fn try_fetch(&self, id: &str, out: &Path, timeout: &str) -> Result<CmdOutput> {
        self.fetch_with(id, out, timeout, &[])
    }

    /// `ostrom fetch ID -o OUT --timeout TIMEOUT --json`, whatever its exit status. On
    /// failure its last stdout line is a [`FetchFailure`](crate::FetchFailure)
    /// (`output.json()`).
    pub fn try_fetch_json(&self, id: &str, out: &Path, timeout: &str) -> Result<CmdOutput> {
        self.fetch_with(id, out, timeout, &["--json"])
    }

    fn fetch_with(&self, id: &str, out: &Path, timeout: &str, extra: &[&str]) -> Result<CmdOutput> {
        let mut args = vec![
            OsStr::new("fetch"),
            OsStr::new(id),
            OsStr::new("-o"),
            out.as_os_str(),
            OsStr::new("--timeout"),
            OsStr::new(timeout),
        ];
        args.extend(extra.iter().map(OsStr::new));
        self.ostrom(&args)
    }

    /// `ostrom show ID --json`, as untyped JSON.
    pub fn show(&self, id: &str) -> Result<serde_json::Value> {
        self.ostrom_json(&["show", id])
    }

    /// `ostrom id --json`.
    pub fn identity(&self) -> Result<Identity> {
        self.ostrom_json(&["id"])
    }

    pub(crate) fn set_bootstrap(&mut self, addrs: Vec<String>) {
        self.bootstrap = addrs;
    }

    /// Spawns `ostrom node run` without waiting for it to be ready.
    pub(crate) fn spawn(&mut self) -> Result<()> {
        if self.process.is_some() {
            return Err(Error::AlreadyRunning(self.index));
        }
        self.starts += 1;
        let log_path = self.log_path();
        let log = logfile::open_for_node(&log_path, &format!("start {}", self.starts))
            .context_with(|| format!("opening {}", log_path.display()))?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--home").arg(&self.home).args(["node", "run"]);
        for addr in &self.listen {
            cmd.args(["--listen", addr]);
        }
        cmd.args(["--api", &self.api]);
        for addr in &self.bootstrap {
            cmd.args(["--bootstrap", addr]);
        }
        cmd.args(&self.options.extra_args);
        cmd.env_remove("OSTROM_HOME").stderr(Stdio::from(log));
        let process = WatchedProcess::spawn(&mut cmd).map_err(|source| Error::Spawn {
            program: self.bin.clone(),
            source,
        })?;
        self.process = Some(process);
        self.addrs = None;
        Ok(())
    }

    /// Waits for a spawned node's `ready` line (at once if it was already seen).
    pub(crate) fn wait_ready(&mut self) -> Result<&NodeAddrs> {
        let index = self.index;
        let process = self.process.as_mut().ok_or(Error::NotRunning(index))?;
        if self.addrs.is_none() {
            let addrs = match ready::wait_ready(process, self.timeouts.ready) {
                Ok(addrs) => addrs,
                Err(failure) => {
                    if let Some(mut process) = self.process.take() {
                        // Whatever it was doing, it is of no use now.
                        let _ = process.kill_and_reap();
                    }
                    return Err(self.not_ready(failure));
                }
            };
            self.listen = addrs.bind_addrs();
            self.api = addrs.api_host_port().to_owned();
            self.addrs = Some(addrs);
        }
        self.addrs().map_err(|_| Error::NotRunning(index))
    }

    /// Sends SIGTERM without waiting (for stopping many nodes at once).
    pub(crate) fn begin_stop(&mut self) {
        if let Some(process) = self.process.as_mut() {
            // An error means the process cannot be signalled; `finish_stop` kills it.
            let _ = process.terminate();
        }
    }

    /// Waits until `deadline` for a node sent SIGTERM to exit, then kills it.
    pub(crate) fn finish_stop(&mut self, deadline: Instant) {
        if let Some(mut process) = self.process.take() {
            if process.wait_exit(deadline).is_none() {
                let _ = process.kill_and_reap();
            }
        }
    }

    fn not_ready(&self, failure: NotReady) -> Error {
        let log = self.log_path();
        let log_tail = self.log_tail(LOG_TAIL_LINES);
        match failure {
            NotReady::Timeout => Error::NotReady {
                index: self.index,
                timeout: self.timeouts.ready,
                log,
                log_tail,
            },
            NotReady::Exited(status) => Error::NodeExited {
                index: self.index,
                status,
                log,
                log_tail,
            },
            NotReady::Bad(message) => Error::BadReadiness {
                index: self.index,
                message,
            },
        }
    }
}

/// How a node stopped with SIGTERM exited.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    /// Its exit status.
    pub status: ExitStatus,
    /// Time from SIGTERM to exit.
    pub elapsed: Duration,
    /// Whether it outlived the stop timeout and was killed.
    pub killed: bool,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.begin_stop();
        self.finish_stop(Instant::now() + self.timeouts.stop);
    }
}
