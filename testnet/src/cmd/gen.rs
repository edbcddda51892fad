//! `ostrom-testnet gen DIR --size 300MB`: writes a synthetic checkpoint, or a fine-tune
//! of one.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use bytesize::ByteSize;
use ostrom_testnet::checkpoint::{self, CheckpointSpec, FineTune};

use super::fmt;

/// Arguments of `gen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write into (created if missing).
    dir: PathBuf,
    /// Approximate size of the weights file, e.g. 300MB, 2GiB.
    #[arg(long, default_value = "300MB")]
    size: ByteSize,
    /// Seed of the base model's data.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write a fine-tune of the base model: tensors outside the trained part stay
    /// byte-identical to the base (same --size and --seed); this seeds the changed ones.
    #[arg(long)]
    finetune_seed: Option<u64>,
    /// With --finetune-seed: how many of the last layers are trained (with lm_head).
    #[arg(long, default_value_t = 2, requires = "finetune_seed")]
    train_layers: usize,
    /// With --finetune-seed: train the token embedding too.
    #[arg(long, requires = "finetune_seed")]
    train_embedding: bool,
}

/// Runs `gen`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut spec = CheckpointSpec::new(args.size.as_u64()).seed(args.seed);
    if let Some(seed) = args.finetune_seed {
        let mut finetune = FineTune::last_layers(seed, args.train_layers);
        finetune.train_embedding = args.train_embedding;
        spec = spec.finetune(finetune);
    }
    let started = Instant::now();
    let ckpt = checkpoint::generate(&args.dir, &spec)
        .with_context(|| format!("generating a checkpoint in {}", args.dir.display()))?;
    let took = started.elapsed();
    let s = ckpt.shape;
    println!(
        "model: {} layers, hidden {}, mlp {}, {} heads, vocab {}, {} parameters (bf16)",
        s.layers,
        s.hidden,
        s.intermediate,
        s.heads,
        s.vocab,
        s.params()
    );
    for file in &ckpt.files {
        println!(
            "  {:>12} bytes  {}",
            file.size,
            args.dir.join(&file.path).display()
        );
    }
    if !ckpt.changed_tensors.is_empty() {
        println!(
            "fine-tune: {} tensors differ from the base",
            ckpt.changed_tensors.len()
        );
    }
    println!(
        "wrote {} in {} ({})",
        fmt::mb(ckpt.total_bytes()),
        fmt::secs(took),
        fmt::rate(ckpt.total_bytes(), took)
    );
    Ok(())
}
