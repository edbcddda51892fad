//! The shape of a synthetic decoder-only transformer (Llama-style names and layout),
//! chosen so its BF16 weights come close to a target byte count, and the list of its
//! tensors.

/// Bytes per BF16 value.
pub(crate) const BF16_BYTES: u64 = 2;

/// Hidden sizes tried, largest first, when fitting a model to a size.
const HIDDEN_SIZES: [usize; 16] = [
    8192, 6144, 5120, 4096, 3072, 2560, 2048, 1536, 1024, 768, 512, 384, 256, 192, 128, 64,
];

/// Width of one attention head.
const HEAD_DIM: usize = 64;

/// Dimensions of a synthetic transformer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelShape {
    /// Model width.
    pub hidden: usize,
    /// MLP width.
    pub intermediate: usize,
    /// Number of decoder layers.
    pub layers: usize,
    /// Attention heads (64 wide each).
    pub heads: usize,
    /// Vocabulary size (rows of the embedding and of `lm_head`).
    pub vocab: usize,
}

/// What a tensor is initialised like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Init {
    /// Weight matrices: normal, mean 0, standard deviation 0.02.
    Weight,
    /// Norm scales: normal, mean 1, standard deviation 0.05.
    NearOne,
}

/// Which part of the model a tensor belongs to (for choosing what a fine-tune trains).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The token embedding.
    Embedding,
    /// Decoder layer `n`.
    Layer(usize),
    /// The final norm.
    FinalNorm,
    /// The output projection.
    Head,
}

/// One tensor of the model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorSpec {
    pub(crate) name: String,
    pub(crate) shape: Vec<usize>,
    pub(crate) init: Init,
    pub(crate) part: Part,
}

impl TensorSpec {
    /// Its size in bytes as BF16.
    pub(crate) fn bytes(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product::<u64>() * BF16_BYTES
    }
}

impl ModelShape {
    /// The largest model (by width) of ordinary proportions whose weights fit in
    /// `target_bytes`, with layers and vocabulary stretched to come within a few
    /// kilobytes of it. Tiny targets get a one-layer model.
    pub fn for_bytes(target_bytes: u64) -> Self {
        let params = usize::try_from(target_bytes / BF16_BYTES).unwrap_or(usize::MAX);
        for hidden in HIDDEN_SIZES {
            let intermediate = intermediate_for(hidden);
            let layer = layer_params(hidden, intermediate);
            let vocab = base_vocab(hidden);
            let fixed = fixed_params(hidden, vocab);
            let min_layers = (hidden / 128).max(2);
            if fixed + min_layers * layer <= params {
                let layers = (params - fixed) / layer;
                return Self::fit_vocab(hidden, intermediate, layers, params);
            }
        }
        Self::fit_vocab(64, intermediate_for(64), 1, params)
    }

    /// The shape with `vocab` taking up whatever the layers leave of `params`.
    fn fit_vocab(hidden: usize, intermediate: usize, layers: usize, params: usize) -> Self {
        let rest = params.saturating_sub(layers * layer_params(hidden, intermediate) + hidden);
        Self {
            hidden,
            intermediate,
            layers,
            heads: hidden / HEAD_DIM,
            vocab: (rest / (2 * hidden)).max(8),
        }
    }

    /// Number of parameters.
    pub fn params(&self) -> u64 {
        (fixed_params(self.hidden, self.vocab)
            + self.layers * layer_params(self.hidden, self.intermediate)) as u64
    }

    /// Size of all weights in bytes (BF16), without the file header.
    pub fn weight_bytes(&self) -> u64 {
        self.params() * BF16_BYTES
    }

    /// Size in bytes of the largest tensor (the embedding or `lm_head`).
    pub fn largest_tensor_bytes(&self) -> u64 {
        self.tensors()
            .iter()
            .map(TensorSpec::bytes)
            .max()
            .unwrap_or(0)
    }

    /// Every tensor, in model order.
    pub(crate) fn tensors(&self) -> Vec<TensorSpec> {
        let (h, i, v) = (self.hidden, self.intermediate, self.vocab);
        let weight = Init::Weight;
        let mut out = vec![spec(
            "model.embed_tokens.weight",
            &[v, h],
            weight,
            Part::Embedding,
        )];
        for n in 0..self.layers {
            let part = Part::Layer(n);
            let p = format!("model.layers.{n}");
            out.extend([
                spec(
                    &format!("{p}.input_layernorm.weight"),
                    &[h],
                    Init::NearOne,
                    part,
                ),
                spec(
                    &format!("{p}.self_attn.q_proj.weight"),
                    &[h, h],
                    weight,
                    part,
                ),
                spec(
                    &format!("{p}.self_attn.k_proj.weight"),
                    &[h, h],
                    weight,
                    part,
                ),
                spec(
                    &format!("{p}.self_attn.v_proj.weight"),
                    &[h, h],
                    weight,
                    part,
                ),
                spec(
                    &format!("{p}.self_attn.o_proj.weight"),
                    &[h, h],
                    weight,
                    part,
                ),
                spec(
                    &format!("{p}.post_attention_layernorm.weight"),
                    &[h],
                    Init::NearOne,
                    part,
                ),
                spec(&format!("{p}.mlp.gate_proj.weight"), &[i, h], weight, part),
                spec(&format!("{p}.mlp.up_proj.weight"), &[i, h], weight, part),
                spec(&format!("{p}.mlp.down_proj.weight"), &[h, i], weight, part),
            ]);
        }
        out.push(spec(
            "model.norm.weight",
            &[h],
            Init::NearOne,
            Part::FinalNorm,
        ));
        out.push(spec("lm_head.weight", &[v, h], weight, Part::Head));
        out
    }
}

fn spec(name: &str, shape: &[usize], init: Init, part: Part) -> TensorSpec {
    TensorSpec {
        name: name.to_owned(),
        shape: shape.to_vec(),
        init,
        part,
    }
}

/// MLP width: 8/3 of the model width, rounded up to a multiple of 64 (as Llama does).
fn intermediate_for(hidden: usize) -> usize {
    (8 * hidden / 3).div_ceil(64) * 64
}

/// The vocabulary a model this wide would start from.
fn base_vocab(hidden: usize) -> usize {
    (16 * hidden).clamp(256, 32_000)
}

/// Parameters of one decoder layer: attention, MLP and two norms.
fn layer_params(hidden: usize, intermediate: usize) -> usize {
    4 * hidden * hidden + 3 * hidden * intermediate + 2 * hidden
}

/// Parameters outside the layers: embedding, `lm_head` (untied) and the final norm.
fn fixed_params(hidden: usize, vocab: usize) -> usize {
    2 * vocab * hidden + hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_targets_closely() {
        for target in [8_000_000u64, 300_000_000, 2_000_000_000] {
            let shape = ModelShape::for_bytes(target);
            let bytes = shape.weight_bytes();
            assert!(bytes <= target, "{shape:?} has {bytes} > {target}");
            assert!(
                target - bytes <= 4 * shape.hidden as u64 * BF16_BYTES,
                "{shape:?} has {bytes}, far below {target}"
            );
            let listed: u64 = shape.tensors().iter().map(TensorSpec::bytes).sum();
            assert_eq!(listed, bytes);
        }
    }

    #[test]
    fn small_models_have_tensors_over_a_mebibyte() {
        let shape = ModelShape::for_bytes(8_000_000);
        assert!(shape.layers >= 2);
        let big = shape
            .tensors()
            .iter()
            .filter(|t| t.bytes() > 2 * 1024 * 1024)
            .count();
        assert!(big >= 2, "{shape:?}");
    }

    #[test]
    fn tiny_targets_still_make_a_model() {
        let shape = ModelShape::for_bytes(1000);
        assert_eq!(shape.layers, 1);
        assert!(shape.vocab >= 8);
    }
}
