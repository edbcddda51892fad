//! Per-process figures a bench reads while nodes run: peak resident memory (`VmHWM` in
//! `/proc/PID/status`) and bytes a process uploaded over TCP.
//!
//! Nodes do not count the bytes they upload yet, and every node of a testnet shares one
//! network namespace, so interface counters cannot tell nodes apart. [`UploadMeter`]
//! instead samples `ss -tinp`, which lists each TCP socket with its owning process and the
//! kernel's `bytes_acked` (payload bytes the peer acknowledged), and sums the growth over
//! the process's sockets. A socket that closes between two samples loses what it sent
//! after the earlier one, so the figure can only undercount, by at most one sampling
//! interval's worth per closed connection.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::machine::meminfo_field;

/// The peak resident set size of process `pid` in bytes (`VmHWM`), if it can be read.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    meminfo_field(&status, "VmHWM")
}

/// `bytes_acked` per socket (keyed by its local and peer address) of process `pid`, from
/// one `ss` run; `None` when `ss` cannot be run.
fn sample(pid: u32) -> Option<HashMap<String, u64>> {
    let output = Command::new("ss")
        .args(["-tinpH", "state", "connected"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(parse_ss(&String::from_utf8_lossy(&output.stdout), pid))
}

/// Parses `ss -tinpH` output: each socket is a line starting with its state, followed by
/// indented lines of TCP info. Keeps the sockets owned by `pid`.
fn parse_ss(text: &str, pid: u32) -> HashMap<String, u64> {
    let owner = format!("pid={pid},");
    let mut sockets = HashMap::new();
    let mut record = String::new();
    let mut flush = |record: &str| {
        if !record.contains(&owner) {
            return;
        }
        let fields: Vec<&str> = record.split_whitespace().collect();
        // State, Recv-Q, Send-Q, local, peer, ...
        let (Some(local), Some(peer)) = (fields.get(3), fields.get(4)) else {
            return;
        };
        let acked = fields
            .iter()
            .find_map(|f| f.strip_prefix("bytes_acked:"))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        sockets.insert(format!("{local} {peer}"), acked);
    };
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            record.push(' ');
            record.push_str(line.trim());
        } else {
            flush(&record);
            record = line.to_owned();
        }
    }
    flush(&record);
    sockets
}

/// Counts the TCP bytes one process uploads from [`UploadMeter::start`] to
/// [`UploadMeter::finish`], sampling `ss` in a thread.
#[derive(Debug)]
pub struct UploadMeter {
    pid: u32,
    baseline: HashMap<String, u64>,
    highest: Arc<Mutex<HashMap<String, u64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UploadMeter {
    /// Starts sampling process `pid` every `every`; `None` when `ss` is unavailable.
    pub fn start(pid: u32, every: Duration) -> Option<Self> {
        let baseline = sample(pid)?;
        let highest = Arc::new(Mutex::new(baseline.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (highest, stop) = (highest.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("ss-{pid}"))
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(every);
                        if let Some(now) = sample(pid) {
                            merge(&highest, now);
                        }
                    }
                })
                .ok()?
        };
        Some(Self {
            pid,
            baseline,
            highest,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops sampling and returns the bytes uploaded since the start, or `None` when no
    /// socket of the process was ever seen (then `ss` could not see it: the figure is
    /// unknown, not zero).
    pub fn finish(mut self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(now) = sample(self.pid) {
            merge(&self.highest, now);
        }
        let highest = self.highest.lock().ok()?;
        if highest.is_empty() {
            return None;
        }
        Some(
            highest
                .iter()
                .map(|(key, bytes)| bytes.saturating_sub(*self.baseline.get(key).unwrap_or(&0)))
                .sum(),
        )
    }
}

impl Drop for UploadMeter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Keeps the highest `bytes_acked` seen per socket.
fn merge(highest: &Mutex<HashMap<String, u64>>, now: HashMap<String, u64>) {
    if let Ok(mut highest) = highest.lock() {
        for (key, bytes) in now {
            let entry = highest.entry(key).or_insert(0);
            *entry = (*entry).max(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SS: &str = "\
ESTAB 0      0      127.0.0.1:36329 127.0.0.1:43701 users:((\"ostrom\",pid=12102,fd=12))
\t cubic wscale:7,7 rto:204 bytes_sent:5736 bytes_acked:5737 bytes_received:8032537 segs_out:296
ESTAB 0      0      127.0.0.1:43701 127.0.0.1:36329 users:((\"ostrom\",pid=12083,fd=13))
\t cubic wscale:7,7 rto:204 bytes_sent:8032537 bytes_acked:8032537 bytes_received:5736
ESTAB 0      0      127.0.0.1:43702 127.0.0.1:36330 users:((\"ostrom\",pid=12083,fd=14))
\t cubic wscale:7,7 rto:204 bytes_received:5736
";

    #[test]
    fn keeps_the_sockets_of_one_process() {
        let sockets = parse_ss(SS, 12083);
        assert_eq!(sockets.len(), 2);
        assert_eq!(
            sockets.get("127.0.0.1:43701 127.0.0.1:36329"),
            Some(&8_032_537)
        );
        assert_eq!(sockets.get("127.0.0.1:43702 127.0.0.1:36330"), Some(&0));
        assert_eq!(parse_ss(SS, 1).len(), 0);
        // `pid=1208` must not match `pid=12083`.
        assert_eq!(parse_ss(SS, 1208).len(), 0);
    }

    #[test]
    fn reads_this_process_peak_rss() {
        let rss = peak_rss(std::process::id()).expect("VmHWM of this process");
        assert!(rss > 0);
    }
}
