//! Many `ostrom fetch` commands started together, as many labs fetching at once: every
//! command is spawned before any is waited on, and each one's wall-clock time is taken
//! from the common start.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ostrom_testnet::{CmdOutput, Fetched, Node};

/// One fetch to run: `BIN --home HOME fetch ID -o OUT --json`.
#[derive(Debug, Clone)]
pub struct FetchJob {
    /// A label for messages and reports, e.g. `node 3`.
    pub label: String,
    /// The `ostrom` executable (or a wrapper that runs it).
    pub bin: PathBuf,
    /// The node's home.
    pub home: PathBuf,
    /// Where the files go.
    pub out: PathBuf,
}

impl FetchJob {
    /// A job for `node` of a testnet that runs `bin`, into `out`.
    pub fn for_node(node: &Node, bin: PathBuf, out: PathBuf) -> Self {
        Self {
            label: format!("node {}", node.index()),
            bin,
            home: node.home().to_owned(),
            out,
        }
    }
}

/// A finished fetch.
#[derive(Debug, Clone)]
pub struct FetchDone {
    /// The job's label.
    pub label: String,
    /// From the common start until this command exited.
    pub wall: Duration,
    /// What the command reported.
    pub outcome: Fetched,
}

/// Starts every job at once, waits for all (at most `timeout`), and returns them in job
/// order. Any failure is an error naming the job and quoting its stderr.
pub fn fetch_all(id: &str, jobs: &[FetchJob], timeout: Duration) -> anyhow::Result<Vec<FetchDone>> {
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let mut pids = Vec::with_capacity(jobs.len());
    for (index, job) in jobs.iter().enumerate() {
        let child = Command::new(&job.bin)
            .arg("--home")
            .arg(&job.home)
            .args(["fetch", id, "-o"])
            .arg(&job.out)
            .arg("--json")
            .env_remove("OSTROM_HOME")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting the fetch on {}", job.label));
        let child = match child {
            Ok(child) => child,
            Err(e) => {
                kill_all(&pids);
                return Err(e);
            }
        };
        pids.push(child.id());
        let tx = tx.clone();
        std::thread::spawn(move || {
            let output = child.wait_with_output();
            let _ = tx.send((index, output, started.elapsed()));
        });
    }
    drop(tx);
    let deadline = started + timeout;
    let mut results: Vec<Option<(std::io::Result<Output>, Duration)>> =
        jobs.iter().map(|_| None).collect();
    for _ in jobs {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((index, output, wall)) => results[index] = Some((output, wall)),
            Err(_) => {
                kill_all(&pids);
                return Err(anyhow!(
                    "the fetches did not all finish within {timeout:?}; killed them"
                ));
            }
        }
    }
    jobs.iter()
        .zip(results)
        .map(|(job, result)| {
            let (output, wall) = result.ok_or_else(|| anyhow!("no result for {}", job.label))?;
            let output =
                output.with_context(|| format!("waiting for the fetch on {}", job.label))?;
            let cmd = CmdOutput {
                command: format!("ostrom fetch {id} ({})", job.label),
                status: output.status,
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                elapsed: wall,
            };
            let outcome: Fetched = cmd.ok()?.json()?;
            Ok(FetchDone {
                label: job.label.clone(),
                wall,
                outcome,
            })
        })
        .collect()
}

fn kill_all(pids: &[u32]) {
    for pid in pids {
        if let Ok(pid) = i32::try_from(*pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// One publish on node 0 of `testnet` and one fetch of it on node 1, checked to have
/// written every byte; returns what the fetch reported and how long the command took.
pub fn publish_then_fetch(
    testnet: &ostrom_testnet::Testnet,
    dir: &std::path::Path,
    total: u64,
    name: &str,
) -> anyhow::Result<(Fetched, Duration)> {
    let published = testnet[0].publish(dir, name)?;
    let out = testnet.scratch_dir("fetched")?;
    let args: [&std::ffi::OsStr; 5] = [
        "fetch".as_ref(),
        published.id.as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ];
    let output = testnet[1]
        .ostrom_with_timeout(&args, super::TIMEOUTS.command)?
        .ok()?;
    let fetched: Fetched = output.json()?;
    anyhow::ensure!(
        fetched.bytes == total,
        "the fetch wrote {} bytes, the checkpoint has {total}",
        fetched.bytes
    );
    Ok((fetched, output.elapsed))
}
