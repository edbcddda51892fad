//! `ostrom traffic`: block bytes the running node exchanged with each peer.

use anyhow::{bail, Result};
use ostrom_node::api::types::TrafficInfo;
use ostrom_node::Home;

use crate::client::ApiClient;

pub async fn run(home: &Home, json: bool) -> Result<()> {
    let Some(client) = ApiClient::connect(home).await else {
        bail!(
            "no node is running on {}; traffic is counted by a running node (`ostrom node run`)",
            home.root().display()
        );
    };
    let traffic: TrafficInfo = client.get("/v1/traffic").await?;
    if json {
        return super::print_json(&traffic);
    }
    let size = |bytes: u64| bytesize::ByteSize(bytes).display().iec().to_string();
    println!("{:<54} {:>12} {:>12}", "peer", "sent", "received");
    for peer in &traffic.peers {
        println!(
            "{:<54} {:>12} {:>12}",
            peer.peer,
            size(peer.uploaded),
            size(peer.downloaded)
        );
    }
    println!(
        "{:<54} {:>12} {:>12}",
        "total",
        size(traffic.uploaded),
        size(traffic.downloaded)
    );
    let streams = &traffic.streams;
    println!(
        "exchange streams: {} accepted, {} opened, {} failed to open ({} refused by the peer)",
        streams.inbound_accepted,
        streams.outbound_opened,
        streams.outbound_failed,
        streams.outbound_refused
    );
    Ok(())
}
