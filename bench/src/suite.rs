//! The standard suites. Every case is an n×n×n matmul job, one construction,
//! one element type, on one backend (cases are expanded per requested backend).
//!
//! | suite | what | duration on the reference machine (2 cores) |
//! |---|---|---|
//! | `tiny`  | n = 2, 4; 1 repetition, no warm-up; smoke test and the crate's test | ~5 s |
//! | `quick` | freivalds int8 n = 8…128, naive int8 n = 8…64, int16/int32 at n = 32 | 5 min measured (< 10 min under load) |
//! | `full`  | freivalds int8 n = 8…256, naive int8 n = 8…128, every dtype at n = 32, 64, 128 | about 50–60 min (extrapolated), ~9 GiB peak |

use veriflop_circuits::{CircuitKind, Dtype};

use crate::results::CaseSpec;

pub const SUITES: [&str; 3] = ["tiny", "quick", "full"];

/// Default seed of the matrices and keys.
pub const DEFAULT_SEED: u64 = 1;

/// (construction, dtype, n, warmup, reps)
type Row = (CircuitKind, Dtype, u32, u32, u32);

fn rows(suite: &str) -> Option<Vec<Row>> {
    use CircuitKind::{Freivalds as F, Naive as N};
    use Dtype::{Int16, Int32, Int8};
    Some(match suite {
        "tiny" => vec![(F, Int8, 2, 0, 1), (F, Int8, 4, 0, 1), (N, Int8, 2, 0, 1), (N, Int8, 4, 0, 1)],
        "quick" => vec![
            (F, Int8, 8, 1, 5),
            (F, Int8, 16, 1, 5),
            (F, Int8, 32, 1, 3),
            (F, Int8, 64, 1, 3),
            (F, Int8, 128, 1, 3),
            (F, Int16, 32, 1, 3),
            (F, Int32, 32, 1, 3),
            (N, Int8, 8, 1, 5),
            (N, Int8, 16, 1, 3),
            (N, Int8, 32, 1, 3),
            (N, Int8, 64, 1, 3),
        ],
        "full" => {
            let mut v = Vec::new();
            for n in [8, 16, 32, 64, 128, 256] {
                v.push((F, Int8, n, 1, 5));
            }
            for n in [8, 16, 32, 64, 128] {
                v.push((N, Int8, n, 1, if n >= 128 { 3 } else { 5 }));
            }
            for d in [Int16, Int32] {
                for n in [32, 64, 128] {
                    v.push((F, d, n, 1, 5));
                }
                v.push((N, d, 32, 1, 5));
            }
            v
        }
        _ => return None,
    })
}

/// The cases of `suite` for each backend in `backends` (backend-major order,
/// cheap cases first within a backend).
pub fn cases(suite: &str, backends: &[String], seed: u64, gas: bool) -> Option<Vec<CaseSpec>> {
    let rows = rows(suite)?;
    let mut out = Vec::new();
    for backend in backends {
        for &(construction, dtype, n, warmup, reps) in &rows {
            out.push(CaseSpec { construction, dtype, n, backend: backend.clone(), warmup, reps, seed, gas });
        }
    }
    Some(out)
}

/// Rough cost weight of a case for the progress bar (proportional to its
/// constraint count times its rounds, plus key generation).
pub fn weight(spec: &CaseSpec) -> u64 {
    let n = spec.n as u64;
    let constraints = if spec.construction == CircuitKind::Naive { n * n * n + 12 * n * n } else { 12 * n * n };
    let per_round = constraints * (spec.dtype.bits() as u64 + 4) / 12;
    (per_round * (spec.warmup + spec.reps + 2) as u64).max(1)
}
