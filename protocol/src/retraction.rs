//! Retractions: a publisher's signed statement that one of its checkpoints should no longer
//! be used (bad data, a leak, a license problem).
//!
//! A node that learns of a retraction for a checkpoint, signed by that checkpoint's
//! publisher ([`Retraction::applies_to`]), refuses to fetch it unless told to go ahead
//! anyway, and then warns. A retraction cannot be undone; the publisher publishes a new
//! checkpoint instead.
//!
//! A retraction is a signed [statement](crate::signed) with magic `OSTX` and version 1,
//! signed by `publisher`, at most [`MAX_RECORD_SIZE`] bytes. It lives in the DHT under
//! [`retraction_key`], which names both the checkpoint and the publisher, so a statement
//! signed by anyone else can never take the place of the publisher's own.

use serde::{Deserialize, Serialize};

use crate::id::Id;
use crate::limits::{MAX_REASON_LEN, MAX_RECORD_SIZE};
use crate::manifest::SignedManifest;
use crate::signed::{invalid, record_key, RecordError, Signed, Statement};

/// The magic of a signed retraction.
pub const RETRACTION_MAGIC: [u8; 4] = *b"OSTX";
/// The retraction format version this code reads and writes.
pub const RETRACTION_VERSION: u8 = 1;

const RETRACTION_PREFIX: &[u8] = b"/ostrom/retraction/1/";

/// A retraction (the signed body): "do not use `checkpoint`", by its publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retraction {
    /// The publisher's ed25519 public key; the retraction is signed with its secret half.
    pub publisher: [u8; 32],
    /// The checkpoint id retracted.
    pub checkpoint: Id,
    /// Why, for people: at most [`MAX_REASON_LEN`] bytes, no control character; may be
    /// empty.
    pub reason: String,
    /// When it was retracted, milliseconds since the Unix epoch.
    pub retracted_ms: u64,
}

/// A retraction with its signed bytes; only ever built from bytes that verified.
pub type SignedRetraction = Signed<Retraction>;

impl Statement for Retraction {
    const KIND: &'static str = "retraction";
    const MAGIC: [u8; 4] = RETRACTION_MAGIC;
    const VERSION: u8 = RETRACTION_VERSION;
    const MAX_SIZE: usize = MAX_RECORD_SIZE;

    fn signer(&self) -> &[u8; 32] {
        &self.publisher
    }

    fn validate(&self) -> Result<(), RecordError> {
        if self.reason.len() > MAX_REASON_LEN {
            return Err(invalid::<Self>(format!(
                "reason is {} bytes, over the limit of {MAX_REASON_LEN}",
                self.reason.len()
            )));
        }
        if self.reason.chars().any(char::is_control) {
            return Err(invalid::<Self>("reason holds a control character"));
        }
        Ok(())
    }
}

impl Retraction {
    /// Whether this retraction retracts `manifest`: it names that checkpoint id and its
    /// publisher is the manifest's publisher. A retraction signed by anyone else means
    /// nothing for that checkpoint.
    pub fn applies_to(&self, manifest: &SignedManifest) -> bool {
        self.checkpoint == manifest.id() && self.publisher == manifest.manifest().publisher
    }

    /// The DHT key of this retraction: [`retraction_key`] of its checkpoint and publisher.
    pub fn dht_key(&self) -> Vec<u8> {
        retraction_key(&self.checkpoint, &self.publisher)
    }
}

/// The DHT key of `publisher`'s retraction of `checkpoint`: the bytes of
/// `/ostrom/retraction/1/`, the 32 raw id bytes, then the 32 publisher key bytes.
pub fn retraction_key(checkpoint: &Id, publisher: &[u8; 32]) -> Vec<u8> {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(checkpoint.as_bytes());
    both[32..].copy_from_slice(publisher);
    record_key(RETRACTION_PREFIX, &both)
}

/// The checkpoint id and publisher key a retraction key names, if `key` is one.
pub fn parse_retraction_key(key: &[u8]) -> Option<(Id, [u8; 32])> {
    let both: [u8; 64] = key.strip_prefix(RETRACTION_PREFIX)?.try_into().ok()?;
    let mut checkpoint = [0u8; 32];
    let mut publisher = [0u8; 32];
    checkpoint.copy_from_slice(&both[..32]);
    publisher.copy_from_slice(&both[32..]);
    Some((Id(checkpoint), publisher))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    use super::*;
    use crate::manifest::{ChunkRef, FileEntry, Manifest};
    use crate::signed::testing::{self, key, public, statement_properties};
    use crate::vouch::Vouch;

    fn sample() -> Retraction {
        Retraction {
            publisher: public(4),
            checkpoint: Id::of(b"checkpoint"),
            reason: "evaluation data leaked into the training set".into(),
            retracted_ms: 1_700_000_000_000,
        }
    }

    prop_compose! {
        fn arb_retraction()(
            seed in any::<u8>(),
            checkpoint in any::<[u8; 32]>(),
            reason in "\\PC{0,200}",
            retracted_ms in any::<u64>(),
        ) -> (Retraction, u8) {
            let retraction = Retraction {
                publisher: public(seed),
                checkpoint: Id(checkpoint),
                reason,
                retracted_ms,
            };
            (retraction, seed)
        }
    }

    statement_properties!(Retraction, arb_retraction());

    fn manifest(key: &SigningKey) -> SignedManifest {
        let manifest = Manifest {
            publisher: key.verifying_key().to_bytes(),
            name: "m".into(),
            tag: None,
            parent: None,
            created_ms: 0,
            metadata: Default::default(),
            files: vec![FileEntry {
                path: "a".into(),
                size: 1,
                id: Id::of(b"a"),
                chunks: vec![ChunkRef {
                    id: Id::of(b"a"),
                    len: 1,
                }],
                tensors: vec![],
            }],
        };
        SignedManifest::sign(manifest, key).expect("signs")
    }

    #[test]
    fn applies_only_to_its_checkpoint_by_its_publisher() {
        let ours = manifest(&key(4));
        let theirs = manifest(&key(6));
        let mut retraction = sample();
        retraction.checkpoint = ours.id();
        assert!(retraction.applies_to(&ours));
        assert!(!sample().applies_to(&ours), "another checkpoint");
        retraction.checkpoint = theirs.id();
        let signed = Signed::sign(retraction, &key(4)).expect("signs");
        assert!(
            !signed.body().applies_to(&theirs),
            "a stranger retracted a checkpoint"
        );
    }

    #[test]
    fn every_rule_is_enforced() {
        let mut long = sample();
        long.reason = "r".repeat(MAX_REASON_LEN + 1);
        let mut control = sample();
        control.reason = "see \u{1b}[31m".into();
        for (what, retraction) in [("long reason", long), ("control in reason", control)] {
            assert!(retraction.validate().is_err(), "{what} accepted");
            assert!(Signed::sign(retraction, &key(4)).is_err(), "{what} signed");
        }
        let mut edge = sample();
        edge.reason = "r".repeat(MAX_REASON_LEN);
        assert_eq!(edge.validate(), Ok(()));
        edge.reason.clear();
        assert_eq!(edge.validate(), Ok(()));
    }

    #[test]
    fn attacks_are_refused() {
        testing::refuses_common_attacks(sample(), &key(4));
        testing::other_kind_is_wrong_magic::<Vouch, Retraction>(
            Vouch {
                lab: public(4),
                peer: vec![1],
                issued_ms: 0,
                expires_ms: 1,
            },
            &key(4),
        );
    }

    #[test]
    fn retraction_key_round_trips() {
        let id = Id::of(b"x");
        let publisher = public(4);
        let key = retraction_key(&id, &publisher);
        assert_eq!(key.len(), 21 + 64);
        assert_eq!(
            sample().dht_key(),
            retraction_key(&sample().checkpoint, &sample().publisher)
        );
        assert_eq!(parse_retraction_key(&key), Some((id, publisher)));
        assert_eq!(parse_retraction_key(&key[..60]), None);
        assert_eq!(parse_retraction_key(&crate::dht::holders_key(&id)), None);
    }
}
