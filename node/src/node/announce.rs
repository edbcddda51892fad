//! Announcing what this node holds: checkpoints (whole or in part), whole files, its own
//! name records and kept statements, at start and again every reannounce interval.

use std::time::Duration;

use ostrom_protocol::name_record::SignedNameRecord;
use ostrom_protocol::{Id, SignedManifest};

use super::Node;

/// How long a starting node waits for a first peer before announcing what it holds.
const FIRST_ANNOUNCE_WAIT: Duration = Duration::from_secs(10);

impl Node {
    /// Announces what this node holds once it has a peer to tell (or after a short wait),
    /// then again every reannounce interval, so provider records never expire. When it had
    /// no peer to tell, it announces again as soon as one connects.
    pub(super) async fn keep_announcing(self) {
        let network = &self.inner.network;
        let interval = self.inner.config.reannounce_interval;
        network.wait_connected(FIRST_ANNOUNCE_WAIT).await;
        loop {
            self.announce_held().await;
            let alone = network.connected_peers().await.is_ok_and(|p| p.is_empty());
            if alone {
                network.wait_connected(interval).await;
            } else {
                tokio::time::sleep(interval).await;
            }
        }
    }

    /// Announces every checkpoint this node holds (complete or in part) and every file it
    /// holds whole, re-stores its name records and kept statements. Does nothing on a node
    /// that does not announce itself ([`super::NodeOptions::announce`]).
    pub async fn announce_held(&self) {
        if !self.inner.announce {
            return;
        }
        let held = match self.inner.store.all_held() {
            Ok(held) => held,
            Err(error) => {
                tracing::error!(%error, "cannot list held checkpoints");
                return;
            }
        };
        match self.inner.store.statements() {
            Ok(statements) => {
                for (key, bytes) in statements {
                    if let Err(error) = self.inner.network.put_record(key, bytes).await {
                        tracing::debug!(%error, "statement not stored in the DHT yet");
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot list statements"),
        }
        let own = self.inner.publisher.verifying_key().to_bytes();
        match self.inner.store.name_records_of(&own) {
            Ok(records) => {
                for record in records {
                    self.put_name_record(&record).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot list own name records"),
        }
        let complete_files = self.inner.store.complete_files().unwrap_or_default();
        for (id, checkpoint) in held {
            let signed = match self.inner.store.manifest(&id) {
                Ok(Some(signed)) => signed,
                Ok(None) => {
                    tracing::warn!(%id, "held checkpoint has no manifest");
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%id, %error, "cannot read manifest");
                    continue;
                }
            };
            if checkpoint.complete {
                self.announce(&signed).await;
                continue;
            }
            // Part of a checkpoint: it serves what it has, and any file it holds whole.
            let mut ids = vec![id];
            if !matches!(signed.manifest().readers(), Ok(Some(_))) {
                ids.extend(
                    complete_files
                        .iter()
                        .filter(|(_, c)| *c == id)
                        .map(|(f, _)| *f),
                );
            }
            for id in ids {
                if let Err(error) = self.inner.network.announce(id).await {
                    tracing::debug!(%id, %error, "announcement of a partial holding");
                }
            }
        }
    }

    /// Announces a checkpoint and its files; true when the DHT accepted the checkpoint.
    /// A node that does not announce itself ([`super::NodeOptions::announce`]) returns
    /// false at once.
    pub(super) async fn announce(&self, signed: &SignedManifest) -> bool {
        if !self.inner.announce {
            return false;
        }
        let network = &self.inner.network;
        // A restricted checkpoint's file ids stay out of the DHT: they could be matched
        // against public files and reveal what it holds.
        let restricted = matches!(signed.manifest().readers(), Ok(Some(_)));
        let mut ids: Vec<Id> = if restricted {
            Vec::new()
        } else {
            signed.manifest().files.iter().map(|f| f.id).collect()
        };
        ids.dedup();
        for id in ids {
            if let Err(error) = network.announce(id).await {
                tracing::debug!(%id, %error, "file announcement");
            }
        }
        match network.announce(signed.id()).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(id = %signed.id(), %error, "checkpoint not announced yet; will retry");
                false
            }
        }
    }

    /// Stores a name record in the DHT; failures are logged, it is stored again later.
    pub(super) async fn put_name_record(&self, record: &SignedNameRecord) {
        let body = record.body();
        if let Err(error) = self
            .inner
            .network
            .put_record(body.dht_key(), record.bytes().to_vec())
            .await
        {
            tracing::warn!(model = %body.model, seq = body.seq, %error, "name record not stored in the DHT yet; will retry");
        }
    }
}
