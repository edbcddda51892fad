//! `ostrom lab vouch|join|ls`: lab membership through signed vouches.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use ostrom_node::membership;
use ostrom_node::{Home, PeerId};
use ostrom_protocol::trust::format_public_key;
use serde::Serialize;

pub fn vouch(home: &Home, peer_id: &str, days: u64) -> Result<()> {
    let peer: PeerId = peer_id.parse().with_context(|| {
        format!("{peer_id:?} is not a peer id (`ostrom id` on that node prints it)")
    })?;
    if days == 0 || days > 400 {
        bail!("--days must be 1 to 400");
    }
    let vouch = membership::vouch_for(
        &home.publisher_key()?,
        &peer,
        Duration::from_secs(days * 24 * 3600),
    )?;
    eprintln!(
        "vouch for {peer} by lab {} for {days} days; on that node run: ostrom lab join <this text>",
        format_public_key(vouch.lab())
    );
    println!("{}", hex::encode(vouch.bytes()));
    Ok(())
}

pub fn join(home: &Home, text: &str) -> Result<()> {
    let own = home.node_keypair()?.public().to_peer_id();
    let vouch = membership::join(home, text, &own)?;
    println!(
        "this node is now vouched for by lab {}",
        format_public_key(vouch.lab())
    );
    Ok(())
}

#[derive(Serialize)]
struct HeldVouch {
    lab: String,
    expires_ms: u64,
}

pub fn list(home: &Home, json: bool) -> Result<()> {
    let own = home.node_keypair()?.public().to_peer_id();
    let held: Vec<HeldVouch> = membership::held(home, &own)
        .iter()
        .map(|v| HeldVouch {
            lab: format_public_key(v.lab()),
            expires_ms: v.body().expires_ms,
        })
        .collect();
    if json {
        return super::print_json(&held);
    }
    if held.is_empty() {
        println!("no vouches: this node belongs to its own lab only (`ostrom lab join` adds one)");
    }
    for vouch in &held {
        println!(
            "{}  until {}",
            vouch.lab,
            crate::format::time(vouch.expires_ms)
        );
    }
    Ok(())
}
