//! Verifier-service throughput: verified proofs per second natively and through
//! the HTTP service under concurrent load, in one measurement (runs in a child
//! process like a case; `veriflop-bench run --no-service` skips it).
//!
//! Set-up (not timed, reported as `setup_s`): one key pair for an n×n×n job
//! of the spec's circuit (the suites use a committed 4×4×4 int8 job), its
//! verifying key in a temporary key directory; `jobs` distinct jobs (same
//! matrices, distinct job ids) per HTTP measurement, each with an honest proof
//! from veriflop-prover (`prove_bundle`, proofs made in parallel).
//!
//! Timed:
//! 1. native: `Verifier::verify_for_job` on the first `jobs` bundles, on a
//!    one-thread pool and then on every core (rayon), with the latency of each
//!    verification (each after one unmeasured pass);
//! 2. HTTP, once per concurrency level C: a fresh service on loopback
//!    (`veriflop_service::client::spawn_local`, temporary SQLite ledger, no
//!    rate limit), the level's `jobs` jobs registered through the API (signed,
//!    not timed), C keep-alive connections opened (not timed), then the C
//!    connections submit the `jobs` signed bundles concurrently; every request verifies a distinct proof and releases a
//!    distinct escrow (each answer must be `released`, and the ledger audit must
//!    be clean afterwards). Throughput is jobs / wall time; latencies are those
//!    seen by the load generator, which shares the machine's cores with the
//!    service.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ark_bn254::Fr;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Bytes32, CircuitKind, InputMatrix, Job, JobId, Shape, Venue, Witness};
use veriflop_prover::{prove_bundle, CpuBackend, ProveOptions};
use veriflop_service::client::{spawn_local, Client, Config, RegisterJob, SubmitOutcome};
use veriflop_service::ledger::Ledger;
use veriflop_verifier::auth::{unix_now, Signer};
use veriflop_verifier::{JobTerms, ProofBundle, Verifier};

use crate::case::{runqueue_now, runqueue_since};
use crate::results::{ServiceRun, ServiceThroughput};
use crate::suite::ServiceSpec;

/// Escrowed amount per job (the ledger's units; the figure does not depend on it).
const PRICE: u128 = 1000;

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn summary(concurrency: usize, wall: Duration, mut lat: Vec<Duration>) -> ServiceRun {
    lat.sort();
    let proofs = lat.len() as u64;
    let wall_s = wall.as_secs_f64();
    ServiceRun {
        concurrency: concurrency as u64,
        proofs,
        wall_s,
        per_s: if wall_s > 0.0 { proofs as f64 / wall_s } else { 0.0 },
        p50_ms: percentile_ms(&lat, 0.50),
        p99_ms: percentile_ms(&lat, 0.99),
        max_ms: lat.last().map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0),
        runqueue: None,
    }
}

/// Runs the measurement described by `spec` in this process.
pub fn run(spec: &ServiceSpec, progress: &dyn Fn(&str)) -> Result<ServiceThroughput, String> {
    if spec.jobs == 0 {
        return Err("the service measurement needs at least one job".into());
    }
    let shape = Shape::square(spec.n, spec.dtype).map_err(|e| e.to_string())?;
    let kind = spec.circuit;
    let jobs = spec.jobs as usize;
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
    let e = |what: &'static str| move |err: String| format!("{what}: {err}");

    // ---- set-up: keys, jobs, proofs (not timed) ----
    let setup = Instant::now();
    progress("service: keys");
    let mut rng = ChaCha20Rng::seed_from_u64(spec.seed);
    let (pk, vk) =
        veriflop_prover::setup::generate(kind, shape, &mut rng).map_err(|x| e("key generation")(x.to_string()))?;
    let ck = match kind {
        CircuitKind::Committed => Some(pk.commit_key().map_err(|x| x.to_string())?),
        CircuitKind::Poseidon | CircuitKind::Naive => None,
        CircuitKind::Inference => return Err("the matmul suites have no inference case".into()),
    };
    let key_dir = tempfile::Builder::new().prefix("veriflop-bench-keys").tempdir().map_err(|x| x.to_string())?;
    // The verifying key, and the commitment key the service checks uploaded C with.
    veriflop_prover::KeyStore::new(key_dir.path()).save(&pk, &vk).map_err(|x| e("writing the keys")(x.to_string()))?;
    let provider = Signer::random();
    let client_key = Signer::random();
    let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
    let a = InputMatrix::random(m, k, shape.dtype, spec.seed).map_err(|x| x.to_string())?;
    let b = InputMatrix::random(k, n, shape.dtype, spec.seed.wrapping_add(1)).map_err(|x| x.to_string())?;
    let c = matmul(&shape, &a, &b).map_err(|x| x.to_string())?;
    let c_file = tempfile::Builder::new().suffix(".vfm").tempfile().map_err(|x| x.to_string())?.into_temp_path();
    veriflop_circuits::matrix::write_matrix(&c_file, &c).map_err(|x| x.to_string())?;
    let base = Job::new(JobId(Fr::from(0u64)), kind, shape, ck.as_ref(), &a, &b).map_err(|x| x.to_string())?;

    // One set of `jobs` jobs per HTTP measurement (every request releases a
    // distinct escrow), each set on its own ledger, made now: job ids are
    // derived from the ledger's venue, and the client's deposit funds the set.
    // The first set also serves the native measurement.
    let sets = spec.concurrency.len().max(1);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|x| x.to_string())?;
    let ledger_dir = tempfile::Builder::new().prefix("veriflop-bench-ledger").tempdir().map_err(|x| x.to_string())?;
    let mut ledgers = Vec::with_capacity(sets);
    for set in 0..sets {
        let url = format!("sqlite://{}", ledger_dir.path().join(format!("ledger-{set}.db")).display());
        let venue = rt.block_on(async {
            let l = Ledger::connect(&url).await.map_err(|x| x.to_string())?;
            l.deposit(client_key.address(), PRICE as u64 * jobs as u64, "bench", None, unix_now())
                .await
                .map_err(|x| format!("deposit: {x}"))?;
            l.close().await;
            Ok::<_, String>(Venue::Service { service_id: l.service_id() })
        })?;
        ledgers.push((url, venue));
    }
    let nonces: Vec<Bytes32> = (0..sets * jobs)
        .map(|_| {
            let mut b = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rng, &mut b);
            Bytes32(b)
        })
        .collect();
    let ids: Vec<JobId> =
        nonces.iter().enumerate().map(|(i, nonce)| ledgers[i / jobs].1.job_id(client_key.address(), nonce)).collect();
    progress(&format!("service: {} proofs", ids.len()));
    let mut work: Vec<(Job, ProofBundle)> = Vec::with_capacity(ids.len());
    for (chunk_no, chunk) in ids.chunks(64).enumerate() {
        let made: Vec<(Job, ProofBundle)> = chunk
            .par_iter()
            .enumerate()
            .map(|(j, id)| {
                let i = chunk_no * 64 + j;
                let job = Job { job_id: *id, ..base.clone() };
                let w =
                    Witness { job_id: id.0, provider: provider.address(), a: a.clone(), b: b.clone(), c: c.clone() };
                let mut rng = ChaCha20Rng::seed_from_u64(spec.seed ^ (0x5e_u64 << 56) ^ i as u64);
                let (bundle, _) = prove_bundle(&pk, w, &CpuBackend::new(), &mut rng, ProveOptions::default(), &|_| {})
                    .map_err(|x| format!("proving job {i}: {x}"))?;
                Ok((job, bundle))
            })
            .collect::<Result<_, String>>()?;
        work.extend(made);
        progress(&format!("service: {}/{} proofs", work.len(), ids.len()));
    }
    drop(pk);
    let setup_s = setup.elapsed().as_secs_f64();

    // ---- native verification ----
    let verifier = Verifier::new(vk);
    let first = &work[..jobs];
    let terms: Vec<JobTerms> =
        first.iter().map(|(j, _)| JobTerms { job: j.clone(), provider: Some(provider.address()) }).collect();
    let verify_all = |par: bool| -> Result<(Duration, Vec<Duration>), String> {
        let one = |((_, bundle), terms): (&(Job, ProofBundle), &JobTerms)| {
            let t = Instant::now();
            verifier.verify_for_job(bundle, terms).map(|_| t.elapsed()).map_err(|x| format!("native verify: {x}"))
        };
        let t = Instant::now();
        let lat: Vec<Duration> = if par {
            first.par_iter().zip(&terms).map(one).collect::<Result<_, _>>()?
        } else {
            first.iter().zip(&terms).map(one).collect::<Result<_, _>>()?
        };
        Ok((t.elapsed(), lat))
    };
    progress("service: native verification, 1 thread");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|x| x.to_string())?;
    // One unmeasured pass first (lazy initialisation, caches, thread start-up).
    pool.install(|| verify_all(false))?;
    let rq = runqueue_now();
    let (wall, lat) = pool.install(|| verify_all(false))?;
    let mut native = vec![ServiceRun { runqueue: runqueue_since(rq), ..summary(1, wall, lat) }];
    progress(&format!("service: native verification, {cores} threads"));
    verify_all(true)?;
    let rq = runqueue_now();
    let (wall, lat) = verify_all(true)?;
    native.push(ServiceRun { runqueue: runqueue_since(rq), ..summary(rayon::current_num_threads(), wall, lat) });

    // ---- HTTP ----
    let mut http = Vec::new();
    for (set, &conc) in spec.concurrency.iter().enumerate() {
        let conc = (conc as usize).max(1);
        let batch = &work[set * jobs..(set + 1) * jobs];
        let batch_nonces = &nonces[set * jobs..(set + 1) * jobs];
        let ledger_url = ledgers[set].0.clone();
        progress(&format!("service: HTTP, {conc} connections"));
        let (wall, lat, rq) = rt.block_on(async {
            let config = Config {
                key_dir: key_dir.path().to_path_buf(),
                rate_limit_per_minute: 0,
                verify_queue: Config::default().verify_queue.max(2 * conc),
                ledger_url: Some(ledger_url),
                // One client posts the whole set: the operator's quota must allow it.
                max_open_jobs_per_client: jobs as u64,
                ..Config::default()
            };
            let (_, handle) = spawn_local(config).await.map_err(|x| format!("starting the service: {x}"))?;
            let url = handle.url();
            let reg = Client::new(&url, client_key.clone());
            // Every job's C is stored before the clock starts (the escrow is
            // released only for a delivered result): what is measured is the
            // submission, verification and release.
            let delivery = Client::new(&url, provider.clone());
            for ((job, _), nonce) in batch.iter().zip(batch_nonces) {
                reg.register_job(&RegisterJob::for_job(job, *nonce, PRICE, unix_now() + 3600, client_key.address()))
                    .await
                    .map_err(|x| format!("registering a job: {x}"))?;
                delivery.upload_result(&job.job_id, c_file.as_ref()).await.map_err(|x| format!("storing C: {x}"))?;
            }
            let queue = Arc::new(Mutex::new(batch.iter().map(|(j, b)| (j.job_id, b.clone())).collect::<Vec<_>>()));
            // Every worker opens its keep-alive connection (GET /healthz) before the clock starts.
            let ready = Arc::new(tokio::sync::Barrier::new(conc + 1));
            let workers: Vec<_> = (0..conc)
                .map(|_| {
                    let queue = queue.clone();
                    let ready = ready.clone();
                    let c = Client::new(&url, provider.clone());
                    tokio::spawn(async move {
                        let warm = c.health().await.map(|_| ()).map_err(|x| format!("health check: {x}"));
                        ready.wait().await;
                        warm?;
                        let mut lat = Vec::new();
                        loop {
                            let next = queue.lock().expect("queue lock").pop();
                            let Some((id, bundle)) = next else { break };
                            let t1 = Instant::now();
                            let out = c.submit_proof(&id, &bundle).await.map_err(|x| format!("submitting: {x}"))?;
                            lat.push(t1.elapsed());
                            if out.outcome != SubmitOutcome::Released {
                                return Err(format!("job {id}: outcome {:?}, not released", out.outcome));
                            }
                        }
                        Ok::<_, String>(lat)
                    })
                })
                .collect();
            let rq = runqueue_now();
            ready.wait().await;
            let t = Instant::now();
            let mut lat = Vec::with_capacity(jobs);
            for w in workers {
                lat.extend(w.await.map_err(|x| x.to_string())??);
            }
            let wall = t.elapsed();
            let rq = runqueue_since(rq);
            if lat.len() != jobs {
                return Err(format!("{} of {jobs} submissions answered", lat.len()));
            }
            let problems = handle.state.ledger.audit().await.map_err(|x| format!("ledger audit: {x}"))?;
            if !problems.is_empty() {
                return Err(format!("ledger audit: {}", problems.join("; ")));
            }
            handle.shutdown().await;
            Ok::<_, String>((wall, lat, rq))
        })?;
        http.push(ServiceRun { runqueue: rq, ..summary(conc, wall, lat) });
    }

    Ok(ServiceThroughput {
        id: spec.id(),
        circuit: kind,
        shape: shape.to_string(),
        jobs: jobs as u64,
        cores: cores as u64,
        setup_s,
        ledger: "SQLite, temporary file (spawn_local)".into(),
        native,
        http,
    })
}
