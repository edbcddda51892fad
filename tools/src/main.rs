//! `ostrom`: run an Ostrom node, publish checkpoints, fetch them by id, inspect what a node
//! holds. See `ostrom --help` and README.md.

mod cli;
mod client;
mod commands;
mod format;
mod progress;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "error: {}",
                ostrom_node::error_chain::describe(error.as_ref())
            );
            std::process::ExitCode::FAILURE
        }
    }
}
