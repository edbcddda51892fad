//! Shared pieces of the end-to-end tests: a small checkpoint fixture with its file ids,
//! testnets with test time limits, and assertions that compare fetched files with the
//! originals byte for byte and id for id (BLAKE3, and `b3sum` when it is installed).
//!
//! The tests themselves live in `tests/*.rs`, one file per theme:
//! - `publish_fetch.rs`: honest publish and fetch, by checkpoint id and by file id;
//!   unknown ids; `ostrom verify`.
//! - `bad_peers.rs`: peers that corrupt blocks or forge manifests.
//! - `restart.rs`: nodes that stop and start again.
//! - `swarm.rs`: fetching from several holders at once, partial holders, rate limits,
//!   and holders that corrupt blocks, lie about what they hold or stall.
//! - `resume.rs`: a fetch whose node is killed resumes without fetching again what it
//!   already verified.
//! - `fetch_output.rs`: links under the output directory are refused, other files are
//!   kept or refused (`--force` replaces them), and `-o` defaults to ./NAME.
//! - `shutdown.rs`: a node stopped with SIGTERM mid-transfer exits promptly, and its
//!   interrupted fetch resumes after a restart.
//! - `closed_stdout.rs`: a command whose stdout is closed early exits quietly.
//! - `temporary_node.rs`: a fetch through a temporary node (no node running on the home)
//!   leaves no holder record behind.
//! - `no_peers.rs`: a fetch on a node with no peers fails at once with kind `no_peers`.
//! - `bootstrap_retry.rs`: a node whose bootstrap peer was down joins it once it is up.
//! - `port_in_use.rs`: a second node on a TCP port another node listens on is refused.
//! - `subsets.rs`: `fetch --tensors` moves only the header and the selected tensors, and
//!   writes a safetensors file that the `safetensors` library loads.
//! - `bundles.rs`: `export` and `import` of offline bundles, and bad bundles refused with
//!   nothing imported.
//! - `metrics_status.rs`: the metrics endpoint, parsed as Prometheus text, and `ostrom
//!   status` count a real transfer; a metrics port taken stops a node at start.
//! - `store_dir.rs`: a read-only or full store directory stops a node at start.
//! - `config_layers.rs`: environment variables and flags over config.toml, `ostrom config
//!   show`, and errors naming the key and line.
//!
//! [`streamed`] runs a fetch in the background and reads its progress as it arrives;
//! [`python`] makes a virtualenv for checks with Python libraries.

pub mod assertions;
pub mod fixture;
pub mod python;
pub mod scrape;
pub mod streamed;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use ostrom_testnet::{Testnet, TestnetBuilder, Timeouts};

pub use assertions::{
    assert_ids_are_blake3, assert_no_original_content, assert_resumed, assert_same_files,
};
pub use fixture::{
    checkpoint_of_size, checkpoint_with_seed, small_checkpoint, Fixture, FixtureFile,
};
pub use streamed::{FetchEnd, Progress, StreamedFetch};

/// A testnet builder with `nodes` nodes and time limits fit for tests.
pub fn testnet(nodes: usize) -> TestnetBuilder {
    Testnet::builder().nodes(nodes).timeouts(Timeouts {
        ready: Duration::from_secs(60),
        command: Duration::from_secs(120),
        stop: Duration::from_secs(10),
    })
}

/// A random 64-hex id that names nothing.
pub fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `text` contains any of `needles`, ignoring ASCII case.
pub fn mentions_any(text: &str, needles: &[&str]) -> bool {
    let text = text.to_ascii_lowercase();
    needles
        .iter()
        .any(|n| text.contains(&n.to_ascii_lowercase()))
}

/// Whether `id` is 64 lowercase hex characters.
pub fn is_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A count in `show --json` output that may be a number or a list.
pub fn count(value: &serde_json::Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_array().map(|a| a.len() as u64))
}

/// Sets `key = value` (`value` as TOML, e.g. `"3s"` with its quotes) in the node home's
/// `config.toml`, replacing the line that sets `key` (commented out or not) or appending
/// one. The node reads it when it next starts.
pub fn set_config(home: &Path, key: &str, value: &str) -> anyhow::Result<()> {
    let path = home.join("config.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let setting = format!("{key} = {value}");
    let sets_key = |line: &str| {
        let line = line.trim_start().trim_start_matches('#').trim_start();
        line.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let mut found = false;
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            if !found && sets_key(line) {
                found = true;
                setting.clone()
            } else {
                line.to_owned()
            }
        })
        .collect();
    if !found {
        lines.push(setting);
    }
    let mut new_text = lines.join("\n");
    new_text.push('\n');
    std::fs::write(&path, new_text).with_context(|| format!("writing {}", path.display()))
}
