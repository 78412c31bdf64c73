//! C = A·B computed product by product: m·k·n constraints. The reference circuit.

use ark_bn254::Fr;
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSystemRef, SynthesisError};

use super::{mul, Val};
use crate::shape::Shape;

/// The entries of A·B as linear combinations of the products (row-major).
pub(crate) fn product(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    a: &[Val],
    b: &[Val],
) -> Result<Vec<Val>, SynthesisError> {
    let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
    let mut c = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut acc = Val { lc: lc!(), value: Some(Fr::from(0u64)) };
            for l in 0..k {
                acc.add(&mul(cs, &a[i * k + l], &b[l * n + j])?);
            }
            c.push(acc);
        }
    }
    Ok(c)
}
