//! Sending POSIX signals to the processes a testnet started, by process id.

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Sends `signal` to process `pid`. A process that is already gone is not an error.
pub(crate) fn send(pid: u32, signal: Signal) -> std::io::Result<()> {
    let raw = i32::try_from(pid).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("process id {pid} out of range"),
        )
    })?;
    match kill(Pid::from_raw(raw), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(std::io::Error::from(e)),
    }
}

/// Asks a process to stop (SIGTERM).
pub(crate) fn terminate(pid: u32) -> std::io::Result<()> {
    send(pid, Signal::SIGTERM)
}

/// Stops a process at once (SIGKILL).
pub(crate) fn kill_now(pid: u32) -> std::io::Result<()> {
    send(pid, Signal::SIGKILL)
}
