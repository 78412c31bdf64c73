//! Verified proofs per second through the HTTP service under concurrent load,
//! next to raw native verification throughput, in one run.
//!
//! ```text
//! cargo bench -p veriflop-verifier --bench http_throughput
//! VERIFLOP_BENCH_JOBS=400 VERIFLOP_BENCH_CONCURRENCY=64 cargo bench -p veriflop-verifier --bench http_throughput
//! VERIFLOP_BENCH_LEDGER=postgres://… (default: a temporary SQLite file)
//! ```
//!
//! Set-up (not timed): one key pair for a 4×4×4 int8 Freivalds job (or
//! VERIFLOP_BENCH_SHAPE=MxKxN), N jobs registered through the API, N honest
//! proofs from veriflop-prover. Timed:
//! 1. native: `Verifier::verify_for_job` on all N bundles, one thread and then
//!    on every core (rayon);
//! 2. HTTP: a pool of C concurrent keep-alive connections (reqwest) submits the
//!    N signed bundles to a fresh service on loopback; every request verifies a
//!    distinct proof and releases a distinct escrow. Reports proofs/s and the
//!    p50/p99/max request latency seen by the load generator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use rayon::prelude::*;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{commit, CircuitKind, Dtype, InputMatrix, Job, JobId, MatmulCircuit, Shape, Witness};
use veriflop_prover::{prove, CpuBackend, ProveOptions};
use veriflop_verifier::auth::{unix_now, Signer};
use veriflop_verifier::client::{spawn_local, Client, Config, RegisterJob, SubmitOutcome};
use veriflop_verifier::{JobTerms, ProofBundle, Verifier};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful: run only under cargo bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("http_throughput: run with `cargo bench -p veriflop-verifier --bench http_throughput`");
        return;
    }
    let n = env_usize("VERIFLOP_BENCH_JOBS", 256);
    let conc = env_usize("VERIFLOP_BENCH_CONCURRENCY", 32);
    let dims = std::env::var("VERIFLOP_BENCH_SHAPE").unwrap_or_else(|_| "4x4x4".into());
    let (m, k, nn) = veriflop_circuits::shape::parse_dims(&dims).expect("VERIFLOP_BENCH_SHAPE");
    let shape = Shape::new(m, k, nn, Dtype::Int8).unwrap();
    let kind = CircuitKind::Freivalds;
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
    println!("veriflop verifier benchmark: {n} proofs of {kind} {shape}, {conc} concurrent HTTP connections, {cores} CPU cores");

    // ---- set-up: keys, jobs, proofs ----
    let t = Instant::now();
    let (pk, vk) = veriflop_prover::setup::generate(kind, shape, &mut OsRng).unwrap();
    let key_dir = tempfile::tempdir().unwrap();
    std::fs::write(key_dir.path().join(veriflop_verifier::service::keys::vk_file_name(kind, &shape)), vk.to_bytes())
        .unwrap();
    let provider = Signer::random();
    let client_key = Signer::random();
    let a = InputMatrix::random(m as usize, k as usize, Dtype::Int8, 1).unwrap();
    let b = InputMatrix::random(k as usize, nn as usize, Dtype::Int8, 2).unwrap();
    let c = matmul(&shape, &a, &b).unwrap();
    let cm_c = commit::commit_output(&shape, &c);
    let base = Job::new(JobId::random(), shape, &a, &b).unwrap();
    let work: Vec<(Job, ProofBundle)> = (0..n)
        .into_par_iter()
        .map(|_| {
            let job = Job { job_id: JobId::random(), ..base.clone() };
            let w = Witness {
                job_id: job.job_id.0,
                provider: provider.address().to_fr(),
                a: a.clone(),
                b: b.clone(),
                c: c.clone(),
            };
            let (proof, _) = prove(
                &pk,
                MatmulCircuit::prove(kind, shape, w),
                &CpuBackend::new(),
                &mut OsRng,
                ProveOptions::default(),
                &|_| {},
            )
            .unwrap();
            let st = job.statement(provider.address(), cm_c);
            (job, ProofBundle::new(kind, st, proof))
        })
        .collect();
    println!("set-up: keys and {n} proofs in {:.1} s", t.elapsed().as_secs_f64());

    // ---- native verification ----
    let verifier = Verifier::new(vk.clone());
    let terms: Vec<JobTerms> =
        work.iter().map(|(j, _)| JobTerms { job: j.clone(), provider: Some(provider.address()) }).collect();
    let t = Instant::now();
    let mut lat = Vec::with_capacity(n);
    for ((_, bundle), terms) in work.iter().zip(&terms) {
        let t1 = Instant::now();
        verifier.verify_for_job(bundle, terms).unwrap();
        lat.push(t1.elapsed());
    }
    let native1 = n as f64 / t.elapsed().as_secs_f64();
    lat.sort();
    let native_p50 = pct(&lat, 0.5);
    let native_lat = lat;
    let t = Instant::now();
    work.par_iter().zip(&terms).for_each(|((_, bundle), terms)| verifier.verify_for_job(bundle, terms).unwrap());
    let native_all = n as f64 / t.elapsed().as_secs_f64();

    // ---- HTTP ----
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (http_rate, lat, wall) = rt.block_on(async {
        let config = Config {
            key_dir: key_dir.path().to_path_buf(),
            ledger_url: std::env::var("VERIFLOP_BENCH_LEDGER").ok(),
            rate_limit_per_minute: 0,
            ..Config::default()
        };
        let (addr, handle) = spawn_local(config).await.unwrap();
        let url = format!("http://{addr}");
        let reg = Client::new(&url, client_key.clone());
        for (job, _) in &work {
            reg.register_job(&RegisterJob::for_job(job, kind, 1000, unix_now() + 3600, client_key.address()))
                .await
                .unwrap();
        }
        let queue =
            Arc::new(std::sync::Mutex::new(work.iter().map(|(j, b)| (j.job_id, b.clone())).collect::<Vec<_>>()));
        let t = Instant::now();
        let workers: Vec<_> = (0..conc)
            .map(|_| {
                let queue = queue.clone();
                let c = Client::new(&url, provider.clone());
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    loop {
                        let next = queue.lock().unwrap().pop();
                        let Some((id, bundle)) = next else { break };
                        let t1 = Instant::now();
                        let out = c.submit_proof(&id, &bundle).await.unwrap();
                        lat.push(t1.elapsed());
                        assert_eq!(out.outcome, SubmitOutcome::Released);
                    }
                    lat
                })
            })
            .collect();
        let mut lat = Vec::new();
        for w in workers {
            lat.extend(w.await.unwrap());
        }
        let wall = t.elapsed();
        assert_eq!(lat.len(), n);
        assert!(handle.state.ledger.audit().await.unwrap().is_empty());
        handle.shutdown().await;
        (n as f64 / wall.as_secs_f64(), lat, wall)
    });
    let mut lat = lat;
    lat.sort();

    println!();
    println!("| path | proofs/s | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| native, 1 thread | {native1:.0} | {native_p50:.2} | {:.2} | {:.2} |",
        pct(&native_lat, 0.99),
        native_lat.last().unwrap().as_secs_f64() * 1e3
    );
    println!("| native, {cores} threads (rayon) | {native_all:.0} | | | |");
    println!(
        "| HTTP service, {conc} connections, signed, SQLite-ledger release | {http_rate:.0} | {:.2} | {:.2} | {:.2} |",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "\nHTTP: {n} releases in {:.2} s; load generator and service share the {cores} cores.",
        wall.as_secs_f64()
    );
}
