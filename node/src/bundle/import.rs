//! Importing a bundle, with no network, so that nothing is imported unless everything
//! checks:
//!
//! 1. The head of the bundle is read and checked ([`super::reader`]): TOC, manifests
//!    against their listed ids and signatures, records' signatures.
//! 2. Each manifest must be signed by a trusted key, by this node's trust store and the
//!    rotations and revocations it keeps or the bundle carries (unless
//!    `allow_untrusted`), and not be retracted (unless `allow_retracted`). The chunks the
//!    bundle leaves out must be held here. Output paths are checked as a fetch checks them.
//! 3. The chunks are streamed into staging files under the output directory, each checked
//!    against its id before it is written; the chunks left out are copied from this
//!    node's store; the trailer is checked; every file is checked against its id.
//! 4. Only then are the files renamed into place and the store told: manifests, chunk
//!    locations, checkpoints held, records.
//!
//! A failure in steps 1–3 removes what was staged and leaves the store untouched. Staging
//! rather than a first pass that only verifies reads a bundle of hundreds of GB once, not
//! twice; a bundle that fails its signatures or trust is refused before any chunk is read.
//! Each checkpoint's files land in `OUT/<checkpoint id>/`, and the node serves them from
//! there.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ostrom_protocol::chain::{is_trusted, KeyHistory};
use ostrom_protocol::retraction::{retraction_key, SignedRetraction};
use ostrom_protocol::revocation::SignedRevocation;
use ostrom_protocol::rotation::SignedKeyRotation;
use ostrom_protocol::trust::format_public_key;
use ostrom_protocol::{FileEntry, Id, SignedManifest};

use super::format::Record;
use super::reader::{self, BundleHead};
use super::BundleError;
use crate::exchange::fetch::output::{self, Existing};
use crate::home::Home;
use crate::store::{read_chunk, ChunkLocation, HeldCheckpoint, Store};
use crate::trust::TrustStore;

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The bundle file.
    pub bundle: PathBuf,
    /// The directory each checkpoint's directory (named by its id) is made in.
    pub out: PathBuf,
    /// Import manifests signed by publishers this node does not trust.
    pub allow_untrusted: bool,
    /// Import checkpoints their publisher retracted.
    pub allow_retracted: bool,
    /// Replace files already at the output paths whose bytes differ.
    pub force: bool,
}

/// A checkpoint an import added.
#[derive(Debug, Clone)]
pub struct ImportedCheckpoint {
    /// The checkpoint's signed manifest.
    pub manifest: SignedManifest,
    /// Where its files now lie.
    pub root: PathBuf,
    /// The publisher's alias here (`self` for this node's key); `None` when untrusted.
    pub publisher_alias: Option<String>,
    /// The publisher's reason, when it retracted the checkpoint.
    pub retracted: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportOutcome {
    /// The bundle.
    pub bundle: PathBuf,
    /// The checkpoints now held.
    pub checkpoints: Vec<ImportedCheckpoint>,
    /// Chunks read from the bundle.
    pub chunks_from_bundle: u64,
    /// Their bytes.
    pub bytes_from_bundle: u64,
    /// Bytes copied from chunks this node held (those the bundle left out).
    pub bytes_from_store: u64,
    /// Signed records kept (new, or newer than those held).
    pub records: Vec<Record>,
    /// How long it took.
    pub elapsed: Duration,
}

/// A file being written.
struct Slot {
    root: PathBuf,
    entry: FileEntry,
    staging: PathBuf,
    file: File,
    replace: bool,
}

/// What an import created, removed again when it fails.
#[derive(Default)]
struct Staged {
    files: Vec<PathBuf>,
    roots: Vec<(PathBuf, bool, Vec<FileEntry>)>,
    out_created: Option<PathBuf>,
}

impl Staged {
    fn discard(&self) {
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        for (root, existed, entries) in &self.roots {
            output::tidy(root, &entries.iter().collect::<Vec<_>>());
            if !existed {
                let _ = std::fs::remove_dir(root);
            }
        }
        if let Some(out) = &self.out_created {
            let _ = std::fs::remove_dir(out);
        }
    }
}

/// Every rotation and revocation this node keeps, and those of the bundle.
fn key_history(store: &Store, records: &[Record]) -> Result<KeyHistory, BundleError> {
    let mut history = KeyHistory::default();
    for (_, bytes) in store.statements()? {
        if let Ok(rotation) = SignedKeyRotation::from_bytes(bytes.clone()) {
            history.rotations.push(rotation);
        } else if let Ok(revocation) = SignedRevocation::from_bytes(bytes) {
            history.revocations.push(revocation);
        }
    }
    for record in records {
        match record {
            Record::Rotation(r) => history.rotations.push(r.clone()),
            Record::Revocation(r) => history.revocations.push(r.clone()),
            _ => {}
        }
    }
    Ok(history)
}

/// The alias under which this node trusts the signer of `signed`, as a fetch decides it
/// (SPEC.md §9 step 3), from what is known here and in the bundle.
fn trusted_alias(
    trust: &TrustStore,
    own: &[u8; 32],
    history: &KeyHistory,
    signed: &SignedManifest,
) -> Option<String> {
    let manifest = signed.manifest();
    if manifest.publisher == *own {
        return Some("self".to_owned());
    }
    if let Some(alias) = trust.alias_of(&manifest.publisher) {
        return Some(alias.to_owned());
    }
    trust
        .entries()
        .find(|(_, root)| is_trusted(**root, history, &manifest.publisher, manifest.created_ms))
        .map(|(alias, _)| alias.to_owned())
}

/// The publisher's retraction of `signed`, from the bundle or this node's store.
fn retraction(
    store: &Store,
    records: &[Record],
    signed: &SignedManifest,
) -> Result<Option<String>, BundleError> {
    let from_bundle = records.iter().find_map(|r| match r {
        Record::Retraction(r) if r.body().applies_to(signed) => Some(r.body().reason.clone()),
        _ => None,
    });
    if from_bundle.is_some() {
        return Ok(from_bundle);
    }
    let key = retraction_key(&signed.id(), &signed.manifest().publisher);
    Ok(store
        .statement(&key)?
        .and_then(|bytes| SignedRetraction::from_bytes(bytes).ok())
        .filter(|r| r.body().applies_to(signed))
        .map(|r| r.body().reason.clone()))
}

/// What step 2 found of a manifest: the publisher's alias here, and a retraction's reason.
type Verdict = (Option<String>, Option<String>);

/// Step 2: trust and retractions; every refusal before anything is written.
fn admit(
    store: &Store,
    home: &Home,
    head: &BundleHead,
    request: &ImportRequest,
) -> Result<Vec<Verdict>, BundleError> {
    let own = home.publisher_key()?.verifying_key().to_bytes();
    let trust = TrustStore::load(home)?;
    let history = key_history(store, &head.records)?;
    let mut verdicts = Vec::new();
    for signed in &head.manifests {
        let alias = trusted_alias(&trust, &own, &history, signed);
        let publisher = signed.manifest().publisher;
        if alias.is_none() && !request.allow_untrusted {
            return Err(BundleError::Untrusted {
                id: signed.id(),
                publisher: format_public_key(&publisher),
                alias: head.toc.alias_of(&publisher).map(str::to_owned),
            });
        }
        let retracted = retraction(store, &head.records, signed)?;
        if let (Some(reason), false) = (&retracted, request.allow_retracted) {
            return Err(BundleError::Retracted {
                id: signed.id(),
                reason: reason.clone(),
            });
        }
        verdicts.push((alias, retracted));
    }
    Ok(verdicts)
}

/// The chunks the bundle must hold (id → length), and those it left out, which this node
/// must hold.
type ChunkSets = (HashMap<Id, u32>, HashMap<Id, u32>);

fn chunk_sets(store: &Store, head: &BundleHead) -> Result<ChunkSets, BundleError> {
    let mut excluded: HashSet<Id> = HashSet::new();
    let mut unknown = Vec::new();
    for parent in &head.toc.excluded_held_by {
        match store.manifest(parent)? {
            Some(signed) => {
                for file in &signed.manifest().files {
                    excluded.extend(file.chunks.iter().map(|c| c.id));
                }
            }
            None => unknown.push(parent.to_string()),
        }
    }
    let parents = || {
        head.toc
            .excluded_held_by
            .iter()
            .map(Id::to_string)
            .collect()
    };
    if !unknown.is_empty() {
        return Err(BundleError::MissingChunks {
            parents: unknown,
            missing: 0,
        });
    }
    let (mut bundled, mut local) = (HashMap::new(), HashMap::new());
    for signed in &head.manifests {
        for file in &signed.manifest().files {
            for chunk in &file.chunks {
                let set = if excluded.contains(&chunk.id) {
                    &mut local
                } else {
                    &mut bundled
                };
                set.insert(chunk.id, chunk.len);
            }
        }
    }
    let bytes: u64 = bundled.values().map(|&l| u64::from(l)).sum();
    if bundled.len() as u64 != head.toc.chunks || bytes != head.toc.chunk_bytes {
        return Err(BundleError::Malformed(format!(
            "the table of contents lists {} chunks of {} bytes, but its manifests need {} of {bytes}",
            head.toc.chunks,
            head.toc.chunk_bytes,
            bundled.len()
        )));
    }
    let mut missing = 0;
    for id in local.keys() {
        if !store.has_chunk(id)? {
            missing += 1;
        }
    }
    if missing > 0 {
        return Err(BundleError::MissingChunks {
            parents: parents(),
            missing,
        });
    }
    Ok((bundled, local))
}

/// The output directory (canonical), the files to write, and the chunk locations of the
/// files already in place.
type Staging = (PathBuf, Vec<Slot>, Vec<(Id, ChunkLocation)>);

/// Checks each output path, then creates the output directory (returned, canonical) and
/// the staging files; files already in place with the manifest's bytes are kept (their
/// locations returned).
fn stage(
    out: &Path,
    head: &BundleHead,
    force: bool,
    staged: &mut Staged,
) -> Result<Staging, BundleError> {
    let mut checked = Vec::new();
    for signed in &head.manifests {
        let root = out.join(signed.id().to_string());
        for entry in &signed.manifest().files {
            checked.push((root.clone(), entry, output::inspect(&root, entry, force)?));
        }
    }
    if !out.exists() {
        std::fs::create_dir_all(out).map_err(|source| BundleError::Create {
            path: out.to_path_buf(),
            source,
        })?;
        staged.out_created = Some(out.to_path_buf());
    }
    let out = std::fs::canonicalize(out).map_err(|source| BundleError::Create {
        path: out.to_path_buf(),
        source,
    })?;
    let checked: Vec<_> = checked
        .into_iter()
        .map(|(root, entry, existing)| {
            (
                out.join(root.file_name().unwrap_or_default()),
                entry,
                existing,
            )
        })
        .collect();
    for signed in &head.manifests {
        let root = out.join(signed.id().to_string());
        let existed = root.exists();
        if !existed {
            std::fs::create_dir(&root).map_err(|source| BundleError::Create {
                path: root.clone(),
                source,
            })?;
        }
        staged
            .roots
            .push((root, existed, signed.manifest().files.clone()));
    }
    let mut slots = Vec::new();
    let mut in_place = Vec::new();
    for (root, entry, existing) in checked {
        if let Existing::Same { .. } = existing {
            let path = output::final_path(&root, entry).display().to_string();
            in_place.extend(entry.chunk_offsets().map(|(offset, c)| {
                let location = ChunkLocation {
                    path: path.clone(),
                    offset,
                    len: c.len,
                };
                (c.id, location)
            }));
            continue;
        }
        let staging = output::staging_path(&root, entry);
        output::directories(&root, &staging, true)?;
        let file = output::open(&staging, true)?;
        staged.files.push(staging.clone());
        file.set_len(entry.size)
            .map_err(|source| BundleError::Create {
                path: staging.clone(),
                source,
            })?;
        slots.push(Slot {
            root,
            entry: entry.clone(),
            staging,
            replace: existing == Existing::Replaced,
            file,
        });
    }
    Ok((out, slots, in_place))
}

/// Where each chunk goes: (slot, offset) pairs.
fn targets(slots: &[Slot]) -> HashMap<Id, Vec<(usize, u64)>> {
    let mut targets: HashMap<Id, Vec<(usize, u64)>> = HashMap::new();
    for (index, slot) in slots.iter().enumerate() {
        for (offset, chunk) in slot.entry.chunk_offsets() {
            targets.entry(chunk.id).or_default().push((index, offset));
        }
    }
    targets
}

fn write_to(
    slots: &[Slot],
    places: Option<&Vec<(usize, u64)>>,
    bytes: &[u8],
) -> Result<(), BundleError> {
    for &(index, offset) in places.into_iter().flatten() {
        let slot = &slots[index];
        slot.file
            .write_all_at(bytes, offset)
            .map_err(|source| BundleError::Create {
                path: slot.staging.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Counts of what step 3 moved.
struct Moved {
    chunks: u64,
    bytes: u64,
    from_store: u64,
}

/// Step 3: the chunks, the trailer, every file against its id.
fn fill(
    store: &Store,
    chunks: reader::Chunks<File>,
    sets: &ChunkSets,
    slots: &[Slot],
) -> Result<Moved, BundleError> {
    let (bundled, local) = sets;
    let targets = targets(slots);
    let mut chunks = chunks;
    let mut seen: HashSet<Id> = HashSet::with_capacity(bundled.len());
    let mut buffer = Vec::new();
    let mut moved = Moved {
        chunks: 0,
        bytes: 0,
        from_store: 0,
    };
    while let Some(id) = chunks.next_chunk(&mut buffer)? {
        if bundled.get(&id) != Some(&(buffer.len() as u32)) || !seen.insert(id) {
            return Err(BundleError::Malformed(format!(
                "chunk {id} is not one its manifests need, or comes twice"
            )));
        }
        write_to(slots, targets.get(&id), &buffer)?;
        moved.chunks += 1;
        moved.bytes += buffer.len() as u64;
    }
    chunks.finish()?;
    for id in local.keys() {
        let Some(places) = targets.get(id) else {
            continue;
        };
        let bytes = store
            .chunk_location(id)?
            .ok_or_else(|| BundleError::ChunkUnreadable {
                id: *id,
                reason: "no longer held".to_owned(),
            })
            .and_then(|location| {
                read_chunk(id, &location).map_err(|e| BundleError::ChunkUnreadable {
                    id: *id,
                    reason: e.to_string(),
                })
            })?;
        write_to(slots, Some(places), &bytes)?;
        moved.from_store += bytes.len() as u64 * places.len() as u64;
    }
    for slot in slots {
        let read = |source| BundleError::Create {
            path: slot.staging.clone(),
            source,
        };
        slot.file.sync_data().map_err(read)?;
        let mut hasher = blake3::Hasher::new();
        let file = output::open(&slot.staging, false)?;
        hasher
            .update_reader(BufReader::with_capacity(1 << 20, file))
            .map_err(read)?;
        if Id::from(hasher.finalize()) != slot.entry.id {
            return Err(BundleError::FileMismatch {
                path: output::final_path(&slot.root, &slot.entry),
                id: slot.entry.id,
            });
        }
    }
    Ok(moved)
}

/// Step 4: files into place, then the store.
fn commit(
    store: &Store,
    head: &BundleHead,
    slots: Vec<Slot>,
    mut locations: Vec<(Id, ChunkLocation)>,
) -> Result<Vec<Record>, BundleError> {
    for slot in &slots {
        let path = output::publish(&slot.root, &slot.entry, slot.replace)?;
        let path = path.display().to_string();
        locations.extend(slot.entry.chunk_offsets().map(|(offset, c)| {
            let location = ChunkLocation {
                path: path.clone(),
                offset,
                len: c.len,
            };
            (c.id, location)
        }));
    }
    for signed in &head.manifests {
        store.put_manifest(signed)?;
        store.record_access(signed)?;
    }
    store.put_chunk_locations(&locations)?;
    let mut kept = Vec::new();
    for record in &head.records {
        let key = record.key();
        let existing = match record {
            Record::Name(_) => store.name_record(&key)?.map(|r| r.bytes().to_vec()),
            _ => store.statement(&key)?,
        };
        if crate::records::check_incoming(&key, record.bytes(), existing.as_deref()).is_err() {
            continue;
        }
        match record {
            Record::Name(name) => store.put_name_record(name)?,
            _ => store.put_statement(&key, record.bytes())?,
        }
        kept.push(record.clone());
    }
    store.flush()?;
    Ok(kept)
}

/// Imports the bundle `request` names into `store`, its files under `request.out`.
pub fn import(
    store: &Store,
    home: &Home,
    request: &ImportRequest,
) -> Result<ImportOutcome, BundleError> {
    let started = Instant::now();
    let file = File::open(&request.bundle).map_err(|source| BundleError::Open {
        path: request.bundle.clone(),
        source,
    })?;
    let (head, chunks) = reader::open(file)?;
    let verdicts = admit(store, home, &head, request)?;
    let sets = chunk_sets(store, &head)?;
    let mut staged = Staged::default();
    let filled = stage(&request.out, &head, request.force, &mut staged).and_then(
        |(out, slots, in_place)| {
            let moved = fill(store, chunks, &sets, &slots)?;
            Ok((out, slots, in_place, moved))
        },
    );
    let (out, slots, in_place, moved) = match filled {
        Ok(filled) => filled,
        Err(error) => {
            staged.discard();
            return Err(error);
        }
    };
    let records = commit(store, &head, slots, in_place)?;
    for (root, _, entries) in &staged.roots {
        output::tidy(root, &entries.iter().collect::<Vec<_>>());
    }
    let mut checkpoints = Vec::new();
    for (signed, (alias, retracted)) in head.manifests.into_iter().zip(verdicts) {
        let root = out.join(signed.id().to_string());
        store.put_held(
            &signed.id(),
            &HeldCheckpoint {
                root: root.display().to_string(),
                complete: true,
                published: false,
            },
        )?;
        for file in &signed.manifest().files {
            store.put_file(&file.id, &signed.id())?;
        }
        checkpoints.push(ImportedCheckpoint {
            manifest: signed,
            root,
            publisher_alias: alias,
            retracted,
        });
    }
    store.flush()?;
    Ok(ImportOutcome {
        bundle: request.bundle.clone(),
        checkpoints,
        chunks_from_bundle: moved.chunks,
        bytes_from_bundle: moved.bytes,
        bytes_from_store: moved.from_store,
        records,
        elapsed: started.elapsed(),
    })
}
