//! The node's store: metadata in sled, bulk bytes in plain files.
//!
//! sled trees (names carry a format version):
//!
//! - `manifests/v1`: checkpoint id → signed manifest bytes (verified before insertion).
//! - `chunks/v1`: chunk id → [`ChunkLocation`], the file and offset holding its verified
//!   bytes. A chunk gets a location only after its bytes are written and synced, so a node
//!   killed at any instant restarts into a store whose every location is good.
//! - `held/v1`: checkpoint id → [`HeldCheckpoint`], where its files live and whether all of
//!   them are complete.
//! - `files/v1`: file id → the checkpoint id whose manifest lists it.
//! - `statements/v1`: DHT key → a signed retraction or key rotation this node made or
//!   met, kept so it can be stored in the DHT again.
//! - `restricted/v1`: chunk id → the labs allowed to read it, for chunks of restricted
//!   checkpoints (chunks of a public checkpoint this node holds are never listed).
//! - `names/v1`: name record key → the newest signed name record this node has seen (its
//!   own, and those it resolved).
//!
//! Chunk bytes are never copied into the store: a published checkpoint is served from the
//! files it was published from, and a fetched one from the files it was written to.

mod chunk_io;
mod records;

use std::path::Path;

use ostrom_protocol::name_record::SignedNameRecord;
use ostrom_protocol::{Id, SignedManifest};

pub use chunk_io::{read_chunk, write_at, ChunkReadError};
pub use records::{ChunkLocation, HeldCheckpoint};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the database.
    #[error(
        "the store at {0} is in use by another process (is a node already running on this home?)"
    )]
    Locked(String),
    /// sled failed.
    #[error("store database error: {0}")]
    Db(#[from] sled::Error),
    /// A stored value does not decode: the database is damaged.
    #[error("damaged store entry in {tree}: {reason}")]
    Damaged {
        /// The tree.
        tree: &'static str,
        /// What is wrong.
        reason: String,
    },
}

const MANIFESTS: &str = "manifests/v1";
const CHUNKS: &str = "chunks/v1";
const HELD: &str = "held/v1";
const FILES: &str = "files/v1";
const NAMES: &str = "names/v1";
const STATEMENTS: &str = "statements/v1";
const RESTRICTED: &str = "restricted/v1";

/// The node's metadata store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    manifests: sled::Tree,
    chunks: sled::Tree,
    held: sled::Tree,
    files: sled::Tree,
    names: sled::Tree,
    statements: sled::Tree,
    restricted: sled::Tree,
    added: tokio::sync::broadcast::Sender<Id>,
}

/// How many newly held chunk ids subscribers may fall behind by before they must re-check.
const ADDED_BACKLOG: usize = 4096;

/// A signed statement's DHT key and bytes.
pub type KeyedStatement = (Vec<u8>, Vec<u8>);

fn id_key(key: &[u8], tree: &'static str) -> Result<Id, StoreError> {
    let bytes: [u8; 32] = key.try_into().map_err(|_| StoreError::Damaged {
        tree,
        reason: format!("key of {} bytes", key.len()),
    })?;
    Ok(Id(bytes))
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(dir).open().map_err(|e| match e {
            sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                StoreError::Locked(dir.display().to_string())
            }
            sled::Error::Io(ref io) if io.to_string().contains("lock") => {
                StoreError::Locked(dir.display().to_string())
            }
            other => StoreError::Db(other),
        })?;
        Ok(Self {
            manifests: db.open_tree(MANIFESTS)?,
            chunks: db.open_tree(CHUNKS)?,
            held: db.open_tree(HELD)?,
            files: db.open_tree(FILES)?,
            names: db.open_tree(NAMES)?,
            statements: db.open_tree(STATEMENTS)?,
            restricted: db.open_tree(RESTRICTED)?,
            db,
            added: tokio::sync::broadcast::channel(ADDED_BACKLOG).0,
        })
    }

    /// Makes every change so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Stores a verified manifest.
    pub fn put_manifest(&self, manifest: &SignedManifest) -> Result<(), StoreError> {
        self.manifests
            .insert(manifest.id().as_bytes(), manifest.bytes())?;
        Ok(())
    }

    /// The manifest of checkpoint `id`, verified again as it is read.
    pub fn manifest(&self, id: &Id) -> Result<Option<SignedManifest>, StoreError> {
        let Some(bytes) = self.manifests.get(id.as_bytes())? else {
            return Ok(None);
        };
        SignedManifest::from_bytes(bytes.to_vec())
            .map(Some)
            .map_err(|e| StoreError::Damaged {
                tree: MANIFESTS,
                reason: e.to_string(),
            })
    }

    /// Every stored manifest.
    pub fn manifests(&self) -> Result<Vec<SignedManifest>, StoreError> {
        let mut all = Vec::new();
        for entry in self.manifests.iter() {
            let (_, bytes) = entry?;
            all.push(SignedManifest::from_bytes(bytes.to_vec()).map_err(|e| {
                StoreError::Damaged {
                    tree: MANIFESTS,
                    reason: e.to_string(),
                }
            })?);
        }
        Ok(all)
    }

    /// The manifest for `id`, which names a checkpoint or a file of a held checkpoint.
    pub fn manifest_for(&self, id: &Id) -> Result<Option<SignedManifest>, StoreError> {
        if let Some(manifest) = self.manifest(id)? {
            return Ok(Some(manifest));
        }
        match self.files.get(id.as_bytes())? {
            Some(checkpoint) => self.manifest(&id_key(&checkpoint, FILES)?),
            None => Ok(None),
        }
    }

    /// Where the verified bytes of chunk `id` lie, if this node holds them.
    pub fn chunk_location(&self, id: &Id) -> Result<Option<ChunkLocation>, StoreError> {
        match self.chunks.get(id.as_bytes())? {
            Some(bytes) => ChunkLocation::decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Records where verified, synced chunks lie, in one atomic batch.
    pub fn put_chunk_locations(&self, entries: &[(Id, ChunkLocation)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (id, location) in entries {
            batch.insert(id.as_bytes(), location.encode());
        }
        self.chunks.apply_batch(batch)?;
        for (id, _) in entries {
            let _ = self.added.send(*id);
        }
        Ok(())
    }

    /// Records that held chunks now lie elsewhere (a fetched file renamed from its staging
    /// path to its final path), in one atomic batch. Unlike [`Store::put_chunk_locations`]
    /// this tells no one: the chunks were held before.
    pub fn move_chunk_locations(&self, entries: &[(Id, ChunkLocation)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (id, location) in entries {
            batch.insert(id.as_bytes(), location.encode());
        }
        self.chunks.apply_batch(batch)?;
        Ok(())
    }

    /// Ids of chunks as they become held, for telling peers that wait on them.
    pub fn subscribe_added(&self) -> tokio::sync::broadcast::Receiver<Id> {
        self.added.subscribe()
    }

    /// Whether this node holds verified bytes of chunk `id`.
    pub fn has_chunk(&self, id: &Id) -> Result<bool, StoreError> {
        Ok(self.chunks.contains_key(id.as_bytes())?)
    }

    /// Forgets a chunk location that turned out to be bad.
    pub fn remove_chunk_location(&self, id: &Id) -> Result<(), StoreError> {
        self.chunks.remove(id.as_bytes())?;
        Ok(())
    }

    /// Records that this node holds (part of) checkpoint `id`.
    pub fn put_held(&self, id: &Id, held: &HeldCheckpoint) -> Result<(), StoreError> {
        self.held.insert(id.as_bytes(), held.encode())?;
        Ok(())
    }

    /// What this node holds of checkpoint `id`.
    pub fn held(&self, id: &Id) -> Result<Option<HeldCheckpoint>, StoreError> {
        match self.held.get(id.as_bytes())? {
            Some(bytes) => HeldCheckpoint::decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every checkpoint this node holds, complete or not.
    pub fn all_held(&self) -> Result<Vec<(Id, HeldCheckpoint)>, StoreError> {
        let mut all = Vec::new();
        for entry in self.held.iter() {
            let (key, value) = entry?;
            all.push((id_key(&key, HELD)?, HeldCheckpoint::decode(&value)?));
        }
        Ok(all)
    }

    /// Records that file `file` is listed by checkpoint `checkpoint`, held complete.
    pub fn put_file(&self, file: &Id, checkpoint: &Id) -> Result<(), StoreError> {
        self.files.insert(file.as_bytes(), checkpoint.as_bytes())?;
        Ok(())
    }

    /// The stored name record under DHT key `key`.
    pub fn name_record(&self, key: &[u8]) -> Result<Option<SignedNameRecord>, StoreError> {
        match self.names.get(key)? {
            Some(bytes) => SignedNameRecord::from_bytes(bytes.to_vec())
                .map(Some)
                .map_err(|e| StoreError::Damaged {
                    tree: NAMES,
                    reason: e.to_string(),
                }),
            None => Ok(None),
        }
    }

    /// Stores a verified name record under its DHT key.
    pub fn put_name_record(&self, record: &SignedNameRecord) -> Result<(), StoreError> {
        self.names.insert(record.body().dht_key(), record.bytes())?;
        Ok(())
    }

    /// Every stored name record signed with `publisher`.
    pub fn name_records_of(
        &self,
        publisher: &[u8; 32],
    ) -> Result<Vec<SignedNameRecord>, StoreError> {
        let mut all = Vec::new();
        for entry in self.names.iter() {
            let (_, bytes) = entry?;
            let record =
                SignedNameRecord::from_bytes(bytes.to_vec()).map_err(|e| StoreError::Damaged {
                    tree: NAMES,
                    reason: e.to_string(),
                })?;
            if record.body().publisher == *publisher {
                all.push(record);
            }
        }
        Ok(all)
    }

    /// Records who may read the chunks of `manifest`: for a restricted checkpoint, its
    /// readers are added to each chunk's list; a public checkpoint's chunks are readable by
    /// anyone, so their lists are removed.
    pub fn record_access(&self, manifest: &SignedManifest) -> Result<(), StoreError> {
        let readers = manifest
            .manifest()
            .readers()
            .map_err(|e| StoreError::Damaged {
                tree: MANIFESTS,
                reason: e.to_string(),
            })?;
        if readers.is_none() && self.restricted.is_empty() {
            // Nothing is restricted here, so a public checkpoint has nothing to clear.
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for file in &manifest.manifest().files {
            for chunk in &file.chunks {
                match &readers {
                    None => batch.remove(chunk.id.as_bytes()),
                    Some(readers) => {
                        let mut all = self.chunk_readers(&chunk.id)?.unwrap_or_default();
                        for reader in readers {
                            if !all.contains(reader) {
                                all.push(*reader);
                            }
                        }
                        batch.insert(
                            chunk.id.as_bytes(),
                            postcard::to_stdvec(&all).unwrap_or_default(),
                        );
                    }
                }
            }
        }
        self.restricted.apply_batch(batch)?;
        Ok(())
    }

    /// The labs allowed to read chunk `id`, or `None` when anyone may.
    pub fn chunk_readers(&self, id: &Id) -> Result<Option<Vec<[u8; 32]>>, StoreError> {
        match self.restricted.get(id.as_bytes())? {
            Some(bytes) => {
                postcard::from_bytes(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Damaged {
                        tree: RESTRICTED,
                        reason: e.to_string(),
                    })
            }
            None => Ok(None),
        }
    }

    /// Keeps a verified signed statement (retraction, key rotation) under its DHT key.
    pub fn put_statement(&self, key: &[u8], bytes: &[u8]) -> Result<(), StoreError> {
        self.statements.insert(key, bytes)?;
        Ok(())
    }

    /// The statement kept under DHT key `key` (verified by the caller when read).
    pub fn statement(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.statements.get(key)?.map(|bytes| bytes.to_vec()))
    }

    /// Every kept statement, with its DHT key.
    pub fn statements(&self) -> Result<Vec<KeyedStatement>, StoreError> {
        let mut all = Vec::new();
        for entry in self.statements.iter() {
            let (key, bytes) = entry?;
            all.push((key.to_vec(), bytes.to_vec()));
        }
        Ok(all)
    }

    /// Every file held complete, with the checkpoint that lists it.
    pub fn complete_files(&self) -> Result<Vec<(Id, Id)>, StoreError> {
        let mut all = Vec::new();
        for entry in self.files.iter() {
            let (file, checkpoint) = entry?;
            all.push((id_key(&file, FILES)?, id_key(&checkpoint, FILES)?));
        }
        Ok(all)
    }

    /// How many chunks of `manifest` this node holds verified bytes of.
    pub fn chunks_held(&self, manifest: &SignedManifest) -> Result<usize, StoreError> {
        let mut held = 0;
        for file in &manifest.manifest().files {
            for chunk in &file.chunks {
                if self.has_chunk(&chunk.id)? {
                    held += 1;
                }
            }
        }
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens the store again in this process. sled releases its file lock from a
    /// background thread shortly after the last handle is dropped, and offers no event
    /// for it, so this retries for a bounded time.
    fn reopen(dir: &Path) -> Store {
        for _ in 0..200 {
            match Store::open(dir) {
                Err(StoreError::Locked(_)) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                other => return other.expect("reopen"),
            }
        }
        panic!("the store lock was never released");
    }

    #[test]
    fn chunk_locations_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = Id::of(b"chunk");
        let location = ChunkLocation {
            path: "/data/w.safetensors".into(),
            offset: 4096,
            len: 10,
        };
        {
            let store = Store::open(dir.path()).expect("open");
            store
                .put_chunk_locations(&[(id, location.clone())])
                .expect("put");
            store.flush().expect("flush");
        }
        let store = reopen(dir.path());
        assert_eq!(store.chunk_location(&id).expect("get"), Some(location));
        store.remove_chunk_location(&id).expect("remove");
        assert_eq!(store.chunk_location(&id).expect("get"), None);
    }
}
