//! `ostrom-testnet bench [--only NAME]... [--json FILE]`: runs the benchmark suite and
//! prints each bench's figures beside the baseline measured in the same run, then a
//! summary of the design's goals. Goals never fail the command: the exit status is
//! non-zero only when a bench, or part of one, could not run (a command failed).

use std::path::PathBuf;

use anyhow::{bail, Context};
use bytesize::ByteSize;
use serde::Serialize;

use crate::bench::machine::Machine;
use crate::bench::report::{self, BenchReport, Status};
use crate::bench::{self, BenchName, Settings, Workdir};

/// Cores below which the swarm bench stops at 8 fetchers by default.
const CORES_FOR_16: usize = 8;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run only this bench (repeatable); all of them when not given.
    #[arg(long, value_name = "NAME", value_enum)]
    only: Vec<BenchName>,
    /// Checkpoint size for one-source and publish, e.g. 1GiB, 256MiB.
    #[arg(long, default_value = "1GiB")]
    size: ByteSize,
    /// Timed rounds of one-source and publish; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Checkpoint size for swarm and two-labs.
    #[arg(long, default_value = "128MiB")]
    swarm_size: ByteSize,
    /// The largest number of fetchers in the swarm bench (N runs 1, 2, 4, 8, 16 up to
    /// this). Default: 16, or 8 on machines with fewer than 8 cores.
    #[arg(long)]
    max_fetchers: Option<usize>,
    /// Every swarm node's --upload-limit.
    #[arg(long, default_value = "20MiB")]
    upload_limit: String,
    /// Nodes in each group of the two-labs bench (at least 2).
    #[arg(long, default_value_t = 3)]
    group_size: usize,
    /// Checkpoint size for the memory bench.
    #[arg(long, default_value = "4GiB")]
    memory_size: ByteSize,
    /// Also write every figure as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Create the temporary work directory (checkpoints, node homes, fetched files) in
    /// this directory instead of the system's temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The JSON file's contents.
#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    machine: &'a Machine,
    ostrom_binary: String,
    benches: &'a [BenchReport],
}

/// Runs `bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let machine = Machine::detect();
    let settings = Settings {
        size: args.size.as_u64(),
        rounds: args.rounds,
        swarm_size: args.swarm_size.as_u64(),
        max_fetchers: args
            .max_fetchers
            .unwrap_or(if machine.cores < CORES_FOR_16 { 8 } else { 16 }),
        upload_limit: args.upload_limit,
        group_size: args.group_size,
        memory_size: args.memory_size.as_u64(),
    };
    let mut names = if args.only.is_empty() {
        BenchName::ALL.to_vec()
    } else {
        args.only
    };
    names.sort();
    names.dedup();

    let bin = ostrom_testnet::locate::ostrom_binary().context("locating `ostrom`")?;
    println!("machine: {}", machine.describe());
    println!("ostrom binary: {}", bin.display());
    println!();
    let mut work = Workdir::new(args.dir.as_deref())?;
    let reports = bench::run(&names, &settings, &mut work);
    println!("{}", report::summary(&reports));

    if let Some(path) = &args.json {
        let json = JsonReport {
            machine: &machine,
            ostrom_binary: bin.display().to_string(),
            benches: &reports,
        };
        let text = serde_json::to_string_pretty(&json).context("encoding the JSON report")?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| matches!(r.status, Status::Failed(_)) || !r.errors.is_empty())
        .map(|r| r.name)
        .collect();
    if !failed.is_empty() {
        bail!("errors in: {}", failed.join(", "));
    }
    Ok(())
}
