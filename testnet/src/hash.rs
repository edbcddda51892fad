//! File ids as Ostrom and `b3sum` compute them (BLAKE3 of the whole file, 64 lowercase
//! hex), and listing the files of a directory tree to compare.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// BLAKE3 of the file at `path`, read in a streaming pass, as 64 lowercase hex.
pub fn file_id(path: &Path) -> Result<String> {
    let file = File::open(path).context_with(|| format!("opening {}", path.display()))?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(file)
        .context_with(|| format!("reading {}", path.display()))?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Every regular file under `dir`, as paths relative to it, sorted.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let abs = dir.join(&rel);
        let entries =
            std::fs::read_dir(&abs).context_with(|| format!("listing {}", abs.display()))?;
        for entry in entries {
            let entry = entry.context_with(|| format!("listing {}", abs.display()))?;
            let kind = entry
                .file_type()
                .context_with(|| format!("inspecting {}", entry.path().display()))?;
            let child = rel.join(entry.file_name());
            if kind.is_dir() {
                pending.push(child);
            } else if kind.is_file() {
                found.push(child);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_has_the_blake3_of_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("empty");
        std::fs::write(&path, b"").expect("write");
        assert_eq!(
            file_id(&path).expect("hash"),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/x"), b"x").expect("write");
        assert_eq!(
            files_under(dir.path()).expect("list"),
            vec![PathBuf::from("empty"), PathBuf::from("sub/x")]
        );
    }
}
