//! Why a node operation failed, and the stable kind of each failure.

use std::net::SocketAddr;

use ostrom_protocol::Id;

use crate::bundle::BundleError;
use crate::error_kind::ErrorKind;
use crate::exchange::FetchError;
use crate::home::HomeError;
use crate::names::NameError;
use crate::network::NetworkError;
use crate::private_network::NetworkKeyError;
use crate::publish::PublishError;
use crate::statements::StatementError;
use crate::store::StoreError;
use crate::trust::TrustError;

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The home is unusable.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store directory cannot be written, or its disk is full.
    #[error(transparent)]
    Disk(#[from] crate::disk::DiskError),
    /// The network failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// Publishing failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A name could not be resolved.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The trust store is unusable.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// A retraction or rotation could not be made.
    #[error(transparent)]
    Statement(#[from] StatementError),
    /// The checkpoint is not known here.
    #[error("{0} is not a checkpoint this node knows")]
    UnknownCheckpoint(Id),
    /// The private network key is unusable.
    #[error(transparent)]
    NetworkKey(#[from] NetworkKeyError),
    /// The control API could not start.
    #[error("cannot serve the control API on {addr}: {source}")]
    Api {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The node is shutting down and stopped the operation.
    #[error("the node is shutting down; the operation was stopped (a fetch resumes where it stopped when run again)")]
    Cancelled,
    /// A blocking task died.
    #[error("internal task failed: {0}")]
    Task(String),
    /// An export or import of a bundle failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

impl NodeError {
    /// The stable, machine-readable name of this failure; a fetch's own kind for
    /// [`NodeError::Fetch`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Home(_) => ErrorKind::Home,
            Self::Store(_) | Self::Disk(_) => ErrorKind::Store,
            Self::Network(_) => ErrorKind::Network,
            Self::Publish(_) => ErrorKind::Publish,
            Self::Fetch(error) => error.kind(),
            Self::Name(_) => ErrorKind::Name,
            Self::Trust(_) => ErrorKind::TrustStore,
            Self::Statement(_) => ErrorKind::Statement,
            Self::UnknownCheckpoint(_) => ErrorKind::UnknownCheckpoint,
            Self::NetworkKey(_) => ErrorKind::NetworkKey,
            Self::Api { .. } => ErrorKind::Api,
            Self::Cancelled => ErrorKind::Cancelled,
            Self::Task(_) => ErrorKind::Internal,
            Self::Bundle(error) => error.kind(),
        }
    }
}
