//! The phase-2 ceremony measured as a marketplace runs it: `veriflop-prover
//! ceremony` init, contribute (twice) and verify, each a child process (the
//! release binary beside this one), for n×n×n committed int8 shapes and for
//! models' inference keys (the random int8 MLPs of [`crate::inference`],
//! `ceremony init --model --batch`). Wall time,
//! the child's peak RSS (from `wait4`; this process stays small, since a
//! child's figure starts from its parent's), and the size of a file and of
//! the transcript.
//!
//! Phase 1 is a development `.ptau` (`ptau::write_development`, known τ, α,
//! β): phase 2's cost does not depend on who knows them, and snarkjs needs
//! hours on two cores to prepare a file of power 21.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use veriflop_circuits::circuit::committed::Layout;
use veriflop_circuits::{Dtype, Shape};

use crate::results::{Machine, Software};

pub const SCHEMA: &str = "veriflop-bench-ceremony/1";
pub const FILE: &str = "ceremony.json";
/// The hidden subcommand that writes the development `.ptau` (PATH POWER).
pub const DEV_PTAU: &str = "__dev-ptau";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CeremonyResults {
    pub schema: String,
    pub created_utc: String,
    pub machine: Machine,
    pub software: Software,
    pub runs: Vec<CeremonyRun>,
}

/// One shape's or model's ceremony.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CeremonyRun {
    /// n of an n×n×n committed shape (0 for a model).
    pub n: u32,
    /// A model's inference keys: `widths:batch` (as `veriflop-bench inference` names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// log₂ of the QAP domain, and the `.ptau` power it needs (one more).
    pub domain_log: u32,
    pub ptau_power: u32,
    pub init: Step,
    /// Each contribution, in order.
    pub contribute: Vec<Step>,
    /// `verify` of the whole transcript (the `.ptau`, file 0, every contribution).
    pub verify: Step,
    /// Size of one phase-2 file (every file of a shape has this size, but for its name).
    pub file_bytes: u64,
    /// All files of the transcript.
    pub transcript_bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Step {
    pub seconds: f64,
    pub peak_rss_bytes: u64,
}

fn prover_bin() -> anyhow::Result<PathBuf> {
    let p = std::env::current_exe()?.with_file_name("veriflop-prover");
    if !p.is_file() {
        bail!("{} is missing: build the release binaries with `cargo build --release -p veriflop-prover`", p.display());
    }
    Ok(p)
}

/// Runs `veriflop-prover args`, returning its wall time and peak RSS.
fn step(args: &[&str]) -> anyhow::Result<Step> {
    Ok(measured(Command::new(prover_bin()?).arg("--quiet").args(args))?.0)
}

/// Runs a child process to its end: its wall time and peak RSS (from `wait4`),
/// and its stdout; an error with its stderr if it fails.
pub fn measured(cmd: &mut Command) -> anyhow::Result<(Step, String)> {
    let t = Instant::now();
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    // Drain both pipes while it runs (a full pipe would block the child).
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                r.read_to_string(&mut s).ok();
            }
            s
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let pid = child.id() as libc::pid_t;
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child; status and usage are valid out-parameters.
    if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    let seconds = t.elapsed().as_secs_f64();
    let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed: {err}");
    }
    Ok((Step { seconds, peak_rss_bytes: usage.ru_maxrss as u64 * 1024 }, out))
}

/// The `.ptau` power a development file needs: a number, or a model
/// `widths:batch` (log₂ of its keys' QAP domain, plus one; the model is
/// synthesized, so this runs in the `.ptau` writer's child process).
pub fn dev_ptau_power(spec: &str) -> anyhow::Result<u32> {
    if let Ok(p) = spec.parse() {
        return Ok(p);
    }
    let (widths, batch) = crate::inference::parse_model(spec)?;
    let model = veriflop_infer::Model::random_mlp(&widths, 1);
    let m = veriflop_infer::job::setup_matrices(&model, batch, veriflop_infer::circuit::WHOLE_BUDGET)?;
    let rows = veriflop_infer::qap::rows(m.num_constraints, &veriflop_infer::qap::unpivoted(&m));
    Ok(rows.next_power_of_two().trailing_zeros() + 1)
}

/// Measures a ceremony for each shape n×n×n in `sizes`, then for each model
/// (`widths:batch`) in `models`.
pub fn run(sizes: &[u32], models: &[String], dir: &Path, progress: &dyn Fn(&str)) -> anyhow::Result<CeremonyResults> {
    let mut runs = Vec::new();
    let cases = sizes.iter().map(|n| (*n, None)).chain(models.iter().map(|m| (0, Some(m.clone()))));
    for (n, model) in cases {
        let name = model.as_ref().map_or(format!("n = {n}"), |m| format!("model {m}"));
        let work = dir.join(format!("case{}", runs.len()));
        std::fs::create_dir_all(&work)?;
        let ptau = work.join("dev.ptau");
        let s = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
        let power_spec = match &model {
            None => {
                let shape = Shape::new(n, n, n, Dtype::Int8)?;
                (Layout::new(&shape).domain_size().context("shape too large")?.trailing_zeros() + 1).to_string()
            }
            Some(m) => m.clone(),
        };
        progress(&format!("{name}: writing a development .ptau"));
        // In a child process: a child's ru_maxrss starts from its parent's
        // high-water mark (Linux carries it across fork and exec), so this
        // process stays small while it spawns the measured steps.
        let out = Command::new(std::env::current_exe()?).args([DEV_PTAU, &s(&ptau), &power_spec]).output()?;
        if !out.status.success() {
            bail!("writing the development .ptau failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let ptau_power: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().context("the .ptau's power")?;
        let cer = work.join("ceremony");
        let (ptau_s, cer_s) = (s(&ptau), s(&cer));
        let target: Vec<String> = match &model {
            None => vec!["--shape".into(), format!("{n}x{n}x{n}")],
            Some(m) => {
                let (widths, batch) = crate::inference::parse_model(m)?;
                let path = work.join("model.json");
                std::fs::write(&path, veriflop_infer::Model::random_mlp(&widths, 1).to_json())?;
                vec!["--model".into(), s(&path), "--batch".into(), batch.to_string()]
            }
        };
        let target: Vec<&str> = target.iter().map(String::as_str).collect();
        progress(&format!("{name}: init"));
        let init = step(&[&["ceremony", "init", "--ptau", &ptau_s, "--dir", &cer_s][..], &target[..]].concat())?;
        let mut contribute = Vec::new();
        for i in 1..=2 {
            progress(&format!("{name}: contribution {i}"));
            contribute.push(step(&["ceremony", "contribute", "--dir", &cer_s, "--name", &format!("bench {i}")])?);
        }
        progress(&format!("{name}: verify"));
        let model_arg = if model.is_some() { &target[..2] } else { &[][..] };
        let verify = step(&[&["ceremony", "verify", "--ptau", &ptau_s, "--dir", &cer_s][..], model_arg].concat())?;
        let sizes: Vec<u64> = std::fs::read_dir(&cer)?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "ph2"))
            .map(|e| Ok(e.metadata()?.len()))
            .collect::<anyhow::Result<_>>()?;
        let domain_log = ptau_power - 1;
        let run = CeremonyRun {
            n,
            model,
            domain_log,
            ptau_power,
            init,
            contribute,
            verify,
            file_bytes: sizes.iter().copied().max().unwrap_or(0),
            transcript_bytes: sizes.iter().sum(),
        };
        progress(&format!("{name}: {}", row(&run)));
        runs.push(run);
        std::fs::remove_dir_all(&work)?;
    }
    Ok(CeremonyResults {
        schema: SCHEMA.into(),
        created_utc: crate::machine::now_utc(),
        machine: crate::machine::machine(),
        software: crate::machine::software(),
        runs,
    })
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / (1 << 20) as f64)
}

fn row(r: &CeremonyRun) -> String {
    let c: Vec<String> = r.contribute.iter().map(|s| format!("{:.1} s", s.seconds)).collect();
    let c_rss = r.contribute.iter().map(|s| s.peak_rss_bytes).max().unwrap_or(0);
    let what = r.model.as_ref().map_or(format!("{}³", r.n), |m| format!("MLP {m}"));
    format!(
        "| {what} | 2^{} | {} | {:.1} s, {} | {}, {} | {:.1} s, {} | {} | {} |",
        r.domain_log,
        r.ptau_power,
        r.init.seconds,
        mib(r.init.peak_rss_bytes),
        c.join(" / "),
        mib(c_rss),
        r.verify.seconds,
        mib(r.verify.peak_rss_bytes),
        mib(r.file_bytes),
        mib(r.transcript_bytes),
    )
}

pub fn markdown(c: &CeremonyResults) -> String {
    let mut out = String::from(
        "| shape or model:batch | QAP domain | .ptau power | init (time, peak RSS) | contribute ×2 (time each, peak RSS) | verify, 2 contributions (time, peak RSS) | one file | transcript |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &c.runs {
        out += &row(r);
        out.push('\n');
    }
    out += &format!(
        "\n{} · {} logical cores · {} · veriflop {} at {}{}\n",
        c.machine.cpu_model,
        c.machine.logical_cores,
        c.created_utc,
        c.software.crate_version,
        c.software.git_commit.as_deref().unwrap_or("an unknown commit"),
        if c.software.git_dirty == Some(true) { " (uncommitted changes)" } else { "" }
    );
    out
}
