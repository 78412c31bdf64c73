//! On-chain settlement helpers: the Solidity verifier for a key and the escrow
//! calldata for a bundle (see docs/CONTRACTS.md).

use std::path::PathBuf;

use serde_json::json;
use veriflop_circuits::{CircuitKind, ProofSystem};
use veriflop_prover::setup::read_vk;
use veriflop_prover::KeyStore;

use super::common::{read_bundle, secs, write_file, CliError, Ctx, KeyArgs, ShapeArgs};

#[derive(clap::Args, Debug)]
pub struct CalldataArgs {
    /// Proof bundle (binary or JSON).
    #[arg(long, default_value = "veriflop-data/job/bundle.vfpb")]
    pub bundle: PathBuf,
    /// Also write the hex calldata to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `calldata`: the settlement transaction data the provider (the bundle's payee
/// address) sends to the escrow: `JobEscrow.submit(jobId, proof, cmA, cmB, cmC, pok)`
/// for a committed-circuit bundle, `JobEscrow.submitPoseidon(jobId, cmC, proof)` for
/// a Groth16 Poseidon or naive one, `JobEscrow.submitHalo2(jobId, cmC, proof)` for halo2,
/// `JobEscrow.submitInference(jobId, proof, cmIn, cmHidden, cmOut, pokHidden, pokOut)`
/// for an inference job.
pub fn calldata(args: CalldataArgs, ctx: &Ctx) -> Result<(), CliError> {
    let bundle = read_bundle(&args.bundle)?;
    let hex = format!("0x{}", hex::encode(veriflop_contracts::settle_calldata(&bundle)));
    let function = format!("JobEscrow.{}", veriflop_contracts::settle_function(&bundle));
    if let Some(out) = &args.out {
        write_file(out, hex.as_bytes())?;
    }
    ctx.emit(
        format!("{hex}\n({function} for job {}; send it from {})", bundle.statement.job_id, bundle.statement.provider),
        json!({"ok": true, "to": function, "from": bundle.statement.provider, "calldata": hex}),
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct SolidityArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Proof system: groth16 (a verifier for the shape's key) or halo2 (for the
    /// key derived from the SRS in --keys; snark-verifier's generated contract).
    #[arg(long, default_value = "groth16")]
    pub proof_system: ProofSystem,
    /// Circuit of the Groth16 key.
    #[arg(long, default_value = "committed")]
    pub circuit: CircuitKind,
    /// Groth16 verifying key file; by default the shape's key from --keys.
    #[arg(long)]
    pub vk: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Where to write the Solidity source.
    #[arg(long, default_value = "veriflop-data/Verifier.sol")]
    pub out: PathBuf,
}

/// `solidity`: a verifier contract with the key's constants built in.
pub fn solidity(args: SolidityArgs, ctx: &Ctx) -> Result<(), CliError> {
    if args.proof_system == ProofSystem::Halo2KzgBn254 {
        let shape = args.shape.shape()?;
        if args.vk.is_some() {
            return Err(CliError::new("usage", "--vk is a Groth16 key; halo2 keys are derived from the SRS in --keys"));
        }
        let (vk, key) = super::halo2::verifier_key(&KeyStore::new(&args.keys.keys), &shape, ctx)?;
        let t = std::time::Instant::now();
        write_file(&args.out, veriflop_halo2::evm::solidity(&vk).as_bytes())?;
        let generate = t.elapsed();
        ctx.emit(
            format!(
                "wrote {} (halo2 verifier for {shape}, key fingerprint {}) in {}; compile with the pinned solc, optimizer off: see docs/CONTRACTS.md\n  {}",
                args.out.display(),
                vk.fingerprint(),
                secs(generate),
                key.describe("key")
            ),
            json!({"ok": true, "path": args.out, "fingerprint": vk.fingerprint(), "seconds": generate.as_secs_f64(), "key": key}),
        );
        return Ok(());
    }
    let vk = match &args.vk {
        Some(p) => read_vk(p)?,
        None => KeyStore::new(&args.keys.keys).load_vk(args.circuit, &args.shape.shape()?)?,
    };
    write_file(&args.out, veriflop_contracts::solidity_verifier(&vk).as_bytes())?;
    ctx.emit(
        format!(
            "wrote {} (verifier for {} {}, key fingerprint {}); compile with the pinned solc: see docs/CONTRACTS.md",
            args.out.display(),
            vk.header.kind,
            vk.header.shape,
            vk.fingerprint()
        ),
        json!({"ok": true, "path": args.out, "fingerprint": vk.fingerprint()}),
    );
    Ok(())
}
