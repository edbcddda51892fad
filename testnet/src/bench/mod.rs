//! `ostrom-testnet bench`: real `ostrom` node processes on this machine, measured side by
//! side with a baseline run in the same invocation (nginx → curl, b3sum, the checkpoint's
//! own size), and reported as ratios. Machines here are noisy, so only ratios taken in one
//! run are compared. Nothing here passes or fails: each goal from the design is printed
//! with whether it was met, and the exit status says only whether the benches ran without
//! errors.
//!
//! # Layout
//!
//! - [`one_source`], [`swarm`], [`two_labs`], [`publish`], [`memory`]: one bench each.
//! - [`report`]: a bench's report (text table, goals, JSON figures).
//! - [`machine`]: what the bench ran on, free disk space.
//! - [`procfs`]: peak RSS of a node.
//! - [`fetches`]: many `ostrom fetch` commands started at once.
//! - [`nginx`]: the HTTP baseline server; [`netns`]: two network namespaces joined by a
//!   slowed link; [`programs`]: finding and running external tools.

pub mod fetches;
pub mod machine;
pub mod memory;
pub mod netns;
pub mod nginx;
pub mod one_source;
pub mod procfs;
pub mod programs;
pub mod publish;
pub mod report;
pub mod swarm;
pub mod two_labs;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use ostrom_testnet::checkpoint::{self, CheckpointSpec, GeneratedCheckpoint};
use ostrom_testnet::{NodeOptions, Testnet, Timeouts};
use tempfile::TempDir;

use machine::Machine;
use report::{BenchReport, Status};

/// The benches, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum BenchName {
    /// One seeder, one fetcher, over loopback, against nginx → curl.
    OneSource,
    /// One upload-limited seeder and N fetchers at once.
    Swarm,
    /// Two groups of nodes joined by a slow link; bytes that cross it.
    TwoLabs,
    /// Publish (chunk, hash, sign) against b3sum.
    Publish,
    /// Peak memory of a node fetching a large checkpoint.
    Memory,
}

impl BenchName {
    /// Every bench.
    pub const ALL: [BenchName; 5] = [
        BenchName::OneSource,
        BenchName::Swarm,
        BenchName::TwoLabs,
        BenchName::Publish,
        BenchName::Memory,
    ];

    /// The name `--only` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            BenchName::OneSource => "one-source",
            BenchName::Swarm => "swarm",
            BenchName::TwoLabs => "two-labs",
            BenchName::Publish => "publish",
            BenchName::Memory => "memory",
        }
    }

    /// What the bench measures, in one line.
    pub fn what(self) -> &'static str {
        match self {
            BenchName::OneSource => "one seeder, one fetcher, over loopback to disk",
            BenchName::Swarm => "one upload-limited seeder, N fetchers at once",
            BenchName::TwoLabs => "two groups of nodes, a slow link between them",
            BenchName::Publish => "chunking and hashing speed of `ostrom publish`",
            BenchName::Memory => "peak memory of a node fetching a large checkpoint",
        }
    }
}

/// What the benches are run with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Checkpoint size for one-source and publish.
    pub size: u64,
    /// Timed rounds of one-source and publish (the median is reported).
    pub rounds: usize,
    /// Checkpoint size for swarm and two-labs.
    pub swarm_size: u64,
    /// The largest N of the swarm bench.
    pub max_fetchers: usize,
    /// Every swarm node's `--upload-limit`.
    pub upload_limit: String,
    /// Nodes per group in two-labs.
    pub group_size: usize,
    /// Checkpoint size of the memory bench.
    pub memory_size: u64,
}

/// Time limits for bench testnets: fetches of gigabytes on slow machines take minutes.
pub(crate) const TIMEOUTS: Timeouts = Timeouts {
    ready: Duration::from_secs(60),
    command: Duration::from_secs(3600),
    stop: Duration::from_secs(10),
};

/// The directory everything of one bench run lives in (removed at the end), and the
/// checkpoints generated in it, each size generated once and shared by the benches.
#[derive(Debug)]
pub struct Workdir {
    dir: TempDir,
    /// Generated checkpoints by the size asked for.
    checkpoints: Vec<(u64, GeneratedCheckpoint)>,
}

impl Workdir {
    /// A new temporary directory in `parent` (the system's temporary directory if `None`).
    pub fn new(parent: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("ostrom-bench-");
        let dir = match parent {
            Some(parent) => {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
                builder.tempdir_in(parent)
            }
            None => builder.tempdir(),
        }
        .context("creating the bench directory")?;
        Ok(Self {
            dir,
            checkpoints: Vec::new(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A checkpoint of about `bytes`, generated on first use.
    pub fn checkpoint(&mut self, bytes: u64) -> anyhow::Result<GeneratedCheckpoint> {
        if let Some((_, found)) = self.checkpoints.iter().find(|(b, _)| *b == bytes) {
            return Ok(found.clone());
        }
        let dir = self.path().join(format!("checkpoint-{bytes}"));
        progress(format!(
            "generating a checkpoint of {} in {}",
            report::size(bytes),
            dir.display()
        ));
        let started = Instant::now();
        let ckpt = checkpoint::generate(&dir, &CheckpointSpec::new(bytes))
            .with_context(|| format!("generating a checkpoint in {}", dir.display()))?;
        progress(format!(
            "generated {} in {:.1} s",
            report::size(ckpt.total_bytes()),
            started.elapsed().as_secs_f64()
        ));
        self.checkpoints.push((bytes, ckpt.clone()));
        Ok(ckpt)
    }

    /// Deletes the checkpoint of `bytes` if one was generated (to free disk space).
    pub fn drop_checkpoint(&mut self, bytes: u64) {
        if let Some(i) = self.checkpoints.iter().position(|(b, _)| *b == bytes) {
            let (_, ckpt) = self.checkpoints.swap_remove(i);
            let _ = std::fs::remove_dir_all(ckpt.dir);
        }
    }

    /// An empty directory `name` in the work directory (emptied if it existed).
    pub fn fresh(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.path().join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(path)
    }
}

/// Starts a testnet of `nodes` nodes with homes in `dir`; node `i` gets `options(i)`.
/// `bin` replaces the located `ostrom` binary (a wrapper, for instance).
pub(crate) fn start_testnet(
    dir: &Path,
    nodes: usize,
    options: impl Fn(usize) -> NodeOptions,
    bin: Option<&Path>,
) -> anyhow::Result<Testnet> {
    let mut builder = Testnet::builder().nodes(nodes).dir(dir).timeouts(TIMEOUTS);
    for index in 0..nodes {
        builder = builder.node(index, options(index));
    }
    if let Some(bin) = bin {
        builder = builder.binary(bin);
    }
    builder
        .start()
        .with_context(|| format!("starting {nodes} nodes in {}", dir.display()))
}

/// Stops a testnet and removes its directory (freeing the disk for the next bench).
pub(crate) fn discard(testnet: Testnet) {
    let dir = testnet.dir().to_owned();
    testnet.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

/// A progress line on stderr (reports go to stdout).
pub(crate) fn progress(message: impl AsRef<str>) {
    eprintln!("bench: {}", message.as_ref());
}

/// Runs the named benches in order, each to a report; a bench that fails is reported as
/// failed and the others still run.
pub fn run(names: &[BenchName], settings: &Settings, work: &mut Workdir) -> Vec<BenchReport> {
    let machine = Machine::detect();
    let mut reports = Vec::new();
    for &name in names {
        progress(format!("running {}", name.as_str()));
        let mut report = BenchReport::new(name.as_str(), name.what(), &machine);
        let result = match name {
            BenchName::OneSource => one_source::run(settings, work, &mut report),
            BenchName::Swarm => swarm::run(settings, work, &mut report),
            BenchName::TwoLabs => two_labs::run(settings, work, &mut report),
            BenchName::Publish => publish::run(settings, work, &mut report),
            BenchName::Memory => memory::run(settings, work, &mut report),
        };
        if let Err(error) = result {
            report.status = Status::Failed(format!("{error:#}"));
        }
        println!("{}", report.render());
        reports.push(report);
    }
    reports
}
