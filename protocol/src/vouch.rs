//! Vouches: a lab's signed statement that a node (a libp2p peer id) belongs to it.
//!
//! A lab's publisher key is not a node key. To bind its nodes to it, the lab signs a
//! [`Vouch`] for each node's peer id, valid for a bounded time; a node presents its vouch
//! when it connects, and the other side checks it with [`Vouch::check`] (right peer, not
//! expired, not issued in the future) and that the lab is one it knows. Access control and
//! contribution accounting are keyed on the lab that vouched.
//!
//! A vouch is a signed [statement](crate::signed) with magic `OSTV` and version 1, signed by
//! `lab`, at most [`MAX_RECORD_SIZE`] bytes. The peer id is carried as opaque bytes here; the
//! node layer parses them as a libp2p `PeerId`.

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_CLOCK_SKEW_MS, MAX_PEER_ID_LEN, MAX_RECORD_SIZE, MAX_VOUCH_LIFETIME_MS};
use crate::signed::{invalid, RecordError, Signed, Statement};

/// The magic of a signed vouch.
pub const VOUCH_MAGIC: [u8; 4] = *b"OSTV";
/// The vouch format version this code reads and writes.
pub const VOUCH_VERSION: u8 = 1;

/// A vouch (the signed body): "peer belongs to lab", from `issued_ms` until `expires_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vouch {
    /// The lab's publisher key; the vouch is signed with its secret half.
    pub lab: [u8; 32],
    /// The node's libp2p peer id, as bytes (1 to [`MAX_PEER_ID_LEN`]).
    pub peer: Vec<u8>,
    /// When the vouch was issued, milliseconds since the Unix epoch.
    pub issued_ms: u64,
    /// When it stops being valid, milliseconds since the Unix epoch.
    pub expires_ms: u64,
}

/// A vouch with its signed bytes; only ever built from bytes that verified.
pub type SignedVouch = Signed<Vouch>;

/// Why a well-formed, correctly signed vouch does not admit a peer now.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VouchError {
    /// The vouch has expired.
    #[error(
        "the vouch expired at {expires_ms} ms (now {now_ms} ms); the lab must issue a new one"
    )]
    Expired {
        /// When the vouch expired.
        expires_ms: u64,
        /// The time it was checked at.
        now_ms: u64,
    },
    /// The vouch was issued further in the future than clock skew explains.
    #[error(
        "the vouch is issued at {issued_ms} ms, in the future (now {now_ms} ms); \
         check the clocks of both machines"
    )]
    NotYetValid {
        /// When the vouch says it was issued.
        issued_ms: u64,
        /// The time it was checked at.
        now_ms: u64,
    },
    /// The vouch names another peer than the one presenting it.
    #[error("the vouch is for another peer than the one that presented it")]
    WrongPeer,
}

impl Statement for Vouch {
    const KIND: &'static str = "vouch";
    const MAGIC: [u8; 4] = VOUCH_MAGIC;
    const VERSION: u8 = VOUCH_VERSION;
    const MAX_SIZE: usize = MAX_RECORD_SIZE;

    fn signer(&self) -> &[u8; 32] {
        &self.lab
    }

    fn validate(&self) -> Result<(), RecordError> {
        if self.peer.is_empty() || self.peer.len() > MAX_PEER_ID_LEN {
            return Err(invalid::<Self>(format!(
                "peer id of {} bytes (1 to {MAX_PEER_ID_LEN})",
                self.peer.len()
            )));
        }
        if self.expires_ms <= self.issued_ms {
            return Err(invalid::<Self>("it expires before it is issued"));
        }
        if self.expires_ms - self.issued_ms > MAX_VOUCH_LIFETIME_MS {
            return Err(invalid::<Self>(format!(
                "valid for {} ms, over the limit of {MAX_VOUCH_LIFETIME_MS} ms (400 days)",
                self.expires_ms - self.issued_ms
            )));
        }
        Ok(())
    }
}

impl Vouch {
    /// Whether this vouch admits the peer whose id bytes are `peer` at time `now_ms`: it must
    /// name that peer, be issued no more than [`MAX_CLOCK_SKEW_MS`] in the future, and not
    /// have expired (`now_ms < expires_ms`). The signer is the caller's to judge.
    pub fn check(&self, peer: &[u8], now_ms: u64) -> Result<(), VouchError> {
        if self.peer != peer {
            return Err(VouchError::WrongPeer);
        }
        if self.issued_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(VouchError::NotYetValid {
                issued_ms: self.issued_ms,
                now_ms,
            });
        }
        if now_ms >= self.expires_ms {
            return Err(VouchError::Expired {
                expires_ms: self.expires_ms,
                now_ms,
            });
        }
        Ok(())
    }
}

impl Signed<Vouch> {
    /// Whether this vouch admits `peer` at `now_ms` (see [`Vouch::check`]).
    pub fn check(&self, peer: &[u8], now_ms: u64) -> Result<(), VouchError> {
        self.body().check(peer, now_ms)
    }

    /// The lab that vouched: the key that signed this vouch.
    pub fn lab(&self) -> &[u8; 32] {
        &self.body().lab
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::name_record::NameRecord;
    use crate::signed::testing::{self, key, public, statement_properties};
    use crate::Id;

    const NOW: u64 = 1_700_000_000_000;
    const DAY: u64 = 24 * 60 * 60 * 1000;

    fn peer() -> Vec<u8> {
        let mut peer = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
        peer.extend_from_slice(&[9; 32]);
        peer
    }

    fn sample() -> Vouch {
        Vouch {
            lab: public(5),
            peer: peer(),
            issued_ms: NOW,
            expires_ms: NOW + 30 * DAY,
        }
    }

    prop_compose! {
        fn arb_vouch()(
            seed in any::<u8>(),
            peer in proptest::collection::vec(any::<u8>(), 1..=MAX_PEER_ID_LEN),
            issued_ms in 0..u64::MAX - MAX_VOUCH_LIFETIME_MS,
            lifetime in 1..=MAX_VOUCH_LIFETIME_MS,
        ) -> (Vouch, u8) {
            let vouch = Vouch {
                lab: public(seed),
                peer,
                issued_ms,
                expires_ms: issued_ms + lifetime,
            };
            (vouch, seed)
        }
    }

    statement_properties!(Vouch, arb_vouch());

    #[test]
    fn check_names_each_failure() {
        let signed = Signed::sign(sample(), &key(5)).expect("signs");
        assert_eq!(signed.lab(), &public(5));
        let ours = peer();
        type Case<'a> = (&'a str, &'a [u8], u64, Result<(), VouchError>);
        let cases: Vec<Case> = vec![
            ("valid now", &ours, NOW + DAY, Ok(())),
            ("valid at issue", &ours, NOW, Ok(())),
            ("within clock skew", &ours, NOW - MAX_CLOCK_SKEW_MS, Ok(())),
            ("last valid ms", &ours, NOW + 30 * DAY - 1, Ok(())),
            (
                "expired",
                &ours,
                NOW + 30 * DAY,
                Err(VouchError::Expired {
                    expires_ms: NOW + 30 * DAY,
                    now_ms: NOW + 30 * DAY,
                }),
            ),
            (
                "issued in the future",
                &ours,
                NOW - MAX_CLOCK_SKEW_MS - 1,
                Err(VouchError::NotYetValid {
                    issued_ms: NOW,
                    now_ms: NOW - MAX_CLOCK_SKEW_MS - 1,
                }),
            ),
            ("wrong peer", &[1, 2, 3], NOW, Err(VouchError::WrongPeer)),
            ("peer prefix", &ours[..10], NOW, Err(VouchError::WrongPeer)),
        ];
        for (what, peer, now, expected) in cases {
            assert_eq!(signed.check(peer, now), expected, "{what}");
        }
    }

    #[test]
    fn every_rule_is_enforced() {
        type Mutation = Box<dyn Fn(&mut Vouch)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("empty peer", Box::new(|v| v.peer.clear())),
            (
                "long peer",
                Box::new(|v| v.peer = vec![1; MAX_PEER_ID_LEN + 1]),
            ),
            ("expires at issue", Box::new(|v| v.expires_ms = v.issued_ms)),
            (
                "expires before issue",
                Box::new(|v| v.expires_ms = v.issued_ms - 1),
            ),
            (
                "lives too long",
                Box::new(|v| v.expires_ms = v.issued_ms + MAX_VOUCH_LIFETIME_MS + 1),
            ),
        ];
        for (what, mutate) in cases {
            let mut vouch = sample();
            mutate(&mut vouch);
            assert!(vouch.validate().is_err(), "{what} accepted");
            assert!(Signed::sign(vouch, &key(5)).is_err(), "{what} signed");
        }
        let mut longest = sample();
        longest.expires_ms = longest.issued_ms + MAX_VOUCH_LIFETIME_MS;
        assert_eq!(longest.validate(), Ok(()));
    }

    #[test]
    fn attacks_are_refused() {
        testing::refuses_common_attacks(sample(), &key(5));
        testing::other_kind_is_wrong_magic::<NameRecord, Vouch>(
            NameRecord::first(public(5), "m", Id::of(b"c"), None, 0),
            &key(5),
        );
    }
}
