//! `ostrom network-key new FILE`: the key of a private network.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use ostrom_node::private_network;

pub fn new(file: &Path) -> Result<()> {
    let mut out = super::create_key_file(file)?;
    out.write_all(private_network::generate().as_bytes())?;
    let key = private_network::load(file)?;
    println!(
        "wrote network key {} (fingerprint {}); copy it to every node and set network_key in their config.toml",
        file.display(),
        private_network::fingerprint(&key)
    );
    Ok(())
}
