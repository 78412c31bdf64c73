//! Where everything goes: the rows of a shape's circuit, fixed by the shape
//! alone (so prover and keygen agree, and the verifying key pins it).
//!
//! Data columns, from row 0: A, B, C each in *reversed* row-major order (last
//! entry first), then m rows for the Freivalds fold. Reversed order makes both
//! Horner recurrences run forward: the little-endian pack of entries
//! (most significant entry first) and Σ_j r^j·X_ij along a row (j = cols−1 … 0).
//! Poseidon lanes run beside the data columns in the same rows; each of the
//! three hashes goes to the least-loaded lane ([`LANES`]).

use veriflop_circuits::commit::Role;
use veriflop_circuits::Shape;

use crate::encode::Encoding;
use crate::poseidon;

/// Poseidon lanes (column groups) hashing side by side. One: a second lane
/// halves the rows of large shapes but its extra columns and gates push the
/// generated Solidity verifier past EIP-170's 24 KiB code limit (27.9 KB
/// against 21.4 KB with one lane).
pub const LANES: usize = 1;

/// Largest circuit size (log2 of rows) this crate builds or loads an SRS for:
/// 2^22 rows, far above the n = 512 int8 job (k ≈ 20); bounds every allocation
/// made from an SRS file before its points are read.
pub const MAX_K: u32 = 22;

/// Rows of one matrix in the data columns.
#[derive(Clone, Copy, Debug)]
pub struct Block {
    pub enc: Encoding,
    /// First row of the block.
    pub start: usize,
}

impl Block {
    /// Row of entry (i, j).
    pub fn row(&self, i: usize, j: usize) -> usize {
        self.start + self.enc.len() - 1 - (i * self.enc.cols + j)
    }
}

#[derive(Clone, Debug)]
pub struct Layout {
    pub shape: Shape,
    pub a: Block,
    pub b: Block,
    pub c: Block,
    /// First of the m rows folding Σ_i s^i (d_i − w_i).
    pub fold_start: usize,
    /// (lane, first row) of the hashes of A, B, C.
    pub hashes: [(usize, usize); 3],
    /// Rows used (data columns or any lane).
    pub rows: usize,
}

impl Layout {
    pub fn new(shape: &Shape) -> Self {
        let enc = |role| Encoding::new(shape, role);
        let (ea, eb, ec) = (enc(Role::A), enc(Role::B), enc(Role::C));
        let a = Block { enc: ea, start: 0 };
        let b = Block { enc: eb, start: ea.len() };
        let c = Block { enc: ec, start: ea.len() + eb.len() };
        let fold_start = c.start + ec.len();
        let data_rows = fold_start + shape.m as usize;

        let mut used = [0usize; LANES];
        let mut hashes = [(0, 0); 3];
        let sizes = [ea, eb, ec].map(|e| poseidon::rows(4 + e.packs()));
        let mut order = [0usize, 1, 2];
        order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
        for i in order {
            let lane = (0..LANES).min_by_key(|&l| used[l]).unwrap();
            hashes[i] = (lane, used[lane]);
            used[lane] += sizes[i];
        }
        let rows = data_rows.max(*used.iter().max().unwrap()).max(256);
        Layout { shape: *shape, a, b, c, fold_start, hashes, rows }
    }

    /// Smallest k with `rows` usable rows, given the constraint system's
    /// blinding rows (`reserved`).
    pub fn k(&self, reserved: usize) -> u32 {
        let need = self.rows + reserved;
        need.next_power_of_two().trailing_zeros().max(4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veriflop_circuits::Dtype;

    #[test]
    fn blocks_do_not_overlap_and_rows_are_reversed() {
        let shape = Shape::new(2, 3, 4, Dtype::Int8).unwrap();
        let l = Layout::new(&shape);
        assert_eq!((l.a.start, l.b.start, l.c.start, l.fold_start), (0, 6, 18, 26));
        assert_eq!(l.a.row(1, 2), 0);
        assert_eq!(l.a.row(0, 0), 5);
        assert_eq!(l.c.row(0, 0), 25);
        let mut lanes: Vec<_> = l.hashes.to_vec();
        lanes.sort();
        assert!(lanes.windows(2).all(|w| w[0].0 != w[1].0 || w[0].1 < w[1].1));
    }
}
