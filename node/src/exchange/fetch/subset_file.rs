//! The files of a subset fetch ([`crate::subset`]) on disk: whether a file already at the
//! final path is the subset asked for, and turning a staging file whose chunks are all in
//! into the subset file.
//!
//! The staging file holds the original header chunks at the start and the selected
//! tensors' chunks after them, each verified against its id as it arrived. Finishing reads
//! every one back and checks it against its id again (as a whole fetch hashes the whole
//! file), builds the new header from the original header bytes, forgets the header chunks
//! (their bytes are about to be replaced) and writes the new header over them. The file's
//! id is the BLAKE3 of the new header and the tensor chunks, hashed on the way.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use ostrom_protocol::{FileEntry, Id};
use safetensors::tensor::Metadata;

use super::output::{self, Existing};
use super::plan::{OutputFile, WrittenSubset};
use super::FetchError;
use crate::store::Store;
use crate::subset::{rebuild_header, SubsetLayout};

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Looks at what is at the final path of `entry`'s subset, as [`output::inspect`] does: a
/// file there is kept when it is the subset asked for, else refused unless `force`.
pub(super) fn inspect(
    out: &Path,
    entry: &FileEntry,
    layout: &SubsetLayout,
    force: bool,
) -> Result<Existing, FetchError> {
    output::inspect_with(out, entry, force, |path, len| {
        if len != layout.size {
            return Ok(None);
        }
        let file = output::open(path, false)?;
        Ok(is_subset(&file, entry, layout)
            .map_err(io_error(path))?
            .then(|| vec![true; layout.tensor_placements(entry).len()]))
    })
}

/// Whether `file` (of the subset's size) is the subset `layout` describes: a header
/// region of the original's length whose JSON lists exactly the selected tensors, with the
/// manifest's dtypes and shapes at the subset's offsets, and every tensor chunk in place.
/// Its `__metadata__` is not compared: the original header is not at hand.
fn is_subset(file: &File, entry: &FileEntry, layout: &SubsetLayout) -> std::io::Result<bool> {
    let mut region = vec![0u8; layout.header_len as usize];
    file.read_exact_at(&mut region, 0)?;
    let Some(json) = region.get(8..).and_then(|j| std::str::from_utf8(j).ok()) else {
        return Ok(false);
    };
    if region[..8] != (layout.header_len - 8).to_le_bytes() {
        return Ok(false);
    }
    let Ok(header) = serde_json::from_str::<Metadata>(json) else {
        return Ok(false);
    };
    if header.tensors().len() != layout.tensors.len() {
        return Ok(false);
    }
    for (i, &index) in layout.tensors.iter().enumerate() {
        let listed = &entry.tensors[index];
        let (start, end) = layout.original_range(entry, i);
        let begin = layout.begins[i] as usize;
        let fits = header.info(&listed.name).is_some_and(|info| {
            info.dtype.to_string() == listed.dtype
                && info
                    .shape
                    .iter()
                    .map(|&d| d as u64)
                    .eq(listed.shape.iter().copied())
                && info.data_offsets == (begin, begin + (end - start) as usize)
        });
        if !fits {
            return Ok(false);
        }
    }
    let mut buffer = Vec::new();
    for placement in layout.tensor_placements(entry) {
        let chunk = &entry.chunks[placement.chunk];
        buffer.resize(chunk.len as usize, 0);
        file.read_exact_at(&mut buffer, placement.offset)?;
        if Id::of(&buffer) != chunk.id {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Forgets every chunk of `entry` recorded in the staging file at `staging`.
fn forget(store: &Store, entry: &FileEntry, staging: &str) -> Result<(), FetchError> {
    for chunk in &entry.chunks {
        if matches!(store.chunk_location(&chunk.id)?, Some(l) if l.path == staging) {
            store.remove_chunk_location(&chunk.id)?;
        }
    }
    store.flush()?;
    Ok(())
}

/// Checks every chunk of the staging file of `file` against its id, writes the subset's
/// header over the original's, and returns the subset file's id. A chunk that no longer
/// matches has every chunk recorded in the staging file forgotten (run the fetch again).
pub(super) fn finalize(
    store: &Store,
    file: &OutputFile,
    layout: &SubsetLayout,
) -> Result<WrittenSubset, FetchError> {
    let staging = Path::new(&file.staging);
    let Some(handle) = &file.handle else {
        return Err(FetchError::Task(
            "a subset file to finish has no staging file".into(),
        ));
    };
    let entry = &file.entry;
    let mismatch = || -> Result<WrittenSubset, FetchError> {
        forget(store, entry, &file.staging)?;
        Err(FetchError::FileMismatch {
            path: file.path.display().to_string(),
            id: entry.id,
        })
    };
    let mut region = vec![0u8; layout.header_len as usize];
    for placement in layout.header_placements(entry) {
        let chunk = &entry.chunks[placement.chunk];
        let at = placement.offset as usize;
        let bytes = &mut region[at..at + chunk.len as usize];
        handle
            .read_exact_at(bytes, placement.offset)
            .map_err(io_error(staging))?;
        if Id::of(bytes) != chunk.id {
            return mismatch();
        }
    }
    let header = rebuild_header(&region, entry, layout)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(&header);
    let mut buffer = Vec::new();
    for placement in layout.tensor_placements(entry) {
        let chunk = &entry.chunks[placement.chunk];
        buffer.resize(chunk.len as usize, 0);
        handle
            .read_exact_at(&mut buffer, placement.offset)
            .map_err(io_error(staging))?;
        if Id::of(&buffer) != chunk.id {
            return mismatch();
        }
        hasher.update(&buffer);
    }
    // The header chunks' bytes are replaced next: they are no longer held here.
    for placement in layout.header_placements(entry) {
        let id = entry.chunks[placement.chunk].id;
        if matches!(store.chunk_location(&id)?, Some(l) if l.path == file.staging && l.offset == placement.offset)
        {
            store.remove_chunk_location(&id)?;
        }
    }
    store.flush()?;
    handle
        .write_all_at(&header, 0)
        .and_then(|()| handle.sync_data())
        .map_err(io_error(staging))?;
    Ok(WrittenSubset {
        id: hasher.finalize().into(),
        size: layout.size,
        tensors: layout.tensors.len(),
    })
}
