//! Offline bundles: one file that carries checkpoints where no network reaches, and
//! everything needed to check them there (SPEC.md §14).
//!
//! `ostrom export ID... -o FILE` writes the checkpoints' signed manifests, the records that
//! bear on them (the publishers' key rotations and revocations, retractions, name
//! records), the publisher keys, and every chunk, less those of a checkpoint named with
//! `--exclude-held-by` (a fine-tune's bundle without its parent's chunks). `ostrom import
//! FILE` checks every signature and every byte, with no network, before the store learns
//! of anything; the node then holds the checkpoints and serves them.
//!
//! - [`format`]: the bytes: preamble, table of contents, sections, checks, limits.
//! - [`writer`]: exporting from the store, streamed.
//! - [`reader`]: reading a bundle as a stream, checking everything on the way.
//! - [`import`]: importing: trust, staging files, then the store.

pub mod format;
pub mod import;
pub mod reader;
pub mod writer;

use std::path::PathBuf;

use ostrom_protocol::Id;

pub use import::{import, ImportOutcome, ImportRequest, ImportedCheckpoint};
pub use writer::{export, ExportOutcome, ExportRequest};

use crate::error_kind::ErrorKind;
use crate::exchange::FetchError;
use crate::home::{Home, HomeError};
use crate::store::StoreError;
use crate::trust::{TrustError, TrustStore};

/// Why an export or an import failed. An import that fails leaves the store as it was and
/// removes what it staged.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundle file cannot be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Reading the bundle failed.
    #[error("cannot read the bundle: {0}")]
    Read(std::io::Error),
    /// The bundle file cannot be created.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing the bundle failed.
    #[error("cannot write the bundle: {0}")]
    Write(std::io::Error),
    /// Export would replace a file.
    #[error("{} already exists; export never replaces a file (remove it or choose another name)", .0.display())]
    Exists(PathBuf),
    /// The bundle ends early.
    #[error("the bundle is truncated: {0}; nothing was imported")]
    Truncated(String),
    /// The bundle breaks the format, or a check fails.
    #[error("not a valid bundle: {0}; nothing was imported")]
    Malformed(String),
    /// Export of a checkpoint this node does not know.
    #[error(
        "{0} is not a checkpoint this node knows (export takes checkpoint ids; fetch it first)"
    )]
    UnknownCheckpoint(Id),
    /// Export of a checkpoint this node does not hold whole.
    #[error("this node lacks {missing} chunks of {id}; fetch it whole before exporting it")]
    Incomplete {
        /// The checkpoint.
        id: Id,
        /// Chunks it lacks.
        missing: usize,
    },
    /// A chunk the store lists can no longer be read.
    #[error("chunk {id} cannot be read from where this node keeps it: {reason}")]
    ChunkUnreadable {
        /// The chunk.
        id: Id,
        /// Why.
        reason: String,
    },
    /// A manifest's signer is not trusted here.
    #[error("{id} is signed by publisher {publisher}{}, whom this node does not trust; if you do, run `ostrom trust add ALIAS {publisher}`, or import with --allow-untrusted; nothing was imported", alias.as_ref().map(|a| format!(" (called {a} by the node that exported it)")).unwrap_or_default())]
    Untrusted {
        /// The checkpoint.
        id: Id,
        /// The signer's key, hex.
        publisher: String,
        /// The exporting node's alias for the key.
        alias: Option<String>,
    },
    /// A checkpoint its publisher retracted.
    #[error("{id} was retracted by its publisher ({reason}); import with --allow-retracted to import it anyway; nothing was imported")]
    Retracted {
        /// The checkpoint.
        id: Id,
        /// The publisher's reason.
        reason: String,
    },
    /// The bundle leaves out chunks this node does not hold.
    #[error("the bundle leaves out {missing} chunks of checkpoint(s) {}, which this node does not hold; import or fetch {} first; nothing was imported", parents.join(", "), parents.join(", "))]
    MissingChunks {
        /// The checkpoints whose chunks were left out.
        parents: Vec<String>,
        /// Chunks missing here.
        missing: usize,
    },
    /// A file put together from the bundle does not hash to its id.
    #[error("{} does not match its id {id} (its manifest's chunks do not make the file); nothing was imported", path.display())]
    FileMismatch {
        /// The file.
        path: PathBuf,
        /// Its id.
        id: Id,
    },
    /// An output path is unfit (a link, a file in the way).
    #[error(transparent)]
    Output(#[from] FetchError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The trust store is unreadable.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The node home is unusable.
    #[error(transparent)]
    Home(#[from] HomeError),
}

impl BundleError {
    /// The stable, machine-readable name of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Open { .. } | Self::Read(_) | Self::Create { .. } | Self::Write(_) => {
                ErrorKind::Io
            }
            Self::Exists(_) => ErrorKind::BadRequest,
            Self::Truncated(_) | Self::Malformed(_) => ErrorKind::BadBundle,
            Self::UnknownCheckpoint(_) => ErrorKind::UnknownCheckpoint,
            Self::Incomplete { .. } | Self::ChunkUnreadable { .. } | Self::MissingChunks { .. } => {
                ErrorKind::MissingChunks
            }
            Self::Untrusted { .. } => ErrorKind::Untrusted,
            Self::Retracted { .. } => ErrorKind::Retracted,
            Self::FileMismatch { .. } => ErrorKind::FileMismatch,
            Self::Output(error) => error.kind(),
            Self::Store(_) => ErrorKind::Store,
            Self::Trust(_) => ErrorKind::TrustStore,
            Self::Home(_) => ErrorKind::Home,
        }
    }
}

/// The aliases this node's trust store gives publisher keys, for the bundles it exports
/// (its own key is given none: on another node `self` names another key).
pub fn trust_aliases(home: &Home) -> Result<impl Fn(&[u8; 32]) -> Option<String>, BundleError> {
    let trust = TrustStore::load(home)?;
    Ok(move |key: &[u8; 32]| trust.alias_of(key).map(str::to_owned))
}

#[cfg(test)]
mod tests;
