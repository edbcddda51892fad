//! `ostrom publish`: through the running node, or straight into the store when none runs
//! (the checkpoint is then announced when the node next starts).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use std::io::IsTerminal;

use ostrom_node::api::types::{ErrorBody, NodeInfo, PublishBody, PublishEvent, PublishOutcome};
use ostrom_node::node::Publication;
use ostrom_node::publish::{publish_reporting, PublishRequest};
use ostrom_node::store::Store;
use ostrom_node::trust::TrustStore;
use ostrom_node::Home;
use ostrom_protocol::manifest::READERS_KEY;
use ostrom_protocol::trust::{format_public_key, parse_public_key};
use tokio::sync::mpsc;

use crate::cli::PublishArgs;
use crate::client::{ApiClient, Failure};
use crate::format;
use crate::progress::ProgressView;

fn parse_metadata(entries: &[String]) -> Result<BTreeMap<String, String>> {
    let mut metadata = BTreeMap::new();
    for entry in entries {
        let Some((key, value)) = entry.split_once('=') else {
            bail!("--meta {entry:?} must be KEY=VALUE");
        };
        metadata.insert(key.to_owned(), value.to_owned());
    }
    Ok(metadata)
}

/// The `ostrom.readers` metadata value for `--restrict-to`: each alias's key, in hex.
fn readers(home: &Home, aliases: &[String]) -> Result<String> {
    let trust = TrustStore::load(home)?;
    let keys = aliases
        .iter()
        .map(|alias| match trust.key_of(alias) {
            Some(key) => Ok(format_public_key(&key)),
            None => parse_public_key(alias)
                .map(|key| format_public_key(&key))
                .with_context(|| {
                    format!("--restrict-to {alias}: not an alias in `ostrom trust ls`, nor a key")
                }),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(keys.join(","))
}

/// Says so on stderr when the running node has no peers: the checkpoint is stored and
/// served, but nobody was told about it.
async fn note_if_alone(client: &ApiClient) {
    match client.get::<NodeInfo>("/v1/info").await {
        Ok(info) if info.connected_peers == 0 => eprintln!(
            "note: the node has no peers to announce the checkpoint to; it announces it as \
             soon as a peer connects (give bootstrap peers with `ostrom node run --bootstrap \
             MULTIADDR` or `bootstrap = [...]` in config.toml)"
        ),
        _ => {}
    }
}

/// The error body of a failure, its kind kept when the node gave one.
fn failure(error: &anyhow::Error) -> ErrorBody {
    match error.downcast_ref::<Failure>() {
        Some(Failure(body)) => body.clone(),
        None => ErrorBody::new(
            ostrom_node::ErrorKind::Other,
            ostrom_node::error_chain::describe(error.as_ref()),
        ),
    }
}

/// Publishes straight into the home's store (no node runs), hashing progress to
/// `events`; the checkpoint is announced when the node next starts.
async fn publish_in_store(
    home: &Home,
    request: PublishRequest,
    events: &mpsc::UnboundedSender<PublishEvent>,
) -> Result<PublishOutcome> {
    let store = Store::open(&home.store_dir())?;
    let key = home.publisher_key()?;
    let started = Instant::now();
    let events = events.clone();
    let published = tokio::task::spawn_blocking(move || {
        publish_reporting(&store, &key, &request, &mut |progress| {
            let _ = events.send(PublishEvent::Progress {
                progress: progress.clone(),
            });
        })
    })
    .await??;
    let publication = Publication {
        published,
        elapsed: started.elapsed(),
        announced: false,
    };
    eprintln!(
        "note: no node is running on {}; the checkpoint is stored there and will be announced when `ostrom node run` starts",
        home.root().display()
    );
    Ok(PublishOutcome::from(&publication))
}

pub async fn run(home: &Home, args: PublishArgs) -> Result<()> {
    // Absolute but with links kept: a file named by a link is published under the link's
    // name, and the publish applies the rule on links itself.
    std::fs::metadata(&args.path)
        .with_context(|| format!("cannot read {}", args.path.display()))?;
    let path = std::path::absolute(&args.path)
        .with_context(|| format!("cannot read {}", args.path.display()))?;
    let parent = args
        .parent
        .as_deref()
        .map(|p| p.parse().context("--parent"))
        .transpose()?;
    let mut metadata = parse_metadata(&args.metadata)?;
    if !args.restrict_to.is_empty() {
        metadata.insert(READERS_KEY.to_owned(), readers(home, &args.restrict_to)?);
    }
    let mut view = ProgressView::new(false, !args.json && std::io::stderr().is_terminal());
    let (events_tx, mut events) = mpsc::unbounded_channel::<PublishEvent>();
    let publishing = match ApiClient::connect(home).await {
        Some(client) => {
            let body = PublishBody {
                path: path.display().to_string(),
                name: args.name.clone(),
                tag: args.tag.clone(),
                parent: args.parent.clone(),
                metadata,
                follow_symlinks: args.follow_symlinks,
                force_tag: args.force_tag,
                progress: true,
            };
            tokio::spawn(async move {
                if let Err(error) = client.post_lines("/v1/publish", &body, &events_tx).await {
                    let _ = events_tx.send(PublishEvent::Error(failure(&error)));
                }
                note_if_alone(&client).await;
            })
        }
        None => {
            let request = PublishRequest {
                path,
                name: args.name.clone(),
                tag: args.tag.clone(),
                parent,
                metadata,
                follow_symlinks: args.follow_symlinks,
                force_tag: args.force_tag,
            };
            let home = home.clone();
            tokio::spawn(async move {
                let event = match publish_in_store(&home, request, &events_tx).await {
                    Ok(outcome) => PublishEvent::Done {
                        done: Box::new(outcome),
                    },
                    Err(error) => PublishEvent::Error(failure(&error)),
                };
                let _ = events_tx.send(event);
            })
        }
    };
    let mut result = Err(anyhow::anyhow!("the publish ended without a result"));
    while let Some(event) = events.recv().await {
        match event {
            PublishEvent::Progress { progress } => view.hashing(&progress),
            PublishEvent::Done { done } => {
                result = Ok(*done);
                break;
            }
            PublishEvent::Error(body) => {
                result = Err(Failure(body).into());
                break;
            }
        }
    }
    view.finish();
    drop(events);
    let _ = publishing.await;
    let outcome = result?;
    if args.json {
        return super::print_json(&outcome);
    }
    println!(
        "published {}{} ({} files, {}, {} chunks) in {:.2}s ({})",
        outcome.name,
        outcome
            .tag
            .as_deref()
            .map(|t| format!("@{t}"))
            .unwrap_or_default(),
        outcome.files.len(),
        format::bytes(outcome.bytes),
        outcome.chunks,
        outcome.seconds,
        format::rate(outcome.bytes, outcome.seconds),
    );
    for file in &outcome.files {
        println!("  {}  {}  {}", file.id, format::bytes(file.size), file.path);
    }
    println!("{}", outcome.id);
    Ok(())
}
