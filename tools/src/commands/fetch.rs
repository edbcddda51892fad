//! `ostrom fetch`: through the running node, or through a temporary in-process node on the
//! home's configuration when none runs. Shows progress on a terminal; `--json` prints
//! progress lines and then the result.

use std::io::IsTerminal;

use anyhow::{anyhow, Result};
use ostrom_node::api::types::{
    ErrorBody, FetchBody, FetchEvent, FetchReport, ResolveBody, Resolved,
};
use ostrom_node::exchange::FetchRequest;
use ostrom_node::names::NameRef;
use ostrom_node::subset::TensorSelection;
use ostrom_node::{ErrorKind, Home, Multiaddr, Node, NodeError, NodeOptions};
use ostrom_protocol::Id;
use tokio::sync::mpsc;

use crate::cli::FetchArgs;
use crate::client::{ApiClient, Failure};
use crate::format;
use crate::progress::ProgressView;

/// What to fetch: an id, or a name to resolve first.
enum Target {
    Id(Id),
    Name(NameRef),
}

fn target(text: &str) -> Result<Target, Failure> {
    let parsed = if text.contains('/') {
        text.parse().map(Target::Name).map_err(|e| e.to_string())
    } else {
        text.parse().map(Target::Id).map_err(|e| e.to_string())
    };
    parsed.map_err(|error| Failure(ErrorBody::new(ErrorKind::BadRequest, error)))
}

/// Runs the fetch; with `--json`, a failure is also printed on stdout as one
/// `{"error": "...", "kind": "..."}` object.
pub async fn run(home: &Home, args: FetchArgs) -> Result<()> {
    let json = args.json;
    let result = fetch(home, args).await;
    if let (Err(error), true) = (&result, json) {
        println!("{}", serde_json::to_string(&error_body(error))?);
    }
    result
}

/// The error body for a failure, with the most specific kind known.
fn error_body(error: &anyhow::Error) -> ErrorBody {
    let kind = error.chain().find_map(|cause| {
        if let Some(Failure(body)) = cause.downcast_ref::<Failure>() {
            return Some(body.kind.clone());
        }
        cause
            .downcast_ref::<NodeError>()
            .map(|e| e.kind().as_str().to_owned())
    });
    ErrorBody {
        error: ostrom_node::error_chain::describe(error.as_ref()),
        kind: kind.unwrap_or_else(|| ErrorKind::Other.as_str().to_owned()),
    }
}

async fn fetch(home: &Home, args: FetchArgs) -> Result<()> {
    let target = target(&args.id)?;
    // Made absolute here, for a node whose working directory is elsewhere; the node
    // creates it only once the manifest passed its checks.
    let name_dir = args.out.is_none();
    let given = args.out.clone().unwrap_or_else(|| ".".into());
    let out = std::path::absolute(&given).map_err(|e| {
        Failure(ErrorBody::new(
            ErrorKind::Io,
            format!("cannot resolve {}: {e}", given.display()),
        ))
    })?;
    let timeout = match &args.timeout {
        Some(text) => humantime::parse_duration(text).map_err(|_| {
            Failure(ErrorBody::new(
                ErrorKind::BadRequest,
                format!("--timeout {text:?}: expected a duration such as 30s or 5m"),
            ))
        })?,
        None => home.config()?.fetch_timeout,
    };
    // Checked here, before anything runs, whichever node fetches.
    let selection = if args.tensors.is_empty() {
        None
    } else {
        Some(
            TensorSelection::new(&args.tensors, args.other_files)
                .map_err(|e| Failure(ErrorBody::new(ErrorKind::BadRequest, e.to_string())))?,
        )
    };
    let mut view = ProgressView::new(args.json, std::io::stderr().is_terminal());
    view.start(&args.id);
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
                name_dir,
                force: args.force,
                timeout_ms: timeout.as_millis() as u64,
                allow_untrusted: args.allow_untrusted,
                allow_retracted: args.allow_retracted,
                tensors: args.tensors.clone(),
                other_files: args.other_files,
            };
            tokio::spawn(async move {
                if let Err(error) = client.post_lines("/v1/fetch", &body, &events_tx).await {
                    let _ = events_tx.send(FetchEvent::Error(error_body(&error)));
                }
            })
        }
        None => {
            let job = InProcess {
                tensors: selection,
                bootstrap: super::parse_addrs(&args.bootstrap, "--bootstrap")?,
                target,
                out,
                name_dir,
                force: args.force,
                timeout,
                allow_untrusted: args.allow_untrusted,
                allow_retracted: args.allow_retracted,
            };
            let home = home.clone();
            tokio::spawn(async move {
                if let Err(error) = fetch_in_process(&home, job, &events_tx).await {
                    let _ = events_tx.send(FetchEvent::Error(error_body(&error)));
                }
            })
        }
    };
    let mut result = Err(anyhow!("the fetch ended without a result"));
    while let Some(event) = events.recv().await {
        match event {
            FetchEvent::Progress { progress } => view.update(&progress),
            FetchEvent::Done { done } => {
                result = Ok(*done);
                break;
            }
            FetchEvent::Error(body) => {
                result = Err(Failure(body).into());
                break;
            }
        }
    }
    view.finish();
    // The request ends with its last line; a temporary node stops after it.
    drop(events);
    let _ = running.await;
    print_outcome(&result?, args.json)
}

fn print_outcome(outcome: &FetchReport, json: bool) -> Result<()> {
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
        if let Some(subset) = &file.subset {
            println!(
                "      subset: {} of {} tensors of file {} ({}); every chunk verified against the manifest",
                subset.tensors,
                subset.of_tensors,
                subset.of,
                format::bytes(subset.of_size)
            );
        }
    }
    for skipped in &outcome.skipped {
        let why = match skipped.reason.as_str() {
            "no_matching_tensor" => "no tensor matches",
            _ => "not safetensors (add --other-files to fetch it)",
        };
        println!("  skipped {}: {why}", skipped.path);
    }
    println!(
        "{} in {:.2}s ({}); {} from {}, {} from the local store, {} already in place; every file verified",
        format::bytes(outcome.bytes),
        outcome.seconds,
        format::rate(outcome.bytes, outcome.seconds),
        format::bytes(outcome.bytes_from_network),
        crate::progress::peers(outcome.peers.len()),
        format::bytes(outcome.bytes_from_store),
        format::bytes(outcome.bytes_resumed),
    );
    Ok(())
}

/// A fetch for a temporary in-process node.
struct InProcess {
    tensors: Option<TensorSelection>,
    /// Joins through these as well as config.toml's bootstrap peers.
    bootstrap: Vec<Multiaddr>,
    target: Target,
    out: std::path::PathBuf,
    name_dir: bool,
    force: bool,
    timeout: std::time::Duration,
    allow_untrusted: bool,
    allow_retracted: bool,
}

/// Runs a node for the length of one fetch, on ephemeral ports, joining through the
/// home's configured bootstrap peers and the job's; its updates go to `events`.
async fn fetch_in_process(
    home: &Home,
    job: InProcess,
    events: &mpsc::UnboundedSender<FetchEvent>,
) -> Result<()> {
    eprintln!(
        "note: no node is running on {}; fetching through a temporary node that joins via config.toml's bootstrap peers",
        home.root().display()
    );
    let node = Node::start(home.clone(), NodeOptions::temporary(job.bootstrap.clone())).await?;
    let fetched = fetch_through(&node, job, events).await;
    node.shutdown().await;
    fetched
}

async fn fetch_through(
    node: &Node,
    job: InProcess,
    events: &mpsc::UnboundedSender<FetchEvent>,
) -> Result<()> {
    let id = match job.target {
        Target::Id(id) => id,
        Target::Name(name) => {
            let resolved = node.resolve(&name).await?;
            eprintln!("{} is {}", resolved.reference, resolved.id);
            resolved.id
        }
    };
    let mut running = node.fetch_with_progress(FetchRequest {
        id,
        out: job.out,
        name_dir: job.name_dir,
        force: job.force,
        timeout: job.timeout,
        progress: None,
        allow_untrusted: job.allow_untrusted,
        allow_retracted: job.allow_retracted,
        tensors: job.tensors,
    });
    while let Some(update) = running.next().await {
        // The receiver goes only when the command is ending anyway.
        let _ = events.send(FetchEvent::from(update));
    }
    Ok(())
}
