//! Key revocations: a lab's statement, signed with its offline recovery key, that one of its
//! publisher keys is no longer to be trusted from some time on, and which key (if any)
//! takes its place.
//!
//! A lab names a recovery key next to its publisher key in the trust stores of the nodes
//! that trust it. Should a publisher key be stolen, the lab signs a [`Revocation`] with that
//! recovery key: manifests the revoked key signed at or after `revoked_ms` are refused, its
//! rotations are no longer followed, and `successor` (when named) is trusted under the
//! same alias from `revoked_ms` on (see [`crate::chain`]). A thief holding only the
//! publisher key cannot sign a revocation that any node heeds.
//!
//! Several revocations of the same key by the same recovery key may exist; every node uses
//! the same one ([`SignedRevocation::preferred_over`]): the earliest `revoked_ms`, then no
//! successor before a successor, then the smallest successor. A revocation cannot be
//! undone, only made earlier.
//!
//! A revocation is a signed [statement](crate::signed) with magic `OSTR` and version 1,
//! signed by `recovery_key`, at most [`MAX_RECORD_SIZE`] bytes. It lives in the DHT under
//! [`revocation_key`], which names both the revoked key and the recovery key, so a
//! statement signed by any other key lives elsewhere and can never displace the lab's own.

use serde::{Deserialize, Serialize};

use crate::limits::MAX_RECORD_SIZE;
use crate::signed::{invalid, record_key, RecordError, Signed, Statement};
use crate::trust::check_public_key;

/// The magic of a signed key revocation.
pub const REVOCATION_MAGIC: [u8; 4] = *b"OSTR";
/// The key revocation format version this code reads and writes.
pub const REVOCATION_VERSION: u8 = 1;

const REVOCATION_PREFIX: &[u8] = b"/ostrom/revocation/1/";

/// A key revocation (the signed body): "`revoked_key` is not trusted from `revoked_ms`;
/// `successor` takes its place", by the recovery key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The recovery key; the revocation is signed with its secret half.
    pub recovery_key: [u8; 32],
    /// The publisher key revoked: not the recovery key.
    pub revoked_key: [u8; 32],
    /// Manifests created at or after this time (ms since the Unix epoch) and signed by the
    /// revoked key are refused.
    pub revoked_ms: u64,
    /// The key trusted in its place from `revoked_ms`, if any: a valid ed25519 public key,
    /// neither the revoked key nor the recovery key.
    pub successor: Option<[u8; 32]>,
}

/// A key revocation with its signed bytes; only ever built from bytes that verified.
pub type SignedRevocation = Signed<Revocation>;

impl Statement for Revocation {
    const KIND: &'static str = "key revocation";
    const MAGIC: [u8; 4] = REVOCATION_MAGIC;
    const VERSION: u8 = REVOCATION_VERSION;
    const MAX_SIZE: usize = MAX_RECORD_SIZE;

    fn signer(&self) -> &[u8; 32] {
        &self.recovery_key
    }

    fn validate(&self) -> Result<(), RecordError> {
        if self.revoked_key == self.recovery_key {
            return Err(invalid::<Self>("the recovery key revokes itself"));
        }
        check_public_key(&self.revoked_key).map_err(|e| invalid::<Self>(e.to_string()))?;
        if let Some(successor) = &self.successor {
            if *successor == self.revoked_key || *successor == self.recovery_key {
                return Err(invalid::<Self>(
                    "the successor is the revoked key or the recovery key",
                ));
            }
            check_public_key(successor).map_err(|e| invalid::<Self>(e.to_string()))?;
        }
        Ok(())
    }
}

impl Revocation {
    /// The DHT key of this revocation: [`revocation_key`] of its revoked and recovery keys.
    pub fn dht_key(&self) -> Vec<u8> {
        revocation_key(&self.revoked_key, &self.recovery_key)
    }

    pub(crate) fn rank(&self) -> (u64, Option<[u8; 32]>) {
        (self.revoked_ms, self.successor)
    }
}

impl Signed<Revocation> {
    /// Whether a node holding `other` for the same revoked and recovery keys keeps this one
    /// instead: it revokes earlier, or at the same time with no successor or a smaller
    /// one. False for revocations of another key or by another recovery key.
    pub fn preferred_over(&self, other: &SignedRevocation) -> bool {
        let (ours, theirs) = (self.body(), other.body());
        ours.revoked_key == theirs.revoked_key
            && ours.recovery_key == theirs.recovery_key
            && ours.rank() < theirs.rank()
    }
}

/// The DHT key of the revocation of `revoked` by `recovery`: the bytes of
/// `/ostrom/revocation/1/`, the 32 revoked key bytes, then the 32 recovery key bytes.
pub fn revocation_key(revoked: &[u8; 32], recovery: &[u8; 32]) -> Vec<u8> {
    let mut keys = [0u8; 64];
    keys[..32].copy_from_slice(revoked);
    keys[32..].copy_from_slice(recovery);
    record_key(REVOCATION_PREFIX, &keys)
}

/// The (revoked key, recovery key) a revocation key names, if `key` is one.
pub fn parse_revocation_key(key: &[u8]) -> Option<([u8; 32], [u8; 32])> {
    let rest = key.strip_prefix(REVOCATION_PREFIX)?;
    if rest.len() != 64 {
        return None;
    }
    let (revoked, recovery) = rest.split_at(32);
    Some((revoked.try_into().ok()?, recovery.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::rotation::KeyRotation;
    use crate::signed::testing::{self, key, public, statement_properties};

    fn revocation(revoked: u8, at: u64, successor: Option<u8>) -> Revocation {
        Revocation {
            recovery_key: public(9),
            revoked_key: public(revoked),
            revoked_ms: at,
            successor: successor.map(public),
        }
    }

    prop_compose! {
        fn arb_revocation()(
            seed in any::<u8>(),
            revoked in 0u8..8,
            revoked_ms in any::<u64>(),
            successor in proptest::option::of(8u8..16),
        ) -> (Revocation, u8) {
            let body = Revocation {
                recovery_key: public(seed),
                revoked_key: public(revoked),
                revoked_ms,
                successor: successor.map(public),
            };
            (body, seed)
        }
    }

    statement_properties!(
        Revocation,
        arb_revocation().prop_filter("a revocation breaking its own rules", |(body, _)| body
            .validate()
            .is_ok())
    );

    #[test]
    fn revocations_breaking_the_rules_are_refused() {
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let cases = [
            ("recovery key revokes itself", revocation(9, 5, None)),
            ("successor is the revoked key", revocation(1, 5, Some(1))),
            ("successor is the recovery key", revocation(1, 5, Some(9))),
            (
                "weak successor",
                Revocation {
                    successor: Some(weak),
                    ..revocation(1, 5, None)
                },
            ),
            (
                "weak revoked key",
                Revocation {
                    revoked_key: weak,
                    ..revocation(1, 5, None)
                },
            ),
        ];
        for (what, body) in cases {
            assert!(body.validate().is_err(), "{what} accepted");
            assert!(Signed::sign(body, &key(9)).is_err(), "{what} signed");
        }
    }

    #[test]
    fn only_the_recovery_key_signs_and_attacks_are_refused() {
        testing::refuses_common_attacks(revocation(1, 10, Some(2)), &key(9));
        testing::refuses_common_attacks(revocation(1, 10, None), &key(9));
        assert!(
            matches!(
                Signed::sign(revocation(1, 10, Some(2)), &key(1)),
                Err(RecordError::WrongSigner { .. })
            ),
            "signed by the revoked key"
        );
        testing::other_kind_is_wrong_magic::<KeyRotation, Revocation>(
            KeyRotation {
                old_key: public(1),
                new_key: public(2),
                rotated_ms: 10,
            },
            &key(1),
        );
        testing::other_kind_is_wrong_magic::<Revocation, KeyRotation>(
            revocation(1, 10, Some(2)),
            &key(9),
        );
    }

    #[test]
    fn the_earliest_revocation_wins() {
        let sign =
            |at, successor| Signed::sign(revocation(1, at, successor), &key(9)).expect("signs");
        let (early, late) = (sign(10, Some(2)), sign(20, None));
        assert!(early.preferred_over(&late));
        assert!(!late.preferred_over(&early));
        assert!(!early.preferred_over(&early), "a replay");
        assert!(sign(10, None).preferred_over(&early), "no successor first");
        let other_recovery = Signed::sign(
            Revocation {
                recovery_key: public(8),
                ..revocation(1, 0, None)
            },
            &key(8),
        )
        .expect("signs");
        assert!(
            !other_recovery.preferred_over(&late),
            "another recovery key"
        );
        assert!(
            !sign(0, None)
                .preferred_over(&Signed::sign(revocation(3, 50, None), &key(9)).expect("signs")),
            "another revoked key"
        );
    }

    #[test]
    fn revocation_key_round_trips() {
        let key = revocation_key(&public(1), &public(9));
        assert_eq!(key.len(), 21 + 64);
        assert_eq!(revocation(1, 0, None).dht_key(), key);
        assert_eq!(parse_revocation_key(&key), Some((public(1), public(9))));
        assert_eq!(parse_revocation_key(&key[..84]), None);
        assert_eq!(parse_revocation_key(b"/ostrom/rotation/1/"), None);
    }
}
