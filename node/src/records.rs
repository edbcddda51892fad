//! Which signed records this node stores for its peers in the DHT: a record is kept only if
//! its key is one the protocol defines (name record, retraction, key rotation), its value is
//! a valid signed statement for exactly that key, and it does not replace a newer copy (a
//! name record with a higher sequence number, or an earlier rotation of the same key).

use ostrom_protocol::name_record::{parse_name_key, SignedNameRecord};
use ostrom_protocol::retraction::{parse_retraction_key, SignedRetraction};
use ostrom_protocol::revocation::parse_revocation_key;
use ostrom_protocol::rotation::{parse_rotation_key, SignedKeyRotation};

/// The key that signs whatever record may be stored under `key`: a name record's or
/// retraction's publisher, a rotation's old key, a revocation's recovery key. `None` for a
/// key Ostrom does not define.
pub fn signer_of_key(key: &[u8]) -> Option<[u8; 32]> {
    if let Some((publisher, _)) = parse_name_key(key) {
        return Some(publisher);
    }
    if let Some((_, publisher)) = parse_retraction_key(key) {
        return Some(publisher);
    }
    if let Some(old_key) = parse_rotation_key(key) {
        return Some(old_key);
    }
    parse_revocation_key(key).map(|(_, recovery)| recovery)
}

/// Checks a record a peer asks this node to store, given the copy already stored.
pub fn check_incoming(key: &[u8], value: &[u8], existing: Option<&[u8]>) -> Result<(), String> {
    if let Some((publisher, model)) = parse_name_key(key) {
        return check_name_record(&publisher, &model, value, existing);
    }
    if let Some((checkpoint, publisher)) = parse_retraction_key(key) {
        let retraction = SignedRetraction::from_bytes(value.to_vec()).map_err(|e| e.to_string())?;
        let body = retraction.body();
        if body.checkpoint != checkpoint || body.publisher != publisher {
            return Err(
                "retraction stored under another checkpoint's or publisher's key".to_owned(),
            );
        }
        return Ok(());
    }
    if let Some(old_key) = parse_rotation_key(key) {
        let rotation = SignedKeyRotation::from_bytes(value.to_vec()).map_err(|e| e.to_string())?;
        if rotation.body().old_key != old_key {
            return Err("key rotation stored under another key's key".to_owned());
        }
        let stored = existing.and_then(|bytes| SignedKeyRotation::from_bytes(bytes.to_vec()).ok());
        if let Some(stored) = stored {
            if !rotation.preferred_over(&stored) {
                return Err("an earlier rotation of this key is already stored".to_owned());
            }
        }
        return Ok(());
    }
    if let Some(verdict) = crate::statements::records::check_revocation(key, value, existing) {
        return verdict;
    }
    Err("not a record key Ostrom defines".to_owned())
}

fn check_name_record(
    publisher: &[u8; 32],
    model: &str,
    value: &[u8],
    existing: Option<&[u8]>,
) -> Result<(), String> {
    let record = SignedNameRecord::from_bytes(value.to_vec()).map_err(|e| e.to_string())?;
    let body = record.body();
    if body.publisher != *publisher || body.model != model {
        return Err(format!(
            "name record for {:?} stored under the key of {model:?}",
            body.model
        ));
    }
    if let Some(existing) =
        existing.and_then(|bytes| SignedNameRecord::from_bytes(bytes.to_vec()).ok())
    {
        let newer = record.supersedes(&existing).map_err(|e| e.to_string())?;
        if !newer {
            return Err(format!(
                "name record with sequence {} does not replace the stored sequence {}",
                body.seq,
                existing.body().seq
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use ostrom_protocol::name_record::{name_key, NameRecord};
    use ostrom_protocol::retraction::{retraction_key, Retraction};
    use ostrom_protocol::rotation::KeyRotation;
    use ostrom_protocol::Id;

    fn record(key: &SigningKey, model: &str, seq_steps: u64) -> SignedNameRecord {
        let publisher = key.verifying_key().to_bytes();
        let mut body = NameRecord::first(publisher, model, Id::of(b"c0"), Some("v0"), 1);
        for step in 0..seq_steps {
            body = body
                .next(Id::of(&step.to_le_bytes()), None, 2 + step)
                .expect("next");
        }
        SignedNameRecord::sign(body, key).expect("sign")
    }

    #[test]
    fn table_of_incoming_records() {
        let lab = SigningKey::from_bytes(&[1; 32]);
        let other = SigningKey::from_bytes(&[2; 32]);
        let key = name_key(&lab.verifying_key().to_bytes(), "gpt");
        let v1 = record(&lab, "gpt", 0);
        let v3 = record(&lab, "gpt", 2);
        let retraction = SignedRetraction::sign(
            Retraction {
                publisher: lab.verifying_key().to_bytes(),
                checkpoint: Id::of(b"c0"),
                reason: "bad data".into(),
                retracted_ms: 5,
            },
            &lab,
        )
        .expect("sign");
        let rotation = |to: &SigningKey, at: u64| {
            SignedKeyRotation::sign(
                KeyRotation {
                    old_key: lab.verifying_key().to_bytes(),
                    new_key: to.verifying_key().to_bytes(),
                    rotated_ms: at,
                },
                &lab,
            )
            .expect("sign")
        };
        let (early, late) = (
            rotation(&other, 10),
            rotation(&SigningKey::from_bytes(&[9; 32]), 20),
        );
        let mut forged = v3.bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        // (what, key, value, stored copy, accepted)
        type Case<'a> = (&'a str, Vec<u8>, Vec<u8>, Option<Vec<u8>>, bool);
        let cases: Vec<Case> = vec![
            (
                "fresh valid record",
                key.clone(),
                v1.bytes().to_vec(),
                None,
                true,
            ),
            (
                "newer replaces older",
                key.clone(),
                v3.bytes().to_vec(),
                Some(v1.bytes().to_vec()),
                true,
            ),
            (
                "replayed older sequence",
                key.clone(),
                v1.bytes().to_vec(),
                Some(v3.bytes().to_vec()),
                false,
            ),
            (
                "same sequence again",
                key.clone(),
                v3.bytes().to_vec(),
                Some(v3.bytes().to_vec()),
                false,
            ),
            ("forged signature", key.clone(), forged, None, false),
            (
                "truncated",
                key.clone(),
                v1.bytes()[..20].to_vec(),
                None,
                false,
            ),
            ("oversized", key.clone(), vec![0; 70_000], None, false),
            (
                "other publisher under this key",
                key.clone(),
                record(&other, "gpt", 0).bytes().to_vec(),
                None,
                false,
            ),
            (
                "other model under this key",
                key.clone(),
                record(&lab, "bert", 0).bytes().to_vec(),
                None,
                false,
            ),
            (
                "unknown key",
                b"/other/key".to_vec(),
                v1.bytes().to_vec(),
                None,
                false,
            ),
            (
                "retraction under its key",
                retraction.body().dht_key(),
                retraction.bytes().to_vec(),
                None,
                true,
            ),
            (
                "retraction under another checkpoint",
                retraction_key(&Id::of(b"other"), &lab.verifying_key().to_bytes()),
                retraction.bytes().to_vec(),
                None,
                false,
            ),
            (
                "name record under a retraction key",
                retraction.body().dht_key(),
                v1.bytes().to_vec(),
                None,
                false,
            ),
            (
                "rotation under its key",
                early.body().dht_key(),
                early.bytes().to_vec(),
                None,
                true,
            ),
            (
                "earlier rotation replaces later",
                early.body().dht_key(),
                early.bytes().to_vec(),
                Some(late.bytes().to_vec()),
                true,
            ),
            (
                "later rotation does not replace earlier",
                late.body().dht_key(),
                late.bytes().to_vec(),
                Some(early.bytes().to_vec()),
                false,
            ),
        ];
        for (what, key, value, existing, accepted) in cases {
            let verdict = check_incoming(&key, &value, existing.as_deref());
            assert_eq!(verdict.is_ok(), accepted, "{what}: {verdict:?}");
        }
    }
}
