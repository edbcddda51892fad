//! `ostrom fetch`: through the running node, or through a temporary in-process node on the
//! home's configuration when none runs. Shows progress on a terminal; `--json` prints
//! progress lines and then the result.

use std::io::IsTerminal;

use anyhow::{anyhow, Context, Result};
use ostrom_node::api::types::{
    FetchBody, FetchEvent, FetchOutcome, FetchProgress, ResolveBody, Resolved,
};
use ostrom_node::exchange::FetchRequest;
use ostrom_node::names::NameRef;
use ostrom_node::{Home, Multiaddr, Node, NodeOptions};
use ostrom_protocol::Id;
use tokio::sync::mpsc;

use crate::cli::FetchArgs;
use crate::client::ApiClient;
use crate::format;
use crate::progress::ProgressView;

/// What to fetch: an id, or a name to resolve first.
enum Target {
    Id(Id),
    Name(NameRef),
}

fn target(text: &str) -> Result<Target> {
    if text.contains('/') {
        return Ok(Target::Name(text.parse()?));
    }
    Ok(Target::Id(text.parse()?))
}

pub async fn run(home: &Home, args: FetchArgs) -> Result<()> {
    let target = target(&args.id)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let out = std::fs::canonicalize(&args.out)?;
    let timeout = match &args.timeout {
        Some(text) => humantime::parse_duration(text).with_context(|| {
            format!("--timeout {text:?}: expected a duration such as 30s or 5m")
        })?,
        None => home.config()?.fetch_timeout,
    };
    let mut view = ProgressView::new(args.json, std::io::stderr().is_terminal());
    let (events_tx, mut events) = mpsc::unbounded_channel::<FetchEvent>();
    let running = match ApiClient::connect(home).await {
        Some(client) => {
            let id = match target {
                Target::Id(id) => id,
                Target::Name(name) => {
                    let resolved: Resolved = client
                        .post(
                            "/v1/resolve",
                            &ResolveBody {
                                reference: name.to_string(),
                            },
                        )
                        .await?;
                    eprintln!("{} is {}", resolved.reference, resolved.id);
                    resolved.id.parse()?
                }
            };
            let body = FetchBody {
                id: id.to_string(),
                out: out.display().to_string(),
                timeout_ms: timeout.as_millis() as u64,
                allow_untrusted: args.allow_untrusted,
                allow_retracted: args.allow_retracted,
            };
            tokio::spawn(async move {
                if let Err(error) = client.post_lines("/v1/fetch", &body, &events_tx).await {
                    let _ = events_tx.send(FetchEvent::Error(error.to_string()));
                }
            })
        }
        None => {
            let job = InProcess {
                bootstrap: super::parse_addrs(&args.bootstrap, "--bootstrap")?,
                target,
                out,
                timeout,
                allow_untrusted: args.allow_untrusted,
                allow_retracted: args.allow_retracted,
            };
            let home = home.clone();
            tokio::spawn(async move {
                let last = match fetch_in_process(&home, job, &events_tx).await {
                    Ok(outcome) => FetchEvent::Done(Box::new(outcome)),
                    Err(error) => FetchEvent::Error(format!("{error:#}")),
                };
                let _ = events_tx.send(last);
            })
        }
    };
    let mut outcome = None;
    while let Some(event) = events.recv().await {
        match event {
            FetchEvent::Progress(progress) => view.update(&progress),
            FetchEvent::Done(done) => {
                outcome = Some(*done);
                break;
            }
            FetchEvent::Error(error) => {
                view.finish();
                return Err(anyhow!(error));
            }
        }
    }
    running.abort();
    view.finish();
    let outcome = outcome.ok_or_else(|| anyhow!("the fetch ended without a result"))?;
    print_outcome(&outcome, args.json)
}

fn print_outcome(outcome: &FetchOutcome, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(outcome)?);
        return Ok(());
    }
    println!(
        "fetched {}{} into {}",
        outcome.name,
        outcome
            .tag
            .as_deref()
            .map(|t| format!("@{t}"))
            .unwrap_or_default(),
        outcome.out
    );
    for file in &outcome.files {
        println!("  {}  {}  {}", file.id, format::bytes(file.size), file.path);
    }
    println!(
        "{} in {:.2}s ({}); {} from {} peers, {} from the local store, {} already in place; every file verified",
        format::bytes(outcome.bytes),
        outcome.seconds,
        format::rate(outcome.bytes, outcome.seconds),
        format::bytes(outcome.bytes_from_network),
        outcome.peers.len(),
        format::bytes(outcome.bytes_from_store),
        format::bytes(outcome.bytes_resumed),
    );
    Ok(())
}

/// A fetch for a temporary in-process node.
struct InProcess {
    /// Joins through these as well as config.toml's bootstrap peers.
    bootstrap: Vec<Multiaddr>,
    target: Target,
    out: std::path::PathBuf,
    timeout: std::time::Duration,
    allow_untrusted: bool,
    allow_retracted: bool,
}

/// Runs a node for the length of one fetch, on ephemeral ports, joining through the
/// home's configured bootstrap peers and the job's.
async fn fetch_in_process(
    home: &Home,
    job: InProcess,
    events: &mpsc::UnboundedSender<FetchEvent>,
) -> Result<FetchOutcome> {
    eprintln!(
        "note: no node is running on {}; fetching through a temporary node that joins via config.toml's bootstrap peers",
        home.root().display()
    );
    let node = Node::start(home.clone(), NodeOptions::temporary(job.bootstrap)).await?;
    let id = match job.target {
        Target::Id(id) => id,
        Target::Name(name) => {
            let resolved = node.resolve(&name).await?;
            eprintln!("{} is {}", resolved.reference, resolved.id);
            resolved.id.parse()?
        }
    };
    let (progress_tx, mut progress) = mpsc::unbounded_channel::<FetchProgress>();
    let request = FetchRequest {
        id,
        out: job.out,
        timeout: job.timeout,
        progress: Some(progress_tx),
        allow_untrusted: job.allow_untrusted,
        allow_retracted: job.allow_retracted,
    };
    let forward = events.clone();
    let pump = tokio::spawn(async move {
        while let Some(update) = progress.recv().await {
            let _ = forward.send(FetchEvent::Progress(update));
        }
    });
    let outcome = node.fetch(request).await;
    let _ = pump.await;
    node.shutdown().await;
    Ok(outcome?)
}
