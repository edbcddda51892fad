//! Before the network: check what is already at each file's final path, create the
//! staging files and sort every chunk into "already in place", "copy from elsewhere in the
//! store" or "needed from the network". After it: record the last chunks, check every
//! file against its id and rename it from its staging path to its final path.
//!
//! Chunk locations recorded in the store point at the staging path until the file is
//! renamed, and at the final path after, so an interrupted fetch resumes from its staging
//! files and a finished one serves from the files where they now lie.
//!
//! A file of a subset fetch ([`crate::subset`]) is planned the same way, with its own
//! placement of chunks (the original header chunks, then the selected tensors' chunks) and
//! finished by [`super::subset_file`].

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
use super::{subset_file, FetchError};
use crate::store::{read_chunk, ChunkLocation, Store};
use crate::subset::SubsetLayout;

/// Where one copy of a chunk goes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target {
    pub file: usize,
    pub offset: u64,
}

/// A file a fetch writes: a file of the manifest, whole or (with a layout) as a subset of
/// its tensors.
#[derive(Debug, Clone)]
pub(super) struct FileSpec {
    pub entry: FileEntry,
    pub subset: Option<SubsetLayout>,
}

impl FileSpec {
    /// The size of the file written.
    pub(super) fn size(&self) -> u64 {
        self.subset.as_ref().map_or(self.entry.size, |l| l.size)
    }

    /// Where each chunk written goes, as (offset, chunk id, length), in file order.
    pub(super) fn placements(&self) -> Vec<(u64, Id, u32)> {
        match &self.subset {
            None => self
                .entry
                .chunk_offsets()
                .map(|(offset, c)| (offset, c.id, c.len))
                .collect(),
            Some(layout) => layout
                .placements(&self.entry)
                .into_iter()
                .map(|p| self.placed(&p))
                .collect(),
        }
    }

    /// A subset placement as (offset, chunk id, length).
    fn placed(&self, placement: &crate::subset::Placement) -> (u64, Id, u32) {
        let chunk = &self.entry.chunks[placement.chunk];
        (placement.offset, chunk.id, chunk.len)
    }

    /// The placements of the chunks that stay in the final file: all of a whole file's, a
    /// subset's tensor chunks (its header chunks are replaced by the new header).
    pub(super) fn kept_placements(&self) -> Vec<(u64, Id, u32)> {
        match &self.subset {
            None => self.placements(),
            Some(layout) => layout
                .tensor_placements(&self.entry)
                .into_iter()
                .map(|p| self.placed(&p))
                .collect(),
        }
    }
}

/// A file of the fetch.
pub(super) struct OutputFile {
    pub entry: FileEntry,
    /// For a subset file, where its chunks go.
    pub subset: Option<SubsetLayout>,
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

/// A subset file [`finish`] wrote and verified.
#[derive(Debug, Clone)]
pub(super) struct WrittenSubset {
    /// BLAKE3 of the file written.
    pub id: Id,
    /// Its size.
    pub size: u64,
    /// How many tensors it holds.
    pub tensors: usize,
}

/// A file [`finish`] verified.
pub(super) struct FinishedFile {
    /// The manifest's file.
    pub entry: FileEntry,
    /// When only some of its tensors were fetched, the subset file written.
    pub subset: Option<WrittenSubset>,
}

/// What [`finish`] verified.
pub(super) struct Verified {
    pub files: Vec<FinishedFile>,
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

/// Creates (or opens again) the staging file of `entry` under `out`, at `size`.
fn open_staging(out: &Path, entry: &FileEntry, size: u64) -> Result<(String, File), FetchError> {
    let path = output::staging_path(out, entry);
    output::directories(out, &path, true)?;
    let file = output::open(&path, true)?;
    let len = file.metadata().map_err(io_error(&path))?.len();
    if len != size {
        file.set_len(size).map_err(io_error(&path))?;
    }
    Ok((path.display().to_string(), file))
}

/// Looks at every file's final path under `out` (which need not exist yet), writing
/// nothing: a symbolic link on the way is refused, and so is a file with other bytes
/// unless `force`.
pub(super) fn inspect(
    out: &Path,
    files: &[FileSpec],
    force: bool,
) -> Result<Vec<Existing>, FetchError> {
    files
        .iter()
        .map(|spec| match &spec.subset {
            None => output::inspect(out, &spec.entry, force),
            Some(layout) => subset_file::inspect(out, &spec.entry, layout, force),
        })
        .collect()
}

impl OutputFile {
    fn spec(&self) -> FileSpec {
        FileSpec {
            entry: self.entry.clone(),
            subset: self.subset.clone(),
        }
    }

    /// The size of the file written.
    pub(super) fn size(&self) -> u64 {
        self.subset.as_ref().map_or(self.entry.size, |l| l.size)
    }
}

impl Plan {
    /// Bytes of all the files being written.
    pub(super) fn bytes_total(&self) -> u64 {
        self.files.iter().map(OutputFile::size).sum()
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
    files: Vec<FileSpec>,
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
    for (spec, existing) in files.into_iter().zip(existing) {
        let path = output::final_path(out, &spec.entry);
        let (staging, handle) = match &existing {
            Existing::Same { chunks_ok } => {
                in_place.extend(
                    spec.kept_placements()
                        .into_iter()
                        .zip(chunks_ok)
                        .filter(|(_, ok)| **ok)
                        .map(|((offset, id, len), _)| {
                            (
                                id,
                                ChunkLocation {
                                    path: path.display().to_string(),
                                    offset,
                                    len,
                                },
                            )
                        }),
                );
                plan.bytes_resumed += spec.size();
                (path.display().to_string(), None)
            }
            Existing::Absent | Existing::Replaced => {
                let (staging, file) = open_staging(out, &spec.entry, spec.size())?;
                (staging, Some(Arc::new(file)))
            }
        };
        plan.files.push(OutputFile {
            entry: spec.entry,
            subset: spec.subset,
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
        let chunks = plan.files[index].spec().placements();
        let placed: HashSet<(Id, u64)> = chunks.iter().map(|(o, id, _)| (*id, *o)).collect();
        for (offset, id, len) in chunks {
            let target = Target {
                file: index,
                offset,
            };
            if let Some(location) = store.chunk_location(&id)? {
                let staging = &plan.files[index].staging;
                if location.path == *staging && !placed.contains(&(id, location.offset)) {
                    // Left in this staging file by a fetch that laid it out otherwise (a
                    // subset of other tensors, or the whole file): the bytes about to be
                    // written here may overlap it, so it is not copied from there.
                    store.remove_chunk_location(&id)?;
                    let targets = plan.targets.entry(id).or_default();
                    if targets.is_empty() {
                        plan.needed.push(id);
                        plan.lengths.insert(id, len);
                    }
                    targets.push(target);
                    continue;
                }
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

/// Records the last chunks, checks every whole staging file against its id (and every
/// subset file chunk by chunk, writing its new header), then renames each to its final
/// path and records its chunks there. A file that does not match has its chunk records
/// removed, and nothing is renamed.
pub(super) fn finish(store: &Store, mut plan: Plan) -> Result<Verified, FetchError> {
    plan.pending.take().commit(store)?;
    let mut subsets: HashMap<usize, WrittenSubset> = HashMap::new();
    for (index, file) in plan.files.iter().enumerate() {
        if file.handle.is_none() {
            continue;
        }
        if let Some(layout) = &file.subset {
            subsets.insert(index, subset_file::finalize(store, file, layout)?);
            continue;
        }
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
    for file in plan.files.iter().filter(|f| f.handle.is_some()) {
        let path = output::publish(&plan.out, &file.entry, file.existing == Existing::Replaced)?;
        // Every chunk of the file verified, where it came from and (for a whole file) as
        // a whole, so each now lies at its offset of the final path.
        let moved: Vec<(Id, ChunkLocation)> = file
            .spec()
            .kept_placements()
            .into_iter()
            .map(|(offset, id, len)| {
                (
                    id,
                    ChunkLocation {
                        path: path.display().to_string(),
                        offset,
                        len,
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
    let files = plan
        .files
        .into_iter()
        .enumerate()
        .map(|(index, file)| {
            let subset = match (&file.subset, subsets.remove(&index)) {
                (_, Some(written)) => Some(written),
                // A subset file that was already in place.
                (Some(layout), None) => Some(WrittenSubset {
                    id: hash_file(Path::new(&file.staging))?,
                    size: layout.size,
                    tensors: layout.tensors.len(),
                }),
                (None, None) => None,
            };
            Ok(FinishedFile {
                entry: file.entry,
                subset,
            })
        })
        .collect::<Result<Vec<_>, FetchError>>()?;
    Ok(Verified {
        files,
        bytes_from_network: plan.bytes_from_network,
        bytes_from_store: plan.bytes_from_store,
        bytes_resumed: plan.bytes_resumed,
        peers: plan.peers,
        received_by_peer: plan.received_by_peer,
    })
}
