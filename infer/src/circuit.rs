//! The inference relation as R1CS: per-layer Freivalds checks plus
//! requantization by lookups (logUp), given the challenges.
//!
//! For a model with layers ℓ = 0..L (batch m, widths k_ℓ → n_ℓ), the relation
//! holds when, for every layer,
//!
//! 1. **matmul**: `sᵀ(X_ℓ·W_ℓ + 1·b_ℓᵀ − Acc_ℓ)r⃗ = 0` with `r⃗ = (1, r, …, r^(n−1))`,
//!    `s = (1, r^n, r^2n, …)`: Freivalds' check, about m·k + k·n + m·n products;
//! 2. **requantization**: for every entry, `X_(ℓ+1) = y(Acc_ℓ)` through the layer's
//!    thresholds ([`crate::requant`]): with `d = acc − T(y)` and
//!    `e = T(y+1) − 1 − acc`, each split in two 16-bit limbs,
//!    - `y + 128` is in the byte table `[0, 256)`,
//!    - the limbs of `d` and `e` are in the table `[0, 2^16)`,
//!    - `(y + 128) + 2^8·(acc − d + 2^31) + 2^41·(acc + e + 1 + 2^31)` is a row
//!      of the layer's table `(v + 128) + 2^8·(T(v) + 2^31) + 2^41·(T(v+1) + 2^31)`.
//!
//!    The packing is injective once `y`, the limbs and `acc` are small integers:
//!    `y` and the limbs by their tables, `acc` because the matmul check makes
//!    it `x·W + b` over int8 activations (range-checked, or the client's own
//!    input) and the model's int8 weights; every packed value is below 2^74 < p.
//!    So `T(y) ≤ acc < T(y+1)`, which is `y = requant(acc)` exactly, ReLU and
//!    clamping included;
//! 3. **lookups** (logUp): for each table t, `Σ_i 1/(α − a_i) = Σ_j m_j/(α − t_j)`
//!    over the values looked up in it and the table's rows with multiplicities
//!    m_j; one constraint per lookup and per row.
//!
//! The challenges r and α are public inputs here. Soundness needs every value
//! they act on (activations, accumulators, limbs, multiplicities) fixed before
//! they are drawn: in the job, these are committed and the challenges derived
//! from the commitments, as for the matmul job's committed circuit.

use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, LinearCombination, SynthesisError, Variable};

use crate::execute::Trace;
use crate::model::Model;
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
}

const LIMB_BITS: u32 = 16;
const LIMB: i64 = 1 << LIMB_BITS;

fn fr(v: i64) -> Fr {
    Fr::from(v)
}

/// The packed row of a layer's table for output `v` in `[T(v), T(v+1))`.
fn pack(v: i64, t_lo: i64, t_hi: i64) -> Fr {
    fr(v + 128) + fr(1 << 8) * fr(t_lo - ACC_MIN) + fr(1i64 << 41) * fr(t_hi - ACC_MIN)
}

/// The rows of a layer's threshold table.
fn threshold_rows(th: &Thresholds, hi: i8) -> Vec<Fr> {
    (th.lo..=hi).filter_map(|v| th.interval(v).map(|(a, b)| pack(v as i64, a, b))).collect()
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

        // Powers of r up to the widest layer's n (n itself is s).
        let max_n = model.layers.iter().map(|l| l.d_out).max().unwrap_or(1);
        let mut pow: Vec<(Variable, Option<Fr>)> = vec![(Variable::One, Some(Fr::one())), (r, r_val)];
        while pow.len() <= max_n {
            let (last, lv) = *pow.last().expect("nonempty");
            pow.push(product(last, lv, r, r_val)?);
        }

        // The input activations.
        let mut x: Vec<(Variable, Option<Fr>)> = Vec::with_capacity(m * model.d_in());
        for idx in 0..m * model.d_in() {
            let v = tr.map(|t| fr(t.activations[0][idx]));
            x.push((witness(v)?, v));
        }

        let mut bytes = Table::new((0..256).map(fr).collect());
        let mut limbs = Table::new((0..LIMB).map(fr).collect());
        let mut layer_tables = Vec::with_capacity(model.layers.len());

        for (li, layer) in model.layers.iter().enumerate() {
            let (k, n) = (layer.d_in, layer.d_out);
            let s = pow[n];
            // Weights and bias: the model (public in the job through its commitment).
            let w: Vec<Variable> =
                layer.weights.iter().map(|&v| witness(Some(fr(v as i64)))).collect::<Result<_, _>>()?;
            let b: Vec<Variable> = layer.bias.iter().map(|&v| witness(Some(fr(v as i64)))).collect::<Result<_, _>>()?;
            // Accumulators and outputs.
            let acc_vals: Vec<Option<i64>> = (0..m * n).map(|i| tr.map(|t| t.accumulators[li][i])).collect();
            let acc: Vec<Variable> = acc_vals.iter().map(|v| witness(v.map(fr))).collect::<Result<_, _>>()?;
            let y_vals: Vec<Option<i64>> = (0..m * n).map(|i| tr.map(|t| t.activations[li + 1][i])).collect();
            let y: Vec<Variable> = y_vals.iter().map(|v| witness(v.map(fr))).collect::<Result<_, _>>()?;

            // 1. Freivalds. wr_l = Σ_j W_lj r^j; br = Σ_j b_j r^j.
            let mut wr = Vec::with_capacity(k);
            for l in 0..k {
                let mut sum = lc!() + w[l * n];
                let mut val = pow[0].1.map(|_| fr(layer.weight(l, 0) as i64));
                for j in 1..n {
                    let (q, qv) = product(w[l * n + j], Some(fr(layer.weight(l, j) as i64)), pow[j].0, pow[j].1)?;
                    sum = sum + q;
                    val = val.zip(qv).map(|(a, b)| a + b);
                }
                let v = witness(val)?;
                cs.enforce_constraint(lc!() + Variable::One, sum, lc!() + v)?;
                wr.push((v, val));
            }
            let mut br = lc!() + b[0];
            for j in 1..n {
                let (q, _) = product(b[j], Some(fr(layer.bias[j] as i64)), pow[j].0, pow[j].1)?;
                br = br + q;
            }
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
            let mut next: (LinearCombination<Fr>, Option<Fr>) = (lc!(), Some(Fr::zero()));
            for i in (0..m).rev() {
                let rv = row_value(i);
                // h_i = row_i + s·h_(i+1): one product s·h_(i+1).
                let h_next_val = next.1;
                let sh_val = s.1.zip(h_next_val).map(|(a, b)| a * b);
                let sh = witness(sh_val)?;
                cs.enforce_constraint(lc!() + s.0, next.0.clone(), lc!() + sh)?;
                let h = rows[i].clone() + sh;
                let hv = rv.zip(sh_val).map(|(a, b)| a + b);
                next = (h, hv);
            }
            cs.enforce_constraint(lc!() + Variable::One, next.0, lc!())?;

            // 2. Requantization lookups.
            let th = layer.requant.thresholds();
            let mut table = Table::new(threshold_rows(&th, layer.requant.hi));
            for idx in 0..m * n {
                // d = acc − T(y), e = T(y+1) − 1 − acc when proving. For a wrong y
                // they are clamped into the limbs' range, so that it is the
                // threshold table that refuses the entry.
                let de = y_vals[idx].zip(acc_vals[idx]).map(|(yv, a)| {
                    let honest = i8::try_from(yv)
                        .ok()
                        .and_then(|v| th.interval(v))
                        .map_or((0, 0), |(lo, hi)| (a - lo, hi - 1 - a));
                    let clamp = |v: i64| v.clamp(0, LIMB * LIMB - 1);
                    tr.and_then(|t| t.slack.get(&(li, idx)).copied()).unwrap_or((clamp(honest.0), clamp(honest.1)))
                });
                let mut limb_lc = |v: Option<i64>| -> Result<LinearCombination<Fr>, SynthesisError> {
                    let lo_v = v.map(|v| fr(v.rem_euclid(LIMB)));
                    let hi_v = v.map(|v| fr(v.div_euclid(LIMB)));
                    let lo = witness(lo_v)?;
                    let hi = witness(hi_v)?;
                    limbs.lookups.push((lc!() + lo, lo_v));
                    limbs.lookups.push((lc!() + hi, hi_v));
                    Ok(lc!() + lo + (fr(LIMB), hi))
                };
                let d = limb_lc(de.map(|p| p.0))?;
                let e = limb_lc(de.map(|p| p.1))?;
                let yp = lc!() + y[idx] + (fr(128), Variable::One);
                bytes.lookups.push((yp.clone(), y_vals[idx].map(|v| fr(v + 128))));
                // (y + 128) + 2^8·(acc − d − ACC_MIN) + 2^41·(acc + e + 1 − ACC_MIN)
                let key = yp
                    + (fr(1 << 8), acc[idx])
                    + &(d * -fr(1 << 8))
                    + (fr(1i64 << 41), acc[idx])
                    + &(e * fr(1i64 << 41))
                    + (fr(1 - ACC_MIN) * fr(1i64 << 41) - fr(ACC_MIN) * fr(1 << 8), Variable::One);
                let key_val = y_vals[idx].zip(acc_vals[idx]).zip(de).map(|((yv, a), (dv, ev))| {
                    fr(yv + 128) + fr(1 << 8) * fr(a - dv - ACC_MIN) + fr(1i64 << 41) * fr(a + ev + 1 - ACC_MIN)
                });
                table.lookups.push((key, key_val));
            }
            layer_tables.push(table);
            x = y.into_iter().zip(y_vals).map(|(v, val)| (v, val.map(fr))).collect();
        }

        // 3. logUp, one sum per table.
        for table in std::iter::once(bytes).chain(std::iter::once(limbs)).chain(layer_tables) {
            logup(&cs, alpha, alpha_val, table)?;
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
) -> Result<(), SynthesisError> {
    let witness = |v: Option<Fr>| cs.new_witness_variable(|| v.ok_or(SynthesisError::AssignmentMissing));
    let proving = alpha_val.is_some() && table.lookups.iter().all(|(_, v)| v.is_some());
    let mut counts = vec![0u64; table.rows.len()];
    if proving {
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
        let mv = proving.then(|| Fr::from(c));
        let mult = witness(mv)?;
        let den = alpha_val.map(|al| al - t);
        let q = witness(if proving { inv(den, Fr::from(c)) } else { None })?;
        cs.enforce_constraint(lc!() + q, lc!() + alpha - (*t, Variable::One), lc!() + mult)?;
        rhs = rhs + q;
    }
    cs.enforce_constraint(lc!() + Variable::One, lhs, rhs)?;
    Ok(())
}

/// Constraint counts of [`InferenceCircuit`], split as the issue reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cost {
    /// Freivalds: powers of r, W·r⃗, b·r⃗, X·(W·r⃗), Acc·r⃗ and Horner.
    pub matmul: usize,
    /// One per lookup: 6 per output entry (threshold row, byte, four limbs).
    pub requant: usize,
    /// One per table row (256 bytes, 2^16 limbs, each layer's thresholds) and per table.
    pub tables: usize,
}

impl Cost {
    pub fn total(&self) -> usize {
        self.matmul + self.requant + self.tables
    }

    pub fn of(model: &Model, batch: usize) -> Cost {
        let m = batch;
        let max_n = model.layers.iter().map(|l| l.d_out).max().unwrap_or(1);
        let mut c = Cost { matmul: max_n.saturating_sub(1), ..Cost::default() };
        c.tables = 256 + LIMB as usize + 2;
        for l in &model.layers {
            let (k, n) = (l.d_in, l.d_out);
            c.matmul += k * (n - 1) + k + (n - 1) + m * k + m * (n - 1) + m + 1;
            c.requant += 6 * m * n;
            c.tables += threshold_rows(&l.requant.thresholds(), l.requant.hi).len() + 1;
        }
        c
    }
}
