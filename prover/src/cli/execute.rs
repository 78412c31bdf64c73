use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use veriflop_circuits::matrix::{read_input, write_matrix};
use veriflop_circuits::{commit, cp, field, CircuitKind};

use super::common::{commit_key_for, read_job, secs, CliError, Ctx, KeyArgs};
use super::device::GemmArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Job file (from `veriflop-prover job` or the marketplace).
    #[arg(long, default_value = "veriflop-data/job/job.json")]
    pub job: PathBuf,
    /// Matrix A; must match the job's commitment cm_A.
    #[arg(long, default_value = "veriflop-data/job/a.npy")]
    pub a: PathBuf,
    /// Matrix B; must match the job's commitment cm_B.
    #[arg(long, default_value = "veriflop-data/job/b.npy")]
    pub b: PathBuf,
    /// Where to write C (.npy, or .vfm for entries beyond int64).
    #[arg(long, default_value = "veriflop-data/job/c.npy")]
    pub out: PathBuf,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub gemm: GemmArgs,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let job = read_job(&args.job)?;
    let a = read_input(&args.a, job.shape.dtype)?;
    let b = read_input(&args.b, job.shape.dtype)?;
    let ck = commit_key_for(job.circuit, &job.shape, &args.keys)?;
    job.check_data(ck.as_ref(), &a, &b)?;
    let gemm = args.gemm.open(ctx)?;
    let t = Instant::now();
    let (c, ran) = gemm.matmul(&job.shape, &a, &b)?;
    let took = t.elapsed();
    let cm_c = match (&ck, job.circuit) {
        (Some(ck), CircuitKind::Committed) => cp::digest(&ck.commit_c(&c)),
        _ => commit::commit_output(&job.shape, &c),
    };
    write_matrix(&args.out, &c)?;
    ctx.emit(
        format!("C = A·B for job {} ({}) in {} on {}\n  cm_C {}\nwritten to {}", job.job_id, job.shape, secs(took), ran.as_str(), field::fr_to_hex(&cm_c), args.out.display()),
        json!({"ok": true, "job_id": job.job_id, "seconds": took.as_secs_f64(), "gemm": ran.as_str(), "device": gemm.name(), "cm_c": field::fr_to_hex(&cm_c), "path": args.out}),
    );
    Ok(())
}
