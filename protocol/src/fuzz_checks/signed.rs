//! Checks of the signed objects: the manifest, every kind of signed statement, and the
//! envelope they share.

use std::collections::HashSet;
use std::fmt::Debug;

use super::{fuzz_key, AS_BODY};
use crate::envelope::{self, EnvelopeError};
use crate::id::Id;
use crate::limits::*;
use crate::manifest::{Manifest, ManifestError, SignedManifest, MANIFEST_MAGIC, MANIFEST_VERSION};
use crate::name_record::{parse_name_key, NameRecord};
use crate::path::check_relative_path;
use crate::retraction::{parse_retraction_key, Retraction};
use crate::revocation::{parse_revocation_key, Revocation};
use crate::rotation::{parse_rotation_key, KeyRotation};
use crate::signed::{RecordError, Signed, Statement};
use crate::trust::check_public_key;
use crate::vouch::{Vouch, VouchError};

/// The signed bytes an input stands for: the input after its first byte, or that sealed as
/// a body of `magic` and `version`. With them, whether the body names [`fuzz_key`] as its
/// signer (its first 32 bytes, in every kind); only such a body is signed with it, since no
/// signature verifies under another key (a zero signature stands in, saving the time).
fn signed_bytes(data: &[u8], magic: [u8; 4], version: u8) -> Option<(Vec<u8>, bool)> {
    let (&mode, rest) = data.split_first()?;
    if mode & 1 != AS_BODY {
        return Some((rest.to_vec(), false));
    }
    if rest.get(..32) == Some(fuzz_key().verifying_key().as_bytes().as_slice()) {
        return Some((envelope::seal(magic, version, rest, fuzz_key()), true));
    }
    let length = u32::try_from(rest.len()).ok()?;
    let bytes = [
        &magic[..],
        &[version],
        &length.to_le_bytes(),
        rest,
        &[0; 64],
    ]
    .concat();
    Some((bytes, false))
}

fn is_signature_error(error: &EnvelopeError) -> bool {
    matches!(error, EnvelopeError::BadSignature | EnvelopeError::BadKey)
}

/// Reads a signed manifest and checks what an accepted one promises.
pub fn manifest(data: &[u8]) {
    let Some((bytes, ours)) = signed_bytes(data, MANIFEST_MAGIC, MANIFEST_VERSION) else {
        return;
    };
    let signed = match SignedManifest::from_bytes(bytes.clone()) {
        Ok(signed) => signed,
        Err(ManifestError::Envelope(error)) if ours && is_signature_error(&error) => {
            panic!("a manifest signed by its publisher is refused: {error}")
        }
        Err(_) => return,
    };
    assert_eq!(signed.bytes(), bytes.as_slice());
    assert_eq!(signed.id(), Id::of(&bytes));
    assert!(bytes.len() <= MAX_MANIFEST_SIZE);
    let manifest = signed.manifest();
    manifest.validate().expect("an accepted manifest is valid");
    within_limits(manifest);

    let encoded = postcard::to_stdvec(manifest).expect("encodes");
    let decoded: Manifest = postcard::from_bytes(&encoded).expect("decodes again");
    assert_eq!(&decoded, manifest, "the manifest changed on re-encoding");
    if manifest.publisher == fuzz_key().verifying_key().to_bytes() {
        let again = SignedManifest::sign(manifest.clone(), fuzz_key()).expect("signs again");
        let read = SignedManifest::from_bytes(again.bytes().to_vec()).expect("reads again");
        assert_eq!(read.manifest(), manifest);
    }
}

/// Every limit of SPEC.md an accepted manifest obeys, checked here one by one.
fn within_limits(manifest: &Manifest) {
    assert!(!manifest.name.is_empty() && manifest.name.len() <= MAX_NAME_LEN);
    assert!(manifest.tag.as_ref().is_none_or(|t| t.len() <= MAX_TAG_LEN));
    assert!(manifest.metadata.len() <= MAX_METADATA_ENTRIES);
    for (key, value) in &manifest.metadata {
        assert!(key.len() <= MAX_METADATA_KEY_LEN && value.len() <= MAX_METADATA_VALUE_LEN);
    }
    let readers = manifest
        .readers()
        .expect("the readers of an accepted manifest");
    if let Some(readers) = readers {
        assert_eq!(readers.first(), Some(&manifest.publisher));
        assert!(readers.len() <= MAX_READERS + 1);
        assert_eq!(readers.iter().collect::<HashSet<_>>().len(), readers.len());
    }
    assert!(!manifest.files.is_empty() && manifest.files.len() <= MAX_FILES);
    let mut tensors = 0;
    let mut paths = HashSet::new();
    for file in &manifest.files {
        check_relative_path(&file.path).expect("a safe path");
        assert!(paths.insert(&file.path), "{} twice", file.path);
        assert!(file.tensors.len() <= MAX_TENSORS_PER_FILE);
        tensors += file.tensors.len();
        let mut end = 0;
        for (offset, chunk) in file.chunk_offsets() {
            assert_eq!(offset, end);
            assert!(chunk.len >= 1 && chunk.len <= MAX_CHUNK_SIZE);
            end = offset + u64::from(chunk.len);
        }
        assert_eq!(end, file.size, "{}: chunks and size disagree", file.path);
        for tensor in &file.tensors {
            assert!(tensor.shape.len() <= MAX_TENSOR_RANK);
            assert!(!tensor.name.is_empty() && tensor.name.len() <= MAX_TENSOR_NAME_LEN);
            let end = u64::from(tensor.first_chunk) + u64::from(tensor.chunk_count);
            assert!(end <= file.chunks.len() as u64);
        }
        assert!(manifest
            .file_by_id(&file.id)
            .is_some_and(|f| f.id == file.id));
    }
    assert!(tensors <= MAX_TENSORS);
    let chunks: usize = manifest.files.iter().map(|f| f.chunks.len()).sum();
    assert_eq!(manifest.chunk_count(), chunks);
}

/// Reads a signed statement of kind `T` and checks what an accepted one promises, then the
/// kind's own `properties`.
fn statement<T>(data: &[u8], properties: fn(&Signed<T>))
where
    T: Statement + Clone + PartialEq + Debug,
{
    let Some((bytes, ours)) = signed_bytes(data, T::MAGIC, T::VERSION) else {
        return;
    };
    let signed = match Signed::<T>::from_bytes(bytes.clone()) {
        Ok(signed) => signed,
        Err(RecordError::Envelope { source, .. }) if ours && is_signature_error(&source) => {
            panic!("a {} signed by its signer is refused: {source}", T::KIND)
        }
        Err(_) => return,
    };
    assert_eq!(signed.bytes(), bytes.as_slice());
    assert_eq!(signed.id(), Id::of(&bytes));
    assert!(bytes.len() <= T::MAX_SIZE);
    let body = signed.body();
    body.validate().expect("an accepted statement is valid");
    let opened = envelope::open(&bytes, T::MAGIC, T::VERSION).expect("opens again");
    assert_eq!(opened.body.get(..32), Some(body.signer().as_slice()));

    let encoded = postcard::to_stdvec(body).expect("encodes");
    let decoded: T = postcard::from_bytes(&encoded).expect("decodes again");
    assert_eq!(&decoded, body, "the {} changed on re-encoding", T::KIND);
    if body.signer() == fuzz_key().verifying_key().as_bytes() {
        let again = Signed::sign(body.clone(), fuzz_key()).expect("signs again");
        let read = Signed::<T>::from_bytes(again.into_bytes()).expect("reads again");
        assert_eq!(read.body(), body);
    }
    properties(&signed);
}

/// Reads a signed name record; an accepted one names its own DHT key and does not supersede
/// itself.
pub fn name_record(data: &[u8]) {
    statement::<NameRecord>(data, |signed| {
        let record = signed.body();
        assert!(record.tags.len() <= MAX_NAME_TAGS);
        let key = parse_name_key(&record.dht_key());
        assert_eq!(key, Some((record.publisher, record.model.clone())));
        assert_eq!(signed.supersedes(signed), Ok(false));
    });
}

/// Reads a signed vouch; an accepted one is valid for its peer from its issue time, expired
/// at its expiry, and refused for any other peer.
pub fn vouch(data: &[u8]) {
    statement::<Vouch>(data, |signed| {
        let vouch = signed.body();
        assert!(!vouch.peer.is_empty() && vouch.peer.len() <= MAX_PEER_ID_LEN);
        assert!(vouch.issued_ms < vouch.expires_ms);
        assert!(vouch.expires_ms - vouch.issued_ms <= MAX_VOUCH_LIFETIME_MS);
        assert_eq!(signed.check(&vouch.peer, vouch.issued_ms), Ok(()));
        assert!(matches!(
            signed.check(&vouch.peer, vouch.expires_ms),
            Err(VouchError::Expired { .. })
        ));
        let mut other = vouch.peer.clone();
        other[0] ^= 1;
        assert_eq!(
            signed.check(&other, vouch.issued_ms),
            Err(VouchError::WrongPeer)
        );
    });
}

/// Reads a signed retraction; an accepted one names its own DHT key.
pub fn retraction(data: &[u8]) {
    statement::<Retraction>(data, |signed| {
        let retraction = signed.body();
        assert!(retraction.reason.len() <= MAX_REASON_LEN);
        let key = parse_retraction_key(&retraction.dht_key());
        assert_eq!(key, Some((retraction.checkpoint, retraction.publisher)));
    });
}

/// Reads a signed key rotation; an accepted one names a usable new key and its own DHT key,
/// and is not preferred over itself.
pub fn rotation(data: &[u8]) {
    statement::<KeyRotation>(data, |signed| {
        let rotation = signed.body();
        assert_ne!(rotation.old_key, rotation.new_key);
        assert_eq!(check_public_key(&rotation.new_key), Ok(()));
        assert_eq!(
            parse_rotation_key(&rotation.dht_key()),
            Some(rotation.old_key)
        );
        assert!(!signed.preferred_over(signed));
    });
}

/// Reads a signed key revocation; an accepted one names usable keys and its own DHT key, and
/// is not preferred over itself.
pub fn revocation(data: &[u8]) {
    statement::<Revocation>(data, |signed| {
        let revocation = signed.body();
        assert_ne!(revocation.revoked_key, revocation.recovery_key);
        assert_eq!(check_public_key(&revocation.revoked_key), Ok(()));
        if let Some(successor) = revocation.successor {
            assert_eq!(check_public_key(&successor), Ok(()));
            assert!(successor != revocation.revoked_key && successor != revocation.recovery_key);
        }
        let key = parse_revocation_key(&revocation.dht_key());
        assert_eq!(key, Some((revocation.revoked_key, revocation.recovery_key)));
        assert!(!signed.preferred_over(signed));
    });
}

/// Opens the input as an envelope of the magic and version it names, and checks the parts
/// against the bytes; then seals its body again and opens and verifies that.
pub fn envelope(data: &[u8]) {
    let (Some(magic), Some(&version)) = (data.get(..4), data.get(4)) else {
        return;
    };
    let magic: [u8; 4] = magic.try_into().expect("four bytes");
    let Ok(opened) = envelope::open(data, magic, version) else {
        return;
    };
    assert_eq!(opened.version, version);
    assert_eq!(opened.body.len() + 4 + 1 + 4 + 64, data.len());
    assert_eq!(opened.body, &data[9..9 + opened.body.len()]);
    let declared = u32::from_le_bytes(data[5..9].try_into().expect("four bytes"));
    assert_eq!(declared as usize, opened.body.len());
    let mut other = magic;
    other[0] ^= 1;
    assert!(matches!(
        envelope::open(data, other, version),
        Err(EnvelopeError::WrongMagic { .. })
    ));

    let sealed = envelope::seal(magic, version, opened.body, fuzz_key());
    let reopened = envelope::open(&sealed, magic, version).expect("a sealed envelope opens");
    assert_eq!(reopened.body, opened.body);
    let signer = fuzz_key().verifying_key().to_bytes();
    assert_eq!(reopened.verify(&signer), Ok(()));
}
