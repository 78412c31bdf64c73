//! The inference job's Groth16 prover (docs/PROTOCOL.md §16.6): ordinary
//! Groth16 proofs under the model's arkworks keys, computed without arkworks'
//! generic prover.
//!
//! - The committed values (the public inputs after 1, r, α) do not depend on
//!   the challenges: they are computed directly from the run
//!   ([`committed_values`]) as small integers, committed, and only then are r
//!   and α drawn.
//! - The full assignment is computed straight from the run, in the circuit's
//!   allocation order ([`direct_assignment`]; a test holds it equal to the
//!   circuit's own synthesis, [`assignment`]), with the logUp inverses by
//!   batch inversion. The matrices are the model's: synthesized once per
//!   (model, batch), as the setup does, and cached ([`prepare`]).
//! - A·z, B·z, C·z come from the cached matrices; the quotient's values on
//!   the coset from six radix-2 NTTs on the domain of [`crate::qap`]'s
//!   reduction (the constraints, and a row for each unpivoted input: none for
//!   this circuit).
//! - Every MSM skips zero scalars and identity bases, and runs small signed
//!   scalars (int8 activations, int32 accumulators, 16-bit limbs,
//!   multiplicities) as magnitudes over ± bases with only as many windows as
//!   their bits need; only full-width scalars go through arkworks' MSM.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{AdditiveGroup, BigInteger, FftField, Field, One, PrimeField, UniformRand, Zero};
use ark_groth16::{Proof, ProvingKey};
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisMode};
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;

use crate::circuit::{limb, Challenges, Chunks, InferenceCircuit, Witness};
use crate::model::Model;
use crate::Error;

/// Where a proof's time went.
#[derive(Clone, Debug, Default)]
pub struct ProveStats {
    pub constraints: usize,
    pub instance: usize,
    pub witness: usize,
    /// QAP rows: the constraints and the reduction's extra rows.
    pub rows: usize,
    pub domain_size: usize,
    /// Matrices (zero once cached for the model and batch).
    pub prepare: Duration,
    /// Committed values from the run.
    pub committed_values: Duration,
    /// cm_hidden, cm_out and their proofs of knowledge.
    pub commitments: Duration,
    /// The full assignment, with the real challenges.
    pub synthesis: Duration,
    /// A·z, B·z, C·z and the satisfaction check.
    pub matvec: Duration,
    /// The quotient: six NTTs and the pointwise work.
    pub qap: Duration,
    pub msm_a: Duration,
    pub msm_b_g1: Duration,
    pub msm_b_g2: Duration,
    pub msm_l: Duration,
    pub msm_h: Duration,
    pub total: Duration,
}

/// A sparse matrix by rows.
struct Csr {
    start: Vec<usize>,
    cols: Vec<u32>,
    coeffs: Vec<Fr>,
}

impl Csr {
    fn new(m: &[Vec<(Fr, usize)>]) -> Self {
        let nnz = m.iter().map(Vec::len).sum();
        let mut start = Vec::with_capacity(m.len() + 1);
        let (mut cols, mut coeffs) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        start.push(0);
        for row in m {
            for &(c, j) in row {
                cols.push(j as u32);
                coeffs.push(c);
            }
            start.push(cols.len());
        }
        Csr { start, cols, coeffs }
    }

    fn eval_into(&self, z: &[Fr], out: &mut [Fr]) {
        out.par_iter_mut().enumerate().with_min_len(1 << 10).for_each(|(i, o)| {
            let mut s = Fr::zero();
            for t in self.start[i]..self.start[i + 1] {
                let (c, v) = (self.coeffs[t], z[self.cols[t] as usize]);
                if c.is_one() {
                    s += v;
                } else {
                    s += c * v;
                }
            }
            *o = s;
        });
    }
}

/// What a (model, batch) needs besides its keys: the circuit's matrices. It is
/// derived from the model alone, never stored.
pub struct Prepared {
    pub num_instance: usize,
    pub num_witness: usize,
    pub num_constraints: usize,
    /// The inputs given a QAP row of their own ([`crate::qap::unpivoted`]).
    pub extra_rows: Vec<usize>,
    pub domain_size: usize,
    /// The keys' dense-row budget, and the layers it makes dense.
    pub dense_budget: u64,
    pub dense: Vec<bool>,
    /// Where the hollow matrices leave out a dense layer's Σ W·X.
    pub folds: Vec<crate::circuit::Fold>,
    a: Csr,
    b: Csr,
    c: Csr,
}

type CacheKey = ([u8; 32], usize, u64);
type Cache = Mutex<Option<(CacheKey, Arc<Prepared>)>>;

/// The last model prepared (one at a time: a prover serves one model's jobs).
fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(None))
}

/// The committed circuit's matrices for (model, batch, dense-row budget),
/// synthesized as the setup synthesizes them except that a dense layer's
/// lookups leave out Σ W·X ([`InferenceCircuit::hollow`]; [`groth16`] adds
/// it from the run), cached for the next proofs.
pub fn prepare(model: &Model, batch: usize, dense_budget: u64) -> Result<Arc<Prepared>, Error> {
    let key = (model.digest(), batch, dense_budget);
    if let Some((k, p)) = cache().lock().expect("cache").as_ref() {
        if *k == key {
            return Ok(p.clone());
        }
    }
    let m = synthesize(model, batch, dense_budget, true)?;
    let extra_rows = crate::qap::unpivoted(&m);
    let rows = crate::qap::rows(m.num_constraints, &extra_rows);
    let domain_size = rows
        .checked_next_power_of_two()
        .filter(|n| n.trailing_zeros() <= Fr::TWO_ADICITY)
        .ok_or_else(|| Error::Model(format!("{rows} rows exceed the field's largest power-of-two domain")))?;
    let p = Arc::new(Prepared {
        num_instance: m.num_instance_variables,
        num_witness: m.num_witness_variables,
        num_constraints: m.num_constraints,
        extra_rows,
        domain_size,
        dense_budget,
        dense: crate::circuit::dense_layers(model, batch, dense_budget),
        folds: crate::circuit::folds(model, batch, dense_budget, m.num_constraints),
        a: Csr::new(&m.a),
        b: Csr::new(&m.b),
        c: Csr::new(&m.c),
    });
    *cache().lock().expect("cache") = Some((key, p.clone()));
    Ok(p)
}

/// The committed circuit's R1CS for (model, batch, dense-row budget) in
/// setup mode, hollow (dense layers' weight terms left out) or whole.
pub(crate) fn synthesize(
    model: &Model,
    batch: usize,
    dense_budget: u64,
    hollow: bool,
) -> Result<ark_relations::r1cs::ConstraintMatrices<Fr>, Error> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Setup);
    InferenceCircuit { model, batch, witness: None, challenges: None, committed: true, dense_budget, hollow }
        .generate_constraints(cs.clone())
        .map_err(synthesis)?;
    cs.finalize();
    cs.to_matrices().ok_or_else(|| Error::Model("no matrices".into()))
}

fn synthesis(e: ark_relations::r1cs::SynthesisError) -> Error {
    Error::Model(format!("synthesis: {e}"))
}

/// The committed circuit's public inputs after 1, r and α, in the order of
/// [`crate::circuit::instance_groups`], as the circuit assigns them: X_0; per
/// layer [Acc if Freivalds], X_(ℓ+1), then d (and e) per entry; then the
/// multiplicities of the byte, limb and chunk tables.
pub fn committed_values(model: &Model, w: &Witness, dense: &[bool]) -> Result<Vec<i64>, Error> {
    let m = w.batch;
    let sizes_ok = w.activations.len() == model.layers.len() + 1
        && w.accumulators.len() == model.layers.len()
        && dense.len() == model.layers.len()
        && model.layers.iter().enumerate().all(|(i, l)| {
            w.activations[i].len() == m * l.d_in
                && w.activations[i + 1].len() == m * l.d_out
                && w.accumulators[i].len() == m * l.d_out
        });
    if !sizes_ok {
        return Err(Error::Model("synthesis: the witness does not fit the model".into()));
    }
    let mut out = w.activations[0].clone();
    let mut bytes = vec![0i64; 256];
    let limb = limb(model);
    let mut limbs = vec![0i64; limb as usize];
    let mut layer_counts = Vec::with_capacity(model.layers.len());
    let count_limb = |limbs: &mut [i64], v: i64| {
        if (0..limb).contains(&v) {
            limbs[v as usize] += 1;
        }
    };
    for (li, layer) in model.layers.iter().enumerate() {
        let (acc, y) = (&w.accumulators[li], &w.activations[li + 1]);
        if !dense[li] {
            out.extend_from_slice(acc);
        }
        out.extend_from_slice(y);
        let chunks = Chunks::new(layer, limb);
        // Row index by packed value (the last of equal rows, as the circuit's map).
        let index: HashMap<i128, usize> =
            chunks.rows.iter().enumerate().map(|(i, &(v, a, b))| (chunks.pack(v, a, b), i)).collect();
        let mut counts = vec![0i64; chunks.rows.len()];
        for idx in 0..acc.len() {
            let (yv, a) = (y[idx], acc[idx]);
            let (d, e) = w.slack.get(&(li, idx)).copied().unwrap_or_else(|| chunks.slack(yv, a, limb));
            out.push(d);
            count_limb(&mut limbs, d);
            if !chunks.full {
                out.push(e);
                count_limb(&mut limbs, e);
            }
            if (-128..128).contains(&yv) {
                bytes[(yv + 128) as usize] += 1;
            }
            if let Some(&i) = index.get(&chunks.key(yv, a, d, e)) {
                counts[i] += 1;
            }
        }
        layer_counts.push(counts);
    }
    out.extend(bytes);
    out.extend(limbs);
    for c in layer_counts {
        out.extend(c);
    }
    Ok(out)
}

// ---------------------------------------------------------------- MSM

/// Σ v_i·P_i over small signed scalars: magnitudes over ± bases, windows of
/// 8 bits up to the largest magnitude's length, split in chunks across threads.
fn msm_small<P: SWCurveConfig>(bases: &[Affine<P>], values: &[i64]) -> Projective<P> {
    let items: Vec<(Affine<P>, u64)> = bases
        .iter()
        .zip(values)
        .filter(|(b, v)| **v != 0 && !b.is_zero())
        .map(|(b, &v)| if v < 0 { (-*b, v.unsigned_abs()) } else { (*b, v as u64) })
        .collect();
    msm_magnitudes(&items)
}

fn msm_magnitudes<P: SWCurveConfig>(items: &[(Affine<P>, u64)]) -> Projective<P> {
    if items.is_empty() {
        return Projective::<P>::zero();
    }
    let bits = 64 - items.iter().map(|x| x.1).max().unwrap_or(0).leading_zeros() as usize;
    const C: usize = 8;
    let windows = bits.div_ceil(C);
    let chunk = items.len().div_ceil(4 * rayon::current_num_threads()).max(1 << 10);
    items
        .par_chunks(chunk)
        .map(|items| {
            let mut total = Projective::<P>::zero();
            let mut buckets = [Projective::<P>::zero(); (1 << C) - 1];
            for wi in (0..windows).rev() {
                for _ in 0..C {
                    total.double_in_place();
                }
                buckets.iter_mut().for_each(|b| *b = Projective::<P>::zero());
                for (base, mag) in items {
                    let digit = (mag >> (wi * C)) as usize & ((1 << C) - 1);
                    if digit != 0 {
                        buckets[digit - 1] += base;
                    }
                }
                let (mut running, mut sum) = (Projective::<P>::zero(), Projective::<P>::zero());
                for b in buckets.iter().rev() {
                    running += b;
                    sum += running;
                }
                total += sum;
            }
            total
        })
        .reduce(Projective::<P>::zero, |a, b| a + b)
}

type BigInt = <Fr as PrimeField>::BigInt;

/// Σ s_i·P_i for arbitrary scalars: zeros and identity bases skipped, scalars
/// within ±2^64 as magnitudes ([`msm_magnitudes`]), the rest by `full` (the
/// others' scalars zeroed there, or left out when they are most).
fn msm<P: SWCurveConfig<ScalarField = Fr>>(
    bases: &[Affine<P>],
    scalars: &[Fr],
    full: impl Fn(&[Affine<P>], &[BigInt]) -> Projective<P>,
) -> Projective<P> {
    let n = bases.len().min(scalars.len());
    let mut big: Vec<BigInt> = scalars[..n].par_iter().with_min_len(1 << 12).map(|s| s.into_bigint()).collect();
    let mut small: Vec<(Affine<P>, u64)> = big
        .par_iter_mut()
        .zip(&bases[..n])
        .with_min_len(1 << 12)
        .filter_map(|(x, b)| {
            if x.is_zero() || b.is_zero() {
                *x = BigInt::zero();
                return None;
            }
            let item = if x.as_ref()[1..].iter().all(|&l| l == 0) {
                (*b, x.as_ref()[0])
            } else {
                let mut y = Fr::MODULUS;
                y.sub_with_borrow(x);
                if !y.as_ref()[1..].iter().all(|&l| l == 0) {
                    return None;
                }
                (-*b, y.as_ref()[0])
            };
            *x = BigInt::zero();
            Some(item)
        })
        .collect();
    // Small magnitudes by length, so that each class runs only its windows.
    small.par_sort_unstable_by_key(|x| x.1);
    let mut acc = Projective::<P>::zero();
    let mut rest = &small[..];
    for limit in [8u32, 16, 32, 64] {
        let split = rest.partition_point(|x| limit == 64 || x.1 < 1u64 << limit);
        acc += msm_magnitudes(&rest[..split]);
        rest = &rest[split..];
    }
    drop(small);
    let nonzero = big.par_iter().filter(|x| !x.is_zero()).count();
    if nonzero == 0 {
        return acc;
    }
    if nonzero < n / 2 {
        let (fb, fs): (Vec<Affine<P>>, Vec<BigInt>) =
            bases[..n].iter().zip(&big).filter(|(_, x)| !x.is_zero()).map(|(b, x)| (*b, *x)).unzip();
        acc + full(&fb, &fs)
    } else {
        acc + full(&bases[..n], &big)
    }
}

/// Σ s_i·P_i over full-width scalars in G1: Pippenger with signed c-bit
/// digits, one window per task, and buckets kept affine, so that additions
/// run in batches sharing one inversion (about 6 multiplications each instead
/// of the mixed addition's 11).
fn msm_g1_full(bases: &[G1Affine], scalars: &[<Fr as PrimeField>::BigInt]) -> G1Projective {
    let n = bases.len().min(scalars.len());
    if n < 1 << 10 {
        return G1Projective::msm_bigint(&bases[..n], &scalars[..n]);
    }
    let c = (usize::BITS - n.leading_zeros()).saturating_sub(5).clamp(8, 15) as usize;
    // Two spare bits: the top window stays below 2^(c−2), so its carry fits.
    let windows = (Fr::MODULUS_BIT_SIZE as usize + 2).div_ceil(c);
    // Signed digits in [−2^(c−1), 2^(c−1)], computed by blocks, stored window-major.
    let block = 1 << 14;
    let parts: Vec<Vec<i16>> = scalars[..n]
        .par_chunks(block)
        .map(|sc| {
            let mut out = vec![0i16; windows * sc.len()];
            for (t, s) in sc.iter().enumerate() {
                let limbs = s.as_ref();
                let mut carry = 0i64;
                for w in 0..windows {
                    let (li, bit) = ((w * c) / 64, (w * c) % 64);
                    let mut v = if li < limbs.len() { limbs[li] >> bit } else { 0 };
                    if bit + c > 64 && li + 1 < limbs.len() {
                        v |= limbs[li + 1] << (64 - bit);
                    }
                    let mut d = (v & ((1 << c) - 1)) as i64 + carry;
                    carry = 0;
                    if d >= 1 << (c - 1) {
                        d -= 1 << c;
                        carry = 1;
                    }
                    out[w * sc.len() + t] = d as i16;
                }
            }
            out
        })
        .collect();
    let mut digits = vec![0i16; windows * n];
    digits.par_chunks_mut(n).enumerate().for_each(|(w, col)| {
        for (bi, part) in parts.iter().enumerate() {
            let len = part.len() / windows;
            col[bi * block..bi * block + len].copy_from_slice(&part[w * len..(w + 1) * len]);
        }
    });
    drop(parts);
    let sums: Vec<G1Projective> = digits.par_chunks(n).map(|d| window_sum(bases, d, c)).collect();
    let mut total = G1Projective::zero();
    for s in sums.iter().rev() {
        for _ in 0..c {
            total.double_in_place();
        }
        total += s;
    }
    total
}

/// Σ_i d_i·P_i for one window's signed digits, by affine buckets. A point
/// whose bucket already waits in the batch goes to a projective twin of the
/// bucket instead (a mixed addition), so that runs of equal digits cost no
/// more than in the plain algorithm.
fn window_sum(bases: &[G1Affine], digits: &[i16], c: usize) -> G1Projective {
    use ark_bn254::Fq;
    const BATCH: usize = 1 << 10;
    let half = 1usize << (c - 1);
    let mut buckets = vec![G1Affine::identity(); half];
    let mut twins = vec![G1Projective::zero(); half];
    let mut busy = vec![false; half];
    let mut batch: Vec<(u32, G1Affine)> = Vec::with_capacity(BATCH);
    let mut dens: Vec<Fq> = Vec::with_capacity(BATCH);

    let mut prefix: Vec<Fq> = Vec::with_capacity(BATCH);
    let mut flush =
        |batch: &mut Vec<(u32, G1Affine)>, buckets: &mut [G1Affine], busy: &mut [bool], dens: &mut Vec<Fq>| {
            dens.clear();
            for &(b, q) in batch.iter() {
                let p = buckets[b as usize];
                dens.push(if p.x != q.x {
                    q.x - p.x
                } else if p.y == q.y && !p.y.is_zero() {
                    p.y.double()
                } else {
                    Fq::zero() // P + (−P): the bucket empties
                });
            }
            invert_serially(dens, &mut prefix);
            for (&(b, q), inv) in batch.iter().zip(dens.iter()) {
                let p = &mut buckets[b as usize];
                busy[b as usize] = false;
                if inv.is_zero() {
                    *p = G1Affine::identity();
                    continue;
                }
                let lambda = if p.x != q.x {
                    (q.y - p.y) * inv
                } else {
                    let x2 = p.x.square();
                    (x2.double() + x2) * inv
                };
                let x3 = lambda.square() - p.x - q.x;
                let y3 = lambda * (p.x - x3) - p.y;
                *p = G1Affine::new_unchecked(x3, y3);
            }
            batch.clear();
        };

    // Buckets are read in random order; reading the bucket of a digit some
    // points ahead starts its cache miss early, so that it overlaps this one's
    // arithmetic (about a quarter off a window, measured at 2^18 points).
    const AHEAD: usize = 48;
    for (i, (p, &d)) in bases.iter().zip(digits).enumerate() {
        if let Some(&next) = digits.get(i + AHEAD).filter(|d| **d != 0) {
            let ahead = &buckets[next.unsigned_abs() as usize - 1];
            std::hint::black_box((ahead.x.0 .0[0], ahead.infinity));
        }
        if d == 0 {
            continue;
        }
        let (b, q) = if d > 0 { (d as usize - 1, *p) } else { ((-(d as i32)) as usize - 1, -*p) };
        if busy[b] {
            twins[b] += q;
        } else if buckets[b].infinity {
            buckets[b] = q;
        } else {
            busy[b] = true;
            batch.push((b as u32, q));
            if batch.len() == BATCH {
                flush(&mut batch, &mut buckets, &mut busy, &mut dens);
            }
        }
    }
    flush(&mut batch, &mut buckets, &mut busy, &mut dens);
    let (mut running, mut sum) = (G1Projective::zero(), G1Projective::zero());
    for (b, t) in buckets.iter().zip(&twins).rev() {
        running += b;
        running += t;
        sum += running;
    }
    sum
}

/// v_i ← 1/v_i for the nonzero v_i (zeros stay zero), by Montgomery's trick
/// with one inversion, on this thread: arkworks' `batch_inversion` splits its
/// input across rayon's threads, which inside a window's task only adds a
/// second inversion and a fork per batch.
fn invert_serially(v: &mut [ark_bn254::Fq], prefix: &mut Vec<ark_bn254::Fq>) {
    use ark_bn254::Fq;
    prefix.clear();
    let mut acc = Fq::one();
    for x in v.iter() {
        if !x.is_zero() {
            acc *= x;
        }
        prefix.push(acc);
    }
    let Some(mut inv) = acc.inverse() else { return };
    for i in (0..v.len()).rev() {
        if v[i].is_zero() {
            continue;
        }
        let before = if i == 0 { Fq::one() } else { prefix[i - 1] };
        let x = v[i];
        v[i] = inv * before;
        inv *= x;
    }
}

// ---------------------------------------------------------------- NTT

fn bit_reverse(a: &mut [Fr]) {
    let n = a.len();
    let log = n.trailing_zeros();
    if log == 0 {
        return;
    }
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - log);
        if i < j {
            a.swap(i, j);
        }
    }
}

/// In-place radix-2 NTT (natural order in and out) with root `omega` of order a.len().
fn ntt(a: &mut [Fr], omega: Fr) {
    let n = a.len();
    if n <= 1 {
        return;
    }
    bit_reverse(a);
    let half = n / 2;
    let mut tw = vec![Fr::one(); half];
    let block = 1 << 12;
    tw.par_chunks_mut(block).enumerate().for_each(|(c, t)| {
        let mut x = omega.pow([(c * block) as u64]);
        for v in t.iter_mut() {
            *v = x;
            x *= omega;
        }
    });
    let threads = rayon::current_num_threads().max(1);
    let butterflies = |c: &mut [Fr], m: usize, step: usize| {
        let (lo, hi) = c.split_at_mut(m);
        for j in 0..m {
            let t = hi[j] * tw[j * step];
            hi[j] = lo[j] - t;
            lo[j] += t;
        }
    };
    // The first stages stay inside blocks that fit in cache: each block runs
    // them all at once; the later stages are passes over the whole vector.
    let local = n.min(NTT_BLOCK);
    a.par_chunks_mut(local).for_each(|blk| {
        let mut m = 1;
        while m < local {
            let step = half / m;
            for c in blk.chunks_mut(2 * m) {
                butterflies(c, m, step);
            }
            m *= 2;
        }
    });
    let mut m = local;
    while m < n {
        let step = half / m;
        let chunks = n / (2 * m);
        if chunks >= 4 * threads {
            a.par_chunks_mut(2 * m).for_each(|c| butterflies(c, m, step));
        } else {
            for c in a.chunks_mut(2 * m) {
                let (lo, hi) = c.split_at_mut(m);
                lo.par_chunks_mut(1 << 12).zip(hi.par_chunks_mut(1 << 12)).enumerate().for_each(|(b, (l, h))| {
                    let j0 = b << 12;
                    for j in 0..l.len() {
                        let t = h[j] * tw[(j0 + j) * step];
                        h[j] = l[j] - t;
                        l[j] += t;
                    }
                });
            }
        }
        m *= 2;
    }
}

/// Elements per cache-resident block of the NTT's first stages (256 KiB).
const NTT_BLOCK: usize = 1 << 13;

/// a[i] *= c·g^i.
fn scale_powers(a: &mut [Fr], c: Fr, g: Fr) {
    let block = 1 << 12;
    a.par_chunks_mut(block).enumerate().for_each(|(k, a)| {
        let mut x = c * g.pow([(k * block) as u64]);
        for v in a.iter_mut() {
            *v *= x;
            x *= g;
        }
    });
}

/// The quotient h = (A·B − C)/Z_H on the coset g·H (g = ω_2n,
/// [`crate::qap::coset_shift`]), from the evaluations on H: the values the
/// h-query's coset Lagrange basis multiplies ([`crate::qap`]).
fn quotient(mut a: Vec<Fr>, mut b: Vec<Fr>, mut c: Vec<Fr>) -> Vec<Fr> {
    let n = a.len();
    let omega = Fr::get_root_of_unity(n as u64).expect("power-of-two domain");
    let omega_inv = omega.inverse().expect("nonzero");
    let n_inv = Fr::from(n as u64).inverse().expect("n < p");
    let g = crate::qap::coset_shift::<Fr>(n).expect("power-of-two domain");
    for v in [&mut a, &mut b, &mut c] {
        ntt(v, omega_inv);
        scale_powers(v, n_inv, g); // coefficients, then onto the coset
        ntt(v, omega);
    }
    // Z_H(g·ω^i) = g^n − 1 (= −2) on the whole coset.
    let z_inv = (g.pow([n as u64]) - Fr::one()).inverse().expect("g is not in H");
    a.par_iter_mut().zip(&b).zip(&c).with_min_len(1 << 10).for_each(|((x, y), z)| {
        *x = (*x * y - z) * z_inv;
    });
    a
}

// ---------------------------------------------------------------- proof

/// The values a Groth16 proof is made of, given the full assignment z
/// (z_0 = 1, then the other public inputs, then the witnesses).
pub(crate) fn groth16<R: RngCore + CryptoRng>(
    pk: &ProvingKey<Bn254>,
    prep: &Prepared,
    z: &[Fr],
    folded: &[Vec<Fr>],
    rng: &mut R,
    stats: &mut ProveStats,
) -> Result<Proof<Bn254>, Error> {
    if folded.len() != prep.folds.len() {
        return Err(Error::Model("synthesis: the assignment does not fit the model's circuit".into()));
    }
    let (nc, ni, size) = (prep.num_constraints, prep.num_instance, prep.domain_size);
    let t = Instant::now();
    let (mut a, mut b, mut c) = (vec![Fr::zero(); size], vec![Fr::zero(); size], vec![Fr::zero(); size]);
    prep.a.eval_into(z, &mut a[..nc]);
    prep.b.eval_into(z, &mut b[..nc]);
    for (f, values) in prep.folds.iter().zip(folded) {
        b[f.first_row..f.first_row + values.len()].par_iter_mut().zip(values).for_each(|(b, v)| *b += v);
    }
    prep.c.eval_into(z, &mut c[..nc]);
    if let Some(i) = (0..nc).into_par_iter().find_first(|&i| a[i] * b[i] != c[i]) {
        return Err(Error::Unsatisfied(format!("{i}")));
    }
    // The reduction's rows for unpivoted inputs: A = z_i, B = C = 0.
    for (k, &i) in prep.extra_rows.iter().enumerate() {
        a[nc + k] = z[i];
    }
    stats.matvec = t.elapsed();

    let t = Instant::now();
    let h = quotient(a, b, c);
    stats.qap = t.elapsed();

    let (r, s) = (Fr::rand(rng), Fr::rand(rng));
    let t = Instant::now();
    let g_a = msm(&pk.a_query, z, msm_g1_full) + pk.vk.alpha_g1 + pk.delta_g1 * r;
    stats.msm_a = t.elapsed();
    let t = Instant::now();
    let g1_b = msm(&pk.b_g1_query, z, msm_g1_full) + pk.beta_g1 + pk.delta_g1 * s;
    stats.msm_b_g1 = t.elapsed();
    let t = Instant::now();
    let g2_b = msm(&pk.b_g2_query, z, VariableBaseMSM::msm_bigint) + pk.vk.beta_g2 + pk.vk.delta_g2 * s;
    stats.msm_b_g2 = t.elapsed();
    let t = Instant::now();
    let l = msm(&pk.l_query, &z[ni..], msm_g1_full);
    stats.msm_l = t.elapsed();
    let t = Instant::now();
    let hq = msm(&pk.h_query, &h, msm_g1_full);
    stats.msm_h = t.elapsed();
    let g_c = g_a * s + g1_b * r - pk.delta_g1 * (r * s) + l + hq;
    Ok(Proof { a: g_a.into_affine(), b: g2_b.into_affine(), c: g_c.into_affine() })
}

/// The full assignment z for the challenges, computed directly from the run,
/// in the circuit's allocation order: 1, r, α, the committed values, then the
/// witnesses (α's copy; powers of r; per layer W·r⃗, b·r⃗, per row X·(W·r⃗) and Acc·r^j,
/// Horner's h_i from the last row; per table the logUp terms 1/(α − a_i) and
/// m_j/(α − t_j), by batch inversion). [`assignment`] synthesizes the same
/// vector through the circuit; a test holds them equal.
pub fn direct_assignment(
    model: &Model,
    w: &Witness,
    ch: Challenges,
    committed: &[i64],
    prep: &Prepared,
) -> Result<Vec<Fr>, Error> {
    let m = w.batch;
    if committed.len() + 3 != prep.num_instance {
        return Err(Error::Model("synthesis: the assignment does not fit the model's circuit".into()));
    }
    let (r, alpha) = (ch.r, ch.alpha);
    let mut z = Vec::with_capacity(prep.num_instance + prep.num_witness);
    z.extend([Fr::one(), r, alpha]);
    z.par_extend(committed.par_iter().map(|&v| Fr::from(v)));
    z.push(alpha); // α's witness copy
    let max_n = crate::circuit::max_power(model, &prep.dense);
    let mut pow = vec![Fr::one(), r];
    while pow.len() <= max_n {
        let last = *pow.last().expect("nonempty");
        pow.push(last * r);
    }
    z.extend_from_slice(&pow[2..]);

    let limb = limb(model);
    let mut lookups_bytes = Vec::new();
    let mut lookups_limbs = Vec::new();
    let mut lookups_layers = Vec::with_capacity(model.layers.len());
    let mut off = m * model.d_in(); // into committed: this layer's block
    for (li, layer) in model.layers.iter().enumerate() {
        let (k, n) = (layer.d_in, layer.d_out);
        let x = &w.activations[li];
        let acc = &w.accumulators[li];
        let y = &w.activations[li + 1];
        if prep.dense[li] {
            // No witness; the hollow rows hold only if Acc = X·W + b, checked here.
            let wrong = (0..m * n).into_par_iter().find_first(|&idx| {
                let (i, j) = (idx / n, idx % n);
                // In i128: a caller's witness may hold any i64, and this must not overflow.
                let sum: i128 = (0..k).map(|l| x[i * k + l] as i128 * layer.weight(l, j) as i128).sum::<i128>()
                    + layer.bias[j] as i128;
                sum != acc[idx] as i128
            });
            if let Some(idx) = wrong {
                return Err(Error::Unsatisfied(format!("layer {li}: accumulator {idx} is not X·W + b")));
            }
        } else {
            let wr: Vec<Fr> = (0..k)
                .into_par_iter()
                .map(|l| (0..n).map(|j| Fr::from(layer.weight(l, j) as i64) * pow[j]).sum())
                .collect();
            let br: Fr = (0..n).map(|j| Fr::from(layer.bias[j] as i64) * pow[j]).sum();
            z.extend_from_slice(&wr);
            z.push(br);
            // Per row: k products, then n − 1 products; and the row's value.
            let rows: Vec<(Vec<Fr>, Fr)> = (0..m)
                .into_par_iter()
                .map(|i| {
                    let mut prods = Vec::with_capacity(k + n - 1);
                    let mut row = br - Fr::from(acc[i * n]);
                    for l in 0..k {
                        let p = Fr::from(x[i * k + l]) * wr[l];
                        row += p;
                        prods.push(p);
                    }
                    for j in 1..n {
                        let q = Fr::from(acc[i * n + j]) * pow[j];
                        row -= q;
                        prods.push(q);
                    }
                    (prods, row)
                })
                .collect();
            for (prods, _) in &rows {
                z.extend_from_slice(prods);
            }
            let s = pow[n];
            // h_i = row_i + s·h_(i+1) from h_m = 0, for i = m − 1 … 1 (h_0 = 0 is row 0's check).
            let mut h = Fr::zero();
            for i in (1..m).rev() {
                h = rows[i].1 + s * h;
                z.push(h);
            }
        }
        // Lookups of this layer's entries, from the committed d (and e).
        let chunks = Chunks::new(layer, limb);
        let per = chunks.slacks();
        let y_at = off + if prep.dense[li] { 0 } else { m * n };
        let de = &committed[y_at + m * n..y_at + (1 + per) * m * n];
        let mut keys = Vec::with_capacity(m * n);
        for idx in 0..m * n {
            let (yv, a, d) = (y[idx], acc[idx], de[per * idx]);
            let e = if chunks.full { 0 } else { de[per * idx + 1] };
            lookups_bytes.push(Fr::from(yv));
            lookups_limbs.push(Fr::from(d));
            if !chunks.full {
                lookups_limbs.push(Fr::from(e));
            }
            keys.push(Fr::from(chunks.key(yv, a, d, e)));
        }
        lookups_layers.push((keys, chunks));
        off = y_at + (1 + per) * m * n;
    }
    // logUp terms, table by table: lookups, then rows with their multiplicities.
    let mut tables: Vec<(Vec<Fr>, Vec<Fr>)> =
        vec![(lookups_bytes, (-128..128).map(Fr::from).collect()), (lookups_limbs, (0..limb).map(Fr::from).collect())];
    for (keys, chunks) in lookups_layers {
        let rows = chunks.rows.iter().map(|&(v, a, b)| Fr::from(chunks.pack(v, a, b))).collect();
        tables.push((keys, rows));
    }
    let mut counts = &committed[off..];
    for (lookups, rows) in tables {
        let (c, rest) = counts.split_at(rows.len());
        counts = rest;
        let start = z.len();
        z.par_extend(lookups.par_iter().chain(rows.par_iter()).map(|v| alpha - v));
        let terms = &mut z[start..];
        terms.par_chunks_mut(1 << 12).for_each(ark_ff::batch_inversion);
        let lk = lookups.len();
        terms[lk..].par_iter_mut().zip(c).for_each(|(q, &c)| *q *= Fr::from(c));
    }
    if z.len() != prep.num_instance + prep.num_witness {
        return Err(Error::Model("synthesis: the assignment does not fit the model's circuit".into()));
    }
    Ok(z)
}

/// What the hollow matrices leave out of each dense layer's lookups, on
/// their B side: −[`crate::circuit::acc_coeff`]·(Acc_ij − b_j), with Acc = X·W + b
/// (which [`direct_assignment`] checks natively).
pub fn folded_values(model: &Model, w: &Witness, prep: &Prepared) -> Vec<Vec<Fr>> {
    prep.folds
        .iter()
        .map(|f| {
            let layer = &model.layers[f.layer];
            let c = -crate::circuit::acc_coeff(f.full);
            let n = layer.d_out;
            w.accumulators[f.layer]
                .par_iter()
                .enumerate()
                .map(|(idx, &a)| c * Fr::from(a - layer.bias[idx % n] as i64))
                .collect()
        })
        .collect()
}

/// The full assignment for the challenges through the circuit: one synthesis,
/// no matrices (the reference for [`direct_assignment`]).
pub fn assignment(
    model: &Model,
    w: &Witness,
    ch: Challenges,
    committed: &[i64],
    prep: &Prepared,
) -> Result<Vec<Fr>, Error> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Prove { construct_matrices: false });
    InferenceCircuit {
        model,
        batch: w.batch,
        witness: Some(w),
        challenges: Some(ch),
        committed: true,
        dense_budget: prep.dense_budget,
        hollow: false,
    }
    .generate_constraints(cs.clone())
    .map_err(synthesis)?;
    let cs = cs.into_inner().ok_or_else(|| Error::Model("synthesis: constraint system still shared".into()))?;
    if cs.num_constraints != prep.num_constraints
        || cs.instance_assignment.len() != prep.num_instance
        || cs.witness_assignment.len() != prep.num_witness
        || committed.len() + 3 != prep.num_instance
    {
        return Err(Error::Model("synthesis: the assignment does not fit the model's circuit".into()));
    }
    // The committed values are the synthesized ones (what the commitments and
    // the transcript used is what the proof proves).
    let same = cs.instance_assignment[3..].par_iter().zip(committed).all(|(x, &v)| *x == Fr::from(v));
    if !same {
        return Err(Error::Model("synthesis: committed values differ from the circuit's".into()));
    }
    let mut z = cs.instance_assignment;
    z.extend_from_slice(&cs.witness_assignment);
    Ok(z)
}

/// Σ v_i·bases_i over small signed values (commitments and their proofs of knowledge).
pub(crate) fn commit(bases: &[G1Affine], values: &[i64]) -> G1Affine {
    debug_assert_eq!(bases.len(), values.len());
    let p: G1Projective = msm_small(bases, values);
    p.into_affine()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(seed: u64) -> Model {
        use crate::{Layer, QuantParams, Requant};
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut layer = |k: usize, n: usize, relu: bool| {
            let zp: i8 = rng.gen_range(-20..20);
            Layer {
                d_in: k,
                d_out: n,
                weights: (0..k * n).map(|_| rng.gen_range(-127..=127)).collect(),
                bias: (0..n).map(|_| rng.gen_range(-3000..3000)).collect(),
                requant: Requant::new(rng.gen_range(0.002..0.02), zp, if relu { zp } else { -128 }, 127).unwrap(),
            }
        };
        let layers = vec![layer(6, 5, true), layer(5, 4, false), layer(4, 3, false)];
        let q = QuantParams { scale: 0.05, zero_point: 0 };
        Model { input: q, layers, output: q }
    }

    fn honest(m: &Model, batch: usize) -> Witness {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let x: Vec<i8> = (0..batch * m.d_in()).map(|_| rng.gen()).collect();
        Witness::from(&crate::run(m, batch, &x).unwrap())
    }

    /// The directly computed assignment is the circuit's, for honest and
    /// dishonest runs alike (a wrong output, a wrong accumulator, slacks
    /// outside the limbs), so the fast path proves exactly what the circuit
    /// relates.
    #[test]
    fn direct_assignment_is_the_circuits() {
        let mut rng = rand::rngs::OsRng;
        // Split chunks; then full-width and split ones.
        for m in [model(1), Model::random_mlp(&[12, 9, 4], 3)] {
            let batch = 3;
            let w = honest(&m, batch);
            let mut wrong_y = w.clone();
            wrong_y.activations[1][1] += 1; // the second layer's input
            let mut wrong_acc = w.clone();
            wrong_acc.accumulators[0][2] -= 7;
            let mut slack = w.clone();
            slack.slack.insert((1, 0), (-3, 70_000));
            slack.slack.insert((2, 2), (1 << 40, -(1 << 40)));
            // Every layer by Freivalds, then every layer dense (whose hollow rows
            // need the native check, which refuses a run whose Acc is not X·W + b).
            for budget in [0, u64::MAX] {
                let prep = prepare(&m, batch, budget).unwrap();
                for (w, matmul_holds) in [(&w, true), (&wrong_y, false), (&wrong_acc, false), (&slack, true)] {
                    let ch = Challenges { r: Fr::rand(&mut rng), alpha: Fr::rand(&mut rng) };
                    let values = committed_values(&m, w, &prep.dense).unwrap();
                    let direct = direct_assignment(&m, w, ch, &values, &prep);
                    if budget > 0 && !matmul_holds {
                        assert!(matches!(direct, Err(Error::Unsatisfied(_))));
                        continue;
                    }
                    assert_eq!(direct.unwrap(), assignment(&m, w, ch, &values, &prep).unwrap());
                }
                // A looked-up value equal to α: the circuit's term is 0, and so is ours.
                let ch = Challenges { r: Fr::rand(&mut rng), alpha: Fr::from(w.activations[1][0] + 128) };
                let values = committed_values(&m, &w, &prep.dense).unwrap();
                assert_eq!(
                    direct_assignment(&m, &w, ch, &values, &prep).unwrap(),
                    assignment(&m, &w, ch, &values, &prep).unwrap()
                );
            }
        }
    }

    /// The fast path's proof verifies under the arkworks keys; wrong runs are
    /// refused by its own satisfaction check.
    #[test]
    fn fast_proofs_verify_and_wrong_runs_are_refused() {
        use crate::job::{prove, verify, InferenceStatement, ModelKeys};
        use veriflop_circuits::statement::Address;
        let mut rng = rand::rngs::OsRng;
        let m = model(2);
        let batch = 2;
        let keys = ModelKeys::setup(&m, batch, &mut rng).unwrap();
        let w = honest(&m, batch);
        let st = InferenceStatement {
            job_id: Fr::from(5u64),
            provider: Address([3; 20]),
            model_digest: m.digest(),
            cm_in: keys.commit_input(&w.activations[0].iter().map(|&v| v as i8).collect::<Vec<_>>()).unwrap(),
        };
        for _ in 0..2 {
            let p = prove(&keys, &m, &w, &st, &mut rng).unwrap();
            assert!(verify(&keys, &st, &p));
        }
        let mut wrong_acc = w.clone();
        wrong_acc.accumulators[1][0] += 1;
        let mut negative_d = w.clone();
        negative_d.slack.insert((0, 1), (-1, 0));
        let mut wrong_y = w.clone();
        wrong_y.activations[3][0] = if wrong_y.activations[3][0] == 127 { 126 } else { wrong_y.activations[3][0] + 1 };
        for bad in [wrong_acc, negative_d, wrong_y] {
            assert!(matches!(prove(&keys, &m, &bad, &st, &mut rng), Err(Error::Unsatisfied(_))));
        }
        let mut short = w.clone();
        short.accumulators[0].pop();
        assert!(prove(&keys, &m, &short, &st, &mut rng).is_err());
    }

    #[test]
    fn msm_matches_arkworks() {
        let mut rng = rand::rngs::OsRng;
        let n = 3000;
        let bases: Vec<G1Affine> = (0..n).map(|_| G1Projective::rand(&mut rng).into_affine()).collect();
        let scalars: Vec<Fr> = (0..n)
            .map(|i| match i % 6 {
                0 => Fr::zero(),
                1 => Fr::from((i as i64) - 1500),
                2 => -Fr::from(u64::MAX),
                3 => Fr::from(u64::MAX),
                4 => Fr::from(1u64 << 20) * Fr::from(-(i as i64)),
                _ => Fr::rand(&mut rng),
            })
            .collect();
        let want = G1Projective::msm(&bases, &scalars).unwrap();
        assert_eq!(msm(&bases, &scalars, msm_g1_full), want);
        assert_eq!(msm(&bases, &scalars, VariableBaseMSM::msm_bigint), want);
        // Batch-affine windows: many points, repeated and opposite bases
        // (doublings and cancellations in a bucket), zero digits.
        let n = 5000;
        let mut bases: Vec<G1Affine> = (0..n).map(|_| G1Projective::rand(&mut rng).into_affine()).collect();
        for i in 0..n / 4 {
            bases[4 * i + 1] = bases[4 * i];
            bases[4 * i + 2] = -bases[4 * i];
        }
        let mut scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        for i in 0..n / 8 {
            scalars[8 * i + 1] = scalars[8 * i];
            scalars[8 * i + 3] = Fr::zero();
        }
        let big: Vec<BigInt> = scalars.iter().map(|s| s.into_bigint()).collect();
        assert_eq!(msm_g1_full(&bases, &big), G1Projective::msm(&bases, &scalars).unwrap());
        let ones: Vec<BigInt> = (0..n).map(|i| Fr::from(1 + (i / 1000) as u64).into_bigint()).collect();
        let f: Vec<Fr> = ones.iter().map(|&b| Fr::from_bigint(b).unwrap()).collect();
        assert_eq!(msm_g1_full(&bases, &ones), G1Projective::msm(&bases, &f).unwrap());
        let small: Vec<i64> = (0..n as i64).map(|i| (i - 1500) * (1 << (i % 40))).collect();
        let sf: Vec<Fr> = small.iter().map(|&v| Fr::from(v)).collect();
        assert_eq!(commit(&bases, &small), G1Projective::msm(&bases, &sf).unwrap().into_affine());
    }

    #[test]
    fn serial_inversion_inverts_and_keeps_zeros() {
        use ark_bn254::Fq;
        let mut rng = rand::rngs::OsRng;
        let orig: Vec<Fq> =
            (0..50).map(|i| if i % 7 == 3 || i == 0 || i == 49 { Fq::zero() } else { Fq::rand(&mut rng) }).collect();
        let mut v = orig.clone();
        invert_serially(&mut v, &mut Vec::new());
        for (x, y) in orig.iter().zip(&v) {
            assert_eq!(*y, x.inverse().unwrap_or(Fq::zero()));
        }
        let mut zeros = vec![Fq::zero(); 3];
        invert_serially(&mut zeros, &mut Vec::new());
        assert!(zeros.iter().all(|z| z.is_zero()));
    }

    #[test]
    fn ntt_round_trip_and_quotient() {
        use ark_poly::EvaluationDomain;
        let mut rng = rand::rngs::OsRng;
        let n = 1 << 10;
        let p: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let omega = Fr::get_root_of_unity(n as u64).unwrap();
        let mut e = p.clone();
        ntt(&mut e, omega);
        for i in [0usize, 1, 17, n - 1] {
            let x = omega.pow([i as u64]);
            let mut v = Fr::zero();
            for c in p.iter().rev() {
                v = v * x + c;
            }
            assert_eq!(e[i], v);
        }
        // a·b − c vanishing on H: h·Z_H = a·b − c as polynomials, checked at a point.
        let a: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let b: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let c: Vec<Fr> = a.iter().zip(&b).map(|(x, y)| *x * y).collect();
        let interp = |v: &[Fr]| {
            let mut v = v.to_vec();
            ntt(&mut v, omega.inverse().unwrap());
            let ninv = Fr::from(n as u64).inverse().unwrap();
            v.iter_mut().for_each(|x| *x *= ninv);
            v
        };
        let (pa, pb, pc) = (interp(&a), interp(&b), interp(&c));
        // h's values on g·H, evaluated at t through the coset's Lagrange basis
        // (as the h-query does, crate::qap).
        let h = quotient(a, b, c);
        let t = Fr::rand(&mut rng);
        let coset = ark_poly::Radix2EvaluationDomain::<Fr>::new(n)
            .unwrap()
            .get_coset(crate::qap::coset_shift(n).unwrap())
            .unwrap();
        let h_t: Fr = coset.evaluate_all_lagrange_coefficients(t).iter().zip(&h).map(|(l, v)| *l * v).sum();
        let ev = |p: &[Fr]| p.iter().rev().fold(Fr::zero(), |acc, c| acc * t + c);
        assert_eq!(h_t * (t.pow([n as u64]) - Fr::one()), ev(&pa) * ev(&pb) - ev(&pc));
    }
}
