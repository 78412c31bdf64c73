//! The standard suites. Every case is an n×n×n matmul job, one construction,
//! one element type, on one backend (cases are expanded per requested backend),
//! plus (quick, full, tiny) one verifier-service throughput measurement.
//!
//! | suite | what | duration on the reference machine (2 cores) |
//! |---|---|---|
//! | `tiny`  | all three Groth16 constructions at n = 2, 4, halo2 at n = 4; service with 16 jobs; smoke test and the crate's test | ~20 s |
//! | `quick` | committed int8 n = 16…256, poseidon int8 n = 16…64, naive int8 n = 8…32, committed int16/int32 n = 64, halo2 int8 n = 16…64; service 128 jobs | see docs/BENCHMARKS.md (< 15 min) |
//! | `scaling` | the issue-#5 table alone: committed int8 n = 64…512 beside poseidon int8 n = 64…256 (512 when memory allows), halo2 n = 64, 128; no service | ~20 min |
//! | `gpu`   | CPU beside GPU (`--backend cpu,icicle`): committed int8 n = 256, 512, 1024 end to end (C on cuBLAS for the GPU backend), G1 MSM 2^16…2^20 and NTT 2^18…2^22 | a few minutes on an H100 host; no service |
//! | `full`  | the issue-#5 table: committed int8 n = 8…512 beside poseidon int8 n = 8…256 (512 when memory allows), naive int8 n = 8…128, halo2 n = 8…256, other dtypes; service 256 jobs | about 35–40 min (estimated, never run end to end; see docs/BENCHMARKS.md) |
//!
//! Durations and memory are documented in docs/BENCHMARKS.md.

use veriflop_circuits::{CircuitKind, Dtype, ProofSystem};

use crate::results::{CaseSpec, Skipped};

pub const SUITES: [&str; 5] = ["tiny", "quick", "scaling", "gpu", "full"];

/// Default seed of the matrices and keys.
pub const DEFAULT_SEED: u64 = 1;

/// One case of a suite, before expansion per backend.
#[derive(Clone, Debug)]
struct Row {
    system: ProofSystem,
    construction: CircuitKind,
    dtype: Dtype,
    n: u32,
    warmup: u32,
    reps: u32,
    /// Run only on machines with at least this much memory; otherwise listed as
    /// skipped with `why`.
    min_memory: Option<(u64, &'static str)>,
}

fn row(construction: CircuitKind, dtype: Dtype, n: u32, warmup: u32, reps: u32) -> Row {
    Row { system: ProofSystem::Groth16Bn254, construction, dtype, n, warmup, reps, min_memory: None }
}

/// A halo2 case (the Poseidon-committed statement, universal SRS).
fn h2(n: u32, warmup: u32, reps: u32) -> Row {
    Row { system: ProofSystem::Halo2KzgBn254, ..row(CircuitKind::Poseidon, Dtype::Int8, n, warmup, reps) }
}

const GIB: u64 = 1 << 30;

/// Poseidon n = 512: ~10M constraints; its key generation and proof need more
/// than the 24 GiB of the reference machine.
const POSEIDON_512_MEMORY: u64 = 48 * GIB;
const POSEIDON_512_WHY: &str = "poseidon n = 512 needs ~10M constraints and more than 24 GiB of memory \
                                (key generation and proving); it runs on machines with at least 48 GiB";

/// The verifier-service measurement of a suite.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceSpec {
    pub circuit: CircuitKind,
    pub dtype: Dtype,
    /// The job is n×n×n.
    pub n: u32,
    /// Distinct jobs and proofs per measurement.
    pub jobs: u32,
    /// Concurrent HTTP connections, one measurement each (fresh service and jobs each).
    pub concurrency: Vec<u32>,
    pub seed: u64,
}

impl ServiceSpec {
    /// `service/committed/int8/n4`.
    pub fn id(&self) -> String {
        format!("service/{}/{}/n{}", self.circuit, self.dtype, self.n)
    }
}

fn rows(suite: &str) -> Option<Vec<Row>> {
    use CircuitKind::{Committed as C, Naive as N, Poseidon as P};
    use Dtype::{Int16, Int32, Int8};
    Some(match suite {
        // Three repetitions, so that one stall of the scheduler cannot move a
        // median: the crate's test checks an honest re-run against the first.
        "tiny" => {
            let mut v = Vec::new();
            for k in [C, P, N] {
                for n in [2, 4] {
                    v.push(row(k, Int8, n, 0, 3));
                }
            }
            v.push(h2(4, 0, 3));
            v
        }
        "quick" => vec![
            row(C, Int8, 16, 1, 5),
            row(C, Int8, 32, 1, 5),
            row(C, Int8, 64, 1, 3),
            row(C, Int8, 128, 1, 3),
            row(C, Int8, 256, 1, 3),
            row(C, Int16, 64, 1, 3),
            row(C, Int32, 64, 1, 3),
            row(P, Int8, 16, 1, 5),
            row(P, Int8, 32, 1, 3),
            row(P, Int8, 64, 1, 3),
            row(N, Int8, 8, 1, 5),
            row(N, Int8, 16, 1, 3),
            row(N, Int8, 32, 1, 3),
            h2(16, 1, 3),
            h2(32, 1, 3),
            h2(64, 0, 3),
        ],
        "scaling" => {
            let mut v = Vec::new();
            for (n, w, r) in [(64, 1, 3), (128, 1, 3), (256, 1, 3), (512, 0, 2)] {
                v.push(row(C, Int8, n, w, r));
            }
            for (n, w, r) in [(64, 1, 3), (128, 0, 2), (256, 0, 1)] {
                v.push(row(P, Int8, n, w, r));
            }
            v.push(Row { min_memory: Some((POSEIDON_512_MEMORY, POSEIDON_512_WHY)), ..row(P, Int8, 512, 0, 1) });
            for (n, w, r) in [(64, 0, 3), (128, 0, 2)] {
                v.push(h2(n, w, r));
            }
            v
        }
        "gpu" => vec![row(C, Int8, 256, 1, 3), row(C, Int8, 512, 1, 3), row(C, Int8, 1024, 1, 2)],
        "full" => {
            let mut v = Vec::new();
            // The issue-#5 table: committed beside poseidon, n = 64 … 512.
            for (n, w, r) in [(8, 1, 5), (16, 1, 5), (32, 1, 5), (64, 1, 5), (128, 1, 3), (256, 1, 3), (512, 0, 3)] {
                v.push(row(C, Int8, n, w, r));
            }
            for (n, w, r) in [(8, 1, 5), (16, 1, 5), (32, 1, 5), (64, 1, 3), (128, 1, 2), (256, 0, 2)] {
                v.push(row(P, Int8, n, w, r));
            }
            v.push(Row { min_memory: Some((POSEIDON_512_MEMORY, POSEIDON_512_WHY)), ..row(P, Int8, 512, 0, 1) });
            for (n, w, r) in [(8, 1, 5), (16, 1, 5), (32, 1, 3), (64, 1, 2), (128, 0, 2)] {
                v.push(row(N, Int8, n, w, r));
            }
            for (n, w, r) in [(8, 1, 5), (16, 1, 5), (32, 1, 3), (64, 1, 3), (128, 0, 2), (256, 0, 1)] {
                v.push(h2(n, w, r));
            }
            for d in [Int16, Int32] {
                for (n, w, r) in [(64, 1, 3), (128, 1, 3), (256, 0, 2)] {
                    v.push(row(C, d, n, w, r));
                }
                v.push(row(P, d, 64, 1, 3));
            }
            v
        }
        _ => return None,
    })
}

/// The service measurement of `suite` (None: the suite has none).
pub fn service(suite: &str, seed: u64) -> Option<ServiceSpec> {
    let (jobs, concurrency) = match suite {
        // Enough requests that one stall does not make the figure.
        "tiny" => (16, vec![2]),
        "quick" => (128, vec![4, 32]),
        "full" => (256, vec![4, 32, 128]),
        _ => return None,
    };
    Some(ServiceSpec { circuit: CircuitKind::Committed, dtype: Dtype::Int8, n: 4, jobs, concurrency, seed })
}

/// log2 sizes of the MSMs and NTTs a suite times per backend (none: empty).
pub fn primitives(suite: &str) -> Primitives {
    match suite {
        "tiny" => Primitives { msm_g1: vec![10], ntt: vec![10], reps: 3 },
        "gpu" => Primitives { msm_g1: vec![16, 18, 20], ntt: vec![18, 20, 22], reps: 7 },
        "full" => Primitives { msm_g1: vec![16, 18, 20], ntt: vec![18, 20, 22], reps: 5 },
        _ => Primitives::default(),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Primitives {
    pub msm_g1: Vec<u32>,
    pub ntt: Vec<u32>,
    /// Measured repetitions after one warm-up.
    pub reps: u32,
}

impl Primitives {
    pub fn is_empty(&self) -> bool {
        self.msm_g1.is_empty() && self.ntt.is_empty()
    }
}

/// What a suite runs on this machine.
#[derive(Clone, Debug)]
pub struct Plan {
    pub cases: Vec<CaseSpec>,
    /// Cases of the suite that do not run here, and why.
    pub skipped: Vec<Skipped>,
    pub service: Option<ServiceSpec>,
}

/// The cases of `suite` for each backend in `backends` (backend-major order,
/// cheap cases first within a construction), given the machine's memory.
pub fn plan(suite: &str, backends: &[String], seed: u64, gas: bool, memory_bytes: Option<u64>) -> Option<Plan> {
    let rows = rows(suite)?;
    let mut cases = Vec::new();
    let mut skipped = Vec::new();
    for backend in backends {
        // halo2 proves on the CPU whatever the Groth16 backend: once is enough.
        for r in rows.iter().filter(|r| backend == "cpu" || r.system == ProofSystem::Groth16Bn254) {
            let spec = CaseSpec {
                system: r.system,
                construction: r.construction,
                dtype: r.dtype,
                n: r.n,
                backend: backend.clone(),
                warmup: r.warmup,
                reps: r.reps,
                seed,
                gas,
            };
            match r.min_memory {
                Some((need, why)) if memory_bytes.is_none_or(|m| m < need) => skipped.push(Skipped {
                    id: spec.id(),
                    reason: format!(
                        "{why} (this machine: {})",
                        memory_bytes.map(crate::report::fmt_bytes).unwrap_or_else(|| "unknown memory".into())
                    ),
                }),
                _ => cases.push(spec),
            }
        }
    }
    Some(Plan { cases, skipped, service: service(suite, seed) })
}

/// The cases of `suite` for each backend, ignoring memory limits (every row).
pub fn cases(suite: &str, backends: &[String], seed: u64, gas: bool) -> Option<Vec<CaseSpec>> {
    plan(suite, backends, seed, gas, Some(u64::MAX)).map(|p| p.cases)
}

/// Rough cost weight of a case for the progress bar (proportional to its
/// constraint count times its rounds, plus key generation).
pub fn weight(spec: &CaseSpec) -> u64 {
    let n = spec.n as u64;
    if spec.system == ProofSystem::Halo2KzgBn254 {
        // Rows grow as ~2.3n² (Poseidon of C dominates); the prover is ~20× a Groth16 constraint.
        return (60 * n * n * (spec.warmup + spec.reps + 2) as u64).max(1);
    }
    let constraints = match spec.construction {
        CircuitKind::Naive => n * n * n + 12 * n * n,
        CircuitKind::Poseidon => 12 * n * n,
        // ~3n² constraints, but key generation handles 3n² input variables too.
        CircuitKind::Committed => 4 * n * n,
        // Not in the matmul suites.
        CircuitKind::Inference => 0,
    };
    let per_round = constraints * (spec.dtype.bits() as u64 + 4) / 12;
    (per_round * (spec.warmup + spec.reps + 2) as u64).max(1)
}

/// Progress-bar weight of the service measurement.
pub fn service_weight(s: &ServiceSpec) -> u64 {
    (s.jobs as u64) * (1 + s.concurrency.len() as u64) * 20_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_backends_get_the_groth16_cases_and_halo2_runs_once() {
        let backends = ["cpu".to_string(), "icicle".to_string()];
        let tiny = cases("tiny", &backends, 1, false).unwrap();
        let halo2: Vec<&str> =
            tiny.iter().filter(|c| c.system == ProofSystem::Halo2KzgBn254).map(|c| c.backend.as_str()).collect();
        assert_eq!(halo2, ["cpu"]);
        let groth16 = |b: &str| tiny.iter().filter(|c| c.system == ProofSystem::Groth16Bn254 && c.backend == b).count();
        assert_eq!((groth16("cpu"), groth16("icicle")), (6, 6));
        let gpu = cases("gpu", &backends, 1, false).unwrap();
        assert_eq!(gpu.iter().map(|c| c.n).collect::<Vec<_>>(), [256, 512, 1024, 256, 512, 1024]);
        assert!(primitives("gpu").msm_g1.contains(&20) && primitives("quick").is_empty());
    }
}
