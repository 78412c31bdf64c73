//! A quantized feed-forward network: the layers an inference job runs.

use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};

use crate::requant::Requant;
use crate::Error;

/// A tensor's quantization: real = scale × (q − zero_point).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantParams {
    pub scale: f32,
    pub zero_point: i8,
}

/// One dense layer on int8 activations: `acc = x·W + b` in int32, then
/// [`Requant`] to int8.
///
/// `x` is the raw int8 input (zero point included): the input's zero point is
/// folded into the bias, `b_j = bias_j − zp_x·Σ_l W_lj`, which is the same
/// integer onnxruntime accumulates as `Σ_l (x_l − zp_x)·W_lj + bias_j`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub d_in: usize,
    pub d_out: usize,
    /// d_in × d_out, row-major (column j is output feature j); int8 as bytes in hex.
    #[serde(with = "hex_i8")]
    pub weights: Vec<i8>,
    /// Per output feature, with the input's zero point folded in.
    pub bias: Vec<i32>,
    pub requant: Requant,
}

/// The network: int8 input (batch × d_in) through each layer to int8 output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// How a client quantizes real inputs (outside the proof).
    pub input: QuantParams,
    pub layers: Vec<Layer>,
    /// How a client reads real outputs (outside the proof).
    pub output: QuantParams,
}

/// Largest layer width and depth a model may have (a model file is untrusted input).
pub const MAX_WIDTH: usize = 1 << 16;
pub const MAX_LAYERS: usize = 64;
/// Largest number of weights in one layer.
pub const MAX_LAYER_WEIGHTS: usize = 1 << 26;

impl Layer {
    pub fn weight(&self, l: usize, j: usize) -> i8 {
        self.weights[l * self.d_out + j]
    }

    /// The largest |acc| any int8 input can produce: 128·Σ_l |W_lj| + |b_j|.
    pub fn acc_bound(&self) -> i64 {
        let mut col = vec![0i64; self.d_out];
        for row in self.weights.chunks_exact(self.d_out) {
            for (c, &w) in col.iter_mut().zip(row) {
                *c += (w as i64).abs();
            }
        }
        col.iter().zip(&self.bias).map(|(&c, &b)| 128 * c + (b as i64).abs()).max().unwrap_or(0)
    }
}

impl Model {
    pub fn d_in(&self) -> usize {
        self.layers.first().map_or(0, |l| l.d_in)
    }
    pub fn d_out(&self) -> usize {
        self.layers.last().map_or(0, |l| l.d_out)
    }

    /// Checks sizes, that layers chain, and that no accumulator can leave int32
    /// (so int32 arithmetic is exact, as onnxruntime's must be).
    pub fn validate(&self) -> Result<(), Error> {
        if self.layers.is_empty() || self.layers.len() > MAX_LAYERS {
            return Err(Error::Model(format!("a model has 1 to {MAX_LAYERS} layers, not {}", self.layers.len())));
        }
        for (i, l) in self.layers.iter().enumerate() {
            if l.d_in == 0 || l.d_out == 0 || l.d_in > MAX_WIDTH || l.d_out > MAX_WIDTH {
                return Err(Error::Model(format!("layer {i}: {}×{} is outside 1..={MAX_WIDTH}", l.d_in, l.d_out)));
            }
            if l.d_in * l.d_out > MAX_LAYER_WEIGHTS || l.weights.len() != l.d_in * l.d_out {
                return Err(Error::Model(format!(
                    "layer {i}: {} weights for {}×{} (at most {MAX_LAYER_WEIGHTS})",
                    l.weights.len(),
                    l.d_in,
                    l.d_out
                )));
            }
            if l.bias.len() != l.d_out {
                return Err(Error::Model(format!("layer {i}: {} biases for {} outputs", l.bias.len(), l.d_out)));
            }
            Requant::new(l.requant.scale, l.requant.zero_point, l.requant.lo, l.requant.hi)
                .map_err(|e| Error::Model(format!("layer {i}: {e}")))?;
            if i > 0 && self.layers[i - 1].d_out != l.d_in {
                return Err(Error::Model(format!(
                    "layer {i} takes {} features, layer {} gives {}",
                    l.d_in,
                    i - 1,
                    self.layers[i - 1].d_out
                )));
            }
            let bound = l.acc_bound();
            if bound > i32::MAX as i64 {
                return Err(Error::Model(format!("layer {i}: an accumulator can reach {bound}, beyond int32")));
            }
        }
        Ok(())
    }

    /// keccak256 of the canonical JSON: names a model in files and logs (the
    /// proof binds the model by its commitment, not by this digest).
    pub fn digest(&self) -> [u8; 32] {
        Keccak256::digest(serde_json::to_vec(self).expect("a model serializes")).into()
    }

    /// A multilayer perceptron with random int8 weights and the given widths
    /// (ReLU on all but the last layer), scaled so activations stay spread over
    /// int8: what demos, tests and benchmarks prove when no trained model is at hand.
    pub fn random_mlp(widths: &[usize], seed: u64) -> Model {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, d)| {
                let (k, n) = (d[0], d[1]);
                // ReLU layers as onnxruntime's tooling quantizes them: zero point −128.
                let relu = i + 2 < widths.len();
                let scale = 1.0 / (40.0 * (k as f32).sqrt() * 8.0);
                Layer {
                    d_in: k,
                    d_out: n,
                    weights: (0..k * n).map(|_| rng.gen_range(-40..=40)).collect(),
                    bias: (0..n).map(|_| rng.gen_range(-2000..2000)).collect(),
                    requant: Requant::new(scale, if relu { -128 } else { 0 }, -128, 127)
                        .expect("a valid requantization"),
                }
            })
            .collect();
        let q = QuantParams { scale: 1.0 / 64.0, zero_point: 0 };
        Model { input: q, layers, output: q }
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let m: Model = serde_json::from_slice(bytes).map_err(|e| Error::Model(format!("model file: {e}")))?;
        m.validate()?;
        Ok(m)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a model serializes")
    }
}

/// int8 vectors as hex of their two's-complement bytes: compact and exact.
mod hex_i8 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[i8], s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = v.iter().map(|&x| x as u8).collect();
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i8>, D::Error> {
        let s = String::deserialize(d)?;
        let b = hex::decode(s).map_err(serde::de::Error::custom)?;
        Ok(b.into_iter().map(|x| x as i8).collect())
    }
}
