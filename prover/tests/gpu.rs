//! GPU and ICICLE tests: ICICLE's MSM/NTT against the CPU backend, proofs
//! made with ICICLE checked by the CPU verifier, and cuBLAS GEMM against the
//! CPU product.
//!
//! They need hardware and libraries CI does not have, so this file has its own
//! runner (`harness = false`): a group whose requirement is missing prints
//! `skipped: <reason>` for each of its tests instead of passing silently.
//! ICICLE is found like the CLI finds it (`VERIFLOP_ICICLE_DIR`, else
//! /opt/icicle; `VERIFLOP_ICICLE_DEVICE`, else CUDA:0). ICICLE's own CPU
//! backend (`VERIFLOP_ICICLE_DEVICE=CPU`) exercises the whole binding
//! without a GPU.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{Field, UniformRand, Zero};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use veriflop_circuits::execute::matmul_naive;
use veriflop_circuits::{CircuitKind, Dtype, InputMatrix, JobId, Shape, Witness};
use veriflop_prover::backend::{BackendError, Ntt};
use veriflop_prover::gemm::{CudaGemm, Gemm, GemmError, RanOn};
use veriflop_prover::setup::generate;
use veriflop_prover::{prove_bundle, Backend, CpuBackend, IcicleBackend, IcicleConfig, ProveOptions};
use veriflop_verifier::Verifier;

type Test<T> = (&'static str, fn(&T) -> Result<(), String>);

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let mut failed = 0;
    let mut ran = 0;
    // Err((true, why)): the requirement is missing, skip; Err((false, why)): it is
    // there but broken, every test of the group fails.
    let mut run_group =
        |group: &str,
         fixture: Result<Box<dyn std::any::Any>, (bool, String)>,
         tests: Vec<(&'static str, Box<dyn Fn(&dyn std::any::Any) -> Result<(), String>>)>| {
            for (name, test) in tests {
                let full = format!("{group}::{name}");
                if !filter.is_empty() && !filter.iter().any(|f| full.contains(f.as_str())) {
                    continue;
                }
                match &fixture {
                    Err((true, why)) => println!("test {full} ... skipped: {why}"),
                    Err((false, why)) => {
                        failed += 1;
                        println!("test {full} ... FAILED: {why}")
                    }
                    Ok(fx) => {
                        ran += 1;
                        match catch_unwind(AssertUnwindSafe(|| test(fx.as_ref()))) {
                            Ok(Ok(())) => println!("test {full} ... ok"),
                            Ok(Err(e)) => {
                                failed += 1;
                                println!("test {full} ... FAILED: {e}")
                            }
                            Err(_) => {
                                failed += 1;
                                println!("test {full} ... FAILED (panicked)")
                            }
                        }
                    }
                }
            }
        };
    let icicle = IcicleBackend::load(&IcicleConfig::from_env().expect("VERIFLOP_ICICLE_DEVICE"))
        .map(|b| Box::new(b) as Box<dyn std::any::Any>)
        .map_err(|e| (matches!(e, BackendError::Unavailable(_)), e.to_string()));
    if let Ok(b) = &icicle {
        println!("icicle: {}", b.downcast_ref::<IcicleBackend>().unwrap().name());
    }
    run_group("icicle", icicle, wrap(ICICLE_TESTS));
    let cuda = CudaGemm::open(0)
        .map(|g| Box::new(Gemm::Cuda(g)) as Box<dyn std::any::Any>)
        .map_err(|e| (matches!(e, GemmError::Unavailable(_)), e.to_string()));
    if let Ok(g) = &cuda {
        println!("gemm: {}", g.downcast_ref::<Gemm>().unwrap().name());
    }
    run_group("cuda_gemm", cuda, wrap(GEMM_TESTS));
    println!("\ngpu tests: {ran} run, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

#[allow(clippy::type_complexity)]
fn wrap<T: 'static>(tests: &[Test<T>]) -> Vec<(&'static str, Box<dyn Fn(&dyn std::any::Any) -> Result<(), String>>)> {
    tests
        .iter()
        .map(|&(name, f)| {
            let g: Box<dyn Fn(&dyn std::any::Any) -> Result<(), String>> =
                Box::new(move |fx: &dyn std::any::Any| f(fx.downcast_ref::<T>().expect("fixture type")));
            (name, g)
        })
        .collect()
}

const ICICLE_TESTS: &[Test<IcicleBackend>] = &[
    ("msm_g1_matches_cpu", msm_g1_matches_cpu),
    ("msm_g2_matches_cpu", msm_g2_matches_cpu),
    ("ntt_matches_cpu", ntt_matches_cpu),
    ("ntt_rejects_what_cpu_rejects", ntt_rejects_what_cpu_rejects),
    ("proofs_verify_on_cpu", proofs_verify_on_cpu),
];

const GEMM_TESTS: &[Test<Gemm>] = &[("gemm_matches_cpu", gemm_matches_cpu)];

/// Scalars with the special cases MSM implementations get wrong: 0, 1, −1,
/// small negatives (full-width field elements), r − 1 = −1, and 2^k.
fn scalars(rng: &mut StdRng, n: usize) -> Vec<Fr> {
    (0..n)
        .map(|i| match i % 9 {
            0 => Fr::zero(),
            1 => Fr::ONE,
            2 => -Fr::ONE,
            3 => -Fr::from(rng.gen::<u16>() as u64),
            4 => Fr::from(rng.gen::<u8>() as u64),
            5 => Fr::from(2u64).pow([rng.gen_range(0..254u64)]),
            _ => Fr::rand(rng),
        })
        .collect()
}

/// Random points with identities, repeats and negations mixed in.
fn points<G: CurveGroup>(rng: &mut StdRng, n: usize) -> Vec<G::Affine> {
    let mut p: Vec<G::Affine> = G::normalize_batch(&(0..n).map(|_| G::rand(rng)).collect::<Vec<_>>());
    for i in 0..n {
        match i % 11 {
            3 => p[i] = G::Affine::zero(),
            7 if i > 0 => p[i] = p[i - 1],
            9 if i > 0 => p[i] = (-p[i - 1].into_group()).into_affine(),
            _ => {}
        }
    }
    p
}

const MSM_SIZES: &[usize] = &[1, 2, 3, 5, 8, 13, 31, 64, 100, 255, 256, 257, 1000, 1024, 4099, 16_411, 65_536];

fn msm_g1_matches_cpu(b: &IcicleBackend) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(1);
    let cpu = CpuBackend::new();
    for &n in MSM_SIZES {
        let (p, s) = (points::<G1Projective>(&mut rng, n), scalars(&mut rng, n));
        let want = cpu.msm_g1(&p, &s).unwrap();
        let got = b.msm_g1(&p, &s).map_err(|e| format!("n={n}: {e}"))?;
        if got != want {
            return Err(format!("G1 MSM of {n} points differs"));
        }
    }
    // All identities, all zero scalars, one more scalar than points.
    let p = vec![G1Affine::zero(); 17];
    let s: Vec<Fr> = (0..18).map(|_| Fr::rand(&mut rng)).collect();
    if !b.msm_g1(&p, &s).map_err(|e| e.to_string())?.is_zero() {
        return Err("MSM over identities is not the identity".into());
    }
    let p = points::<G1Projective>(&mut rng, 17);
    if !b.msm_g1(&p, &vec![Fr::zero(); 17]).map_err(|e| e.to_string())?.is_zero() {
        return Err("MSM with zero scalars is not the identity".into());
    }
    if b.msm_g1(&p, &s).map_err(|e| e.to_string())? != cpu.msm_g1(&p, &s).unwrap() {
        return Err("MSM with more scalars than points differs".into());
    }
    if !b.msm_g1(&[], &[]).map_err(|e| e.to_string())?.is_zero() {
        return Err("empty MSM is not the identity".into());
    }
    Ok(())
}

fn msm_g2_matches_cpu(b: &IcicleBackend) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(2);
    let cpu = CpuBackend::new();
    for &n in MSM_SIZES.iter().filter(|&&n| n <= 4099) {
        let (p, s) = (points::<G2Projective>(&mut rng, n), scalars(&mut rng, n));
        let got = b.msm_g2(&p, &s).map_err(|e| format!("n={n}: {e}"))?;
        if got != cpu.msm_g2(&p, &s).unwrap() {
            return Err(format!("G2 MSM of {n} points differs"));
        }
    }
    if !b.msm_g2(&vec![G2Affine::zero(); 5], &scalars(&mut rng, 5)).map_err(|e| e.to_string())?.is_zero() {
        return Err("G2 MSM over identities is not the identity".into());
    }
    Ok(())
}

fn ntt_matches_cpu(b: &IcicleBackend) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(3);
    let cpu = CpuBackend::new();
    // Small, then larger than the first domain (re-initialisation), then small again.
    for log in [0u32, 1, 2, 3, 5, 8, 10, 11, 13, 16, 4, 9] {
        let n = 1usize << log;
        let input: Vec<Fr> = (0..n).map(|i| if i % 5 == 0 { Fr::zero() } else { Fr::rand(&mut rng) }).collect();
        for kind in [Ntt::Forward, Ntt::Inverse, Ntt::CosetForward, Ntt::CosetInverse] {
            let (mut got, mut want) = (input.clone(), input.clone());
            b.ntt(&mut got, kind).map_err(|e| format!("2^{log} {kind:?}: {e}"))?;
            cpu.ntt(&mut want, kind).unwrap();
            if got != want {
                return Err(format!("{kind:?} NTT of size 2^{log} differs"));
            }
        }
    }
    Ok(())
}

fn ntt_rejects_what_cpu_rejects(b: &IcicleBackend) -> Result<(), String> {
    for n in [0usize, 3, 6, 100, 1000] {
        let mut v = vec![Fr::ONE; n];
        if b.ntt(&mut v, Ntt::Forward).is_ok() || CpuBackend::new().ntt(&mut v, Ntt::Forward).is_ok() {
            return Err(format!("an NTT of size {n} (not a power of two) was accepted"));
        }
    }
    Ok(())
}

/// Proofs whose MSMs and NTTs ran on ICICLE verify with the CPU verifier.
fn proofs_verify_on_cpu(b: &IcicleBackend) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(4);
    for (kind, n) in [(CircuitKind::Committed, 8u32), (CircuitKind::Poseidon, 4), (CircuitKind::Committed, 5)] {
        let shape = Shape::square(n, Dtype::Int8).unwrap();
        let (pk, vk) = generate(kind, shape, &mut rng).map_err(|e| e.to_string())?;
        let a = InputMatrix::random(n as usize, n as usize, Dtype::Int8, 5).unwrap();
        let bm = InputMatrix::random(n as usize, n as usize, Dtype::Int8, 6).unwrap();
        let c = matmul_naive(&a, &bm);
        let w = Witness { job_id: JobId::random().0, provider: veriflop_circuits::Address([7u8; 20]), a, b: bm, c };
        let (bundle, _) = prove_bundle(&pk, w, b, &mut rng, ProveOptions::default(), &|_| {})
            .map_err(|e| format!("{kind} {n}: {e}"))?;
        Verifier::new(vk).verify(&bundle).map_err(|e| format!("{kind} n={n}: ICICLE proof rejected: {e}"))?;
    }
    Ok(())
}

fn gemm_matches_cpu(g: &Gemm) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(5);
    let mut shapes: Vec<(u32, u32, u32)> =
        vec![(1, 1, 1), (3, 5, 7), (4, 4, 4), (17, 33, 9), (64, 64, 64), (100, 257, 31), (256, 256, 256)];
    shapes.extend((0..10).map(|_| (rng.gen_range(1..80), rng.gen_range(1..300), rng.gen_range(1..80))));
    for (m, k, n) in shapes {
        let shape = Shape::new(m, k, n, Dtype::Int8).unwrap();
        let a = InputMatrix::random(m as usize, k as usize, Dtype::Int8, rng.gen()).unwrap();
        let b = InputMatrix::random(k as usize, n as usize, Dtype::Int8, rng.gen()).unwrap();
        let (c, ran) = g.matmul(&shape, &a, &b).map_err(|e| e.to_string())?;
        if ran != RanOn::Cuda || c != matmul_naive(&a, &b) {
            return Err(format!("{m}×{k}×{n}: GPU product differs (ran on {ran:?})"));
        }
    }
    // Extremes: −128·−128 summed over the largest k.
    let k = veriflop_circuits::shape::MAX_DIM;
    let shape = Shape::new(2, k, 3, Dtype::Int8).unwrap();
    let a = veriflop_circuits::Matrix::new(2, k as usize, vec![-128; 2 * k as usize]).unwrap();
    let b = veriflop_circuits::Matrix::new(k as usize, 3, vec![-128; 3 * k as usize]).unwrap();
    let (c, _) = g.matmul(&shape, &a, &b).map_err(|e| e.to_string())?;
    if c != matmul_naive(&a, &b) {
        return Err("extreme int8 values differ".into());
    }
    // Other element types run on the CPU, still exactly.
    let shape = Shape::new(5, 6, 7, Dtype::Int16).unwrap();
    let a = InputMatrix::random(5, 6, Dtype::Int16, 1).unwrap();
    let b = InputMatrix::random(6, 7, Dtype::Int16, 2).unwrap();
    match g.matmul(&shape, &a, &b).map_err(|e| e.to_string())? {
        (c, RanOn::Cpu) if c == matmul_naive(&a, &b) => Ok(()),
        _ => Err("int16 did not fall back to the exact CPU product".into()),
    }
}
