//! `ostrom init`: create a node home.

use anyhow::Result;
use ostrom_node::Home;

pub fn run(home: &Home) -> Result<()> {
    let report = home.init()?;
    let key = home.publisher_key()?;
    let peer = home.node_keypair()?.public().to_peer_id();
    if report.already_initialized {
        println!(
            "{} is already a node home; nothing changed",
            home.root().display()
        );
    } else {
        println!("created node home {}", home.root().display());
    }
    println!("peer id:       {peer}");
    println!(
        "publisher key: {}",
        hex::encode(key.verifying_key().to_bytes())
    );
    println!("config:        {}", home.config_path().display());
    Ok(())
}
