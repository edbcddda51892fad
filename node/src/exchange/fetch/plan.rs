//! Before the network: create the output files and sort every chunk into "already in
//! place", "copy from elsewhere in the store" or "needed from the network". After it:
//! record the last chunks and check every file against its id.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::BufReader;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libp2p::PeerId;
use ostrom_protocol::{FileEntry, Id};

use super::durable::Pending;
use super::FetchError;
use crate::store::{read_chunk, ChunkLocation, Store};

/// Where one copy of a chunk goes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target {
    pub file: usize,
    pub offset: u64,
}

/// A file being written.
pub(super) struct OutputFile {
    pub entry: FileEntry,
    pub path: String,
    pub handle: Arc<File>,
}

/// Everything the fetch knows about its files and chunks.
pub(super) struct Plan {
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

fn open_output(path: &Path, size: u64) -> Result<File, FetchError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_error(path))?;
    let len = file.metadata().map_err(io_error(path))?.len();
    if len != size {
        file.set_len(size).map_err(io_error(path))?;
    }
    Ok(file)
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
            file.handle
                .write_all_at(bytes, target.offset)
                .map_err(io_error(Path::new(&file.path)))?;
            self.pending.add(
                id,
                ChunkLocation {
                    path: file.path.clone(),
                    offset: target.offset,
                    len: bytes.len() as u32,
                },
                &file.handle,
            );
        }
        Ok(())
    }
}

/// Creates the output files under `out` and sorts every chunk of `files`.
pub(super) fn prepare(
    store: &Store,
    out: &Path,
    files: Vec<FileEntry>,
) -> Result<Plan, FetchError> {
    let mut plan = Plan {
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
    for entry in files {
        // Manifest paths were validated: relative, no `..`, so this stays under `out`.
        let path: PathBuf = out.join(&entry.path);
        let handle = Arc::new(open_output(&path, entry.size)?);
        plan.files.push(OutputFile {
            entry,
            path: path.display().to_string(),
            handle,
        });
    }
    for index in 0..plan.files.len() {
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
                    // Left by an earlier, interrupted fetch into the same place, and still
                    // intact (the output may have been deleted or edited since).
                    Ok(_)
                        if location.path == plan.files[index].path && location.offset == offset =>
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

fn hash_file(path: &str) -> Result<Id, FetchError> {
    let file = File::open(path).map_err(io_error(Path::new(path)))?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(BufReader::with_capacity(1 << 20, file))
        .map_err(io_error(Path::new(path)))?;
    Ok(hasher.finalize().into())
}

/// Records the last chunks and checks every whole file against its id. A file that does
/// not match has its chunk records removed.
pub(super) fn finish(store: &Store, mut plan: Plan) -> Result<Verified, FetchError> {
    plan.pending.take().commit(store)?;
    for file in &plan.files {
        if hash_file(&file.path)? != file.entry.id {
            for chunk in &file.entry.chunks {
                if matches!(store.chunk_location(&chunk.id)?, Some(l) if l.path == file.path) {
                    store.remove_chunk_location(&chunk.id)?;
                }
            }
            store.flush()?;
            return Err(FetchError::FileMismatch {
                path: file.path.clone(),
                id: file.entry.id,
            });
        }
    }
    Ok(Verified {
        files: plan.files.into_iter().map(|f| f.entry).collect(),
        bytes_from_network: plan.bytes_from_network,
        bytes_from_store: plan.bytes_from_store,
        bytes_resumed: plan.bytes_resumed,
        peers: plan.peers,
        received_by_peer: plan.received_by_peer,
    })
}
