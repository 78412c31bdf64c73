//! Checks a whole ceremony, from the `.ptau` to the last contribution.
//!
//! 1. The `.ptau` sections phase 2 reads agree with each other: the powers are
//!    powers of one τ (in G1 and G2, and for α and β), and each Lagrange basis
//!    is the inverse DFT of the powers: Σ r_i·[L_i] = Σ_k ĉ_k·[τ^k] with ĉ the
//!    inverse NTT of a random r.
//! 2. File 0 is exactly [`super::init`]'s key for that `.ptau` and shape
//!    ([`super::init_model`]'s for a model's keys: the same model, batch and
//!    dense-row budget).
//! 3. For every contribution j: its file names the SHA-256 of file j − 1; the
//!    phase-1 points (α, β, γ, IC, A- and B-queries) are unchanged; the proofs
//!    of knowledge hold and δ₁ and the σ-bases moved by the proven δ_j and σ_j;
//!    δ₁ matches δ₂; every σ-base is σ·IC_i over its group's input bases with
//!    σ = [σδ]₂/δ₂ (committed) or [σ]₂ (a model's σ_hidden, σ_out); and the L- and
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
use veriflop_circuits::{CircuitKind, Shape};
use veriflop_infer::Model;

use super::contribute::chunks;
use super::ptau::{Ptau, Section};
use super::stream::{items, lengths, sigma_tag, Key, Pok, Role};
use super::{challenge, files, open, CeremonyError, Phase2};

/// What a successful verification found.
#[derive(Debug)]
pub struct Verified {
    pub kind: CircuitKind,
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

/// Verifies the ceremony in `dir` against `ptau`; a ceremony for a model's
/// keys needs the model (`model`), which a matmul ceremony must not be given.
pub fn verify(
    ptau: &mut Ptau,
    dir: &Path,
    model: Option<&Model>,
    progress: &dyn Fn(&str),
) -> Result<Verified, CeremonyError> {
    let paths = files(dir)?;
    let name = |i: usize| paths[i].file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let reject = |i: usize, msg: String| CeremonyError::Rejected { file: name(i), msg };
    let first = open(&paths[0])?.prefix(None).map_err(|e| reject(0, e))?;
    let (kind, shape) = (first.kind, first.shape);
    if first.prev != ptau.digest {
        return Err(reject(0, "was made from another .ptau (its SHA-256 differs)".into()));
    }
    progress("re-deriving the starting key");
    let start = match (first.model, model) {
        (Some(tag), Some(model)) => {
            if tag.digest != model.digest() {
                return Err(reject(0, "is for another model (its digest differs from the model's)".into()));
            }
            super::init_model(model, shape.m as usize, tag.dense_budget, ptau)?
        }
        (Some(_), None) => return Err(CeremonyError::Usage("a ceremony for a model's keys: give the model".into())),
        (None, Some(_)) => {
            return Err(CeremonyError::Usage(format!("a ceremony for {kind} {shape} is not for a model")))
        }
        (None, None) => super::init(kind, &shape, ptau)?,
    };
    // What each σ's bases are σ times: the bases at σ = 1, the starting key's.
    let (size, sigma_ic) = match &start.key {
        Key::Committed(k) => (super::init::domain_size(kind, &shape).map_err(|e| reject(0, e))?, vec![k.pok.clone()]),
        Key::Generic(_) => (super::init::domain_size(kind, &shape).map_err(|e| reject(0, e))?, Vec::new()),
        Key::Inference(k) => (k.pk.h_query.len(), vec![k.pok_hidden.clone(), k.pok_out.clone()]),
    };
    progress("checking the .ptau's powers and Lagrange bases");
    check_ptau(ptau, size).map_err(|msg| CeremonyError::Rejected { file: "the .ptau".into(), msg })?;
    let (start_bytes, mut prev_hash) = {
        let b = start.to_bytes();
        let h: [u8; 32] = Sha256::digest(&b).into();
        (b, h)
    };
    drop(start);
    if same_bytes(&paths[0], &start_bytes)? != Some(prev_hash) {
        return Err(reject(0, "is not the starting key of this .ptau, circuit and shape".into()));
    }
    drop(start_bytes);
    let mut contributions = Vec::new();
    for i in 1..paths.len() {
        progress(&format!("checking contribution {i}"));
        let (hash, name) = check_step(&paths[i - 1], &paths[i], i as u32, &prev_hash, (kind, shape), &sigma_ic)
            .map_err(|msg| reject(i, msg))?;
        contributions.push((i as u32, name, hash));
        prev_hash = hash;
    }
    Ok(Verified { kind, shape, contributions })
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
/// is `p_hash`, reading both side by side a chunk at a time; returns q's hash
/// and contributor name.
fn check_step(
    p_path: &Path,
    q_path: &Path,
    index: u32,
    p_hash: &[u8; 32],
    expect: (CircuitKind, Shape),
    sigma_ic: &[Vec<G1Affine>],
) -> Result<([u8; 32], String), String> {
    let before = |e: String| format!("the file before it: {e}");
    let (mut pr, mut qr) = (open(p_path).map_err(|e| e.to_string())?, open(q_path).map_err(|e| e.to_string())?);
    pr.prefix(Some(expect)).map_err(before)?;
    let q = qr.prefix(Some(expect))?;
    if q.index != index {
        return Err(format!("holds index {}", q.index));
    }
    if q.prev != *p_hash {
        return Err(format!("does not follow {} (another previous file's hash)", Phase2::file_name(index - 1)));
    }
    let r = q.record.as_ref().ok_or("has no contribution record")?;
    let poks: Vec<&Pok> = std::iter::once(&r.delta).chain(&r.sigmas).collect();
    if poks.iter().any(|p| p.s.is_zero() || p.sx.is_zero() || p.rx.is_zero())
        || q.sigma_delta_g2.is_some_and(|p| p.is_zero())
    {
        return Err("has the identity where a secret's point must be".into());
    }

    // The parts side by side: phase-1 ones equal, δ₁ and δ₂ kept, the others
    // combined with random scalars for one pairing check each.
    let want = lengths(expect.0, &expect.1);
    let ns = sigma_ic.len();
    if r.sigmas.len() != ns {
        return Err("has the wrong number of σ proofs".into());
    }
    let (mut v, mut delta1, mut delta2) = (0, None, None);
    let (mut pok0, mut sigma2) = (vec![None; ns], vec![None; ns]);
    let [mut lp, mut lq] = [G1Projective::zero(); 2];
    let (mut pok, mut ic) = (vec![G1Projective::zero(); ns], vec![G1Projective::zero(); ns]);
    for item in items(expect.0) {
        let n = if item.vector {
            v += 1;
            let (a, b) = (pr.len(item, want[v - 1]).map_err(before)?, qr.len(item, want[v - 1])?);
            if a != b {
                return Err(format!("{} holds {b} points, the file before it {a}", item.name));
            }
            a
        } else {
            1
        };
        let mut at = 0;
        for c in chunks(n) {
            if item.g2 {
                let (a, b) = (pr.g2s(c, item.name).map_err(before)?, qr.g2s(c, item.name)?);
                match item.role {
                    Role::Delta => delta2 = Some((a[0], b[0])),
                    Role::Sigma(k) => *sigma2.get_mut(k).ok_or("a σ this key does not have")? = Some(b[0]),
                    _ if a != b => return Err(PHASE1.into()),
                    _ => {}
                }
                continue;
            }
            let (a, b) = (pr.g1s(c, item.name).map_err(before)?, qr.g1s(c, item.name)?);
            match item.role {
                Role::Phase1 if a != b => return Err(PHASE1.into()),
                Role::Phase1 => {}
                Role::Delta => delta1 = Some((a[0], b[0])),
                Role::OverDelta => {
                    let x = random(c);
                    lp += G1Projective::msm(&a, &x).expect("equal lengths");
                    lq += G1Projective::msm(&b, &x).expect("equal lengths");
                }
                Role::Sigma(k) => {
                    let bases = sigma_ic.get(k).ok_or("a σ this key does not have")?;
                    if at == 0 {
                        pok0[k] = Some((a[0], b[0]));
                    }
                    let bases = bases.get(at..at + c).ok_or("more σ-bases than commitment-key points")?;
                    let x = random(c);
                    pok[k] += G1Projective::msm(&b, &x).expect("equal lengths");
                    ic[k] += G1Projective::msm(bases, &x).expect("equal lengths");
                }
            }
            at += c;
        }
    }
    pr.finish().map_err(before)?;
    let hash = qr.finish()?;
    let ((pd1, qd1), (pd2, qd2)) = (delta1.ok_or("no δ₁")?, delta2.ok_or("no δ₂")?);
    if qd1.is_zero() || qd2.is_zero() {
        return Err("has the identity where a secret's point must be".into());
    }
    let d = &r.delta;
    let rd = challenge("delta", &q.prev, &d.s, &d.sx);
    if !same_ratio((d.s, d.sx), (rd, d.rx)) {
        return Err("its proof of knowledge of δ_j does not hold".into());
    }
    if !same_ratio((pd1, qd1), (rd, d.rx)) {
        return Err("δ₁ is not the previous δ₁ times the proven δ_j (made without knowing its secret?)".into());
    }
    if !same_ratio((G1Affine::generator(), qd1), (G2Affine::generator(), qd2)) {
        return Err("δ₁ and δ₂ hold different δ".into());
    }
    let names: &[&str] = if ns == 2 { &["σ_hidden", "σ_out"] } else { &["σ"] };
    for (k, sp) in r.sigmas.iter().enumerate() {
        let s = names[k];
        let rs = challenge(sigma_tag(k), &q.prev, &sp.s, &sp.sx);
        if !same_ratio((sp.s, sp.sx), (rs, sp.rx)) {
            return Err(format!("its proof of knowledge of {s}_j does not hold"));
        }
        let (p0, q0) = pok0[k].ok_or("has no σ-bases")?;
        if q0.is_zero() || !same_ratio((p0, q0), (rs, sp.rx)) {
            return Err(format!("the {s}-bases are not the previous ones times the proven {s}_j"));
        }
        // The bases are σ·IC: against [σδ]₂ over δ₂ (committed), or [σ]₂.
        let (ic, pok) = (ic[k].into_affine(), pok[k].into_affine());
        match (q.sigma_delta_g2, sigma2[k]) {
            (Some(sd), _) if !same_ratio((ic, pok), (qd2, sd)) => {
                return Err(
                    "the σ-bases and [σδ]₂ disagree (σ and δ updated inconsistently, or a σ-base tampered)".into()
                )
            }
            (Some(_), _) => {}
            (None, Some(s2)) if s2.is_zero() => return Err("has the identity where a secret's point must be".into()),
            (None, Some(s2)) if !same_ratio((ic, pok), (G2Affine::generator(), s2)) => {
                return Err(format!("the {s}-bases and [{s}]₂ disagree (a σ-base or [{s}]₂ tampered)"))
            }
            (None, Some(_)) => {}
            (None, None) => return Err(format!("has no [{s}]₂")),
        }
    }
    if !same_ratio((lq.into_affine(), lp.into_affine()), (pd2, qd2)) {
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
