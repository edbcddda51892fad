//! The `ostrom-testnet` command line: one module per subcommand.

mod bench;
mod demo;
mod fmt;
mod gen;
mod up;

use clap::{Parser, Subcommand};

/// Runs many real `ostrom` nodes on this machine.
#[derive(Debug, Parser)]
#[command(name = "ostrom-testnet", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start N nodes on loopback and keep them running until Ctrl-C or SIGTERM.
    Up(up::Args),
    /// Start a testnet, publish a generated checkpoint on one node, fetch it on another,
    /// verify it and report times.
    Demo(demo::Args),
    /// Write a synthetic transformer checkpoint (safetensors, BF16) into a directory.
    Gen(gen::Args),
    /// Run the benchmarks: figures beside a baseline measured in the same run, as ratios,
    /// with the design's goals (see BENCHMARKS.md).
    Bench(bench::Args),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => up::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Gen(args) => gen::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
