//! `ostrom-testnet`: start a local testnet, run the end-to-end demo, or generate a
//! synthetic checkpoint.

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
