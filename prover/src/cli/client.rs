//! `client`: what a client runs against a verifier service — post a job with
//! its data, follow it, fetch its result (checked against the proven cm_C
//! before anything is written), and take the escrow back after the deadline.

use std::path::{Path, PathBuf};

use serde_json::json;
use veriflop_circuits::commit::Role;
use veriflop_circuits::stream::{commit_stream, read_file, MatrixReader};
use veriflop_circuits::{field, Bytes32, CircuitKind, Dtype, Job, JobId, ProofSystem, Shape};
use veriflop_prover::KeyStore;
use veriflop_service::client::{blocking::BlockingClient, Input, JobView, RegisterJob, StoredInput};
use veriflop_verifier::auth::Signer;
use veriflop_verifier::Verifier;

use super::common::{commit_key_for, read_small, write_file, CliError, Ctx, KeyArgs};
use super::inference::{self, read_model};
use super::submit::client_error;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Post a job with its data: lock the price in escrow, upload A and B (the
    /// service checks them against the job's commitments), and offer it to providers.
    Post(PostArgs),
    /// Show a job: escrow, data, lease and delivery.
    Status(StatusArgs),
    /// Fetch a released job's result: the accepted proof is checked, then C
    /// against the proven cm_C; C is written only if it matches.
    Fetch(FetchArgs),
    /// Take the escrow back after the deadline (no result was delivered in time).
    Refund(StatusArgs),
}

/// The service and the client's identity.
#[derive(clap::Args, Debug, Clone)]
pub struct Conn {
    /// Verifier service base URL.
    #[arg(long, env = "VERIFLOP_VERIFIER_URL", default_value = "http://127.0.0.1:8645")]
    pub url: String,
    /// The client's secp256k1 secret key (0x-hex): its address posts and pays.
    #[arg(long, env = "VERIFLOP_CLIENT_KEY", hide_env_values = true)]
    pub key: String,
}

impl Conn {
    fn client(&self) -> Result<BlockingClient, CliError> {
        let signer = Signer::from_hex(&self.key).map_err(|e| CliError::new("bad_key", e.to_string()))?;
        BlockingClient::new(&self.url, signer).map_err(|e| CliError::new("io", e.to_string()))
    }
}

#[derive(clap::Args, Debug)]
pub struct PostArgs {
    #[command(flatten)]
    conn: Conn,
    /// Matrix A (m×k), .npy or .vfm.
    #[arg(long, required_unless_present = "model")]
    a: Option<PathBuf>,
    /// Matrix B (k×n), .npy or .vfm.
    #[arg(long, required_unless_present = "model")]
    b: Option<PathBuf>,
    /// An inference job instead: the model file (`model import` writes it), whose
    /// verifying key for the input's batch is in --keys (`model setup`). The
    /// service must hold the same key; the output is delivered as C.
    #[arg(long, conflicts_with_all = ["a", "b", "circuit", "proof_system"], requires = "input")]
    model: Option<PathBuf>,
    /// The inference job's int8 input batch (batch × the model's inputs), .npy or .vfm.
    #[arg(long, requires = "model")]
    input: Option<PathBuf>,
    /// Element type the entries must fit.
    #[arg(long, default_value = "int8")]
    dtype: Dtype,
    /// Proof system that settles the job: groth16 or halo2.
    #[arg(long, default_value = "groth16")]
    proof_system: ProofSystem,
    /// Circuit (default: committed for groth16, poseidon for halo2).
    #[arg(long)]
    circuit: Option<CircuitKind>,
    /// Price locked in escrow, in the venue's unit (taken from the client's balance).
    #[arg(long)]
    price: u64,
    /// Seconds from now to the deadline: a result is paid for only before it.
    #[arg(long, default_value_t = 3600)]
    ttl_secs: u64,
    /// Seconds a provider's claim holds the job (default: the service's).
    #[arg(long)]
    lease_secs: Option<u64>,
    /// Stake a provider puts down to claim the job (from its balance; default
    /// none): returned when it delivers within its lease, yours when the lease
    /// ends without a result.
    #[arg(long)]
    lease_stake: Option<u64>,
    #[command(flatten)]
    keys: KeyArgs,
    /// Where to write the job file (its terms and nonce).
    #[arg(long, default_value = "veriflop-data/client/job.json")]
    out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    conn: Conn,
    /// The job: its id (0x…) or the job file `post` wrote.
    #[arg(long, default_value = "veriflop-data/client/job.json")]
    job: String,
}

#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    #[command(flatten)]
    conn: Conn,
    /// The job: its id (0x…) or the job file `post` wrote.
    #[arg(long, default_value = "veriflop-data/client/job.json")]
    job: String,
    /// Keys of the job's shape: the commitment key (committed circuit) and, when
    /// present, the verifying key the accepted proof is checked with.
    #[command(flatten)]
    keys: KeyArgs,
    /// Where to write C (.npy, or .vfm for entries beyond int64).
    #[arg(long, default_value = "veriflop-data/client/c.npy")]
    out: PathBuf,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    match args.cmd {
        Cmd::Post(a) => post(a, ctx),
        Cmd::Status(a) => status(a, ctx),
        Cmd::Fetch(a) => fetch(a, ctx),
        Cmd::Refund(a) => refund(a, ctx),
    }
}

/// A job named by id or by the file `post` wrote.
fn job_id(s: &str) -> Result<JobId, CliError> {
    if s.starts_with("0x") && !Path::new(s).exists() {
        return s.parse().map_err(|e| CliError::new("bad_job", format!("job id {s:?}: {e}")));
    }
    let bytes = read_small(Path::new(s))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| CliError::new("bad_job", format!("{s}: not a job file: {e}")))?;
    let id = v.get("job").and_then(|j| j.get("job_id")).or_else(|| v.get("job_id"));
    serde_json::from_value(id.cloned().unwrap_or_default())
        .map_err(|e| CliError::new("bad_job", format!("{s}: no job id: {e}")))
}

fn post(args: PostArgs, ctx: &Ctx) -> Result<(), CliError> {
    let client = args.conn.client()?;
    let me = Signer::from_hex(&args.conn.key).map_err(|e| CliError::new("bad_key", e.to_string()))?.address();
    let nonce = Bytes32::random();
    let id = client.job_id_for(&nonce).map_err(client_error)?;
    let (job, files) = match (&args.model, &args.input, &args.a, &args.b) {
        (Some(model), Some(input), _, _) => {
            let m = read_model(model)?;
            let x = veriflop_circuits::stream::read_input_file(input, Dtype::Int8)?;
            (inference::job_for(id, &m, &x, &args.keys.keys)?, [input.clone(), model.clone()])
        }
        (_, _, Some(pa), Some(pb)) => {
            let a = veriflop_circuits::stream::read_input_file(pa, args.dtype)?;
            let b = veriflop_circuits::stream::read_input_file(pb, args.dtype)?;
            let shape = Shape::new(a.rows as u32, a.cols as u32, b.cols as u32, args.dtype)?;
            let circuit = args.circuit.unwrap_or(match args.proof_system {
                ProofSystem::Groth16Bn254 => CircuitKind::Committed,
                ProofSystem::Halo2KzgBn254 => CircuitKind::Poseidon,
            });
            args.proof_system.check_circuit(circuit)?;
            let ck = commit_key_for(circuit, &shape, &args.keys)?;
            (
                Job::new(id, circuit, shape, ck.as_ref(), &a, &b)?.with_system(args.proof_system)?,
                [pa.clone(), pb.clone()],
            )
        }
        _ => return Err(CliError::new("usage", "post needs --a and --b, or --model and --input")),
    };
    let shape = job.shape;
    let circuit = job.circuit;
    let deadline = veriflop_verifier::auth::unix_now() + args.ttl_secs as i64;
    let record = json!({"job": job, "nonce": nonce, "url": args.conn.url, "client": me, "price": args.price.to_string(), "deadline": deadline});
    let terms = Terms {
        nonce,
        price: args.price as u128,
        deadline,
        lease_secs: args.lease_secs,
        lease_stake: args.lease_stake,
    };
    // The job file is written once the escrow is locked: with it, the client can always refund.
    let (_, uploads) = post_with_data(&client, &job, &terms, me, [&files[0], &files[1]], || {
        write_file(&args.out, serde_json::to_string_pretty(&record).expect("json").as_bytes())
    })?;
    for (u, path) in uploads.iter().zip(&files) {
        ctx.note(format!(
            "uploaded {} ({} bytes): matches cm_{}",
            path.display(),
            u.bytes,
            u.input.as_str().to_uppercase()
        ));
    }
    let view = client.job(&id).map_err(client_error)?;
    ctx.emit(
        format!(
            "posted job {id} ({shape}, {} {circuit}), price {}, deadline {deadline}; offered to providers\n  job file {}",
            job.system,
            view.price,
            args.out.display()
        ),
        json!({"ok": true, "job": view, "path": args.out}),
    );
    Ok(())
}

/// What a client offers for a job besides its data.
pub struct Terms {
    pub nonce: Bytes32,
    pub price: u128,
    pub deadline: i64,
    pub lease_secs: Option<u64>,
    pub lease_stake: Option<u64>,
}

/// Registers `job` (its price locked in escrow), runs `after_lock`, then uploads
/// A and B; once both are stored, the service offers the job to providers.
pub fn post_with_data(
    client: &BlockingClient,
    job: &Job,
    t: &Terms,
    me: veriflop_circuits::Address,
    [a, b]: [&Path; 2],
    after_lock: impl FnOnce() -> Result<(), CliError>,
) -> Result<(JobView, Vec<StoredInput>), CliError> {
    let mut reg = RegisterJob::for_job(job, t.nonce, t.price, t.deadline, me);
    reg.lease_secs = t.lease_secs;
    reg.lease_stake = t.lease_stake.map(|s| s.to_string());
    client.register_job(&reg).map_err(client_error)?;
    after_lock()?;
    let mut uploads = Vec::new();
    for (input, path) in [(Input::A, a), (Input::B, b)] {
        uploads.push(client.run(|c| c.upload_input(&job.job_id, input, path)).map_err(client_error)?);
    }
    let view = client.job(&job.job_id).map_err(client_error)?;
    Ok((view, uploads))
}

/// A released job's result, checked.
pub struct Fetched {
    pub c: veriflop_circuits::OutputMatrix,
    pub bundle: veriflop_verifier::ProofBundle,
    /// Whether the accepted proof was verified here (a local verifying key was at hand).
    pub proof_checked: bool,
    pub bytes: u64,
}

/// Fetches the accepted proof of job `id` and its delivered C; checks the proof
/// is for the job's terms (and verifies it when `keys` holds the verifying key),
/// then C against the proof's cm_C. Writes C to `out` only if all of it holds.
pub fn fetch_checked(
    client: &BlockingClient,
    id: JobId,
    keys: &KeyArgs,
    out: &Path,
    ctx: &Ctx,
) -> Result<Fetched, CliError> {
    let view = client.job(&id).map_err(client_error)?;
    let job = view.job();
    let bundle = client.run(|c| c.delivered_proof(&id)).map_err(client_error)?;
    let st = &bundle.statement;
    if st.job_id != id || st.cm_a != job.cm_a || st.cm_b != job.cm_b || st.shape != job.shape {
        return Err(CliError::rejected(
            "proof_mismatch",
            format!("the service's proof for job {id} is not for this job's terms"),
        ));
    }
    // The accepted proof, verified here when the key is at hand: the shape's
    // Groth16 verifying key, or the halo2 SRS (the key is derived once and cached).
    // An inference job's output is committed under its model's key: the client
    // holds it (its input was committed under it too).
    let store = KeyStore::new(&keys.keys);
    let (verifier, ck) = if job.circuit == CircuitKind::Inference {
        let vk = inference::load_vk(&keys.keys, job.cm_b, job.shape.m as usize)?;
        let ck = vk.commit_key()?;
        (Some(Verifier::inference(vk)?), Some(ck))
    } else {
        let verifier = match job.system {
            ProofSystem::Groth16Bn254 if store.vk_path(job.circuit, &job.shape).is_file() => {
                Some(Verifier::new(store.load_vk(job.circuit, &job.shape)?))
            }
            ProofSystem::Halo2KzgBn254 if store.srs_path().is_file() => {
                Some(Verifier::halo2(super::halo2::verifier_key(&store, &job.shape, ctx)?.0))
            }
            _ => None,
        };
        (verifier, commit_key_for(job.circuit, &job.shape, keys)?)
    };
    let proof_checked = verifier.is_some();
    if let Some(v) = verifier {
        v.verify(&bundle)?;
    }
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| CliError::new("io", format!("{}: {e}", dir.display())))?;
    let tmp = tempfile::Builder::new()
        .prefix(".c-download-")
        .tempfile_in(&dir)
        .map_err(|e| CliError::new("io", e.to_string()))?
        .into_temp_path();
    let got = client.run(|c| c.download_result(&id, &tmp)).map_err(client_error)?;
    let f = std::fs::File::open(&tmp).map_err(|e| CliError::new("io", e.to_string()))?;
    let cm_c = MatrixReader::new(f)
        .and_then(|mut r| commit_stream(job.circuit, &job.shape, Role::C, ck.as_ref(), &mut r))
        .map_err(|e| CliError::rejected("result_mismatch", format!("the delivered C is not a valid result: {e}")))?;
    if cm_c != st.cm_c {
        return Err(CliError::rejected(
            "result_mismatch",
            format!(
                "the delivered C commits to {}, the proof to {}: not the proven result; nothing was written",
                field::fr_to_hex(&cm_c),
                field::fr_to_hex(&st.cm_c)
            ),
        ));
    }
    let c = read_file(&tmp)?;
    veriflop_circuits::matrix::write_matrix(out, &c)?;
    Ok(Fetched { c, bundle, proof_checked, bytes: got.bytes })
}

fn describe(v: &JobView) -> String {
    let mut s = format!("job {} ({} {} {}): escrow {}", v.job_id, v.shape, v.system, v.circuit, v.state.as_str());
    if let Some(p) = v.payee {
        s += &format!(" to {p}");
    }
    if let Some(m) = &v.market {
        let data = match (m.a_stored, m.b_stored) {
            (true, true) => "inputs stored",
            (false, false) => "no input stored",
            _ => "one input stored",
        };
        s += &format!(", {data}");
        match (m.lease_holder, m.lease_expires) {
            (Some(h), Some(t)) => s += &format!(", leased to {h} until {t}"),
            _ if m.offered_at.is_some() && v.state == veriflop_service::ledger::EscrowState::Locked => s += ", offered",
            _ => {}
        }
        if m.delivered {
            s += ", result delivered";
        }
    }
    s
}

fn status(args: StatusArgs, ctx: &Ctx) -> Result<(), CliError> {
    let id = job_id(&args.job)?;
    let v = args.conn.client()?.job(&id).map_err(client_error)?;
    ctx.emit(describe(&v), json!({"ok": true, "job": v}));
    Ok(())
}

fn refund(args: StatusArgs, ctx: &Ctx) -> Result<(), CliError> {
    let id = job_id(&args.job)?;
    let v = args.conn.client()?.refund(&id).map_err(client_error)?;
    ctx.emit(describe(&v), json!({"ok": true, "job": v}));
    Ok(())
}

fn fetch(args: FetchArgs, ctx: &Ctx) -> Result<(), CliError> {
    let id = job_id(&args.job)?;
    let client = args.conn.client()?;
    let f = fetch_checked(&client, id, &args.keys, &args.out, ctx)?;
    let st = &f.bundle.statement;
    ctx.emit(
        format!(
            "fetched C of job {id} ({}×{}, {} bytes) → {}\n  matches the proven cm_C {}{}\n  proven by {}",
            f.c.rows,
            f.c.cols,
            f.bytes,
            args.out.display(),
            field::fr_to_hex(&st.cm_c),
            if f.proof_checked { " (proof verified here)" } else { " (proof accepted by the service)" },
            st.provider,
        ),
        json!({"ok": true, "job_id": id, "path": args.out, "cm_c": field::fr_to_hex(&st.cm_c), "proof_checked": f.proof_checked, "provider": st.provider}),
    );
    Ok(())
}
