//! The market flow, measured as its users run it: the verifier service and the
//! provider agents as separate processes (the release binaries beside this
//! one), a client posting jobs with their data over loopback HTTP.
//!
//! - Jobs per second through the whole flow (post with data → claim → download
//!   and check → prove → deliver → release → the client's checked fetch of C)
//!   at n×n×n committed int8, with 1, 2 and 4 agents; every job must be released
//!   once and every C must equal A·B.
//! - Upload and download MB/s of a 4096×4096 int32 matrix (64 MiB), and the
//!   service's peak RSS above its idle RSS while it receives it: the upload is
//!   streamed to disk and committed chunk by chunk, never held whole (target:
//!   under 64 MiB above idle). The matrix is A of a Poseidon-committed
//!   4096×4096×1 job; its registration needs a verifying key for that shape,
//!   which no setup can make on this machine, so a stand-in key (a real key of
//!   a small shape, relabelled) is used: only the upload is measured, no proof.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use veriflop_circuits::{Bytes32, CircuitKind, Dtype, InputMatrix, Job, JobId, Shape};
use veriflop_prover::KeyStore;
use veriflop_service::client::{Client, Input, RegisterJob};
use veriflop_service::ledger::EscrowState;
use veriflop_verifier::auth::{unix_now, Signer};

use crate::results::{Machine, Software};

pub const SCHEMA: &str = "veriflop-bench-market/1";
/// File name of the market results beside a suite's results.json.
pub const FILE: &str = "market.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MarketResults {
    pub schema: String,
    pub created_utc: String,
    pub machine: Machine,
    pub software: Software,
    /// n of the n×n×n committed int8 jobs.
    pub n: u32,
    pub runs: Vec<FlowRun>,
    pub transfer: Transfer,
}

/// One throughput measurement: `jobs` jobs through the flow with `agents` agents.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FlowRun {
    pub agents: u32,
    pub jobs: u32,
    /// From the first post to the last checked fetch, seconds.
    pub wall_s: f64,
    pub jobs_per_s: f64,
    /// Median post-to-release time of one job, seconds.
    pub latency_median_s: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Transfer {
    /// The matrix moved: rows × cols and dtype.
    pub matrix: String,
    pub bytes: u64,
    /// Upload (streamed, checked against its commitment, stored), seconds and MB/s (10^6 bytes).
    pub upload_s: f64,
    pub upload_mb_s: f64,
    /// Of the upload, as the service timed it: receiving the body to its spool,
    /// checking it (parse, ranges, the Poseidon commitment), storing the blob.
    pub receive_s: f64,
    pub receive_mb_s: f64,
    pub check_s: f64,
    pub check_mb_s: f64,
    pub store_s: f64,
    pub download_s: f64,
    pub download_mb_s: f64,
    /// The service process's resident memory before the upload and its peak (VmHWM) after.
    pub service_idle_rss_bytes: u64,
    pub service_peak_rss_bytes: u64,
    pub service_rss_above_idle_bytes: u64,
    /// The target for `service_rss_above_idle_bytes`.
    pub target_bytes: u64,
}

/// What `veriflop-bench market` measures.
#[derive(Clone, Debug)]
pub struct Spec {
    pub n: u32,
    pub jobs: u32,
    pub agents: Vec<u32>,
    /// Side of the square int32 matrix of the transfer measurement.
    pub big: u32,
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let p = std::env::current_exe()?.with_file_name(name);
    if !p.is_file() {
        bail!(
            "{} is missing: the market measurement runs the release binaries beside veriflop-bench; build them with `cargo build --release -p veriflop-prover -p veriflop-service`",
            p.display()
        );
    }
    Ok(p)
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Service {
    proc: Proc,
    url: String,
}

fn start_service(bin: &Path, dir: &Path, keys: &Path) -> anyhow::Result<Service> {
    let ledger = format!("sqlite://{}", dir.join("ledger.db").display());
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--rate-limit-per-minute", "0", "--max-open-jobs", "100000"])
        .args(["--ledger", &ledger])
        .arg("--blobs")
        .arg(dir.join("blobs"))
        .arg("--keys")
        .arg(keys)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .context("starting veriflop-verifier")?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let url = line.trim().strip_prefix("listening on ").context("the service did not start")?.to_string();
    Ok(Service { proc: Proc(child), url })
}

fn deposit(bin: &Path, dir: &Path, to: &Signer, amount: u64) -> anyhow::Result<()> {
    let ledger = format!("sqlite://{}", dir.join("ledger.db").display());
    let out = Command::new(bin)
        .args(["deposit", "--to", &to.address().to_string(), "--amount", &amount.to_string(), "--ledger", &ledger])
        .arg("--blobs")
        .arg(dir.join("blobs"))
        .output()?;
    if !out.status.success() {
        bail!("deposit: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// VmRSS and VmHWM of a process, bytes.
fn rss(pid: u32) -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| -> anyhow::Result<u64> {
        let line = text.lines().find(|l| l.starts_with(key)).with_context(|| format!("no {key}"))?;
        Ok(line.split_whitespace().nth(1).context("value")?.parse::<u64>()? * 1024)
    };
    Ok((kb("VmRSS:")?, kb("VmHWM:")?))
}

/// Posts a job with its data: registration, then A and B.
async fn post(client: &Client, job: &Job, nonce: Bytes32, a: &Path, b: &Path) -> anyhow::Result<()> {
    let reg = RegisterJob::for_job(job, nonce, 1000, unix_now() + 3600, client.signer().address());
    client.register_job(&reg).await?;
    client.upload_input(&job.job_id, Input::A, a).await?;
    client.upload_input(&job.job_id, Input::B, b).await?;
    Ok(())
}

pub fn run(spec: &Spec, progress: &dyn Fn(&str)) -> anyhow::Result<MarketResults> {
    let verifier = sibling("veriflop-verifier")?;
    let prover = sibling("veriflop-prover")?;
    let tmp = tempfile::Builder::new().prefix("veriflop-bench-market").tempdir()?;
    let keys = tmp.path().join("keys");
    let store = KeyStore::new(&keys);
    let shape = Shape::new(spec.n, spec.n, spec.n, Dtype::Int8)?;
    progress(&format!("market: keys for committed {shape}"));
    let (pk, vk) = veriflop_prover::setup::generate(CircuitKind::Committed, shape, &mut rand::rngs::OsRng)?;
    store.save(&pk, &vk)?;
    let ck = pk.commit_key()?;
    drop(pk);
    let big = Shape::new(spec.big, spec.big, 1, Dtype::Int32)?;
    stand_in_key(&store, big)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let load_start = crate::machine::load_average();
    let created_utc = crate::machine::now_utc();

    // Throughput, one fresh market per agent count.
    let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, 1)?;
    let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, 2)?;
    let want = veriflop_circuits::execute::matmul(&shape, &a, &b)?;
    let (pa, pb) = (tmp.path().join("a.npy"), tmp.path().join("b.npy"));
    veriflop_circuits::matrix::write_matrix(&pa, &a)?;
    veriflop_circuits::matrix::write_matrix(&pb, &b)?;
    let mut runs = Vec::new();
    for &k in &spec.agents {
        progress(&format!("market: {} jobs with {k} agents", spec.jobs));
        let dir = tmp.path().join(format!("market-{k}"));
        std::fs::create_dir_all(&dir)?;
        let svc = start_service(&verifier, &dir, &keys)?;
        let client_key = Signer::random();
        deposit(&verifier, &dir, &client_key, 1000 * spec.jobs as u64)?;
        let agents: Vec<Proc> = (0..k)
            .map(|i| {
                Command::new(&prover)
                    .args([
                        "--quiet",
                        "work",
                        "--url",
                        &svc.url,
                        "--poll-secs",
                        "0.05",
                        "--backend",
                        "cpu",
                        "--gemm",
                        "cpu",
                    ])
                    .arg("--keys")
                    .arg(&keys)
                    .arg("--work-dir")
                    .arg(dir.join(format!("work-{i}")))
                    .env("VERIFLOP_PROVIDER_KEY", Signer::random().secret_hex())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map(Proc)
            })
            .collect::<Result<_, _>>()?;
        std::thread::sleep(Duration::from_millis(500)); // the agents are polling
        let client = Client::new(&svc.url, client_key.clone());
        let (wall, latencies) = rt.block_on(async {
            let t = Instant::now();
            let mut posted = Vec::new();
            for _ in 0..spec.jobs {
                let nonce = Bytes32::random();
                let id = client.job_id_for(&nonce).await?;
                let job = Job::new(id, CircuitKind::Committed, shape, Some(&ck), &a, &b)?;
                post(&client, &job, nonce, &pa, &pb).await?;
                posted.push((id, Instant::now()));
            }
            let mut latencies = Vec::new();
            for (id, at) in &posted {
                loop {
                    let v = client.job(id).await?;
                    if v.state == EscrowState::Released {
                        latencies.push(at.elapsed().as_secs_f64());
                        break;
                    }
                    if v.state != EscrowState::Locked || t.elapsed() > Duration::from_secs(600) {
                        bail!("job {id} was not released ({:?})", v.state);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let out = dir.join(format!("c-{id}"));
                client.download_result(id, &out).await?;
                if veriflop_circuits::stream::read_file(&out)? != want {
                    bail!("job {id}: the delivered C is not A·B");
                }
            }
            Ok::<_, anyhow::Error>((t.elapsed(), latencies))
        })?;
        drop(agents);
        drop(svc);
        let mut l = latencies;
        l.sort_by(f64::total_cmp);
        let wall_s = wall.as_secs_f64();
        runs.push(FlowRun {
            agents: k,
            jobs: spec.jobs,
            wall_s,
            jobs_per_s: spec.jobs as f64 / wall_s,
            latency_median_s: l[l.len() / 2],
        });
    }

    // Transfer and the service's memory while it receives a big matrix.
    progress(&format!("market: upload and download of a {}×{} int32 matrix", spec.big, spec.big));
    let dir = tmp.path().join("transfer");
    std::fs::create_dir_all(&dir)?;
    let big_a = InputMatrix::random(big.m as usize, big.k as usize, Dtype::Int32, 3)?;
    let big_b = InputMatrix::random(big.k as usize, 1, Dtype::Int32, 4)?;
    let (ba, bb) = (dir.join("a.npy"), dir.join("b.npy"));
    veriflop_circuits::matrix::write_matrix(&ba, &big_a)?;
    veriflop_circuits::matrix::write_matrix(&bb, &big_b)?;
    let job0 = Job::new(JobId::random(), CircuitKind::Poseidon, big, None, &big_a, &big_b)?;
    drop((big_a, big_b));
    let svc = start_service(&verifier, &dir, &keys)?;
    let client_key = Signer::random();
    deposit(&verifier, &dir, &client_key, 1000)?;
    let client = Client::new(&svc.url, client_key.clone());
    let bytes = std::fs::metadata(&ba)?.len();
    let (idle, upload, download, stored) = rt.block_on(async {
        client.health().await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (idle, _) = rss(svc.proc.0.id())?;
        let nonce = Bytes32::random();
        let id = client.job_id_for(&nonce).await?;
        let job = Job { job_id: id, ..job0 };
        let reg = RegisterJob::for_job(&job, nonce, 1000, unix_now() + 3600, client_key.address());
        client.register_job(&reg).await?;
        let t = Instant::now();
        let stored = client.upload_input(&id, Input::A, &ba).await?;
        let upload = t.elapsed();
        let t = Instant::now();
        client.download_input(&id, Input::A, &dir.join("a.back")).await?;
        let download = t.elapsed();
        Ok::<_, anyhow::Error>((idle, upload, download, stored))
    })?;
    let (_, peak) = rss(svc.proc.0.id())?;
    if std::fs::read(&ba)? != std::fs::read(dir.join("a.back"))? {
        bail!("the downloaded matrix differs from the uploaded one");
    }
    drop(svc);
    let mb = |s: Duration| bytes as f64 / 1e6 / s.as_secs_f64();
    let mut machine = crate::machine::machine();
    machine.load_average_start = load_start;
    machine.load_average_end = crate::machine::load_average();
    Ok(MarketResults {
        schema: SCHEMA.into(),
        created_utc,
        machine,
        software: crate::machine::software(),
        n: spec.n,
        runs,
        transfer: Transfer {
            matrix: format!("{}×{} int32", spec.big, spec.big),
            bytes,
            upload_s: upload.as_secs_f64(),
            upload_mb_s: mb(upload),
            receive_s: stored.receive_s,
            receive_mb_s: mb(Duration::from_secs_f64(stored.receive_s)),
            check_s: stored.check_s,
            check_mb_s: mb(Duration::from_secs_f64(stored.check_s)),
            store_s: stored.store_s,
            download_s: download.as_secs_f64(),
            download_mb_s: mb(download),
            service_idle_rss_bytes: idle,
            service_peak_rss_bytes: peak,
            service_rss_above_idle_bytes: peak.saturating_sub(idle),
            target_bytes: 64 << 20,
        },
    })
}

/// A verifying key file for `shape` made by relabelling a real Poseidon key of a
/// small shape: the service accepts registrations for it (uploads are checked
/// with Poseidon, no key), and no proof can ever verify against it.
fn stand_in_key(store: &KeyStore, shape: Shape) -> anyhow::Result<()> {
    let small = Shape::new(2, 2, 2, shape.dtype)?;
    let (_, mut vk) = veriflop_prover::setup::generate(CircuitKind::Poseidon, small, &mut rand::rngs::OsRng)?;
    vk.header.shape = shape;
    let path = store.vk_path(CircuitKind::Poseidon, &shape);
    std::fs::create_dir_all(&store.dir)?;
    std::fs::write(path, vk.to_bytes())?;
    Ok(())
}

/// The market results as a Markdown table (report and README).
pub fn markdown(m: &MarketResults) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "The market flow through separate processes on loopback (service, provider agents, a client): post with data → claim → download and check → prove → deliver → release → the client's checked fetch of C; committed int8 {n}×{n}×{n} jobs, release build, commit `{}`.\n",
        m.software.git_commit.as_deref().map(|c| &c[..c.len().min(10)]).unwrap_or("unknown"),
        n = m.n
    );
    s.push_str("| agents | jobs | wall | jobs/s | median post → release |\n|---:|---:|---:|---:|---:|\n");
    for r in &m.runs {
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} s | {:.2} | {:.2} s |",
            r.agents, r.jobs, r.wall_s, r.jobs_per_s, r.latency_median_s
        );
    }
    let t = &m.transfer;
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let _ = writeln!(
        s,
        "\nA {} matrix ({:.1} MiB): upload {:.1} MB/s ({:.2} s end to end: receiving it {:.1} MB/s, checking it against its Poseidon commitment {:.1} MB/s, storing it {:.2} s), download {:.1} MB/s ({:.2} s). The service's peak RSS while receiving it: {:.1} MiB above its idle {:.1} MiB (target: under {:.0} MiB above idle).",
        t.matrix,
        mib(t.bytes),
        t.upload_mb_s,
        t.upload_s,
        t.receive_mb_s,
        t.check_mb_s,
        t.store_s,
        t.download_mb_s,
        t.download_s,
        mib(t.service_rss_above_idle_bytes),
        mib(t.service_idle_rss_bytes),
        mib(t.target_bytes)
    );
    s
}
