//! Before the network: check what is already at each file's final path, create the
//! staging files and sort every chunk into "already in place", "copy from elsewhere in the
//! store" or "needed from the network". After it: record the last chunks, check every
//! file against its id and rename it from its staging path to its final path.
//!
//! Chunk locations recorded in the store point at the staging path until the file is
//! renamed, and at the final path after, so an interrupted fetch resumes from its staging
//! files and a finished one serves from the files where they now lie.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libp2p::PeerId;
use ostrom_protocol::{FileEntry, Id};

use super::durable::Pending;
use super::output::{self, Existing};
use super::FetchError;
use crate::store::{read_chunk, ChunkLocation, Store};

/// Where one copy of a chunk goes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target {
    pub file: usize,
    pub offset: u64,
}

/// A file of the fetch.
pub(super) struct OutputFile {
    pub entry: FileEntry,
    /// Its final path.
    pub path: PathBuf,
    /// Where it is written until it verified (its final path when it was already there).
    pub staging: String,
    /// The staging file, open for writing; `None` for a file already in place.
    pub handle: Option<Arc<File>>,
    /// What was at the final path before the fetch.
    pub existing: Existing,
}

/// Everything the fetch knows about its files and chunks.
pub(super) struct Plan {
    /// The output directory (canonical).
    pub out: PathBuf,
    pub files: Vec<OutputFile>,
    /// Chunks to get from the network, each once, in file order.
    pub needed: Vec<Id>,
    /// Where each needed chunk goes (a chunk may appear more than once).
    pub targets: HashMap<Id, Vec<Target>>,
    pub lengths: HashMap<Id, u32>,
    pub pending: Pending,
    pub bytes_from_network: u64,
    pub bytes_from_store: u64,
    pub bytes_resumed: u64,
    pub peers: HashSet<PeerId>,
    /// Bytes of verified blocks received from each peer, duplicates included.
    pub received_by_peer: HashMap<PeerId, u64>,
}

/// What [`finish`] verified.
pub(super) struct Verified {
    pub files: Vec<FileEntry>,
    pub bytes_from_network: u64,
    pub bytes_from_store: u64,
    pub bytes_resumed: u64,
    pub peers: HashSet<PeerId>,
    pub received_by_peer: HashMap<PeerId, u64>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Creates (or opens again) the staging file of `entry` under `out`, at its full size.
fn open_staging(out: &Path, entry: &FileEntry) -> Result<(String, File), FetchError> {
    let path = output::staging_path(out, entry);
    output::directories(out, &path, true)?;
    let file = output::open(&path, true)?;
    let len = file.metadata().map_err(io_error(&path))?.len();
    if len != entry.size {
        file.set_len(entry.size).map_err(io_error(&path))?;
    }
    Ok((path.display().to_string(), file))
}

/// Looks at every file's final path under `out` (which need not exist yet), writing
/// nothing: a symbolic link on the way is refused, and so is a file with other bytes
/// unless `force`.
pub(super) fn inspect(
    out: &Path,
    files: &[FileEntry],
    force: bool,
) -> Result<Vec<Existing>, FetchError> {
    files
        .iter()
        .map(|entry| output::inspect(out, entry, force))
        .collect()
}

impl Plan {
    /// Bytes of all the files being written.
    pub(super) fn bytes_total(&self) -> u64 {
        self.files.iter().map(|f| f.entry.size).sum()
    }

    /// Bytes in place so far, from any source.
    pub(super) fn bytes_done(&self) -> u64 {
        self.bytes_resumed + self.bytes_from_store + self.bytes_from_network
    }

    /// Writes a verified chunk to every place it goes and notes it as pending.
    pub(super) fn write_chunk(
        &mut self,
        id: Id,
        bytes: &[u8],
        targets: &[Target],
    ) -> Result<(), FetchError> {
        for target in targets {
            let file = &self.files[target.file];
            // Targets only ever name files being written, which have a handle.
            let Some(handle) = &file.handle else {
                continue;
            };
            handle
                .write_all_at(bytes, target.offset)
                .map_err(io_error(Path::new(&file.staging)))?;
            self.pending.add(
                id,
                ChunkLocation {
                    path: file.staging.clone(),
                    offset: target.offset,
                    len: bytes.len() as u32,
                },
                handle,
            );
        }
        Ok(())
    }
}

/// Creates the staging files under `out` (which exists) for the files not already in
/// place, as [`inspect`] found them, and sorts every chunk of `files`.
pub(super) fn prepare(
    store: &Store,
    out: &Path,
    files: Vec<FileEntry>,
    existing: Vec<Existing>,
) -> Result<Plan, FetchError> {
    let mut plan = Plan {
        out: out.to_path_buf(),
        files: Vec::with_capacity(files.len()),
        needed: Vec::new(),
        targets: HashMap::new(),
        lengths: HashMap::new(),
        pending: Pending::default(),
        bytes_from_network: 0,
        bytes_from_store: 0,
        bytes_resumed: 0,
        peers: HashSet::new(),
        received_by_peer: HashMap::new(),
    };
    let mut in_place = Vec::new();
    for (entry, existing) in files.into_iter().zip(existing) {
        let path = output::final_path(out, &entry);
        let (staging, handle) = match &existing {
            Existing::Same { chunks_ok } => {
                in_place.extend(
                    entry
                        .chunk_offsets()
                        .zip(chunks_ok)
                        .filter(|(_, ok)| **ok)
                        .map(|((offset, chunk), _)| {
                            (
                                chunk.id,
                                ChunkLocation {
                                    path: path.display().to_string(),
                                    offset,
                                    len: chunk.len,
                                },
                            )
                        }),
                );
                plan.bytes_resumed += entry.size;
                (path.display().to_string(), None)
            }
            Existing::Absent | Existing::Replaced => {
                let (staging, file) = open_staging(out, &entry)?;
                (staging, Some(Arc::new(file)))
            }
        };
        plan.files.push(OutputFile {
            entry,
            path,
            staging,
            handle,
            existing,
        });
    }
    // A file already in place holds its chunks for good: the whole file matched its id.
    store.put_chunk_locations(&in_place)?;
    for index in 0..plan.files.len() {
        if plan.files[index].handle.is_none() {
            continue;
        }
        let chunks: Vec<(u64, Id, u32)> = plan.files[index]
            .entry
            .chunk_offsets()
            .map(|(offset, c)| (offset, c.id, c.len))
            .collect();
        for (offset, id, len) in chunks {
            let target = Target {
                file: index,
                offset,
            };
            if let Some(location) = store.chunk_location(&id)? {
                match read_chunk(&id, &location) {
                    // Left by an earlier, interrupted fetch into the same staging file,
                    // and still intact (it may have been deleted or edited since).
                    Ok(_)
                        if location.path == plan.files[index].staging
                            && location.offset == offset =>
                    {
                        plan.bytes_resumed += u64::from(len);
                        continue;
                    }
                    Ok(bytes) => {
                        plan.write_chunk(id, &bytes, &[target])?;
                        plan.bytes_from_store += u64::from(len);
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "forgetting stored chunk");
                        store.remove_chunk_location(&id)?;
                    }
                }
            }
            let targets = plan.targets.entry(id).or_default();
            if targets.is_empty() {
                plan.needed.push(id);
                plan.lengths.insert(id, len);
            }
            targets.push(target);
        }
    }
    plan.pending.take().commit(store)?;
    Ok(plan)
}

fn hash_file(path: &Path) -> Result<Id, FetchError> {
    let file = output::open(path, false)?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(BufReader::with_capacity(1 << 20, file))
        .map_err(io_error(path))?;
    Ok(hasher.finalize().into())
}

/// Records the last chunks, checks every whole staging file against its id, then renames
/// each to its final path and records its chunks there. A file that does not match has
/// its chunk records removed, and nothing is renamed.
pub(super) fn finish(store: &Store, mut plan: Plan) -> Result<Verified, FetchError> {
    plan.pending.take().commit(store)?;
    let written: Vec<&OutputFile> = plan.files.iter().filter(|f| f.handle.is_some()).collect();
    for file in &written {
        if hash_file(Path::new(&file.staging))? != file.entry.id {
            for chunk in &file.entry.chunks {
                if matches!(store.chunk_location(&chunk.id)?, Some(l) if l.path == file.staging) {
                    store.remove_chunk_location(&chunk.id)?;
                }
            }
            store.flush()?;
            return Err(FetchError::FileMismatch {
                path: file.path.display().to_string(),
                id: file.entry.id,
            });
        }
    }
    for file in &written {
        let path = output::publish(&plan.out, &file.entry, file.existing == Existing::Replaced)?;
        // Every chunk of the file verified, where it came from and as a whole, so each
        // now lies at its offset of the final path.
        let moved: Vec<(Id, ChunkLocation)> = file
            .entry
            .chunk_offsets()
            .map(|(offset, chunk)| {
                (
                    chunk.id,
                    ChunkLocation {
                        path: path.display().to_string(),
                        offset,
                        len: chunk.len,
                    },
                )
            })
            .collect();
        store.move_chunk_locations(&moved)?;
        store.flush()?;
    }
    output::tidy(
        &plan.out,
        &plan.files.iter().map(|f| &f.entry).collect::<Vec<_>>(),
    );
    Ok(Verified {
        files: plan.files.into_iter().map(|f| f.entry).collect(),
        bytes_from_network: plan.bytes_from_network,
        bytes_from_store: plan.bytes_from_store,
        bytes_resumed: plan.bytes_resumed,
        peers: plan.peers,
        received_by_peer: plan.received_by_peer,
    })
}
