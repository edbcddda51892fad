//! `ostrom-testnet`: start a local testnet, run the end-to-end demo, generate a
//! synthetic checkpoint, or run the benchmarks.

mod bench;
mod cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ostrom-testnet: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
