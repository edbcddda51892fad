//! Where a fetch's files go, and the rules that keep it from writing anywhere else.
//!
//! - Every file is written first at its staging path, `OUT/.ostrom-partial/PATH`, and
//!   renamed to `OUT/PATH` only once the whole file verified.
//! - No symbolic link under the output directory is ever followed: each directory on the
//!   way to a file is looked at with `symlink_metadata` (and created one level at a time),
//!   and files are opened with `O_NOFOLLOW`. A link stops the fetch, named.
//! - A file already at a final path is kept when it has exactly the manifest's bytes, and
//!   otherwise left alone: the fetch refuses, naming it, unless it was asked to replace it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use ostrom_protocol::{FileEntry, Id};

use super::FetchError;

/// The directory under the output directory that holds unfinished files.
pub(crate) const STAGING_DIR: &str = ".ostrom-partial";

/// What was at a file's final path before the fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Nothing.
    Absent,
    /// A file with exactly the manifest's bytes; for each chunk, whether its bytes hash to
    /// its id (they all do unless the manifest's chunk list disagrees with its file id).
    Same { chunks_ok: Vec<bool> },
    /// A file with other bytes, which the fetch was asked to replace.
    Replaced,
}

/// A `cannot write PATH: WHY` error.
pub(crate) fn refusal(path: &Path, kind: io::ErrorKind, why: String) -> FetchError {
    FetchError::Io {
        path: path.display().to_string(),
        source: io::Error::new(kind, why),
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn link_refusal(file: &Path, link: &Path) -> FetchError {
    refusal(
        file,
        io::ErrorKind::InvalidInput,
        format!(
            "{} is a symbolic link; fetch never writes through links under the output \
             directory (remove the link or fetch into another directory)",
            link.display()
        ),
    )
}

/// Where `entry` ends up under `out`. Manifest paths were validated (§5.3 P1–P4):
/// relative, no `.` or `..`, so this stays under `out`.
pub(crate) fn final_path(out: &Path, entry: &FileEntry) -> PathBuf {
    out.join(&entry.path)
}

/// Where `entry` is written until it verified.
pub(crate) fn staging_path(out: &Path, entry: &FileEntry) -> PathBuf {
    out.join(STAGING_DIR).join(&entry.path)
}

/// Refuses a manifest path inside the staging directory, which fetch keeps for itself.
pub(crate) fn check_not_reserved(out: &Path, entry: &FileEntry) -> Result<(), FetchError> {
    if entry.path.split('/').next() == Some(STAGING_DIR) {
        return Err(refusal(
            &final_path(out, entry),
            io::ErrorKind::InvalidInput,
            format!("the checkpoint lists a file under {STAGING_DIR}/, which fetch keeps for unfinished files"),
        ));
    }
    Ok(())
}

/// Checks (and with `create`, makes) every directory between `out` and `file`: each must
/// be a real directory, never a symbolic link. Without `create`, a missing one ends the
/// check (nothing below it exists either).
pub(crate) fn directories(out: &Path, file: &Path, create: bool) -> Result<(), FetchError> {
    let Ok(relative) = file.strip_prefix(out) else {
        return Err(refusal(
            file,
            io::ErrorKind::InvalidInput,
            format!("the path is not under {}", out.display()),
        ));
    };
    let Some(parent) = relative.parent() else {
        return Ok(());
    };
    let mut dir = out.to_path_buf();
    for component in parent.components() {
        let Component::Normal(name) = component else {
            return Err(refusal(
                file,
                io::ErrorKind::InvalidInput,
                "the path has a component that is not a plain name".to_owned(),
            ));
        };
        dir.push(name);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(link_refusal(file, &dir)),
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(refusal(
                    file,
                    io::ErrorKind::InvalidInput,
                    format!("{} is in the way: it is not a directory", dir.display()),
                ))
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Ok(());
                }
                match std::fs::create_dir(&dir) {
                    Ok(()) => {}
                    // Made meanwhile by someone else: look at it again.
                    Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                        let meta = std::fs::symlink_metadata(&dir).map_err(io_error(&dir))?;
                        if meta.file_type().is_symlink() {
                            return Err(link_refusal(file, &dir));
                        }
                        if !meta.is_dir() {
                            return Err(refusal(
                                file,
                                io::ErrorKind::InvalidInput,
                                format!("{} is in the way: it is not a directory", dir.display()),
                            ));
                        }
                    }
                    Err(error) => return Err(io_error(&dir)(error)),
                }
            }
            Err(error) => return Err(io_error(&dir)(error)),
        }
    }
    Ok(())
}

/// Opens `path` without following a link there; `write` creates it if missing.
pub(crate) fn open(path: &Path, write: bool) -> Result<File, FetchError> {
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(libc::O_NOFOLLOW);
    if write {
        options.write(true).create(true).truncate(false);
    }
    options.open(path).map_err(|error| {
        if error.raw_os_error() == Some(libc::ELOOP) {
            link_refusal(path, path)
        } else {
            io_error(path)(error)
        }
    })
}

/// Looks at what is at `entry`'s final path under `out`, writing nothing. A link on the
/// way or there is refused; a file with other bytes is refused unless `force`.
pub(crate) fn inspect(out: &Path, entry: &FileEntry, force: bool) -> Result<Existing, FetchError> {
    inspect_with(out, entry, force, |path, len| {
        if len == entry.size {
            matching_chunks(path, entry)
        } else {
            Ok(None)
        }
    })
}

/// [`inspect`] for a file whose expected bytes `same` decides: given the path of a plain
/// file and its length, `None` when it is not the file the fetch would write, otherwise
/// whether each chunk the fetch keeps there hashes to its id.
pub(crate) fn inspect_with(
    out: &Path,
    entry: &FileEntry,
    force: bool,
    same: impl FnOnce(&Path, u64) -> Result<Option<Vec<bool>>, FetchError>,
) -> Result<Existing, FetchError> {
    check_not_reserved(out, entry)?;
    let path = final_path(out, entry);
    directories(out, &path, false)?;
    directories(out, &staging_path(out, entry), false)?;
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Existing::Absent),
        Err(error) if error.raw_os_error() == Some(libc::ENOTDIR) => return Ok(Existing::Absent),
        Err(error) => return Err(io_error(&path)(error)),
    };
    if meta.file_type().is_symlink() {
        return Err(link_refusal(&path, &path));
    }
    if !meta.is_file() {
        return Err(refusal(
            &path,
            io::ErrorKind::InvalidInput,
            "something that is not a plain file is in the way".to_owned(),
        ));
    }
    if let Some(chunks_ok) = same(&path, meta.len())? {
        return Ok(Existing::Same { chunks_ok });
    }
    if force {
        return Ok(Existing::Replaced);
    }
    Err(refusal(
        &path,
        io::ErrorKind::AlreadyExists,
        "it already exists and its bytes differ from the checkpoint's file; move it away, \
         or fetch with --force to replace it"
            .to_owned(),
    ))
}

/// Reads the file at `path` chunk by chunk: `None` unless its BLAKE3 is `entry.id`;
/// otherwise whether each chunk's bytes hash to its id.
fn matching_chunks(path: &Path, entry: &FileEntry) -> Result<Option<Vec<bool>>, FetchError> {
    let mut file = open(path, false)?;
    let mut hasher = blake3::Hasher::new();
    let mut chunks_ok = Vec::with_capacity(entry.chunks.len());
    let mut buffer = Vec::new();
    for chunk in &entry.chunks {
        buffer.clear();
        let read = (&mut file)
            .take(u64::from(chunk.len))
            .read_to_end(&mut buffer)
            .map_err(io_error(path))?;
        if read != chunk.len as usize {
            return Ok(None);
        }
        hasher.update(&buffer);
        chunks_ok.push(Id::of(&buffer) == chunk.id);
    }
    let mut rest = [0u8; 1];
    if file.read(&mut rest).map_err(io_error(path))? != 0 {
        return Ok(None);
    }
    let id: Id = hasher.finalize().into();
    Ok((id == entry.id).then_some(chunks_ok))
}

/// Moves a verified file from its staging path to its final path, which must not have
/// become a link, or a file this fetch may not replace, meanwhile; syncs the directory.
pub(crate) fn publish(
    out: &Path,
    entry: &FileEntry,
    may_replace: bool,
) -> Result<PathBuf, FetchError> {
    let staging = staging_path(out, entry);
    let path = final_path(out, entry);
    directories(out, &path, true)?;
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(link_refusal(&path, &path)),
        Ok(_) if !may_replace => {
            return Err(refusal(
                &path,
                io::ErrorKind::AlreadyExists,
                "a file appeared there during the fetch; it was left alone, and the fetched \
                 file waits in the staging directory (fetch with --force to replace it)"
                    .to_owned(),
            ))
        }
        _ => {}
    }
    std::fs::rename(&staging, &path).map_err(io_error(&path))?;
    if let Some(parent) = path.parent() {
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error(parent))?;
    }
    Ok(path)
}

/// Removes the staging directories that are empty now, deepest first; leaves anything
/// that still holds a file.
pub(crate) fn tidy(out: &Path, entries: &[&FileEntry]) {
    let root = out.join(STAGING_DIR);
    let mut dirs: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let mut dir = staging_path(out, entry);
        while dir.pop() && dir.starts_with(&root) {
            if !dirs.contains(&dir) {
                dirs.push(dir.clone());
            }
            if dir == root {
                break;
            }
        }
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in dirs {
        // Fails, harmlessly, on a directory that is not empty.
        let _ = std::fs::remove_dir(&dir);
    }
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
