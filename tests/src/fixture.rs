//! The small checkpoint the end-to-end tests publish: a generated ~8 MB BF16
//! `model.safetensors` (its embedding and `lm_head` span several 1 MiB chunks),
//! `config.json`, `tokenizer.json`, an empty file and a file of exactly one byte, with
//! each file's id computed here.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ostrom_testnet::checkpoint::{self, CheckpointSpec, WEIGHTS_FILE};
use ostrom_testnet::hash;

/// Size of the fixture's weights file.
const WEIGHTS_BYTES: u64 = 8_000_000;
/// The empty file's name.
pub const EMPTY_FILE: &str = "empty.txt";
/// The one-byte file's name.
pub const ONE_BYTE_FILE: &str = "one-byte.bin";

/// One file of the fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureFile {
    /// Path relative to the fixture directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 of its bytes, 64 lowercase hex.
    pub id: String,
}

/// A checkpoint directory on disk and what is in it.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The directory.
    pub dir: PathBuf,
    /// Its files, sorted by path.
    pub files: Vec<FixtureFile>,
}

impl Fixture {
    /// The file at `path`.
    pub fn file(&self, path: &str) -> anyhow::Result<&FixtureFile> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .with_context(|| format!("the fixture has no {path}"))
    }

    /// The weights file.
    pub fn weights(&self) -> anyhow::Result<&FixtureFile> {
        self.file(WEIGHTS_FILE)
    }

    /// Absolute path of a fixture file.
    pub fn path_of(&self, file: &FixtureFile) -> PathBuf {
        self.dir.join(&file.path)
    }

    /// Total bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Writes the fixture into `dir`.
pub fn small_checkpoint(dir: &Path) -> anyhow::Result<Fixture> {
    let ckpt = checkpoint::generate(dir, &CheckpointSpec::new(WEIGHTS_BYTES).seed(42))?;
    anyhow::ensure!(
        ckpt.shape.largest_tensor_bytes() > 2 * 1024 * 1024,
        "the fixture should have tensors over 2 MiB"
    );
    finish_fixture(dir)
}

/// Writes a fixture like [`small_checkpoint`]'s but with a weights file of about
/// `weights_bytes`.
pub fn checkpoint_of_size(dir: &Path, weights_bytes: u64) -> anyhow::Result<Fixture> {
    checkpoint::generate(dir, &CheckpointSpec::new(weights_bytes).seed(42))?;
    finish_fixture(dir)
}

/// Writes a fixture like [`checkpoint_of_size`]'s whose weights come from generator seed
/// `seed`: fixtures of different seeds share no weight chunks.
pub fn checkpoint_with_seed(dir: &Path, weights_bytes: u64, seed: u64) -> anyhow::Result<Fixture> {
    checkpoint::generate(dir, &CheckpointSpec::new(weights_bytes).seed(seed))?;
    finish_fixture(dir)
}

/// Adds the empty and one-byte files to a generated checkpoint in `dir` and lists
/// every file with its id.
fn finish_fixture(dir: &Path) -> anyhow::Result<Fixture> {
    std::fs::write(dir.join(EMPTY_FILE), b"")?;
    std::fs::write(dir.join(ONE_BYTE_FILE), b"\x2a")?;
    let files = hash::files_under(dir)?
        .into_iter()
        .map(|rel| {
            let abs = dir.join(&rel);
            let path = rel
                .to_str()
                .with_context(|| format!("non-UTF-8 path {}", rel.display()))?
                .to_owned();
            Ok(FixtureFile {
                path,
                size: std::fs::metadata(&abs)?.len(),
                id: hash::file_id(&abs)?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Fixture {
        dir: dir.to_owned(),
        files,
    })
}
