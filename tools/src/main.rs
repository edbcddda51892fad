//! `ostrom`: run an Ostrom node, publish checkpoints, fetch them by id, inspect what a node
//! holds. See `ostrom --help` and README.md.
//!
//! A command whose stdout is closed early (`ostrom ls | head`) exits quietly with status
//! 141, as a program stopped by SIGPIPE does ([`closed_stdout`]).

mod cli;
mod client;
mod closed_stdout;
mod commands;
mod format;
mod progress;

use clap::Parser;

fn main() -> std::process::ExitCode {
    closed_stdout::install_panic_hook();
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
        Err(error) if closed_stdout::is_broken_pipe(&error) => {
            std::process::ExitCode::from(closed_stdout::STATUS)
        }
        Err(error) => {
            eprintln!(
                "error: {}",
                ostrom_node::error_chain::describe(error.as_ref())
            );
            std::process::ExitCode::FAILURE
        }
    }
}
