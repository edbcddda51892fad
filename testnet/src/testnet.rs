//! A testnet: N `ostrom` nodes on this machine, each with its own home under one base
//! directory, wired together on loopback. [`TestnetBuilder`] says how many nodes and how
//! each starts; [`Testnet`] owns them and stops them all when dropped, so no process
//! outlives it.

use std::collections::BTreeMap;
use std::ops::{Index, IndexMut};
use std::path::{Path, PathBuf};
use std::time::Instant;

use tempfile::TempDir;

use crate::cli;
use crate::error::{Error, IoContext, Result};
use crate::locate::ostrom_binary;
use crate::node::Node;
use crate::options::{Bootstrap, NodeOptions, Timeouts};
use crate::trust;

/// How to build a [`Testnet`].
#[derive(Debug, Clone, Default)]
pub struct TestnetBuilder {
    nodes: usize,
    dir: Option<PathBuf>,
    options: BTreeMap<usize, NodeOptions>,
    timeouts: Timeouts,
    bin: Option<PathBuf>,
}

impl TestnetBuilder {
    /// How many nodes to start.
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }

    /// Keeps the homes in `dir` (created if missing) instead of a temporary directory
    /// removed on drop. Homes that already exist there are reused, not initialised again.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Options for node `index`.
    pub fn node(mut self, index: usize, options: NodeOptions) -> Self {
        self.options.insert(index, options);
        self
    }

    /// Starts node `index` with `--misbehave MODE`.
    pub fn misbehave(mut self, index: usize, mode: &str) -> Self {
        let options = self.options.remove(&index).unwrap_or_default();
        self.options.insert(index, options.misbehave(mode));
        self
    }

    /// Time limits for node start-up, commands and stopping.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Runs this `ostrom` binary instead of locating one.
    pub fn binary(mut self, bin: impl Into<PathBuf>) -> Self {
        self.bin = Some(bin.into());
        self
    }

    /// Creates the homes, runs `ostrom init` in each, starts every node and waits until all
    /// are ready.
    pub fn start(self) -> Result<Testnet> {
        let bin = match self.bin {
            Some(bin) => bin,
            None => ostrom_binary()?,
        };
        let dir = match self.dir {
            Some(path) => {
                std::fs::create_dir_all(&path)
                    .context_with(|| format!("creating {}", path.display()))?;
                BaseDir::Kept(path)
            }
            None => BaseDir::Temp(
                tempfile::Builder::new()
                    .prefix("ostrom-testnet-")
                    .tempdir()
                    .context_with(|| "creating a temporary directory".to_owned())?,
            ),
        };
        let mut testnet = Testnet {
            dir,
            bin,
            timeouts: self.timeouts,
            nodes: Vec::new(),
        };
        let mut options = self.options;
        for index in 0..self.nodes {
            let node_options = options.remove(&index).unwrap_or_default();
            testnet.push_node(node_options)?;
        }
        testnet.init_all(0..self.nodes)?;
        trust::trust_each_other(&testnet.nodes)?;
        for index in 0..self.nodes {
            testnet.spawn_node(index)?;
        }
        for node in &mut testnet.nodes {
            node.wait_ready()?;
        }
        Ok(testnet)
    }
}

/// The directory holding the homes.
#[derive(Debug)]
enum BaseDir {
    Temp(TempDir),
    Kept(PathBuf),
}

/// Nodes running on this machine. Dropping it stops them all (SIGTERM, then SIGKILL).
#[derive(Debug)]
pub struct Testnet {
    // Declared before `dir` so nodes stop before their homes are removed.
    nodes: Vec<Node>,
    dir: BaseDir,
    bin: PathBuf,
    timeouts: Timeouts,
}

impl Testnet {
    /// A builder with no nodes and default options.
    pub fn builder() -> TestnetBuilder {
        TestnetBuilder::default()
    }

    /// Starts `n` nodes with default options in a temporary directory.
    pub fn start(n: usize) -> Result<Self> {
        Self::builder().nodes(n).start()
    }

    /// The base directory holding the homes.
    pub fn dir(&self) -> &Path {
        match &self.dir {
            BaseDir::Temp(t) => t.path(),
            BaseDir::Kept(p) => p,
        }
    }

    /// The `ostrom` binary the nodes run.
    pub fn binary(&self) -> &Path {
        &self.bin
    }

    /// Creates (if needed) and returns `NAME` under the base directory, for test data
    /// and fetch outputs that go away with the testnet.
    pub fn scratch_dir(&self, name: &str) -> Result<PathBuf> {
        let path = self.dir().join(name);
        std::fs::create_dir_all(&path).context_with(|| format!("creating {}", path.display()))?;
        Ok(path)
    }

    /// How many nodes there are (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// All nodes, by index.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// All nodes, by index, mutably.
    pub fn nodes_mut(&mut self) -> &mut [Node] {
        &mut self.nodes
    }

    /// Node `index`, or [`Error::NoSuchNode`].
    pub fn node(&self, index: usize) -> Result<&Node> {
        let len = self.nodes.len();
        self.nodes
            .get(index)
            .ok_or(Error::NoSuchNode { index, len })
    }

    /// Node `index` mutably, or [`Error::NoSuchNode`].
    pub fn node_mut(&mut self, index: usize) -> Result<&mut Node> {
        let len = self.nodes.len();
        self.nodes
            .get_mut(index)
            .ok_or(Error::NoSuchNode { index, len })
    }

    /// Adds a node with a fresh home, initialises and starts it; returns its index.
    pub fn add_node(&mut self, options: NodeOptions) -> Result<usize> {
        let index = self.add_stopped_node(options)?;
        self.start_node(index)?;
        Ok(index)
    }

    /// Adds a node with a fresh, initialised home and no process (for commands that run
    /// without a node, or to start later with [`Testnet::start_node`]).
    pub fn add_stopped_node(&mut self, options: NodeOptions) -> Result<usize> {
        let index = self.push_node(options)?;
        self.init_all(index..index + 1)?;
        trust::trust_each_other(&self.nodes)?;
        Ok(index)
    }

    /// Starts node `index`, resolving its bootstrap addresses from the nodes it names.
    pub fn start_node(&mut self, index: usize) -> Result<&Node> {
        self.spawn_node(index)?;
        let node = self.node_mut(index)?;
        node.wait_ready()?;
        Ok(node)
    }

    /// Stops every node (SIGTERM to all, then waits; SIGKILL after the stop timeout).
    pub fn stop_all(&mut self) {
        for node in &mut self.nodes {
            node.begin_stop();
        }
        let deadline = Instant::now() + self.timeouts.stop;
        for node in &mut self.nodes {
            node.finish_stop(deadline);
        }
    }

    /// Stops every node and removes the base directory unless it was given.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    /// Adds a node handle; its home is created by `ostrom init`.
    fn push_node(&mut self, options: NodeOptions) -> Result<usize> {
        let index = self.nodes.len();
        let home = self.dir().join(format!("node-{index}"));
        self.nodes.push(Node::new(
            index,
            home,
            self.bin.clone(),
            options,
            self.timeouts,
        ));
        Ok(index)
    }

    /// Runs `ostrom init` in the given homes, in parallel; homes already populated are
    /// left alone.
    fn init_all(&self, range: std::ops::Range<usize>) -> Result<()> {
        let nodes = &self.nodes[range];
        let homes: Vec<(usize, PathBuf, bool)> = nodes
            .iter()
            .map(|n| (n.index(), n.home().to_owned(), is_populated(n.home())))
            .collect();
        let bin = &self.bin;
        let timeout = self.timeouts.command;
        std::thread::scope(|scope| {
            let handles: Vec<_> = homes
                .iter()
                .filter(|(_, _, populated)| !populated)
                .map(|(index, home, _)| {
                    let handle = scope.spawn(move || {
                        cli::run(bin, home, &["init"], timeout).and_then(cli::CmdOutput::ok)
                    });
                    (*index, handle)
                })
                .collect();
            for (index, handle) in handles {
                match handle.join() {
                    Ok(result) => {
                        result?;
                    }
                    Err(_) => {
                        return Err(Error::io(
                            format!("initialising node {index}"),
                            std::io::Error::other("the init thread panicked"),
                        ))
                    }
                }
            }
            Ok(())
        })
    }

    /// Resolves node `index`'s bootstrap addresses (waiting for the nodes it names to be
    /// ready) and spawns it.
    fn spawn_node(&mut self, index: usize) -> Result<()> {
        let bootstrap = self.node(index)?.options().bootstrap.clone();
        let addrs = match bootstrap {
            Bootstrap::None => Vec::new(),
            Bootstrap::Addrs(addrs) => addrs,
            Bootstrap::FirstNode if index == 0 => Vec::new(),
            Bootstrap::FirstNode => vec![self.ready_addr(0)?],
            Bootstrap::Nodes(others) => others
                .into_iter()
                .map(|other| self.ready_addr(other))
                .collect::<Result<_>>()?,
        };
        let node = self.node_mut(index)?;
        node.set_bootstrap(addrs);
        node.spawn()
    }

    fn ready_addr(&mut self, index: usize) -> Result<String> {
        Ok(self.node_mut(index)?.wait_ready()?.multiaddr().to_owned())
    }
}

fn is_populated(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false)
}

impl Index<usize> for Testnet {
    type Output = Node;

    /// Node `index`; panics when there is none, as slice indexing does.
    fn index(&self, index: usize) -> &Node {
        &self.nodes[index]
    }
}

impl IndexMut<usize> for Testnet {
    fn index_mut(&mut self, index: usize) -> &mut Node {
        &mut self.nodes[index]
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        self.stop_all();
    }
}
