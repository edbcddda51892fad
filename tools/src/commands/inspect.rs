//! `ostrom ls` and `ostrom show`: what the node holds, from the running node or straight
//! from the store.

use anyhow::{bail, Result};
use ostrom_node::api::types::CheckpointSummary;
use ostrom_node::store::Store;
use ostrom_node::{inventory, Home};
use ostrom_protocol::Id;

use crate::cli::ShowArgs;
use crate::client::ApiClient;
use crate::format;

pub async fn list(home: &Home, json: bool) -> Result<()> {
    let all: Vec<CheckpointSummary> = match ApiClient::connect(home).await {
        Some(client) => client.get("/v1/checkpoints").await?,
        None => inventory::list(&Store::open(&home.store_dir())?)?
            .iter()
            .map(CheckpointSummary::from)
            .collect(),
    };
    if json {
        return super::print_json(&all);
    }
    if all.is_empty() {
        println!("no checkpoints yet: publish one with `ostrom publish PATH --name NAME`");
    }
    for c in &all {
        let state = if c.complete {
            "complete".to_owned()
        } else {
            format!("{}/{} chunks", c.chunks_held, c.chunks)
        };
        println!(
            "{}  {}{}  {}  {} files  {}",
            c.id,
            c.name,
            c.tag
                .as_deref()
                .map(|t| format!("@{t}"))
                .unwrap_or_default(),
            format::bytes(c.bytes),
            c.files.len(),
            state
        );
    }
    Ok(())
}

pub async fn show(home: &Home, args: ShowArgs) -> Result<()> {
    let id: Id = args.id.parse()?;
    let summary: CheckpointSummary = match ApiClient::connect(home).await {
        Some(client) => client.get(&format!("/v1/checkpoints/{id}")).await?,
        None => match inventory::show(&Store::open(&home.store_dir())?, &id)? {
            Some(checkpoint) => CheckpointSummary::from(&checkpoint),
            None => bail!("{id} is not a checkpoint or file this node knows; fetch it first"),
        },
    };
    if args.json {
        return super::print_json(&summary);
    }
    println!("checkpoint {}", summary.id);
    println!("name       {}", summary.name);
    if let Some(tag) = &summary.tag {
        println!("tag        {tag}");
    }
    if let Some(parent) = &summary.parent {
        println!("parent     {parent}");
    }
    println!("publisher  {}", summary.publisher);
    println!("created    {}", format::time(summary.created_ms));
    for (key, value) in &summary.metadata {
        println!("meta       {key} = {value}");
    }
    println!(
        "size       {} in {} chunks; {} held{}",
        format::bytes(summary.bytes),
        summary.chunks,
        summary.chunks_held,
        if summary.complete { " (complete)" } else { "" }
    );
    if let Some(root) = &summary.root {
        println!("stored in  {root}");
    }
    for file in &summary.files {
        println!("  {}  {}  {}", file.id, format::bytes(file.size), file.path);
    }
    Ok(())
}
