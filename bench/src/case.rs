//! One measured case, and the calibration workload. Both run inside a child
//! process of the benchmark binary (hidden subcommand `__child`), so the peak
//! memory read from /proc/self/status is the case's own.

use std::time::{Duration, Instant};

use ark_bn254::{Fr, G1Projective};
use ark_ec::CurveGroup;
use ark_ff::UniformRand;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use veriflop_circuits::{execute, Address, CircuitKind, InputMatrix, Job, ProofSystem, Shape, Witness};
use veriflop_prover::backend::Ntt;
use veriflop_prover::gemm::{self, Gemm, GemmChoice};
use veriflop_prover::{prove_bundle, Backend, ProveOptions};
use veriflop_verifier::{JobTerms, ProofBundle, Verifier};

use crate::backends;
use crate::results::{
    Calibration, CaseResult, CaseRunQueue, CaseSpec, Exact, Memory, Primitive, RunQueue, ServiceThroughput, Timings,
};
use crate::stats::Stat;
use crate::suite::{Primitives, ServiceSpec};

/// Payout address bound into every benchmark proof.
pub const PROVIDER: Address = Address([0x0b; 20]);

/// What a child process is asked to do (JSON on its command line).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChildTask {
    Case(CaseSpec),
    Calibrate { backend: String, rounds: u32 },
    Primitives { backend: String, sizes: Primitives },
    Service(ServiceSpec),
}

/// The child's answer (JSON on its stdout).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChildOutput {
    Case(Box<CaseResult>),
    Calibrate(Box<Calibration>),
    Primitives { results: Vec<Primitive> },
    Service(Box<ServiceThroughput>),
}

/// Progress lines a child writes on stderr for the driver's progress bar.
pub const PROGRESS_PREFIX: &str = "@progress ";

pub fn run_task(task: &ChildTask, progress: &dyn Fn(&str)) -> Result<ChildOutput, String> {
    match task {
        ChildTask::Case(spec) => run_case(spec, progress).map(|r| ChildOutput::Case(Box::new(r))),
        ChildTask::Calibrate { backend, rounds } => {
            calibrate(backend, *rounds, progress).map(|c| ChildOutput::Calibrate(Box::new(c)))
        }
        ChildTask::Primitives { backend, sizes } => {
            primitives(backend, sizes, progress).map(|results| ChildOutput::Primitives { results })
        }
        ChildTask::Service(spec) => crate::service::run(spec, progress).map(|s| ChildOutput::Service(Box::new(s))),
    }
}

// ---- memory --------------------------------------------------------------

/// Peak resident set (VmHWM) of this process in bytes, Linux only.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets VmHWM to the current resident set (Linux ≥ 4.0: `5` → /proc/self/clear_refs).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

// ---- run-queue accounting ------------------------------------------------

/// CPU time and run-queue wait of every thread of this process so far
/// (`/proc/self/task/*/schedstat`, Linux; None elsewhere).
pub fn runqueue_now() -> Option<RunQueue> {
    let mut total = RunQueue::default();
    let mut any = false;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(entry) = entry else { continue };
        // A thread may end between the listing and the read: skip it.
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else { continue };
        let mut f = text.split_whitespace().map(|x| x.parse::<u64>());
        if let (Some(Ok(cpu)), Some(Ok(wait))) = (f.next(), f.next()) {
            total.cpu_s += cpu as f64 * 1e-9;
            total.wait_s += wait as f64 * 1e-9;
            any = true;
        }
    }
    any.then_some(total)
}

/// What was accounted between two readings (threads that ended in between
/// are lost, so a negative difference is clamped to zero).
pub fn runqueue_since(start: Option<RunQueue>) -> Option<RunQueue> {
    let (a, b) = (start?, runqueue_now()?);
    Some(RunQueue { cpu_s: (b.cpu_s - a.cpu_s).max(0.0), wait_s: (b.wait_s - a.wait_s).max(0.0) })
}

/// Sums the readings of the measured periods (None when one is missing).
fn add_runqueue(acc: &mut Option<RunQueue>, period: Option<RunQueue>) {
    *acc = match (*acc, period) {
        (Some(a), Some(b)) => Some(a.plus(b)),
        _ => None,
    };
}

// ---- a case --------------------------------------------------------------

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Verifications timed per round. One takes milliseconds, so a single sample is
/// as much scheduling noise as work; the round's figure is their median.
pub const VERIFY_SAMPLES: usize = 5;

/// Key generation faster than this is timed [`SETUP_SAMPLES`] times and its
/// median kept: at tens of milliseconds one run is as much scheduling noise as
/// work. Slower ones run once.
pub const SHORT_SETUP_S: f64 = 1.0;
pub const SETUP_SAMPLES: usize = 3;

/// Runs `setup` (which must return the same keys every time), again while it is
/// short; returns the last run's result, each earlier one dropped before the
/// next starts (so the peak memory is one run's), and the times (one, or
/// [`SETUP_SAMPLES`] whose median is the figure).
fn timed_setup<T>(mut setup: impl FnMut() -> Result<T, String>) -> Result<(T, Stat), String> {
    let mut times = Vec::with_capacity(SETUP_SAMPLES);
    loop {
        let t = Instant::now();
        let keys = setup()?;
        times.push(secs(t.elapsed()));
        if times[0] >= SHORT_SETUP_S || times.len() == SETUP_SAMPLES {
            return Ok((keys, Stat::from_samples(times)));
        }
    }
}

/// (`setup_s`, `setup`) of a [`CaseResult`] from [`timed_setup`]'s times.
fn setup_figures(s: Stat) -> (f64, Option<Stat>) {
    (s.median, (s.samples.len() > 1).then_some(s))
}

/// The median time of [`VERIFY_SAMPLES`] runs of `verify`, which must succeed.
fn time_verify<E: std::fmt::Display>(mut verify: impl FnMut() -> Result<(), E>) -> Result<f64, String> {
    let mut samples = Vec::with_capacity(VERIFY_SAMPLES);
    for _ in 0..VERIFY_SAMPLES {
        let t = Instant::now();
        verify().map_err(|e| format!("the proof does not verify: {e}"))?;
        samples.push(secs(t.elapsed()));
    }
    Ok(Stat::from_samples(samples).median)
}

/// Runs one case in this process: key generation, `warmup` + `reps` rounds of
/// execute → prove (data commitments and challenge, witness, NTT, MSM, other)
/// → verify, and (optionally) an on-chain settlement.
pub fn run_case(spec: &CaseSpec, progress: &dyn Fn(&str)) -> Result<CaseResult, String> {
    if spec.system == ProofSystem::Halo2KzgBn254 {
        return run_halo2_case(spec, progress);
    }
    let shape = Shape::square(spec.n, spec.dtype).map_err(|e| e.to_string())?;
    let kind = spec.construction;
    let backend = backends::make(&spec.backend)?;
    // The provider's GEMM: cuBLAS beside a GPU backend when usable, else the CPU.
    let gemm = if spec.backend == "cpu" {
        Gemm::Cpu
    } else {
        gemm::select(GemmChoice::Auto, 0).map_err(|e| e.to_string())?.gemm
    };
    let mut rng = ChaCha20Rng::seed_from_u64(spec.seed);

    // Client side data (not timed).
    let a = InputMatrix::random(spec.n as usize, spec.n as usize, spec.dtype, spec.seed).map_err(|e| e.to_string())?;
    let b = InputMatrix::random(spec.n as usize, spec.n as usize, spec.dtype, spec.seed.wrapping_add(1))
        .map_err(|e| e.to_string())?;

    let memory_reset = reset_peak_rss();
    progress("setup");
    let rq = runqueue_now();
    // Each run starts from the same RNG state, so every run makes the same keys.
    let ((pk, vk), setup_stat) = timed_setup(|| {
        let mut r = rng.clone();
        let keys = veriflop_prover::setup::generate(kind, shape, &mut r).map_err(|e| e.to_string())?;
        Ok((keys, r))
    })
    .map(|((keys, r), s)| {
        rng = r;
        (keys, s)
    })?;
    let rq_setup = runqueue_since(rq);
    let peak_setup = peak_rss();
    let memory_reset = memory_reset && reset_peak_rss();
    // As in the key file (header excluded).
    let pk_bytes = pk.encoded_len() as u64;
    let vk_bytes = vk.to_bytes().len() as u64;

    // The client posts the job (not timed): the committed construction commits
    // A and B under the key's commitment key.
    let ck = match kind {
        CircuitKind::Committed => Some(pk.commit_key().map_err(|e| e.to_string())?),
        CircuitKind::Poseidon | CircuitKind::Naive => None,
        CircuitKind::Inference => return Err("the matmul suites have no inference case".into()),
    };
    let (nonce, job_id) = crate::extensions::case_job_id(spec.seed);
    let job = Job::new(job_id, kind, shape, ck.as_ref(), &a, &b).map_err(|e| e.to_string())?;
    let verifier = Verifier::new(vk.clone());
    let terms = JobTerms { job: job.clone(), provider: Some(PROVIDER) };

    let total = spec.warmup + spec.reps;
    let mut rows: Vec<[f64; 8]> = Vec::new();
    let mut last: Option<(ProofBundle, veriflop_prover::ProveStats)> = None;
    let mut gemm_on = "cpu";
    let mut rq_measured = Some(RunQueue::default());
    for round in 0..total {
        let label = round_label(spec, round);
        progress(&format!("{label}: execute"));
        let rq = runqueue_now();
        let t = Instant::now();
        let (c, ran) = gemm.matmul(&shape, &a, &b).map_err(|e| e.to_string())?;
        let execute_s = secs(t.elapsed());
        gemm_on = ran.as_str();

        progress(&format!("{label}: prove"));
        let witness = Witness { job_id: job.job_id.0, provider: PROVIDER, a: a.clone(), b: b.clone(), c };
        let phase = |p: &'static str| progress(&format!("{label}: prove ({p})"));
        let (bundle, stats) = prove_bundle(&pk, witness, backend.as_ref(), &mut rng, ProveOptions::default(), &phase)
            .map_err(|e| format!("proving failed: {e}"))?;

        progress(&format!("{label}: verify"));
        let verify_s = time_verify(|| verifier.verify_for_job(&bundle, &terms))?;
        if round >= spec.warmup {
            add_runqueue(&mut rq_measured, runqueue_since(rq));
            rows.push([
                execute_s,
                secs(stats.commit),
                secs(stats.synthesis),
                secs(stats.ntt),
                secs(stats.msm),
                secs(stats.other),
                secs(stats.total),
                verify_s,
            ]);
        }
        last = Some((bundle, stats));
    }
    let (bundle, stats) = last.ok_or("a case needs at least one round")?;
    if rows.is_empty() {
        return Err("a case needs at least one measured repetition".into());
    }
    let peak_prove = peak_rss();
    let col = |i: usize| Stat::from_samples(rows.iter().map(|r| r[i]).collect());
    let timings = Timings {
        execute: col(0),
        commit: col(1),
        witness: col(2),
        ntt: col(3),
        msm: col(4),
        other: col(5),
        prove: col(6),
        verify: col(7),
    };

    let gas = if spec.gas {
        progress("on-chain settlement (gas)");
        Some(crate::extensions::settlement_gas(&vk, &job, &nonce, &bundle)?)
    } else {
        None
    };

    let exact = Exact {
        constraints: stats.constraints as u64,
        variables: stats.variables as u64,
        domain_size: stats.domain_size as u64,
        public_inputs: bundle.statement.public_inputs().len() as u64,
        proof_bytes: bundle.proof.to_bytes().len() as u64,
        commitments_bytes: bundle.commitments.as_ref().map_or(0, |_| 4 * 64),
        bundle_bytes: bundle.to_bytes().len() as u64,
        vk_bytes,
        pk_bytes,
    };
    let peak_all = match (peak_setup, peak_prove) {
        (Some(s), Some(p)) => Some(s.max(p)),
        (s, p) => s.or(p),
    };
    let memory = Memory {
        peak_rss_setup_bytes: if memory_reset { peak_setup } else { None },
        peak_rss_prove_bytes: if memory_reset { peak_prove } else { None },
        peak_rss_bytes: peak_all,
        source: if memory_reset {
            "/proc/self/status VmHWM, reset through /proc/self/clear_refs after key generation".into()
        } else {
            "/proc/self/status VmHWM (could not be reset: setup and prove peaks not separated)".into()
        },
    };
    let gemm = Some(gemm_on.to_string());
    let runqueue = case_runqueue(rq_setup, rq_measured);
    let (setup_s, setup) = setup_figures(setup_stat);
    Ok(CaseResult { id: spec.id(), spec: spec.clone(), exact, setup_s, setup, timings, memory, gas, gemm, runqueue })
}

fn case_runqueue(setup: Option<RunQueue>, measured: Option<RunQueue>) -> Option<CaseRunQueue> {
    Some(CaseRunQueue { setup: setup?, measured: measured? })
}

/// A halo2 case: a development SRS of the shape's size (not timed: it stands
/// for the one universal ceremony), key derivation from it (`setup_s`: the
/// per-shape cost, no trusted setup), then `warmup` + `reps` rounds of execute
/// → prove (Poseidon commitments, halo2 prover) → verify, and the settlement
/// gas through the generated Solidity verifier. halo2-axiom proves on the CPU
/// whatever the backend id says (the backend is recorded as given).
fn run_halo2_case(spec: &CaseSpec, progress: &dyn Fn(&str)) -> Result<CaseResult, String> {
    use veriflop_prover::halo2::prove_halo2_with_key;
    if spec.construction != CircuitKind::Poseidon {
        return Err(format!("halo2 proves the poseidon statement, not {}", spec.construction));
    }
    let shape = Shape::square(spec.n, spec.dtype).map_err(|e| e.to_string())?;
    let a = InputMatrix::random(spec.n as usize, spec.n as usize, spec.dtype, spec.seed).map_err(|e| e.to_string())?;
    let b = InputMatrix::random(spec.n as usize, spec.n as usize, spec.dtype, spec.seed.wrapping_add(1))
        .map_err(|e| e.to_string())?;
    progress("universal SRS (development, not timed)");
    let k = veriflop_halo2::circuit_k(&shape);
    let srs = veriflop_halo2::Srs::setup_dev_random(k).map_err(|e| e.to_string())?;

    let memory_reset = reset_peak_rss();
    progress("keys from the SRS");
    let rq = runqueue_now();
    let ((pk, vk), setup_stat) = timed_setup(|| veriflop_halo2::keygen(&shape, &srs).map_err(|e| e.to_string()))?;
    let rq_setup = runqueue_since(rq);
    let peak_setup = peak_rss();
    let memory_reset = memory_reset && reset_peak_rss();

    let (nonce, job_id) = crate::extensions::case_job_id(spec.seed);
    let job = Job::new(job_id, CircuitKind::Poseidon, shape, None, &a, &b)
        .and_then(|j| j.with_system(ProofSystem::Halo2KzgBn254))
        .map_err(|e| e.to_string())?;
    let verifier = Verifier::halo2(vk.clone());
    let terms = JobTerms { job: job.clone(), provider: Some(PROVIDER) };

    let mut rows: Vec<[f64; 4]> = Vec::new();
    let mut last = None;
    let mut rq_measured = Some(RunQueue::default());
    for round in 0..spec.warmup + spec.reps {
        let label = round_label(spec, round);
        progress(&format!("{label}: execute"));
        let rq = runqueue_now();
        let t = Instant::now();
        let c = execute::matmul(&shape, &a, &b).map_err(|e| e.to_string())?;
        let execute_s = secs(t.elapsed());
        progress(&format!("{label}: prove"));
        let witness = Witness { job_id: job.job_id.0, provider: PROVIDER, a: a.clone(), b: b.clone(), c };
        let (bundle, stats) = prove_halo2_with_key(&pk, &witness).map_err(|e| format!("proving failed: {e}"))?;
        progress(&format!("{label}: verify"));
        let verify_s = time_verify(|| verifier.verify_for_job(&bundle, &terms))?;
        if round >= spec.warmup {
            add_runqueue(&mut rq_measured, runqueue_since(rq));
            rows.push([execute_s, secs(stats.commit), secs(stats.total), verify_s]);
        }
        last = Some((bundle, stats));
    }
    let (bundle, stats) = last.ok_or("a case needs at least one round")?;
    if rows.is_empty() {
        return Err("a case needs at least one measured repetition".into());
    }
    let peak_prove = peak_rss();
    let col = |i: usize| Stat::from_samples(rows.iter().map(|r| r[i]).collect());
    let zero = Stat::from_samples(vec![0.0; rows.len()]);
    let prove = col(2);
    let timings = Timings {
        execute: col(0),
        commit: col(1),
        witness: zero.clone(),
        ntt: zero.clone(),
        msm: zero,
        other: Stat::from_samples(rows.iter().map(|r| r[2] - r[1]).collect()),
        prove,
        verify: col(3),
    };
    let gas = if spec.gas {
        progress("on-chain settlement (gas; compiles the generated verifier)");
        Some(crate::extensions::halo2_settlement_gas(&vk, &job, &nonce, &bundle)?)
    } else {
        None
    };
    let exact = Exact {
        constraints: 0,
        variables: 0,
        domain_size: 1u64 << stats.k,
        public_inputs: bundle.statement.public_inputs().len() as u64,
        proof_bytes: stats.proof_bytes as u64,
        commitments_bytes: 0,
        bundle_bytes: bundle.to_bytes().len() as u64,
        vk_bytes: 0,
        pk_bytes: 0,
    };
    let memory = Memory {
        peak_rss_setup_bytes: if memory_reset { peak_setup } else { None },
        peak_rss_prove_bytes: if memory_reset { peak_prove } else { None },
        peak_rss_bytes: match (peak_setup, peak_prove) {
            (Some(s), Some(p)) => Some(s.max(p)),
            (s, p) => s.or(p),
        },
        source: "/proc/self/status VmHWM (the SRS included), reset through /proc/self/clear_refs after key derivation"
            .into(),
    };
    let runqueue = case_runqueue(rq_setup, rq_measured);
    let (setup_s, setup) = setup_figures(setup_stat);
    Ok(CaseResult {
        id: spec.id(),
        spec: spec.clone(),
        exact,
        setup_s,
        setup,
        timings,
        memory,
        gas,
        gemm: None,
        runqueue,
    })
}

/// "warm-up 1/1", "rep 2/3": the progress label of a round.
fn round_label(spec: &CaseSpec, round: u32) -> String {
    if round < spec.warmup {
        format!("warm-up {}/{}", round + 1, spec.warmup)
    } else {
        format!("rep {}/{}", round - spec.warmup + 1, spec.reps)
    }
}

// ---- calibration ---------------------------------------------------------

/// log2 of the calibration MSM size (G1 points).
pub const CALIBRATION_MSM_LOG: u32 = 16;
/// log2 of the calibration NTT size.
pub const CALIBRATION_NTT_LOG: u32 = 18;
/// log2 of the one-thread calibration MSM and NTT sizes.
pub const CALIBRATION_SERIAL_MSM_LOG: u32 = 13;
pub const CALIBRATION_SERIAL_NTT_LOG: u32 = 16;
/// log2 of the short task's MSM size (scheduling jitter), and how many times it runs.
pub const CALIBRATION_JITTER_MSM_LOG: u32 = 7;
pub const CALIBRATION_JITTER_TASKS: usize = 50;
/// Seed of the calibration inputs (fixed forever for `veriflop-bench/1`).
pub const CALIBRATION_SEED: u64 = 0x7665_7269_666c_6f70; // "veriflop"

/// n seeded points P_i = P_0 + i·Q (cheap to generate, as costly to multiply
/// as random points); also used by the criterion benches.
pub fn seeded_points<G: CurveGroup>(n: usize, rng: &mut ChaCha20Rng) -> Vec<G::Affine> {
    let step = G::rand(rng);
    let mut acc = G::rand(rng);
    let mut proj = Vec::with_capacity(n);
    for _ in 0..n {
        proj.push(acc);
        acc += step;
    }
    G::normalize_batch(&proj)
}

/// G1 MSMs and NTT round trips of the suite's sizes through `backend_id`,
/// one warm-up and `reps` measured each, every result checked against the
/// CPU backend (a fast wrong answer is not a result).
pub fn primitives(backend_id: &str, sizes: &Primitives, progress: &dyn Fn(&str)) -> Result<Vec<Primitive>, String> {
    let backend = backends::make(backend_id)?;
    let cpu = veriflop_prover::CpuBackend::new();
    let mut rng = ChaCha20Rng::seed_from_u64(CALIBRATION_SEED ^ 1);
    let mut out = Vec::new();
    let max_msm = sizes.msm_g1.iter().max().copied().unwrap_or(0);
    let bases =
        if sizes.msm_g1.is_empty() { Vec::new() } else { seeded_points::<G1Projective>(1 << max_msm, &mut rng) };
    let scalars: Vec<Fr> = (0..bases.len()).map(|_| Fr::rand(&mut rng)).collect();
    let time = |op: &str, log: u32, f: &mut dyn FnMut() -> Result<(), String>| -> Result<Primitive, String> {
        let mut samples = Vec::new();
        for rep in 0..=sizes.reps {
            progress(&format!("{op} 2^{log}: {rep}/{}", sizes.reps));
            let t = Instant::now();
            f()?;
            if rep > 0 {
                samples.push(secs(t.elapsed()));
            }
        }
        Ok(Primitive { backend: backend_id.into(), op: op.into(), log_size: log, time: Stat::from_samples(samples) })
    };
    for &log in &sizes.msm_g1 {
        let n = 1usize << log;
        let want = cpu.msm_g1(&bases[..n], &scalars[..n]).map_err(|e| e.to_string())?;
        out.push(time("msm_g1", log, &mut || {
            let got = backend.msm_g1(&bases[..n], &scalars[..n]).map_err(|e| e.to_string())?;
            if got != want {
                return Err(format!("{backend_id}: G1 MSM of 2^{log} points differs from the CPU backend"));
            }
            Ok(())
        })?);
    }
    for &log in &sizes.ntt {
        let values: Vec<Fr> = (0..1usize << log).map(|_| Fr::rand(&mut rng)).collect();
        let mut want = values.clone();
        cpu.ntt(&mut want, Ntt::Forward).map_err(|e| e.to_string())?;
        out.push(time("ntt", log, &mut || {
            let mut v = values.clone();
            backend.ntt(&mut v, Ntt::Forward).map_err(|e| e.to_string())?;
            if v != want {
                return Err(format!("{backend_id}: NTT of 2^{log} differs from the CPU backend"));
            }
            backend.ntt(&mut v, Ntt::Inverse).map_err(|e| e.to_string())?;
            if v != values {
                return Err(format!("{backend_id}: inverse NTT of 2^{log} is not the inverse"));
            }
            Ok(())
        })?);
    }
    Ok(out)
}

/// The fixed workload through the backend's own MSM and NTT: one G1 MSM of
/// 2^16 seeded points and scalars, then a forward and an inverse NTT of 2^18
/// seeded field elements. One warm-up round, then `rounds` measured rounds.
/// Then the one-thread CPU workload (`serial`), same structure, smaller sizes.
pub fn calibrate(backend_id: &str, rounds: u32, progress: &dyn Fn(&str)) -> Result<Calibration, String> {
    let backend = backends::make(backend_id)?;
    let mut rng = ChaCha20Rng::seed_from_u64(CALIBRATION_SEED);
    let n = 1usize << CALIBRATION_MSM_LOG;
    progress("calibration: inputs");
    let bases = seeded_points::<G1Projective>(n, &mut rng);
    let scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
    let values: Vec<Fr> = (0..1usize << CALIBRATION_NTT_LOG).map(|_| Fr::rand(&mut rng)).collect();

    let mut msm = Vec::new();
    let mut ntt = Vec::new();
    let mut first: Option<ark_bn254::G1Projective> = None;
    let mut runqueue = Some(RunQueue::default());
    for round in 0..=rounds {
        progress(&format!("calibration: round {round}/{rounds}"));
        let rq = runqueue_now();
        let t = Instant::now();
        let r = backend.msm_g1(&bases, &scalars).map_err(|e| e.to_string())?;
        let msm_s = secs(t.elapsed());
        let mut v = values.clone();
        let t = Instant::now();
        backend.ntt(&mut v, Ntt::Forward).map_err(|e| e.to_string())?;
        backend.ntt(&mut v, Ntt::Inverse).map_err(|e| e.to_string())?;
        let ntt_s = secs(t.elapsed());
        if v != values {
            return Err("calibration: the NTT round trip is not the identity".into());
        }
        if *first.get_or_insert(r) != r {
            return Err("calibration: the MSM is not deterministic".into());
        }
        if round > 0 {
            add_runqueue(&mut runqueue, runqueue_since(rq));
            msm.push(msm_s);
            ntt.push(ntt_s);
        }
    }
    // Single-thread part: the first 2^13 points and 2^16 values, on a one-thread pool.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| e.to_string())?;
    let cpu = veriflop_prover::CpuBackend::new();
    let (sn, sv) = (1usize << CALIBRATION_SERIAL_MSM_LOG, 1usize << CALIBRATION_SERIAL_NTT_LOG);
    let mut serial = Vec::new();
    let mut serial_runqueue = Some(RunQueue::default());
    for round in 0..=rounds {
        progress(&format!("calibration: one-thread round {round}/{rounds}"));
        let rq = runqueue_now();
        let secs_one = pool.install(|| -> Result<f64, String> {
            let mut v = values[..sv].to_vec();
            let t = Instant::now();
            let _ = std::hint::black_box(cpu.msm_g1(&bases[..sn], &scalars[..sn]).map_err(|e| e.to_string())?);
            cpu.ntt(&mut v, Ntt::Forward).map_err(|e| e.to_string())?;
            cpu.ntt(&mut v, Ntt::Inverse).map_err(|e| e.to_string())?;
            Ok(secs(t.elapsed()))
        })?;
        if round > 0 {
            add_runqueue(&mut serial_runqueue, runqueue_since(rq));
            serial.push(secs_one);
        }
    }
    // Scheduling jitter: a short one-thread task, many times (one warm-up).
    progress("calibration: scheduling jitter");
    let jn = 1usize << CALIBRATION_JITTER_MSM_LOG;
    let mut jitter = Vec::with_capacity(CALIBRATION_JITTER_TASKS);
    for task in 0..=CALIBRATION_JITTER_TASKS {
        let s = pool.install(|| -> Result<f64, String> {
            let t = Instant::now();
            let _ = std::hint::black_box(cpu.msm_g1(&bases[..jn], &scalars[..jn]).map_err(|e| e.to_string())?);
            Ok(secs(t.elapsed()))
        })?;
        if task > 0 {
            jitter.push(s);
        }
    }
    let score: Vec<f64> = msm.iter().zip(&ntt).map(|(a, b)| a + b).collect();
    Ok(Calibration {
        backend: backend_id.to_string(),
        workload: format!(
            "G1 MSM of 2^{CALIBRATION_MSM_LOG} points + forward and inverse NTT of 2^{CALIBRATION_NTT_LOG} \
             field elements, seeded inputs, through the backend"
        ),
        msm_g1_points: n,
        ntt_size: 1 << CALIBRATION_NTT_LOG,
        score: Stat::from_samples(score),
        msm: Stat::from_samples(msm),
        ntt: Stat::from_samples(ntt),
        drift: 1.0,
        serial: Some(Stat::from_samples(serial)),
        jitter: Some(Stat::from_samples(jitter)),
        runqueue,
        serial_runqueue,
    })
}

/// Pools a start and an end calibration of the same backend.
pub fn merge_calibrations(start: Calibration, end: Option<Calibration>) -> Calibration {
    let Some(end) = end else { return start };
    let join = |a: &Stat, b: &Stat| Stat::from_samples(a.samples.iter().chain(&b.samples).copied().collect());
    let drift = if start.score.median > 0.0 { end.score.median / start.score.median } else { 1.0 };
    Calibration {
        score: join(&start.score, &end.score),
        msm: join(&start.msm, &end.msm),
        ntt: join(&start.ntt, &end.ntt),
        drift,
        serial: match (&start.serial, &end.serial) {
            (Some(a), Some(b)) => Some(join(a, b)),
            (a, b) => a.clone().or(b.clone()),
        },
        jitter: match (&start.jitter, &end.jitter) {
            (Some(a), Some(b)) => Some(join(a, b)),
            (a, b) => a.clone().or(b.clone()),
        },
        runqueue: sum_runqueue(start.runqueue, end.runqueue),
        serial_runqueue: sum_runqueue(start.serial_runqueue, end.serial_runqueue),
        ..start
    }
}

fn sum_runqueue(a: Option<RunQueue>, b: Option<RunQueue>) -> Option<RunQueue> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.plus(b)),
        (a, b) => a.or(b),
    }
}
