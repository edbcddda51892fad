//! Exporting and importing offline bundles through the running node: the work runs on a
//! blocking thread against the node's store, and an import is announced at once, its
//! records stored in the DHT, so the node serves what it imported straight away.

use super::{Node, NodeError};
use crate::bundle::{self, ExportOutcome, ExportRequest, ImportOutcome, ImportRequest};

impl Node {
    /// Writes the bundle `request` asks for from this node's store.
    pub async fn export(&self, request: ExportRequest) -> Result<ExportOutcome, NodeError> {
        let store = self.inner.store.clone();
        let aliases = bundle::trust_aliases(&self.inner.home)?;
        tokio::task::spawn_blocking(move || bundle::export(&store, &request, &aliases))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))?
            .map_err(NodeError::from)
    }

    /// Imports a bundle into this node's store, then announces its checkpoints and
    /// stores its records in the DHT; returns the outcome and whether every checkpoint's
    /// announcement was accepted.
    pub async fn import(&self, request: ImportRequest) -> Result<(ImportOutcome, bool), NodeError> {
        let store = self.inner.store.clone();
        let home = self.inner.home.clone();
        let outcome = tokio::task::spawn_blocking(move || bundle::import(&store, &home, &request))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        let mut announced = true;
        for checkpoint in &outcome.checkpoints {
            announced &= self.announce(&checkpoint.manifest).await;
        }
        for record in &outcome.records {
            if let Err(error) = self
                .inner
                .network
                .put_record(record.key(), record.bytes().to_vec())
                .await
            {
                tracing::debug!(%error, "imported record not stored in the DHT yet");
            }
        }
        Ok((outcome, announced))
    }
}
