//! Writing a bundle from this node's store: the checkpoints' signed manifests, the records
//! needed to check them, and every chunk (less those of the checkpoints named in
//! `exclude_held_by`), streamed from where the store keeps them, each checked against its
//! id as it is read. Everything is gathered and checked before the first byte is written,
//! and the bundle is written beside its final path and renamed into place only once
//! complete and synced, so a failed export leaves nothing behind.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ostrom_protocol::name_record::SignedNameRecord;
use ostrom_protocol::retraction::retraction_key;
use ostrom_protocol::{Id, SignedManifest};

use super::format::{self, HashingWriter, PublisherEntry, Record, Toc};
use super::BundleError;
use crate::store::{read_chunk, ChunkLocation, Store};

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The checkpoints.
    pub ids: Vec<Id>,
    /// The bundle file to write; it must not exist.
    pub out: PathBuf,
    /// Checkpoints whose chunks are left out (the importing node must hold them).
    pub exclude_held_by: Vec<Id>,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportOutcome {
    /// The bundle file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The checkpoints in it.
    pub checkpoints: Vec<Id>,
    /// Chunks in it.
    pub chunks: u64,
    /// Bytes of those chunks.
    pub chunk_bytes: u64,
    /// Chunks left out because an excluded checkpoint lists them.
    pub chunks_excluded: u64,
    /// Signed records in it.
    pub records: u32,
    /// How long it took.
    pub elapsed: Duration,
}

/// Everything a bundle will hold, gathered before anything is written.
struct Contents {
    toc: Toc,
    manifests: Vec<SignedManifest>,
    records: Vec<Record>,
    chunks: Vec<(Id, ChunkLocation)>,
    excluded: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The rotations and revocations kept here that start from `keys` or from the keys they
/// lead to, and those keys.
fn key_statements(store: &Store, keys: &mut Vec<[u8; 32]>) -> Result<Vec<Record>, BundleError> {
    let kept: Vec<Record> = store
        .statements()?
        .into_iter()
        .filter_map(|(_, bytes)| Record::from_bytes(bytes).ok())
        .filter(|r| matches!(r, Record::Rotation(_) | Record::Revocation(_)))
        .collect();
    let mut taken = vec![false; kept.len()];
    loop {
        let mut grew = false;
        for (record, taken) in kept.iter().zip(taken.iter_mut()) {
            let (from, to) = match record {
                Record::Rotation(r) => (r.body().old_key, Some(r.body().new_key)),
                Record::Revocation(r) => (r.body().revoked_key, r.body().successor),
                _ => continue,
            };
            if *taken || !keys.contains(&from) {
                continue;
            }
            *taken = true;
            grew = true;
            if let Some(to) = to.filter(|to| !keys.contains(to)) {
                keys.push(to);
            }
        }
        if !grew {
            break;
        }
    }
    Ok(kept
        .into_iter()
        .zip(taken)
        .filter_map(|(r, taken)| taken.then_some(r))
        .collect())
}

fn gather(
    store: &Store,
    request: &ExportRequest,
    alias_of: &dyn Fn(&[u8; 32]) -> Option<String>,
) -> Result<Contents, BundleError> {
    let mut ids: Vec<Id> = Vec::new();
    for id in &request.ids {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    let manifests = ids
        .iter()
        .map(|id| {
            store
                .manifest(id)?
                .ok_or(BundleError::UnknownCheckpoint(*id))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut excluded_ids: HashSet<Id> = HashSet::new();
    for parent in &request.exclude_held_by {
        let signed = store
            .manifest(parent)?
            .ok_or(BundleError::UnknownCheckpoint(*parent))?;
        for file in &signed.manifest().files {
            excluded_ids.extend(file.chunks.iter().map(|c| c.id));
        }
    }
    let mut seen: HashSet<Id> = HashSet::new();
    let mut chunks = Vec::new();
    let mut chunk_bytes = 0u64;
    let mut excluded = 0u64;
    let mut missing: HashMap<Id, usize> = HashMap::new();
    for signed in &manifests {
        for file in &signed.manifest().files {
            for chunk in &file.chunks {
                if !seen.insert(chunk.id) {
                    continue;
                }
                if excluded_ids.contains(&chunk.id) {
                    excluded += 1;
                    continue;
                }
                match store.chunk_location(&chunk.id)? {
                    Some(location) if location.len == chunk.len => {
                        chunk_bytes += u64::from(chunk.len);
                        chunks.push((chunk.id, location));
                    }
                    _ => *missing.entry(signed.id()).or_default() += 1,
                }
            }
        }
    }
    if let Some((id, count)) = missing.into_iter().next() {
        return Err(BundleError::Incomplete { id, missing: count });
    }
    let mut keys: Vec<[u8; 32]> = Vec::new();
    for signed in &manifests {
        if !keys.contains(&signed.manifest().publisher) {
            keys.push(signed.manifest().publisher);
        }
    }
    let mut records = key_statements(store, &mut keys)?;
    for signed in &manifests {
        let key = retraction_key(&signed.id(), &signed.manifest().publisher);
        if let Some(bytes) = store.statement(&key)? {
            if let Ok(record) = Record::from_bytes(bytes) {
                records.push(record);
            }
        }
    }
    let names: Vec<SignedNameRecord> = keys
        .iter()
        .map(|key| store.name_records_of(key))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .filter(|r| {
            let body = r.body();
            ids.contains(&body.latest) || body.tags.values().any(|id| ids.contains(id))
        })
        .collect();
    records.extend(names.into_iter().map(Record::Name));
    records.truncate(format::MAX_RECORDS as usize);
    let toc = Toc {
        created_ms: now_ms(),
        checkpoints: ids,
        manifest_bytes: manifests.iter().map(|m| m.bytes().len() as u64).sum(),
        records: records.len() as u32,
        record_bytes: records.iter().map(|r| r.bytes().len() as u64).sum(),
        chunks: chunks.len() as u64,
        chunk_bytes,
        excluded_held_by: request.exclude_held_by.clone(),
        publishers: keys
            .iter()
            .map(|key| PublisherEntry {
                key: *key,
                alias: alias_of(key),
            })
            .collect(),
    };
    Ok(Contents {
        toc,
        manifests,
        records,
        chunks,
        excluded,
    })
}

/// Where the bundle is written until it is complete: beside `out`, hidden.
fn partial_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.ostrom-partial"))
}

fn write_all(contents: &Contents, file: File) -> Result<(File, u64), BundleError> {
    let write = |e| BundleError::Write(e);
    let mut out = HashingWriter::new(file);
    let toc = format::encode_toc(&contents.toc)?;
    out.write(&format::preamble(toc.len() as u32))
        .map_err(write)?;
    out.write(&toc).map_err(write)?;
    out.write_check().map_err(write)?;
    for manifest in &contents.manifests {
        out.write(&(manifest.bytes().len() as u32).to_le_bytes())
            .map_err(write)?;
        out.write(manifest.bytes()).map_err(write)?;
    }
    for record in &contents.records {
        out.write(&(record.bytes().len() as u32).to_le_bytes())
            .map_err(write)?;
        out.write(record.bytes()).map_err(write)?;
    }
    for (id, location) in &contents.chunks {
        let bytes = read_chunk(id, location).map_err(|e| BundleError::ChunkUnreadable {
            id: *id,
            reason: e.to_string(),
        })?;
        out.write(id.as_bytes()).map_err(write)?;
        out.write(&location.len.to_le_bytes()).map_err(write)?;
        out.write(&bytes).map_err(write)?;
    }
    out.write_check().map_err(write)?;
    let bytes = out.position;
    let file = out.finish().map_err(write)?;
    Ok((file, bytes))
}

/// Writes the bundle `request` asks for. `alias_of` names the keys this node trusts
/// (written for people; an importing node never trusts a key for it).
pub fn export(
    store: &Store,
    request: &ExportRequest,
    alias_of: &dyn Fn(&[u8; 32]) -> Option<String>,
) -> Result<ExportOutcome, BundleError> {
    let started = Instant::now();
    if request.out.symlink_metadata().is_ok() {
        return Err(BundleError::Exists(request.out.clone()));
    }
    let contents = gather(store, request, alias_of)?;
    let partial = partial_path(&request.out);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .map_err(|source| BundleError::Create {
            path: partial.clone(),
            source,
        })?;
    let written = write_all(&contents, file).and_then(|(file, bytes)| {
        file.sync_all().map_err(BundleError::Write)?;
        if request.out.symlink_metadata().is_ok() {
            return Err(BundleError::Exists(request.out.clone()));
        }
        std::fs::rename(&partial, &request.out).map_err(BundleError::Write)?;
        Ok(bytes)
    });
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    Ok(ExportOutcome {
        path: request.out.clone(),
        bytes,
        checkpoints: contents.toc.checkpoints.clone(),
        chunks: contents.toc.chunks,
        chunk_bytes: contents.toc.chunk_bytes,
        chunks_excluded: contents.excluded,
        records: contents.toc.records,
        elapsed: started.elapsed(),
    })
}
