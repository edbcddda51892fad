//! Tensor subsets: which tensors of a checkpoint's safetensors files a fetch takes, where
//! their bytes go in the smaller safetensors file it writes, and that file's header.
//!
//! A subset fetch (`ostrom fetch ID --tensors PATTERN`) asks for a safetensors file's
//! header chunks and the chunks of the tensors whose names match one of the patterns,
//! nothing else, and writes a new, valid safetensors file holding only those tensors.
//! Everything here is pure: the fetch engine does the I/O.
//!
//! **Layout of a subset file.** Its header region has exactly the length of the original
//! file's header region (the 8-byte length and the JSON with its padding), so the position
//! of every selected tensor is known from the signed manifest alone, before a byte is
//! fetched: the fetch writes the original header chunks and the selected tensors' chunks
//! straight to their places in one staging file, resumable like any fetch. Once every
//! chunk is in, the original header (read back from its verified chunks) is checked
//! against the manifest and replaced by a header listing only the selected tensors, with
//! their new offsets, the original `__metadata__`, and spaces as padding (which the
//! safetensors format allows). The new JSON is never longer than the original: it lists
//! fewer tensors, each offset is no larger, and `serde_json` writes JSON with no optional
//! whitespace or escape. Keeping the header region's length also keeps the data region's
//! alignment.
//!
//! - [`select`]: patterns, and what a fetch does with each file ([`FilePlan`]).
//! - [`header`]: the subset file's header, from the verified original header.

pub mod header;
pub mod select;

pub use header::rebuild_header;
pub use select::{plan_file, FilePlan, Placement, SkipReason, SubsetLayout, TensorSelection};

/// Why a subset could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubsetError {
    /// A `--tensors` pattern is not a valid glob.
    #[error("--tensors {pattern:?} is not a valid glob pattern: {reason}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No `--tensors` pattern was given.
    #[error("no --tensors pattern given")]
    NoPattern,
    /// The verified header disagrees with the signed manifest's tensor list.
    #[error("{path}: the file's header disagrees with its manifest: {reason}")]
    Mismatch {
        /// The file.
        path: String,
        /// What disagrees.
        reason: String,
    },
}
