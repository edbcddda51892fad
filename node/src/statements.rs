//! Retractions and key rotations on the node: making them, keeping them, finding them in
//! the DHT, and what a fetch does with them.
//!
//! - A retraction, signed by a checkpoint's publisher, makes fetches of that checkpoint
//!   refuse unless the user allows retracted checkpoints, and always warn.
//! - A key rotation, signed by the old key, names the publisher's new key; a node that
//!   trusts the old key trusts the new one for manifests created after the rotation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use ostrom_protocol::retraction::{retraction_key, Retraction, SignedRetraction};
use ostrom_protocol::rotation::{rotation_key, KeyRotation, SignedKeyRotation};
use ostrom_protocol::signed::RecordError;
use ostrom_protocol::SignedManifest;

use crate::network::NetworkHandle;
use crate::store::{Store, StoreError};

/// How long a fetch waits for the DHT to answer a statement lookup.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Most rotations followed from one key.
const MAX_ROTATIONS: usize = 16;

/// Why a statement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    /// The statement breaks a rule.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Only a checkpoint's publisher can retract it.
    #[error(
        "{0} was not published with this node's publisher key; only its publisher can retract it"
    )]
    NotPublisher(String),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Signs and keeps a retraction of `manifest`, which `key` must have signed.
pub fn retract(
    store: &Store,
    key: &SigningKey,
    manifest: &SignedManifest,
    reason: &str,
) -> Result<SignedRetraction, StatementError> {
    let publisher = key.verifying_key().to_bytes();
    if manifest.manifest().publisher != publisher {
        return Err(StatementError::NotPublisher(manifest.id().to_string()));
    }
    let retraction = SignedRetraction::sign(
        Retraction {
            publisher,
            checkpoint: manifest.id(),
            reason: reason.to_owned(),
            retracted_ms: now_ms(),
        },
        key,
    )?;
    store.put_statement(&retraction.body().dht_key(), retraction.bytes())?;
    store.flush()?;
    Ok(retraction)
}

/// Signs, with `old`, the rotation to `new`, and keeps it.
pub fn rotate(
    store: &Store,
    old: &SigningKey,
    new: &SigningKey,
) -> Result<SignedKeyRotation, StatementError> {
    let rotation = SignedKeyRotation::sign(
        KeyRotation {
            old_key: old.verifying_key().to_bytes(),
            new_key: new.verifying_key().to_bytes(),
            rotated_ms: now_ms(),
        },
        old,
    )?;
    store.put_statement(&rotation.body().dht_key(), rotation.bytes())?;
    store.flush()?;
    Ok(rotation)
}

/// Every copy of the statement under `key`: this node's and the DHT's.
async fn copies(store: &Store, network: &NetworkHandle, key: Vec<u8>) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = store.statement(&key).ok().flatten().into_iter().collect();
    if let Ok(Ok(found)) = tokio::time::timeout(LOOKUP_TIMEOUT, network.get_records(key)).await {
        all.extend(found.into_iter().map(|(_, bytes)| bytes));
    }
    all
}

/// A valid retraction of `manifest` by its publisher, if one is known here or in the DHT.
pub async fn retraction_of(
    store: &Store,
    network: &NetworkHandle,
    manifest: &SignedManifest,
) -> Option<SignedRetraction> {
    let key = retraction_key(&manifest.id(), &manifest.manifest().publisher);
    let found = copies(store, network, key.clone())
        .await
        .into_iter()
        .filter_map(|bytes| SignedRetraction::from_bytes(bytes).ok())
        .find(|r| r.body().applies_to(manifest))?;
    let _ = store.put_statement(&key, found.bytes());
    Some(found)
}

/// The chain of rotations from `start`, as far as they can be found.
pub async fn rotations_from(
    store: &Store,
    network: &NetworkHandle,
    start: [u8; 32],
) -> Vec<SignedKeyRotation> {
    let mut chain: Vec<SignedKeyRotation> = Vec::new();
    let mut key = start;
    while chain.len() < MAX_ROTATIONS {
        let best = copies(store, network, rotation_key(&key))
            .await
            .into_iter()
            .filter_map(|bytes| SignedKeyRotation::from_bytes(bytes).ok())
            .filter(|r| r.body().old_key == key)
            .reduce(|a, b| if b.preferred_over(&a) { b } else { a });
        let Some(rotation) = best else { break };
        if chain
            .iter()
            .any(|r| r.body().old_key == rotation.body().new_key)
            || rotation.body().new_key == start
        {
            break;
        }
        let _ = store.put_statement(&rotation.body().dht_key(), rotation.bytes());
        key = rotation.body().new_key;
        chain.push(rotation);
    }
    chain
}
