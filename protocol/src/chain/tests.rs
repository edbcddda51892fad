//! Trust decisions through rotations and revocations, as tables of (signer, time, expected).

use super::*;
use crate::revocation::Revocation;
use crate::rotation::KeyRotation;
use crate::signed::testing::{key, public};

/// The lab's publisher key, its honest next key, the thief's key, the recovery key, and a
/// key nobody trusts.
const LAB: u8 = 1;
const NEXT: u8 = 2;
const THIEF: u8 = 3;
const RECOVERY: u8 = 9;
const OTHER_RECOVERY: u8 = 8;

fn rotate(from: u8, to: u8, at: u64) -> SignedKeyRotation {
    let body = KeyRotation {
        old_key: public(from),
        new_key: public(to),
        rotated_ms: at,
    };
    Signed::sign(body, &key(from)).expect("signs")
}

fn revoke_by(recovery: u8, revoked: u8, at: u64, successor: Option<u8>) -> SignedRevocation {
    let body = Revocation {
        recovery_key: public(recovery),
        revoked_key: public(revoked),
        revoked_ms: at,
        successor: successor.map(public),
    };
    Signed::sign(body, &key(recovery)).expect("signs")
}

fn revoke(revoked: u8, at: u64, successor: Option<u8>) -> SignedRevocation {
    revoke_by(RECOVERY, revoked, at, successor)
}

fn root(recovery: Option<u8>) -> TrustRoot {
    TrustRoot {
        key: public(LAB),
        recovery: recovery.map(public),
    }
}

fn history(rotations: &[SignedKeyRotation], revocations: &[SignedRevocation]) -> KeyHistory {
    KeyHistory {
        rotations: rotations.to_vec(),
        revocations: revocations.to_vec(),
    }
}

/// Checks every `(what, signer, created_ms, trusted)` row against `root` and `history`.
fn check(root: TrustRoot, history: &KeyHistory, rows: &[(&str, u8, u64, bool)]) {
    for &(what, signer, at, expected) in rows {
        assert_eq!(
            is_trusted(root, history, &public(signer), at),
            expected,
            "{what}: key {signer} at {at}"
        );
    }
}

#[test]
fn chains_are_followed_and_cycles_ignored() {
    let follow = |start: u8, rotations: &[SignedKeyRotation]| {
        follow_rotations(public(start), &history(rotations, &[]))
    };
    assert_eq!(follow(1, &[]), public(1));
    let chain = [rotate(2, 3, 30), rotate(1, 2, 10), rotate(7, 8, 1)];
    assert_eq!(follow(1, &chain), public(3));
    assert_eq!(follow(2, &chain), public(3));
    assert_eq!(follow(3, &chain), public(3));

    let cycle = [rotate(1, 2, 10), rotate(2, 3, 20), rotate(3, 1, 30)];
    assert_eq!(follow(1, &cycle), public(3));
    assert_eq!(follow(2, &cycle), public(1));
    assert_eq!(trust_chain(public(1), &history(&cycle, &[])).len(), 3);
}

#[test]
fn new_keys_are_trusted_from_their_rotation_time() {
    let chain = history(&[rotate(1, 2, 100), rotate(2, 3, 50)], &[]);
    check(
        public(1).into(),
        &chain,
        &[
            ("the trusted key itself", 1, 0, true),
            ("the trusted key, later", 1, 1_000, true),
            ("new key before the rotation", 2, 99, false),
            ("new key at the rotation", 2, 100, true),
            ("a later link reaching back in time", 3, 60, false),
            ("the last key", 3, 100, true),
            ("a stranger", 9, 1_000, false),
        ],
    );
    assert!(
        !is_trusted(public(2), &chain, &public(1), 1_000),
        "backwards"
    );
}

/// The finding: a thief holding the lab's key rotates it, dated before the lab's own
/// rotation, so the earliest-rotation rule picks the thief's.
#[test]
fn without_a_revocation_a_stolen_key_wins() {
    let stolen = history(&[rotate(LAB, NEXT, 100), rotate(LAB, THIEF, 50)], &[]);
    check(
        root(Some(RECOVERY)),
        &stolen,
        &[
            (
                "the thief's backdated rotation is preferred",
                THIEF,
                60,
                true,
            ),
            ("so the lab's next key is not followed", NEXT, 200, false),
            ("and the stolen key still signs", LAB, 10_000, true),
        ],
    );
}

#[test]
fn a_revocation_cuts_the_stolen_key_and_names_the_lab_s_key() {
    let rotations = [rotate(LAB, NEXT, 100), rotate(LAB, THIEF, 50)];
    let recovered = history(&rotations, &[revoke(LAB, 100, Some(NEXT))]);
    check(
        root(Some(RECOVERY)),
        &recovered,
        &[
            ("the revoked key before the revocation", LAB, 99, true),
            ("the revoked key at the revocation", LAB, 100, false),
            ("the revoked key after it", LAB, 5_000, false),
            (
                "the thief's rotation, dated before, is ignored",
                THIEF,
                60,
                false,
            ),
            ("the thief's key after it", THIEF, 5_000, false),
            ("the successor before the revocation", NEXT, 99, false),
            ("the successor from the revocation", NEXT, 100, true),
            ("the successor later", NEXT, 5_000, true),
        ],
    );
    assert_eq!(
        follow_rotations(root(Some(RECOVERY)), &recovered),
        public(NEXT)
    );
}

#[test]
fn a_revocation_without_successor_ends_the_chain() {
    let revoked = history(&[rotate(LAB, THIEF, 200)], &[revoke(LAB, 100, None)]);
    check(
        root(Some(RECOVERY)),
        &revoked,
        &[
            ("before", LAB, 50, true),
            ("after", LAB, 150, false),
            ("the rotation after the revocation", THIEF, 300, false),
        ],
    );
    assert_eq!(
        follow_rotations(root(Some(RECOVERY)), &revoked),
        public(LAB)
    );
}

#[test]
fn later_keys_of_the_chain_can_be_revoked_too() {
    // The lab rotated to NEXT; NEXT was stolen and rotated to THIEF; the lab revokes NEXT
    // and names a fresh key (4).
    let rotations = [rotate(LAB, NEXT, 100), rotate(NEXT, THIEF, 300)];
    let recovered = history(&rotations, &[revoke(NEXT, 250, Some(4))]);
    check(
        root(Some(RECOVERY)),
        &recovered,
        &[
            ("the first key is untouched", LAB, 5_000, true),
            ("the revoked key while it was good", NEXT, 200, true),
            ("the revoked key after", NEXT, 250, false),
            ("the thief's key", THIEF, 400, false),
            ("the new key", 4, 250, true),
        ],
    );
}

#[test]
fn revocations_by_other_keys_or_without_a_recovery_key_are_ignored() {
    let rotations = [rotate(LAB, NEXT, 100)];
    let cases = [
        (
            "the entry names no recovery key",
            root(None),
            revoke(LAB, 10, Some(THIEF)),
        ),
        (
            "signed by another recovery key",
            root(Some(RECOVERY)),
            revoke_by(OTHER_RECOVERY, LAB, 10, Some(THIEF)),
        ),
        (
            // The thief holds LAB and signs as recovery key of NEXT: a statement that
            // verifies, under a recovery key no entry names.
            "signed by the stolen key itself",
            root(Some(RECOVERY)),
            revoke_by(LAB, NEXT, 10, Some(THIEF)),
        ),
    ];
    for (what, root, revocation) in cases {
        let found = history(&rotations, &[revocation]);
        assert!(
            is_trusted(root, &found, &public(LAB), 5_000),
            "{what}: revoked"
        );
        assert!(
            is_trusted(root, &found, &public(NEXT), 5_000),
            "{what}: next"
        );
        assert!(
            !is_trusted(root, &found, &public(THIEF), 5_000),
            "{what}: successor trusted"
        );
    }
}

#[test]
fn the_earliest_revocation_applies_and_replays_change_nothing() {
    let late = revoke(LAB, 500, Some(NEXT));
    let early = revoke(LAB, 100, Some(NEXT));
    for revocations in [
        vec![late.clone(), early.clone()],
        vec![early.clone(), late.clone()],
        vec![early.clone(), early.clone(), late.clone()],
    ] {
        let found = history(&[], &revocations);
        check(
            root(Some(RECOVERY)),
            &found,
            &[
                ("between the two revocations", LAB, 200, false),
                ("before both", LAB, 50, true),
                ("successor from the earliest", NEXT, 100, true),
            ],
        );
    }
}

#[test]
fn a_successor_never_reaches_back_before_its_predecessor() {
    let found = history(&[rotate(LAB, NEXT, 300)], &[revoke(NEXT, 100, Some(4))]);
    check(
        root(Some(RECOVERY)),
        &found,
        &[
            ("the revoked key is never trusted", NEXT, 300, false),
            ("the successor before its predecessor", 4, 200, false),
            ("the successor from its predecessor's time", 4, 300, true),
        ],
    );
}
