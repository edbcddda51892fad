//! `ostrom status`: the running node's peers, DHT health, store and fetches under way.

use anyhow::{bail, Result};
use ostrom_node::status::StatusReport;
use ostrom_node::Home;

use crate::client::ApiClient;
use crate::format;

pub async fn run(home: &Home, json: bool) -> Result<()> {
    let Some(client) = ApiClient::connect(home).await else {
        bail!(
            "no node is running on {}; start one with `ostrom node run`",
            home.root().display()
        );
    };
    let status: StatusReport = client.get("/v1/status").await?;
    if json {
        return super::print_json(&status);
    }
    print!("{}", text(&status));
    Ok(())
}

/// The report for people, one topic a line.
fn text(status: &StatusReport) -> String {
    let mut out = format!(
        "node       {} (ostrom {}, up {})\n",
        status.peer_id,
        status.version,
        humantime_secs(status.uptime_seconds)
    );
    let labs: Vec<String> = status
        .peers
        .by_lab
        .iter()
        .map(|(lab, n)| format!("{lab}: {n}"))
        .collect();
    out += &format!(
        "peers      {}{}\n",
        status.peers.connected,
        if labs.is_empty() {
            String::new()
        } else {
            format!(" ({})", labs.join(", "))
        }
    );
    let dht = &status.dht;
    let signed: usize = dht.stats.signed_records.values().sum();
    let names = dht.stats.signed_records.get("name").copied().unwrap_or(0);
    out += &format!(
        "dht        {}: {} peers in the routing table, {} provider records ({} own), {} signed records ({} names)\n",
        dht.health,
        dht.stats.routing_table_peers,
        dht.stats.peer_provider_records + dht.stats.own_provider_records,
        dht.stats.own_provider_records,
        signed,
        names,
    );
    let store = &status.store;
    out += &format!(
        "store      {} checkpoints complete ({}), {} partial, in {}\n",
        store.complete,
        format::bytes(store.bytes),
        store.partial,
        store.dir
    );
    let failed: u64 = status.transfers.failed.values().sum();
    out += &format!(
        "fetches    {} under way, {} completed, {} failed\n",
        status.transfers.active.len(),
        status.transfers.completed,
        failed
    );
    for fetch in &status.transfers.active {
        out += &format!(
            "  {}  {}/{}  {}/s  {}  {:.0}s\n",
            fetch.id,
            format::bytes(fetch.bytes_done),
            format::bytes(fetch.bytes_total),
            format::bytes(fetch.rate as u64),
            crate::progress::peers(fetch.holders),
            fetch.seconds
        );
    }
    out += &format!(
        "traffic    {} sent ({} chunks served), {} received\n",
        format::bytes(status.traffic.uploaded),
        status.traffic.chunks_served,
        format::bytes(status.traffic.downloaded)
    );
    out
}

/// Seconds as "3h 2m 1s".
fn humantime_secs(seconds: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds)).to_string()
}
