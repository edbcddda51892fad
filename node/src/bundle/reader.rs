//! Reading a bundle as a stream, checking as it goes: the preamble and the TOC (against
//! its BLAKE3 check) first; then every manifest against the checkpoint id the TOC lists for
//! it, before it is decoded, and its signature; every record's signature; every chunk's
//! bytes against its id; and at the end the trailer, the BLAKE3 of everything before it.
//! Every length is checked against the format's limits and what the TOC declared before
//! memory is reserved for it. Nothing is held but the manifests, the records and one chunk.

use std::io::Read;

use ostrom_protocol::limits::MAX_CHUNK_SIZE;
use ostrom_protocol::{Id, SignedManifest};

use super::format::{self, HashingReader, Record, Toc, MAX_MANIFEST_ITEM, PREAMBLE_LEN};
use super::BundleError;
use ostrom_protocol::limits::MAX_RECORD_SIZE;

/// What a bundle holds besides its chunks, every piece verified.
#[derive(Debug, Clone)]
pub struct BundleHead {
    /// The table of contents.
    pub toc: Toc,
    /// The manifests, in the TOC's order, each hashing to its listed checkpoint id.
    pub manifests: Vec<SignedManifest>,
    /// The signed records.
    pub records: Vec<Record>,
}

/// The chunks section of an open bundle, read one chunk at a time.
pub struct Chunks<R> {
    reader: HashingReader<R>,
    left: u64,
    bytes_left: u64,
}

/// Opens a bundle: reads and checks everything before its chunks.
pub fn open<R: Read>(input: R) -> Result<(BundleHead, Chunks<R>), BundleError> {
    let mut reader = HashingReader::new(input);
    let mut preamble = [0u8; PREAMBLE_LEN];
    reader.read_exact(&mut preamble, "the preamble")?;
    let toc_len = format::toc_len(&preamble)?;
    let mut toc_bytes = vec![0u8; toc_len as usize];
    reader.read_exact(&mut toc_bytes, "the table of contents")?;
    reader.check("table of contents check", false)?;
    let toc = format::decode_toc(&toc_bytes)?;

    let mut manifests = Vec::with_capacity(toc.checkpoints.len());
    let mut manifest_bytes_left = toc.manifest_bytes;
    for (i, id) in toc.checkpoints.iter().enumerate() {
        let len = u64::from(reader.read_u32("the manifests")?);
        if len > MAX_MANIFEST_ITEM || len > manifest_bytes_left {
            return Err(BundleError::Malformed(format!(
                "manifest {i} declares {len} bytes, more than the limit or the table of contents allows"
            )));
        }
        manifest_bytes_left -= len;
        let mut bytes = vec![0u8; len as usize];
        reader.read_exact(&mut bytes, "the manifests")?;
        // The hash first: bytes that are not the listed checkpoint are never decoded.
        if Id::of(&bytes) != *id {
            return Err(BundleError::Malformed(format!(
                "manifest {i} is not checkpoint {id} that the table of contents lists (a manifest was swapped or damaged)"
            )));
        }
        let manifest = SignedManifest::from_bytes(bytes)
            .map_err(|e| BundleError::Malformed(format!("manifest {id}: {e}")))?;
        manifests.push(manifest);
    }
    if manifest_bytes_left != 0 {
        return Err(BundleError::Malformed(
            "the manifests are shorter than the table of contents says".to_owned(),
        ));
    }

    let mut records = Vec::new();
    let mut record_bytes_left = toc.record_bytes;
    for _ in 0..toc.records {
        let len = u64::from(reader.read_u32("the records")?);
        if len > MAX_RECORD_SIZE as u64 || len > record_bytes_left {
            return Err(BundleError::Malformed(format!(
                "a record declares {len} bytes, more than the limit or the table of contents allows"
            )));
        }
        record_bytes_left -= len;
        let mut bytes = vec![0u8; len as usize];
        reader.read_exact(&mut bytes, "the records")?;
        records.push(Record::from_bytes(bytes)?);
    }
    if record_bytes_left != 0 {
        return Err(BundleError::Malformed(
            "the records are shorter than the table of contents says".to_owned(),
        ));
    }
    let chunks = Chunks {
        reader,
        left: toc.chunks,
        bytes_left: toc.chunk_bytes,
    };
    Ok((
        BundleHead {
            toc,
            manifests,
            records,
        },
        chunks,
    ))
}

impl<R: Read> Chunks<R> {
    /// The next chunk into `buffer`, its bytes checked against its id; `None` after the
    /// last one the TOC declared.
    pub fn next_chunk(&mut self, buffer: &mut Vec<u8>) -> Result<Option<Id>, BundleError> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut id = [0u8; 32];
        self.reader.read_exact(&mut id, "the chunks")?;
        let id = Id(id);
        let len = self.reader.read_u32("the chunks")?;
        if len == 0 || len > MAX_CHUNK_SIZE || u64::from(len) > self.bytes_left {
            return Err(BundleError::Malformed(format!(
                "chunk {id} declares {len} bytes, more than the limit or the table of contents allows"
            )));
        }
        if self.left == 1 && u64::from(len) != self.bytes_left {
            return Err(BundleError::Malformed(
                "the chunks are shorter than the table of contents says".to_owned(),
            ));
        }
        buffer.resize(len as usize, 0);
        self.reader.read_exact(buffer, "the chunks")?;
        if Id::of(buffer) != id {
            return Err(BundleError::Malformed(format!(
                "chunk {id} does not hash to its id (the bundle is damaged)"
            )));
        }
        self.left -= 1;
        self.bytes_left -= u64::from(len);
        Ok(Some(id))
    }

    /// Checks the trailer once every chunk was read, and that nothing follows it.
    pub fn finish(mut self) -> Result<(), BundleError> {
        if self.left != 0 {
            return Err(BundleError::Malformed(format!(
                "{} chunks were not read",
                self.left
            )));
        }
        self.reader.check("trailer", true)
    }
}
