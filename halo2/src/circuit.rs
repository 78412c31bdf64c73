//! The matmul circuit: public instances [job_id, provider, cm_A, cm_B, cm_C];
//! witness A, B, C; constraints
//!
//! 1. every entry of A and B is in range (byte limbs looked up in a 0..256 table);
//! 2. each matrix is packed as in `veriflop-circuits` and Poseidon-hashed to its
//!    commitment instance;
//! 3. **Freivalds, second phase**: challenges r, s are drawn by halo2's
//!    transcript *after* the first-phase columns holding A, B, C (and the
//!    instances) are committed, then y_l = Σ_j B_lj r^j, d_i = Σ_l A_il y_l,
//!    w_i = Σ_j C_ij r^j and Σ_i s^i (d_i − w_i) = 0 are enforced on
//!    second-phase columns. A C ≠ A·B survives with probability ≤ (m+n−2)/|Fr|
//!    (Schwartz–Zippel), as in the Groth16 circuit.
//!
//! The challenge API is used instead of an in-circuit Poseidon transcript
//! because it is free: the challenges are squeezed from the proof's own
//! (keccak) transcript, which already binds the instances and the committed
//! data, while an in-circuit hash of the commitments would cost one more
//! Poseidon permutation and tie challenges to commitments rather than to the
//! committed columns themselves. job_id and provider enter that transcript too,
//! so a proof is bound to them although no gate reads them.

use halo2_proofs::circuit::{Cell, Layouter, Region, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{
    Advice, Challenge, Circuit, Column, ConstraintSystem, Error, Expression, FirstPhase, Fixed, Instance, SecondPhase,
    Selector, TableColumn,
};
use halo2_proofs::poly::Rotation;
use veriflop_circuits::Shape;

use crate::encode::limbs;
use crate::layout::{Block, Layout, LANES};
use crate::poseidon::{HashInput, PoseidonConfig, Wire};

/// Rows of the instance column.
pub const NUM_INSTANCES: usize = 5;

/// The circuit's only parameter: the shape (it fixes the row layout and the
/// number of range limbs). `None` exists only because halo2 wants a `Default`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShapeParam(pub Option<Shape>);

/// The matmul circuit for one shape; `witness` is `None` for key generation.
#[derive(Clone, Debug)]
pub struct MatmulCircuit {
    pub shape: Shape,
    pub witness: Option<MatmulWitness>,
}

/// A, B, C as integers, row-major.
#[derive(Clone, Debug)]
pub struct MatmulWitness {
    pub a: Vec<i128>,
    pub b: Vec<i128>,
    pub c: Vec<i128>,
}

#[derive(Clone, Debug)]
pub struct MatmulConfig {
    /// Offset entries u = x + 2^(w−1) (first phase).
    u: Column<Advice>,
    /// Running little-endian pack (first phase).
    pack: Column<Advice>,
    /// Byte limbs of u when entries are wider than a byte (first phase).
    limbs: Vec<Column<Advice>>,
    /// 2^(w−1) on every data row, so the gates read x = u − off.
    off: Column<Fixed>,
    /// Packing base 2^w, or 0 where a pack starts.
    base: Column<Fixed>,
    /// Second phase: row Horner / dot product accumulator.
    h: Column<Advice>,
    /// Second phase: y_l repeated along A's rows; d_i in the fold rows.
    y: Column<Advice>,
    /// Second phase: the fold Σ_i s^i (d_i − w_i).
    t: Column<Advice>,
    bytes: TableColumn,
    q_data: Selector,
    q_range: Selector,
    q_hstart: Selector,
    q_hcont: Selector,
    q_dstart: Selector,
    q_dcont: Selector,
    q_tstart: Selector,
    q_tcont: Selector,
    q_tzero: Selector,
    r: Challenge,
    s: Challenge,
    lanes: Vec<PoseidonConfig>,
    instance: Column<Instance>,
}

impl Circuit<Fr> for MatmulCircuit {
    type Config = MatmulConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ShapeParam;

    fn without_witnesses(&self) -> Self {
        MatmulCircuit { shape: self.shape, witness: None }
    }

    fn params(&self) -> ShapeParam {
        ShapeParam(Some(self.shape))
    }

    fn configure(_: &mut ConstraintSystem<Fr>) -> MatmulConfig {
        unreachable!("the matmul circuit is configured per shape (configure_with_params)")
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, params: ShapeParam) -> MatmulConfig {
        let shape = params.0.expect("a shape");
        configure(meta, &shape)
    }

    fn synthesize(&self, config: MatmulConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let layout = Layout::new(&self.shape);
        let w = Witness::new(&layout, self.witness.as_ref());
        layouter.assign_table(
            || "bytes",
            |mut table| {
                for i in 0..256 {
                    table.assign_cell(|| "byte", config.bytes, i, || Value::known(Fr::from(i as u64)))?;
                }
                Ok(())
            },
        )?;
        let cms = layouter.assign_region(
            || "data, range, packs, hashes",
            |mut region| config.assign_first_phase(&mut region, &layout, &w),
        )?;
        for (i, cell) in cms.into_iter().enumerate() {
            layouter.constrain_instance(cell, config.instance, 2 + i);
        }
        // Commit A, B, C (and the instances): r and s are squeezed here.
        layouter.next_phase();
        layouter.assign_region(|| "freivalds", |mut region| config.assign_second_phase(&mut region, &layout, &w))
    }
}

fn configure(meta: &mut ConstraintSystem<Fr>, shape: &Shape) -> MatmulConfig {
    let u = meta.advice_column_in(FirstPhase);
    let pack = meta.advice_column_in(FirstPhase);
    let nlimbs = (shape.dtype.bits() / 8) as usize;
    let limbs: Vec<_> =
        if nlimbs > 1 { (0..nlimbs).map(|_| meta.advice_column_in(FirstPhase)).collect() } else { vec![] };
    let lanes: Vec<_> = (0..LANES).map(|_| PoseidonConfig::configure(meta)).collect();
    let r = meta.challenge_usable_after(FirstPhase);
    let s = meta.challenge_usable_after(FirstPhase);
    let h = meta.advice_column_in(SecondPhase);
    let y = meta.advice_column_in(SecondPhase);
    let t = meta.advice_column_in(SecondPhase);
    let (off, base) = (meta.fixed_column(), meta.fixed_column());
    let constants = meta.fixed_column();
    meta.enable_constant(constants);
    let instance = meta.instance_column();
    meta.enable_equality(instance);
    for c in [pack, h, y] {
        meta.enable_equality(c);
    }
    let bytes = meta.lookup_table_column();
    let q_range = meta.complex_selector();
    let [q_data, q_hstart, q_hcont, q_dstart, q_dcont, q_tstart, q_tcont, q_tzero] = [(); 8].map(|_| meta.selector());

    meta.create_gate("pack: pack = base·pack_prev + u", |m| {
        let q = m.query_selector(q_data);
        let [pk, prev] = [Rotation::cur(), Rotation::prev()].map(|r| m.query_advice(pack, r));
        vec![q * (pk - m.query_fixed(base, Rotation::cur()) * prev - m.query_advice(u, Rotation::cur()))]
    });
    if limbs.is_empty() {
        meta.lookup("u is a byte", |m| vec![(m.query_selector(q_range) * m.query_advice(u, Rotation::cur()), bytes)]);
    } else {
        meta.create_gate("u = Σ limb_i·256^i", |m| {
            let q = m.query_selector(q_range);
            let sum = limbs
                .iter()
                .rev()
                .map(|c| m.query_advice(*c, Rotation::cur()))
                .reduce(|acc, l| acc * Expression::Constant(Fr::from(256u64)) + l)
                .unwrap();
            vec![q * (m.query_advice(u, Rotation::cur()) - sum)]
        });
        for c in &limbs {
            meta.lookup("limb is a byte", |m| {
                vec![(m.query_selector(q_range) * m.query_advice(*c, Rotation::cur()), bytes)]
            });
        }
    }
    let x = |m: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>| {
        m.query_advice(u, Rotation::cur()) - m.query_fixed(off, Rotation::cur())
    };
    meta.create_gate("row Horner in r: h = r·h_prev + x", |m| {
        let (qs, qc) = (m.query_selector(q_hstart), m.query_selector(q_hcont));
        let [hc, hp] = [Rotation::cur(), Rotation::prev()].map(|r| m.query_advice(h, r));
        let x = x(m);
        let r = m.query_challenge(r);
        vec![qs * (hc.clone() - x.clone()), qc * (hc - r * hp - x)]
    });
    meta.create_gate("row dot product: h = h_prev + x·y", |m| {
        let (qs, qc) = (m.query_selector(q_dstart), m.query_selector(q_dcont));
        let [hc, hp] = [Rotation::cur(), Rotation::prev()].map(|r| m.query_advice(h, r));
        let xy = x(m) * m.query_advice(y, Rotation::cur());
        vec![qs * (hc.clone() - xy.clone()), qc * (hc - hp - xy)]
    });
    meta.create_gate("fold in s: t = s·t_prev + (d − w), ending at 0", |m| {
        let (qs, qc, qz) = (m.query_selector(q_tstart), m.query_selector(q_tcont), m.query_selector(q_tzero));
        let [tc, tp] = [Rotation::cur(), Rotation::prev()].map(|r| m.query_advice(t, r));
        let e = m.query_advice(y, Rotation::cur()) - m.query_advice(h, Rotation::cur());
        let s = m.query_challenge(s);
        vec![qs * (tc.clone() - e.clone()), qc * (tc.clone() - s * tp - e), qz * tc]
    });
    MatmulConfig {
        u,
        pack,
        limbs,
        off,
        base,
        h,
        y,
        t,
        bytes,
        q_data,
        q_range,
        q_hstart,
        q_hcont,
        q_dstart,
        q_dcont,
        q_tstart,
        q_tcont,
        q_tzero,
        r,
        s,
        lanes,
        instance,
    }
}

/// Witness values per matrix (offset entries u, row-major), or unknown.
struct Witness {
    u: [Option<Vec<Fr>>; 3],
}

impl Witness {
    fn new(layout: &Layout, w: Option<&MatmulWitness>) -> Self {
        let enc = |b: &Block, v: &[i128]| b.enc.offset_entries(v);
        Witness {
            u: match w {
                Some(w) => [Some(enc(&layout.a, &w.a)), Some(enc(&layout.b, &w.b)), Some(enc(&layout.c, &w.c))],
                None => [None, None, None],
            },
        }
    }

    fn get(&self, m: usize, e: usize) -> Value<Fr> {
        self.u[m].as_ref().map_or(Value::unknown(), |u| Value::known(u[e]))
    }
}

impl MatmulConfig {
    /// A, B, C with their packs and range checks, and the three hashes.
    /// Returns the cells of cm_A, cm_B, cm_C.
    fn assign_first_phase(
        &self,
        region: &mut Region<'_, Fr>,
        layout: &Layout,
        w: &Witness,
    ) -> Result<Vec<Cell>, Error> {
        let mut out = vec![];
        for (m, block) in [layout.a, layout.b, layout.c].iter().enumerate() {
            let enc = block.enc;
            let (off, base) = (enc.offset(), enc.base());
            let mut packs = vec![None; enc.packs()];
            let mut acc = Value::known(Fr::ZERO);
            // Rows in order = entries from last to first.
            for e in (0..enc.len()).rev() {
                let row = block.row(e / enc.cols, e % enc.cols);
                let u = w.get(m, e);
                let starts_pack = e == ((e / enc.per_pack + 1) * enc.per_pack).min(enc.len()) - 1;
                acc = if starts_pack { u } else { acc * Value::known(base) + u };
                region.assign_advice(self.u, row, u);
                let cell = region.assign_advice(self.pack, row, acc).cell();
                region.assign_fixed(self.off, row, off);
                region.assign_fixed(self.base, row, if starts_pack { Fr::ZERO } else { base });
                self.q_data.enable(region, row)?;
                if e % enc.per_pack == 0 {
                    packs[e / enc.per_pack] = Some(Wire { cell, value: acc });
                }
                if m < 2 {
                    self.q_range.enable(region, row)?;
                    for (i, col) in self.limbs.iter().enumerate() {
                        region.assign_advice(*col, row, u.map(|u| limbs(&u, enc.width)[i]));
                    }
                }
            }
            let mut inputs: Vec<HashInput> = enc.header(&layout.shape).map(HashInput::Constant).to_vec();
            inputs.extend(packs.into_iter().map(|p| HashInput::Cell(p.expect("every pack assigned"))));
            let (lane, start) = layout.hashes[m];
            out.push(self.lanes[lane].assign_hash(region, start, &inputs)?.cell);
        }
        Ok(out)
    }

    /// The Freivalds check on second-phase columns, with the challenges now known.
    fn assign_second_phase(&self, region: &mut Region<'_, Fr>, layout: &Layout, w: &Witness) -> Result<(), Error> {
        let (r, s) = (region.get_challenge(self.r), region.get_challenge(self.s));
        let x = |m: usize, b: &Block, i: usize, j: usize| w.get(m, i * b.enc.cols + j) - Value::known(b.enc.offset());

        // y_l = Σ_j B_lj r^j and w_i = Σ_j C_ij r^j by Horner along each row.
        let mut horner = |m: usize, b: &Block| -> Result<Vec<Wire>, Error> {
            let mut ends = vec![];
            for i in 0..b.enc.rows {
                let mut acc = Value::known(Fr::ZERO);
                for j in (0..b.enc.cols).rev() {
                    let row = b.row(i, j);
                    let first = j == b.enc.cols - 1;
                    acc = if first { x(m, b, i, j) } else { acc * r + x(m, b, i, j) };
                    let cell = region.assign_advice(self.h, row, acc).cell();
                    if first {
                        self.q_hstart.enable(region, row)?
                    } else {
                        self.q_hcont.enable(region, row)?
                    }
                    if j == 0 {
                        ends.push(Wire { cell, value: acc });
                    }
                }
            }
            Ok(ends)
        };
        let ys = horner(1, &layout.b)?;
        let ws = horner(2, &layout.c)?;

        // d_i = Σ_l A_il y_l, with y_l copied next to each A_il.
        let a = &layout.a;
        let mut ds = vec![];
        for i in 0..a.enc.rows {
            let mut acc = Value::known(Fr::ZERO);
            for l in (0..a.enc.cols).rev() {
                let row = a.row(i, l);
                let y = region.assign_advice(self.y, row, ys[l].value).cell();
                region.constrain_equal(y, ys[l].cell);
                let first = l == a.enc.cols - 1;
                let term = x(0, a, i, l) * ys[l].value;
                acc = if first { term } else { acc + term };
                let cell = region.assign_advice(self.h, row, acc).cell();
                if first {
                    self.q_dstart.enable(region, row)?
                } else {
                    self.q_dcont.enable(region, row)?
                }
                if l == 0 {
                    ds.push(Wire { cell, value: acc });
                }
            }
        }

        // Σ_i s^i (d_i − w_i) = 0, folding i = m−1 … 0.
        let m = layout.shape.m as usize;
        let mut acc = Value::known(Fr::ZERO);
        for (k, i) in (0..m).rev().enumerate() {
            let row = layout.fold_start + k;
            let d = region.assign_advice(self.y, row, ds[i].value).cell();
            region.constrain_equal(d, ds[i].cell);
            let wc = region.assign_advice(self.h, row, ws[i].value).cell();
            region.constrain_equal(wc, ws[i].cell);
            let e = ds[i].value - ws[i].value;
            acc = if k == 0 { e } else { acc * s + e };
            region.assign_advice(self.t, row, acc);
            if k == 0 {
                self.q_tstart.enable(region, row)?
            } else {
                self.q_tcont.enable(region, row)?
            }
            if i == 0 {
                self.q_tzero.enable(region, row)?;
            }
        }
        Ok(())
    }
}
