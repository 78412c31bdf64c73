use std::path::PathBuf;

use serde_json::json;
use veriflop_circuits::matrix::write_matrix;
use veriflop_circuits::InputMatrix;

use super::common::{CliError, Ctx, ShapeArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Seed for the generator (same seed, same matrices).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directory for a.npy and b.npy.
    #[arg(long, default_value = "veriflop-data/job")]
    pub out_dir: PathBuf,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let shape = args.shape.shape()?;
    let a = InputMatrix::random(shape.m as usize, shape.k as usize, shape.dtype, args.seed)?;
    let b = InputMatrix::random(shape.k as usize, shape.n as usize, shape.dtype, args.seed.wrapping_add(1))?;
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| CliError::new("io", format!("{}: {e}", args.out_dir.display())))?;
    let (pa, pb) = (args.out_dir.join("a.npy"), args.out_dir.join("b.npy"));
    write_matrix(&pa, &a)?;
    write_matrix(&pb, &b)?;
    ctx.emit(
        format!(
            "wrote {} ({}×{}) and {} ({}×{}), {}",
            pa.display(),
            a.rows,
            a.cols,
            pb.display(),
            b.rows,
            b.cols,
            shape.dtype
        ),
        json!({"ok": true, "a": pa, "b": pb, "shape": shape}),
    );
    Ok(())
}
