//! Checks, when a node starts, that its store directory can be written and has room: a
//! read-only or full disk is a clear error then, rather than a node that starts and fails
//! at its first write.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Less free space than this stops the node at start: the store's database cannot grow.
pub const MIN_FREE: u64 = 16 << 20;

/// Less free space than this is warned about at start.
pub const LOW_FREE: u64 = 1 << 30;

/// Bytes the probe writes (and removes) to see that the directory takes writes.
const PROBE_BYTES: usize = 64 << 10;

/// Why the store directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// Writing in the directory failed.
    #[error("the store directory {dir} cannot be written: {reason}")]
    NotWritable {
        /// The directory.
        dir: String,
        /// Why, with what to do.
        reason: String,
    },
    /// The disk is (nearly) full.
    #[error("the disk holding the store directory {dir} is full: {free} bytes free (at least {MIN_FREE} needed); free some space or move the node home")]
    Full {
        /// The directory.
        dir: String,
        /// Bytes free.
        free: u64,
    },
}

fn reason(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(libc::EROFS) => format!("{error}: the file system is mounted read-only"),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            format!("{error}: the node's user may not write there (check its owner and mode)")
        }
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => format!("{error}: the disk is full"),
        _ => error.to_string(),
    }
}

/// Bytes free to unprivileged users on a file system (the C types differ by platform).
#[allow(clippy::unnecessary_cast)]
fn free_bytes(stats: nix::sys::statvfs::Statvfs) -> u64 {
    (stats.blocks_available() as u64).saturating_mul(stats.fragment_size() as u64)
}

/// Creates `dir` if needed and checks that a file can be written, synced and removed in
/// it, and that its disk has at least [`MIN_FREE`] bytes free. Returns the bytes free.
pub fn check_store_dir(dir: &Path) -> Result<u64, DiskError> {
    let not_writable = |error: std::io::Error| DiskError::NotWritable {
        dir: dir.display().to_string(),
        reason: reason(&error),
    };
    std::fs::create_dir_all(dir).map_err(not_writable)?;
    let probe: PathBuf = dir.join(format!(".ostrom-write-probe-{}", std::process::id()));
    let written = std::fs::File::create(&probe).and_then(|mut file| {
        file.write_all(&[0u8; PROBE_BYTES])?;
        file.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    written.map_err(not_writable)?;
    let free = nix::sys::statvfs::statvfs(dir)
        .map(free_bytes)
        .unwrap_or(u64::MAX);
    if free < MIN_FREE {
        return Err(DiskError::Full {
            dir: dir.display().to_string(),
            free,
        });
    }
    if free < LOW_FREE {
        tracing::warn!(
            dir = %dir.display(),
            free,
            "little space is left on the store's disk"
        );
    }
    Ok(free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writable_directory_passes_and_keeps_no_probe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("store");
        assert!(check_store_dir(&store).expect("writable") >= MIN_FREE);
        assert_eq!(std::fs::read_dir(&store).expect("read").count(), 0);
    }

    #[test]
    fn a_path_under_a_file_is_refused_naming_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").expect("write");
        let error = check_store_dir(&file.join("store")).expect_err("not a directory");
        assert!(error.to_string().contains("cannot be written"), "{error}");
        assert!(error.to_string().contains("file/store"), "{error}");
    }
}
