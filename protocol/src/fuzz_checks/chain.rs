//! Checks of [`crate::chain`]: the keys a trust store entry covers, given rotations and
//! revocations among a few keys, built from the input and signed.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use ed25519_dalek::SigningKey;

use crate::chain::{follow_rotations, is_trusted, trust_chain, KeyHistory, TrustRoot};
use crate::revocation::{Revocation, SignedRevocation};
use crate::rotation::{KeyRotation, SignedKeyRotation};

/// How many keys the statements are made among.
const KEYS: usize = 5;
/// Most statements one input makes.
const MAX_STATEMENTS: usize = 12;
/// Signed statements kept between inputs (signing is the slow part of this check).
const CACHED: usize = 1 << 14;

fn keys() -> &'static [(SigningKey, [u8; 32]); KEYS] {
    static KEYS_: OnceLock<[(SigningKey, [u8; 32]); KEYS]> = OnceLock::new();
    KEYS_.get_or_init(|| {
        std::array::from_fn(|i| {
            let key = SigningKey::from_bytes(&[0xc0 + i as u8; 32]);
            let public = key.verifying_key().to_bytes();
            (key, public)
        })
    })
}

/// One statement as the input describes it, in 4 bytes: the first holds the kind (bit 0:
/// 0 a rotation, 1 a revocation), the signer (bits 1-3) and the key it is about (bits 4-7);
/// the second a revocation's successor (bit 7: whether there is one; bits 0-6: which); the
/// last two the time, little-endian. Key choices are taken modulo the number of keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Made {
    rotation: bool,
    signer: usize,
    subject: usize,
    successor: Option<usize>,
    time: u64,
}

enum Statement {
    Rotation(SignedKeyRotation),
    Revocation(SignedRevocation),
}

thread_local! {
    static SIGNED: RefCell<HashMap<Made, Option<std::rc::Rc<Statement>>>> = RefCell::default();
}

/// The statement `made` describes, signed by its signer; `None` when it breaks a rule.
fn sign(made: Made) -> Option<std::rc::Rc<Statement>> {
    if let Some(held) = SIGNED.with(|cache| cache.borrow().get(&made).cloned()) {
        return held;
    }
    let keys = keys();
    let (signer, signer_public) = &keys[made.signer];
    let subject = keys[made.subject].1;
    let statement = if made.rotation {
        SignedKeyRotation::sign(
            KeyRotation {
                old_key: *signer_public,
                new_key: subject,
                rotated_ms: made.time,
            },
            signer,
        )
        .ok()
        .map(Statement::Rotation)
    } else {
        SignedRevocation::sign(
            Revocation {
                recovery_key: *signer_public,
                revoked_key: subject,
                revoked_ms: made.time,
                successor: made.successor.map(|i| keys[i].1),
            },
            signer,
        )
        .ok()
        .map(Statement::Revocation)
    }
    .map(std::rc::Rc::new);
    SIGNED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHED {
            cache.clear();
        }
        cache.insert(made, statement.clone());
    });
    statement
}

/// Builds a trust root and a history from the input (the first byte: the root key, modulo
/// the number of keys, and in its high four bits the recovery key, 0 for none; then one
/// statement per 4 bytes) and checks [`trust_chain`]: it starts
/// at the root key, names no key twice, never trusts a key from earlier than the one before
/// it, every step is a rotation from the key before or a revocation by the root's recovery
/// key naming its successor, and neither the chain nor [`is_trusted`] depends on the order
/// the statements were found in.
pub fn chain(data: &[u8]) {
    let Some((&root, rest)) = data.split_first() else {
        return;
    };
    let keys = keys();
    let root = TrustRoot {
        key: keys[usize::from(root) % KEYS].1,
        recovery: (root / 16 != 0).then(|| keys[usize::from(root / 16) % KEYS].1),
    };
    let mut history = KeyHistory::default();
    for bytes in rest.chunks_exact(4).take(MAX_STATEMENTS) {
        let choice = usize::from(bytes[0]);
        let made = Made {
            rotation: choice & 1 == 0,
            signer: ((choice >> 1) & 7) % KEYS,
            subject: (choice >> 4) % KEYS,
            successor: (bytes[1] & 0x80 != 0).then_some(usize::from(bytes[1] & 0x7f) % KEYS),
            time: u64::from(u16::from_le_bytes([bytes[2], bytes[3]])),
        };
        match sign(made).as_deref() {
            Some(Statement::Rotation(r)) => history.rotations.push(r.clone()),
            Some(Statement::Revocation(r)) => history.revocations.push(r.clone()),
            None => {}
        }
    }

    let chain = trust_chain(root, &history);
    let first = chain.first().expect("a chain holds at least its root");
    assert_eq!((first.key, first.since_ms), (root.key, 0));
    let distinct: BTreeSet<_> = chain.iter().map(|link| link.key).collect();
    assert_eq!(distinct.len(), chain.len(), "a key twice in the chain");
    assert!(chain.len() <= history.rotations.len() + history.revocations.len() + 1);
    for pair in chain.windows(2) {
        let (before, link) = (&pair[0], &pair[1]);
        assert!(link.since_ms >= before.since_ms);
        let rotated = history.rotations.iter().any(|r| {
            let r = r.body();
            r.old_key == before.key && r.new_key == link.key && before.until_ms.is_none()
        });
        let revoked = history.revocations.iter().any(|r| {
            let r = r.body();
            Some(r.recovery_key) == root.recovery
                && r.revoked_key == before.key
                && r.successor == Some(link.key)
                && before.until_ms == Some(r.revoked_ms)
        });
        assert!(rotated || revoked, "a link no statement justifies");
    }
    assert_eq!(
        follow_rotations(root, &history),
        chain.last().expect("not empty").key
    );

    let mut reversed = history.clone();
    reversed.rotations.reverse();
    reversed.revocations.reverse();
    assert_eq!(
        trust_chain(root, &reversed),
        chain,
        "the order of statements matters"
    );
    for (_, key) in keys {
        for time in [0, 1, 100, u64::from(u16::MAX), u64::MAX] {
            let trusted = is_trusted(root, &history, key, time);
            assert_eq!(trusted, is_trusted(root, &reversed, key, time));
            let covered = chain.iter().any(|link| {
                link.key == *key
                    && time >= link.since_ms
                    && link.until_ms.is_none_or(|until| time < until)
            });
            assert_eq!(trusted, covered);
        }
    }
}
