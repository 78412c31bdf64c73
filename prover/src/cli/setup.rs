use std::time::{Duration, Instant};

use serde_json::json;
use veriflop_circuits::{CircuitKind, Shape};
use veriflop_prover::KeyStore;
use veriflop_prover::ProverKey;
use veriflop_verifier::ShapeKey;

use super::common::{secs, CliError, Ctx, KeyArgs, ShapeArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Circuit: committed (default), poseidon (in-circuit hashing) or naive (reference, O(n³)).
    #[arg(long, default_value = "committed")]
    pub circuit: CircuitKind,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Regenerate even if keys exist.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let shape = args.shape.shape()?;
    let store = KeyStore::new(&args.keys.keys);
    if store.has(args.circuit, &shape) && !args.force {
        let vk = store.load_vk(args.circuit, &shape)?;
        ctx.emit(
            format!("keys for {} {shape} already in {} (fingerprint {}); --force regenerates", args.circuit, store.dir.display(), vk.fingerprint()),
            json!({"ok": true, "generated": false, "vk": store.vk_path(args.circuit, &shape), "fingerprint": vk.fingerprint()}),
        );
        return Ok(());
    }
    let (_, vk, took) = generate(&store, args.circuit, shape, ctx)?;
    ctx.emit(
        format!(
            "generated keys for {} {shape} in {}\n  proving key   {}\n  verifying key {} (fingerprint {})\nDevelopment setup: whoever ran this can forge proofs for this shape; production keys come from a ceremony (docs/PROTOCOL.md).",
            args.circuit,
            secs(took),
            store.pk_path(args.circuit, &shape).display(),
            store.vk_path(args.circuit, &shape).display(),
            vk.fingerprint()
        ),
        json!({"ok": true, "generated": true, "seconds": took.as_secs_f64(), "pk": store.pk_path(args.circuit, &shape), "vk": store.vk_path(args.circuit, &shape), "fingerprint": vk.fingerprint()}),
    );
    Ok(())
}

pub fn generate(
    store: &KeyStore,
    kind: CircuitKind,
    shape: Shape,
    ctx: &Ctx,
) -> Result<(ProverKey, ShapeKey, Duration), CliError> {
    let pb = ctx.spinner(format!("generating {kind} keys for {shape} (development setup)"));
    let t = Instant::now();
    let (pk, vk) = veriflop_prover::setup::generate(kind, shape, &mut rand::rngs::OsRng)?;
    store.save(&pk, &vk)?;
    pb.finish_and_clear();
    Ok((pk, vk, t.elapsed()))
}

/// Loads the keys for a shape, generating them first if the store has none.
pub fn load_or_generate(
    store: &KeyStore,
    kind: CircuitKind,
    shape: Shape,
    ctx: &Ctx,
) -> Result<(ProverKey, ShapeKey, Option<Duration>), CliError> {
    if store.has(kind, &shape) {
        let pb = ctx.spinner("loading keys");
        let pk = store.load_pk(kind, &shape)?;
        let vk = store.load_vk(kind, &shape)?;
        pb.finish_and_clear();
        if !pk.matches(&vk) {
            return Err(CliError::new(
                "bad_key",
                format!(
                    "{}: proving and verifying keys do not belong together; rerun setup with --force",
                    store.dir.display()
                ),
            ));
        }
        return Ok((pk, vk, None));
    }
    ctx.note(format!("no keys for {kind} {shape} in {}: generating them (development setup)", store.dir.display()));
    let (pk, vk, t) = generate(store, kind, shape, ctx)?;
    Ok((pk, vk, Some(t)))
}
