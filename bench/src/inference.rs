//! Inference jobs measured (docs/PROTOCOL.md §16.6): for each model, the key
//! setup in one child process, then the proofs in another that loads the
//! proving key from its file as a provider's agent does: the first proof (it
//! also builds the model's matrices) and the warm ones (median, per phase),
//! native verification, proof and bundle sizes, and, with the `gas` feature,
//! `submitInference` gas on the in-process EVM. Each child's peak RSS comes
//! from `wait4`, so the prover's figure is the prover's, setup apart. The
//! models are MLPs with random int8 weights ([`Model::random_mlp`]): proving
//! cost depends on the shapes, not the weights.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use veriflop_circuits::{Dtype, InputMatrix};
use veriflop_infer::circuit::{Cost, Witness};
use veriflop_infer::job::{prove_with_stats, InferenceStatement, ModelKeys};
use veriflop_infer::keys::{file_stem, ModelVk};
use veriflop_infer::prover::ProveStats;
use veriflop_infer::Model;

use crate::ceremony::{measured, Step};
use crate::results::{Machine, Software};

pub const SCHEMA: &str = "veriflop-bench-inference/1";
pub const FILE: &str = "inference.json";
/// The hidden subcommand of the child processes (`setup` or `prove`, then their arguments).
pub const CHILD: &str = "__inference";
/// The models the issue sets targets for: `widths:batch`.
pub const DEFAULT_MODELS: &str = "784-256-256-10:64,1024-1024-1024-1024-1024:128";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InferenceResults {
    pub schema: String,
    pub created_utc: String,
    pub machine: Machine,
    pub software: Software,
    pub runs: Vec<InferenceRun>,
}

/// One model and batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InferenceRun {
    pub widths: Vec<usize>,
    pub batch: usize,
    /// Constraints by kind (matmul: the Freivalds checks; requant and tables: the non-linear layers).
    pub cost: CostSplit,
    /// QAP rows (the constraints, and a row for each public input that no
    /// constraint pins down: none for this circuit) and log₂ of the domain.
    pub qap_rows: usize,
    pub domain_log: u32,
    pub setup: Step,
    pub pk_bytes: u64,
    pub vk_bytes: u64,
    pub prove: ProveRun,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CostSplit {
    pub matmul: usize,
    pub requant: usize,
    pub tables: usize,
    pub total: usize,
}

/// What the proving child measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProveRun {
    /// The circuit as the prover built it: constraints, instance entries, QAP rows and domain size.
    pub constraints: usize,
    pub instance: usize,
    pub rows: usize,
    pub domain_size: usize,
    /// Reading and decoding the proving key file.
    pub load_key_seconds: f64,
    /// The first proof (matrices built) and each warm proof, end to end.
    pub first_seconds: f64,
    pub warm_seconds: Vec<f64>,
    pub warm_median_seconds: f64,
    /// Median of each phase over the warm proofs.
    pub phases: Vec<(String, f64)>,
    /// Peak RSS of the whole child: key, model, run and proofs.
    #[serde(default)]
    pub peak_rss_bytes: u64,
    pub verify_seconds: f64,
    pub proof_bytes: usize,
    pub bundle_bytes: usize,
    pub submit_gas: Option<u64>,
    pub verifier_gas: Option<u64>,
}

/// `784-256-256-10:64` → widths and batch.
pub fn parse_model(s: &str) -> anyhow::Result<(Vec<usize>, usize)> {
    let (w, b) = s.split_once(':').with_context(|| format!("{s:?}: widths:batch, like 784-256-256-10:64"))?;
    let widths: Vec<usize> = w.split('-').map(|x| x.parse().context("a width")).collect::<anyhow::Result<_>>()?;
    if widths.len() < 2 || widths.contains(&0) {
        bail!("{s:?}: at least two positive widths");
    }
    Ok((widths, b.parse().context("the batch")?))
}

fn widths_arg(w: &[usize]) -> String {
    w.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("-")
}

fn child(args: &[&str]) -> anyhow::Result<(Step, String)> {
    measured(Command::new(std::env::current_exe()?).arg(CHILD).args(args))
}

/// Measures each model (widths and batch), `proofs` warm proofs each, in `dir`.
pub fn run(
    models: &[(Vec<usize>, usize)],
    proofs: u32,
    dir: &Path,
    progress: &dyn Fn(&str),
) -> anyhow::Result<InferenceResults> {
    let mut runs = Vec::new();
    for (widths, batch) in models {
        let name = format!("mlp {} batch {batch}", widths_arg(widths));
        let work = dir.join(format!("{}-b{batch}", widths_arg(widths)));
        std::fs::create_dir_all(&work)?;
        let w = work.to_str().context("a UTF-8 path")?;
        let model = Model::random_mlp(widths, 1);
        let c = Cost::of(&model, *batch);
        progress(&format!("{name}: {} constraints; setup", c.total()));
        let (setup, _) = child(&["setup", &widths_arg(widths), &batch.to_string(), w])?;
        let stem = file_stem(&model.digest(), *batch);
        let size = |ext: &str| std::fs::metadata(work.join(format!("{stem}.{ext}"))).map(|m| m.len());
        let (pk_bytes, vk_bytes) = (size("ipk")?, size("ivk")?);
        progress(&format!("{name}: setup {:.1} s; {proofs} warm proofs", setup.seconds));
        let (step, out) = child(&["prove", &widths_arg(widths), &batch.to_string(), w, &proofs.to_string()])?;
        let mut prove: ProveRun = serde_json::from_str(out.lines().last().unwrap_or(""))
            .with_context(|| format!("the proving child's report: {out:?}"))?;
        prove.peak_rss_bytes = step.peak_rss_bytes;
        if prove.constraints != c.total() {
            bail!("the prover has {} constraints, the cost model {}", prove.constraints, c.total());
        }
        let qap_rows = prove.rows;
        let run = InferenceRun {
            widths: widths.clone(),
            batch: *batch,
            cost: CostSplit { matmul: c.matmul, requant: c.requant, tables: c.tables, total: c.total() },
            qap_rows,
            domain_log: prove.domain_size.trailing_zeros(),
            setup,
            pk_bytes,
            vk_bytes,
            prove,
        };
        progress(&format!("{name}: {}", row(&run)));
        runs.push(run);
        std::fs::remove_dir_all(&work)?;
    }
    Ok(InferenceResults {
        schema: SCHEMA.into(),
        created_utc: crate::machine::now_utc(),
        machine: crate::machine::machine(),
        software: crate::machine::software(),
        runs,
    })
}

/// The child processes: `setup WIDTHS BATCH DIR` writes the model's key files
/// in DIR; `prove WIDTHS BATCH DIR PROOFS` proves a random batch PROOFS + 1
/// times with the key from DIR and prints a [`ProveRun`] as JSON.
pub fn child_main(args: &[String]) -> anyhow::Result<()> {
    let [what, widths, batch, dir, rest @ ..] = args else { bail!("{CHILD} setup|prove WIDTHS BATCH DIR [PROOFS]") };
    let (widths, batch) = parse_model(&format!("{widths}:{batch}"))?;
    let dir = PathBuf::from(dir);
    let model = Model::random_mlp(&widths, 1);
    let stem = dir.join(file_stem(&model.digest(), batch));
    match (what.as_str(), rest) {
        ("setup", []) => {
            let keys = ModelKeys::setup(&model, batch, &mut rand::rngs::OsRng)?;
            std::fs::write(stem.with_extension("ipk"), keys.to_bytes())?;
            std::fs::write(stem.with_extension("ivk"), keys.verifying_key().to_bytes())?;
            Ok(())
        }
        ("prove", [proofs]) => {
            let report = prove(&model, batch, &stem, proofs.parse()?)?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        _ => bail!("{CHILD} setup|prove WIDTHS BATCH DIR [PROOFS]"),
    }
}

fn prove(model: &Model, batch: usize, stem: &Path, proofs: u32) -> anyhow::Result<ProveRun> {
    let t = std::time::Instant::now();
    let keys = ModelKeys::from_bytes(&std::fs::read(stem.with_extension("ipk"))?)?;
    let load_key_seconds = t.elapsed().as_secs_f64();
    let vk = ModelVk::from_bytes(&std::fs::read(stem.with_extension("ivk"))?)?;
    let x = InputMatrix::random(batch, model.d_in(), Dtype::Int8, 7)?;
    let input: Vec<i8> = x.data.iter().map(|&v| v as i8).collect();
    let trace = veriflop_infer::run(model, batch, &input)?;
    let witness = Witness::from(&trace);
    // The job's id as JobEscrow on the in-process EVM derives it from a nonce,
    // so the last proof also settles there (gas).
    let nonce = veriflop_circuits::Bytes32::random();
    let job_id = escrow_job_id(&nonce);
    let provider = veriflop_circuits::Address([0x11; 20]);
    let st = InferenceStatement {
        job_id: job_id.0,
        provider,
        model_digest: model.digest(),
        cm_in: keys.commit_input(&input)?,
    };
    let mut all: Vec<(veriflop_infer::job::InferenceProof, ProveStats)> = Vec::new();
    for _ in 0..=proofs.max(1) {
        all.push(prove_with_stats(&keys, model, &witness, &st, &mut rand::rngs::OsRng)?);
    }
    let (proof, _) = all.last().expect("at least one proof").clone();
    let t = std::time::Instant::now();
    if !vk.verify(&st, &proof) {
        bail!("the proof does not verify");
    }
    let verify_seconds = t.elapsed().as_secs_f64();
    let bundle = veriflop_verifier::ProofBundle::from_inference(&vk, job_id, provider, st.cm_in, &proof)?;
    let warm: Vec<&ProveStats> = all.iter().skip(1).map(|(_, s)| s).collect();
    let median = |f: &dyn Fn(&ProveStats) -> std::time::Duration| -> f64 {
        crate::stats::Stat::from_samples(warm.iter().map(|s| f(s).as_secs_f64()).collect()).median
    };
    type Phase = (&'static str, fn(&ProveStats) -> std::time::Duration);
    let phases: [Phase; 11] = [
        ("committed values", |s| s.committed_values),
        ("commitments", |s| s.commitments),
        ("synthesis", |s| s.synthesis),
        ("matvec", |s| s.matvec),
        ("quotient (NTTs)", |s| s.qap),
        ("MSM A", |s| s.msm_a),
        ("MSM B (G1)", |s| s.msm_b_g1),
        ("MSM B (G2)", |s| s.msm_b_g2),
        ("MSM L", |s| s.msm_l),
        ("MSM H", |s| s.msm_h),
        ("matrices", |s| s.prepare),
    ];
    let (submit_gas, verifier_gas) = gas(&vk, &nonce, &bundle)?;
    let first = &all[0].1;
    Ok(ProveRun {
        constraints: first.constraints,
        instance: first.instance,
        rows: first.rows,
        domain_size: first.domain_size,
        load_key_seconds,
        first_seconds: all[0].1.total.as_secs_f64(),
        warm_seconds: warm.iter().map(|s| s.total.as_secs_f64()).collect(),
        warm_median_seconds: median(&|s| s.total),
        phases: phases.iter().map(|(n, f)| (n.to_string(), median(f))).collect(),
        peak_rss_bytes: 0,
        verify_seconds,
        proof_bytes: bundle.proof.to_bytes().len(),
        bundle_bytes: bundle.to_bytes().len(),
        submit_gas,
        verifier_gas,
    })
}

/// The id JobEscrow on the in-process EVM gives the job of `nonce`.
#[cfg(feature = "gas")]
fn escrow_job_id(nonce: &veriflop_circuits::Bytes32) -> veriflop_circuits::JobId {
    veriflop_contracts::demo_job_id(nonce)
}

#[cfg(not(feature = "gas"))]
fn escrow_job_id(_: &veriflop_circuits::Bytes32) -> veriflop_circuits::JobId {
    veriflop_circuits::JobId(ark_bn254::Fr::from(1u64))
}

/// `submitInference` gas and its verifier call's: the job posted to JobEscrow
/// on the in-process EVM and settled with the bundle.
#[cfg(feature = "gas")]
fn gas(
    vk: &ModelVk,
    nonce: &veriflop_circuits::Bytes32,
    bundle: &veriflop_verifier::ProofBundle,
) -> anyhow::Result<(Option<u64>, Option<u64>)> {
    let st = &bundle.statement;
    let job = veriflop_circuits::Job {
        job_id: st.job_id,
        system: Default::default(),
        circuit: veriflop_circuits::CircuitKind::Inference,
        shape: st.shape,
        cm_a: st.cm_a,
        cm_b: st.cm_b,
    };
    let r = veriflop_contracts::settle_inference_in_evm(vk, &job, nonce, bundle, 1_000_000_000_000_000)?;
    if r.status_after != veriflop_contracts::JobStatus::Paid {
        bail!("JobEscrow did not pay the inference job: {:?}", r.status_after);
    }
    Ok((Some(r.gas.submit_tx), Some(r.gas.verifier_call)))
}

#[cfg(not(feature = "gas"))]
fn gas(
    _: &ModelVk,
    _: &veriflop_circuits::Bytes32,
    _: &veriflop_verifier::ProofBundle,
) -> anyhow::Result<(Option<u64>, Option<u64>)> {
    Ok((None, None))
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / (1 << 20) as f64)
}

fn row(r: &InferenceRun) -> String {
    let p = &r.prove;
    format!(
        "| {} | {} | {} ({} matmul, {} non-linear: {} requantization, {} tables) | 2^{} | {:.1} s, {} | {} | {:.2} s | {:.2} s | {} | {:.1} ms | {} B / {} B | {} |",
        widths_arg(&r.widths),
        r.batch,
        r.cost.total,
        r.cost.matmul,
        r.cost.requant + r.cost.tables,
        r.cost.requant,
        r.cost.tables,
        r.domain_log,
        r.setup.seconds,
        mib(r.setup.peak_rss_bytes),
        mib(r.pk_bytes),
        p.first_seconds,
        p.warm_median_seconds,
        mib(p.peak_rss_bytes),
        p.verify_seconds * 1e3,
        p.proof_bytes,
        p.bundle_bytes,
        p.submit_gas.map_or("—".into(), |g| g.to_string()),
    )
}

pub fn markdown(c: &InferenceResults) -> String {
    let mut out = String::from(
        "| MLP widths | batch | constraints | QAP domain | setup (time, peak RSS) | proving key | first proof | warm proof (median) | prover peak RSS | verify | proof / bundle | submitInference gas |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &c.runs {
        out += &row(r);
        out.push('\n');
    }
    for r in &c.runs {
        let n = r.prove.warm_seconds.len();
        out += &format!(
            "\nPhases of the warm proof, MLP {} batch {} (median of {n}):\n\n| phase | seconds |\n|---|---:|\n",
            widths_arg(&r.widths),
            r.batch
        );
        for (name, s) in &r.prove.phases {
            out += &format!("| {name} | {s:.3} |\n");
        }
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
