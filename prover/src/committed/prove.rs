//! The committed circuit's Groth16 prover: witness and QAP evaluations straight
//! from A, B, C and r, then the MSMs grouped by the layout (see the module doc).

use std::time::Instant;

use ark_bn254::{Bn254, Fr, G1Projective};
use ark_ec::CurveGroup;
use ark_ff::{One, UniformRand, Zero};
use ark_groth16::Proof;
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;
use veriflop_circuits::circuit::committed::Layout;
use veriflop_circuits::circuit::fr_from_i128;
use veriflop_circuits::{Shape, Witness};

use super::CommittedKey;
use crate::backend::Backend;
use crate::prove::{Progress, ProveError, ProveOptions, ProveStats};
use crate::qap;

/// Fills consecutive rows (a, b, c = a·b) group by group, in parallel.
fn fill(a: &mut [Fr], b: &mut [Fr], c: &mut [Fr], group: usize, row: impl Fn(usize, usize) -> (Fr, Fr) + Sync) {
    if group == 0 {
        return;
    }
    a.par_chunks_mut(group).zip(b.par_chunks_mut(group)).zip(c.par_chunks_mut(group)).enumerate().for_each(
        |(g, ((a, b), c))| {
            for i in 0..a.len() {
                let (x, y) = row(g, i);
                (a[i], b[i], c[i]) = (x, y, x * y);
            }
        },
    );
}

/// The row-order vector `rows` in H's order: row β·T + u at ω^(β + u·|H|/T)
/// (`Layout::qap_index`), a transpose of |H|/T × T, eight columns per task.
fn to_h_order(rows: Vec<Fr>, block: usize) -> Vec<Fr> {
    if block == 1 {
        return rows;
    }
    let blocks = rows.len() / block;
    let cols = block.min(8);
    let mut out = vec![Fr::zero(); rows.len()];
    out.par_chunks_mut(cols * blocks).enumerate().for_each(|(t, out)| {
        for beta in 0..blocks {
            let src = &rows[beta * block + t * cols..][..cols];
            for (du, x) in src.iter().enumerate() {
                out[du * blocks + beta] = *x;
            }
        }
    });
    out
}

/// A Groth16 proof that `w` satisfies the committed circuit for challenge `r`.
pub fn prove<R: RngCore + CryptoRng>(
    key: &CommittedKey,
    shape: &Shape,
    w: &Witness,
    r: Fr,
    backend: &dyn Backend,
    rng: &mut R,
    options: ProveOptions,
    progress: Progress,
) -> Result<(Proof<Bn254>, ProveStats), ProveError> {
    let start = Instant::now();
    let layout = Layout::new(shape);
    let (m, k, n) = (layout.m, layout.k, layout.n);
    if !key.fits(shape) {
        return Err(ProveError::KeyMismatch(format!("the key's vectors do not fit {shape}")));
    }
    if w.a.data.len() != m * k || w.b.data.len() != k * n || w.c.data.len() != m * n {
        return Err(ProveError::BadWitness);
    }
    progress("witness");
    let (a_in, b_in, c_in) = (&w.a.data, &w.b.data, &w.c.data);
    let av = |i: usize, l: usize| Fr::from(a_in[i * k + l] as i64);
    let bv = |l: usize, j: usize| Fr::from(b_in[l * n + j] as i64);
    let cv = |i: usize, j: usize| fr_from_i128(c_in[i * n + j]);
    let rp: Vec<Fr> = std::iter::successors(Some(Fr::one()), |p| Some(*p * r)).take(n + 1).collect();
    let s = rp[n];
    let y: Vec<Fr> = (0..k).into_par_iter().map(|l| (0..n).map(|j| bv(l, j) * rp[j]).sum()).collect();
    let d: Vec<Fr> = (0..m)
        .into_par_iter()
        .map(|i| (0..k).map(|l| av(i, l) * y[l]).sum::<Fr>() - (0..n).map(|j| cv(i, j) * rp[j]).sum::<Fr>())
        .collect();
    // acc_i = d_i + s·acc_(i+1), acc_m = 0; acc_0 is the constant 0 the last row checks.
    let mut acc = vec![Fr::zero(); m + 1];
    for i in (1..m).rev() {
        acc[i] = d[i] + s * acc[i + 1];
    }

    // QAP evaluations, row by row in the layout's order.
    let nc = layout.num_constraints();
    let size = layout
        .domain_size()
        .ok_or_else(|| ProveError::KeyMismatch(format!("{shape} exceeds the largest NTT domain")))?;
    let (mut a, mut b, mut c) = (vec![Fr::zero(); size], vec![Fr::zero(); size], vec![Fr::zero(); size]);
    let powers = layout.num_power_rows();
    for row in 0..powers {
        let j = row + 2; // r^j = r^(j−1)·r; the last row is s = r^(n−1)·r
        let prev = if row + 1 == powers { rp[n - 1] } else { rp[j - 1] };
        (a[row], b[row], c[row]) = (prev, r, prev * r);
    }
    b[powers..layout.y_row(0)].fill(r); // padding rows 0·r = 0
    let p0 = layout.p_row(0, 0);
    let h0 = layout.horner_row(0);
    {
        let (ap, aq) = a[p0..h0].split_at_mut(m * k);
        let (bp, bq) = b[p0..h0].split_at_mut(m * k);
        let (cp_, cq) = c[p0..h0].split_at_mut(m * k);
        fill(ap, bp, cp_, m, |l, i| (av(i, l), y[l]));
        fill(aq, bq, cq, k + m, |g, t| {
            let j = g + 1;
            if t < k {
                (bv(t, j), rp[j])
            } else {
                (cv(t - k, j), rp[j])
            }
        });
    }
    for i in 0..m {
        let row = h0 + i;
        (a[row], b[row], c[row]) = (acc[i + 1], s, acc[i] - d[i]);
    }
    a[nc..nc + 4].copy_from_slice(&[Fr::one(), w.job_id, w.provider.to_fr(), r]);
    let first_unsatisfied = (0..nc).into_par_iter().find_first(|&i| a[i] * b[i] != c[i]);
    if let (Some(i), false) = (first_unsatisfied, options.allow_unsatisfied) {
        return Err(ProveError::Unsatisfied(i));
    }
    let mut stats = ProveStats {
        constraints: nc,
        variables: layout.num_variables(),
        domain_size: size,
        synthesis: start.elapsed(),
        ..Default::default()
    };

    progress("qap");
    // B is constant on blocks of T rows: its value per block is its period in H.
    debug_assert!(b.chunks(layout.block).all(|blk| blk.iter().all(|x| *x == blk[0])));
    let b: Vec<Fr> = b.into_iter().step_by(layout.block).collect();
    let (a, c) = (to_h_order(a, layout.block), to_h_order(c, layout.block));
    let (h, ntt_time) = qap::quotient_on_coset(a, b, c, backend)?;
    stats.ntt = ntt_time;

    progress("msm");
    let t = Instant::now();
    let mut scalars = vec![Fr::one(), w.job_id, w.provider.to_fr(), r];
    scalars.extend_from_slice(rp.get(2..n).unwrap_or(&[]));
    scalars.push(s);
    scalars.extend_from_slice(&y);
    scalars.extend_from_slice(&acc[1..m]);
    let entries: Vec<i128> = a_in.iter().chain(b_in.iter()).map(|&x| x as i128).chain(c_in.iter().copied()).collect();
    // Products: column l of A times y_l; for j ≥ 1, column j of B and of C times r^j.
    let a_cols: Vec<i128> = (0..m * k).map(|t| a_in[(t % m) * k + t / m] as i128).collect();
    let bc_cols: Vec<i128> = (0..(n - 1) * (k + m))
        .map(|t| {
            let (j, t) = (1 + t / (k + m), t % (k + m));
            if t < k {
                b_in[t * n + j] as i128
            } else {
                c_in[(t - k) * n + j]
            }
        })
        .collect();
    let (lp, lq) = key.l_products.split_at(m * k);
    let mut groups = backend.msm_g1_small_groups(lp, &a_cols, m)?;
    groups.extend(backend.msm_g1_small_groups(lq, &bc_cols, k + m)?);
    let factors: Vec<Fr> = y.iter().chain(&rp[1..n]).copied().collect();
    let groups = G1Projective::normalize_batch(&groups);

    let (rb, sb) = (Fr::rand(rng), Fr::rand(rng));
    let vk = &key.vk;
    let g_a = backend.msm_g1(&key.a_scalar, &scalars)?
        + backend.msm_g1_small(&key.a_entries, &entries)?
        + vk.alpha_g1
        + key.delta_g1 * rb;
    let g1_b = backend.msm_g1(&key.b_g1_scalar, &scalars)? + key.beta_g1 + key.delta_g1 * sb;
    let g2_b = backend.msm_g2(&key.b_g2_scalar, &scalars)? + vk.beta_g2 + vk.delta_g2 * sb;
    let l_acc = backend.msm_g1(&key.l_scalar, &scalars[4..])? + backend.msm_g1(&groups, &factors)?;
    let h_acc = backend.msm_g1(&key.h, &h)?;
    stats.msm = t.elapsed();
    let g_c = g_a * sb + g1_b * rb - key.delta_g1 * (rb * sb) + l_acc + h_acc;
    let proof = Proof { a: g_a.into_affine(), b: g2_b.into_affine(), c: g_c.into_affine() };
    stats.total = start.elapsed();
    stats.other = stats.total.saturating_sub(stats.synthesis + stats.ntt + stats.msm);
    Ok((proof, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The transpose puts every row where the setup's `Layout::qap_index` does.
    #[test]
    fn h_order_is_the_layouts_point_assignment() {
        use veriflop_circuits::Dtype;
        for (m, k, n) in [(1, 1, 1), (4, 4, 4), (16, 16, 16), (32, 8, 33)] {
            let layout = Layout::new(&Shape::new(m, k, n, Dtype::Int8).unwrap());
            let size = layout.domain_size().unwrap();
            let rows: Vec<Fr> = (0..size as u64).map(Fr::from).collect();
            let h = to_h_order(rows, layout.block);
            for row in 0..size {
                assert_eq!(h[layout.qap_index(row, size)], Fr::from(row as u64), "{m}x{k}x{n} row {row}");
            }
        }
    }
}
