//! Mutual trust inside a testnet: every node trusts every node's publisher key, as labs of
//! one consortium do, so a fetch accepts any testnet node's manifests. Each home gets a
//! `trust.toml` (the node's documented trust store format) naming every node `node-I`.

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::node::Node;

/// Writes a trust store naming every node's publisher key into every node's home.
pub(crate) fn trust_each_other(nodes: &[Node]) -> Result<()> {
    let mut store =
        String::from("# Every node of this testnet trusts every other.\n[publishers]\n");
    for node in nodes {
        let key = node.publisher_key()?;
        let _ = writeln!(store, "node-{} = \"{key}\"", node.index());
    }
    for node in nodes {
        let path = node.home().join("trust.toml");
        std::fs::write(&path, &store)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}
