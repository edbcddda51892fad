//! The checks the fuzz targets run, one per decoder, in one place: the cargo-fuzz targets in
//! `fuzz/` call them on every input, and the protocol crate's tests replay the seed corpus
//! and every input that once failed (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`)
//! through the same functions.
//!
//! Each check feeds arbitrary bytes to a decoder and panics when the decoder panics or
//! breaks a property it promises: an accepted object re-encodes and decodes to the same
//! value, stays within the limits of [`crate::limits`], and agrees with every other way the
//! crate has of reading the same bytes. A check returns normally for input that is refused
//! cleanly.
//!
//! Signatures cannot be forged by a fuzzer, so the checks of signed objects read the input
//! in one of two ways, chosen by the first byte: as the whole signed bytes, or as a body
//! that the check seals in an envelope signed with [`fuzz_key`]. A body naming that key as
//! its signer gets past the signature, and the check asserts that it does.

use std::sync::OnceLock;

use ed25519_dalek::SigningKey;

mod chain;
mod exchange;
mod header;
mod signed;
mod text;

pub use chain::chain;
pub use exchange::{frames, wire};
pub use header::safetensors_header;
pub use signed::{envelope, manifest, name_record, retraction, revocation, rotation, vouch};
pub use text::{dht_keys, key_text};

/// One fuzz target: its name (the name of its file in `fuzz/fuzz_targets/` and of its
/// corpus directories) and its check.
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// The check it runs on every input.
    pub check: fn(&[u8]),
}

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "manifest",
        check: manifest,
    },
    Target {
        name: "name_record",
        check: name_record,
    },
    Target {
        name: "vouch",
        check: vouch,
    },
    Target {
        name: "retraction",
        check: retraction,
    },
    Target {
        name: "rotation",
        check: rotation,
    },
    Target {
        name: "revocation",
        check: revocation,
    },
    Target {
        name: "envelope",
        check: envelope,
    },
    Target {
        name: "chain",
        check: chain,
    },
    Target {
        name: "key_text",
        check: key_text,
    },
    Target {
        name: "dht_keys",
        check: dht_keys,
    },
    Target {
        name: "wire",
        check: wire,
    },
    Target {
        name: "frames",
        check: frames,
    },
    Target {
        name: "safetensors_header",
        check: safetensors_header,
    },
];

/// The check of the target named `name`.
pub fn check(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|t| t.name == name).map(|t| t.check)
}

/// The key the checks seal bodies with; seeds of signed objects name it as their signer.
pub fn fuzz_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_bytes(&[0x5a; 32]))
}

/// The first byte of a signed object's input: read the rest as the whole signed bytes.
pub const AS_SIGNED_BYTES: u8 = 0;
/// The first byte of a signed object's input: seal the rest as a body with [`fuzz_key`].
pub const AS_BODY: u8 = 1;
