//! Publishing a checkpoint through the node (and announcing it), and retracting one.

use std::time::{Duration, Instant};

use ostrom_protocol::{Id, SignedManifest};

use super::{Node, NodeError};
use tokio::sync::mpsc;

use crate::publish::{self, PublishProgress, PublishRequest, Published};

/// Shortest time between two progress reports of a publish.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
use crate::statements;

/// What publishing did.
#[derive(Debug, Clone)]
pub struct Publication {
    /// The signed manifest and the model's new name record.
    pub published: Published,
    /// Time spent chunking, hashing and signing.
    pub elapsed: Duration,
    /// Whether the DHT accepted the announcement (false when no node runs or no peer is
    /// reachable yet; it is announced again later).
    pub announced: bool,
}

impl Publication {
    /// The checkpoint id.
    pub fn id(&self) -> Id {
        self.published.manifest.id()
    }

    /// The signed manifest.
    pub fn manifest(&self) -> &SignedManifest {
        &self.published.manifest
    }
}

/// What a retraction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retraction {
    /// The checkpoint retracted.
    pub id: Id,
    /// Whether the DHT accepted the retraction (it is stored again later if not).
    pub stored_in_dht: bool,
}

impl Node {
    /// Publishes the checkpoint at `request.path` and announces it.
    pub async fn publish(&self, request: PublishRequest) -> Result<Publication, NodeError> {
        self.publish_with_progress(request, None).await
    }

    /// Publishes the checkpoint at `request.path` and announces it, sending how far the
    /// hashing has come to `progress` (about four times a second, and once all is hashed).
    pub async fn publish_with_progress(
        &self,
        request: PublishRequest,
        progress: Option<mpsc::UnboundedSender<PublishProgress>>,
    ) -> Result<Publication, NodeError> {
        let started = Instant::now();
        let store = self.inner.store.clone();
        let key = self.inner.publisher.clone();
        let published = tokio::task::spawn_blocking(move || {
            let mut last_sent: Option<Instant> = None;
            let mut report = |update: &PublishProgress| {
                let Some(progress) = &progress else {
                    return;
                };
                let finished = update.bytes_done == update.bytes_total;
                if finished || last_sent.is_none_or(|at| at.elapsed() >= PROGRESS_INTERVAL) {
                    last_sent = Some(Instant::now());
                    // A caller that went away no longer wants progress.
                    let _ = progress.send(update.clone());
                }
            };
            publish::publish_reporting(&store, &key, &request, &mut report)
        })
        .await
        .map_err(|e| NodeError::Task(e.to_string()))??;
        let elapsed = started.elapsed();
        let announced = self.announce(&published.manifest).await;
        self.put_name_record(&published.name_record).await;
        Ok(Publication {
            published,
            elapsed,
            announced,
        })
    }

    /// Retracts a checkpoint this node published: signs the retraction, keeps it and
    /// stores it in the DHT.
    pub async fn retract(&self, id: Id, reason: &str) -> Result<Retraction, NodeError> {
        let manifest = self
            .inner
            .store
            .manifest(&id)?
            .ok_or(NodeError::UnknownCheckpoint(id))?;
        let retraction =
            statements::retract(&self.inner.store, &self.inner.publisher, &manifest, reason)?;
        let stored_in_dht = self
            .inner
            .network
            .put_record(retraction.body().dht_key(), retraction.bytes().to_vec())
            .await
            .is_ok();
        Ok(Retraction { id, stored_in_dht })
    }
}
