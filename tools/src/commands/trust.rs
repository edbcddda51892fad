//! `ostrom key` and `ostrom trust add|ls|rm`: this node's publisher key, and the publishers
//! whose manifests it accepts, each with its lab's recovery key if it has one.

use anyhow::Result;
use ostrom_node::trust::TrustStore;
use ostrom_node::Home;
use ostrom_protocol::trust::format_public_key;
use serde::Serialize;

/// Prints the publisher key on stdout and, when this lab has one, its recovery key on
/// stderr (stdout stays the one key other tools read).
pub fn key(home: &Home, json: bool) -> Result<()> {
    let publisher = format_public_key(&home.publisher_key()?.verifying_key().to_bytes());
    let recovery = super::recovery::recorded(home)?.map(|key| format_public_key(&key));
    if json {
        return super::print_json(&serde_json::json!({
            "publisher_key": publisher,
            "recovery_key": recovery,
        }));
    }
    println!("{publisher}");
    if let Some(recovery) = recovery {
        eprintln!("recovery key {recovery}");
    }
    Ok(())
}

pub fn add(home: &Home, alias: &str, pubkey: &str, recovery: Option<&str>) -> Result<()> {
    let mut store = TrustStore::load(home)?;
    store.add(alias, pubkey, recovery)?;
    store.save()?;
    match recovery {
        Some(recovery) => println!("trusting {alias} = {pubkey} (recovery key {recovery})"),
        None => println!("trusting {alias} = {pubkey}"),
    }
    Ok(())
}

pub fn remove(home: &Home, alias: &str) -> Result<()> {
    let mut store = TrustStore::load(home)?;
    let root = store.remove(alias)?;
    store.save()?;
    println!(
        "no longer trusting {alias} = {}",
        format_public_key(&root.key)
    );
    Ok(())
}

#[derive(Serialize)]
struct TrustedPublisher {
    alias: String,
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery: Option<String>,
}

pub fn list(home: &Home, json: bool) -> Result<()> {
    let store = TrustStore::load(home)?;
    let all: Vec<TrustedPublisher> = store
        .entries()
        .map(|(alias, root)| TrustedPublisher {
            alias: alias.to_owned(),
            key: format_public_key(&root.key),
            recovery: root.recovery.as_ref().map(format_public_key),
        })
        .collect();
    if json {
        return super::print_json(&all);
    }
    if all.is_empty() {
        println!("no trusted publishers yet: `ostrom trust add ALIAS PUBKEY` (their `ostrom key`)");
    }
    for publisher in &all {
        match &publisher.recovery {
            Some(recovery) => println!(
                "{}  {}  (recovery key {recovery})",
                publisher.key, publisher.alias
            ),
            None => println!("{}  {}", publisher.key, publisher.alias),
        }
    }
    Ok(())
}
