//! Synthetic BF16 tensor data, made on demand: a [`safetensors::View`] whose bytes are
//! generated when the writer asks for them, so a checkpoint of any size is written with
//! one tensor in memory at a time. Values are deterministic in the tensor's seed and
//! normally distributed like trained weights.

use std::borrow::Cow;
use std::sync::OnceLock;

use safetensors::{Dtype, View};

use super::shape::{Init, BF16_BYTES};

/// Random bytes are drawn in blocks of this size.
const BLOCK: usize = 64 * 1024;

/// One tensor whose bytes are generated from a seed when read.
#[derive(Debug, Clone)]
pub(crate) struct SynthTensor {
    shape: Vec<usize>,
    init: Init,
    seed: [u8; 32],
}

impl SynthTensor {
    pub(crate) fn new(shape: Vec<usize>, init: Init, seed: [u8; 32]) -> Self {
        Self { shape, init, seed }
    }

    fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The tensor's bytes: little-endian BF16 values, each the quantile of 16 random bits
    /// (from BLAKE3's extendable output, keyed by the seed) in the init's distribution.
    fn generate(&self) -> Vec<u8> {
        let table = quantiles(self.init);
        let mut random = blake3::Hasher::new_keyed(&self.seed).finalize_xof();
        let mut out = vec![0u8; self.data_len()];
        let mut block = vec![0u8; BLOCK];
        for chunk in out.chunks_mut(BLOCK) {
            let bits = &mut block[..chunk.len()];
            random.fill(bits);
            for (dst, src) in chunk.chunks_exact_mut(2).zip(bits.chunks_exact(2)) {
                let value = table[usize::from(u16::from_le_bytes([src[0], src[1]]))];
                dst.copy_from_slice(&value.to_le_bytes());
            }
        }
        out
    }
}

impl View for SynthTensor {
    fn dtype(&self) -> Dtype {
        Dtype::BF16
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.generate())
    }

    fn data_len(&self) -> usize {
        self.len() * BF16_BYTES as usize
    }
}

/// For each 16-bit value `k`, the BF16 of the `(k + 0.5) / 65536` quantile of the init's
/// normal distribution: random bits through this table give normally distributed weights.
fn quantiles(init: Init) -> &'static [u16] {
    static WEIGHT: OnceLock<Vec<u16>> = OnceLock::new();
    static NEAR_ONE: OnceLock<Vec<u16>> = OnceLock::new();
    let (cell, mean, std) = match init {
        Init::Weight => (&WEIGHT, 0.0, 0.02),
        Init::NearOne => (&NEAR_ONE, 1.0, 0.05),
    };
    cell.get_or_init(|| {
        (0..=u16::MAX)
            .map(|k| {
                let p = (f64::from(k) + 0.5) / 65536.0;
                to_bf16((mean + std * normal_quantile(p)) as f32)
            })
            .collect()
    })
}

/// The standard normal quantile function (Acklam's rational approximation, relative
/// error below 1.2e-9), for `p` in (0, 1).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Rounds an `f32` to the nearest BF16 (ties to even), as PyTorch does.
fn to_bf16(value: f32) -> u16 {
    let bits = value.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1));
    (rounded >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounding_matches_known_values() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        assert_eq!(to_bf16(-2.0), 0xc000);
        assert_eq!(to_bf16(0.0), 0);
    }

    #[test]
    fn quantiles_are_symmetric_and_ordered() {
        assert!(normal_quantile(0.5).abs() < 1e-12);
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
        assert!((normal_quantile(0.001) + 3.090_232).abs() < 1e-5);
    }

    #[test]
    fn data_is_deterministic_and_sized() {
        let t = SynthTensor::new(vec![3, 5], Init::Weight, [7; 32]);
        let a = t.data();
        assert_eq!(a.len(), t.data_len());
        assert_eq!(a, t.data());
        let other = SynthTensor::new(vec![3, 5], Init::Weight, [8; 32]);
        assert_ne!(a, other.data());
    }

    #[test]
    fn values_look_like_weights() {
        let t = SynthTensor::new(vec![10_000], Init::Weight, [1; 32]);
        let bytes = t.data();
        let values: Vec<f32> = bytes
            .chunks_exact(2)
            .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
            .collect();
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32;
        assert!(mean.abs() < 0.002, "mean {mean}");
        assert!((var.sqrt() - 0.02).abs() < 0.002, "std {}", var.sqrt());
    }
}
