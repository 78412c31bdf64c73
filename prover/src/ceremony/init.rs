//! The phase-2 starting key from a prepared `.ptau`, with δ = σ = 1.
//!
//! Committed circuit: each variable's QAP polynomials at τ are Σ coefficient·L_x(τ) over its terms,
//! x the row's point of H (`Layout::qap_index`), so every query is a sum of the
//! `.ptau`'s Lagrange points (all coefficients of the layout are ±1): A-query
//! Σ[L]₁, B-queries Σ[L]₁ and Σ[L]₂, and K = β·u + α·v + w as Σ[βL]₁ + Σ[αL]₁
//! + Σ[L]₁, which is the IC point of an input (γ = 1) and the L-query point of
//! a witness (before any δ). The h-query is −2·[L'_(2i+1)]₁, L' the Lagrange
//! basis of size 2|H| (the coset shift is ω_2|H|; `backend::coset_shift`).
//!
//! A model's inference keys (`veriflop_infer::qap`'s reduction: constraint j
//! at ω^j, then a row per unpivoted input): the same sums over the R1CS's
//! coefficients, and the h-query −2·[L'_(2i+1)]₁ as for the committed circuit
//! (the reduction's coset is ω_2|H|·H). Its σ-bases start as the hidden and
//! output groups' input bases and [σ]₂ as the G2 generator (σ = 1).
//!
//! Poseidon and naive circuits: ark-groth16's key for the libsnark reduction
//! (constraint i at ω^i, then an A-row per public input), the same sums with
//! the matrices' coefficients (an MSM per variable), and the h-query in
//! monomial form, [τ^i·Z_H(τ)]₁ = [τ^(|H|+i)]₁ − [τ^i]₁ for i < |H| − 1.

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup, VariableBaseMSM};
use ark_ff::{AdditiveGroup, Field, One, PrimeField, Zero};
use ark_groth16::ProvingKey;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use ark_relations::r1cs::{
    ConstraintMatrices, ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisMode,
};
use rayon::prelude::*;
use veriflop_circuits::circuit::committed::{Layout, SCALAR_VARS};
use veriflop_circuits::cp::ic_ranges;
use veriflop_circuits::{CircuitKind, Dtype, MatmulCircuit, Shape};
use veriflop_infer::circuit::{acc_coeff, dense_layers, instance_groups, Group, WHOLE_BUDGET};
use veriflop_infer::job::setup_matrices;
use veriflop_infer::qap::{rows as qap_rows, unpivoted};
use veriflop_infer::Model;

use super::ptau::{Ptau, Section};
use super::stream::{InferenceKey, Key, ModelTag, Prefix};
use super::{CeremonyError, Phase2};
use crate::committed::CommittedKey;

/// Phase 2's file 0 for a circuit and shape from a prepared `.ptau`.
pub fn init(kind: CircuitKind, shape: &Shape, ptau: &mut Ptau) -> Result<Phase2, CeremonyError> {
    let (key, sigma_delta_g2) = match kind {
        CircuitKind::Committed => {
            let (k, sd) = committed_key(shape, ptau).map_err(CeremonyError::Format)?;
            (Key::Committed(k), Some(sd))
        }
        CircuitKind::Poseidon | CircuitKind::Naive => {
            (Key::Generic(generic_key(kind, shape, ptau).map_err(CeremonyError::Format)?), None)
        }
        CircuitKind::Inference => {
            return Err(CeremonyError::Usage("a model's keys come from `init_model` (`ceremony init --model`)".into()))
        }
    };
    let prefix = Prefix {
        kind,
        shape: *shape,
        index: 0,
        prev: ptau.digest,
        name: String::new(),
        model: None,
        record: None,
        sigma_delta_g2,
    };
    Ok(Phase2 { prefix, key })
}

/// Phase 2's file 0 for a model's keys at one batch size (and the circuit's
/// dense-row budget, `veriflop_infer::circuit::WHOLE_BUDGET` as `ceremony
/// init --model` uses) from a prepared `.ptau`. The ceremony synthesizes the
/// whole circuit, every dense layer's weight terms included, so it refuses a
/// budget that makes more than `WHOLE_BUDGET` of them dense.
pub fn init_model(model: &Model, batch: usize, dense_budget: u64, ptau: &mut Ptau) -> Result<Phase2, CeremonyError> {
    let bad = |e: veriflop_infer::Error| CeremonyError::Format(e.to_string());
    let dense = dense_layers(model, batch, dense_budget);
    let terms: u64 =
        model.layers.iter().zip(&dense).filter(|(_, d)| **d).map(|(l, _)| (batch * l.d_in * l.d_out) as u64).sum();
    if terms > WHOLE_BUDGET {
        return Err(CeremonyError::Format(format!(
            "a dense-row budget of {dense_budget} makes {terms} weight terms dense, beyond the {WHOLE_BUDGET} a ceremony holds in memory"
        )));
    }
    let m = setup_matrices(model, batch, dense_budget).map_err(bad)?;
    let shape = Shape::new(batch as u32, model.d_in() as u32, model.d_out() as u32, Dtype::Int8)
        .map_err(|e| CeremonyError::Format(format!("the model's job shape: {e}")))?;
    let extra = unpivoted(&m);
    let size = Radix2EvaluationDomain::<Fr>::new(qap_rows(m.num_constraints, &extra))
        .map(|d| d.size())
        .filter(|s| *s < 1 << 27)
        .ok_or_else(|| CeremonyError::Format("the model's circuit exceeds the largest NTT domain".into()))?;
    let what = format!("the model at batch {batch}");
    check_power(&what, size, ptau).map_err(CeremonyError::Format)?;
    let h = coset_h_query(ptau, size).map_err(CeremonyError::Format)?;
    let pk = qap_key(&m, &extra, size, h, ptau).map_err(CeremonyError::Format)?;
    drop(m);
    let groups = instance_groups(model, batch, dense_budget);
    if groups.len() + 3 != pk.vk.gamma_abc_g1.len() {
        return Err(CeremonyError::Format("the circuit's inputs do not match the model's groups".into()));
    }
    let pick = |g: Group| -> Vec<G1Affine> {
        groups.iter().zip(&pk.vk.gamma_abc_g1[3..]).filter(|(x, _)| **x == g).map(|(_, p)| *p).collect()
    };
    let key = InferenceKey {
        pok_hidden: pick(Group::Hidden),
        pok_out: pick(Group::Output),
        sigma_hidden_g2: G2Affine::generator(),
        sigma_out_g2: G2Affine::generator(),
        pk,
    };
    let prefix = Prefix {
        kind: CircuitKind::Inference,
        shape,
        index: 0,
        prev: ptau.digest,
        name: String::new(),
        model: Some(ModelTag { digest: model.digest(), dense_budget }),
        record: None,
        sigma_delta_g2: None,
    };
    Ok(Phase2 { prefix, key: Key::Inference(key) })
}

/// The R1CS of a Poseidon or naive circuit as ark-groth16's generator sees it.
fn matrices(kind: CircuitKind, shape: &Shape) -> Result<ConstraintMatrices<Fr>, String> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Setup);
    MatmulCircuit::setup(kind, *shape).generate_constraints(cs.clone()).map_err(|e| e.to_string())?;
    cs.finalize();
    cs.to_matrices().ok_or_else(|| "no constraint system".to_string())
}

/// |H| of a circuit and shape.
pub(super) fn domain_size(kind: CircuitKind, shape: &Shape) -> Result<usize, String> {
    let size = match kind {
        CircuitKind::Committed => Layout::new(shape).domain_size(),
        _ => {
            let m = matrices(kind, shape)?;
            Radix2EvaluationDomain::<Fr>::new(m.num_constraints + m.num_instance_variables).map(|d| d.size())
        }
    };
    size.filter(|s| *s < 1 << 27).ok_or_else(|| format!("{kind} {shape} exceeds the largest NTT domain"))
}

fn check_power(what: &str, size: usize, ptau: &Ptau) -> Result<(), String> {
    if 2 * size > 1usize << ptau.power {
        return Err(format!(
            "{what} has a QAP domain of 2^{} rows, which needs a .ptau of power {} or more (this one has {})",
            size.trailing_zeros(),
            size.trailing_zeros() + 1,
            ptau.power
        ));
    }
    Ok(())
}

/// Largest |coefficient| [`combo`] adds up by buckets rather than by an MSM.
const SMALL: u64 = 1 << 10;

/// The factors [`combo`] takes out of a coefficient before bucketing it: 1,
/// and what an inference lookup multiplies a dense layer's weights by
/// (`veriflop_infer::circuit::acc_coeff`, full-width and split chunks).
fn factors() -> &'static [(Fr, Fr); 3] {
    static FACTORS: std::sync::OnceLock<[(Fr, Fr); 3]> = std::sync::OnceLock::new();
    FACTORS.get_or_init(|| [Fr::one(), acc_coeff(true), acc_coeff(false)].map(|f| (f, f.inverse().expect("nonzero"))))
}

/// (factor index, sign, |c / factor|) when c is a small signed integer times
/// one of the [`factors`].
fn small(c: Fr, factors: &[(Fr, Fr); 3]) -> Option<(usize, bool, usize)> {
    let fits = |x: Fr| {
        let b = x.into_bigint().0;
        (b[1..].iter().all(|w| *w == 0) && b[0] <= SMALL).then_some(b[0] as usize)
    };
    let signed = |k: usize, x: Fr| fits(x).map(|m| (k, false, m)).or_else(|| fits(-x).map(|m| (k, true, m)));
    signed(0, c).or_else(|| (1..3).find_map(|k| signed(k, c * factors[k].1)))
}

/// Σ coefficient·base over `terms` (coefficient, index into `bases`). Small
/// coefficients (the ±1 of most rows, a model's int8 weights times a lookup's
/// factor) go into a bucket per factor and magnitude, summed by a running sum
/// (Σ_m m·B_m in 2 adds per bucket); the others (biases, Poseidon's
/// constants) by an MSM.
fn combo<A: AffineRepr<ScalarField = Fr>>(bases: &[A], terms: &[(Fr, usize)]) -> A::Group
where
    A::Group: VariableBaseMSM<MulBase = A>,
{
    let factors = factors();
    let mut buckets: [Vec<A::Group>; 3] = Default::default();
    let (mut points, mut scalars) = (Vec::new(), Vec::new());
    for &(c, i) in terms {
        match small(c, factors) {
            Some((_, _, 0)) => {}
            Some((k, negative, m)) => {
                let buckets = &mut buckets[k];
                if buckets.len() < m {
                    buckets.resize(m, A::Group::zero());
                }
                if negative {
                    buckets[m - 1] -= bases[i];
                } else {
                    buckets[m - 1] += bases[i];
                }
            }
            None => {
                points.push(bases[i]);
                scalars.push(c);
            }
        }
    }
    let mut total = A::Group::zero();
    for (buckets, (factor, _)) in buckets.iter().zip(factors.iter()) {
        let (mut running, mut sum) = (A::Group::zero(), A::Group::zero());
        for b in buckets.iter().rev() {
            running += b;
            sum += running;
        }
        total += if factor.is_one() { sum } else { sum * *factor };
    }
    if points.is_empty() {
        return total;
    }
    total + A::Group::msm(&points, &scalars).expect("equal lengths")
}

fn generic_key(kind: CircuitKind, shape: &Shape, ptau: &mut Ptau) -> Result<ProvingKey<Bn254>, String> {
    let m = matrices(kind, shape)?;
    let size = domain_size(kind, shape)?;
    check_power(&format!("{kind} {shape}"), size, ptau)?;
    let tau = ptau.g1(Section::TauG1, 0, 2 * size as u64 - 1)?;
    let h: Vec<G1Projective> = (0..size - 1).into_par_iter().map(|i| tau[size + i] - tau[i]).collect();
    drop(tau);
    let every_input: Vec<usize> = (0..m.num_instance_variables).collect();
    qap_key(&m, &every_input, size, G1Projective::normalize_batch(&h), ptau)
}

/// The Groth16 key at δ = γ = 1 for R1CS `m` with constraint j at the j-th
/// point of H and the `extra` inputs' rows after them (on their A side: the
/// libsnark reduction has every input there, the inference reduction only the
/// unpivoted ones), with the h-query `h`.
fn qap_key(
    m: &ConstraintMatrices<Fr>,
    extra: &[usize],
    size: usize,
    h: Vec<G1Affine>,
    ptau: &mut Ptau,
) -> Result<ProvingKey<Bn254>, String> {
    let (nc, ni) = (m.num_constraints, m.num_instance_variables);
    let vars = ni + m.num_witness_variables;
    let mut terms = [vec![Vec::new(); vars], vec![Vec::new(); vars], vec![Vec::new(); vars]];
    for (t, rows) in terms.iter_mut().zip([&m.a, &m.b, &m.c]) {
        for (row, r) in rows.iter().enumerate() {
            for &(c, v) in r {
                t[v].push((c, row));
            }
        }
    }
    for (k, &i) in extra.iter().enumerate() {
        terms[0][i].push((Fr::one(), nc + k));
    }
    let [ta, tb, tc] = terms;
    let l1 = ptau.lagrange_g1(Section::LagrangeG1, size)?;
    let l2 = ptau.lagrange_g2(size)?;
    let la = ptau.lagrange_g1(Section::LagrangeAlphaG1, size)?;
    let lb = ptau.lagrange_g1(Section::LagrangeBetaG1, size)?;
    let per_var = |f: &(dyn Fn(usize) -> G1Projective + Sync)| -> Vec<G1Affine> {
        G1Projective::normalize_batch(&(0..vars).into_par_iter().map(f).collect::<Vec<_>>())
    };
    let a_query = per_var(&|i| combo(&l1, &ta[i]));
    let b_g1_query = per_var(&|i| combo(&l1, &tb[i]));
    let b_g2_query =
        G2Projective::normalize_batch(&(0..vars).into_par_iter().map(|i| combo(&l2, &tb[i])).collect::<Vec<_>>());
    let k = per_var(&|i| combo(&lb, &ta[i]) + combo(&la, &tb[i]) + combo(&l1, &tc[i]));
    drop((l1, l2, la, lb));
    let (alpha, beta, beta_g2) = phase1_points(ptau)?;
    Ok(ProvingKey {
        vk: ark_groth16::VerifyingKey {
            alpha_g1: alpha,
            beta_g2,
            gamma_g2: G2Affine::generator(),
            delta_g2: G2Affine::generator(),
            gamma_abc_g1: k[..ni].to_vec(),
        },
        beta_g1: beta,
        delta_g1: G1Affine::generator(),
        a_query,
        b_g1_query,
        b_g2_query,
        h_query: h,
        l_query: k[ni..].to_vec(),
    })
}

/// Z_H(τ)·L_i(τ) over the coset ω_2|H|·H, i < |H|: −2·[L'_(2i+1)]₁ with L'
/// the `.ptau`'s Lagrange basis of 2|H| points (both sides vanish on H and
/// agree on the coset, and have degree below 2|H|).
fn coset_h_query(ptau: &mut Ptau, size: usize) -> Result<Vec<G1Affine>, String> {
    let l = ptau.lagrange_g1(Section::LagrangeG1, 2 * size)?;
    let h: Vec<G1Projective> = (0..size).into_par_iter().map(|i| -G1Projective::from(l[2 * i + 1]).double()).collect();
    Ok(G1Projective::normalize_batch(&h))
}

/// [α]₁, [β]₁ and [β]₂ of the `.ptau`.
fn phase1_points(ptau: &mut Ptau) -> Result<(G1Affine, G1Affine, G2Affine), String> {
    let alpha = ptau.g1(Section::AlphaTauG1, 0, 1)?[0];
    let beta = ptau.g1(Section::BetaTauG1, 0, 1)?[0];
    let beta_g2 = ptau.g2(Section::BetaG2, 0, 1)?[0];
    if alpha.is_zero() || beta.is_zero() || beta_g2.is_zero() {
        return Err(".ptau: α or β is the identity".into());
    }
    Ok((alpha, beta, beta_g2))
}

/// ± point, for the layout's ±1 coefficients.
fn add<P: std::ops::AddAssign<A> + std::ops::SubAssign<A>, A: Copy>(
    acc: &mut P,
    coeff: Fr,
    p: A,
) -> Result<(), String> {
    if coeff.is_one() {
        *acc += p;
    } else if (-coeff).is_one() {
        *acc -= p;
    } else {
        return Err("the layout has a coefficient other than ±1".into());
    }
    Ok(())
}

fn committed_key(shape: &Shape, ptau: &mut Ptau) -> Result<(CommittedKey, G2Affine), String> {
    let layout = Layout::new(shape);
    let size = domain_size(CircuitKind::Committed, shape)?;
    check_power(&format!("{} {shape}", CircuitKind::Committed), size, ptau)?;
    let l1 = ptau.lagrange_g1(Section::LagrangeG1, size)?;
    let l2 = ptau.lagrange_g2(size)?;
    let la = ptau.lagrange_g1(Section::LagrangeAlphaG1, size)?;
    let lb = ptau.lagrange_g1(Section::LagrangeBetaG1, size)?;

    let inputs = layout.num_inputs();
    let witnesses = layout.scalar_witnesses();
    let vars = layout.num_variables();
    // A for inputs and scalar witnesses; B for the scalar variables; K for all.
    let scalar_index = |v: usize| -> Option<usize> {
        if v < SCALAR_VARS {
            Some(v)
        } else if witnesses.contains(&v) {
            Some(SCALAR_VARS + v - witnesses.start)
        } else {
            None
        }
    };
    let scalars = SCALAR_VARS + witnesses.len();
    let mut a = vec![G1Projective::zero(); witnesses.end];
    let mut b1 = vec![G1Projective::zero(); scalars];
    let mut b2 = vec![G2Projective::zero(); scalars];
    let mut k = vec![G1Projective::zero(); vars];
    let mut row = 0usize;
    let mut failed = None;
    layout.for_each_row(|r| {
        if failed.is_some() {
            return;
        }
        let x = layout.qap_index(row, size);
        row += 1;
        let mut step = || -> Result<(), String> {
            for &(c, v) in &r.a {
                add(a.get_mut(v).ok_or("a product in an A combination")?, c, l1[x])?;
                add(&mut k[v], c, lb[x])?;
            }
            for &(c, v) in &r.b {
                let s = scalar_index(v).ok_or("a variable other than a scalar in a B combination")?;
                add(&mut b1[s], c, l1[x])?;
                add(&mut b2[s], c, l2[x])?;
                add(&mut k[v], c, la[x])?;
            }
            for &(c, v) in &r.c {
                add(&mut k[v], c, l1[x])?;
            }
            Ok(())
        };
        if let Err(e) = step() {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    drop((l1, l2, la, lb));

    let h = coset_h_query(ptau, size)?;
    let a = G1Projective::normalize_batch(&a);
    let k = G1Projective::normalize_batch(&k);
    let pick = |v: &[G1Affine]| -> Vec<G1Affine> { (0..SCALAR_VARS).chain(witnesses.clone()).map(|i| v[i]).collect() };
    let [_, _, rc] = ic_ranges(shape);
    let (alpha, beta, beta_g2) = phase1_points(ptau)?;
    let key = CommittedKey {
        vk: ark_groth16::VerifyingKey {
            alpha_g1: alpha,
            beta_g2,
            gamma_g2: G2Affine::generator(),
            delta_g2: G2Affine::generator(),
            gamma_abc_g1: k[..inputs].to_vec(),
        },
        beta_g1: beta,
        delta_g1: G1Projective::generator().into_affine(),
        a_scalar: pick(&a),
        b_g1_scalar: G1Projective::normalize_batch(&b1),
        b_g2_scalar: G2Projective::normalize_batch(&b2),
        a_entries: a[SCALAR_VARS..inputs].to_vec(),
        l_scalar: k[witnesses.clone()].to_vec(),
        l_products: k[witnesses.end..].to_vec(),
        h,
        pok: k[rc].to_vec(),
    };
    if !key.fits(shape) {
        return Err("the starting key does not have the shape's lengths".into());
    }
    Ok((key, G2Affine::generator()))
}
