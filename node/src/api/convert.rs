//! The control API's JSON bodies made from the node's typed results: ids, keys and peer
//! ids as text, durations as seconds, errors with their stable kind.

use ostrom_protocol::trust::format_public_key;

use super::types::{
    CheckpointSummary, ErrorBody, FetchEvent, FetchReport, FileReport, FileSummary, LogEntry,
    NodeInfo, PeerTrafficInfo, ProgressReport, PublishOutcome, Resolved, Retracted, SkippedReport,
    SubsetReport, TrafficInfo, SUBSET_VERIFICATION,
};
use crate::exchange::fetch::{FetchOutcome, FetchProgress, FetchedFile};
use crate::inventory::{Checkpoint, CheckpointFile};
use crate::node::{
    FetchUpdate, LineageEntry, NodeError, Publication, ResolvedName, Retraction, Status,
};
use crate::traffic::{PeerTraffic, TrafficSnapshot};

impl From<&Status> for NodeInfo {
    fn from(status: &Status) -> Self {
        Self {
            peer_id: status.peer_id.to_string(),
            addrs: status.addrs.iter().map(ToString::to_string).collect(),
            publisher_key: format_public_key(&status.publisher_key),
            connected_peers: status.connected_peers,
            version: status.version.to_owned(),
        }
    }
}

impl From<&TrafficSnapshot> for TrafficInfo {
    fn from(snapshot: &TrafficSnapshot) -> Self {
        let entry = |peer: String, t: &PeerTraffic| PeerTrafficInfo {
            peer,
            uploaded: t.uploaded,
            downloaded: t.downloaded,
        };
        let mut peers: Vec<PeerTrafficInfo> = snapshot
            .peers
            .iter()
            .map(|(peer, t)| entry(peer.to_string(), t))
            .collect();
        if snapshot.others != PeerTraffic::default() {
            peers.push(entry("others".to_owned(), &snapshot.others));
        }
        Self {
            uploaded: snapshot.total.uploaded,
            downloaded: snapshot.total.downloaded,
            peers,
            streams: Default::default(),
        }
    }
}

impl From<&Publication> for PublishOutcome {
    fn from(publication: &Publication) -> Self {
        let manifest = publication.manifest().manifest();
        Self {
            id: publication.id().to_string(),
            name: manifest.name.clone(),
            tag: manifest.tag.clone(),
            files: manifest.files.iter().map(FileReport::from).collect(),
            bytes: manifest.total_size(),
            chunks: manifest.chunk_count(),
            seconds: publication.elapsed.as_secs_f64(),
            announced: publication.announced,
            name_seq: publication.published.name_record.body().seq,
        }
    }
}

impl From<Retraction> for Retracted {
    fn from(retraction: Retraction) -> Self {
        Self {
            id: retraction.id.to_string(),
            stored_in_dht: retraction.stored_in_dht,
        }
    }
}

impl From<&ResolvedName> for Resolved {
    fn from(resolved: &ResolvedName) -> Self {
        Self {
            reference: resolved.reference.to_string(),
            id: resolved.id.to_string(),
            publisher: format_public_key(&resolved.publisher),
            model: resolved.model.clone(),
            seq: resolved.seq,
            tags: resolved
                .tags
                .iter()
                .map(|(tag, id)| (tag.clone(), id.to_string()))
                .collect(),
        }
    }
}

impl From<&LineageEntry> for LogEntry {
    fn from(entry: &LineageEntry) -> Self {
        Self {
            id: entry.id.to_string(),
            tag: entry.tag.clone(),
            tags: entry.tags.clone(),
            created_ms: entry.created_ms,
            bytes: entry.bytes,
            files: entry.files,
            parent: entry.parent.map(|p| p.to_string()),
        }
    }
}

impl From<&CheckpointFile> for FileSummary {
    fn from(file: &CheckpointFile) -> Self {
        Self {
            path: file.path.clone(),
            size: file.size,
            id: file.id.to_string(),
            chunks: file.chunks,
            tensors: file.tensors,
        }
    }
}

impl From<&Checkpoint> for CheckpointSummary {
    fn from(checkpoint: &Checkpoint) -> Self {
        Self {
            id: checkpoint.id.to_string(),
            name: checkpoint.name.clone(),
            tag: checkpoint.tag.clone(),
            parent: checkpoint.parent.map(|p| p.to_string()),
            publisher: format_public_key(&checkpoint.publisher),
            created_ms: checkpoint.created_ms,
            metadata: checkpoint.metadata.clone(),
            files: checkpoint.files.iter().map(FileSummary::from).collect(),
            bytes: checkpoint.bytes,
            chunks: checkpoint.chunks,
            chunks_held: checkpoint.chunks_held,
            complete: checkpoint.complete,
            published: checkpoint.published,
            root: checkpoint.root.as_ref().map(|r| r.display().to_string()),
        }
    }
}

impl From<&FetchedFile> for FileReport {
    fn from(file: &FetchedFile) -> Self {
        Self {
            path: file.path.clone(),
            size: file.size,
            id: file.id.to_string(),
            subset: file.subset.as_ref().map(|of| SubsetReport {
                of: of.id.to_string(),
                of_size: of.size,
                tensors: of.tensors,
                of_tensors: of.of_tensors,
                verification: SUBSET_VERIFICATION.to_owned(),
            }),
        }
    }
}

impl From<&FetchProgress> for ProgressReport {
    fn from(progress: &FetchProgress) -> Self {
        Self {
            bytes_total: progress.bytes_total,
            bytes_done: progress.bytes_done,
            bytes_from_network: progress.bytes_from_network,
            holders: progress.holders,
            done: progress.done,
            file: progress.file.clone(),
        }
    }
}

impl From<&FetchOutcome> for FetchReport {
    fn from(outcome: &FetchOutcome) -> Self {
        Self {
            id: outcome.id.to_string(),
            checkpoint: outcome.checkpoint.to_string(),
            kind: outcome.kind.as_str().to_owned(),
            name: outcome.name.clone(),
            tag: outcome.tag.clone(),
            publisher: format_public_key(&outcome.publisher),
            publisher_alias: outcome.publisher_alias.clone(),
            retracted: outcome.retracted.clone(),
            out: outcome.out.display().to_string(),
            files: outcome.files.iter().map(FileReport::from).collect(),
            bytes: outcome.bytes,
            bytes_from_network: outcome.bytes_from_network,
            bytes_from_store: outcome.bytes_from_store,
            bytes_resumed: outcome.bytes_resumed,
            seconds: outcome.elapsed.as_secs_f64(),
            peers: outcome.peers.iter().map(ToString::to_string).collect(),
            bytes_by_peer: outcome
                .bytes_by_peer
                .iter()
                .map(|(peer, bytes)| (peer.to_string(), *bytes))
                .collect(),
            stream_resets: outcome.stream_resets,
            retry_rounds: outcome.retry_rounds,
            skipped: outcome
                .skipped
                .iter()
                .map(|s| SkippedReport {
                    path: s.path.clone(),
                    reason: s.reason.as_str().to_owned(),
                })
                .collect(),
        }
    }
}

impl From<&NodeError> for ErrorBody {
    fn from(error: &NodeError) -> Self {
        Self::new(error.kind(), error.to_string())
    }
}

impl FetchEvent {
    /// A progress line.
    pub fn progress(progress: &FetchProgress) -> Self {
        Self::Progress {
            progress: progress.into(),
        }
    }
}

impl From<FetchUpdate> for FetchEvent {
    fn from(update: FetchUpdate) -> Self {
        match update {
            FetchUpdate::Progress(progress) => Self::progress(&progress),
            FetchUpdate::Finished(result) => match *result {
                Ok(outcome) => Self::Done {
                    done: Box::new((&outcome).into()),
                },
                Err(error) => Self::Error((&error).into()),
            },
        }
    }
}
