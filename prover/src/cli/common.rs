//! Shared CLI plumbing: output modes, errors with exit codes, progress, file helpers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use veriflop_circuits::cp::CommitKey;
use veriflop_circuits::{CircuitKind, Dtype, Job, Shape};
use veriflop_prover::KeyStore;
use veriflop_verifier::ProofBundle;

pub const EXIT_ERROR: u8 = 1;
pub const EXIT_REJECTED: u8 = 3;
pub const EXIT_UNSATISFIED: u8 = 4;

#[derive(Debug)]
pub struct CliError {
    pub exit: u8,
    pub code: &'static str,
    pub message: String,
}

impl CliError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        CliError { exit: EXIT_ERROR, code, message: message.into() }
    }
    pub fn rejected(code: &'static str, message: impl Into<String>) -> Self {
        CliError { exit: EXIT_REJECTED, code, message: message.into() }
    }
}

macro_rules! from_err {
    ($t:ty, $code:literal) => {
        impl From<$t> for CliError {
            fn from(e: $t) -> Self {
                CliError::new($code, e.to_string())
            }
        }
    };
}
from_err!(veriflop_circuits::Error, "bad_input");
from_err!(veriflop_verifier::bundle::BundleError, "bad_bundle");
from_err!(veriflop_prover::setup::KeyFileError, "bad_key");

impl From<veriflop_prover::ProveError> for CliError {
    fn from(e: veriflop_prover::ProveError) -> Self {
        use veriflop_prover::ProveError::*;
        match e {
            Unsatisfied(_) | BadWitness => {
                CliError { exit: EXIT_UNSATISFIED, code: "unsatisfied", message: e.to_string() }
            }
            e => CliError::new("prove_failed", e.to_string()),
        }
    }
}

impl From<veriflop_verifier::VerifyError> for CliError {
    fn from(e: veriflop_verifier::VerifyError) -> Self {
        CliError::rejected(e.code(), e.to_string())
    }
}

/// Output mode shared by every command.
pub struct Ctx {
    pub json: bool,
    pub quiet: bool,
}

impl Ctx {
    /// Prints the command's result: the human text, or the JSON value with `--json`.
    pub fn emit(&self, human: impl std::fmt::Display, json: Value) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(&json).expect("json"));
        } else {
            println!("{human}");
        }
    }

    pub fn report_error(&self, e: &CliError) {
        if self.json {
            let v = serde_json::json!({"ok": false, "error": {"code": e.code, "message": e.message}});
            println!("{v}");
        } else {
            eprintln!("error: {}", e.message);
        }
    }

    /// A spinner for a long phase (hidden with --quiet/--json or when stderr is not a terminal).
    pub fn spinner(&self, msg: impl Into<String>) -> ProgressBar {
        let pb = if self.quiet { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
        pb.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("template"));
        pb.set_message(msg.into());
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    }

    /// Informational line on stderr (not in JSON mode).
    pub fn note(&self, msg: impl std::fmt::Display) {
        if !self.json {
            eprintln!("{msg}");
        }
    }
}

/// Options naming a key directory.
#[derive(clap::Args, Debug, Clone)]
pub struct KeyArgs {
    /// Directory of per-shape keys.
    #[arg(long, env = "VERIFLOP_KEYS", default_value = "veriflop-data/keys")]
    pub keys: PathBuf,
}

/// Options naming a shape.
#[derive(clap::Args, Debug, Clone)]
pub struct ShapeArgs {
    /// Matrix shape MxKxN (C is MxN = A MxK · B KxN), or N for a square job.
    #[arg(long, default_value = "64x64x64")]
    pub shape: String,
    /// Element type of A and B: int8, int16 or int32.
    #[arg(long, default_value = "int8")]
    pub dtype: Dtype,
}

impl ShapeArgs {
    pub fn shape(&self) -> Result<Shape, CliError> {
        let (m, k, n) = veriflop_circuits::shape::parse_dims(&self.shape)?;
        Ok(Shape::new(m, k, n, self.dtype)?)
    }
}

/// Largest job or bundle file read (they are a few hundred bytes).
const MAX_SMALL_FILE: u64 = 1 << 20;

pub fn read_small(path: &Path) -> Result<Vec<u8>, CliError> {
    let meta = std::fs::metadata(path).map_err(|e| CliError::new("io", format!("{}: {e}", path.display())))?;
    if meta.len() > MAX_SMALL_FILE {
        return Err(CliError::new("too_large", format!("{}: {} bytes is too large", path.display(), meta.len())));
    }
    std::fs::read(path).map_err(|e| CliError::new("io", format!("{}: {e}", path.display())))
}

/// The commitment key a job's data is committed under (committed circuit only).
pub fn commit_key_for(job_circuit: CircuitKind, shape: &Shape, keys: &KeyArgs) -> Result<Option<CommitKey>, CliError> {
    if job_circuit != CircuitKind::Committed {
        return Ok(None);
    }
    let store = KeyStore::new(&keys.keys);
    if !store.ck_path(shape).is_file() {
        return Err(CliError::new(
            "no_key",
            format!(
                "no commitment key for {shape} in {}: run `veriflop-prover setup --shape {}x{}x{} --dtype {}` or put the published {} there",
                keys.keys.display(),
                shape.m,
                shape.k,
                shape.n,
                shape.dtype,
                store.ck_path(shape).file_name().map(|f| f.to_string_lossy()).unwrap_or_default()
            ),
        ));
    }
    Ok(Some(store.load_ck(shape)?))
}

pub fn read_job(path: &Path) -> Result<Job, CliError> {
    let bytes = read_small(path)?;
    let job: Job = serde_json::from_slice(&bytes)
        .map_err(|e| CliError::new("bad_job", format!("{}: not a job file: {e}", path.display())))?;
    job.shape.validate()?;
    Ok(job)
}

pub fn read_bundle(path: &Path) -> Result<ProofBundle, CliError> {
    let bytes = read_small(path)?;
    ProofBundle::decode(&bytes).map_err(|e| CliError::new("bad_bundle", format!("{}: {e}", path.display())))
}

/// Writes a file atomically (temporary file + rename).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| CliError::new("io", format!("{}: {e}", dir.display())))?;
    }
    veriflop_prover::setup::write_atomic(path, bytes).map_err(|e| CliError::new("io", e.to_string()))
}

pub fn secs(d: Duration) -> String {
    if d.as_secs_f64() < 1.0 {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}
