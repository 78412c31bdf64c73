//! The commitment encoding of `veriflop-circuits` (`commit.rs`) in halo2's field:
//! offset entries u = x + 2^(w−1), ⌊248/w⌋ of them packed little-endian per
//! field element, hashed after the header (tag, rows, cols, dtype code).
//! The circuit reproduces these values cell by cell; tests check the result
//! equals `commit_input` / `commit_output`.

use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::{Field, PrimeField};
use veriflop_circuits::commit::{self, Role};
use veriflop_circuits::Shape;

use crate::field::{from_ark, from_i128};
use crate::poseidon;

/// How one matrix is encoded for its commitment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    pub role: Role,
    pub rows: usize,
    pub cols: usize,
    /// Bits per offset entry.
    pub width: u32,
    /// Entries per pack.
    pub per_pack: usize,
}

impl Encoding {
    pub fn new(shape: &Shape, role: Role) -> Self {
        let (rows, cols) = commit::dims(shape, role);
        let (width, per_pack) = commit::layout(shape, role);
        Encoding { role, rows: rows as usize, cols: cols as usize, width, per_pack }
    }

    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    pub fn packs(&self) -> usize {
        self.len().div_ceil(self.per_pack)
    }

    /// The offset 2^(w−1) subtracted from u to get the signed entry.
    pub fn offset(&self) -> Fr {
        Fr::from(2u64).pow_vartime([(self.width - 1) as u64])
    }

    /// 2^w, the base of the little-endian packing.
    pub fn base(&self) -> Fr {
        Fr::from(2u64).pow_vartime([self.width as u64])
    }

    /// Elements hashed before the packs.
    pub fn header(&self, shape: &Shape) -> [Fr; 4] {
        commit::header(shape, self.role).map(|x| from_ark(&x))
    }

    /// Offset entries u = x + 2^(w−1), row-major.
    pub fn offset_entries(&self, values: &[i128]) -> Vec<Fr> {
        let off = self.offset();
        values.iter().map(|&v| from_i128(v) + off).collect()
    }

    /// The packs of offset entries, little-endian within each pack.
    pub fn packs_of(&self, u: &[Fr]) -> Vec<Fr> {
        let base = self.base();
        u.chunks(self.per_pack).map(|c| c.iter().rev().fold(Fr::ZERO, |acc, &x| acc * base + x)).collect()
    }

    /// The commitment (the same value as `veriflop_circuits::commit`).
    pub fn commit(&self, shape: &Shape, values: &[i128]) -> Fr {
        let mut elements = self.header(shape).to_vec();
        elements.extend(self.packs_of(&self.offset_entries(values)));
        poseidon::hash(&elements)
    }
}

/// Bytes of the offset entry u (little-endian, `width / 8` of them): the
/// range check looks each one up in a byte table.
pub fn limbs(u: &Fr, width: u32) -> Vec<Fr> {
    let repr = u.to_repr();
    repr[..(width / 8) as usize].iter().map(|&b| Fr::from(b as u64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use veriflop_circuits::execute::matmul;
    use veriflop_circuits::{Dtype, InputMatrix};

    #[test]
    fn native_encoding_matches_veriflop_circuits() {
        for (m, k, n, dtype) in
            [(2, 3, 4, Dtype::Int8), (5, 40, 3, Dtype::Int8), (3, 17, 2, Dtype::Int16), (2, 9, 3, Dtype::Int32)]
        {
            let shape = Shape::new(m, k, n, dtype).unwrap();
            let a = InputMatrix::random(m as usize, k as usize, dtype, 1).unwrap();
            let b = InputMatrix::random(k as usize, n as usize, dtype, 2).unwrap();
            let c = matmul(&shape, &a, &b).unwrap();
            let wide = |x: &InputMatrix| x.data.iter().map(|&v| v as i128).collect::<Vec<_>>();
            let cm_a = Encoding::new(&shape, Role::A).commit(&shape, &wide(&a));
            let cm_b = Encoding::new(&shape, Role::B).commit(&shape, &wide(&b));
            let cm_c = Encoding::new(&shape, Role::C).commit(&shape, &c.data);
            assert_eq!(cm_a, from_ark(&commit::commit_input(&shape, Role::A, &a)), "{shape}");
            assert_eq!(cm_b, from_ark(&commit::commit_input(&shape, Role::B, &b)), "{shape}");
            assert_eq!(cm_c, from_ark(&commit::commit_output(&shape, &c)), "{shape}");
        }
    }

    #[test]
    fn limbs_recompose() {
        let u = Fr::from(0xA1B2C3D4u64);
        let l = limbs(&u, 32);
        let back = l.iter().rev().fold(Fr::ZERO, |acc, &x| acc * Fr::from(256u64) + x);
        assert_eq!(back, u);
    }
}
