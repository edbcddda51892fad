//! Shared pieces of the end-to-end tests: a small checkpoint fixture with its file ids,
//! testnets with test time limits, and assertions that compare fetched files with the
//! originals byte for byte and id for id (BLAKE3, and `b3sum` when it is installed).
//!
//! The tests themselves live in `tests/*.rs`, one file per theme:
//! - `publish_fetch.rs`: honest publish and fetch, by checkpoint id and by file id;
//!   unknown ids; `ostrom verify`.
//! - `bad_peers.rs`: peers that corrupt blocks or forge manifests.

pub mod assertions;
pub mod fixture;

use std::time::Duration;

use ostrom_testnet::{Testnet, TestnetBuilder, Timeouts};

pub use assertions::{assert_ids_are_blake3, assert_no_original_content, assert_same_files};
pub use fixture::{small_checkpoint, Fixture, FixtureFile};

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
