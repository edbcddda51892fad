//! Names through the node: resolving `ALIAS/MODEL[@TAG]` to a checkpoint id, and a
//! model's lineage following parents.

use std::collections::{BTreeMap, HashSet};

use ostrom_protocol::rotation::follow_rotations;
use ostrom_protocol::Id;

use super::{Node, NodeError};
use crate::names::{self, NameRef};
use crate::statements;
use crate::trust::TrustStore;

/// Most checkpoints `log` follows back through parents.
pub const MAX_LINEAGE: usize = 10_000;

/// A name resolved to a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedName {
    /// The reference resolved.
    pub reference: NameRef,
    /// The checkpoint it names.
    pub id: Id,
    /// The publisher key (the newest, after following trusted rotations).
    pub publisher: [u8; 32],
    /// The model name.
    pub model: String,
    /// The name record's sequence number.
    pub seq: u64,
    /// Every tag of the model and the checkpoint it names.
    pub tags: BTreeMap<String, Id>,
}

/// One checkpoint in a model's lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageEntry {
    /// Checkpoint id.
    pub id: Id,
    /// The tag in its manifest.
    pub tag: Option<String>,
    /// Every tag of the name record that names it.
    pub tags: Vec<String>,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: u64,
    /// Total bytes.
    pub bytes: u64,
    /// Number of files.
    pub files: usize,
    /// Its parent, if any.
    pub parent: Option<Id>,
}

impl Node {
    /// Resolves `ALIAS/MODEL[@TAG]` to a checkpoint id through the DHT.
    pub async fn resolve(&self, reference: &NameRef) -> Result<ResolvedName, NodeError> {
        let trust = TrustStore::load(&self.inner.home)?;
        let own = self.inner.publisher.verifying_key().to_bytes();
        let trusted = names::publisher_of(reference, &trust, &own)?;
        // Right after start, the DHT is asked once a peer is there to answer; a node with
        // no peer at all resolves from the records it holds.
        super::peers::wait_for_first_peer(&self.inner.network, self.inner.has_bootstrap).await;
        // The alias's entry, with its recovery key when it names one, so that a revoked key
        // is not followed.
        let root = trust
            .root_of(&reference.alias)
            .filter(|root| root.key == trusted)
            .unwrap_or_else(|| trusted.into());
        // A publisher that rotated its key names its models under the newest key.
        let rotations =
            statements::rotations_from(&self.inner.store, &self.inner.network, root).await;
        let publisher = follow_rotations(root, &rotations);
        let record = names::resolve_record(
            &self.inner.store,
            &self.inner.network,
            publisher,
            &reference.model,
        )
        .await?;
        let id = names::pick(&record, reference.tag.as_deref())?;
        Ok(ResolvedName {
            reference: reference.clone(),
            id,
            publisher,
            model: reference.model.clone(),
            seq: record.body().seq,
            tags: record.body().tags.clone(),
        })
    }

    /// The lineage of a model: the checkpoint `reference` names, then its parent, and so
    /// on, as far as manifests can be found (at most [`MAX_LINEAGE`]).
    pub async fn log(&self, reference: &NameRef) -> Result<Vec<LineageEntry>, NodeError> {
        let resolved = self.resolve(reference).await?;
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(resolved.id);
        while let Some(id) = next {
            if !seen.insert(id) || entries.len() >= MAX_LINEAGE {
                break;
            }
            let signed = match self.inner.fetcher.manifest(id, self.fetch_timeout()).await {
                Ok(signed) => signed,
                Err(error) if !entries.is_empty() => {
                    tracing::warn!(%id, %error, "lineage ends: parent manifest not found");
                    break;
                }
                Err(error) => return Err(error.into()),
            };
            let manifest = signed.manifest();
            entries.push(LineageEntry {
                id,
                tag: manifest.tag.clone(),
                tags: resolved
                    .tags
                    .iter()
                    .filter(|(_, target)| **target == id)
                    .map(|(tag, _)| tag.clone())
                    .collect(),
                created_ms: manifest.created_ms,
                bytes: manifest.total_size(),
                files: manifest.files.len(),
                parent: manifest.parent,
            });
            next = manifest.parent;
        }
        Ok(entries)
    }
}
