//! One module per subcommand; [`run`] dispatches.

mod bundle;
mod config;
mod fetch;
mod id;
mod init;
mod inspect;
mod lab;
mod log;
mod network_key;
mod node_run;
mod publish;
mod recovery;
mod statements;
mod status;
mod traffic;
mod trust;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use ostrom_node::config::LogFormat;
use ostrom_node::{Home, Multiaddr};

use crate::cli::{
    Cli, Command, ConfigCommand, KeyAction, LabCommand, NetworkKeyCommand, NodeCommand,
    TrustCommand,
};

/// The node home from `--home`, `OSTROM_HOME` or `~/.ostrom`.
fn home(cli_home: Option<PathBuf>) -> Result<Home> {
    if let Some(dir) = cli_home {
        return Ok(Home::new(dir));
    }
    let base = std::env::var_os("HOME").context("no --home given and $HOME is not set")?;
    Ok(Home::new(PathBuf::from(base).join(".ostrom")))
}

/// Logs to stderr in `format`, the lines `default` selects; `RUST_LOG` overrides it.
fn init_logging(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => logs.json().with_current_span(false).try_init(),
    };
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let home = home(cli.home)?;
    match cli.command {
        // Logging starts once the node's configuration is known.
        Command::Node(NodeCommand::Run(args)) => node_run::run(&home, args).await,
        command => {
            init_logging("warn", LogFormat::Text);
            match command {
                Command::Init => init::run(&home),
                Command::Id(flag) => id::run(&home, flag.json).await,
                Command::Publish(args) => publish::run(&home, args).await,
                Command::Fetch(args) => fetch::run(&home, args).await,
                Command::Export(args) => bundle::export(&home, args).await,
                Command::Import(args) => bundle::import(&home, args).await,
                Command::Log(args) => log::run(&home, args).await,
                Command::Ls(flag) => inspect::list(&home, flag.json).await,
                Command::Show(args) => inspect::show(&home, args).await,
                Command::Verify(args) => verify::run(args),
                Command::Traffic(flag) => traffic::run(&home, flag.json).await,
                Command::Status(flag) => status::run(&home, flag.json).await,
                Command::Config(ConfigCommand::Show(flag)) => config::show(&home, flag.json).await,
                Command::Key(args) => match args.action {
                    None => trust::key(&home, args.json),
                    Some(KeyAction::Rotate) => statements::rotate(&home).await,
                    Some(KeyAction::Recovery(args)) => recovery::run(&home, args),
                    Some(KeyAction::Revoke(args)) => statements::revoke(&home, args).await,
                },
                Command::Retract(args) => statements::retract(&home, args).await,
                Command::Lab(LabCommand::Vouch { peer_id, days }) => {
                    lab::vouch(&home, &peer_id, days)
                }
                Command::Lab(LabCommand::Join { vouch }) => lab::join(&home, &vouch),
                Command::Lab(LabCommand::Ls(flag)) => lab::list(&home, flag.json),
                Command::NetworkKey(NetworkKeyCommand::New { file }) => network_key::new(&file),
                Command::Trust(TrustCommand::Add {
                    alias,
                    pubkey,
                    recovery,
                }) => trust::add(&home, &alias, &pubkey, recovery.as_deref()),
                Command::Trust(TrustCommand::Ls(flag)) => trust::list(&home, flag.json),
                Command::Trust(TrustCommand::Rm { alias }) => trust::remove(&home, &alias),
                Command::Node(_) => unreachable!("handled above"),
            }
        }
    }
}

/// Parses every `--FLAG` value as a multiaddr.
pub(crate) fn parse_addrs(texts: &[String], flag: &str) -> Result<Vec<Multiaddr>> {
    texts
        .iter()
        .map(|t| {
            t.parse()
                .with_context(|| format!("{flag} {t:?} is not a multiaddr"))
        })
        .collect()
}

/// Prints `value` as pretty JSON on stdout; a closed stdout is an error that `main` turns
/// into a quiet exit.
fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// Creates `file` for a secret key: readable by its owner only, and never over an existing
/// file.
fn create_key_file(file: &std::path::Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| {
            format!(
                "cannot create {} (an existing key is never overwritten)",
                file.display()
            )
        })
}
