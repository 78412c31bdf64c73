//! Workload shapes and element types, with the bounds every other module relies on.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Largest accepted matrix dimension. Bounds every allocation made from an
/// untrusted shape (a 4096×4096 int32 matrix is 64 MiB).
pub const MAX_DIM: u32 = 4096;

/// Bits of a field element we fill when packing entries (BN254 Fr has 254).
pub const PACK_BITS: u32 = 248;

/// Element type of the input matrices, as in quantized AI workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    Int8,
    Int16,
    Int32,
}

impl Dtype {
    pub const ALL: [Dtype; 3] = [Dtype::Int8, Dtype::Int16, Dtype::Int32];

    /// Width in bits of one entry.
    pub fn bits(self) -> u32 {
        match self {
            Dtype::Int8 => 8,
            Dtype::Int16 => 16,
            Dtype::Int32 => 32,
        }
    }

    pub fn min(self) -> i64 {
        -(1i64 << (self.bits() - 1))
    }

    pub fn max(self) -> i64 {
        (1i64 << (self.bits() - 1)) - 1
    }

    /// Stable one-byte code used in file headers, bundles and transcripts.
    pub fn code(self) -> u8 {
        match self {
            Dtype::Int8 => 1,
            Dtype::Int16 => 2,
            Dtype::Int32 => 3,
        }
    }

    pub fn from_code(code: u8) -> Result<Self, Error> {
        Dtype::ALL
            .into_iter()
            .find(|d| d.code() == code)
            .ok_or_else(|| Error::Format(format!("unknown element type code {code}")))
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "int{}", self.bits())
    }
}

impl FromStr for Dtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "int8" | "i8" => Ok(Dtype::Int8),
            "int16" | "i16" => Ok(Dtype::Int16),
            "int32" | "i32" => Ok(Dtype::Int32),
            _ => Err(Error::Format(format!("unknown element type {s:?} (expected int8, int16 or int32)"))),
        }
    }
}

/// Shape of a matmul job: C (m×n) = A (m×k) · B (k×n), entries of `dtype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    pub m: u32,
    pub k: u32,
    pub n: u32,
    pub dtype: Dtype,
}

impl Shape {
    /// A validated shape; every constructor path goes through here.
    pub fn new(m: u32, k: u32, n: u32, dtype: Dtype) -> Result<Self, Error> {
        let s = Shape { m, k, n, dtype };
        s.validate()?;
        Ok(s)
    }

    pub fn square(n: u32, dtype: Dtype) -> Result<Self, Error> {
        Shape::new(n, n, n, dtype)
    }

    /// Checks the bounds (also needed after deserializing a shape from untrusted input).
    pub fn validate(&self) -> Result<(), Error> {
        for (name, d) in [("m", self.m), ("k", self.k), ("n", self.n)] {
            if d == 0 || d > MAX_DIM {
                return Err(Error::Shape(format!("{name} = {d} is outside 1..={MAX_DIM}")));
            }
        }
        Ok(())
    }

    /// Largest |C entry| = k · max|a| · max|b| (the most negative value squared).
    pub fn max_abs_output(&self) -> u128 {
        let m = 1u128 << (self.dtype.bits() - 1);
        self.k as u128 * m * m
    }

    /// Bits of the offset (non-negative) encoding of a C entry: values lie in
    /// [-max, max], encoded as c + 2^(w-1) in [0, 2^w).
    pub fn output_bits(&self) -> u32 {
        let max = self.max_abs_output();
        (128 - max.leading_zeros()) + 1
    }

    /// Entries of A or B packed into one field element for the commitment.
    pub fn input_per_pack(&self) -> usize {
        (PACK_BITS / self.dtype.bits()) as usize
    }

    /// Entries of C packed into one field element for the commitment.
    pub fn output_per_pack(&self) -> usize {
        (PACK_BITS / self.output_bits()) as usize
    }

    /// Multiply-accumulates of the workload (m·k·n).
    pub fn macs(&self) -> u64 {
        self.m as u64 * self.k as u64 * self.n as u64
    }

    /// Stable identifier, used in key file names: `64x64x64-int8`.
    pub fn id(&self) -> String {
        format!("{}x{}x{}-{}", self.m, self.k, self.n, self.dtype)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×{}×{} {}", self.m, self.k, self.n, self.dtype)
    }
}

/// Parses `MxKxN` (or a single `N` for a square job) with the given dtype.
pub fn parse_dims(s: &str) -> Result<(u32, u32, u32), Error> {
    let parts: Vec<&str> = s.split(['x', 'X', '×']).collect();
    let num = |p: &str| {
        p.trim()
            .parse::<u32>()
            .map_err(|_| Error::Shape(format!("bad dimension {p:?} in {s:?} (expected MxKxN, e.g. 64x64x64)")))
    };
    match parts.as_slice() {
        [n] => {
            let n = num(n)?;
            Ok((n, n, n))
        }
        [m, k, n] => Ok((num(m)?, num(k)?, num(n)?)),
        _ => Err(Error::Shape(format!("bad shape {s:?} (expected MxKxN, e.g. 64x64x64)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_bits_cover_extremes() {
        for dtype in Dtype::ALL {
            for k in [1u32, 2, 3, 64, 100, 4096] {
                let s = Shape::new(1, k, 1, dtype).unwrap();
                let w = s.output_bits();
                let max = s.max_abs_output() as i128;
                let off = 1i128 << (w - 1);
                assert!(-max + off >= 0 && max + off < (1i128 << w), "{s} w={w}");
                assert!(s.output_per_pack() >= 1);
            }
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(Shape::new(0, 1, 1, Dtype::Int8).is_err());
        assert!(Shape::new(1, MAX_DIM + 1, 1, Dtype::Int8).is_err());
        assert_eq!(parse_dims("2x3x4").unwrap(), (2, 3, 4));
        assert_eq!(parse_dims("8").unwrap(), (8, 8, 8));
        assert!(parse_dims("2x3").is_err());
    }
}
