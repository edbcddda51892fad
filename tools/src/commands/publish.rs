//! `ostrom publish`: through the running node, or straight into the store when none runs
//! (the checkpoint is then announced when the node next starts).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ostrom_node::api::types::{NodeInfo, PublishBody, PublishOutcome};
use ostrom_node::node::Publication;
use ostrom_node::publish::{publish, PublishRequest};
use ostrom_node::store::Store;
use ostrom_node::trust::TrustStore;
use ostrom_node::Home;
use ostrom_protocol::manifest::READERS_KEY;
use ostrom_protocol::trust::{format_public_key, parse_public_key};

use crate::cli::PublishArgs;
use crate::client::ApiClient;
use crate::format;

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
    let outcome: PublishOutcome = match ApiClient::connect(home).await {
        Some(client) => {
            let body = PublishBody {
                path: path.display().to_string(),
                name: args.name,
                tag: args.tag,
                parent: args.parent,
                metadata,
                follow_symlinks: args.follow_symlinks,
                force_tag: args.force_tag,
            };
            let outcome: PublishOutcome = client.post("/v1/publish", &body).await?;
            note_if_alone(&client).await;
            outcome
        }
        None => {
            let store = Store::open(&home.store_dir())?;
            let key = home.publisher_key()?;
            let request = PublishRequest {
                path,
                name: args.name,
                tag: args.tag,
                parent,
                metadata,
                follow_symlinks: args.follow_symlinks,
                force_tag: args.force_tag,
            };
            let started = Instant::now();
            let published =
                tokio::task::spawn_blocking(move || publish(&store, &key, &request)).await??;
            let publication = Publication {
                published,
                elapsed: started.elapsed(),
                announced: false,
            };
            eprintln!(
                "note: no node is running on {}; the checkpoint is stored there and will be announced when `ostrom node run` starts",
                home.root().display()
            );
            PublishOutcome::from(&publication)
        }
    };
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
