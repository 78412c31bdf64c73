//! Native reference execution: the exact integer product C = A·B.

use rayon::prelude::*;

use crate::matrix::{InputMatrix, Matrix, OutputMatrix};
use crate::shape::Shape;
use crate::Error;

/// Checks that A and B have the job's shape and element type.
pub fn check_inputs(shape: &Shape, a: &InputMatrix, b: &InputMatrix) -> Result<(), Error> {
    shape.validate()?;
    let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
    if (a.rows, a.cols) != (m, k) {
        return Err(Error::Shape(format!("A is {}×{}, the job needs {m}×{k}", a.rows, a.cols)));
    }
    if (b.rows, b.cols) != (k, n) {
        return Err(Error::Shape(format!("B is {}×{}, the job needs {k}×{n}", b.rows, b.cols)));
    }
    a.check_dtype(shape.dtype)?;
    b.check_dtype(shape.dtype)
}

/// C = A·B exactly, rows in parallel.
///
/// Overflow is ruled out up front: |C_ij| ≤ k·2^(2b−2) (`Shape::max_abs_output`).
/// For int8/int16 that is below 2^43 for every accepted k, so rows accumulate in
/// i64 (fast); int32 accumulates in i128.
pub fn matmul(shape: &Shape, a: &InputMatrix, b: &InputMatrix) -> Result<OutputMatrix, Error> {
    check_inputs(shape, a, b)?;
    let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
    let max = shape.max_abs_output();
    let mut data = vec![0i128; m * n];
    if max < (1u128 << 62) {
        data.par_chunks_mut(n).enumerate().for_each(|(i, out)| {
            let mut acc = vec![0i64; n];
            for l in 0..k {
                let x = a.data[i * k + l] as i64;
                for (acc, &y) in acc.iter_mut().zip(b.row(l)) {
                    *acc += x * y as i64;
                }
            }
            out.iter_mut().zip(acc).for_each(|(o, v)| *o = v as i128);
        });
    } else if max < (1u128 << 126) {
        data.par_chunks_mut(n).enumerate().for_each(|(i, out)| {
            for l in 0..k {
                let x = a.data[i * k + l] as i128;
                for (o, &y) in out.iter_mut().zip(b.row(l)) {
                    *o += x * y as i128;
                }
            }
        });
    } else {
        return Err(Error::Range(format!("{shape}: |C| may reach {max}, beyond exact i128 accumulation")));
    }
    Matrix::new(m, n, data)
}

/// Textbook triple loop, the independent reference for differential tests.
pub fn matmul_naive(a: &InputMatrix, b: &InputMatrix) -> OutputMatrix {
    let mut data = vec![0i128; a.rows * b.cols];
    for i in 0..a.rows {
        for j in 0..b.cols {
            data[i * b.cols + j] = (0..a.cols).map(|l| a.get(i, l) as i128 * b.get(l, j) as i128).sum();
        }
    }
    Matrix { rows: a.rows, cols: b.cols, data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Dtype;
    use proptest::prelude::*;

    fn dtype() -> impl Strategy<Value = Dtype> {
        prop_oneof![Just(Dtype::Int8), Just(Dtype::Int16), Just(Dtype::Int32)]
    }

    proptest! {
        #[test]
        fn matches_naive(m in 1u32..12, k in 1u32..12, n in 1u32..12, d in dtype(), seed in any::<u64>()) {
            let shape = Shape::new(m, k, n, d).unwrap();
            let a = InputMatrix::random(m as usize, k as usize, d, seed).unwrap();
            let b = InputMatrix::random(k as usize, n as usize, d, seed ^ 1).unwrap();
            prop_assert_eq!(matmul(&shape, &a, &b).unwrap(), matmul_naive(&a, &b));
        }
    }

    #[test]
    fn extreme_values_are_exact() {
        for d in Dtype::ALL {
            let k = 4096u32;
            let shape = Shape::new(1, k, 1, d).unwrap();
            let a = Matrix::new(1, k as usize, vec![d.min() as i32; k as usize]).unwrap();
            let b = Matrix::new(k as usize, 1, vec![d.min() as i32; k as usize]).unwrap();
            let c = matmul(&shape, &a, &b).unwrap();
            assert_eq!(c.data[0] as u128, shape.max_abs_output());
        }
    }

    #[test]
    fn rejects_mismatched_inputs() {
        let shape = Shape::new(2, 3, 4, Dtype::Int8).unwrap();
        let a = InputMatrix::random(2, 3, Dtype::Int8, 1).unwrap();
        let b = InputMatrix::random(3, 4, Dtype::Int16, 2).unwrap();
        assert!(matmul(&shape, &a, &b).is_err(), "int16 data in an int8 job");
        assert!(matmul(&shape, &b, &a).is_err(), "wrong dimensions");
    }
}
