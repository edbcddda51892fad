//! `ostrom verify`: the id of every file under a path, as `b3sum` prints it, with
//! safetensors headers checked.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ostrom_protocol::chunking::chunk_file;
use serde::Serialize;

use crate::cli::VerifyArgs;

#[derive(Serialize)]
struct Verified {
    path: String,
    id: String,
    size: u64,
    chunks: usize,
    tensors: usize,
}

fn files_under(path: &Path) -> Result<Vec<PathBuf>> {
    let metadata =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let entry_path = entry?.path();
            if entry_path.is_dir() {
                pending.push(entry_path);
            } else {
                files.push(entry_path);
            }
        }
    }
    files.sort();
    Ok(files)
}

pub fn run(args: VerifyArgs) -> Result<()> {
    let files = files_under(&args.path)?;
    if files.is_empty() {
        bail!("{} holds no files", args.path.display());
    }
    let mut verified = Vec::with_capacity(files.len());
    for file in files {
        let display = file.display().to_string();
        let chunked = chunk_file(&file, &display)?;
        verified.push(Verified {
            path: display,
            id: chunked.id.to_string(),
            size: chunked.size,
            chunks: chunked.chunks.len(),
            tensors: chunked.tensors.len(),
        });
    }
    if args.json {
        return super::print_json(&verified);
    }
    for file in &verified {
        println!("{}  {}", file.id, file.path);
    }
    Ok(())
}
