//! Which publisher keys one trust store entry covers, and from when to when: the chain of
//! keys from the entry's key through its [rotations](crate::rotation), cut and redirected by
//! the [revocations](crate::revocation) its recovery key signed.
//!
//! A [`TrustRoot`] is what a trust store entry holds: the publisher key and, optionally, the
//! lab's recovery key. A [`KeyHistory`] is what a node found about those keys: rotations and
//! revocations, already verified. [`trust_chain`] walks from the root key:
//!
//! - at a key revoked by the root's recovery key (the preferred revocation of that key,
//!   [`SignedRevocation::preferred_over`]), the key is trusted only for manifests created
//!   before `revoked_ms`; its rotations are ignored, every one of them, whatever time they
//!   claim (a thief holding the key can sign a rotation dated before the revocation); the
//!   walk goes on to the revocation's successor, trusted from `revoked_ms`, or stops;
//! - at any other key, the preferred rotation from it is followed (the earliest
//!   `rotated_ms`, [`SignedKeyRotation::preferred_over`]), the new key trusted from the
//!   rotation time;
//! - a key already in the chain ends it, and no key is trusted from earlier than the key
//!   before it.
//!
//! Revocations by any other key, and every revocation when the root names no recovery key,
//! are ignored: such an entry cannot recover from a stolen key.

use std::collections::{BTreeMap, BTreeSet};

use crate::revocation::{Revocation, SignedRevocation};
use crate::rotation::{KeyRotation, SignedKeyRotation};
use crate::signed::Signed;

/// What a trust store entry trusts: a publisher key and the recovery key that may revoke
/// it and the keys that follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TrustRoot {
    /// The publisher key the entry was made with.
    pub key: [u8; 32],
    /// The lab's recovery key, if the entry names one.
    pub recovery: Option<[u8; 32]>,
}

impl From<[u8; 32]> for TrustRoot {
    fn from(key: [u8; 32]) -> Self {
        Self {
            key,
            recovery: None,
        }
    }
}

/// The verified statements found about the keys of one chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyHistory {
    /// Key rotations (any old key; those off the chain are ignored).
    pub rotations: Vec<SignedKeyRotation>,
    /// Key revocations (any recovery key; only the root's counts).
    pub revocations: Vec<SignedRevocation>,
}

impl From<Vec<SignedKeyRotation>> for KeyHistory {
    fn from(rotations: Vec<SignedKeyRotation>) -> Self {
        Self {
            rotations,
            revocations: Vec::new(),
        }
    }
}

/// One key of a chain and the times between which manifests it signed are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainLink {
    /// The key.
    pub key: [u8; 32],
    /// Manifests created at or after this time (ms since the Unix epoch) are trusted under
    /// `key`; 0 for the root key.
    pub since_ms: u64,
    /// Manifests created at or after this time are not: the key's revocation time, if the
    /// recovery key revoked it.
    pub until_ms: Option<u64>,
}

impl ChainLink {
    fn covers(&self, signer: &[u8; 32], created_ms: u64) -> bool {
        self.key == *signer
            && created_ms >= self.since_ms
            && self.until_ms.is_none_or(|until| created_ms < until)
    }
}

/// The preferred statement per key among `statements`, by `rank` (smallest wins).
fn preferred<'a, T, R: Ord>(
    statements: impl Iterator<Item = &'a T>,
    key: impl Fn(&T) -> [u8; 32],
    rank: impl Fn(&T) -> R,
) -> BTreeMap<[u8; 32], &'a T> {
    let mut best: BTreeMap<[u8; 32], &'a T> = BTreeMap::new();
    for statement in statements {
        best.entry(key(statement))
            .and_modify(|held| {
                if rank(statement) < rank(held) {
                    *held = statement;
                }
            })
            .or_insert(statement);
    }
    best
}

/// The chain of keys `root` covers given `history` (see the module documentation).
pub fn trust_chain(root: impl Into<TrustRoot>, history: &KeyHistory) -> Vec<ChainLink> {
    let root = root.into();
    let rotations = preferred(
        history.rotations.iter().map(Signed::body),
        |r: &KeyRotation| r.old_key,
        KeyRotation::rank,
    );
    let revocations = preferred(
        history
            .revocations
            .iter()
            .map(Signed::body)
            .filter(|r| Some(r.recovery_key) == root.recovery),
        |r: &Revocation| r.revoked_key,
        Revocation::rank,
    );
    let mut chain = vec![ChainLink {
        key: root.key,
        since_ms: 0,
        until_ms: None,
    }];
    let mut seen = BTreeSet::from([root.key]);
    while let Some(link) = chain.last_mut() {
        let next = match revocations.get(&link.key) {
            Some(revocation) => {
                link.until_ms = Some(revocation.revoked_ms);
                revocation.successor.map(|key| (key, revocation.revoked_ms))
            }
            None => rotations
                .get(&link.key)
                .map(|rotation| (rotation.new_key, rotation.rotated_ms)),
        };
        let Some((key, from_ms)) = next else { break };
        if !seen.insert(key) {
            break;
        }
        let since_ms = link.since_ms.max(from_ms);
        chain.push(ChainLink {
            key,
            since_ms,
            until_ms: None,
        });
    }
    chain
}

/// The current key of a publisher known by `root`: the end of its [`trust_chain`].
pub fn follow_rotations(root: impl Into<TrustRoot>, history: &KeyHistory) -> [u8; 32] {
    let root = root.into();
    trust_chain(root, history)
        .last()
        .map_or(root.key, |link| link.key)
}

/// Whether a node whose trust store holds `root` trusts a manifest signed by `signer` and
/// created at `created_ms`: some link of the [`trust_chain`] is `signer` and covers that
/// time.
pub fn is_trusted(
    root: impl Into<TrustRoot>,
    history: &KeyHistory,
    signer: &[u8; 32],
    created_ms: u64,
) -> bool {
    trust_chain(root, history)
        .iter()
        .any(|link| link.covers(signer, created_ms))
}

#[cfg(test)]
mod tests;
