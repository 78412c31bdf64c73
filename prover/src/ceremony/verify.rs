//! Checks a whole ceremony, from the `.ptau` to the last contribution.
//!
//! 1. The `.ptau` sections phase 2 reads agree with each other: the powers are
//!    powers of one τ (in G1 and G2, and for α and β), and each Lagrange basis
//!    is the inverse DFT of the powers: Σ r_i·[L_i] = Σ_k ĉ_k·[τ^k] with ĉ the
//!    inverse NTT of a random r.
//! 2. File 0 is exactly [`super::init`]'s key for that `.ptau` and shape.
//! 3. For every contribution j: its file names the SHA-256 of file j − 1; the
//!    phase-1 points (α, β, γ, IC, A- and B-queries) are unchanged; the proofs
//!    of knowledge hold and δ₁ and the σ-bases moved by the proven δ_j and σ_j;
//!    δ₁ matches δ₂; every σ-base is σ·IC_C,i with σ = [σδ]₂/δ₂; and the L- and
//!    h-queries moved by exactly 1/δ_j. Vector equalities are checked with one
//!    pairing over a random combination (a wrong point passes with probability
//!    about 1/r).
//!
//! Every point was checked on the curve and in its subgroup when its file was
//! read ([`super::read`]).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{UniformRand, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use sha2::{Digest, Sha256};
use veriflop_circuits::circuit::committed::Layout;
use veriflop_circuits::cp::ic_ranges;
use veriflop_circuits::Shape;

use super::contribute::chunks;
use super::ptau::{Ptau, Section};
use super::stream::{Fixed, B_G2, H, L_SCALAR, POK, VECTORS};
use super::{challenge, files, open, CeremonyError, Phase2};
use crate::committed;

/// What a successful verification found.
#[derive(Debug)]
pub struct Verified {
    pub shape: Shape,
    /// (index, contributor name, contribution hash) of every contribution.
    pub contributions: Vec<(u32, String, [u8; 32])>,
}

/// e(a₁, b₂) = e(b₁, a₂): b₁/a₁ and b₂/a₂ are the same scalar.
fn same_ratio(g1: (G1Affine, G1Affine), g2: (G2Affine, G2Affine)) -> bool {
    let lhs = Bn254::multi_pairing([g1.0, -g1.1], [g2.1, g2.0]);
    lhs.0 == <Bn254 as Pairing>::TargetField::from(1u64)
}

fn random(n: usize) -> Vec<Fr> {
    let mut rng = rand::rngs::OsRng;
    (0..n).map(|_| Fr::rand(&mut rng)).collect()
}

fn msm1(bases: &[G1Affine], s: &[Fr]) -> G1Affine {
    G1Projective::msm(bases, s).expect("equal lengths").into_affine()
}

fn msm2(bases: &[G2Affine], s: &[Fr]) -> G2Affine {
    G2Projective::msm(bases, s).expect("equal lengths").into_affine()
}

/// Verifies the ceremony in `dir` against `ptau`.
pub fn verify(ptau: &mut Ptau, dir: &Path, progress: &dyn Fn(&str)) -> Result<Verified, CeremonyError> {
    let paths = files(dir)?;
    let name = |i: usize| paths[i].file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let reject = |i: usize, msg: String| CeremonyError::Rejected { file: name(i), msg };
    let (mut r, len) = open(&paths[0])?;
    let first = r.prefix(None, len).map_err(|e| reject(0, e))?;
    let shape = first.shape;
    let size = Layout::new(&shape).domain_size().ok_or_else(|| reject(0, format!("{shape} is too large")))?;
    if first.prev != ptau.digest {
        return Err(reject(0, "was made from another .ptau (its SHA-256 differs)".into()));
    }
    progress("checking the .ptau's powers and Lagrange bases");
    check_ptau(ptau, size).map_err(|msg| CeremonyError::Rejected { file: "the .ptau".into(), msg })?;
    progress("re-deriving the starting key");
    let start = super::init(&shape, ptau)?;
    let [_, _, rc] = ic_ranges(&shape);
    let ic_c = start.key.vk.gamma_abc_g1[rc].to_vec();
    let (start_bytes, mut prev_hash) = {
        let b = start.to_bytes();
        let h: [u8; 32] = Sha256::digest(&b).into();
        (b, h)
    };
    drop(start);
    if same_bytes(&paths[0], &start_bytes)? != Some(prev_hash) {
        return Err(reject(0, "is not the starting key of this .ptau and shape".into()));
    }
    drop(start_bytes);
    let mut contributions = Vec::new();
    for i in 1..paths.len() {
        progress(&format!("checking contribution {i}"));
        let (hash, name) =
            check_step(&paths[i - 1], &paths[i], i as u32, &prev_hash, &shape, &ic_c).map_err(|msg| reject(i, msg))?;
        contributions.push((i as u32, name, hash));
        prev_hash = hash;
    }
    Ok(Verified { shape, contributions })
}

/// The file's SHA-256 if its bytes are `want`, else None.
fn same_bytes(path: &Path, want: &[u8]) -> Result<Option<[u8; 32]>, CeremonyError> {
    let io = |e: std::io::Error| CeremonyError::Io(format!("{}: {e}", path.display()));
    let mut f = BufReader::new(File::open(path).map_err(io)?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0usize;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        if want.get(at..at + n) != Some(&buf[..n]) {
            return Ok(None);
        }
        h.update(&buf[..n]);
        at += n;
    }
    Ok((at == want.len()).then(|| h.finalize().into()))
}

/// Checks file `q` (index `index`) against the file `p` before it, whose hash
/// is `p_hash`, reading both a chunk at a time; returns q's hash and name.
fn check_step(
    p_path: &Path,
    q_path: &Path,
    index: u32,
    p_hash: &[u8; 32],
    shape: &Shape,
    ic_c: &[G1Affine],
) -> Result<([u8; 32], String), String> {
    let opened = |path: &Path| open(path).map_err(|e| e.to_string());
    let ((mut pr, p_len), (mut qr, q_len)) = (opened(p_path)?, opened(q_path)?);
    pr.prefix(Some(shape), p_len).map_err(|e| format!("the file before it: {e}"))?;
    let q = qr.prefix(Some(shape), q_len)?;
    if q.index != index {
        return Err(format!("holds index {}", q.index));
    }
    if q.prev != *p_hash {
        return Err(format!("does not follow {} (another previous file's hash)", Phase2::file_name(index - 1)));
    }
    let r = q.record.as_ref().ok_or("has no contribution record")?;
    let (pf, qf) = (Fixed::read(&mut pr)?, Fixed::read(&mut qr)?);
    if (pf.alpha_g1, pf.beta_g2, pf.gamma_g2, pf.beta_g1) != (qf.alpha_g1, qf.beta_g2, qf.gamma_g2, qf.beta_g1) {
        return Err(PHASE1.into());
    }
    if [r.s, r.s_delta, r.t, r.t_sigma, qf.delta_g1].iter().any(|p| p.is_zero())
        || [r.r_delta, r.q_sigma, qf.delta_g2, q.sigma_delta_g2].iter().any(|p| p.is_zero())
    {
        return Err("has the identity where a secret's point must be".into());
    }
    let rd = challenge("delta", &q.prev, &r.s, &r.s_delta);
    if !same_ratio((r.s, r.s_delta), (rd, r.r_delta)) {
        return Err("its proof of knowledge of δ_j does not hold".into());
    }
    if !same_ratio((pf.delta_g1, qf.delta_g1), (rd, r.r_delta)) {
        return Err("δ₁ is not the previous δ₁ times the proven δ_j (made without knowing its secret?)".into());
    }
    if !same_ratio((G1Affine::generator(), qf.delta_g1), (G2Affine::generator(), qf.delta_g2)) {
        return Err("δ₁ and δ₂ hold different δ".into());
    }
    let rs = challenge("sigma", &q.prev, &r.t, &r.t_sigma);
    if !same_ratio((r.t, r.t_sigma), (rs, r.q_sigma)) {
        return Err("its proof of knowledge of σ_j does not hold".into());
    }

    // The vectors, side by side: phase-1 ones equal, the others combined with
    // random scalars for one pairing check each.
    let want = committed::lengths(shape).ok_or("the shape is too large")?;
    let [mut lp, mut lq, mut pok, mut ic] = [G1Projective::zero(); 4];
    let mut pok0 = None;
    for (i, n) in want.iter().enumerate() {
        pr.len(*n, VECTORS[i]).map_err(|e| format!("the file before it: {e}"))?;
        qr.len(*n, VECTORS[i])?;
        let mut at = 0;
        for c in chunks(*n) {
            if i == B_G2 {
                if pr.g2s(c, VECTORS[i])? != qr.g2s(c, VECTORS[i])? {
                    return Err(PHASE1.into());
                }
                continue;
            }
            let (a, b) = (pr.g1s(c, VECTORS[i])?, qr.g1s(c, VECTORS[i])?);
            match i {
                L_SCALAR..=H => {
                    let x = random(c);
                    lp += G1Projective::msm(&a, &x).expect("equal lengths");
                    lq += G1Projective::msm(&b, &x).expect("equal lengths");
                }
                POK => {
                    if at == 0 {
                        pok0 = Some((a[0], b[0]));
                    }
                    let x = random(c);
                    pok += G1Projective::msm(&b, &x).expect("equal lengths");
                    ic += G1Projective::msm(&ic_c[at..at + c], &x).expect("equal lengths");
                }
                _ if a != b => return Err(PHASE1.into()),
                _ => {}
            }
            at += c;
        }
    }
    pr.finish().map_err(|e| format!("the file before it: {e}"))?;
    let hash = qr.finish()?;
    let (p0, q0) = pok0.ok_or("has no σ-bases")?;
    if q0.is_zero() || !same_ratio((p0, q0), (rs, r.q_sigma)) {
        return Err("the σ-bases are not the previous ones times the proven σ_j".into());
    }
    if !same_ratio((ic.into_affine(), pok.into_affine()), (qf.delta_g2, q.sigma_delta_g2)) {
        return Err("the σ-bases and [σδ]₂ disagree (σ and δ updated inconsistently, or a σ-base tampered)".into());
    }
    if !same_ratio((lq.into_affine(), lp.into_affine()), (pf.delta_g2, qf.delta_g2)) {
        return Err("the L- and h-queries did not move by 1/δ_j (a point tampered)".into());
    }
    Ok((hash, q.name))
}

const PHASE1: &str = "changes a point phase 1 fixes (α, β, γ, the IC points or the A- and B-queries)";

/// Step 1 for a QAP domain of `size` points (the h-query reads 2·size).
fn check_ptau(ptau: &mut Ptau, size: usize) -> Result<(), String> {
    let big = 2 * size;
    let tau1 = ptau.g1(Section::TauG1, 0, big as u64)?;
    let tau2 = ptau.g2(Section::TauG2, 0, size as u64 + 1)?;
    if tau1[0] != G1Affine::generator() || tau2[0] != G2Affine::generator() {
        return Err("τ^0 is not the generator".into());
    }
    let (t1, t2) = (tau1[1], tau2[1]);
    // Σ x_k·P_(k+1) = τ·Σ x_k·P_k over a vector of powers, in G1 or G2.
    let shifted1 = |v: &[G1Affine]| {
        let x = random(v.len() - 1);
        same_ratio((msm1(&v[..v.len() - 1], &x), msm1(&v[1..], &x)), (G2Affine::generator(), t2))
    };
    if !shifted1(&tau1) {
        return Err("the [τ^i]₁ are not powers of one τ".into());
    }
    let x = random(size);
    if !same_ratio((G1Affine::generator(), t1), (msm2(&tau2[..size], &x), msm2(&tau2[1..], &x))) {
        return Err("the [τ^i]₂ are not powers of the same τ".into());
    }
    let alpha = ptau.g1(Section::AlphaTauG1, 0, size as u64 + 1)?;
    let beta = ptau.g1(Section::BetaTauG1, 0, size as u64 + 1)?;
    if !shifted1(&alpha) || !shifted1(&beta) {
        return Err("the [ατ^i]₁ or [βτ^i]₁ are not α and β times powers of τ".into());
    }
    let beta_g2 = ptau.g2(Section::BetaG2, 0, 1)?[0];
    if !same_ratio((G1Affine::generator(), beta[0]), (G2Affine::generator(), beta_g2)) {
        return Err("[β]₁ and [β]₂ hold different β".into());
    }
    // Lagrange bases: [L_i] = Σ_k ĉ_ik [τ^k], so Σ x_i [L_i] = Σ_k ifft(x)_k [τ^k].
    let lagrange_ok = |l: &[G1Affine], powers: &[G1Affine]| {
        let n = l.len();
        let x = random(n);
        let c = Radix2EvaluationDomain::<Fr>::new(n).expect("a power of two").ifft(&x);
        msm1(l, &x) == msm1(&powers[..n], &c)
    };
    for (s, powers, n) in [
        (Section::LagrangeG1, &tau1, size),
        (Section::LagrangeG1, &tau1, big),
        (Section::LagrangeAlphaG1, &alpha, size),
        (Section::LagrangeBetaG1, &beta, size),
    ] {
        if !lagrange_ok(&ptau.lagrange_g1(s, n)?, powers) {
            return Err(format!("section {}'s Lagrange basis of {n} points is not that of the powers", s as u32));
        }
    }
    let l2 = ptau.lagrange_g2(size)?;
    let x = random(size);
    let c = Radix2EvaluationDomain::<Fr>::new(size).expect("a power of two").ifft(&x);
    if msm2(&l2, &x) != msm2(&tau2[..size], &c) {
        return Err("section 13's Lagrange basis is not that of the [τ^i]₂".into());
    }
    Ok(())
}
