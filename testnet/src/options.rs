//! How each node of a testnet is started: its bootstrap peers, extra `node run`
//! arguments, and the time limits the testnet uses with it.

use std::time::Duration;

/// Whom a node bootstraps to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Bootstrap {
    /// Node 0 bootstraps to nobody; every other node to node 0 only.
    #[default]
    FirstNode,
    /// Nobody.
    None,
    /// These nodes of the testnet (by index; they must start earlier).
    Nodes(Vec<usize>),
    /// These multiaddrs.
    Addrs(Vec<String>),
}

/// Options for one node.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// Whom it bootstraps to.
    pub bootstrap: Bootstrap,
    /// Extra arguments appended to `ostrom node run`.
    pub extra_args: Vec<String>,
}

impl NodeOptions {
    /// Default options: bootstrap to node 0, no extra arguments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets whom the node bootstraps to.
    pub fn bootstrap(mut self, bootstrap: Bootstrap) -> Self {
        self.bootstrap = bootstrap;
        self
    }

    /// Appends one argument to `ostrom node run`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Runs the node with `--misbehave MODE` (e.g. `corrupt-blocks`, `forge-manifests`).
    pub fn misbehave(self, mode: &str) -> Self {
        self.arg("--misbehave").arg(mode)
    }
}

/// Time limits for waiting on node processes and commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From spawning `node run` to its `ready` line.
    pub ready: Duration,
    /// For one CLI command (publish, fetch, ...) to finish.
    pub command: Duration,
    /// From SIGTERM to exit, before SIGKILL.
    pub stop: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            ready: Duration::from_secs(60),
            command: Duration::from_secs(300),
            stop: Duration::from_secs(10),
        }
    }
}
