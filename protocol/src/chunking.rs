//! How a file is cut into chunks, and the one streaming pass that hashes them.
//!
//! - A `.safetensors` file is cut at tensor boundaries: the header (the 8-byte length and
//!   the JSON after it) is its own region, then each tensor's bytes, in file order, are a
//!   region; every region is split into pieces of at most [`MAX_CHUNK_SIZE`] bytes. Two
//!   checkpoints that share a tensor therefore share its chunks.
//! - Any other file is cut into pieces of exactly [`MAX_CHUNK_SIZE`] bytes, the last one
//!   shorter. An empty file has no chunks.
//!
//! Whether a safetensors file is accepted at all is decided by
//! [`safetensors_header::accept`](crate::safetensors_header::accept): a malformed file is a
//! [`ChunkError::Safetensors`], a valid one over a manifest limit a [`ChunkError::Limit`].

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::id::Id;
use crate::limits::MAX_CHUNK_SIZE;
use crate::manifest::{ChunkRef, TensorEntry};
use crate::safetensors_header::{self, Refusal};

/// Why a file could not be chunked.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is named `.safetensors` but its header is not valid.
    #[error("{path} is not a valid safetensors file: {reason}")]
    Safetensors {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is valid safetensors but breaks a limit of the manifest.
    #[error("{path}: {reason}")]
    Limit {
        /// The file.
        path: String,
        /// Which limit, naming the tensor.
        reason: String,
    },
    /// The file changed size while it was being read.
    #[error("{path} changed while it was being read (expected {expected} bytes)")]
    Changed {
        /// The file.
        path: String,
        /// The size it had when reading began.
        expected: u64,
    },
}

/// One piece of a file: where it lies and, for safetensors, which tensor it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes, 1 to [`MAX_CHUNK_SIZE`].
    pub len: u32,
}

/// A tensor of a safetensors file as the chunking sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorLayout {
    /// The tensor's name.
    pub name: String,
    /// Its dtype as the safetensors header spells it (`BF16`, `F32`, ...).
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Index of its first piece.
    pub first_chunk: u32,
    /// How many pieces hold it (0 for an empty tensor).
    pub chunk_count: u32,
}

/// Where a file's chunks lie, before any hashing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    /// The pieces in file order; they cover the file exactly.
    pub pieces: Vec<Piece>,
    /// The tensors, in file order (empty for a file that is not safetensors).
    pub tensors: Vec<TensorLayout>,
}

/// A file chunked and hashed: everything a manifest says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedFile {
    /// The file's size.
    pub size: u64,
    /// BLAKE3 of the whole file.
    pub id: Id,
    /// Its chunks in file order.
    pub chunks: Vec<ChunkRef>,
    /// Its tensors, for a safetensors file.
    pub tensors: Vec<TensorEntry>,
}

/// Chunk buffers queued for the whole-file hash while chunks are read and hashed.
const BUFFERS_IN_FLIGHT: usize = 4;

/// Whether a file is chunked at tensor boundaries: it is when its name ends in
/// `.safetensors`.
pub fn is_safetensors(path: &str) -> bool {
    path.ends_with(".safetensors")
}

/// Splits `[start, start + len)` into pieces of at most [`MAX_CHUNK_SIZE`], appended to
/// `pieces`.
fn split_region(start: u64, len: u64, pieces: &mut Vec<Piece>) {
    let max = u64::from(MAX_CHUNK_SIZE);
    let mut offset = start;
    let end = start + len;
    while offset < end {
        let piece = (end - offset).min(max);
        pieces.push(Piece {
            offset,
            // piece <= MAX_CHUNK_SIZE, which fits in u32.
            len: piece as u32,
        });
        offset += piece;
    }
}

/// The layout of a file that is not chunked by tensors.
pub fn plain_layout(size: u64) -> Layout {
    let mut layout = Layout::default();
    split_region(0, size, &mut layout.pieces);
    layout
}

/// The layout of a safetensors file given its first bytes: `head` must hold at least the
/// 8-byte length and the whole JSON header. `size` is the size of the whole file.
pub fn safetensors_layout(head: &[u8], size: u64) -> Result<Layout, Refusal> {
    let header = safetensors_header::accept(head, size)?;
    let mut layout = Layout::default();
    split_region(0, header.data_start, &mut layout.pieces);
    for tensor in header.tensors {
        let first_chunk = chunk_index(layout.pieces.len())?;
        split_region(
            header.data_start + tensor.begin,
            tensor.end - tensor.begin,
            &mut layout.pieces,
        );
        layout.tensors.push(TensorLayout {
            name: tensor.name,
            dtype: tensor.dtype,
            shape: tensor.shape,
            first_chunk,
            chunk_count: chunk_index(layout.pieces.len())? - first_chunk,
        });
    }
    Ok(layout)
}

/// A chunk index as the manifest stores it (`u32`).
fn chunk_index(index: usize) -> Result<u32, Refusal> {
    u32::try_from(index).map_err(|_| {
        Refusal::Limit(format!(
            "more than {} chunks, more than a manifest can index",
            u32::MAX
        ))
    })
}

/// Reads the layout of `file`, `size` bytes long (named `display` in errors, which also
/// decides whether it is chunked as safetensors).
pub fn layout_of(file: &mut File, display: &str, size: u64) -> Result<Layout, ChunkError> {
    if !is_safetensors(display) {
        return Ok(plain_layout(size));
    }
    let refused = |refusal: Refusal| match refusal {
        Refusal::Malformed(reason) => ChunkError::Safetensors {
            path: display.to_owned(),
            reason,
        },
        Refusal::Limit(reason) => ChunkError::Limit {
            path: display.to_owned(),
            reason,
        },
    };
    let io = |source| ChunkError::Io {
        path: display.to_owned(),
        source,
    };
    let mut length = [0u8; 8];
    let read = size.min(8) as usize;
    file.read_exact(&mut length[..read]).map_err(io)?;
    let header_len = safetensors_header::header_len(&length[..read], size).map_err(refused)?;
    // header_len <= MAX_SAFETENSORS_HEADER, so it fits in memory and in usize.
    let mut head = length.to_vec();
    head.resize(8 + header_len as usize, 0);
    file.read_exact(&mut head[8..]).map_err(io)?;
    safetensors_layout(&head, size).map_err(refused)
}

/// Chunks and hashes the file at `path` in one streaming pass (the chunk ids and the whole
/// file's id on two threads); `display` names it in errors and decides whether it is
/// chunked as safetensors.
pub fn chunk_file(path: &Path, display: &str) -> Result<ChunkedFile, ChunkError> {
    chunk_file_reporting(path, display, &mut |_| {})
}

/// [`chunk_file`], calling `hashed` with the length of each chunk once it is read and
/// hashed, so that a long file can show its progress.
pub fn chunk_file_reporting(
    path: &Path,
    display: &str,
    hashed: &mut dyn FnMut(u64),
) -> Result<ChunkedFile, ChunkError> {
    let io = |source| ChunkError::Io {
        path: display.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let layout = layout_of(&mut file, display, size)?;
    let mut file = File::open(path).map_err(io)?;
    // Two hashes of every byte, on two threads: this one reads and hashes the chunks, a
    // helper hashes the whole file from the same buffers and hands them back for reuse.
    let (to_whole, from_reader) = std::sync::mpsc::sync_channel::<Vec<u8>>(BUFFERS_IN_FLIGHT);
    let (recycle, recycled) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut chunks = Vec::with_capacity(layout.pieces.len());
    let whole = std::thread::scope(|scope| {
        let hasher = scope.spawn(move || {
            let mut whole = blake3::Hasher::new();
            for bytes in from_reader {
                whole.update(&bytes);
                let _ = recycle.send(bytes);
            }
            whole.finalize()
        });
        for piece in &layout.pieces {
            let mut bytes = recycled
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(MAX_CHUNK_SIZE as usize));
            bytes.resize(piece.len as usize, 0);
            file.read_exact(&mut bytes).map_err(|source| {
                if source.kind() == io::ErrorKind::UnexpectedEof {
                    ChunkError::Changed {
                        path: display.to_owned(),
                        expected: size,
                    }
                } else {
                    io(source)
                }
            })?;
            chunks.push(ChunkRef {
                id: Id::of(&bytes),
                len: piece.len,
            });
            hashed(u64::from(piece.len));
            if to_whole.send(bytes).is_err() {
                break;
            }
        }
        drop(to_whole);
        hasher.join().map_err(|_| ChunkError::Io {
            path: display.to_owned(),
            source: io::Error::other("the hashing thread failed"),
        })
    })?;
    let tensors = layout
        .tensors
        .into_iter()
        .map(|t| TensorEntry {
            name: t.name,
            dtype: t.dtype,
            shape: t.shape,
            first_chunk: t.first_chunk,
            chunk_count: t.chunk_count,
        })
        .collect();
    Ok(ChunkedFile {
        size,
        id: whole.into(),
        chunks,
        tensors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const MAX: u64 = MAX_CHUNK_SIZE as u64;

    fn write_temp(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(name);
        File::create(&path)
            .and_then(|mut f| f.write_all(bytes))
            .expect("write");
        (dir, path)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn plain_files_at_boundary_sizes() {
        for size in [0, 1, MAX - 1, MAX, MAX + 1, 3 * MAX, 3 * MAX + 7] {
            let bytes = pattern(size as usize);
            let (_dir, path) = write_temp("blob.bin", &bytes);
            let chunked = chunk_file(&path, "blob.bin").expect("chunks");
            assert_eq!(chunked.size, size);
            assert_eq!(chunked.id, Id::of(&bytes));
            assert_eq!(chunked.chunks.len() as u64, size.div_ceil(MAX));
            let mut offset = 0usize;
            for chunk in &chunked.chunks {
                let len = chunk.len as usize;
                assert!(len >= 1 && len as u64 <= MAX);
                assert_eq!(chunk.id, Id::of(&bytes[offset..offset + len]));
                offset += len;
            }
            assert_eq!(offset as u64, size);
            assert!(chunked.tensors.is_empty());
            let mut reported = Vec::new();
            let again =
                chunk_file_reporting(&path, "blob.bin", &mut |n| reported.push(n)).expect("chunks");
            assert_eq!(again, chunked);
            let lens: Vec<u64> = chunked.chunks.iter().map(|c| u64::from(c.len)).collect();
            assert_eq!(reported, lens);
        }
    }

    fn safetensors_bytes(tensor_sizes: &[usize]) -> Vec<u8> {
        let data: Vec<Vec<u8>> = tensor_sizes.iter().map(|&n| pattern(n)).collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let view = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::U8,
                    vec![bytes.len()],
                    bytes,
                )
                .expect("view");
                (format!("t{i:02}"), view)
            })
            .collect();
        safetensors::serialize(views, None).expect("serialize")
    }

    #[test]
    fn safetensors_cut_at_tensor_boundaries() {
        let sizes = [0, 1, MAX as usize - 1, MAX as usize, MAX as usize + 1, 5];
        let bytes = safetensors_bytes(&sizes);
        let (_dir, path) = write_temp("model.safetensors", &bytes);
        let chunked = chunk_file(&path, "model.safetensors").expect("chunks");
        assert_eq!(chunked.id, Id::of(&bytes));
        assert_eq!(chunked.tensors.len(), sizes.len());
        let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) + 8;
        // The header is its own chunk; then each tensor starts a new chunk.
        assert_eq!(chunked.chunks[0].len as u64, header_len);
        let expected_counts: Vec<u32> = sizes
            .iter()
            .map(|&n| (n as u64).div_ceil(MAX) as u32)
            .collect();
        let counts: Vec<u32> = chunked.tensors.iter().map(|t| t.chunk_count).collect();
        assert_eq!(counts, expected_counts);
        let mut offset = header_len as usize;
        for (tensor, &size) in chunked.tensors.iter().zip(&sizes) {
            let range =
                tensor.first_chunk as usize..(tensor.first_chunk + tensor.chunk_count) as usize;
            let len: usize = chunked.chunks[range].iter().map(|c| c.len as usize).sum();
            assert_eq!(len, size, "{}", tensor.name);
            offset += len;
            assert_eq!(tensor.dtype, "U8");
        }
        assert_eq!(offset, bytes.len());
    }

    #[test]
    fn shared_tensor_shares_chunks() {
        let a = safetensors_bytes(&[3 * MAX as usize, 10]);
        let b = safetensors_bytes(&[3 * MAX as usize, 11]);
        let (_da, pa) = write_temp("a.safetensors", &a);
        let (_db, pb) = write_temp("b.safetensors", &b);
        let ca = chunk_file(&pa, "a.safetensors").expect("a");
        let cb = chunk_file(&pb, "b.safetensors").expect("b");
        let first = |c: &ChunkedFile| {
            let t = &c.tensors[0];
            c.chunks[t.first_chunk as usize..(t.first_chunk + t.chunk_count) as usize].to_vec()
        };
        assert_eq!(first(&ca), first(&cb));
        assert_ne!(ca.id, cb.id);
    }

    #[test]
    fn malformed_safetensors_is_a_clear_error() {
        let good = safetensors_bytes(&[100]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("short", vec![1, 2, 3]),
            ("huge header length", u64::MAX.to_le_bytes().to_vec()),
            ("header past end", {
                let mut b = 1000u64.to_le_bytes().to_vec();
                b.extend_from_slice(b"{}");
                b
            }),
            ("not json", {
                let mut b = 4u64.to_le_bytes().to_vec();
                b.extend_from_slice(b"nope");
                b
            }),
            ("truncated data", good[..good.len() - 1].to_vec()),
            ("trailing data", {
                let mut b = good.clone();
                b.push(0);
                b
            }),
        ];
        for (what, bytes) in cases {
            let (_dir, path) = write_temp("m.safetensors", &bytes);
            match chunk_file(&path, "m.safetensors") {
                Err(ChunkError::Safetensors { reason, .. }) => {
                    assert!(!reason.is_empty(), "{what}")
                }
                other => panic!("{what}: expected a safetensors error, got {other:?}"),
            }
        }
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let err = chunk_file(Path::new("/nonexistent/x"), "x").expect_err("missing");
        assert!(err.to_string().contains("cannot read x"), "{err}");
    }
}
