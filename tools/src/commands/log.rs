//! `ostrom log ALIAS/MODEL`: a model's checkpoints, newest first, following parents.

use anyhow::Result;
use ostrom_node::api::types::{LogEntry, ResolveBody};
use ostrom_node::names::NameRef;
use ostrom_node::{Home, Node, NodeOptions};

use crate::cli::LogArgs;
use crate::client::ApiClient;
use crate::format;

pub async fn run(home: &Home, args: LogArgs) -> Result<()> {
    let reference: NameRef = args.reference.parse()?;
    let entries: Vec<LogEntry> = match ApiClient::connect(home).await {
        Some(client) => {
            client
                .post(
                    "/v1/log",
                    &ResolveBody {
                        reference: reference.to_string(),
                    },
                )
                .await?
        }
        None => {
            let node = Node::start(home.clone(), NodeOptions::temporary(vec![])).await?;
            let entries = node.log(&reference).await;
            node.shutdown().await;
            entries?.iter().map(LogEntry::from).collect()
        }
    };
    if args.json {
        return super::print_json(&entries);
    }
    for entry in &entries {
        let mut tags = entry.tags.clone();
        if let Some(tag) = &entry.tag {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        println!(
            "{}  {}  {}  {} files  {}{}",
            entry.id,
            if tags.is_empty() {
                "-".to_owned()
            } else {
                tags.join(",")
            },
            format::bytes(entry.bytes),
            entry.files,
            format::time(entry.created_ms),
            entry
                .parent
                .as_deref()
                .map(|p| format!("  parent {}", &p[..16]))
                .unwrap_or_default()
        );
    }
    Ok(())
}
