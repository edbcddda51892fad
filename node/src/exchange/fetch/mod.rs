//! The fetch engine: find holders of a checkpoint or file through the DHT, get and check
//! its signed manifest, reuse every chunk this node already holds, pull the rest from all
//! holders at once, verify every block before writing it, and record each chunk as held
//! only once its bytes are synced to disk.
//!
//! - [`output`]: staging paths, links never followed, files never clobbered.
//! - [`plan`]: output files, and which chunks are already in place, can be copied from the
//!   store, or must come from the network.
//! - [`schedule`]: the network phase's decisions, as a state machine with no I/O.
//! - [`transfer`]: the network phase's I/O around the scheduler.
//! - [`durable`]: batches of written chunks, synced and then recorded in the store.
//! - [`manifest`]: finding holders and getting a manifest that verifies.
//! - [`outcome`]: the request, progress reports, the outcome and the errors of a fetch.
//! - [`subset_file`]: the files of a subset fetch (`--tensors`): finishing them, and
//!   recognising one already in place.

mod durable;
mod manifest;
mod outcome;
pub(crate) mod output;
mod plan;
mod schedule;
mod subset_file;
mod transfer;

pub use outcome::{
    FetchError, FetchKind, FetchOutcome, FetchProgress, FetchRequest, FetchedFile, SkippedFile,
    SubsetOf,
};

use std::path::PathBuf;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use ostrom_protocol::{FileEntry, Id, SignedManifest};

use super::session::SessionEvent;
use crate::home::Home;
use crate::membership;
use crate::network::NetworkHandle;
use crate::rate::RateLimit;
use crate::statements;
use crate::store::{HeldCheckpoint, Store};
use crate::subset::{plan_file, FilePlan};
use crate::trust::TrustStore;
use ostrom_protocol::rotation::is_trusted;
use ostrom_protocol::trust::format_public_key;
use plan::{FileSpec, Plan};

/// How the fetch engine behaves towards holders.
#[derive(Clone)]
pub struct FetchSettings {
    /// Block requests kept in flight per holder.
    pub requests_in_flight: usize,
    /// Streams to each holder, each on a connection of its own.
    pub streams_per_holder: usize,
    /// How long a holder may leave requests unanswered before it is dropped.
    pub peer_stall_timeout: Duration,
    /// The node's download limit.
    pub download: RateLimit,
    /// The node home, whose trust store decides whose manifests are accepted.
    pub home: Home,
    /// This node's publisher key: always trusted, and it vouches for this node.
    pub publisher: ed25519_dalek::SigningKey,
    /// Where the bytes of blocks received are counted.
    pub traffic: crate::traffic::Traffic,
    /// Whether this node announces itself as a holder of what it fetches (not when it runs
    /// only for the fetch).
    pub announce: bool,
}

/// Fetches checkpoints and files for one node.
#[derive(Clone)]
pub struct Fetcher {
    network: NetworkHandle,
    store: Store,
    settings: FetchSettings,
}

impl Fetcher {
    /// A fetch engine over `network` and `store`.
    pub fn new(network: NetworkHandle, store: Store, settings: FetchSettings) -> Self {
        Self {
            network,
            store,
            settings,
        }
    }

    /// The alias under which this node trusts the signer of `signed` (`self` for its own
    /// key), or `None` when it does not trust it. A key that a trusted key rotated to
    /// counts under the trusted key's alias, for manifests created after the rotation.
    async fn publisher_alias(&self, signed: &SignedManifest) -> Result<Option<String>, FetchError> {
        let manifest = signed.manifest();
        let publisher = &manifest.publisher;
        if *publisher == self.settings.publisher.verifying_key().to_bytes() {
            return Ok(Some("self".to_owned()));
        }
        let trust = TrustStore::load(&self.settings.home)?;
        if let Some(alias) = trust.alias_of(publisher) {
            return Ok(Some(alias.to_owned()));
        }
        for (alias, key) in trust.entries() {
            let chain = statements::rotations_from(&self.store, &self.network, *key).await;
            if is_trusted(*key, &chain, publisher, manifest.created_ms) {
                return Ok(Some(alias.to_owned()));
            }
        }
        Ok(None)
    }

    /// The verified manifest of checkpoint `id`: from the store, or asked of its holders
    /// (and then stored).
    pub async fn manifest(&self, id: Id, timeout: Duration) -> Result<SignedManifest, FetchError> {
        if let Some(signed) = self.store.manifest(&id)? {
            return Ok(signed);
        }
        let (events_tx, mut events) = tokio::sync::mpsc::channel(64);
        let deadline = Instant::now() + timeout;
        let vouches = self.vouches();
        let found = manifest::from_holders(
            &self.network,
            id,
            manifest::IdNames::Checkpoint,
            deadline,
            &events_tx,
            &mut events,
            &vouches,
        )
        .await?;
        if found.manifest.id() != id {
            return Err(FetchError::NoValidManifest {
                id,
                reasons: vec![format!("{id} names a file, not a checkpoint")],
            });
        }
        self.store.put_manifest(&found.manifest)?;
        Ok(found.manifest)
    }

    /// The lab vouches this node presents to holders.
    fn vouches(&self) -> Vec<bytes::Bytes> {
        membership::presentation(
            &self.settings.home,
            &self.settings.publisher,
            &self.network.local_peer_id(),
        )
    }

    /// The verified manifest for `id`: from the store, or asked of its holders, with the
    /// streams opened to them on the way.
    async fn locate(
        &self,
        id: Id,
        deadline: Instant,
        events_tx: &tokio::sync::mpsc::Sender<SessionEvent>,
        events: &mut tokio::sync::mpsc::Receiver<SessionEvent>,
        vouches: &[bytes::Bytes],
    ) -> Result<manifest::Found, FetchError> {
        if let Some(manifest) = self.store.manifest_for(&id)? {
            return Ok(manifest::Found {
                manifest,
                sessions: Vec::new(),
                retry_rounds: 0,
                stream_resets: 0,
            });
        }
        manifest::from_holders(
            &self.network,
            id,
            manifest::IdNames::CheckpointOrFile,
            deadline,
            events_tx,
            events,
            vouches,
        )
        .await
    }

    /// Whether the fetch may go on with `signed`: its publisher is trusted (or untrusted
    /// publishers are allowed) and it is not retracted (or retracted checkpoints are
    /// allowed). Returns the publisher's alias and the retraction's reason.
    async fn admit(
        &self,
        request: &FetchRequest,
        signed: &SignedManifest,
    ) -> Result<(Option<String>, Option<String>), FetchError> {
        let publisher_alias = self.publisher_alias(signed).await?;
        if publisher_alias.is_none() && !request.allow_untrusted {
            return Err(FetchError::Untrusted {
                id: request.id,
                publisher: format_public_key(&signed.manifest().publisher),
            });
        }
        let retracted = statements::retraction_of(&self.store, &self.network, signed)
            .await
            .map(|r| r.body().reason.clone());
        if let Some(reason) = &retracted {
            if !request.allow_retracted {
                return Err(FetchError::Retracted {
                    id: signed.id(),
                    reason: reason.clone(),
                });
            }
            tracing::warn!(id = %signed.id(), %reason, "fetching a retracted checkpoint");
        }
        Ok((publisher_alias, retracted))
    }

    /// Records the manifest; checks what is at every output path (refusing links, and
    /// files with other bytes unless forced) before creating anything; then creates the
    /// output directory and the staging files and sorts their chunks; announces this node
    /// as a (partial) holder. Returns the output directory, whether the checkpoint was
    /// complete here already, the plan, and the files a subset fetch leaves out.
    async fn prepare(
        &self,
        request: &FetchRequest,
        signed: &SignedManifest,
        kind: FetchKind,
    ) -> Result<(PathBuf, bool, Plan, Vec<SkippedFile>), FetchError> {
        let checkpoint = signed.id();
        self.store.put_manifest(signed)?;
        self.store.record_access(signed)?;
        let out = if request.name_dir {
            request.out.join(dir_name(signed, kind, request.id))
        } else {
            request.out.clone()
        };
        let entries: Vec<_> = signed
            .manifest()
            .files
            .iter()
            .filter(|f| kind == FetchKind::Checkpoint || f.id == request.id)
            .cloned()
            .collect();
        let (files, skipped) = choose_files(request, entries)?;
        let store = self.store.clone();
        let force = request.force;
        let (out, plan) = tokio::task::spawn_blocking(move || {
            let existing = plan::inspect(&out, &files, force)?;
            // Nothing is created before every path was found fit.
            let out = std::fs::create_dir_all(&out)
                .and_then(|()| std::fs::canonicalize(&out))
                .map_err(|source| FetchError::Io {
                    path: out.display().to_string(),
                    source,
                })?;
            let plan = plan::prepare(&store, &out, files, existing)?;
            Ok::<_, FetchError>((out, plan))
        })
        .await
        .map_err(|e| FetchError::Task(e.to_string()))??;
        let already_complete = matches!(self.store.held(&checkpoint)?, Some(h) if h.complete);
        if !already_complete {
            self.store.put_held(
                &checkpoint,
                &HeldCheckpoint {
                    root: out.display().to_string(),
                    complete: false,
                    published: false,
                },
            )?;
        }
        // Holding part of it already, this node serves that part: say so.
        if self.settings.announce {
            let announcer = self.network.clone();
            tokio::spawn(async move {
                if let Err(error) = announcer.announce(checkpoint).await {
                    tracing::debug!(%error, "partial holder announcement");
                }
            });
        }
        Ok((out, already_complete, plan, skipped))
    }

    /// Checks every written file against its id, renames it from its staging path to its
    /// final path, records the files and the checkpoint as held, and announces them. A
    /// subset fetch (`partial`) leaves the checkpoint recorded as held in part, and its
    /// subset files are neither recorded nor announced: no manifest lists them.
    async fn finish(
        &self,
        signed: &SignedManifest,
        kind: FetchKind,
        out: &std::path::Path,
        already_complete: bool,
        plan: Plan,
        partial: bool,
    ) -> Result<plan::Verified, FetchError> {
        let checkpoint = signed.id();
        let store = self.store.clone();
        let verified = tokio::task::spawn_blocking(move || plan::finish(&store, plan))
            .await
            .map_err(|e| FetchError::Task(e.to_string()))??;
        let whole: Vec<Id> = verified
            .files
            .iter()
            .filter(|f| f.subset.is_none())
            .map(|f| f.entry.id)
            .collect();
        for file in &whole {
            self.store.put_file(file, &checkpoint)?;
        }
        if kind == FetchKind::Checkpoint && !already_complete && !partial {
            self.store.put_held(
                &checkpoint,
                &HeldCheckpoint {
                    root: out.display().to_string(),
                    complete: true,
                    published: false,
                },
            )?;
        }
        self.store.flush()?;
        // A restricted checkpoint's file ids stay out of the DHT (see `Node::announce`).
        let mut announce: Vec<Id> = if matches!(signed.manifest().readers(), Ok(Some(_))) {
            Vec::new()
        } else {
            whole
        };
        if kind == FetchKind::Checkpoint && !partial {
            announce.push(checkpoint);
        }
        if !self.settings.announce {
            announce.clear();
        }
        for id in announce {
            if let Err(error) = self.network.announce(id).await {
                tracing::warn!(%id, %error, "cannot announce fetched data yet");
            }
        }
        Ok(verified)
    }

    /// Fetches `request.id` into `request.out`; succeeds only when every file verified.
    pub async fn fetch(&self, request: FetchRequest) -> Result<FetchOutcome, FetchError> {
        let started = Instant::now();
        let deadline = started + request.timeout;
        let (events_tx, mut events) = tokio::sync::mpsc::channel(1024);
        let vouches = self.vouches();
        let located = self
            .locate(request.id, deadline, &events_tx, &mut events, &vouches)
            .await?;
        let signed = located.manifest;
        let mut sessions = located.sessions;
        let mut stream_resets = located.stream_resets;
        let (publisher_alias, retracted) = self.admit(&request, &signed).await?;
        let checkpoint = signed.id();
        let kind = if checkpoint == request.id {
            FetchKind::Checkpoint
        } else {
            FetchKind::File
        };
        let (out, already_complete, mut plan, skipped) =
            self.prepare(&request, &signed, kind).await?;
        let partial = !skipped.is_empty() || plan.files.iter().any(|f| f.subset.is_some());
        if !plan.needed.is_empty() {
            if sessions.is_empty() {
                let holders = manifest::find_holders(&self.network, request.id, deadline).await?;
                sessions =
                    manifest::open_sessions(&self.network, &holders, &events_tx, &vouches).await;
            }
            let context = transfer::TransferContext {
                store: &self.store,
                network: &self.network,
                settings: &self.settings,
                events_tx: events_tx.clone(),
                progress: request.progress.clone(),
                vouches,
                progress_timeout: request.timeout,
            };
            let counts =
                transfer::run(request.id, &mut plan, sessions, &mut events, context).await?;
            stream_resets += counts.stream_resets;
        }
        let verified = self
            .finish(&signed, kind, &out, already_complete, plan, partial)
            .await?;
        let manifest = signed.manifest();
        Ok(FetchOutcome {
            id: request.id,
            checkpoint,
            kind,
            name: manifest.name.clone(),
            tag: manifest.tag.clone(),
            publisher: manifest.publisher,
            publisher_alias,
            retracted,
            out,
            files: verified.files.iter().map(fetched_file).collect(),
            bytes: verified
                .files
                .iter()
                .map(|f| f.subset.as_ref().map_or(f.entry.size, |s| s.size))
                .sum(),
            bytes_from_network: verified.bytes_from_network,
            bytes_from_store: verified.bytes_from_store,
            bytes_resumed: verified.bytes_resumed,
            elapsed: started.elapsed(),
            peers: {
                let mut peers: Vec<PeerId> = verified.peers.iter().copied().collect();
                peers.sort();
                peers
            },
            bytes_by_peer: verified.received_by_peer.into_iter().collect(),
            stream_resets,
            retry_rounds: located.retry_rounds,
            skipped,
        })
    }
}

/// The files a fetch writes, whole or as subsets, and those a subset fetch leaves out; a
/// subset fetch that would write nothing fails before anything is created.
fn choose_files(
    request: &FetchRequest,
    entries: Vec<FileEntry>,
) -> Result<(Vec<FileSpec>, Vec<SkippedFile>), FetchError> {
    let Some(selection) = &request.tensors else {
        let files = entries
            .into_iter()
            .map(|entry| FileSpec {
                entry,
                subset: None,
            })
            .collect();
        return Ok((files, Vec::new()));
    };
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for entry in entries {
        match plan_file(&entry, selection) {
            FilePlan::Whole => files.push(FileSpec {
                entry,
                subset: None,
            }),
            FilePlan::Subset(layout) => files.push(FileSpec {
                entry,
                subset: Some(layout),
            }),
            FilePlan::Skip(reason) => skipped.push(SkippedFile {
                path: entry.path,
                reason,
            }),
        }
    }
    let takes_tensors = files
        .iter()
        .any(|f| f.subset.is_some() || !f.entry.tensors.is_empty());
    if !takes_tensors {
        return Err(FetchError::NoMatchingTensors {
            id: request.id,
            patterns: selection.patterns().to_vec(),
        });
    }
    Ok((files, skipped))
}

/// A verified file as the outcome reports it.
fn fetched_file(file: &plan::FinishedFile) -> FetchedFile {
    let entry = &file.entry;
    match &file.subset {
        None => FetchedFile {
            path: entry.path.clone(),
            size: entry.size,
            id: entry.id,
            subset: None,
        },
        Some(written) => FetchedFile {
            path: entry.path.clone(),
            size: written.size,
            id: written.id,
            subset: Some(SubsetOf {
                id: entry.id,
                size: entry.size,
                tensors: written.tensors,
                of_tensors: entry.tensors.len(),
            }),
        },
    }
}

/// The directory a fetch without an output directory writes into: the last `/`-separated
/// part of the manifest's model name, or for a file fetched by its id (and for a name
/// with no usable part) the id.
fn dir_name(signed: &SignedManifest, kind: FetchKind, id: Id) -> String {
    let name = signed
        .manifest()
        .name
        .rsplit('/')
        .find(|part| !part.is_empty());
    match name {
        Some(part) if kind == FetchKind::Checkpoint && part != "." && part != ".." => {
            part.replace('\\', "-")
        }
        _ => id.to_string(),
    }
}
