//! The commit-and-prove circuit ([`super::CircuitKind::Committed`]) as an
//! explicit R1CS: [`Layout`] fixes every variable's index and every row, so the
//! prover can compute the witness and the QAP evaluations straight from A, B, C
//! and r, and the setup can evaluate the QAP polynomials without synthesizing
//! (see `veriflop_prover::committed`). [`synthesize`] feeds the same rows to an
//! arkworks constraint system, the reference the tests compare against.
//!
//! Variables, in order:
//! - inputs: 1, job_id, provider, r, then the entries of A (m×k), B (k×n), C (m×n),
//!   row-major. This fixes the key's IC layout (`cp::ic_ranges`). No verifier
//!   sees the entries: it only needs Σ x_i·IC_i over them, which is the sum of the
//!   data commitments ([`crate::cp`]);
//! - *scalar* witnesses (full-width values, O(m + n + k) of them): r², …, r^(n−1),
//!   s = r^n, y_l = Σ_j B_lj·r^j (l < k), and the Horner accumulators acc_1..acc_(m−1);
//! - *product* witnesses, grouped so that each group shares one full-width factor:
//!   for each column l of A, p_il = A_il·y_l (i < m); for each j in 1..n, first
//!   q_lj = B_lj·r^j (l < k), then q'_ij = C_ij·r^j (i < m).
//!
//! Rows, in order (mk + kn + mn + max(n − 1, 1) of them, plus fewer than
//! [`Layout::block`] padding rows):
//! - powers: r^j = r^(j−1)·r for 2 ≤ j < n, and s = r^(n−1)·r; then padding
//!   rows 0·r = 0 up to a multiple of the block;
//! - y: 0·0 = B_l0 + Σ_(j≥1) q_lj − y_l (linear);
//! - products: A_il·y_l = p_il, B_lj·r^j = q_lj, C_ij·r^j = q'_ij;
//! - Horner, for i < m: acc_(i+1)·s = acc_i − d_i with d_i = Σ_l p_il − C_i0 − Σ_(j≥1) q'_ij,
//!   acc_0 = acc_m = 0: together Σ_i s^i·d_i = 0, Freivalds' check sᵀ(A·B − C)r⃗ = 0.
//!
//! Two properties the prover and the key format rely on (test
//! `layout_puts_products_in_c_only`): product witnesses appear only in C
//! combinations, so their A- and B-query points are the identity; entries appear
//! only in A or C combinations, so they have no B-query points. Every entry is the
//! only entry in some row (its product row, or for B_l0 and C_i0 its y or Horner
//! row), so the entries' QAP polynomials are independent without the extra rows
//! the libsnark reduction adds for inputs; those rows are kept only for the four
//! scalar inputs (docs/PROTOCOL.md §12.1).
//!
//! **Blocks.** Every row's B combination is one variable (r, y_l, r^j, s) or
//! nothing, and it is the same across runs of rows whose lengths are multiples
//! of m and k: the powers (padded), the y rows, each column of p, each column j
//! of q and q', Horner's rows. With T = [`Layout::block`] (a power of two that
//! divides m and k), B's evaluation is constant on every aligned block of T rows.
//! [`Layout::qap_index`] puts block β on the coset ω^β·⟨ω^(N/T)⟩ of H, so B(X)
//! is a polynomial in X^T and its evaluations on the coset g·H follow from an NTT
//! of N/T points instead of two of N (the prover's `qap::quotient_on_coset`).

use ark_bn254::Fr;
use ark_ff::{One, Zero};
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};

use super::{fr_from_i128, Witness};
use crate::cp::SCALAR_INPUTS;
use crate::shape::Shape;

/// One R1CS row: ⟨a, z⟩·⟨b, z⟩ = ⟨c, z⟩ over (coefficient, variable index) terms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub a: Vec<(Fr, usize)>,
    pub b: Vec<(Fr, usize)>,
    pub c: Vec<(Fr, usize)>,
}

/// Variable indices and row offsets of the committed circuit for one shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// Rows per block on which B is constant (see the module doc).
    pub block: usize,
}

/// The largest NTT domain: 2^28 points (BN254's Fr has two-adicity 28).
const MAX_DOMAIN: usize = 1 << 28;

/// Index of the variable r (the Freivalds challenge).
pub const R: usize = 3;
/// Inputs before the entries: 1, job_id, provider, r.
pub const SCALAR_VARS: usize = 1 + SCALAR_INPUTS;

impl Layout {
    pub fn new(shape: &Shape) -> Self {
        let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
        // The largest power of two dividing m and k whose padding keeps the
        // domain the size the unpadded rows need.
        let unpadded = Layout { m, k, n, block: 1 };
        let size = unpadded.num_rows().next_power_of_two();
        let mut block = 1usize << (m.trailing_zeros().min(k.trailing_zeros()));
        while block > 1 && (Layout { m, k, n, block }).num_rows() > size {
            block /= 2;
        }
        Layout { m, k, n, block }
    }

    /// |H|: the QAP domain's size, the smallest power of two that holds the
    /// rows; None beyond the largest NTT domain.
    pub fn domain_size(&self) -> Option<usize> {
        Some(self.num_rows().next_power_of_two()).filter(|&s| s <= MAX_DOMAIN)
    }

    /// Index in H (ω^index) of row `row`, for |H| = `size`: row β·T + u goes to
    /// β + u·(size/T), so the rows of block β are the coset ω^β·⟨ω^(size/T)⟩.
    pub fn qap_index(&self, row: usize, size: usize) -> usize {
        (row / self.block) + (row % self.block) * (size / self.block)
    }

    // Inputs.
    pub fn a_entry(&self, i: usize, l: usize) -> usize {
        SCALAR_VARS + i * self.k + l
    }
    pub fn b_entry(&self, l: usize, j: usize) -> usize {
        SCALAR_VARS + self.m * self.k + l * self.n + j
    }
    pub fn c_entry(&self, i: usize, j: usize) -> usize {
        SCALAR_VARS + self.m * self.k + self.k * self.n + i * self.n + j
    }
    pub fn num_inputs(&self) -> usize {
        SCALAR_VARS + self.m * self.k + self.k * self.n + self.m * self.n
    }

    // Scalar witnesses.
    /// r² .. r^(n−1).
    fn num_powers(&self) -> usize {
        self.n.saturating_sub(2)
    }
    /// The variable holding r^j (1 for j = 0, the input r for j = 1).
    pub fn power(&self, j: usize) -> usize {
        match j {
            0 => 0,
            1 => R,
            _ => self.num_inputs() + j - 2,
        }
    }
    pub fn s(&self) -> usize {
        self.num_inputs() + self.num_powers()
    }
    pub fn y(&self, l: usize) -> usize {
        self.s() + 1 + l
    }
    /// acc_i for 1 ≤ i < m.
    pub fn acc(&self, i: usize) -> usize {
        self.s() + 1 + self.k + i - 1
    }
    /// First witness and number of scalar witnesses (they come first).
    pub fn scalar_witnesses(&self) -> std::ops::Range<usize> {
        let start = self.num_inputs();
        start..start + self.num_powers() + 1 + self.k + self.m - 1
    }

    // Product witnesses.
    fn products_start(&self) -> usize {
        self.scalar_witnesses().end
    }
    pub fn p(&self, i: usize, l: usize) -> usize {
        self.products_start() + l * self.m + i
    }
    /// Start of group j ≥ 1: q_·j then q'_·j.
    fn q_group(&self, j: usize) -> usize {
        self.products_start() + self.m * self.k + (j - 1) * (self.k + self.m)
    }
    pub fn q(&self, l: usize, j: usize) -> usize {
        self.q_group(j) + l
    }
    pub fn q_c(&self, i: usize, j: usize) -> usize {
        self.q_group(j) + self.k + i
    }
    pub fn num_products(&self) -> usize {
        self.m * self.k + (self.n - 1) * (self.k + self.m)
    }
    pub fn num_variables(&self) -> usize {
        self.products_start() + self.num_products()
    }

    // Rows.
    pub fn num_power_rows(&self) -> usize {
        self.num_powers() + 1
    }
    /// The power rows and their padding: a whole number of blocks.
    fn power_block_rows(&self) -> usize {
        self.num_power_rows().next_multiple_of(self.block)
    }
    pub fn y_row(&self, l: usize) -> usize {
        self.power_block_rows() + l
    }
    pub fn p_row(&self, i: usize, l: usize) -> usize {
        self.power_block_rows() + self.k + l * self.m + i
    }
    pub fn q_row(&self, l: usize, j: usize) -> usize {
        self.power_block_rows() + self.k + self.m * self.k + (j - 1) * (self.k + self.m) + l
    }
    pub fn q_c_row(&self, i: usize, j: usize) -> usize {
        self.q_row(0, j) + self.k + i
    }
    pub fn horner_row(&self, i: usize) -> usize {
        self.power_block_rows() + self.k + self.num_products() + i
    }
    pub fn num_constraints(&self) -> usize {
        self.horner_row(self.m)
    }
    /// QAP rows: the constraints, then one row per scalar input (A-row = x_i).
    pub fn num_rows(&self) -> usize {
        self.num_constraints() + SCALAR_VARS
    }

    /// Every row in order, constraints then the scalar inputs' rows.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::with_capacity(self.num_rows());
        self.for_each_row(|row| rows.push(row));
        rows
    }

    /// Calls `f` with every row in order (no list of millions of rows in memory).
    pub fn for_each_row(&self, mut f: impl FnMut(Row)) {
        let (m, k, n) = (self.m, self.k, self.n);
        let one = Fr::one();
        let t = |v: usize| vec![(one, v)];
        for j in 2..n {
            f(Row { a: t(self.power(j - 1)), b: t(R), c: t(self.power(j)) });
        }
        f(Row { a: t(self.power(n - 1)), b: t(R), c: t(self.s()) });
        for _ in self.num_power_rows()..self.power_block_rows() {
            f(Row { a: vec![], b: t(R), c: vec![] });
        }
        for l in 0..k {
            let mut c = t(self.b_entry(l, 0));
            c.extend((1..n).map(|j| (one, self.q(l, j))));
            c.push((-one, self.y(l)));
            f(Row { a: vec![], b: vec![], c });
        }
        for l in 0..k {
            for i in 0..m {
                f(Row { a: t(self.a_entry(i, l)), b: t(self.y(l)), c: t(self.p(i, l)) });
            }
        }
        for j in 1..n {
            for l in 0..k {
                f(Row { a: t(self.b_entry(l, j)), b: t(self.power(j)), c: t(self.q(l, j)) });
            }
            for i in 0..m {
                f(Row { a: t(self.c_entry(i, j)), b: t(self.power(j)), c: t(self.q_c(i, j)) });
            }
        }
        for i in 0..m {
            // acc_i − d_i = acc_i − Σ_l p_il + C_i0 + Σ_(j≥1) q'_ij
            let mut c = if i > 0 { t(self.acc(i)) } else { vec![] };
            c.extend((0..k).map(|l| (-one, self.p(i, l))));
            c.push((one, self.c_entry(i, 0)));
            c.extend((1..n).map(|j| (one, self.q_c(i, j))));
            let a = if i + 1 < m { t(self.acc(i + 1)) } else { vec![] };
            f(Row { a, b: t(self.s()), c });
        }
        for v in 0..SCALAR_VARS {
            f(Row { a: t(v), b: vec![], c: vec![] });
        }
    }

    /// The full assignment z (1, inputs, witnesses) for a witness and challenge r;
    /// reference for tests and for [`synthesize`] (the prover never builds it).
    pub fn assignment(&self, w: &Witness, r: Fr) -> Vec<Fr> {
        let (m, k, n) = (self.m, self.k, self.n);
        let mut z = vec![Fr::zero(); self.num_variables()];
        z[0] = Fr::one();
        z[1] = w.job_id;
        z[2] = w.provider.to_fr();
        z[R] = r;
        let a = |i: usize, l: usize| Fr::from(w.a.data[i * k + l] as i64);
        let b = |l: usize, j: usize| Fr::from(w.b.data[l * n + j] as i64);
        let c = |i: usize, j: usize| fr_from_i128(w.c.data[i * n + j]);
        let rp: Vec<Fr> = std::iter::successors(Some(Fr::one()), |p| Some(*p * r)).take(n + 1).collect();
        for i in 0..m {
            for l in 0..k {
                z[self.a_entry(i, l)] = a(i, l);
            }
            for j in 0..n {
                z[self.c_entry(i, j)] = c(i, j);
            }
        }
        for l in 0..k {
            for j in 0..n {
                z[self.b_entry(l, j)] = b(l, j);
            }
        }
        for (j, p) in rp.iter().enumerate().take(n).skip(2) {
            z[self.power(j)] = *p;
        }
        let s = rp[n];
        z[self.s()] = s;
        let y: Vec<Fr> = (0..k).map(|l| (0..n).map(|j| b(l, j) * rp[j]).sum()).collect();
        for l in 0..k {
            z[self.y(l)] = y[l];
            for i in 0..m {
                z[self.p(i, l)] = a(i, l) * y[l];
            }
        }
        for j in 1..n {
            for l in 0..k {
                z[self.q(l, j)] = b(l, j) * rp[j];
            }
            for i in 0..m {
                z[self.q_c(i, j)] = c(i, j) * rp[j];
            }
        }
        let d = |i: usize| -> Fr {
            let ay: Fr = (0..k).map(|l| a(i, l) * y[l]).sum();
            let cr: Fr = (0..n).map(|j| c(i, j) * rp[j]).sum();
            ay - cr
        };
        let mut acc = Fr::zero(); // acc_m
        for i in (1..m).rev() {
            acc = d(i) + s * acc;
            z[self.acc(i)] = acc;
        }
        z
    }
}

/// Synthesizes [`Layout::rows`] into an arkworks constraint system (the
/// reference the tests check the prover's own evaluation against).
pub(crate) fn synthesize(
    cs: &ConstraintSystemRef<Fr>,
    shape: &Shape,
    w: Option<(&Witness, Fr)>,
) -> Result<(), SynthesisError> {
    let layout = Layout::new(shape);
    if let Some((w, _)) = w {
        let (m, k, n) = (layout.m, layout.k, layout.n);
        if w.a.data.len() != m * k || w.b.data.len() != k * n || w.c.data.len() != m * n {
            return Err(SynthesisError::Unsatisfiable);
        }
    }
    let z = w.map(|(w, r)| layout.assignment(w, r));
    let value = |i: usize| z.as_ref().map(|z| z[i]).ok_or(SynthesisError::AssignmentMissing);
    let mut vars = vec![Variable::One];
    for i in 1..layout.num_inputs() {
        vars.push(cs.new_input_variable(|| value(i))?);
    }
    for i in layout.num_inputs()..layout.num_variables() {
        vars.push(cs.new_witness_variable(|| value(i))?);
    }
    let lc = |terms: &[(Fr, usize)]| -> LinearCombination<Fr> {
        terms.iter().fold(lc!(), |acc, &(coeff, v)| acc + (coeff, vars[v]))
    };
    for row in layout.rows().iter().take(layout.num_constraints()) {
        cs.enforce_constraint(lc(&row.a), lc(&row.b), lc(&row.c))?;
    }
    Ok(())
}
