//! The checkpoint manifest, version 1: what a checkpoint holds, signed by its publisher.
//!
//! A manifest lists the files of a checkpoint (path, size, BLAKE3 id), the chunks of each
//! file and, for safetensors files, which chunks hold which tensor; plus the publisher's
//! ed25519 public key, the model name, an optional tag, an optional parent checkpoint, the
//! creation time and free-form metadata.
//!
//! The body is encoded with postcard (fields in declaration order, integers as LEB128
//! varints, strings and sequences length-prefixed) and wrapped in a signed
//! [`envelope`](crate::envelope) with magic `OSTM` and version 1. The checkpoint's id is
//! BLAKE3 of the whole envelope. [`SignedManifest::from_bytes`] checks the envelope, decodes
//! the body from the exact bytes received, validates it against every rule and limit, and
//! verifies the signature over those same bytes.

use std::collections::{BTreeMap, HashSet};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::bounded;
use crate::chunking::is_safetensors;
use crate::envelope::{self, EnvelopeError};
use crate::id::Id;
use crate::limits::*;
use crate::path::{check_relative_path, PathError};

/// The metadata key that makes a checkpoint restricted: its value lists the lab keys (64
/// hex digits each, comma-separated) whose vouched nodes may read it, besides the
/// publisher's own.
pub const READERS_KEY: &str = "ostrom.readers";

/// The magic of a signed manifest.
pub const MANIFEST_MAGIC: [u8; 4] = *b"OSTM";
/// The manifest format version this code reads and writes.
pub const MANIFEST_VERSION: u8 = 1;

/// A checkpoint manifest (the signed body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The publisher's ed25519 public key; the manifest is signed with its secret half.
    pub publisher: [u8; 32],
    /// The model name, e.g. `gpt-small`.
    pub name: String,
    /// An optional tag, e.g. `step-12000`.
    pub tag: Option<String>,
    /// The checkpoint this one descends from.
    pub parent: Option<Id>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Free-form metadata (license, training step, tokens seen), sorted by key.
    #[serde(deserialize_with = "bounded::metadata")]
    pub metadata: BTreeMap<String, String>,
    /// The files, in the order the publisher listed them.
    #[serde(deserialize_with = "bounded::files")]
    pub files: Vec<FileEntry>,
}

/// One file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative `/`-separated path inside the checkpoint.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 of the whole file.
    pub id: Id,
    /// The chunks, in file order; their lengths add up to `size`.
    pub chunks: Vec<ChunkRef>,
    /// For a safetensors file, its tensors in file order; empty otherwise.
    #[serde(deserialize_with = "bounded::tensors")]
    pub tensors: Vec<TensorEntry>,
}

/// A chunk of a file: its id and length; its offset is the sum of the lengths before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// BLAKE3 of the chunk's bytes.
    pub id: Id,
    /// Length in bytes, 1 to [`MAX_CHUNK_SIZE`].
    pub len: u32,
}

/// A tensor of a safetensors file and the run of chunks that holds its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorEntry {
    /// The tensor's name in the safetensors header.
    pub name: String,
    /// Its dtype as the header spells it (`BF16`, `F32`, ...).
    pub dtype: String,
    /// Its shape.
    #[serde(deserialize_with = "bounded::shape")]
    pub shape: Vec<u64>,
    /// Index of its first chunk in the file's chunk list.
    pub first_chunk: u32,
    /// Number of chunks holding it (0 for an empty tensor).
    pub chunk_count: u32,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest is larger than [`MAX_MANIFEST_SIZE`].
    #[error("manifest is {0} bytes, over the limit of {MAX_MANIFEST_SIZE}")]
    TooLarge(usize),
    /// The envelope is malformed or its signature does not verify.
    #[error("manifest {0}")]
    Envelope(#[from] EnvelopeError),
    /// The body does not decode.
    #[error("manifest body does not decode: {0}")]
    Decode(String),
    /// The body decodes but breaks a rule.
    #[error("invalid manifest: {0}")]
    Invalid(String),
    /// A file path is unsafe.
    #[error("invalid manifest: {0}")]
    Path(#[from] PathError),
    /// Signing was asked with a key other than the manifest's publisher.
    #[error("the signing key is not the manifest's publisher key")]
    WrongSigner,
}

fn invalid(reason: impl Into<String>) -> ManifestError {
    ManifestError::Invalid(reason.into())
}

/// Checks the *Text(max)* rule of SPEC.md: non-empty, at most `max` bytes, no control
/// character. The error is the reason, naming the field as `what`.
pub(crate) fn check_text(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if text.len() > max {
        return Err(format!(
            "{what} is {} bytes, over the limit of {max}",
            text.len()
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{what} {text:?} holds a control character"));
    }
    Ok(())
}

impl Manifest {
    /// Checks every rule of SPEC.md that can be checked without the files' bytes.
    pub fn validate(&self) -> Result<(), ManifestError> {
        check_text("name", &self.name, MAX_NAME_LEN).map_err(invalid)?;
        if let Some(tag) = &self.tag {
            check_text("tag", tag, MAX_TAG_LEN).map_err(invalid)?;
        }
        if self.metadata.len() > MAX_METADATA_ENTRIES {
            return Err(invalid(format!(
                "{} metadata entries, over the limit of {MAX_METADATA_ENTRIES}",
                self.metadata.len()
            )));
        }
        for (key, value) in &self.metadata {
            check_text("metadata key", key, MAX_METADATA_KEY_LEN).map_err(invalid)?;
            if value.len() > MAX_METADATA_VALUE_LEN {
                return Err(invalid(format!("metadata value of {key:?} is too long")));
            }
        }
        self.readers()?;
        if self.files.is_empty() {
            return Err(invalid("a checkpoint holds no files"));
        }
        if self.files.len() > MAX_FILES {
            return Err(invalid(format!(
                "{} files, over the limit of {MAX_FILES}",
                self.files.len()
            )));
        }
        let tensors: usize = self.files.iter().map(|f| f.tensors.len()).sum();
        if tensors > MAX_TENSORS {
            return Err(invalid(format!(
                "{tensors} tensors, over the limit of {MAX_TENSORS}"
            )));
        }
        let mut paths = HashSet::with_capacity(self.files.len());
        for file in &self.files {
            check_relative_path(&file.path)?;
            if !paths.insert(file.path.as_str()) {
                return Err(invalid(format!("file path {:?} appears twice", file.path)));
            }
        }
        for file in &self.files {
            let mut ancestor = file.path.as_str();
            while let Some((parent, _)) = ancestor.rsplit_once('/') {
                if paths.contains(parent) {
                    return Err(invalid(format!(
                        "{:?} is a file and also the directory of {:?}",
                        parent, file.path
                    )));
                }
                ancestor = parent;
            }
            file.validate()?;
        }
        Ok(())
    }

    /// The labs allowed to read a restricted checkpoint (the publisher's key first), or
    /// `None` for a checkpoint anyone may read.
    pub fn readers(&self) -> Result<Option<Vec<[u8; 32]>>, ManifestError> {
        let Some(list) = self.metadata.get(READERS_KEY) else {
            return Ok(None);
        };
        let mut readers = vec![self.publisher];
        for text in list.split(',').map(str::trim) {
            let key = crate::trust::parse_public_key(text)
                .map_err(|e| invalid(format!("{READERS_KEY}: {e}")))?;
            if !readers.contains(&key) {
                readers.push(key);
            }
        }
        if readers.len() > MAX_READERS + 1 {
            return Err(invalid(format!(
                "{READERS_KEY} names more than {MAX_READERS} labs"
            )));
        }
        Ok(Some(readers))
    }

    /// Total size of all files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Total number of chunks of all files.
    pub fn chunk_count(&self) -> usize {
        self.files.iter().map(|f| f.chunks.len()).sum()
    }

    /// The file with id `id`, if the manifest lists one.
    pub fn file_by_id(&self, id: &Id) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.id == *id)
    }
}

impl FileEntry {
    fn validate(&self) -> Result<(), ManifestError> {
        let path = &self.path;
        let mut total = 0u64;
        for chunk in &self.chunks {
            if chunk.len == 0 || chunk.len > MAX_CHUNK_SIZE {
                return Err(invalid(format!(
                    "{path}: a chunk of {} bytes (chunks are 1 to {MAX_CHUNK_SIZE} bytes)",
                    chunk.len
                )));
            }
            total += u64::from(chunk.len);
        }
        if total != self.size {
            return Err(invalid(format!(
                "{path}: chunks add up to {total} bytes but the file is {} bytes",
                self.size
            )));
        }
        if !is_safetensors(path) {
            if !self.tensors.is_empty() {
                return Err(invalid(format!(
                    "{path}: tensors listed for a non-safetensors file"
                )));
            }
            let fixed = self
                .chunks
                .iter()
                .rev()
                .skip(1)
                .all(|c| c.len == MAX_CHUNK_SIZE);
            if !fixed {
                return Err(invalid(format!(
                    "{path}: chunks of a non-safetensors file must be {MAX_CHUNK_SIZE} bytes but the last"
                )));
            }
            return Ok(());
        }
        if self.tensors.len() > MAX_TENSORS_PER_FILE {
            return Err(invalid(format!(
                "{path}: {} tensors, over the limit of {MAX_TENSORS_PER_FILE} per file",
                self.tensors.len()
            )));
        }
        let mut next_free = 0u64;
        for tensor in &self.tensors {
            if tensor.name.is_empty() || tensor.name.len() > MAX_TENSOR_NAME_LEN {
                return Err(invalid(format!(
                    "{path}: a tensor name is empty or too long"
                )));
            }
            if tensor.dtype.is_empty() || tensor.dtype.len() > MAX_TENSOR_NAME_LEN {
                return Err(invalid(format!(
                    "{path}: tensor {} has a bad dtype",
                    tensor.name
                )));
            }
            if tensor.shape.len() > MAX_TENSOR_RANK {
                return Err(invalid(format!(
                    "{path}: tensor {} has too many dimensions",
                    tensor.name
                )));
            }
            let first = u64::from(tensor.first_chunk);
            let end = first + u64::from(tensor.chunk_count);
            if (tensor.chunk_count > 0 && first < next_free) || end > self.chunks.len() as u64 {
                return Err(invalid(format!(
                    "{path}: tensor {} names chunks out of order or out of range",
                    tensor.name
                )));
            }
            next_free = next_free.max(end);
        }
        Ok(())
    }

    /// Byte offset of every chunk in the file, in chunk order.
    pub fn chunk_offsets(&self) -> impl Iterator<Item = (u64, &ChunkRef)> {
        self.chunks.iter().scan(0u64, |offset, chunk| {
            let at = *offset;
            *offset += u64::from(chunk.len);
            Some((at, chunk))
        })
    }
}

/// A manifest with its signed bytes and id; only ever built from bytes that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    bytes: Vec<u8>,
    id: Id,
    manifest: Manifest,
}

impl SignedManifest {
    /// Validates `manifest`, encodes and signs it with `key`, which must be its publisher.
    pub fn sign(manifest: Manifest, key: &SigningKey) -> Result<Self, ManifestError> {
        if key.verifying_key().to_bytes() != manifest.publisher {
            return Err(ManifestError::WrongSigner);
        }
        manifest.validate()?;
        let body =
            postcard::to_stdvec(&manifest).map_err(|e| ManifestError::Decode(e.to_string()))?;
        let bytes = envelope::seal(MANIFEST_MAGIC, MANIFEST_VERSION, &body, key);
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(ManifestError::TooLarge(bytes.len()));
        }
        Ok(Self {
            id: Id::of(&bytes),
            bytes,
            manifest,
        })
    }

    /// Checks and decodes signed manifest bytes: size, envelope, body, rules, signature.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(ManifestError::TooLarge(bytes.len()));
        }
        let envelope = envelope::open(&bytes, MANIFEST_MAGIC, MANIFEST_VERSION)?;
        bounded::clear_refusal();
        let (manifest, rest): (Manifest, &[u8]) = postcard::take_from_bytes(envelope.body)
            .map_err(|e| ManifestError::Decode(bounded::take_refusal().unwrap_or(e.to_string())))?;
        if !rest.is_empty() {
            return Err(ManifestError::Decode(format!(
                "{} bytes left over after the body",
                rest.len()
            )));
        }
        manifest.validate()?;
        envelope.verify(&manifest.publisher)?;
        Ok(Self {
            id: Id::of(&bytes),
            bytes,
            manifest,
        })
    }

    /// The checkpoint id: BLAKE3 of the signed bytes.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The signed bytes, exactly as signed.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The decoded manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[42; 32])
    }

    fn plain_file(path: &str, size: u64) -> FileEntry {
        let mut chunks = Vec::new();
        let mut left = size;
        while left > 0 {
            let len = left.min(u64::from(MAX_CHUNK_SIZE)) as u32;
            chunks.push(ChunkRef {
                id: Id::of(&len.to_le_bytes()),
                len,
            });
            left -= u64::from(len);
        }
        FileEntry {
            path: path.to_owned(),
            size,
            id: Id::of(path.as_bytes()),
            chunks,
            tensors: vec![],
        }
    }

    fn sample() -> Manifest {
        Manifest {
            publisher: key().verifying_key().to_bytes(),
            name: "gpt-small".into(),
            tag: Some("step-100".into()),
            parent: Some(Id::of(b"parent")),
            created_ms: 1_700_000_000_000,
            metadata: [("license".to_owned(), "apache-2.0".to_owned())].into(),
            files: vec![
                plain_file("config.json", 10),
                plain_file("weights/a.bin", 3 * u64::from(MAX_CHUNK_SIZE) + 1),
                plain_file("empty", 0),
            ],
        }
    }

    #[test]
    fn signed_manifest_round_trips() {
        let signed = SignedManifest::sign(sample(), &key()).expect("signs");
        let read = SignedManifest::from_bytes(signed.bytes().to_vec()).expect("reads");
        assert_eq!(read, signed);
        assert_eq!(read.id(), Id::of(signed.bytes()));
    }

    #[test]
    fn forged_signature_is_refused() {
        let signed = SignedManifest::sign(sample(), &key()).expect("signs");
        let mut bytes = signed.bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let err = SignedManifest::from_bytes(bytes).expect_err("forged");
        assert!(err.to_string().contains("bad signature"), "{err}");
    }

    #[test]
    fn files_swapped_in_from_another_manifest_are_refused() {
        let original = SignedManifest::sign(sample(), &key()).expect("signs");
        let mut other = sample();
        other.files = vec![plain_file("evil.bin", 5)];
        let other = SignedManifest::sign(other, &key()).expect("signs");
        // The original's header and signature around a body with the other's files.
        let mut swapped = original.manifest().clone();
        swapped.files = other.manifest().files.clone();
        let body = postcard::to_stdvec(&swapped).expect("encodes");
        let signature = &original.bytes()[original.bytes().len() - 64..];
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&MANIFEST_MAGIC);
        bytes.push(MANIFEST_VERSION);
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(signature);
        let err = SignedManifest::from_bytes(bytes).expect_err("swapped files accepted");
        assert!(err.to_string().contains("bad signature"), "{err}");
    }

    #[test]
    fn signing_with_another_key_is_refused() {
        let other = SigningKey::from_bytes(&[1; 32]);
        assert!(matches!(
            SignedManifest::sign(sample(), &other),
            Err(ManifestError::WrongSigner)
        ));
    }

    #[test]
    fn every_rule_is_enforced() {
        type Mutation = Box<dyn Fn(&mut Manifest)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("empty name", Box::new(|m| m.name.clear())),
            (
                "long name",
                Box::new(|m| m.name = "x".repeat(MAX_NAME_LEN + 1)),
            ),
            ("control in tag", Box::new(|m| m.tag = Some("a\nb".into()))),
            ("no files", Box::new(|m| m.files.clear())),
            (
                "escaping path",
                Box::new(|m| m.files[0].path = "../evil".into()),
            ),
            (
                "absolute path",
                Box::new(|m| m.files[0].path = "/etc/passwd".into()),
            ),
            (
                "duplicate path",
                Box::new(|m| m.files[1].path = "config.json".into()),
            ),
            (
                "file is also a dir",
                Box::new(|m| m.files[0].path = "weights".into()),
            ),
            ("size mismatch", Box::new(|m| m.files[0].size += 1)),
            (
                "zero-length chunk",
                Box::new(|m| m.files[0].chunks[0].len = 0),
            ),
            (
                "oversized chunk",
                Box::new(|m| {
                    m.files[0].chunks[0].len = MAX_CHUNK_SIZE + 1;
                    m.files[0].size = u64::from(MAX_CHUNK_SIZE) + 1;
                }),
            ),
            (
                "uneven plain chunks",
                Box::new(|m| {
                    m.files[1].chunks[0].len -= 1;
                    m.files[1].chunks[3].len += 1;
                }),
            ),
            (
                "tensors on plain file",
                Box::new(|m| {
                    m.files[0].tensors.push(TensorEntry {
                        name: "t".into(),
                        dtype: "F32".into(),
                        shape: vec![],
                        first_chunk: 0,
                        chunk_count: 1,
                    })
                }),
            ),
        ];
        for (what, mutate) in cases {
            let mut manifest = sample();
            mutate(&mut manifest);
            assert!(manifest.validate().is_err(), "{what} accepted");
            assert!(
                SignedManifest::sign(manifest, &key()).is_err(),
                "{what} signed"
            );
        }
    }

    #[test]
    fn readers_parse_and_bad_lists_are_refused() {
        let mut manifest = sample();
        assert_eq!(manifest.readers().expect("public"), None);
        let lab = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        manifest
            .metadata
            .insert(READERS_KEY.into(), hex::encode(lab));
        assert_eq!(
            manifest.readers().expect("restricted"),
            Some(vec![manifest.publisher, lab])
        );
        manifest.metadata.insert(READERS_KEY.into(), "nope".into());
        assert!(manifest.validate().is_err());
        assert!(SignedManifest::sign(manifest, &key()).is_err());
    }

    #[test]
    fn tensor_ranges_are_checked() {
        let mut manifest = sample();
        manifest.files[1].path = "m.safetensors".into();
        let tensor = |first, count| TensorEntry {
            name: "t".into(),
            dtype: "BF16".into(),
            shape: vec![2, 2],
            first_chunk: first,
            chunk_count: count,
        };
        manifest.files[1].tensors = vec![tensor(1, 2), tensor(3, 1)];
        manifest.validate().expect("in order and in range");
        manifest.files[1].tensors = vec![tensor(1, 2), tensor(2, 1)];
        assert!(manifest.validate().is_err(), "overlap accepted");
        manifest.files[1].tensors = vec![tensor(3, 2)];
        assert!(manifest.validate().is_err(), "out of range accepted");
    }

    #[test]
    fn trailing_and_truncated_bodies_are_refused() {
        let signed = SignedManifest::sign(sample(), &key()).expect("signs");
        let body = postcard::to_stdvec(signed.manifest()).expect("encodes");
        let mut long = body.clone();
        long.push(0);
        let sealed = envelope::seal(MANIFEST_MAGIC, MANIFEST_VERSION, &long, &key());
        assert!(matches!(
            SignedManifest::from_bytes(sealed),
            Err(ManifestError::Decode(_))
        ));
        let short = &body[..body.len() - 5];
        let sealed = envelope::seal(MANIFEST_MAGIC, MANIFEST_VERSION, short, &key());
        assert!(SignedManifest::from_bytes(sealed).is_err());
    }

    fn arb_text(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[a-z0-9._-]{{1,{max}}}")).expect("regex")
    }

    prop_compose! {
        fn arb_manifest()(
            name in arb_text(20),
            tag in proptest::option::of(arb_text(10)),
            parent in proptest::option::of(any::<[u8; 32]>()),
            created_ms in any::<u64>(),
            metadata in proptest::collection::btree_map(arb_text(8), ".{0,20}", 0..4),
            sizes in proptest::collection::vec(0u64..3 * u64::from(MAX_CHUNK_SIZE), 1..5),
        ) -> Manifest {
            Manifest {
                publisher: key().verifying_key().to_bytes(),
                name,
                tag,
                parent: parent.map(Id),
                created_ms,
                metadata,
                files: sizes.iter().enumerate().map(|(i, &s)| plain_file(&format!("f{i}"), s)).collect(),
            }
        }
    }

    proptest! {
        #[test]
        fn any_valid_manifest_round_trips(manifest in arb_manifest()) {
            let signed = SignedManifest::sign(manifest.clone(), &key()).expect("signs");
            let read = SignedManifest::from_bytes(signed.bytes().to_vec()).expect("reads");
            prop_assert_eq!(read.manifest(), &manifest);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = SignedManifest::from_bytes(bytes);
        }

        #[test]
        fn corrupted_bodies_never_panic_or_verify(
            manifest in arb_manifest(),
            position in any::<proptest::sample::Index>(),
            value in any::<u8>(),
        ) {
            let signed = SignedManifest::sign(manifest, &key()).expect("signs");
            let mut bytes = signed.bytes().to_vec();
            let at = position.index(bytes.len());
            prop_assume!(bytes[at] != value);
            bytes[at] = value;
            prop_assert!(SignedManifest::from_bytes(bytes).is_err());
        }
    }
}
