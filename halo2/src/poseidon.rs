//! Poseidon over BN254 Fr, exactly as `veriflop-circuits` computes commitments:
//! width 3 (capacity 1 at index 0, rate 2), α = 5, 8 full + 57 partial rounds,
//! constants read from `veriflop_circuits::commit::poseidon_config()` (so the two
//! proof systems cannot drift apart), arkworks' duplex-sponge semantics.
//!
//! The chip spends one row per round on three state columns plus three helper
//! columns holding (x + rc)², which keeps every gate at degree ≤ 4 (a direct
//! x⁵ gate under a selector would be degree 6 and double the prover's
//! extended domain).

use std::sync::OnceLock;

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::field::from_ark;

pub const WIDTH: usize = 3;
pub const RATE: usize = 2;
pub const FULL_ROUNDS: usize = 8;
pub const PARTIAL_ROUNDS: usize = 57;
pub const ROUNDS: usize = FULL_ROUNDS + PARTIAL_ROUNDS;
/// Rows of one permutation: one absorb row, then one row per round.
pub const PERM_ROWS: usize = ROUNDS + 1;

/// Round constants and MDS matrix, converted once from the arkworks parameters.
pub struct Params {
    pub ark: Vec<[Fr; WIDTH]>,
    pub mds: [[Fr; WIDTH]; WIDTH],
}

pub fn params() -> &'static Params {
    static P: OnceLock<Params> = OnceLock::new();
    P.get_or_init(|| {
        let cfg = veriflop_circuits::commit::poseidon_config();
        assert_eq!(
            (cfg.full_rounds, cfg.partial_rounds, cfg.alpha, cfg.rate, cfg.capacity),
            (FULL_ROUNDS, PARTIAL_ROUNDS, 5, RATE, 1),
            "veriflop-circuits' Poseidon parameters changed; update the halo2 chip"
        );
        let row = |r: &Vec<ark_bn254::Fr>| -> [Fr; WIDTH] { std::array::from_fn(|i| from_ark(&r[i])) };
        Params { ark: cfg.ark.iter().map(row).collect(), mds: std::array::from_fn(|i| row(&cfg.mds[i])) }
    })
}

fn is_full(round: usize) -> bool {
    round < FULL_ROUNDS / 2 || round >= FULL_ROUNDS / 2 + PARTIAL_ROUNDS
}

fn pow5(x: Fr) -> Fr {
    let x2 = x.square();
    x2.square() * x
}

/// One round: add constants, S-box (all or first element), MDS. Also returns
/// the helper values (x + rc)² the chip stores.
fn round(p: &Params, r: usize, state: &[Fr; WIDTH]) -> ([Fr; WIDTH], [Fr; WIDTH]) {
    let t: [Fr; WIDTH] = std::array::from_fn(|i| state[i] + p.ark[r][i]);
    let sq: [Fr; WIDTH] = std::array::from_fn(|i| if is_full(r) || i == 0 { t[i].square() } else { Fr::ZERO });
    let sb: [Fr; WIDTH] = std::array::from_fn(|i| if is_full(r) || i == 0 { pow5(t[i]) } else { t[i] });
    let next = std::array::from_fn(|j| (0..WIDTH).map(|i| p.mds[j][i] * sb[i]).sum());
    (next, sq)
}

pub fn permute(state: &mut [Fr; WIDTH]) {
    let p = params();
    for r in 0..ROUNDS {
        *state = round(p, r, state).0;
    }
}

/// Native sponge: absorb all `elements` (pairs into state[1], state[2], a
/// permutation between pairs), then squeeze once (permute, read state[1]) —
/// arkworks' `PoseidonSponge` absorb-then-squeeze, which `commit_input` uses.
pub fn hash(elements: &[Fr]) -> Fr {
    let mut state = [Fr::ZERO; WIDTH];
    assert!(!elements.is_empty(), "every veriflop hash absorbs a header");
    for chunk in elements.chunks(RATE) {
        for (i, x) in chunk.iter().enumerate() {
            state[1 + i] += x;
        }
        permute(&mut state);
    }
    state[1]
}

/// Rows a hash of `len` elements takes in the chip.
pub fn rows(len: usize) -> usize {
    len.div_ceil(RATE) * PERM_ROWS + 1
}

/// One lane of Poseidon columns. Several lanes run side by side in the same
/// rows, so the three commitments need not be hashed one after another.
#[derive(Clone, Debug)]
pub struct PoseidonConfig {
    state: [Column<Advice>; WIDTH],
    aux: [Column<Advice>; WIDTH],
    rc: [Column<Fixed>; WIDTH],
    q_init: Selector,
    q_absorb: Selector,
    q_full: Selector,
    q_partial: Selector,
}

impl PoseidonConfig {
    pub fn configure(meta: &mut ConstraintSystem<Fr>) -> Self {
        let state = [(); WIDTH].map(|_| meta.advice_column());
        let aux = [(); WIDTH].map(|_| meta.advice_column());
        let rc = [(); WIDTH].map(|_| meta.fixed_column());
        // Output cells (state[1]) meet the instance column; absorbed inputs
        // (aux[1], aux[2] on absorb rows) are copies of pack cells or constants.
        meta.enable_equality(state[1]);
        meta.enable_equality(aux[1]);
        meta.enable_equality(aux[2]);
        let (q_init, q_absorb, q_full, q_partial) =
            (meta.selector(), meta.selector(), meta.selector(), meta.selector());
        let p = params();

        meta.create_gate("poseidon initial state is zero", |m| {
            let q = m.query_selector(q_init);
            state.map(|c| q.clone() * m.query_advice(c, Rotation::cur())).to_vec()
        });
        meta.create_gate("poseidon absorb: state[1..] += (aux[1], aux[2])", |m| {
            let q = m.query_selector(q_absorb);
            (0..WIDTH)
                .map(|i| {
                    let cur = m.query_advice(state[i], Rotation::cur());
                    let next = m.query_advice(state[i], Rotation::next());
                    let add =
                        if i == 0 { Expression::Constant(Fr::ZERO) } else { m.query_advice(aux[i], Rotation::cur()) };
                    q.clone() * (next - cur - add)
                })
                .collect::<Vec<_>>()
        });
        for full in [true, false] {
            let sel = if full { q_full } else { q_partial };
            meta.create_gate(if full { "poseidon full round" } else { "poseidon partial round" }, |m| {
                let q = m.query_selector(sel);
                let t: Vec<Expression<Fr>> = (0..WIDTH)
                    .map(|i| m.query_advice(state[i], Rotation::cur()) + m.query_fixed(rc[i], Rotation::cur()))
                    .collect();
                let sq: Vec<Expression<Fr>> = (0..WIDTH).map(|i| m.query_advice(aux[i], Rotation::cur())).collect();
                let boxed = |i: usize| -> bool { full || i == 0 };
                let sb: Vec<Expression<Fr>> = (0..WIDTH)
                    .map(|i| if boxed(i) { sq[i].clone() * sq[i].clone() * t[i].clone() } else { t[i].clone() })
                    .collect();
                let mut out: Vec<Expression<Fr>> = (0..WIDTH)
                    .filter(|&i| boxed(i))
                    .map(|i| q.clone() * (sq[i].clone() - t[i].clone() * t[i].clone()))
                    .collect();
                for j in 0..WIDTH {
                    let mixed = (0..WIDTH)
                        .map(|i| Expression::Constant(p.mds[j][i]) * sb[i].clone())
                        .reduce(|a, b| a + b)
                        .unwrap();
                    out.push(q.clone() * (m.query_advice(state[j], Rotation::next()) - mixed));
                }
                out
            });
        }
        PoseidonConfig { state, aux, rc, q_init, q_absorb, q_full, q_partial }
    }

    /// Lays out the hash of `inputs` starting at `row` and returns the output
    /// cell (state[1] after the final permutation). Each input is a cell to
    /// copy or a constant; padding of an odd-length input is the constant 0,
    /// which equals absorbing nothing there (arkworks adds into the state).
    pub fn assign_hash(&self, region: &mut Region<'_, Fr>, row: usize, inputs: &[HashInput]) -> Result<Wire, Error> {
        let p = params();
        let values: Vec<Value<Fr>> = inputs.iter().map(HashInput::value).collect();
        let perms = inputs.len().div_ceil(RATE);
        assert!(perms > 0, "every veriflop hash absorbs a header");
        let mut state = Value::known([Fr::ZERO; WIDTH]);
        self.q_init.enable(region, row)?;
        self.assign_state(region, row, state)?;
        let mut out = None;
        for perm in 0..perms {
            let at = row + perm * PERM_ROWS;
            // Absorb row: the state there is already assigned (zero or the last output).
            self.q_absorb.enable(region, at)?;
            region.assign_advice(self.aux[0], at, Value::known(Fr::ZERO));
            let mut add = [Value::known(Fr::ZERO); 2];
            for (slot, i) in (0..RATE).map(|s| (s, perm * RATE + s)) {
                let cell = region.assign_advice(
                    self.aux[1 + slot],
                    at,
                    values.get(i).copied().unwrap_or(Value::known(Fr::ZERO)),
                );
                match inputs.get(i) {
                    Some(HashInput::Cell(w)) => region.constrain_equal(cell.cell(), w.cell),
                    Some(HashInput::Constant(k)) => region.constrain_constant(cell.cell(), *k)?,
                    None => region.constrain_constant(cell.cell(), Fr::ZERO)?,
                }
                add[slot] = values.get(i).copied().unwrap_or(Value::known(Fr::ZERO));
            }
            state = state.zip(add[0]).zip(add[1]).map(|((mut s, a), b)| {
                s[1] += a;
                s[2] += b;
                s
            });
            for r in 0..ROUNDS {
                let at = at + 1 + r;
                self.assign_state(region, at, state)?;
                let step = state.map(|s| round(p, r, &s));
                for i in 0..WIDTH {
                    region.assign_fixed(self.rc[i], at, p.ark[r][i]);
                    region.assign_advice(self.aux[i], at, step.map(|(_, sq)| sq[i]));
                }
                if is_full(r) {
                    self.q_full.enable(region, at)?
                } else {
                    self.q_partial.enable(region, at)?
                };
                state = step.map(|(next, _)| next);
            }
            out = Some(self.assign_state(region, row + (perm + 1) * PERM_ROWS, state)?);
        }
        Ok(out.expect("at least one permutation"))
    }

    /// Assigns a state row; returns state[1] (the squeezed element after the last permutation).
    fn assign_state(&self, region: &mut Region<'_, Fr>, row: usize, state: Value<[Fr; WIDTH]>) -> Result<Wire, Error> {
        let cells: Vec<Cell> =
            (0..WIDTH).map(|i| region.assign_advice(self.state[i], row, state.map(|s| s[i])).cell()).collect();
        Ok(Wire { cell: cells[1], value: state.map(|s| s[1]) })
    }
}

/// An assigned cell and its value (kept apart from halo2's `AssignedCell`,
/// whose borrow of the region would outlive the region closure).
#[derive(Clone, Copy, Debug)]
pub struct Wire {
    pub cell: Cell,
    pub value: Value<Fr>,
}

/// An element absorbed by an in-circuit hash.
#[derive(Clone, Debug)]
pub enum HashInput {
    /// A cell elsewhere in the circuit (copied into the sponge).
    Cell(Wire),
    /// A public constant (the header: tag, rows, cols, dtype code).
    Constant(Fr),
}

impl HashInput {
    fn value(&self) -> Value<Fr> {
        match self {
            HashInput::Cell(w) => w.value,
            HashInput::Constant(k) => Value::known(*k),
        }
    }
}
