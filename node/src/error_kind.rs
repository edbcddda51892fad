//! Stable, machine-readable names for why an operation failed. The control API puts one in
//! every error body and `ostrom fetch --json` prints one with every failure, so scripts
//! and tests can tell failures apart without reading messages meant for people.

use std::fmt;

/// Why an operation failed, as a stable snake_case name ([`ErrorKind::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The node has no peers at all: no bootstrap peer is configured, or none answered.
    NoPeers,
    /// No holder of the id was found in the DHT in time.
    NoHolders,
    /// Holders were found, but none sent a manifest that verified (forged, damaged, or a
    /// file id that names no checkpoint).
    NoValidManifest,
    /// Every holder was dropped (bad blocks, stalls, refusals) or lacked chunks still
    /// missing.
    HoldersExhausted,
    /// Holders were found, but no new chunk verified for the fetch timeout.
    NoProgress,
    /// The manifest's publisher is not trusted here.
    Untrusted,
    /// The publisher retracted the checkpoint.
    Retracted,
    /// A written file did not hash to its id (or, in a subset fetch, a file's header
    /// disagreed with its manifest).
    FileMismatch,
    /// A subset fetch's `--tensors` patterns match no tensor.
    NoMatchingTensors,
    /// A bundle breaks its format or fails a check (damaged, truncated, altered).
    BadBundle,
    /// Chunks an export or import needs are not held here.
    MissingChunks,
    /// A file could not be read or written.
    Io,
    /// The store failed.
    Store,
    /// The network failed.
    Network,
    /// A stored manifest is damaged.
    DamagedManifest,
    /// The trust store is unreadable.
    TrustStore,
    /// The node home is unusable.
    Home,
    /// Publishing failed.
    Publish,
    /// A name could not be resolved.
    Name,
    /// A retraction or key rotation could not be made.
    Statement,
    /// The checkpoint is not known to this node.
    UnknownCheckpoint,
    /// The private network key is unusable.
    NetworkKey,
    /// The control API could not start.
    Api,
    /// The node is shutting down; the operation was stopped.
    Cancelled,
    /// A request was malformed.
    BadRequest,
    /// A call that needs the API token came without it, or with a wrong one.
    Unauthorized,
    /// A request to the control API that did not come from a local program: a `Host`
    /// other than the API's loopback address, or a browser's `Origin`.
    Forbidden,
    /// The thing asked for is not known here.
    NotFound,
    /// The running node stopped answering.
    NodeUnreachable,
    /// An internal task failed.
    Internal,
    /// None of the above.
    Other,
}

impl ErrorKind {
    /// The kind's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoPeers => "no_peers",
            Self::NoHolders => "no_holders",
            Self::NoValidManifest => "no_valid_manifest",
            Self::HoldersExhausted => "holders_exhausted",
            Self::NoProgress => "no_progress",
            Self::Untrusted => "untrusted",
            Self::Retracted => "retracted",
            Self::FileMismatch => "file_mismatch",
            Self::NoMatchingTensors => "no_matching_tensors",
            Self::BadBundle => "bad_bundle",
            Self::MissingChunks => "missing_chunks",
            Self::Io => "io",
            Self::Store => "store",
            Self::Network => "network",
            Self::DamagedManifest => "damaged_manifest",
            Self::TrustStore => "trust_store",
            Self::Home => "home",
            Self::Publish => "publish",
            Self::Name => "name",
            Self::Statement => "statement",
            Self::UnknownCheckpoint => "unknown_checkpoint",
            Self::NetworkKey => "network_key",
            Self::Api => "api",
            Self::Cancelled => "cancelled",
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::NodeUnreachable => "node_unreachable",
            Self::Internal => "internal",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
