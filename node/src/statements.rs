//! Retractions and key rotations on the node: making them, keeping them, finding them in
//! the DHT, and what a fetch does with them.
//!
//! - A retraction, signed by a checkpoint's publisher, makes fetches of that checkpoint
//!   refuse unless the user allows retracted checkpoints, and always warn.
//! - A key rotation, signed by the old key, names the publisher's new key; a node that
//!   trusts the old key trusts the new one for manifests created after the rotation.
//! - A key revocation, signed by a lab's recovery key, cuts a publisher key from a time on
//!   and may name the key that takes its place; it overrides the revoked key's rotations.
//!   Which revocations a node stores for its peers is [`records::check_revocation`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use ostrom_protocol::chain::{KeyHistory, TrustRoot};
use ostrom_protocol::retraction::{retraction_key, Retraction, SignedRetraction};
use ostrom_protocol::revocation::{revocation_key, Revocation, SignedRevocation};
use ostrom_protocol::rotation::{rotation_key, KeyRotation, SignedKeyRotation};
use ostrom_protocol::signed::RecordError;
use ostrom_protocol::SignedManifest;

use crate::network::NetworkHandle;
use crate::store::{Store, StoreError};

pub mod records;

/// How long a fetch waits for the DHT to answer a statement lookup.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Most keys followed from one trusted key, through rotations and revocations.
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

/// Signs, with the lab's `recovery` key, the revocation of `revoked` from `revoked_ms`,
/// naming `successor` in its place, and keeps it.
pub fn revoke(
    store: &Store,
    recovery: &SigningKey,
    revoked: [u8; 32],
    successor: Option<[u8; 32]>,
    revoked_ms: Option<u64>,
) -> Result<SignedRevocation, StatementError> {
    let revocation = SignedRevocation::sign(
        Revocation {
            recovery_key: recovery.verifying_key().to_bytes(),
            revoked_key: revoked,
            revoked_ms: revoked_ms.unwrap_or_else(now_ms),
            successor,
        },
        recovery,
    )?;
    store.put_statement(&revocation.body().dht_key(), revocation.bytes())?;
    store.flush()?;
    Ok(revocation)
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

/// The preferred valid rotation from `key`, if one is known here or in the DHT.
async fn rotation_from(
    store: &Store,
    network: &NetworkHandle,
    key: [u8; 32],
) -> Option<SignedKeyRotation> {
    copies(store, network, rotation_key(&key))
        .await
        .into_iter()
        .filter_map(|bytes| SignedKeyRotation::from_bytes(bytes).ok())
        .filter(|r| r.body().old_key == key)
        .reduce(|a, b| if b.preferred_over(&a) { b } else { a })
}

/// The preferred valid revocation of `key` by `recovery`, if one is known here or in the
/// DHT.
async fn revocation_of(
    store: &Store,
    network: &NetworkHandle,
    key: [u8; 32],
    recovery: [u8; 32],
) -> Option<SignedRevocation> {
    copies(store, network, revocation_key(&key, &recovery))
        .await
        .into_iter()
        .filter_map(|bytes| SignedRevocation::from_bytes(bytes).ok())
        .filter(|r| r.body().revoked_key == key && r.body().recovery_key == recovery)
        .reduce(|a, b| if b.preferred_over(&a) { b } else { a })
}

/// The statements about the keys a trust store entry covers, as far as they can be found:
/// from `root`'s key, at each key its revocation by the root's recovery key (which, when
/// found, is followed to its successor) or else its preferred rotation. Everything found is
/// kept, to be stored in the DHT again. The name is older than revocations.
pub async fn rotations_from(
    store: &Store,
    network: &NetworkHandle,
    root: impl Into<TrustRoot>,
) -> KeyHistory {
    let root = root.into();
    let mut history = KeyHistory::default();
    let mut seen = vec![root.key];
    let mut key = root.key;
    while seen.len() <= MAX_ROTATIONS {
        // Both lookups at once: a revocation, when found, overrides the rotation.
        let (revocation, rotation) = match root.recovery {
            Some(recovery) => tokio::join!(
                revocation_of(store, network, key, recovery),
                rotation_from(store, network, key)
            ),
            None => (None, rotation_from(store, network, key).await),
        };
        let next = match revocation {
            Some(revocation) => {
                let _ = store.put_statement(&revocation.body().dht_key(), revocation.bytes());
                let successor = revocation.body().successor;
                history.revocations.push(revocation);
                successor
            }
            None => rotation.map(|rotation| {
                let _ = store.put_statement(&rotation.body().dht_key(), rotation.bytes());
                let new_key = rotation.body().new_key;
                history.rotations.push(rotation);
                new_key
            }),
        };
        match next {
            Some(next) if !seen.contains(&next) => {
                seen.push(next);
                key = next;
            }
            _ => break,
        }
    }
    history
}
