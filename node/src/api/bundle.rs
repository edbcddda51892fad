//! The control API's bundle calls, `POST /v1/export` and `POST /v1/import`: their JSON
//! bodies, and those bodies made from the node's results. `ostrom export` and `ostrom
//! import` print the same reports when no node runs and they work on the home directly.

use std::path::PathBuf;

use ostrom_protocol::trust::format_public_key;
use ostrom_protocol::Id;
use serde::{Deserialize, Serialize};

use super::types::FileReport;
use crate::bundle::{ExportOutcome, ExportRequest, ImportOutcome, ImportRequest};

/// `POST /v1/export` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportBody {
    /// Checkpoint ids.
    pub ids: Vec<String>,
    /// Absolute path of the bundle to write; it must not exist.
    pub out: String,
    /// Checkpoints whose chunks are left out.
    #[serde(default)]
    pub exclude_held_by: Vec<String>,
}

impl ExportBody {
    /// The request, with every id parsed.
    pub fn request(&self) -> Result<ExportRequest, String> {
        let parse = |ids: &[String]| {
            ids.iter()
                .map(|id| id.parse::<Id>().map_err(|e| format!("{id:?}: {e}")))
                .collect::<Result<Vec<_>, _>>()
        };
        if self.ids.is_empty() {
            return Err("no checkpoint id to export".to_owned());
        }
        Ok(ExportRequest {
            ids: parse(&self.ids)?,
            out: PathBuf::from(&self.out),
            exclude_held_by: parse(&self.exclude_held_by)?,
        })
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportReport {
    /// The bundle file.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The checkpoints in it.
    pub checkpoints: Vec<String>,
    /// Chunks in it.
    pub chunks: u64,
    /// Bytes of those chunks.
    pub chunk_bytes: u64,
    /// Chunks left out because an excluded checkpoint lists them.
    pub chunks_excluded: u64,
    /// Signed records in it.
    pub records: u32,
    /// Seconds it took.
    pub seconds: f64,
}

impl From<&ExportOutcome> for ExportReport {
    fn from(outcome: &ExportOutcome) -> Self {
        Self {
            path: outcome.path.display().to_string(),
            bytes: outcome.bytes,
            checkpoints: outcome.checkpoints.iter().map(Id::to_string).collect(),
            chunks: outcome.chunks,
            chunk_bytes: outcome.chunk_bytes,
            chunks_excluded: outcome.chunks_excluded,
            records: outcome.records,
            seconds: outcome.elapsed.as_secs_f64(),
        }
    }
}

/// `POST /v1/import` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportBody {
    /// Absolute path of the bundle.
    pub bundle: String,
    /// Absolute directory each checkpoint's directory (named by its id) is made in.
    pub out: String,
    /// Import manifests signed by publishers this node does not trust.
    #[serde(default)]
    pub allow_untrusted: bool,
    /// Import checkpoints their publisher retracted.
    #[serde(default)]
    pub allow_retracted: bool,
    /// Replace files already at the output paths whose bytes differ.
    #[serde(default)]
    pub force: bool,
}

impl From<&ImportBody> for ImportRequest {
    fn from(body: &ImportBody) -> Self {
        Self {
            bundle: PathBuf::from(&body.bundle),
            out: PathBuf::from(&body.out),
            allow_untrusted: body.allow_untrusted,
            allow_retracted: body.allow_retracted,
            force: body.force,
        }
    }
}

/// A checkpoint an import added.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportedReport {
    /// The checkpoint id.
    pub id: String,
    /// Its model name.
    pub name: String,
    /// Its tag.
    pub tag: Option<String>,
    /// The publisher key (hex).
    pub publisher: String,
    /// The publisher's alias here (`self` for this node's key); null when untrusted.
    pub publisher_alias: Option<String>,
    /// The publisher's reason, when it retracted the checkpoint.
    pub retracted: Option<String>,
    /// The directory its files are in.
    pub root: String,
    /// Its files, each verified against its id.
    pub files: Vec<FileReport>,
    /// Total bytes.
    pub bytes: u64,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportReport {
    /// The bundle.
    pub bundle: String,
    /// The checkpoints now held.
    pub checkpoints: Vec<ImportedReport>,
    /// Chunks read from the bundle.
    pub chunks_from_bundle: u64,
    /// Their bytes.
    pub bytes_from_bundle: u64,
    /// Bytes copied from chunks this node held (those the bundle left out).
    pub bytes_from_store: u64,
    /// Signed records kept.
    pub records: usize,
    /// Seconds it took.
    pub seconds: f64,
    /// Whether the running node announced the checkpoints (false when no node ran: it
    /// announces them when it starts).
    pub announced: bool,
}

impl ImportReport {
    /// The report of `outcome`.
    pub fn new(outcome: &ImportOutcome, announced: bool) -> Self {
        Self {
            bundle: outcome.bundle.display().to_string(),
            checkpoints: outcome
                .checkpoints
                .iter()
                .map(|c| {
                    let manifest = c.manifest.manifest();
                    ImportedReport {
                        id: c.manifest.id().to_string(),
                        name: manifest.name.clone(),
                        tag: manifest.tag.clone(),
                        publisher: format_public_key(&manifest.publisher),
                        publisher_alias: c.publisher_alias.clone(),
                        retracted: c.retracted.clone(),
                        root: c.root.display().to_string(),
                        files: manifest.files.iter().map(FileReport::from).collect(),
                        bytes: manifest.total_size(),
                    }
                })
                .collect(),
            chunks_from_bundle: outcome.chunks_from_bundle,
            bytes_from_bundle: outcome.bytes_from_bundle,
            bytes_from_store: outcome.bytes_from_store,
            records: outcome.records.len(),
            seconds: outcome.elapsed.as_secs_f64(),
            announced,
        }
    }
}
