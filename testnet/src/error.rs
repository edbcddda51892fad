//! The testnet library's error type: one enum for everything that can go wrong while
//! finding the `ostrom` binary, running node processes and CLI commands, and writing
//! generated checkpoints.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Result with the testnet library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the testnet library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `ostrom` executable could not be found or built.
    #[error("cannot locate the `ostrom` binary: {0}")]
    Locate(String),

    /// A process could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program that failed to start.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// A node process did not print `ready` in time.
    #[error("node {index} not ready after {timeout:?}; last lines of {}:\n{log_tail}", log.display())]
    NotReady {
        /// The node's index in its testnet.
        index: usize,
        /// How long we waited.
        timeout: Duration,
        /// The node's log file.
        log: PathBuf,
        /// The end of the node's log.
        log_tail: String,
    },

    /// A node process exited while it was expected to keep running.
    #[error("node {index} exited ({status}) before it was ready; last lines of {}:\n{log_tail}", log.display())]
    NodeExited {
        /// The node's index in its testnet.
        index: usize,
        /// How it exited, as text.
        status: String,
        /// The node's log file.
        log: PathBuf,
        /// The end of the node's log.
        log_tail: String,
    },

    /// A node printed something we could not understand while starting.
    #[error("node {index} printed an unexpected readiness line: {message}")]
    BadReadiness {
        /// The node's index in its testnet.
        index: usize,
        /// What was wrong.
        message: String,
    },

    /// An operation needed a running node, and the node is not running.
    #[error("node {0} is not running")]
    NotRunning(usize),

    /// An operation needed a stopped node, and the node is running.
    #[error("node {0} is already running")]
    AlreadyRunning(usize),

    /// No node has this index.
    #[error("no node {index} in a testnet of {len}")]
    NoSuchNode {
        /// The index asked for.
        index: usize,
        /// How many nodes there are.
        len: usize,
    },

    /// A CLI command ran past its time limit and was killed.
    #[error("`{command}` did not finish within {timeout:?}; it was killed")]
    CommandTimeout {
        /// The command line.
        command: String,
        /// The limit.
        timeout: Duration,
    },

    /// A CLI command exited unsuccessfully where success was required.
    #[error("`{command}` failed ({status}):\n{stderr}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it wrote on stderr.
        stderr: String,
    },

    /// A command's `--json` output did not parse as the expected type.
    #[error("`{command}` printed output that is not the expected JSON ({source}):\n{stdout}")]
    BadJson {
        /// The command line.
        command: String,
        /// The parse error.
        source: serde_json::Error,
        /// What the command printed on stdout.
        stdout: String,
    },

    /// Writing a generated checkpoint failed.
    #[error("cannot write the checkpoint: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),

    /// A file-system or process I/O error.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::Io`] with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Adds context to I/O results, producing [`Error::Io`].
pub(crate) trait IoContext<T> {
    /// Wraps an I/O error with a description computed on failure.
    fn context_with(self, f: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context_with(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::io(f(), source))
    }
}
