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
//!   manifests and records share.
//! - [`signed`]: signing and reading the small signed statements below, one way for all.
//! - [`name_record`]: (publisher, model name) → latest checkpoint and tags, with a sequence
//!   number that only grows.
//! - [`vouch`]: a lab's statement that a node's peer id belongs to it, for a bounded time.
//! - [`retraction`]: a publisher's statement that one of its checkpoints is withdrawn.
//! - [`rotation`]: a publisher key replaced by a new one.
//! - [`revocation`]: a publisher key revoked by the lab's offline recovery key, with the key
//!   that takes its place.
//! - [`chain`]: which keys a trust store entry covers, and when, through its rotations and
//!   revocations.
//! - [`trust`]: the text form of publisher keys and the checks a key must pass.
//! - [`wire`]: the exchange protocol's messages and their framing limits.
//! - [`frame`]: cutting a byte stream into frames within a limit, without doing the I/O.
//! - [`dht`]: the DHT protocol name and record keys.
//! - [`safetensors_header`]: whether a safetensors file can be published: the library's
//!   parse, then the manifest's limits.
//! - [`path`]: safe relative paths inside a manifest.
//! - [`limits`]: every size limit in one place.
//! - [`fuzz_checks`]: what the fuzz targets check of each decoder, shared with the tests
//!   that replay their corpora.
//!
//! # Layout
//!
//! Each module owns one format and its error type (the signed statements share
//! [`signed::RecordError`]); nothing here does I/O except
//! [`chunking`], which reads the file it is asked to chunk.

mod bounded;
pub mod chain;
pub mod chunking;
pub mod dht;
pub mod envelope;
pub mod frame;
pub mod fuzz_checks;
pub mod id;
pub mod limits;
pub mod manifest;
pub mod name_record;
pub mod path;
pub mod retraction;
pub mod revocation;
pub mod rotation;
pub mod safetensors_header;
pub mod signed;
pub mod trust;
pub mod vouch;
pub mod wire;

pub use id::Id;
pub use manifest::{FileEntry, Manifest, SignedManifest, TensorEntry};
