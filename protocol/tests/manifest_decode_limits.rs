//! The manifest decoder refuses a count over its limit as soon as it reads the count:
//! tensors per file, tensors per manifest, dimensions per shape, files, metadata entries.
//! Bodies are written byte by byte (SPEC.md §5.1). Postcard shows the decoder a count only
//! when the bytes left could hold that many entries, so a hostile count is followed by
//! enough zero bytes; a count the bytes could not hold is refused at the end of the input,
//! having reserved nothing.

use ed25519_dalek::SigningKey;
use ostrom_protocol::envelope;
use ostrom_protocol::limits::{
    MAX_FILES, MAX_METADATA_ENTRIES, MAX_TENSORS, MAX_TENSORS_PER_FILE, MAX_TENSOR_RANK,
};
use ostrom_protocol::manifest::{ManifestError, MANIFEST_MAGIC, MANIFEST_VERSION};
use ostrom_protocol::SignedManifest;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn text(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// The manifest's fields up to and including the metadata: name `m`, no tag or parent.
fn head(metadata_count: u64) -> Vec<u8> {
    let mut body = key().verifying_key().to_bytes().to_vec();
    text(&mut body, "m");
    body.extend_from_slice(&[0, 0]);
    varint(&mut body, 1_700_000_000_000);
    varint(&mut body, metadata_count);
    body
}

/// An empty safetensors file entry claiming `tensors` tensors, followed by that many empty
/// tensor entries when `write` is set (none otherwise).
fn file(body: &mut Vec<u8>, path: &str, tensors: u64, write: bool) {
    text(body, path);
    varint(body, 0);
    body.extend_from_slice(&[7; 32]);
    varint(body, 0);
    varint(body, tensors);
    if write {
        for _ in 0..tensors {
            text(body, "t");
            text(body, "U8");
            varint(body, 0);
            varint(body, 0);
            varint(body, 0);
        }
    }
}

fn decode(body: &[u8]) -> Result<SignedManifest, ManifestError> {
    SignedManifest::from_bytes(envelope::seal(
        MANIFEST_MAGIC,
        MANIFEST_VERSION,
        body,
        &key(),
    ))
}

fn refused_for(body: &[u8], reason: &str) {
    match decode(body) {
        Err(ManifestError::Decode(message)) => {
            assert!(message.contains(reason), "{message:?} lacks {reason:?}")
        }
        other => panic!("expected a decode refusal ({reason}), got {other:?}"),
    }
}

#[test]
fn a_hostile_tensor_count_is_refused_before_any_entry_is_read() {
    let mut body = head(0);
    varint(&mut body, 1);
    file(&mut body, "m.safetensors", 5_000_000, false);
    body.resize(body.len() + 5_000_000, 0);
    refused_for(
        &body,
        "5000000 tensors in one file, over the limit of 262144",
    );
}

#[test]
fn one_tensor_over_the_per_file_limit_is_refused() {
    let count = MAX_TENSORS_PER_FILE as u64 + 1;
    let mut body = head(0);
    varint(&mut body, 1);
    file(&mut body, "m.safetensors", count, true);
    refused_for(&body, &format!("{count} tensors in one file"));
}

#[test]
fn tensors_are_counted_over_all_files() {
    let files = (MAX_TENSORS / MAX_TENSORS_PER_FILE) as u64 + 1;
    let mut body = head(0);
    varint(&mut body, files);
    // Every file claims the most tensors a file may hold; the decoder refuses the manifest
    // once they add up past the limit, so only that many entries need exist.
    for i in 0..files {
        file(
            &mut body,
            &format!("{i}.safetensors"),
            MAX_TENSORS_PER_FILE as u64,
            true,
        );
    }
    refused_for(&body, &format!("more than {MAX_TENSORS} tensors"));
}

#[test]
fn a_shape_over_the_rank_limit_is_refused_when_decoded() {
    for (rank, accepted) in [(MAX_TENSOR_RANK, true), (MAX_TENSOR_RANK + 1, false)] {
        let mut body = head(0);
        varint(&mut body, 1);
        text(&mut body, "m.safetensors");
        varint(&mut body, 0);
        body.extend_from_slice(&[7; 32]);
        varint(&mut body, 0);
        varint(&mut body, 1);
        text(&mut body, "t");
        text(&mut body, "U8");
        varint(&mut body, rank as u64);
        body.extend(std::iter::repeat_n(0u8, rank));
        varint(&mut body, 0);
        varint(&mut body, 0);
        match decode(&body) {
            Ok(read) => {
                assert!(accepted, "rank {rank} accepted");
                assert_eq!(read.manifest().files[0].tensors[0].shape.len(), rank);
            }
            Err(ManifestError::Decode(message)) => {
                assert!(!accepted, "rank {rank} refused: {message}");
                assert!(
                    message.contains("dimensions in a tensor shape"),
                    "{message}"
                );
            }
            other => panic!("rank {rank}: {other:?}"),
        }
    }
}

#[test]
fn hostile_file_and_metadata_counts_are_refused() {
    let mut body = head(0);
    varint(&mut body, MAX_FILES as u64 + 1);
    body.resize(body.len() + MAX_FILES + 1, 0);
    refused_for(&body, &format!("{} files, over the limit", MAX_FILES + 1));
    let mut body = head(0);
    varint(&mut body, u64::from(u32::MAX));
    assert!(matches!(decode(&body), Err(ManifestError::Decode(_))));
    let body = head(MAX_METADATA_ENTRIES as u64 + 1);
    refused_for(
        &body,
        &format!(
            "{} metadata entries, over the limit",
            MAX_METADATA_ENTRIES + 1
        ),
    );
}
