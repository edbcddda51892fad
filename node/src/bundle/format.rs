//! The bundle format, version 1 (SPEC.md §14): its constants and limits, the table of
//! contents, the signed records it carries, and reading and writing its bytes with a
//! running BLAKE3 of everything that passed.
//!
//! ```text
//! preamble   "OSTB" | version 01 | 00 00 00 | T: u32 LE
//! TOC        T bytes: postcard(Toc), T <= MAX_TOC_SIZE
//! TOC check  BLAKE3 of every byte before it (32)
//! manifests  per checkpoint of the TOC: u32 LE length | signed manifest bytes
//! records    per record: u32 LE length | signed record bytes
//! chunks     per chunk: id (32) | u32 LE length | bytes
//! trailer    BLAKE3 of every byte before it (32); then the file ends
//! ```

use std::io::{self, BufReader, BufWriter, Read, Write};

use ostrom_protocol::limits::{MAX_CHUNK_SIZE, MAX_MANIFEST_SIZE, MAX_RECORD_SIZE};
use ostrom_protocol::name_record::{SignedNameRecord, NAME_RECORD_MAGIC};
use ostrom_protocol::retraction::{SignedRetraction, RETRACTION_MAGIC};
use ostrom_protocol::revocation::{SignedRevocation, REVOCATION_MAGIC};
use ostrom_protocol::rotation::{SignedKeyRotation, ROTATION_MAGIC};
use ostrom_protocol::Id;
use serde::{Deserialize, Serialize};

use super::BundleError;

/// The first four bytes of every bundle.
pub const MAGIC: [u8; 4] = *b"OSTB";
/// The format version written and read.
pub const VERSION: u8 = 1;
/// Bytes before the TOC: magic, version, three zero bytes, the TOC's length.
pub const PREAMBLE_LEN: usize = 12;
/// Most bytes of the table of contents.
pub const MAX_TOC_SIZE: u32 = 1 << 20;
/// Most checkpoints in one bundle.
pub const MAX_CHECKPOINTS: usize = 256;
/// Most bytes of all manifests of one bundle together.
pub const MAX_MANIFEST_BYTES: u64 = 256 << 20;
/// Most signed records in one bundle.
pub const MAX_RECORDS: u32 = 4096;
/// Most checkpoints whose chunks a bundle leaves out.
pub const MAX_EXCLUDED: usize = 16;
/// Most publisher keys a bundle lists.
pub const MAX_PUBLISHERS: usize = 256;
/// Most bytes of an alias a bundle gives a publisher key.
pub const MAX_ALIAS_LEN: usize = 64;

/// The table of contents: what the bundle holds, every count and length declared before
/// anything is read for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toc {
    /// When it was written, ms since the Unix epoch.
    pub created_ms: u64,
    /// The checkpoints, in the order of the manifests section.
    pub checkpoints: Vec<Id>,
    /// Bytes of all signed manifests together (length prefixes not counted).
    pub manifest_bytes: u64,
    /// Signed records in the records section.
    pub records: u32,
    /// Bytes of all signed records together (length prefixes not counted).
    pub record_bytes: u64,
    /// Chunks in the chunks section.
    pub chunks: u64,
    /// Bytes of all chunks together (ids and length prefixes not counted).
    pub chunk_bytes: u64,
    /// Checkpoints whose chunks were left out: the importing node must hold them.
    pub excluded_held_by: Vec<Id>,
    /// The keys that signed the manifests and the keys of their rotations, each with the
    /// alias the exporting node trusts it under (for people only: never trusted for it).
    pub publishers: Vec<PublisherEntry>,
}

/// A publisher key a bundle names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublisherEntry {
    /// The key.
    pub key: [u8; 32],
    /// The exporting node's alias for it, if it had one.
    pub alias: Option<String>,
}

impl Toc {
    /// Refuses counts over the format's limits.
    pub fn check(&self) -> Result<(), BundleError> {
        let bad = |reason: String| Err(BundleError::Malformed(reason));
        if self.checkpoints.is_empty() || self.checkpoints.len() > MAX_CHECKPOINTS {
            return bad(format!(
                "{} checkpoints listed (1 to {MAX_CHECKPOINTS})",
                self.checkpoints.len()
            ));
        }
        let mut ids = self.checkpoints.clone();
        ids.sort();
        ids.dedup();
        if ids.len() != self.checkpoints.len() {
            return bad("a checkpoint is listed twice".to_owned());
        }
        if self.manifest_bytes > MAX_MANIFEST_BYTES {
            return bad(format!(
                "{} bytes of manifests, over {MAX_MANIFEST_BYTES}",
                self.manifest_bytes
            ));
        }
        if self.records > MAX_RECORDS
            || self.record_bytes > u64::from(self.records) * MAX_RECORD_SIZE as u64
        {
            return bad(format!(
                "{} records of {} bytes (at most {MAX_RECORDS} of {MAX_RECORD_SIZE} each)",
                self.records, self.record_bytes
            ));
        }
        if self.chunk_bytes > self.chunks.saturating_mul(u64::from(MAX_CHUNK_SIZE))
            || self.chunks > self.chunk_bytes
        {
            return bad(format!(
                "{} chunks of {} bytes in all",
                self.chunks, self.chunk_bytes
            ));
        }
        if self.excluded_held_by.len() > MAX_EXCLUDED {
            return bad(format!(
                "{} excluded checkpoints, over {MAX_EXCLUDED}",
                self.excluded_held_by.len()
            ));
        }
        if self.publishers.len() > MAX_PUBLISHERS
            || self
                .publishers
                .iter()
                .any(|p| p.alias.as_ref().is_some_and(|a| a.len() > MAX_ALIAS_LEN))
        {
            return bad("too many publisher keys, or too long an alias".to_owned());
        }
        Ok(())
    }

    /// The exporting node's alias for `key`.
    pub fn alias_of(&self, key: &[u8; 32]) -> Option<&str> {
        self.publishers
            .iter()
            .find(|p| p.key == *key)
            .and_then(|p| p.alias.as_deref())
    }
}

/// A signed record a bundle carries, read and verified as SPEC.md §12 says.
#[derive(Debug, Clone)]
pub enum Record {
    /// A name record.
    Name(SignedNameRecord),
    /// A retraction.
    Retraction(SignedRetraction),
    /// A key rotation.
    Rotation(SignedKeyRotation),
    /// A key revocation.
    Revocation(SignedRevocation),
}

impl Record {
    /// Reads a record of any of the four kinds, by its magic.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, BundleError> {
        let magic: Option<[u8; 4]> = bytes.get(..4).and_then(|m| m.try_into().ok());
        let record = match magic {
            Some(NAME_RECORD_MAGIC) => SignedNameRecord::from_bytes(bytes).map(Self::Name),
            Some(RETRACTION_MAGIC) => SignedRetraction::from_bytes(bytes).map(Self::Retraction),
            Some(ROTATION_MAGIC) => SignedKeyRotation::from_bytes(bytes).map(Self::Rotation),
            Some(REVOCATION_MAGIC) => SignedRevocation::from_bytes(bytes).map(Self::Revocation),
            _ => {
                return Err(BundleError::Malformed(
                    "a record that is not a name record, retraction, rotation or revocation"
                        .to_owned(),
                ))
            }
        };
        record.map_err(|e| BundleError::Malformed(format!("a record does not verify: {e}")))
    }

    /// Its DHT key.
    pub fn key(&self) -> Vec<u8> {
        match self {
            Self::Name(r) => r.body().dht_key(),
            Self::Retraction(r) => r.body().dht_key(),
            Self::Rotation(r) => r.body().dht_key(),
            Self::Revocation(r) => r.body().dht_key(),
        }
    }

    /// Its signed bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Name(r) => r.bytes(),
            Self::Retraction(r) => r.bytes(),
            Self::Rotation(r) => r.bytes(),
            Self::Revocation(r) => r.bytes(),
        }
    }
}

/// The preamble for a TOC of `toc_len` bytes.
pub fn preamble(toc_len: u32) -> [u8; PREAMBLE_LEN] {
    let mut bytes = [0u8; PREAMBLE_LEN];
    bytes[..4].copy_from_slice(&MAGIC);
    bytes[4] = VERSION;
    bytes[8..].copy_from_slice(&toc_len.to_le_bytes());
    bytes
}

/// The TOC's length, from a preamble; refused unless magic, version and zero bytes are
/// right and the length within [`MAX_TOC_SIZE`].
pub fn toc_len(preamble: &[u8; PREAMBLE_LEN]) -> Result<u32, BundleError> {
    if preamble[..4] != MAGIC {
        return Err(BundleError::Malformed(format!(
            "wrong magic: expected {}, found {} (not an Ostrom bundle)",
            hex::encode(MAGIC),
            hex::encode(&preamble[..4])
        )));
    }
    if preamble[4] != VERSION {
        return Err(BundleError::Malformed(format!(
            "unsupported format version {}",
            preamble[4]
        )));
    }
    if preamble[5..8] != [0, 0, 0] {
        return Err(BundleError::Malformed(
            "reserved preamble bytes are not zero".to_owned(),
        ));
    }
    let len = u32::from_le_bytes([preamble[8], preamble[9], preamble[10], preamble[11]]);
    if len == 0 || len > MAX_TOC_SIZE {
        return Err(BundleError::Malformed(format!(
            "a table of contents of {len} bytes (1 to {MAX_TOC_SIZE})"
        )));
    }
    Ok(len)
}

/// Decodes a TOC, refusing trailing bytes and counts over the limits.
pub fn decode_toc(bytes: &[u8]) -> Result<Toc, BundleError> {
    let (toc, rest): (Toc, _) = postcard::take_from_bytes(bytes)
        .map_err(|e| BundleError::Malformed(format!("the table of contents: {e}")))?;
    if !rest.is_empty() {
        return Err(BundleError::Malformed(
            "bytes after the table of contents".to_owned(),
        ));
    }
    toc.check()?;
    Ok(toc)
}

/// Encodes a TOC.
pub fn encode_toc(toc: &Toc) -> Result<Vec<u8>, BundleError> {
    let bytes =
        postcard::to_stdvec(toc).map_err(|e| BundleError::Malformed(format!("TOC: {e}")))?;
    if bytes.len() as u64 > u64::from(MAX_TOC_SIZE) {
        return Err(BundleError::Malformed(format!(
            "a table of contents of {} bytes, over {MAX_TOC_SIZE}",
            bytes.len()
        )));
    }
    toc.check()?;
    Ok(bytes)
}

/// A reader that hashes every byte it passes on, and names the part of the bundle that
/// ended early.
pub struct HashingReader<R> {
    inner: BufReader<R>,
    hasher: blake3::Hasher,
    /// Bytes read so far.
    pub position: u64,
}

impl<R: Read> HashingReader<R> {
    /// Reads `inner` from its start.
    pub fn new(inner: R) -> Self {
        Self {
            inner: BufReader::with_capacity(1 << 20, inner),
            hasher: blake3::Hasher::new(),
            position: 0,
        }
    }

    /// Fills `buf`; a bundle that ends first is [`BundleError::Truncated`] in `part`.
    pub fn read_exact(&mut self, buf: &mut [u8], part: &str) -> Result<(), BundleError> {
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                BundleError::Truncated(format!("it ends in {part}, after byte {}", self.position))
            } else {
                BundleError::Read(e)
            }
        })?;
        self.hasher.update(buf);
        self.position += buf.len() as u64;
        Ok(())
    }

    /// Reads a u32 LE.
    pub fn read_u32(&mut self, part: &str) -> Result<u32, BundleError> {
        let mut bytes = [0u8; 4];
        self.read_exact(&mut bytes, part)?;
        Ok(u32::from_le_bytes(bytes))
    }

    /// BLAKE3 of every byte read so far.
    pub fn hash(&self) -> [u8; 32] {
        *self.hasher.finalize().as_bytes()
    }

    /// Reads a 32-byte check and compares it with the hash of everything before it; then
    /// (with `last`) the input must end.
    pub fn check(&mut self, part: &str, last: bool) -> Result<(), BundleError> {
        let expected = self.hash();
        let mut found = [0u8; 32];
        self.read_exact(&mut found, part)?;
        if found != expected {
            return Err(BundleError::Malformed(format!(
                "the {part} does not match the bytes before it (the bundle was altered or damaged)"
            )));
        }
        if last {
            let mut more = [0u8; 1];
            if self.inner.read(&mut more).map_err(BundleError::Read)? != 0 {
                return Err(BundleError::Malformed(
                    "bytes after the bundle's trailer".to_owned(),
                ));
            }
        }
        Ok(())
    }
}

/// A writer that hashes every byte it writes.
pub struct HashingWriter<W: Write> {
    inner: BufWriter<W>,
    hasher: blake3::Hasher,
    /// Bytes written so far.
    pub position: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Writes to `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner: BufWriter::with_capacity(1 << 20, inner),
            hasher: blake3::Hasher::new(),
            position: 0,
        }
    }

    /// Writes and hashes `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)?;
        self.hasher.update(bytes);
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Writes the hash of everything so far (a TOC check or the trailer).
    pub fn write_check(&mut self) -> io::Result<()> {
        let hash = *self.hasher.finalize().as_bytes();
        self.write(&hash)
    }

    /// Flushes and hands back the inner writer.
    pub fn finish(self) -> io::Result<W> {
        self.inner.into_inner().map_err(|e| e.into_error())
    }
}

/// The most bytes one manifest item may declare.
pub const MAX_MANIFEST_ITEM: u64 = MAX_MANIFEST_SIZE as u64;
