//! Chunks written but not yet recorded: synced to disk and then recorded in the store in
//! batches, so that a chunk is marked held only once its bytes are durable.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ostrom_protocol::Id;

use super::FetchError;
use crate::store::{ChunkLocation, Store};

/// Bytes written before a batch is synced and recorded.
const BATCH_BYTES: u64 = 64 << 20;
/// Longest a written chunk waits before its batch is synced and recorded.
const BATCH_AGE: Duration = Duration::from_secs(1);

/// Chunks written since the last commit.
pub(super) struct Pending {
    entries: Vec<(Id, ChunkLocation)>,
    touched: HashMap<String, Arc<File>>,
    bytes: u64,
    since: Instant,
}

/// A batch taken out of [`Pending`], ready to commit on a blocking thread.
pub(super) struct Batch {
    entries: Vec<(Id, ChunkLocation)>,
    files: Vec<(String, Arc<File>)>,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            touched: HashMap::new(),
            bytes: 0,
            since: Instant::now(),
        }
    }
}

impl Pending {
    /// Notes that chunk `id` was written at `location` of `file`.
    pub(super) fn add(&mut self, id: Id, location: ChunkLocation, file: &Arc<File>) {
        if self.entries.is_empty() {
            self.since = Instant::now();
        }
        self.bytes += u64::from(location.len);
        self.touched
            .entry(location.path.clone())
            .or_insert_with(|| file.clone());
        self.entries.push((id, location));
    }

    /// Whether enough was written, or long enough ago, to commit now.
    pub(super) fn due(&self) -> bool {
        !self.entries.is_empty() && (self.bytes >= BATCH_BYTES || self.since.elapsed() >= BATCH_AGE)
    }

    /// Takes everything pending as a batch.
    pub(super) fn take(&mut self) -> Batch {
        let batch = Batch {
            entries: std::mem::take(&mut self.entries),
            files: self.touched.drain().collect(),
        };
        self.bytes = 0;
        batch
    }
}

impl Batch {
    /// Syncs every file the batch wrote to, then records its chunks in the store.
    pub(super) fn commit(self, store: &Store) -> Result<(), FetchError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        for (path, file) in &self.files {
            file.sync_data().map_err(|source| FetchError::Io {
                path: path.clone(),
                source,
            })?;
        }
        store.put_chunk_locations(&self.entries)?;
        store.flush()?;
        Ok(())
    }
}
