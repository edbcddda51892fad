//! The files a publish reads: one file, or every file under a directory, and the rule on
//! symbolic links.
//!
//! A link (to a file or a directory, at any depth) is followed only when its target, fully
//! resolved, lies inside the published directory, unless the publisher asked to follow
//! links anywhere. One layout is allowed more: a Hugging Face cache snapshot,
//! `…/models--ORG--NAME/snapshots/REV/`, whose files are links into the same repository's
//! `…/models--ORG--NAME/blobs/`. Files are always published under the names of the links,
//! never of their targets. A dangling link, or links that loop, are errors naming the link.

use std::path::{Path, PathBuf};

use super::PublishError;

/// A file found under the published path.
pub(super) struct SourceFile {
    /// Where it is read: the path as walked, links not resolved.
    pub absolute: PathBuf,
    /// Its path in the manifest, `/`-separated.
    pub relative: String,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    move |source| PublishError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A directory to walk: the path it is reached by, its resolved path, and the resolved
/// paths of the directories above it in the walk (itself included), to notice loops.
struct Pending {
    path: PathBuf,
    ancestors: Vec<PathBuf>,
}

/// Where links under `root` may point: `root` itself and, for a Hugging Face cache
/// snapshot, the repository's `blobs` directory. `root` is already resolved.
fn allowed_targets(root: &Path) -> Vec<PathBuf> {
    let mut allowed = vec![root.to_path_buf()];
    let snapshots = root.parent();
    let repository = snapshots.and_then(Path::parent);
    let is_snapshot = snapshots.and_then(Path::file_name) == Some("snapshots".as_ref());
    let is_repository = repository
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("models--"));
    if let (true, true, Some(repository)) = (is_snapshot, is_repository, repository) {
        if let Ok(blobs) = std::fs::canonicalize(repository.join("blobs")) {
            allowed.push(blobs);
        }
    }
    allowed
}

/// Resolves the link at `link`, refusing a dangling one, a loop, and (unless `follow`)
/// one whose target lies outside every directory of `allowed`.
fn resolve_link(link: &Path, allowed: &[PathBuf], follow: bool) -> Result<PathBuf, PublishError> {
    let target = std::fs::read_link(link)
        .map(|t| t.display().to_string())
        .map_err(io_error(link))?;
    let resolved = match std::fs::canonicalize(link) {
        Ok(resolved) => resolved,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PublishError::DanglingLink {
                link: link.display().to_string(),
                target,
            })
        }
        Err(e) => {
            return Err(PublishError::LinkLoop {
                link: link.display().to_string(),
                target,
                detail: e.to_string(),
            })
        }
    };
    if !follow && !allowed.iter().any(|dir| resolved.starts_with(dir)) {
        return Err(PublishError::LinkOutside {
            link: link.display().to_string(),
            target,
            resolved: resolved.display().to_string(),
        });
    }
    Ok(resolved)
}

/// The manifest path of `path`, found under `root`.
fn relative_path(root: &Path, path: &Path) -> Result<String, PublishError> {
    let non_utf8 = || PublishError::NonUtf8Path(path.display().to_string());
    Ok(path
        .strip_prefix(root)
        .map_err(|_| non_utf8())?
        .to_str()
        .ok_or_else(non_utf8)?
        .replace(std::path::MAIN_SEPARATOR, "/"))
}

/// Lists the files under `root` (resolved) in a stable order, with `/`-separated relative
/// paths, applying the rule on links.
fn list_files(root: &Path, follow: bool) -> Result<Vec<SourceFile>, PublishError> {
    let allowed = allowed_targets(root);
    let mut files = Vec::new();
    let mut pending = vec![Pending {
        path: root.to_path_buf(),
        ancestors: vec![root.to_path_buf()],
    }];
    while let Some(dir) = pending.pop() {
        let real_dir = dir.ancestors.last().cloned().unwrap_or_default();
        for entry in std::fs::read_dir(&dir.path).map_err(io_error(&dir.path))? {
            let entry = entry.map_err(io_error(&dir.path))?;
            let path = entry.path();
            let own = std::fs::symlink_metadata(&path).map_err(io_error(&path))?;
            let (real, metadata) = if own.is_symlink() {
                let real = resolve_link(&path, &allowed, follow)?;
                let metadata = std::fs::metadata(&real).map_err(io_error(&path))?;
                (real, metadata)
            } else {
                (real_dir.join(entry.file_name()), own)
            };
            if metadata.is_dir() {
                if dir.ancestors.contains(&real) {
                    return Err(PublishError::LinkLoop {
                        link: path.display().to_string(),
                        target: real.display().to_string(),
                        detail: "it leads back to a directory that contains it".to_owned(),
                    });
                }
                let mut ancestors = dir.ancestors.clone();
                ancestors.push(real);
                pending.push(Pending { path, ancestors });
            } else if metadata.is_file() {
                files.push(SourceFile {
                    relative: relative_path(root, &path)?,
                    absolute: path,
                });
            }
        }
    }
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(files)
}

/// The directory the checkpoint's files live in, and the files themselves. A single file
/// named by a link is published under the link's name.
pub(super) fn sources(
    path: &Path,
    follow_symlinks: bool,
) -> Result<(PathBuf, Vec<SourceFile>), PublishError> {
    let metadata = std::fs::metadata(path).map_err(io_error(path))?;
    if metadata.is_dir() {
        let root = std::fs::canonicalize(path).map_err(io_error(path))?;
        let files = list_files(&root, follow_symlinks)?;
        if files.is_empty() {
            return Err(PublishError::Empty(path.display().to_string()));
        }
        return Ok((root, files));
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| PublishError::NonUtf8Path(path.display().to_string()))?
        .to_owned();
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let root = std::fs::canonicalize(parent).map_err(io_error(parent))?;
    Ok((
        root.clone(),
        vec![SourceFile {
            absolute: root.join(&name),
            relative: name,
        }],
    ))
}
