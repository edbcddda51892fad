//! Runs many real `ostrom` node processes on this machine: testnets for end-to-end
//! tests, the demo, and benchmarks.
//!
//! ```no_run
//! use ostrom_testnet::{checkpoint, Testnet};
//!
//! # fn main() -> Result<(), ostrom_testnet::Error> {
//! let net = Testnet::start(3)?; // node 1 and node 2 bootstrap to node 0
//! let src = net.scratch_dir("src")?;
//! checkpoint::generate(&src, &checkpoint::CheckpointSpec::new(8_000_000))?;
//! let published = net[1].publish(&src, "lab/model")?;
//! let fetched = net[2].fetch(&published.id, &net.scratch_dir("out")?)?;
//! assert_eq!(fetched.files.len(), published.files.len());
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - [`locate`]: finding (or, under cargo, building) the `ostrom` binary.
//! - [`testnet`]: [`Testnet`] and its builder: homes, start order, bootstrap wiring,
//!   teardown.
//! - [`node`]: one [`Node`]: its process (start, stop, kill, restart) and CLI commands
//!   against its home.
//! - [`options`]: per-node options and time limits.
//! - [`ready`]: the node's readiness lines on stdout.
//! - [`cli`]: running one CLI command with a time limit; [`report`]: its JSON outputs.
//! - [`checkpoint`]: synthetic transformer checkpoints of any size, and fine-tunes of them.
//! - [`hash`]: file ids (BLAKE3, as `b3sum`).
//! - `trust`: every node of a testnet trusts every other node's publisher key.
//! - `process`, `signal`, `logfile`: watched child processes, signals, node logs.

pub mod checkpoint;
pub mod cli;
pub mod error;
pub mod hash;
pub mod locate;
mod logfile;
pub mod node;
pub mod options;
mod process;
pub mod ready;
pub mod report;
mod signal;
pub mod testnet;
mod trust;

pub use cli::CmdOutput;
pub use error::{Error, Result};
pub use node::Node;
pub use node::Stopped;
pub use options::{Bootstrap, NodeOptions, Timeouts};
pub use ready::NodeAddrs;
pub use report::{FetchFailure, Fetched, FileReport, Identity, Published};
pub use testnet::{Testnet, TestnetBuilder};
