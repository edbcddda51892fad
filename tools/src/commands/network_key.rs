//! `ostrom network-key new FILE`: the key of a private network.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use ostrom_node::private_network;

pub fn new(file: &Path) -> Result<()> {
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| {
            format!(
                "cannot create {} (an existing key is never overwritten)",
                file.display()
            )
        })?;
    out.write_all(private_network::generate().as_bytes())?;
    let key = private_network::load(file)?;
    println!(
        "wrote network key {} (fingerprint {}); copy it to every node and set network_key in their config.toml",
        file.display(),
        private_network::fingerprint(&key)
    );
    Ok(())
}
