use std::path::PathBuf;

use serde_json::json;
use veriflop_prover::snarkjs;

use super::common::{read_bundle, write_file, CliError, Ctx, KeyArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Proof bundle (binary or JSON).
    #[arg(long, default_value = "veriflop-data/job/bundle.vfpb")]
    pub bundle: PathBuf,
    /// Verifying key file; by default the shape's key from --keys.
    #[arg(long)]
    pub vk: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Directory for verification_key.json, proof.json and public.json.
    #[arg(long, default_value = "veriflop-data/snarkjs")]
    pub out_dir: PathBuf,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let bundle = read_bundle(&args.bundle)?;
    let unsupported = || {
        CliError::new(
            "unsupported",
            "snarkjs verifies Groth16 proofs only; check a halo2 bundle with `veriflop-prover verify` or its Solidity verifier",
        )
    };
    if bundle.groth16().is_none() {
        return Err(unsupported());
    }
    let vk = super::verify::load_vk(&args.vk, &args.keys, &bundle)?;
    let files = snarkjs::files(&bundle, &vk).ok_or_else(unsupported)?;
    for (name, value) in &files {
        let text = serde_json::to_string_pretty(value).expect("json");
        write_file(&args.out_dir.join(name), text.as_bytes())?;
    }
    let d = args.out_dir.display();
    ctx.emit(
        format!(
            "wrote {d}/verification_key.json, {d}/proof.json, {d}/public.json\ncheck with (after `npm ci --prefix tools` once): npx --prefix tools snarkjs groth16 verify {d}/verification_key.json {d}/public.json {d}/proof.json{}",
            if bundle.commitments.is_some() {
                "\n(the Groth16 part of a committed proof: the commitments are folded into IC0; cm_C's proof of knowledge and the digests are checked by `veriflop-prover verify`)"
            } else {
                ""
            }
        ),
        json!({"ok": true, "dir": args.out_dir}),
    );
    Ok(())
}
