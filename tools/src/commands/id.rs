//! `ostrom id`: the node's peer id and listen addresses.

use anyhow::Result;
use ostrom_node::api::types::NodeInfo;
use ostrom_node::node::Status;
use ostrom_node::Home;

use crate::client::ApiClient;

pub async fn run(home: &Home, json: bool) -> Result<()> {
    let info = match ApiClient::connect(home).await {
        Some(client) => client.get::<NodeInfo>("/v1/info").await?,
        None => {
            if !json {
                eprintln!(
                    "note: no node is running on {}; listen addresses are known only while it runs",
                    home.root().display()
                );
            }
            NodeInfo::from(&Status::of_home(home)?)
        }
    };
    if json {
        return super::print_json(&info);
    }
    println!("{}", info.peer_id);
    for addr in &info.addrs {
        println!("{addr}");
    }
    Ok(())
}
