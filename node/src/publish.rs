//! Publishing: chunk and hash a file or directory, sign its manifest, record in the store
//! that this node holds every chunk where it already lies on disk, and make the next name
//! record of the model.
//!
//! Nothing is copied: the published files are served in place. Announcing the checkpoint in
//! the DHT is the network's job and happens after this returns. Which files are read, and
//! which symbolic links are followed, is [`sources`]' job.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use ostrom_protocol::chunking::{chunk_file_reporting, ChunkError};
use ostrom_protocol::manifest::{ManifestError, MANIFEST_VERSION};
use ostrom_protocol::name_record::SignedNameRecord;
use ostrom_protocol::{FileEntry, Id, Manifest, SignedManifest};

use crate::store::{ChunkLocation, HeldCheckpoint, Store, StoreError};

mod sources;
#[cfg(test)]
mod tests_safetensors;
#[cfg(test)]
mod tests_symlinks;

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// A file, or a directory whose files (recursively) make the checkpoint.
    pub path: PathBuf,
    /// The model name.
    pub name: String,
    /// An optional tag.
    pub tag: Option<String>,
    /// The checkpoint this one descends from.
    pub parent: Option<Id>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
    /// Follow symbolic links whose targets lie outside the published directory (by default
    /// such a link is refused, so that a link cannot publish a file from elsewhere).
    pub follow_symlinks: bool,
    /// Move `tag` even when it already names another checkpoint (refused otherwise).
    pub force_tag: bool,
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The path could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A path is not valid UTF-8, which manifests require.
    #[error("{0} is not valid UTF-8; manifest paths must be")]
    NonUtf8Path(String),
    /// A symbolic link points outside the published directory.
    #[error("{link} is a symbolic link to {target} ({resolved}), outside the published directory; refusing to publish it (--follow-symlinks publishes it anyway)")]
    LinkOutside {
        /// The link.
        link: String,
        /// Its target as written in the link.
        target: String,
        /// The target fully resolved.
        resolved: String,
    },
    /// A symbolic link points at nothing.
    #[error("{link} is a dangling symbolic link: its target {target} does not exist")]
    DanglingLink {
        /// The link.
        link: String,
        /// Its target as written in the link.
        target: String,
    },
    /// Symbolic links that loop.
    #[error("{link} is a symbolic link to {target} in a loop: {detail}")]
    LinkLoop {
        /// The link.
        link: String,
        /// Its target.
        target: String,
        /// What loops.
        detail: String,
    },
    /// The directory holds no files.
    #[error("{0} holds no files to publish")]
    Empty(String),
    /// A file could not be chunked.
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    /// The manifest breaks a rule.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The name record could not be made.
    #[error(transparent)]
    Name(#[from] crate::names::NameError),
}

/// How far the hashing of a publish has come.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishProgress {
    /// Bytes of all the files.
    pub bytes_total: u64,
    /// Bytes read and hashed so far.
    pub bytes_done: u64,
    /// The path (in the checkpoint) of the file being hashed.
    pub file: String,
}

/// What a publish made.
#[derive(Debug, Clone)]
pub struct Published {
    /// The signed manifest; its id is the checkpoint id.
    pub manifest: SignedManifest,
    /// The model's new name record, pointing at it.
    pub name_record: SignedNameRecord,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Chunks, hashes and signs the checkpoint at `request.path`, records it in `store` as
/// held and complete, and makes the model's next name record; symbolic links out of the
/// published directory are refused unless `request.follow_symlinks`, and so is a tag that
/// already names another checkpoint unless `request.force_tag`.
pub fn publish(
    store: &Store,
    key: &SigningKey,
    request: &PublishRequest,
) -> Result<Published, PublishError> {
    publish_reporting(store, key, request, &mut |_| {})
}

/// [`publish`], calling `progress` as each chunk is hashed (hashing a large checkpoint
/// takes a while).
pub fn publish_reporting(
    store: &Store,
    key: &SigningKey,
    request: &PublishRequest,
    progress: &mut dyn FnMut(&PublishProgress),
) -> Result<Published, PublishError> {
    crate::names::check_tag(
        store,
        &key.verifying_key().to_bytes(),
        &request.name,
        request.tag.as_deref(),
        request.force_tag,
    )?;
    let (root, files) = sources::sources(&request.path, request.follow_symlinks)?;
    let mut entries = Vec::with_capacity(files.len());
    let mut locations = Vec::new();
    let mut report = PublishProgress {
        bytes_total: files
            .iter()
            .filter_map(|f| std::fs::metadata(&f.absolute).ok())
            .map(|m| m.len())
            .sum(),
        ..PublishProgress::default()
    };
    for file in &files {
        report.file.clone_from(&file.relative);
        progress(&report);
        let chunked = chunk_file_reporting(&file.absolute, &file.relative, &mut |n| {
            report.bytes_done += n;
            progress(&report);
        })?;
        let entry = FileEntry {
            path: file.relative.clone(),
            size: chunked.size,
            id: chunked.id,
            chunks: chunked.chunks,
            tensors: chunked.tensors,
        };
        let path = file.absolute.display().to_string();
        for (offset, chunk) in entry.chunk_offsets() {
            locations.push((
                chunk.id,
                ChunkLocation {
                    path: path.clone(),
                    offset,
                    len: chunk.len,
                },
            ));
        }
        entries.push(entry);
    }
    let manifest = Manifest {
        publisher: key.verifying_key().to_bytes(),
        name: request.name.clone(),
        tag: request.tag.clone(),
        parent: request.parent,
        created_ms: now_ms(),
        metadata: request.metadata.clone(),
        files: entries,
    };
    let signed = SignedManifest::sign(manifest, key)?;
    debug_assert_eq!(MANIFEST_VERSION, 1);
    store.put_chunk_locations(&locations)?;
    store.put_manifest(&signed)?;
    store.record_access(&signed)?;
    for file in &signed.manifest().files {
        store.put_file(&file.id, &signed.id())?;
    }
    store.put_held(
        &signed.id(),
        &HeldCheckpoint {
            root: root.display().to_string(),
            complete: true,
            published: true,
        },
    )?;
    let name_record = crate::names::next_record(store, key, &signed)?;
    store.flush()?;
    Ok(Published {
        manifest: signed,
        name_record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::read_chunk;

    #[test]
    fn publishing_a_directory_records_every_chunk_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ckpt = dir.path().join("ckpt");
        std::fs::create_dir_all(ckpt.join("sub")).expect("mkdir");
        std::fs::write(ckpt.join("config.json"), b"{\"layers\": 2}").expect("write");
        std::fs::write(ckpt.join("sub/blob.bin"), vec![7u8; 3_000_000]).expect("write");
        std::fs::write(ckpt.join("empty"), b"").expect("write");
        let store = Store::open(&dir.path().join("store")).expect("store");
        let key = SigningKey::from_bytes(&[5; 32]);
        let request = PublishRequest {
            path: ckpt.clone(),
            name: "tiny".into(),
            tag: Some("v1".into()),
            parent: None,
            metadata: BTreeMap::new(),
            follow_symlinks: false,
            force_tag: false,
        };
        let mut reports = Vec::new();
        let signed = publish_reporting(&store, &key, &request, &mut |p| reports.push(p.clone()))
            .expect("publish")
            .manifest;
        let last = reports.last().expect("progress reported");
        assert_eq!(last.bytes_total, 3_000_000 + 13);
        assert_eq!(last.bytes_done, last.bytes_total);
        assert_eq!(last.file, "sub/blob.bin");
        assert!(reports
            .windows(2)
            .all(|w| w[0].bytes_done <= w[1].bytes_done));
        let paths: Vec<&str> = signed
            .manifest()
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(paths, ["config.json", "empty", "sub/blob.bin"]);
        assert_eq!(
            store.manifest(&signed.id()).expect("get"),
            Some(signed.clone())
        );
        assert_eq!(
            store.chunks_held(&signed).expect("count"),
            signed.manifest().chunk_count()
        );
        let blob = &signed.manifest().files[2];
        assert_eq!(blob.id, Id::of(&vec![7u8; 3_000_000]));
        for chunk in &blob.chunks {
            let location = store.chunk_location(&chunk.id).expect("get").expect("held");
            assert_eq!(
                read_chunk(&chunk.id, &location).expect("read").len(),
                chunk.len as usize
            );
        }
        let by_file = store.manifest_for(&blob.id).expect("get").expect("found");
        assert_eq!(by_file.id(), signed.id());
    }

    #[test]
    fn unreadable_paths_and_empty_dirs_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("store")).expect("store");
        let key = SigningKey::from_bytes(&[5; 32]);
        let mut request = PublishRequest {
            path: dir.path().join("missing"),
            name: "x".into(),
            tag: None,
            parent: None,
            metadata: BTreeMap::new(),
            follow_symlinks: false,
            force_tag: false,
        };
        let err = publish(&store, &key, &request).expect_err("missing");
        assert!(err.to_string().contains("cannot read"), "{err}");
        std::fs::create_dir(dir.path().join("empty")).expect("mkdir");
        request.path = dir.path().join("empty");
        let err = publish(&store, &key, &request).expect_err("empty");
        assert!(err.to_string().contains("holds no files"), "{err}");
    }
}
