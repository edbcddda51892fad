//! Key rotations: a publisher's signed statement that its key is replaced by a new one.
//!
//! The old key signs a [`KeyRotation`] naming the new key and the time of the rotation.
//! A node that trusts the old key then trusts the new one for manifests created at or
//! after that time ([`is_trusted`]); rotations chain (A → B, then B → C), and
//! [`follow_rotations`] finds the current key at the end of a chain. A lab's
//! [revocation](crate::revocation) of a key overrides every rotation from it
//! ([`crate::chain`]).
//!
//! One old key rotates once. Should several rotations from the same old key exist (only the
//! holder of that key can sign them), every node picks the same one: the earliest
//! `rotated_ms`, then the smallest new key ([`SignedKeyRotation::preferred_over`]).
//!
//! A rotation is a signed [statement](crate::signed) with magic `OSTK` and version 1, signed
//! by `old_key`, at most [`MAX_RECORD_SIZE`] bytes. It lives in the DHT under
//! [`rotation_key`].

use serde::{Deserialize, Serialize};

use crate::limits::MAX_RECORD_SIZE;
use crate::signed::{invalid, parse_record_key, record_key, RecordError, Signed, Statement};
use crate::trust::check_public_key;

pub use crate::chain::{follow_rotations, is_trusted, ChainLink};

/// The magic of a signed key rotation.
pub const ROTATION_MAGIC: [u8; 4] = *b"OSTK";
/// The key rotation format version this code reads and writes.
pub const ROTATION_VERSION: u8 = 1;

const ROTATION_PREFIX: &[u8] = b"/ostrom/rotation/1/";

/// A key rotation (the signed body): "`old_key` is replaced by `new_key` from `rotated_ms`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotation {
    /// The key being replaced; the rotation is signed with its secret half.
    pub old_key: [u8; 32],
    /// The key that replaces it: a valid ed25519 public key, not `old_key`.
    pub new_key: [u8; 32],
    /// When the new key takes over, milliseconds since the Unix epoch.
    pub rotated_ms: u64,
}

/// A key rotation with its signed bytes; only ever built from bytes that verified.
pub type SignedKeyRotation = Signed<KeyRotation>;

impl Statement for KeyRotation {
    const KIND: &'static str = "key rotation";
    const MAGIC: [u8; 4] = ROTATION_MAGIC;
    const VERSION: u8 = ROTATION_VERSION;
    const MAX_SIZE: usize = MAX_RECORD_SIZE;

    fn signer(&self) -> &[u8; 32] {
        &self.old_key
    }

    fn validate(&self) -> Result<(), RecordError> {
        if self.old_key == self.new_key {
            return Err(invalid::<Self>("the new key is the old key"));
        }
        check_public_key(&self.new_key).map_err(|e| invalid::<Self>(e.to_string()))
    }
}

impl KeyRotation {
    /// The DHT key of this rotation: [`rotation_key`] of its old key.
    pub fn dht_key(&self) -> Vec<u8> {
        rotation_key(&self.old_key)
    }

    pub(crate) fn rank(&self) -> (u64, [u8; 32]) {
        (self.rotated_ms, self.new_key)
    }
}

impl Signed<KeyRotation> {
    /// Whether a node holding `other` for the same old key keeps this one instead: it
    /// rotates earlier, or at the same time to a smaller new key. False for rotations of
    /// different old keys.
    pub fn preferred_over(&self, other: &SignedKeyRotation) -> bool {
        let (ours, theirs) = (self.body(), other.body());
        ours.old_key == theirs.old_key && ours.rank() < theirs.rank()
    }
}

/// The DHT key of the rotation of `old_key`: the bytes of `/ostrom/rotation/1/` followed by
/// the 32 key bytes.
pub fn rotation_key(old_key: &[u8; 32]) -> Vec<u8> {
    record_key(ROTATION_PREFIX, old_key)
}

/// The old key a rotation key names, if `key` is one.
pub fn parse_rotation_key(key: &[u8]) -> Option<[u8; 32]> {
    parse_record_key(ROTATION_PREFIX, key)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::chain::KeyHistory;
    use crate::retraction::Retraction;
    use crate::signed::testing::{self, key, public, statement_properties};
    use crate::Id;

    fn rotate(from: u8, to: u8, at: u64) -> SignedKeyRotation {
        let body = KeyRotation {
            old_key: public(from),
            new_key: public(to),
            rotated_ms: at,
        };
        Signed::sign(body, &key(from)).expect("signs")
    }

    fn follow(rotations: &[SignedKeyRotation]) -> [u8; 32] {
        follow_rotations(public(1), &KeyHistory::from(rotations.to_vec()))
    }

    prop_compose! {
        fn arb_rotation()(
            seed in any::<u8>(),
            new_seed in any::<[u8; 32]>(),
            rotated_ms in any::<u64>(),
        ) -> (KeyRotation, u8) {
            let new_key = ed25519_dalek::SigningKey::from_bytes(&new_seed)
                .verifying_key()
                .to_bytes();
            let rotation = KeyRotation {
                old_key: public(seed),
                new_key,
                rotated_ms,
            };
            (rotation, seed)
        }
    }

    statement_properties!(
        KeyRotation,
        arb_rotation().prop_filter("a rotation to the same key", |(rotation, _)| rotation
            .old_key
            != rotation.new_key)
    );

    #[test]
    fn rotation_to_the_same_or_an_unusable_key_is_refused() {
        let same = KeyRotation {
            old_key: public(1),
            new_key: public(1),
            rotated_ms: 5,
        };
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = KeyRotation {
            new_key: identity,
            ..same.clone()
        };
        for (what, rotation) in [("same key", same), ("weak key", weak)] {
            assert!(rotation.validate().is_err(), "{what} accepted");
            assert!(Signed::sign(rotation, &key(1)).is_err(), "{what} signed");
        }
    }

    #[test]
    fn attacks_are_refused() {
        testing::refuses_common_attacks(rotate(1, 2, 10).body().clone(), &key(1));
        testing::other_kind_is_wrong_magic::<Retraction, KeyRotation>(
            Retraction {
                publisher: public(1),
                checkpoint: Id::of(b"c"),
                reason: String::new(),
                retracted_ms: 0,
            },
            &key(1),
        );
    }

    #[test]
    fn the_earliest_of_competing_rotations_wins() {
        let early = rotate(1, 2, 10);
        let late = rotate(1, 3, 20);
        assert!(early.preferred_over(&late));
        assert!(!late.preferred_over(&early));
        assert!(!early.preferred_over(&early));
        assert!(!early.preferred_over(&rotate(4, 5, 20)), "another old key");
        assert_eq!(follow(&[late.clone(), early.clone()]), public(2));
        assert_eq!(follow(&[early, late]), public(2));

        let (a, b) = (rotate(1, 2, 10), rotate(1, 3, 10));
        let smaller = if public(2) < public(3) {
            public(2)
        } else {
            public(3)
        };
        assert_eq!(follow(&[a.clone(), b.clone()]), smaller);
        assert_eq!(follow(&[b, a]), smaller);
    }

    #[test]
    fn rotation_key_round_trips() {
        let key = rotation_key(&public(1));
        assert_eq!(key.len(), 19 + 32);
        assert_eq!(rotate(1, 2, 0).body().dht_key(), key);
        assert_eq!(parse_rotation_key(&key), Some(public(1)));
        assert_eq!(parse_rotation_key(&key[..50]), None);
        assert_eq!(parse_rotation_key(b"/ostrom/name/1/"), None);
    }
}
