//! Ostrom's data model and wire formats, with no networking or async runtime in it.
//!
//! Everything two Ostrom nodes must agree on lives here, and SPEC.md describes the same
//! things byte by byte:
//!
//! - [`id`]: BLAKE3 ids of chunks, files and checkpoints, and their one text form.
//! - [`chunking`]: how a file is cut into chunks (safetensors at tensor boundaries, other
//!   files into fixed-size pieces), hashed in one streaming pass.
//! - [`manifest`]: the signed checkpoint manifest (v1): what it holds, its canonical
//!   encoding, signing and verification over the exact bytes.
//! - [`envelope`]: the signed byte envelope (magic, version, body, ed25519 signature) that
//!   manifests and later records share.
//! - [`wire`]: the exchange protocol's messages and their framing limits.
//! - [`dht`]: the DHT protocol name and record keys.
//! - [`path`]: safe relative paths inside a manifest.
//! - [`limits`]: every size limit in one place.
//!
//! # Layout
//!
//! Each module owns one format and its error type; nothing here does I/O except
//! [`chunking`], which reads the file it is asked to chunk.

pub mod chunking;
pub mod dht;
pub mod envelope;
pub mod id;
pub mod limits;
pub mod manifest;
pub mod path;
pub mod wire;

pub use id::Id;
pub use manifest::{FileEntry, Manifest, SignedManifest, TensorEntry};
