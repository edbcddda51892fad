//! What this node holds: every checkpoint it knows, with how much of each it holds, as
//! the `ls` and `show` commands and the control API report it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ostrom_protocol::{Id, SignedManifest};

use crate::store::{Store, StoreError};

/// One file of a stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointFile {
    /// Path in the checkpoint.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// File id.
    pub id: Id,
    /// Number of chunks.
    pub chunks: usize,
    /// Number of tensors (safetensors files).
    pub tensors: usize,
}

/// A stored checkpoint and how much of it this node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Checkpoint id.
    pub id: Id,
    /// Model name.
    pub name: String,
    /// Tag.
    pub tag: Option<String>,
    /// Parent checkpoint id.
    pub parent: Option<Id>,
    /// Publisher key.
    pub publisher: [u8; 32],
    /// Creation time, ms since the Unix epoch.
    pub created_ms: u64,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Files.
    pub files: Vec<CheckpointFile>,
    /// Total bytes.
    pub bytes: u64,
    /// Total chunks.
    pub chunks: usize,
    /// Chunks this node holds verified bytes of.
    pub chunks_held: usize,
    /// Whether every file is held complete.
    pub complete: bool,
    /// Whether this node published it.
    pub published: bool,
    /// Where its files live on this node.
    pub root: Option<PathBuf>,
}

/// The summary of one stored checkpoint.
pub fn summarize(store: &Store, signed: &SignedManifest) -> Result<Checkpoint, StoreError> {
    let manifest = signed.manifest();
    let held = store.held(&signed.id())?;
    Ok(Checkpoint {
        id: signed.id(),
        name: manifest.name.clone(),
        tag: manifest.tag.clone(),
        parent: manifest.parent,
        publisher: manifest.publisher,
        created_ms: manifest.created_ms,
        metadata: manifest.metadata.clone(),
        files: manifest
            .files
            .iter()
            .map(|f| CheckpointFile {
                path: f.path.clone(),
                size: f.size,
                id: f.id,
                chunks: f.chunks.len(),
                tensors: f.tensors.len(),
            })
            .collect(),
        bytes: manifest.total_size(),
        chunks: manifest.chunk_count(),
        chunks_held: store.chunks_held(signed)?,
        complete: held.as_ref().is_some_and(|h| h.complete),
        published: held.as_ref().is_some_and(|h| h.published),
        root: held.map(|h| PathBuf::from(h.root)),
    })
}

/// Every stored checkpoint, oldest first.
pub fn list(store: &Store) -> Result<Vec<Checkpoint>, StoreError> {
    let mut all = store
        .manifests()?
        .iter()
        .map(|m| summarize(store, m))
        .collect::<Result<Vec<_>, _>>()?;
    all.sort_by_key(|c| c.created_ms);
    Ok(all)
}

/// The checkpoint with id `id`, or the one holding file `id`.
pub fn show(store: &Store, id: &Id) -> Result<Option<Checkpoint>, StoreError> {
    match store.manifest_for(id)? {
        Some(signed) => summarize(store, &signed).map(Some),
        None => Ok(None),
    }
}
