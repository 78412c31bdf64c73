//! The inference relation as R1CS: per-layer Freivalds checks plus
//! requantization by lookups (logUp), given the challenges.
//!
//! The model is part of the circuit: its weights and biases are constants of
//! the R1CS (a model's keys are its own, as a shape's are), so a product by a
//! weight is free. For a model with layers ℓ (batch m, widths k_ℓ → n_ℓ), the
//! relation holds when, for every layer,
//!
//! 1. **matmul**: a *dense* layer ([`dense_layers`]) has no accumulator of
//!    its own: its lookups read `acc_ij = Σ_l W_lj·X_il + b_j`, a linear
//!    combination of the committed X with the weights as constants, so the
//!    matmul costs no row and no witness at all. The others commit Acc and
//!    check `sᵀ(X_ℓ·W_ℓ + 1·b_ℓᵀ − Acc_ℓ)r⃗ = 0` with `r⃗ = (1, r, …, r^(n−1))`,
//!    `s = (1, r^n, r^2n, …)`: Freivalds' check, about m·k + m·n products
//!    (`W·r⃗` and `b·r⃗` are linear combinations of the powers of r);
//! 2. **requantization**: for every entry, `X_(ℓ+1) = y(acc)` through the
//!    layer's thresholds ([`crate::requant`]), whose intervals are clipped to
//!    the layer's accumulator bound and cut in chunks `[a, b)` of the model's
//!    limb width 2^b ≤ 2^15 ([`Chunks`], [`limb`]): with `d = acc − a`,
//!    - `y` is in the byte table `[−128, 128)`,
//!    - `d` is in the limb table `[0, 2^b)`,
//!    - `(y + 128) + 2^8·(acc − d + 2^31)` is a row `(v + 128) + 2^8·(a + 2^31)`
//!      of the layer's chunk table.
//!
//!    That needs every chunk to be exactly 2^b wide (they overlap inside an
//!    interval), so every interval at least 2^b long. A layer with a shorter
//!    one has *split* chunks of at most 2^b, and a second limb
//!    `e = b − 1 − acc` in the limb table, packed as `+ 2^41·(acc + e + 1 + 2^31)`
//!    against the row's `+ 2^41·(b + 2^31)`.
//!
//!    The packing is injective once `y`, `d`, `e` and `acc` are small integers:
//!    `y`, `d` and `e` by their tables, `acc` because the matmul check makes it
//!    `x·W + b` over int8 activations (range-checked, or the client's own input)
//!    and the model's weights; every packed value is below 2^74 < p. So
//!    `a ≤ acc < b` inside y's interval, which is `y = requant(acc)` exactly,
//!    ReLU and clamping included;
//! 3. **lookups** (logUp): for each table t, `Σ_i 1/(α − a_i) = Σ_j m_j/(α − t_j)`
//!    over the values looked up in it and the table's rows with multiplicities
//!    m_j; one constraint per lookup and per row.
//!
//! The lookup rows read α through a witness copy (one constraint α·1 = α'),
//! so that every looked-up value is the only public input on its side of its
//! row: each committed value is then pivoted and needs no QAP row of its own
//! ([`crate::qap`]).
//!
//! The challenges r and α are public inputs here. Soundness needs every value
//! they act on (activations, Freivalds accumulators, d and e, multiplicities) fixed
//! before they are drawn: in the job, these are committed and the challenges
//! derived from the commitments, as for the matmul job's committed circuit.

use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, LinearCombination, SynthesisError, Variable};

use crate::execute::Trace;
use crate::model::{Layer, Model};
use crate::requant::{Thresholds, ACC_MIN};

/// The Freivalds and lookup challenges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Challenges {
    pub r: Fr,
    pub alpha: Fr,
}

/// A run's values as the prover assigns them: a [`Trace`] widened, so that a
/// test can also assign what no int8 run produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    pub batch: usize,
    pub activations: Vec<Vec<i64>>,
    pub accumulators: Vec<Vec<i64>>,
    /// `(d, e)` to assign for (layer, entry) instead of the ones computed from
    /// the entry's interval (split in limbs as they are, negative ones too):
    /// how a test plays a prover choosing them freely.
    pub slack: std::collections::HashMap<(usize, usize), (i64, i64)>,
}

impl From<&Trace> for Witness {
    fn from(t: &Trace) -> Self {
        let widen = |v: &Vec<i8>| v.iter().map(|&x| x as i64).collect();
        Witness {
            batch: t.batch,
            activations: t.activations.iter().map(widen).collect(),
            accumulators: t.accumulators.iter().map(|v| v.iter().map(|&x| x as i64).collect()).collect(),
            slack: Default::default(),
        }
    }
}

/// The relation for one model and batch; `witness` is None at setup.
pub struct InferenceCircuit<'a> {
    pub model: &'a Model,
    pub batch: usize,
    pub witness: Option<&'a Witness>,
    pub challenges: Option<Challenges>,
    /// Allocate the values the challenges act on (activations, accumulators,
    /// d, e, multiplicities) as public inputs, in the order of
    /// [`instance_groups`], so that the key's input bases commit to them.
    pub committed: bool,
    /// Which layers are dense ([`dense_layers`]); the model's keys record it
    /// ([`DENSE_BUDGET`], or [`WHOLE_BUDGET`] for a ceremony's, unless a test
    /// chose another).
    pub dense_budget: u64,
    /// The prover's and the setup's matrices: a dense layer's lookups leave
    /// out Σ W·X (b_j stays), so that they do not hold m·k·n weights. The
    /// prover adds it from the run, whose Acc equals Σ W·X + b on every run it
    /// accepts (it checks that natively); the setup adds it to the columns.
    pub hollow: bool,
}

/// How many weight terms (batch × d_in × d_out, summed over layers) dense
/// layers may take in `model setup`'s keys: every layer of the models we
/// serve. The setup adds their terms to the QAP's columns by sums
/// ([`crate::setup`]), about 4 ns each (2^32 of them: some 20 s on 2 cores).
pub const DENSE_BUDGET: u64 = 1 << 32;

/// The budget of keys whose setup synthesizes the whole circuit, weight terms
/// included (a ceremony's `init` and `verify`): they hold every term in memory,
/// about 100 bytes each.
pub const WHOLE_BUDGET: u64 = 1 << 25;

/// Which layers are *dense*: in order, while their batch × d_in × d_out adds
/// up to at most `budget`. A dense layer's matmul is checked exactly, one
/// row per output (`Acc_ij = Σ_l W_lj·X_il + b_j`, a linear combination of the
/// committed X with the model's weights as constants), with no product and no
/// full-width witness; the other layers use Freivalds' check.
pub fn dense_layers(model: &Model, batch: usize, budget: u64) -> Vec<bool> {
    let mut total = 0u64;
    model
        .layers
        .iter()
        .map(|l| {
            total = total.saturating_add((batch * l.d_in * l.d_out) as u64);
            total <= budget
        })
        .collect()
}

/// The highest power of r the circuit computes: the widest Freivalds layer's
/// n (which is s), and at least 2, so that r is pivoted by r·r = r².
pub fn max_power(model: &Model, dense: &[bool]) -> usize {
    model.layers.iter().zip(dense).filter(|(_, d)| !**d).map(|(l, _)| l.d_out).max().unwrap_or(0).max(2)
}

/// A dense layer's Σ_l W_lj·X_il as its chunk lookups read it (on their B
/// side, times −[`acc_coeff`]): what the prover's hollow matrices leave out
/// and the setup adds by sums ([`crate::setup`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fold {
    pub layer: usize,
    /// The row of entry (i, j)'s lookup is `first_row + i·n + j`.
    pub first_row: usize,
    /// The variable of X_il is `x_var + i·k + l` (a public input).
    pub x_var: usize,
    /// Whether the layer's chunks are full-width ([`Chunks::full`]).
    pub full: bool,
}

/// The dense layers' [`Fold`]s in a circuit of `num_constraints` rows: the
/// layer tables are its last rows, in layer order, each its m·n lookups, its
/// rows and its sum; the public inputs are 1, r, α, X_0, then per layer
/// [Acc if Freivalds] X_(ℓ+1) and the limbs ([`instance_groups`]).
pub fn folds(model: &Model, batch: usize, dense_budget: u64, num_constraints: usize) -> Vec<Fold> {
    let m = batch;
    let limb = limb(model);
    let dense = dense_layers(model, m, dense_budget);
    let chunks: Vec<Chunks> = model.layers.iter().map(|l| Chunks::new(l, limb)).collect();
    let mut end = num_constraints;
    let mut first = vec![0; model.layers.len()];
    for (li, l) in model.layers.iter().enumerate().rev() {
        end -= m * l.d_out + chunks[li].rows.len() + 1;
        first[li] = end;
    }
    // Each layer's input X_ℓ: X_0 after 1, r, α; X_(ℓ+1) after layer ℓ's [Acc].
    let mut input = vec![3usize; model.layers.len()];
    let mut var = 3 + m * model.d_in();
    for (li, l) in model.layers.iter().enumerate() {
        let mn = m * l.d_out;
        if !dense[li] {
            var += mn;
        }
        if li + 1 < model.layers.len() {
            input[li + 1] = var;
        }
        var += mn + chunks[li].slacks() * mn;
    }
    (0..model.layers.len())
        .filter(|&li| dense[li])
        .map(|li| Fold { layer: li, first_row: first[li], x_var: input[li], full: chunks[li].full })
        .collect()
}

/// Which commitment a public input after 1, r and α belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// The client's input X_0.
    Input,
    /// Accumulators, hidden activations, d, e, multiplicities: the prover's.
    Hidden,
    /// The output X_L.
    Output,
}

/// The groups of the committed circuit's public inputs after 1, r, α, in order
/// (for the keys' dense-row budget: a dense layer commits no accumulator).
pub fn instance_groups(model: &Model, batch: usize, dense_budget: u64) -> Vec<Group> {
    let m = batch;
    let mut g = vec![Group::Input; m * model.d_in()];
    let last = model.layers.len() - 1;
    let limb = limb(model);
    let dense = dense_layers(model, m, dense_budget);
    let mut rows = 256 + limb as usize;
    for (li, l) in model.layers.iter().enumerate() {
        let n = l.d_out;
        let chunks = Chunks::new(l, limb);
        if !dense[li] {
            g.extend(std::iter::repeat_n(Group::Hidden, m * n));
        }
        g.extend(std::iter::repeat_n(if li == last { Group::Output } else { Group::Hidden }, m * n));
        g.extend(std::iter::repeat_n(Group::Hidden, chunks.slacks() * m * n));
        rows += chunks.rows.len();
    }
    g.extend(std::iter::repeat_n(Group::Hidden, rows));
    g
}

/// The widest limb: d and e stay below 2^15, the packing's digit (§16.3).
const MAX_LIMB_BITS: u32 = 15;

/// The model's limb width 2^b (10 ≤ b ≤ 15): the size of the table d (and e)
/// are looked up in, and the chunks' width. Of the widths, the one that
/// leaves the fewest layers with 4 lookups per output (weighted by their
/// width; see [`Chunks`]), then makes the limb table and the chunk tables
/// smallest together (a narrower limb means a smaller limb table but more
/// chunks), the narrowest on a tie. It depends on the model alone, so that
/// its keys and its prover agree.
pub fn limb(model: &Model) -> i64 {
    (10..=MAX_LIMB_BITS)
        .map(|b| 1i64 << b)
        .min_by_key(|&l| {
            let chunks: Vec<Chunks> = model.layers.iter().map(|x| Chunks::new(x, l)).collect();
            let split: usize = model.layers.iter().zip(&chunks).filter(|(_, c)| !c.full).map(|(x, _)| x.d_out).sum();
            (split, l as usize + chunks.iter().map(|c| c.rows.len()).sum::<usize>())
        })
        .expect("a nonempty range")
}

fn fr(v: i64) -> Fr {
    Fr::from(v)
}

/// What 2^8·acc carries in a lookup's packed value: 2^8 for full-width
/// chunks, 2^8 + 2^41 for split ones (acc is in two digits).
pub fn acc_coeff(full: bool) -> Fr {
    if full {
        fr(1 << 8)
    } else {
        fr(1 << 8) + fr(1i64 << 41)
    }
}

/// A layer's threshold table: each output v's accumulators [T(v), T(v+1)),
/// clipped to what the layer can produce (|acc| ≤ [`Layer::acc_bound`]), cut
/// in chunks [a, b) so that a lookup names y's chunk by its start a and a
/// limb d = acc − a ∈ [0, limb) (PROTOCOL §16.3):
///
/// - **full-width** (`full`): when every interval is at least `limb` long,
///   every chunk is exactly `limb` wide, the last of an interval overlapping
///   the one before it. Then d alone places acc inside y's interval: 3
///   lookups per output (y, d, the chunk), and a row packs (v, a).
/// - **split** otherwise: chunks of at most `limb`, and a second limb
///   e = b − 1 − acc bounds acc from above: 4 lookups, a row packs (v, a, b).
pub struct Chunks {
    /// (v, a, b), by v then a.
    pub rows: Vec<(i64, i64, i64)>,
    pub full: bool,
}

impl Chunks {
    pub fn new(layer: &Layer, limb: i64) -> Self {
        let th: Thresholds = layer.requant.thresholds();
        let bound = layer.acc_bound();
        let intervals: Vec<(i64, i64, i64)> = (layer.requant.lo..=layer.requant.hi)
            .filter_map(|v| th.interval(v).map(|(lo, hi)| (v as i64, lo, hi)))
            .filter(|&(_, lo, hi)| lo.max(-bound) < hi.min(bound + 1))
            .collect();
        let full = intervals.iter().all(|&(_, lo, hi)| hi - lo >= limb);
        let mut rows = Vec::new();
        for (v, lo, hi) in intervals {
            let (mut a, end) = (lo.max(-bound), hi.min(bound + 1));
            while a < end {
                let (start, b) = if full {
                    let start = a.min(hi - limb);
                    (start, start + limb)
                } else {
                    (a, (a + limb).min(end))
                };
                rows.push((v, start, b));
                a = b;
            }
        }
        Chunks { rows, full }
    }

    /// Limbs looked up per output: d, and e for split chunks.
    pub fn slacks(&self) -> usize {
        if self.full {
            1
        } else {
            2
        }
    }

    /// A row's packed value: (v + 128) + 2^8·(a − ACC_MIN), and + 2^41·(b − ACC_MIN) if split.
    pub fn pack(&self, v: i64, a: i64, b: i64) -> i128 {
        let hi = if self.full { 0 } else { (b - ACC_MIN) as i128 };
        pack(v as i128 + 128, (a - ACC_MIN) as i128, hi)
    }

    /// A lookup's packed value for output y, accumulator acc and limbs d, e:
    /// a row's when acc − d = a (and acc + e + 1 = b).
    pub fn key(&self, y: i64, acc: i64, d: i64, e: i64) -> i128 {
        let hi = if self.full { 0 } else { acc as i128 + e as i128 + 1 - ACC_MIN as i128 };
        pack(y as i128 + 128, acc as i128 - d as i128 - ACC_MIN as i128, hi)
    }

    /// The chunk of output `y` holding `acc`, if any (with overlapping chunks,
    /// the last starting at or below acc: it ends last).
    pub fn find(&self, y: i64, acc: i64) -> Option<(i64, i64)> {
        let i = self.rows.partition_point(|&(v, a, _)| (v, a) <= (y, acc));
        let (v, a, b) = *self.rows.get(i.checked_sub(1)?)?;
        (v == y && a <= acc && acc < b).then_some((a, b))
    }

    /// The honest limbs (d, e) of (y, acc), clamped into [0, limb): for a
    /// wrong y, it is the chunk table that then refuses the entry.
    pub fn slack(&self, y: i64, acc: i64, limb: i64) -> (i64, i64) {
        let honest = self.find(y, acc).map_or((0, 0), |(lo, hi)| (acc - lo, hi - 1 - acc));
        let clamp = |v: i64| v.clamp(0, limb - 1);
        (clamp(honest.0), if self.full { 0 } else { clamp(honest.1) })
    }
}

/// (y + 128) + 2^8·lo + 2^41·hi over the integers (every packed value, honest
/// or not, is far below p/2, so equal integers are equal field elements and
/// conversely).
pub fn pack(yp: i128, lo: i128, hi: i128) -> i128 {
    yp + (lo << 8) + (hi << 41)
}

/// One lookup table: its rows, and the values looked up in it (as linear
/// combinations, with their assigned values when proving).
struct Table {
    rows: Vec<Fr>,
    lookups: Vec<(LinearCombination<Fr>, Option<Fr>)>,
}

impl Table {
    fn new(rows: Vec<Fr>) -> Self {
        Table { rows, lookups: Vec::new() }
    }
}

// Operand sides: B's columns are few (powers of r, W·r⃗, α and the small
// committed values), because B is the prover's G2 MSM, the costliest per
// point; a long linear combination is on the A side (W·r⃗, the logUp sums) or,
// when it sums full-width witnesses that nothing else multiplies (Horner's
// rows of products), on the C side, which puts them in no A column either.
impl ConstraintSynthesizer<Fr> for InferenceCircuit<'_> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let model = self.model;
        let m = self.batch;
        let tr = self.witness;
        if let Some(t) = tr {
            let sizes_ok = t.batch == m
                && t.activations.len() == model.layers.len() + 1
                && t.accumulators.len() == model.layers.len()
                && model.layers.iter().enumerate().all(|(i, l)| {
                    t.activations[i].len() == m * l.d_in
                        && t.activations[i + 1].len() == m * l.d_out
                        && t.accumulators[i].len() == m * l.d_out
                });
            if !sizes_ok {
                return Err(SynthesisError::Unsatisfiable);
            }
        }
        let ch = self.challenges;
        let r_val = ch.map(|c| c.r);
        let r = cs.new_input_variable(|| r_val.ok_or(SynthesisError::AssignmentMissing))?;
        let alpha_val = ch.map(|c| c.alpha);
        let alpha = cs.new_input_variable(|| alpha_val.ok_or(SynthesisError::AssignmentMissing))?;
        let witness = |v: Option<Fr>| cs.new_witness_variable(|| v.ok_or(SynthesisError::AssignmentMissing));
        // α's witness copy, the first witness: the lookup rows use it, so that
        // a looked-up value is the only input on its side (crate::qap).
        let alpha_w = witness(alpha_val)?;
        cs.enforce_constraint(lc!() + alpha, lc!() + Variable::One, lc!() + alpha_w)?;
        let committed = self.committed;
        let data = |v: Option<Fr>| {
            let f = || v.ok_or(SynthesisError::AssignmentMissing);
            if committed {
                cs.new_input_variable(f)
            } else {
                cs.new_witness_variable(f)
            }
        };
        let product = |a: Variable,
                       av: Option<Fr>,
                       b: Variable,
                       bv: Option<Fr>|
         -> Result<(Variable, Option<Fr>), SynthesisError> {
            let v = av.zip(bv).map(|(x, y)| x * y);
            let p = cs.new_witness_variable(|| v.ok_or(SynthesisError::AssignmentMissing))?;
            cs.enforce_constraint(lc!() + a, lc!() + b, lc!() + p)?;
            Ok((p, v))
        };

        // Powers of r up to the widest Freivalds layer's n (n itself is s).
        let dense = dense_layers(model, m, self.dense_budget);
        let max_n = max_power(model, &dense);
        let mut pow: Vec<(Variable, Option<Fr>)> = vec![(Variable::One, Some(Fr::one())), (r, r_val)];
        while pow.len() <= max_n {
            let (last, lv) = *pow.last().expect("nonempty");
            pow.push(product(last, lv, r, r_val)?);
        }

        // The input activations.
        let mut x: Vec<(Variable, Option<Fr>)> = Vec::with_capacity(m * model.d_in());
        for idx in 0..m * model.d_in() {
            let v = tr.map(|t| fr(t.activations[0][idx]));
            x.push((data(v)?, v));
        }

        let mut bytes = Table::new((-128..128).map(fr).collect());
        let limb = limb(model);
        let mut limbs = Table::new((0..limb).map(fr).collect());
        let mut layer_tables = Vec::with_capacity(model.layers.len());

        for (li, layer) in model.layers.iter().enumerate() {
            let (k, n) = (layer.d_in, layer.d_out);
            // Accumulators (a Freivalds layer's, committed; a dense layer has
            // none: its lookups read Σ_l W_lj·X_il + b_j instead) and outputs.
            let acc_vals: Vec<Option<i64>> = (0..m * n).map(|i| tr.map(|t| t.accumulators[li][i])).collect();
            let acc: Vec<Variable> = if dense[li] {
                Vec::new()
            } else {
                acc_vals.iter().map(|v| data(v.map(fr))).collect::<Result<_, _>>()?
            };
            let y_vals: Vec<Option<i64>> = (0..m * n).map(|i| tr.map(|t| t.activations[li + 1][i])).collect();
            let y: Vec<Variable> = y_vals.iter().map(|v| data(v.map(fr))).collect::<Result<_, _>>()?;

            if dense[li] {
                // 1. Dense: no row. The client's input is then on no side
                // alone, so each of its entries is pivoted by a row of its
                // own, X·0 = 0 (crate::qap).
                if li == 0 {
                    for &(xv, _) in &x {
                        cs.enforce_constraint(lc!() + xv, lc!(), lc!())?;
                    }
                }
            } else {
                let s = pow[n];
                // 1. Freivalds. The model is part of the circuit (its keys are the
                // model's), so wr_l = Σ_j W_lj r^j and br = Σ_j b_j r^j are linear
                // combinations of the powers: one constraint each, not k·n products.
                let constant_sum = |coef: &dyn Fn(usize) -> i64| -> (LinearCombination<Fr>, Option<Fr>) {
                    let mut sum = lc!();
                    let mut val = Some(Fr::zero());
                    for (j, &(p, pv)) in pow.iter().enumerate().take(n) {
                        let c = fr(coef(j));
                        sum += (c, p);
                        val = val.zip(pv).map(|(a, b)| a + c * b);
                    }
                    (sum, val)
                };
                let mut wr = Vec::with_capacity(k);
                for l in 0..k {
                    let (sum, val) = constant_sum(&|j| layer.weight(l, j) as i64);
                    let v = witness(val)?;
                    cs.enforce_constraint(sum, lc!() + Variable::One, lc!() + v)?;
                    wr.push((v, val));
                }
                let (bsum, bval) = constant_sum(&|j| layer.bias[j] as i64);
                let bv = witness(bval)?;
                cs.enforce_constraint(bsum, lc!() + Variable::One, lc!() + bv)?;
                let br = lc!() + bv;
                // row_i = Σ_l X_il·wr_l + br − Σ_j Acc_ij r^j, then Σ_i s^i row_i = 0 by Horner:
                // h_m = 0, h_i = row_i + s·h_(i+1), h_0 = 0.
                let mut rows = Vec::with_capacity(m);
                for i in 0..m {
                    let mut row = br.clone();
                    for l in 0..k {
                        let (xv, xval) = x[i * k + l];
                        let (p, _) = product(xv, xval, wr[l].0, wr[l].1)?;
                        row = row + p;
                    }
                    row = row - acc[i * n];
                    for j in 1..n {
                        let (q, _) = product(acc[i * n + j], acc_vals[i * n + j].map(fr), pow[j].0, pow[j].1)?;
                        row = row - q;
                    }
                    rows.push(row);
                }
                // Horner values, computed from the assignment when proving.
                let row_value = |i: usize| -> Option<Fr> {
                    let t = tr?;
                    let rv = r_val?;
                    let mut total = Fr::zero();
                    let mut rj = Fr::one();
                    for j in 0..n {
                        let mut e = fr(layer.bias[j] as i64) - fr(t.accumulators[li][i * n + j]);
                        for l in 0..k {
                            e += fr(t.activations[li][i * k + l]) * fr(layer.weight(l, j) as i64);
                        }
                        total += e * rj;
                        rj *= rv;
                    }
                    Some(total)
                };
                // Horner, one constraint per row: h_(i+1)·s = h_i − row_i, with h_m = 0
                // and h_0 = 0 (so row 0's is h_1·s = −row_0). The row is on the C side:
                // the products, full-width witnesses, are then in no A or B column,
                // and the prover's A MSM skips them.
                let mut h_next: Option<(Variable, Option<Fr>)> = None;
                for i in (0..m).rev() {
                    let (a_side, h_next_val) = match h_next {
                        Some((v, val)) => (lc!() + v, val),
                        None => (lc!(), Some(Fr::zero())),
                    };
                    let hv = row_value(i).zip(s.1.zip(h_next_val)).map(|(rv, (a, b))| rv + a * b);
                    let c_side = if i == 0 {
                        lc!() - rows[0].clone()
                    } else {
                        let h = witness(hv)?;
                        h_next = Some((h, hv));
                        lc!() + h - rows[i].clone()
                    };
                    cs.enforce_constraint(a_side, lc!() + s.0, c_side)?;
                }
            }

            // 2. Requantization lookups.
            let chunks = Chunks::new(layer, limb);
            let mut table = Table::new(chunks.rows.iter().map(|&(v, a, b)| Fr::from(chunks.pack(v, a, b))).collect());
            // The accumulator as the lookups read it: a Freivalds layer's
            // variable, or a dense layer's Σ_l W_lj·X_il + b_j (hollow: b_j
            // alone, the prover adds the rest natively, the setup by sums).
            let acc_lc = |idx: usize| -> LinearCombination<Fr> {
                if !dense[li] {
                    return lc!() + acc[idx];
                }
                let (i, j) = (idx / n, idx % n);
                let mut sum = lc!() + (fr(layer.bias[j] as i64), Variable::One);
                if !self.hollow {
                    for l in 0..k {
                        let w = layer.weight(l, j);
                        if w != 0 {
                            sum += (fr(w as i64), x[i * k + l].0);
                        }
                    }
                }
                sum
            };
            let coeff = acc_coeff(chunks.full);
            for idx in 0..m * n {
                // d = acc − a (and e = b − 1 − acc) for the chunk [a, b) of
                // y's interval holding acc; a test's slack overrides them.
                let de = y_vals[idx].zip(acc_vals[idx]).map(|(yv, a)| {
                    tr.and_then(|t| t.slack.get(&(li, idx)).copied()).unwrap_or_else(|| chunks.slack(yv, a, limb))
                });
                let mut limb_lookup = |v: Option<i64>| -> Result<LinearCombination<Fr>, SynthesisError> {
                    let val = v.map(fr);
                    let var = data(val)?;
                    limbs.lookups.push((lc!() + var, val));
                    Ok(lc!() + var)
                };
                let d = limb_lookup(de.map(|p| p.0))?;
                bytes.lookups.push((lc!() + y[idx], y_vals[idx].map(fr)));
                // (y + 128) + 2^8·(acc − d − ACC_MIN) [+ 2^41·(acc + e + 1 − ACC_MIN)]
                let mut key = lc!() + y[idx] + &(acc_lc(idx) * coeff) + &(d * -fr(1 << 8));
                let mut constant = fr(128) - fr(1 << 8) * fr(ACC_MIN);
                if !chunks.full {
                    let e = limb_lookup(de.map(|p| p.1))?;
                    key = key + &(e * fr(1i64 << 41));
                    constant += fr(1i64 << 41) * fr(1 - ACC_MIN);
                }
                key += (constant, Variable::One);
                let key_val = y_vals[idx]
                    .zip(acc_vals[idx])
                    .zip(de)
                    .map(|((yv, a), (dv, ev))| Fr::from(chunks.key(yv, a, dv, ev)));
                table.lookups.push((key, key_val));
            }
            layer_tables.push(table);
            x = y.into_iter().zip(y_vals).map(|(v, val)| (v, val.map(fr))).collect();
        }

        // 3. logUp, one sum per table.
        for table in std::iter::once(bytes).chain(std::iter::once(limbs)).chain(layer_tables) {
            logup(&cs, alpha_w, alpha_val, table, committed)?;
        }
        Ok(())
    }
}

/// Σ_i 1/(α − a_i) = Σ_j m_j/(α − t_j), with the multiplicities m_j counted
/// from the assignment (values outside the table count nowhere, so the sums
/// differ and the constraint fails).
fn logup(
    cs: &ConstraintSystemRef<Fr>,
    alpha: Variable,
    alpha_val: Option<Fr>,
    table: Table,
    committed: bool,
) -> Result<(), SynthesisError> {
    let witness = |v: Option<Fr>| cs.new_witness_variable(|| v.ok_or(SynthesisError::AssignmentMissing));
    // Multiplicities depend on the looked-up values only: committed before α.
    let known = table.lookups.iter().all(|(_, v)| v.is_some());
    let proving = alpha_val.is_some() && known;
    let mut counts = vec![0u64; table.rows.len()];
    if known {
        let index: std::collections::HashMap<Fr, usize> = table.rows.iter().enumerate().map(|(i, &t)| (t, i)).collect();
        for (_, v) in &table.lookups {
            if let Some(&i) = v.as_ref().and_then(|v| index.get(v)) {
                counts[i] += 1;
            }
        }
    }
    let inv = |den: Option<Fr>, num: Fr| -> Option<Fr> {
        // A looked-up value equal to α has no inverse: any value fails the row.
        den.map(|d| d.inverse().map_or(Fr::zero(), |i| num * i))
    };
    let mut lhs = lc!();
    for (a, v) in table.lookups {
        let den = alpha_val.zip(v).map(|(al, v)| al - v);
        let q = witness(if proving { inv(den, Fr::one()) } else { None })?;
        cs.enforce_constraint(lc!() + q, lc!() + alpha - &a, lc!() + Variable::One)?;
        lhs = lhs + q;
    }
    let mut rhs = lc!();
    for (t, c) in table.rows.iter().zip(counts) {
        let mv = known.then(|| Fr::from(c));
        let mult = if committed {
            cs.new_input_variable(|| mv.ok_or(SynthesisError::AssignmentMissing))?
        } else {
            witness(mv)?
        };
        let den = alpha_val.map(|al| al - t);
        let q = witness(if proving { inv(den, Fr::from(c)) } else { None })?;
        cs.enforce_constraint(lc!() + q, lc!() + alpha - (*t, Variable::One), lc!() + mult)?;
        rhs = rhs + q;
    }
    cs.enforce_constraint(lhs, lc!() + Variable::One, rhs)?;
    Ok(())
}

/// Constraint counts of [`InferenceCircuit`], split as the issue reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cost {
    /// Dense layers: none, but one per input entry when the first layer is
    /// dense (its lookups read Σ W·X). Freivalds layers: W·r⃗ and b·r⃗ (one each), X·(W·r⃗),
    /// Acc·r⃗ and Horner. And the powers of r.
    pub matmul: usize,
    /// One per lookup: 3 per output entry (chunk row, byte, d) with
    /// full-width chunks, 4 (and e) with split ones.
    pub requant: usize,
    /// One per table row (256 bytes, the limb table, each layer's chunks), one per
    /// table (the sums), and α's witness copy.
    pub tables: usize,
}

impl Cost {
    pub fn total(&self) -> usize {
        self.matmul + self.requant + self.tables
    }

    /// The counts for the model's keys as made by default ([`DENSE_BUDGET`]).
    pub fn of(model: &Model, batch: usize) -> Cost {
        Cost::with_budget(model, batch, DENSE_BUDGET)
    }

    pub fn with_budget(model: &Model, batch: usize, dense_budget: u64) -> Cost {
        let m = batch;
        let dense = dense_layers(model, m, dense_budget);
        let mut c = Cost { matmul: max_power(model, &dense) - 1, ..Cost::default() };
        let limb = limb(model);
        c.tables = 256 + limb as usize + 2 + 1;
        for (li, l) in model.layers.iter().enumerate() {
            let (k, n) = (l.d_in, l.d_out);
            c.matmul += match (dense[li], li) {
                (true, 0) => m * k,
                (true, _) => 0,
                (false, _) => k + 1 + m * k + m * (n - 1) + m,
            };
            let chunks = Chunks::new(l, limb);
            c.requant += (2 + chunks.slacks()) * m * n;
            c.tables += chunks.rows.len() + 1;
        }
        c
    }
}
