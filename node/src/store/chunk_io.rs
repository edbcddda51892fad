//! Reading and writing chunk bytes at their places in plain files.

use std::fs::File;
use std::io;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use ostrom_protocol::Id;

use super::ChunkLocation;

/// Why a stored chunk could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChunkReadError {
    /// The file is gone or unreadable.
    #[error("cannot read chunk from {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The bytes there no longer hash to the chunk's id (the file was changed).
    #[error("{path} no longer holds chunk {id} at offset {offset} (the file was changed)")]
    Changed {
        /// The file.
        path: String,
        /// The chunk.
        id: Id,
        /// Where it was.
        offset: u64,
    },
}

/// Reads chunk `id` from `location` and checks its bytes still hash to `id`.
pub fn read_chunk(id: &Id, location: &ChunkLocation) -> Result<Vec<u8>, ChunkReadError> {
    let io = |source| ChunkReadError::Io {
        path: location.path.clone(),
        source,
    };
    let mut file = File::open(&location.path).map_err(io)?;
    file.seek(SeekFrom::Start(location.offset)).map_err(io)?;
    // Read into fresh capacity rather than a zeroed buffer.
    let len = location.len as usize;
    let mut bytes = Vec::with_capacity(len);
    file.take(u64::from(location.len))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() != len {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the file ends before the chunk's {len} bytes"),
        )));
    }
    if Id::of(&bytes) != *id {
        return Err(ChunkReadError::Changed {
            path: location.path.clone(),
            id: *id,
            offset: location.offset,
        });
    }
    Ok(bytes)
}

/// Writes `bytes` at `offset` of the file at `path`, which must exist.
pub fn write_at(path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all_at(bytes, offset)
}
