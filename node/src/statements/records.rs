//! Which key revocations this node stores for its peers in the DHT: the value must be a
//! valid revocation of exactly the keys its DHT key names, and it replaces a copy already
//! stored only if it is preferred (earlier). Called from the record filter
//! ([`crate::records::check_incoming`]).

use ostrom_protocol::revocation::{parse_revocation_key, SignedRevocation};

/// `None` when `key` is not a revocation key; otherwise whether a peer's `value` may be
/// stored under it, given the copy already stored.
pub fn check_revocation(
    key: &[u8],
    value: &[u8],
    existing: Option<&[u8]>,
) -> Option<Result<(), String>> {
    let (revoked, recovery) = parse_revocation_key(key)?;
    Some(check(revoked, recovery, value, existing))
}

fn check(
    revoked: [u8; 32],
    recovery: [u8; 32],
    value: &[u8],
    existing: Option<&[u8]>,
) -> Result<(), String> {
    let revocation = SignedRevocation::from_bytes(value.to_vec()).map_err(|e| e.to_string())?;
    let body = revocation.body();
    if body.revoked_key != revoked || body.recovery_key != recovery {
        return Err("key revocation stored under another key's or recovery key's key".to_owned());
    }
    let stored = existing.and_then(|bytes| SignedRevocation::from_bytes(bytes.to_vec()).ok());
    match stored {
        Some(stored) if !revocation.preferred_over(&stored) => {
            Err("an earlier revocation of this key is already stored".to_owned())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use ostrom_protocol::revocation::{revocation_key, Revocation};
    use ostrom_protocol::rotation::{rotation_key, KeyRotation, SignedKeyRotation};

    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn public(seed: u8) -> [u8; 32] {
        key(seed).verifying_key().to_bytes()
    }

    fn revocation(recovery: u8, revoked: u8, at: u64) -> SignedRevocation {
        SignedRevocation::sign(
            Revocation {
                recovery_key: public(recovery),
                revoked_key: public(revoked),
                revoked_ms: at,
                successor: Some(public(2)),
            },
            &key(recovery),
        )
        .expect("signs")
    }

    #[test]
    fn table_of_incoming_revocations() {
        let early = revocation(9, 1, 10);
        let late = revocation(9, 1, 20);
        let rotation = SignedKeyRotation::sign(
            KeyRotation {
                old_key: public(1),
                new_key: public(3),
                rotated_ms: 0,
            },
            &key(1),
        )
        .expect("signs");
        let mut forged = early.bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let ours = early.body().dht_key();
        // (what, DHT key, value, copy already stored, accepted)
        type Case = (&'static str, Vec<u8>, Vec<u8>, Option<Vec<u8>>, bool);
        let cases: Vec<Case> = vec![
            (
                "under its key",
                ours.clone(),
                early.bytes().to_vec(),
                None,
                true,
            ),
            (
                "earlier replaces later",
                ours.clone(),
                early.bytes().to_vec(),
                Some(late.bytes().to_vec()),
                true,
            ),
            (
                "later does not replace earlier",
                ours.clone(),
                late.bytes().to_vec(),
                Some(early.bytes().to_vec()),
                false,
            ),
            (
                "a replay does not replace itself",
                ours.clone(),
                early.bytes().to_vec(),
                Some(early.bytes().to_vec()),
                false,
            ),
            ("forged signature", ours.clone(), forged, None, false),
            (
                "by another recovery key, under the lab's key",
                ours.clone(),
                revocation(8, 1, 0).bytes().to_vec(),
                Some(late.bytes().to_vec()),
                false,
            ),
            (
                "of another key",
                revocation_key(&public(4), &public(9)),
                early.bytes().to_vec(),
                None,
                false,
            ),
            (
                "a rotation under a revocation key",
                ours.clone(),
                rotation.bytes().to_vec(),
                None,
                false,
            ),
        ];
        for (what, key, value, existing, accepted) in cases {
            let verdict = check_revocation(&key, &value, existing.as_deref());
            assert_eq!(
                verdict.as_ref().map(Result::is_ok),
                Some(accepted),
                "{what}: {verdict:?}"
            );
        }
        assert!(
            check_revocation(&rotation_key(&public(1)), rotation.bytes(), None).is_none(),
            "a rotation key is not a revocation key"
        );
    }
}
