use std::path::PathBuf;

use serde_json::json;
use veriflop_circuits::matrix::read_input;
use veriflop_circuits::{CircuitKind, Dtype, Job, JobId, Shape};

use super::common::{commit_key_for, write_file, CliError, Ctx, KeyArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Matrix A (m×k), .npy or .vfm.
    #[arg(long)]
    pub a: PathBuf,
    /// Matrix B (k×n), .npy or .vfm.
    #[arg(long)]
    pub b: PathBuf,
    /// Element type the entries must fit.
    #[arg(long, default_value = "int8")]
    pub dtype: Dtype,
    /// Job id (0x-hex field element); random when omitted.
    #[arg(long)]
    pub job_id: Option<JobId>,
    /// Circuit the job must be proven with; it fixes how A and B are committed
    /// (committed: under the shape's commitment key, which must be in --keys).
    #[arg(long, default_value = "committed")]
    pub circuit: CircuitKind,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Where to write the job file.
    #[arg(long, default_value = "veriflop-data/job/job.json")]
    pub out: PathBuf,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let a = read_input(&args.a, args.dtype)?;
    let b = read_input(&args.b, args.dtype)?;
    let shape = Shape::new(a.rows as u32, a.cols as u32, b.cols as u32, args.dtype)?;
    let ck = commit_key_for(args.circuit, &shape, &args.keys)?;
    let job = Job::new(args.job_id.unwrap_or_else(JobId::random), args.circuit, shape, ck.as_ref(), &a, &b)?;
    let text = serde_json::to_string_pretty(&job).expect("job serializes");
    write_file(&args.out, text.as_bytes())?;
    ctx.emit(
        format!(
            "job {} ({shape})\n  cm_A {}\n  cm_B {}\nwritten to {}",
            job.job_id,
            hexf(&job.cm_a),
            hexf(&job.cm_b),
            args.out.display()
        ),
        json!({"ok": true, "job": job, "path": args.out}),
    );
    Ok(())
}

fn hexf(x: &ark_bn254::Fr) -> String {
    veriflop_circuits::field::fr_to_hex(x)
}
