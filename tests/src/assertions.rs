//! Assertions about fetched files: byte-identical to the originals, ids equal to their
//! BLAKE3 (and to `b3sum`'s output when that tool is installed), and, after a failed
//! fetch, no file holding an original's content; a resumed fetch that did not start over.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, ensure, Context};
use ostrom_testnet::{hash, Fetched, FileReport};

use crate::fixture::Fixture;

/// `again`, a fetch of `total` bytes resumed after `done_before` bytes were in place, wrote
/// them all, with its sources adding up, and resumed some rather than starting over.
pub fn assert_resumed(again: &Fetched, total: u64, done_before: u64) -> anyhow::Result<()> {
    ensure!(again.bytes == total, "{again:?}");
    ensure!(
        again.bytes_from_network + again.bytes_resumed + again.bytes_from_store == again.bytes,
        "the sources do not add up to the total: {again:?}"
    );
    ensure!(
        again.bytes_resumed > 0,
        "nothing was resumed after {done_before} bytes were in place: {again:?}"
    );
    Ok(())
}

/// Every fixture file exists under `out` with identical bytes.
pub fn assert_same_files(fixture: &Fixture, out: &Path) -> anyhow::Result<()> {
    for file in &fixture.files {
        let fetched = out.join(&file.path);
        let got = std::fs::read(&fetched)
            .with_context(|| format!("reading fetched {}", fetched.display()))?;
        let want = std::fs::read(fixture.path_of(file))?;
        if got != want {
            let at = got.iter().zip(&want).position(|(a, b)| a != b);
            bail!(
                "{} differs from the original: {} bytes vs {}, first difference at {at:?}",
                file.path,
                got.len(),
                want.len()
            );
        }
    }
    Ok(())
}

/// Each reported file's id is the BLAKE3 of the file at `out/path`, and `b3sum`'s if
/// installed.
pub fn assert_ids_are_blake3(files: &[FileReport], out: &Path) -> anyhow::Result<()> {
    for file in files {
        let path = out.join(&file.path);
        let blake3 = hash::file_id(&path)?;
        ensure!(
            file.id == blake3,
            "{} reported id {} but its BLAKE3 is {blake3}",
            file.path,
            file.id
        );
        if let Some(b3) = b3sum(&path)? {
            ensure!(b3 == blake3, "b3sum says {b3} for {}", path.display());
        }
    }
    Ok(())
}

/// No file under `out` (if it exists) has the content of a non-empty fixture file.
pub fn assert_no_original_content(fixture: &Fixture, out: &Path) -> anyhow::Result<()> {
    if !out.exists() {
        return Ok(());
    }
    for rel in hash::files_under(out)? {
        let id = hash::file_id(&out.join(&rel))?;
        if let Some(original) = fixture.files.iter().find(|f| f.size > 0 && f.id == id) {
            bail!(
                "{} holds the content of {} although the fetch failed",
                rel.display(),
                original.path
            );
        }
    }
    Ok(())
}

/// `b3sum`'s id for `path`, or `None` when `b3sum` is not installed.
pub fn b3sum(path: &Path) -> anyhow::Result<Option<String>> {
    let output = match Command::new("b3sum").arg("--no-names").arg(path).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("running b3sum"),
    };
    ensure!(
        output.status.success(),
        "b3sum failed on {}",
        path.display()
    );
    Ok(Some(
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    ))
}
