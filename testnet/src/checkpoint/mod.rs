//! Synthetic checkpoints shaped like real ones: a BF16 `model.safetensors` of a
//! Llama-style transformer sized to a target byte count, with `config.json` and a small
//! `tokenizer.json`. Data is deterministic in a seed and generated tensor by tensor, so
//! memory stays at one tensor whatever the size.
//!
//! A [`FineTune`] makes a checkpoint that keeps some tensors byte-identical to the base
//! (same size and seed) and changes the rest, as a fine-tune with frozen layers does.
//!
//! - `shape`: fitting a model to a size, and its tensor list.
//! - `synth`: the on-demand tensor data.
//! - `extras`: `config.json` and `tokenizer.json`.

mod extras;
mod shape;
mod synth;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
pub use shape::ModelShape;
use shape::{Part, TensorSpec};
use synth::SynthTensor;

/// The weights file's name.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// What checkpoint to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointSpec {
    /// Approximate size of the weights file in bytes.
    pub target_bytes: u64,
    /// Seed of the base model's data.
    pub seed: u64,
    /// When set, a fine-tune of the base model instead of the base model.
    pub finetune: Option<FineTune>,
}

impl CheckpointSpec {
    /// A base checkpoint of about `target_bytes`, seed 0.
    pub fn new(target_bytes: u64) -> Self {
        Self {
            target_bytes,
            seed: 0,
            finetune: None,
        }
    }

    /// The same base with another seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// A fine-tune of this base.
    pub fn finetune(mut self, finetune: FineTune) -> Self {
        self.finetune = Some(finetune);
        self
    }
}

/// Which tensors a fine-tune changes; all others stay identical to the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FineTune {
    /// Seed of the changed tensors' data (different fine-tunes differ).
    pub seed: u64,
    /// How many of the last decoder layers are trained (the final norm with them when
    /// this is not zero).
    pub trained_layers: usize,
    /// Whether `lm_head` is trained.
    pub train_head: bool,
    /// Whether the token embedding is trained.
    pub train_embedding: bool,
}

impl FineTune {
    /// Trains the last `layers` layers and the head; the embedding stays frozen.
    pub fn last_layers(seed: u64, layers: usize) -> Self {
        Self {
            seed,
            trained_layers: layers,
            train_head: true,
            train_embedding: false,
        }
    }

    fn trains(&self, part: Part, layers: usize) -> bool {
        match part {
            Part::Embedding => self.train_embedding,
            Part::Head => self.train_head,
            Part::FinalNorm => self.trained_layers > 0,
            Part::Layer(n) => n + self.trained_layers >= layers,
        }
    }
}

/// One written file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the checkpoint directory.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// A checkpoint written to disk.
#[derive(Debug, Clone)]
pub struct GeneratedCheckpoint {
    /// The directory holding it.
    pub dir: PathBuf,
    /// The model's dimensions.
    pub shape: ModelShape,
    /// The files, weights first.
    pub files: Vec<GeneratedFile>,
    /// Names of the tensors that differ from the base (empty for a base checkpoint).
    pub changed_tensors: Vec<String>,
}

impl GeneratedCheckpoint {
    /// Total bytes of all files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Writes the checkpoint `spec` describes into `dir` (created if missing).
pub fn generate(dir: &Path, spec: &CheckpointSpec) -> Result<GeneratedCheckpoint> {
    std::fs::create_dir_all(dir).context_with(|| format!("creating {}", dir.display()))?;
    let shape = ModelShape::for_bytes(spec.target_bytes);
    let mut changed_tensors = Vec::new();
    let tensors: Vec<(String, SynthTensor)> = shape
        .tensors()
        .into_iter()
        .map(|t| {
            let variant = spec
                .finetune
                .filter(|f| f.trains(t.part, shape.layers))
                .map(|f| f.seed);
            if variant.is_some() {
                changed_tensors.push(t.name.clone());
            }
            let seed = tensor_seed(spec.seed, &t, variant);
            (t.name, SynthTensor::new(t.shape, t.init, seed))
        })
        .collect();
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let weights = dir.join(WEIGHTS_FILE);
    safetensors::serialize_to_file(tensors, Some(metadata), &weights)?;

    write_json(&dir.join("config.json"), &extras::config_json(&shape))?;
    write_json(&dir.join("tokenizer.json"), &extras::tokenizer_json())?;

    let files = [WEIGHTS_FILE, "config.json", "tokenizer.json"]
        .into_iter()
        .map(|name| {
            let path = dir.join(name);
            let size = std::fs::metadata(&path)
                .context_with(|| format!("reading {}", path.display()))?
                .len();
            Ok(GeneratedFile {
                path: PathBuf::from(name),
                size,
            })
        })
        .collect::<Result<_>>()?;
    Ok(GeneratedCheckpoint {
        dir: dir.to_owned(),
        shape,
        files,
        changed_tensors,
    })
}

/// The seed of one tensor's data: the base seed and the tensor's name, and the
/// fine-tune's seed when the fine-tune changes it.
fn tensor_seed(base: u64, tensor: &TensorSpec, variant: Option<u64>) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"ostrom-testnet synthetic tensor v1");
    hasher.update(&base.to_le_bytes());
    hasher.update(tensor.name.as_bytes());
    if let Some(v) = variant {
        hasher.update(b"finetune");
        hasher.update(&v.to_le_bytes());
    }
    *hasher.finalize().as_bytes()
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| crate::error::Error::io(format!("encoding {}", path.display()), e.into()))?;
    text.push('\n');
    std::fs::write(path, text).context_with(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor_bytes(path: &Path, name: &str) -> Vec<u8> {
        let bytes = std::fs::read(path).expect("read weights");
        let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
        st.tensor(name).expect("tensor present").data().to_vec()
    }

    #[test]
    fn writes_a_loadable_checkpoint_of_about_the_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ckpt = generate(dir.path(), &CheckpointSpec::new(2_000_000)).expect("generate");
        let weights = ckpt.files[0].size;
        assert!(
            (1_990_000..=2_000_000 + 64 * 1024).contains(&weights),
            "{weights}"
        );
        let bytes = std::fs::read(dir.path().join(WEIGHTS_FILE)).expect("read");
        let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
        assert_eq!(st.len(), ckpt.shape.tensors().len());
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).expect("read"))
                .expect("json");
        assert_eq!(config["num_hidden_layers"], ckpt.shape.layers);
    }

    #[test]
    fn finetune_keeps_frozen_tensors_identical() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spec = CheckpointSpec::new(3_000_000).seed(5);
        let base = generate(&dir.path().join("base"), &spec).expect("base");
        let tuned = generate(
            &dir.path().join("tuned"),
            &spec.clone().finetune(FineTune::last_layers(9, 1)),
        )
        .expect("fine-tune");
        assert!(base.changed_tensors.is_empty());
        assert!(tuned.changed_tensors.contains(&"lm_head.weight".to_owned()));
        let (b, t) = (base.dir.join(WEIGHTS_FILE), tuned.dir.join(WEIGHTS_FILE));
        let frozen = "model.embed_tokens.weight";
        assert_eq!(tensor_bytes(&b, frozen), tensor_bytes(&t, frozen));
        assert_ne!(
            tensor_bytes(&b, "lm_head.weight"),
            tensor_bytes(&t, "lm_head.weight")
        );
    }
}
