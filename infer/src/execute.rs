//! The native executor: the exact reference every proof is checked against.

use rayon::prelude::*;

use crate::model::Model;
use crate::Error;

/// Every intermediate value of one run: what a prover commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    pub batch: usize,
    /// `activations[0]` is the input, `activations[ℓ + 1]` layer ℓ's output
    /// (batch × width, row-major).
    pub activations: Vec<Vec<i8>>,
    /// `accumulators[ℓ]`: layer ℓ's `x·W + b` before requantization.
    pub accumulators: Vec<Vec<i32>>,
}

impl Trace {
    pub fn output(&self) -> &[i8] {
        self.activations.last().expect("a trace has its input")
    }
}

/// Largest batch a job may carry.
pub const MAX_BATCH: usize = 1 << 16;

/// Runs `model` on `input` (batch × d_in, row-major).
pub fn run(model: &Model, batch: usize, input: &[i8]) -> Result<Trace, Error> {
    model.validate()?;
    if batch == 0 || batch > MAX_BATCH || input.len() != batch * model.d_in() {
        return Err(Error::Shape(format!(
            "{} input values for a batch of {batch} × {} (batch at most {MAX_BATCH})",
            input.len(),
            model.d_in()
        )));
    }
    let mut activations = vec![input.to_vec()];
    let mut accumulators = Vec::with_capacity(model.layers.len());
    for layer in &model.layers {
        let x = activations.last().expect("the input is there");
        let acc: Vec<i32> = x
            .par_chunks_exact(layer.d_in)
            .flat_map_iter(|row| {
                // Model::validate bounds every accumulator within int32.
                let mut out = layer.bias.clone();
                for (&xl, wrow) in row.iter().zip(layer.weights.chunks_exact(layer.d_out)) {
                    if xl != 0 {
                        for (o, &w) in out.iter_mut().zip(wrow) {
                            *o += xl as i32 * w as i32;
                        }
                    }
                }
                out
            })
            .collect();
        let y = acc.iter().map(|&a| layer.requant.apply(a)).collect();
        accumulators.push(acc);
        activations.push(y);
    }
    Ok(Trace { batch, activations, accumulators })
}
