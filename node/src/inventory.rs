//! What this node holds, as the `ls` and `show` commands and the control API report it.

use ostrom_protocol::{Id, SignedManifest};

use crate::api::types::{CheckpointSummary, FileSummary};
use crate::store::{Store, StoreError};

/// The summary of one stored checkpoint.
pub fn summarize(store: &Store, signed: &SignedManifest) -> Result<CheckpointSummary, StoreError> {
    let manifest = signed.manifest();
    let held = store.held(&signed.id())?;
    Ok(CheckpointSummary {
        id: signed.id().to_string(),
        name: manifest.name.clone(),
        tag: manifest.tag.clone(),
        parent: manifest.parent.map(|p| p.to_string()),
        publisher: hex::encode(manifest.publisher),
        created_ms: manifest.created_ms,
        metadata: manifest.metadata.clone(),
        files: manifest
            .files
            .iter()
            .map(|f| FileSummary {
                path: f.path.clone(),
                size: f.size,
                id: f.id.to_string(),
                chunks: f.chunks.len(),
                tensors: f.tensors.len(),
            })
            .collect(),
        bytes: manifest.total_size(),
        chunks: manifest.chunk_count(),
        chunks_held: store.chunks_held(signed)?,
        complete: held.as_ref().is_some_and(|h| h.complete),
        published: held.as_ref().is_some_and(|h| h.published),
        root: held.map(|h| h.root),
    })
}

/// Every stored checkpoint, oldest first.
pub fn list(store: &Store) -> Result<Vec<CheckpointSummary>, StoreError> {
    let mut all = store
        .manifests()?
        .iter()
        .map(|m| summarize(store, m))
        .collect::<Result<Vec<_>, _>>()?;
    all.sort_by_key(|c| c.created_ms);
    Ok(all)
}

/// The checkpoint with id `id`, or the one holding file `id`.
pub fn show(store: &Store, id: &Id) -> Result<Option<CheckpointSummary>, StoreError> {
    match store.manifest_for(id)? {
        Some(signed) => summarize(store, &signed).map(Some),
        None => Ok(None),
    }
}
