//! `ceremony`: a multi-party phase-2 setup for a matmul circuit, or for a
//! model's inference keys at one batch size, on top of a public powers of tau
//! (init, contribute, verify, finalize).

use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use veriflop_circuits::CircuitKind;
use veriflop_prover::ceremony::{self, ptau::Ptau, CeremonyError};
use veriflop_prover::KeyStore;

use super::common::{secs, CliError, Ctx, KeyArgs, ShapeArgs};
use super::inference::{check_batch, key_paths, read_model, write_keys};
use veriflop_infer::circuit::WHOLE_BUDGET;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Start a ceremony for a shape, or for a model's keys (--model, --batch), from a
    /// prepared .ptau (`snarkjs powersoftau prepare phase2` output, e.g. the Perpetual
    /// Powers of Tau): writes 0000.ph2.
    Init {
        #[command(flatten)]
        shape: ShapeArgs,
        /// Circuit: committed (default), poseidon or naive.
        #[arg(long, default_value = "committed")]
        circuit: CircuitKind,
        /// A model (JSON, from `model import`): the ceremony makes its inference keys.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["circuit", "shape", "dtype"], requires = "batch")]
        model: Option<PathBuf>,
        /// The batch size the model's keys prove (with --model).
        #[arg(long, requires = "model")]
        batch: Option<usize>,
        /// The prepared powers of tau; its power must exceed log2 of the shape's QAP domain.
        #[arg(long, value_name = "FILE")]
        ptau: PathBuf,
        /// The ceremony directory (created; must not hold a ceremony yet).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Add a contribution to the last file of the ceremony, with fresh OS randomness,
    /// and print its hash to publish.
    Contribute {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Your name or handle, stored in the transcript (at most 128 bytes).
        #[arg(long, default_value = "")]
        name: String,
        /// Extra entropy mixed with the OS randomness: `-` reads it from stdin (type, then Ctrl-D).
        #[arg(long, value_name = "TEXT")]
        entropy: Option<String>,
    },
    /// Check the whole ceremony from the .ptau to the last contribution and list the contribution hashes.
    Verify {
        #[arg(long, value_name = "FILE")]
        ptau: PathBuf,
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The model, for a ceremony of a model's keys.
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
    },
    /// Write the last contribution's key as the key files of the key directory
    /// (what `prove`, the verifier service and `solidity` read; for a model,
    /// its .ipk and .ivk, as `model setup` writes them).
    Finalize {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The model, for a ceremony of a model's keys.
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        #[command(flatten)]
        keys: KeyArgs,
        /// Replace keys the directory holds for this shape.
        #[arg(long)]
        force: bool,
    },
}

impl From<CeremonyError> for CliError {
    fn from(e: CeremonyError) -> Self {
        match e {
            CeremonyError::Rejected { .. } => CliError::rejected("ceremony_rejected", e.to_string()),
            CeremonyError::Usage(m) => CliError::new("usage", m),
            CeremonyError::Io(m) => CliError::new("io", m),
            CeremonyError::Format(m) => CliError::new("bad_input", m),
        }
    }
}

fn open_ptau(path: &PathBuf, ctx: &Ctx) -> Result<Ptau, CliError> {
    let pb = ctx.spinner(format!("reading {}", path.display()));
    let p = Ptau::open(path).map_err(|e| CliError::new("bad_input", format!("{}: {e}", path.display())))?;
    pb.finish_and_clear();
    Ok(p)
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let t = Instant::now();
    match args.command {
        Command::Init { shape, circuit, model, batch, ptau, dir } => {
            let model = model.as_deref().map(read_model).transpose()?;
            let mut p = open_ptau(&ptau, ctx)?;
            if dir.join(ceremony::Phase2::file_name(0)).exists() {
                return Err(CliError::new("usage", format!("{} holds a ceremony already", dir.display())));
            }
            let what = match (&model, batch) {
                (Some(m), Some(b)) => format!("model 0x{} at batch {b}", hex::encode(m.digest())),
                _ => format!("{circuit} {}", shape.shape()?),
            };
            let pb = ctx.spinner(format!("deriving the starting key for {what}"));
            let start = match (&model, batch) {
                (Some(m), Some(b)) => {
                    check_batch(b)?;
                    ceremony::init_model(m, b, WHOLE_BUDGET, &mut p)?
                }
                _ => ceremony::init(circuit, &shape.shape()?, &mut p)?,
            };
            std::fs::create_dir_all(&dir).map_err(|e| CliError::new("io", format!("{}: {e}", dir.display())))?;
            let path = ceremony::write(&dir, &start)?;
            pb.finish_and_clear();
            let (circuit, shape) = (start.prefix.kind, start.prefix.shape);
            ctx.emit(
                format!(
                    "ceremony for {what} started in {}: {}\n  .ptau sha256 {}\nNext: each contributor runs `veriflop-prover ceremony contribute --dir {}`.",
                    secs(t.elapsed()),
                    path.display(),
                    hex::encode(p.digest),
                    dir.display()
                ),
                json!({"ok": true, "file": path, "circuit": circuit.to_string(), "shape": shape.to_string(), "ptau_sha256": hex::encode(p.digest), "seconds": t.elapsed().as_secs_f64(),
                       "model": start.prefix.model.map(|m| format!("0x{}", hex::encode(m.digest)))}),
            );
        }
        Command::Contribute { dir, name, entropy } => {
            let text = match entropy.as_deref() {
                Some("-") => {
                    let mut s = String::new();
                    std::io::stdin()
                        .take(1 << 20)
                        .read_to_string(&mut s)
                        .map_err(|e| CliError::new("io", e.to_string()))?;
                    s
                }
                Some(s) => s.to_string(),
                None => String::new(),
            };
            let pb = ctx.spinner("contributing (fresh δ and σ factors)");
            let c = ceremony::contribute(&dir, &name, text.as_bytes())?;
            pb.finish_and_clear();
            let hash = hex::encode(c.hash);
            ctx.emit(
                format!(
                    "contribution {} written to {} in {}\n  contribution hash {hash}\nPublish this hash; your secrets were never written anywhere and are gone.",
                    c.index,
                    c.path.display(),
                    secs(t.elapsed())
                ),
                json!({"ok": true, "index": c.index, "file": c.path, "hash": hash, "seconds": t.elapsed().as_secs_f64()}),
            );
        }
        Command::Verify { ptau, dir, model } => {
            let model = model.as_deref().map(read_model).transpose()?;
            let mut p = open_ptau(&ptau, ctx)?;
            let pb = ctx.spinner("verifying");
            let v = ceremony::verify(&mut p, &dir, model.as_ref(), &|m| pb.set_message(m.to_string()))?;
            pb.finish_and_clear();
            let list: Vec<String> = v
                .contributions
                .iter()
                .map(|(i, n, h)| format!("  #{i} {} {}", hex::encode(h), if n.is_empty() { "(anonymous)" } else { n }))
                .collect();
            ctx.emit(
                format!(
                    "ceremony for {} {} is valid from {} ({} contributions, checked in {}):\n{}",
                    v.kind,
                    v.shape,
                    ptau.display(),
                    v.contributions.len(),
                    secs(t.elapsed()),
                    list.join("\n")
                ),
                json!({"ok": true, "circuit": v.kind.to_string(), "shape": v.shape.to_string(), "contributions": v.contributions.iter().map(|(i, n, h)| json!({"index": i, "name": n, "hash": hex::encode(h)})).collect::<Vec<_>>()}),
            );
        }
        Command::Finalize { dir, model: Some(model), keys, force } => {
            let model = read_model(&model)?;
            let files = ceremony::files(&dir)?;
            let last = ceremony::read(files.last().expect("at least one file"), None)?;
            let k = ceremony::finalize_model(&last, &model)?;
            let (pk_path, vk_path) = key_paths(&keys.keys, &k.model_digest, k.batch);
            if (pk_path.exists() || vk_path.exists()) && !force {
                return Err(CliError::new(
                    "usage",
                    format!(
                        "{} holds keys for this model and batch already; --force replaces them",
                        keys.keys.display()
                    ),
                ));
            }
            let (pk_path, vk_path) = write_keys(&keys.keys, &k)?;
            let digest = format!("0x{}", hex::encode(k.model_digest));
            ctx.emit(
                format!(
                    "keys for model {digest}, batch {}, from {} contributions written to {} and {}",
                    k.batch,
                    last.prefix.index,
                    pk_path.display(),
                    vk_path.display()
                ),
                json!({"ok": true, "model": digest, "batch": k.batch, "pk": pk_path, "vk": vk_path, "contributions": last.prefix.index}),
            );
        }
        Command::Finalize { dir, model: None, keys, force } => {
            let files = ceremony::files(&dir)?;
            let last = ceremony::read(files.last().expect("at least one file"), None)?;
            let (pk, vk) = ceremony::finalize(&last)?;
            let store = KeyStore::new(&keys.keys);
            let (kind, shape) = (last.prefix.kind, last.prefix.shape);
            if store.has(kind, &shape) && !force {
                return Err(CliError::new(
                    "usage",
                    format!("{} holds keys for {kind} {shape} already; --force replaces them", store.dir.display()),
                ));
            }
            store.save(&pk, &vk)?;
            ctx.emit(
                format!(
                    "keys for {kind} {shape} from {} contributions written to {} (fingerprint {})",
                    last.prefix.index,
                    store.dir.display(),
                    vk.fingerprint()
                ),
                json!({"ok": true, "vk": store.vk_path(kind, &shape), "pk": store.pk_path(kind, &shape), "fingerprint": vk.fingerprint(), "contributions": last.prefix.index}),
            );
        }
    }
    Ok(())
}
