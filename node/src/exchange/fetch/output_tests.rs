//! Output paths: links refused wherever they are, other files kept or refused, and a
//! verified file moved into place.

use std::os::unix::fs::symlink;

use ostrom_protocol::manifest::ChunkRef;
use ostrom_protocol::{FileEntry, Id};

use super::*;

/// A manifest entry for `bytes` at `path`, in chunks of at most 4 bytes.
fn entry(path: &str, bytes: &[u8]) -> FileEntry {
    FileEntry {
        path: path.to_owned(),
        size: bytes.len() as u64,
        id: Id::of(bytes),
        chunks: bytes
            .chunks(4)
            .map(|c| ChunkRef {
                id: Id::of(c),
                len: c.len() as u32,
            })
            .collect(),
        tensors: Vec::new(),
    }
}

fn message(error: FetchError) -> String {
    error.to_string()
}

#[test]
fn a_missing_output_directory_is_not_created_by_inspection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let found = inspect(&out, &entry("a/b.bin", b"hello"), false).expect("inspect");
    assert_eq!(found, Existing::Absent);
    assert!(!out.exists());
}

#[test]
fn a_linked_file_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let precious = dir.path().join("precious.txt");
    std::fs::write(&precious, b"mine").expect("write");
    symlink("../precious.txt", out.join("config.json")).expect("symlink");
    let error = message(inspect(&out, &entry("config.json", b"{}"), true).expect_err("link"));
    assert!(error.contains("config.json"), "{error}");
    assert!(error.contains("symbolic link"), "{error}");
    // Opening for writing does not follow it either.
    let error = message(open(&out.join("config.json"), true).expect_err("link"));
    assert!(error.contains("symbolic link"), "{error}");
    assert_eq!(std::fs::read(&precious).expect("read"), b"mine");
}

#[test]
fn a_linked_directory_is_refused_and_nothing_is_made_outside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    symlink(&elsewhere, out.join("sub")).expect("symlink");
    let file = entry("sub/deeper/w.bin", b"weights");
    let error = message(inspect(&out, &file, true).expect_err("link"));
    assert!(
        error.contains(&out.join("sub").display().to_string()),
        "{error}"
    );
    let error = message(directories(&out, &final_path(&out, &file), true).expect_err("link"));
    assert!(error.contains("symbolic link"), "{error}");
    assert_eq!(std::fs::read_dir(&elsewhere).expect("ls").count(), 0);
}

#[test]
fn a_linked_staging_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    symlink(&elsewhere, out.join(STAGING_DIR)).expect("symlink");
    let error = message(inspect(&out, &entry("w.bin", b"weights"), false).expect_err("link"));
    assert!(error.contains(STAGING_DIR), "{error}");
}

#[test]
fn a_different_file_is_refused_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path();
    std::fs::write(out.join("config.json"), b"mine!").expect("write");
    let file = entry("config.json", b"theirs");
    let error = message(inspect(out, &file, false).expect_err("exists"));
    assert!(error.contains("config.json"), "{error}");
    assert!(error.contains("--force"), "{error}");
    // Same size, other bytes.
    std::fs::write(out.join("config.json"), b"mine!!").expect("write");
    assert!(inspect(out, &file, false).is_err());
    assert_eq!(
        inspect(out, &file, true).expect("forced"),
        Existing::Replaced
    );
    assert_eq!(
        std::fs::read(out.join("config.json")).expect("read"),
        b"mine!!"
    );
}

#[test]
fn an_identical_file_is_kept_with_its_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path();
    std::fs::write(out.join("w.bin"), b"0123456789").expect("write");
    let found = inspect(out, &entry("w.bin", b"0123456789"), false).expect("inspect");
    assert_eq!(
        found,
        Existing::Same {
            chunks_ok: vec![true, true, true]
        }
    );
    std::fs::write(out.join("empty"), b"").expect("write");
    let found = inspect(out, &entry("empty", b""), false).expect("inspect");
    assert_eq!(found, Existing::Same { chunks_ok: vec![] });
}

#[test]
fn a_path_under_the_staging_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = entry(&format!("{STAGING_DIR}/w.bin"), b"x");
    let error = message(inspect(dir.path(), &file, true).expect_err("reserved"));
    assert!(error.contains(STAGING_DIR), "{error}");
}

#[test]
fn a_verified_file_moves_into_place_and_the_staging_directory_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path();
    let file = entry("sub/w.bin", b"weights");
    let staging = staging_path(out, &file);
    directories(out, &staging, true).expect("dirs");
    std::fs::write(&staging, b"weights").expect("write");
    let path = publish(out, &file, false).expect("publish");
    assert_eq!(path, out.join("sub/w.bin"));
    assert_eq!(std::fs::read(&path).expect("read"), b"weights");
    tidy(out, &[&file]);
    assert!(!out.join(STAGING_DIR).exists());
}

#[test]
fn a_file_that_appeared_meanwhile_is_not_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path();
    let file = entry("w.bin", b"weights");
    let staging = staging_path(out, &file);
    directories(out, &staging, true).expect("dirs");
    std::fs::write(&staging, b"weights").expect("write");
    std::fs::write(out.join("w.bin"), b"other").expect("write");
    assert!(publish(out, &file, false).is_err());
    assert_eq!(std::fs::read(out.join("w.bin")).expect("read"), b"other");
    assert!(staging.exists());
}
