//! Inference jobs (docs/PROTOCOL.md §16) as the client and the provider agent
//! handle them. A job names its model only by the model word (the digest
//! reduced mod r) and its batch by the shape, so the model's key files are
//! found in the key directory by their headers. The client commits its input
//! batch under the model's verifying key; the provider checks the input and
//! the model file it downloads against the job, runs the model exactly, and
//! proves the run with the model's proving key.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ark_bn254::Fr;
use veriflop_circuits::{field, Address, CircuitKind, Dtype, InputMatrix, Job, JobId, Matrix, Shape};
use veriflop_infer::circuit::Witness;
use veriflop_infer::job::{InferenceStatement, ModelKeys};
use veriflop_infer::keys::{file_stem, find, KeyFile, ModelVk};
use veriflop_infer::prover::ProveStats;
use veriflop_infer::Model;
use veriflop_verifier::verify::model_word;
use veriflop_verifier::ProofBundle;

use super::common::{write_file, CliError};

/// Largest model file read.
pub const MAX_MODEL_FILE: u64 = 1 << 30;
/// Largest model key file read (a 4×1024 MLP on a batch of 128 has a proving key of a few GB).
const MAX_KEY_FILE: u64 = 16 << 30;

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, CliError> {
    let io = |e: std::io::Error| CliError::new("io", format!("{}: {e}", path.display()));
    let mut bytes = Vec::new();
    std::fs::File::open(path).map_err(io)?.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(CliError::new("too_large", format!("{} is larger than {max} bytes", path.display())));
    }
    Ok(bytes)
}

/// A model file (`model import` writes them; an inference job's B).
pub fn read_model(path: &Path) -> Result<Model, CliError> {
    Ok(Model::from_json(&read_bounded(path, MAX_MODEL_FILE)?)?)
}

/// Layer widths written `a-b-c…` (inputs, hidden layers, outputs).
pub fn parse_widths(s: &str) -> Result<Vec<usize>, CliError> {
    let bad = || CliError::new("usage", format!("widths {s:?}: at least two positive numbers, like 32-24-10"));
    let w: Vec<usize> = s.split('-').map(|x| x.trim().parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
    use veriflop_infer::model::{MAX_LAYERS, MAX_LAYER_WEIGHTS, MAX_WIDTH};
    if w.len() < 2 || w.len() > MAX_LAYERS + 1 || w.contains(&0) || w.iter().any(|&d| d > MAX_WIDTH) {
        return Err(bad());
    }
    if w.windows(2).any(|d| d[0] * d[1] > MAX_LAYER_WEIGHTS) {
        return Err(CliError::new("usage", format!("widths {s:?}: a layer has more than {MAX_LAYER_WEIGHTS} weights")));
    }
    Ok(w)
}

/// Makes a model's keys for a batch in the key directory (development setup:
/// whoever runs it knows the trapdoors), unless both files exist and not
/// `force`. The verifying key is written last: a service picks up a model once
/// its `.ivk` exists. Returns both paths and the setup time (`None`: they existed).
pub fn setup_keys(
    model: &Model,
    batch: usize,
    keys: &Path,
    force: bool,
) -> Result<(PathBuf, PathBuf, Option<Duration>), CliError> {
    check_batch(batch)?;
    let (pk_path, vk_path) = key_paths(keys, &model.digest(), batch);
    if !force && pk_path.is_file() && vk_path.is_file() {
        return Ok((pk_path, vk_path, None));
    }
    let t = Instant::now();
    let k = ModelKeys::setup(model, batch, &mut rand::rngs::OsRng)?;
    let took = t.elapsed();
    let (pk_path, vk_path) = write_keys(keys, &k)?;
    Ok((pk_path, vk_path, Some(took)))
}

/// A batch size a model's keys can be made for.
pub fn check_batch(batch: usize) -> Result<(), CliError> {
    let max = veriflop_circuits::shape::MAX_DIM as usize;
    if batch == 0 || batch > max {
        return Err(CliError::new("bad_batch", format!("batch {batch} is outside 1..={max}")));
    }
    Ok(())
}

/// The proving and verifying key files of a model and batch in a key directory.
pub fn key_paths(keys: &Path, digest: &[u8; 32], batch: usize) -> (PathBuf, PathBuf) {
    let stem = file_stem(digest, batch);
    (keys.join(format!("{stem}.ipk")), keys.join(format!("{stem}.ivk")))
}

/// Writes a model's keys into a key directory: (proving, verifying) key files.
pub fn write_keys(keys: &Path, k: &ModelKeys) -> Result<(PathBuf, PathBuf), CliError> {
    let (pk_path, vk_path) = key_paths(keys, &k.model_digest, k.batch);
    write_file(&pk_path, &k.to_bytes())?;
    write_file(&vk_path, &k.verifying_key().to_bytes())?;
    Ok((pk_path, vk_path))
}

/// The key file of the model with this word, for `batch`, if the directory holds one.
pub fn find_key(keys: &Path, kind: KeyFile, model: Fr, batch: usize) -> Option<PathBuf> {
    find(keys, kind, batch, |d| model_word(d) == model)
}

fn missing(keys: &Path, kind: KeyFile, model: Fr, batch: usize) -> CliError {
    CliError::new(
        "no_key",
        format!(
            "no {} key for model {} and batch {batch} in {}: run `veriflop-prover model setup --model <model.json> --batch {batch}` or put the published inference-<digest>-b{batch}.{} there",
            if kind == KeyFile::Proving { "proving" } else { "verifying" },
            field::fr_to_hex(&model),
            keys.display(),
            kind.extension()
        ),
    )
}

/// The verifying key of an inference job's model (its cm_b) and batch.
pub fn load_vk(keys: &Path, model: Fr, batch: usize) -> Result<ModelVk, CliError> {
    let path = find_key(keys, KeyFile::Verifying, model, batch)
        .ok_or_else(|| missing(keys, KeyFile::Verifying, model, batch))?;
    ModelVk::from_bytes(&read_bounded(&path, MAX_KEY_FILE)?)
        .map_err(|e| CliError::new("bad_key", format!("{}: {e}", path.display())))
}

/// The client's inference job: `input` (batch × d_in, int8) committed under the
/// model's verifying key, the model named by its word.
pub fn job_for(id: JobId, model: &Model, input: &InputMatrix, keys: &Path) -> Result<Job, CliError> {
    if input.cols != model.d_in() {
        return Err(CliError::new(
            "bad_input",
            format!("the input has {} columns, the model takes {} inputs", input.cols, model.d_in()),
        ));
    }
    let digest = model.digest();
    let stem = file_stem(&digest, input.rows);
    let vk = load_vk(keys, model_word(&digest), input.rows)
        .map_err(|e| CliError::new(e.code, format!("{} (the model's key file is {stem}.ivk)", e.message)))?;
    let x = int8(input)?;
    Ok(Job {
        job_id: id,
        system: Default::default(),
        circuit: CircuitKind::Inference,
        shape: vk.shape()?,
        cm_a: vk.input_digest(&x)?,
        cm_b: model_word(&digest),
    })
}

fn int8(m: &InputMatrix) -> Result<Vec<i8>, CliError> {
    m.data
        .iter()
        .map(|&v| i8::try_from(v).map_err(|_| CliError::new("bad_input", format!("{v} is outside int8"))))
        .collect()
}

/// A model's proving keys, loaded once per file (they are large; the agent proves
/// many jobs of one model).
#[derive(Default)]
pub struct ProvingKeys(Mutex<Option<(PathBuf, Arc<ModelKeys>)>>);

impl ProvingKeys {
    /// Whether the directory holds the proving key of this job's model and batch.
    pub fn has(keys: &Path, job: &Job) -> bool {
        job.circuit == CircuitKind::Inference
            && find_key(keys, KeyFile::Proving, job.cm_b, job.shape.m as usize).is_some()
    }

    pub fn load(&self, keys: &Path, job: &Job) -> Result<Arc<ModelKeys>, CliError> {
        let batch = job.shape.m as usize;
        let path = find_key(keys, KeyFile::Proving, job.cm_b, batch)
            .ok_or_else(|| missing(keys, KeyFile::Proving, job.cm_b, batch))?;
        let mut cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, k)) = cached.as_ref().filter(|(p, _)| *p == path) {
            return Ok(k.clone());
        }
        let k = Arc::new(
            ModelKeys::from_bytes(&read_bounded(&path, MAX_KEY_FILE)?)
                .map_err(|e| CliError::new("bad_key", format!("{}: {e}", path.display())))?,
        );
        *cached = Some((path, k.clone()));
        Ok(k)
    }
}

/// A proven inference job: the output to deliver and the bundle that pays for it.
pub struct Proven {
    pub output: InputMatrix,
    pub bundle: ProofBundle,
    pub stats: ProveStats,
}

/// The provider's side: checks the input batch and the model (the job's A and
/// B, downloaded) against the job before any proving, runs the model and proves
/// the run for `provider`.
pub fn prove(
    job: &Job,
    input: &InputMatrix,
    model: &Model,
    keys: &ModelKeys,
    provider: Address,
) -> Result<Proven, CliError> {
    let bad = |m: String| CliError::rejected("bad_job_data", format!("the job's data does not match its terms: {m}"));
    let digest = model.digest();
    if model_word(&digest) != job.cm_b {
        return Err(bad(format!("the model file has digest 0x{}, not the job's model", hex::encode(digest))));
    }
    let want = Shape::new(input.rows as u32, model.d_in() as u32, model.d_out() as u32, Dtype::Int8)?;
    if want != job.shape || input.cols != model.d_in() {
        return Err(bad(format!(
            "an input of {}×{} for this model is not the job's shape {}",
            input.rows, input.cols, job.shape
        )));
    }
    let x = int8(input)?;
    let cm_in = keys.commit_input(&x)?;
    if veriflop_circuits::cp::digest(&cm_in) != job.cm_a {
        return Err(bad("the input batch does not match cm_A".into()));
    }
    let trace = veriflop_infer::run(model, input.rows, &x)?;
    let st = InferenceStatement { job_id: job.job_id.0, provider, model_digest: digest, cm_in };
    let (proof, stats) =
        veriflop_infer::job::prove_with_stats(keys, model, &Witness::from(&trace), &st, &mut rand::rngs::OsRng)?;
    let bundle = ProofBundle::from_inference(&keys.verifying_key(), job.job_id, provider, cm_in, &proof)
        .map_err(|e| CliError::new("bad_bundle", e.to_string()))?;
    let output = Matrix::new(input.rows, model.d_out(), trace.output().iter().map(|&v| v as i32).collect())?;
    Ok(Proven { output, bundle, stats })
}
