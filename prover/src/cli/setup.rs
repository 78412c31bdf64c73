use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use veriflop_circuits::{CircuitKind, ProofSystem, Shape};
use veriflop_prover::KeyStore;
use veriflop_prover::ProverKey;
use veriflop_verifier::ShapeKey;

use super::common::{secs, CliError, Ctx, KeyArgs, ShapeArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// groth16: keys for the circuit and shape; halo2: the universal SRS, which
    /// serves every shape up to its size (keys are derived from it when proving).
    #[arg(long, default_value = "groth16")]
    pub proof_system: ProofSystem,
    /// Circuit: committed (default), poseidon (in-circuit hashing) or naive (reference, O(n³)).
    #[arg(long, default_value = "committed")]
    pub circuit: CircuitKind,
    /// halo2: the SRS holds 2^K points (default: what --shape needs; at most 22).
    #[arg(long, value_name = "K")]
    pub k: Option<u32>,
    /// halo2: take the SRS from a Perpetual Powers of Tau / snarkjs .ptau file
    /// (production) instead of generating a development one.
    #[arg(long, value_name = "FILE")]
    pub ptau: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Regenerate even if keys exist.
    #[arg(long)]
    pub force: bool,
}

/// halo2: the universal SRS, from a .ptau file or generated for development.
fn run_halo2(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let store = KeyStore::new(&args.keys.keys);
    let k = match args.k {
        Some(k) => k,
        None => veriflop_halo2::circuit_k(&args.shape.shape()?),
    };
    let path = store.srs_path();
    if path.is_file() && !args.force {
        let srs = store.load_srs()?;
        ctx.emit(
            format!("halo2 SRS of 2^{} points already in {}; --force replaces it", srs.k(), path.display()),
            json!({"ok": true, "generated": false, "srs": path, "k": srs.k()}),
        );
        return Ok(());
    }
    let t = Instant::now();
    let (srs, origin) = match &args.ptau {
        Some(ptau) => {
            let pb = ctx.spinner(format!("reading 2^{k} powers from {}", ptau.display()));
            let srs = veriflop_halo2::Srs::from_ptau_file(ptau, k)
                .map_err(|e| CliError::new("bad_input", format!("{}: {e}", ptau.display())))?;
            store.save_srs(&srs)?;
            pb.finish_and_clear();
            (srs, format!("from {}", ptau.display()))
        }
        None => (super::halo2::generate_srs(&store, k, ctx)?.0, "development setup".to_string()),
    };
    let took = t.elapsed();
    let note = if args.ptau.is_some() {
        "Every shape up to this size derives its keys from this SRS; no per-shape setup."
    } else {
        "Development setup: whoever ran this can forge halo2 proofs; production SRS come from a ceremony (--ptau)."
    };
    ctx.emit(
        format!("halo2 SRS of 2^{} points ({origin}) in {}: {}\n{note}", srs.k(), secs(took), path.display()),
        json!({"ok": true, "generated": true, "srs": path, "k": srs.k(), "seconds": took.as_secs_f64(), "ptau": args.ptau}),
    );
    Ok(())
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    if args.proof_system == ProofSystem::Halo2KzgBn254 {
        return run_halo2(args, ctx);
    }
    if args.k.is_some() || args.ptau.is_some() {
        return Err(CliError::new("usage", "--k and --ptau are for --proof-system halo2"));
    }
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
