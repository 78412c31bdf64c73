//! The main job's inference job (docs/PROTOCOL.md §16): the model owner makes a
//! small int8 MLP, writes it as ONNX and imports it as any model is imported,
//! and makes its keys for a batch; the client posts the job with its input
//! batch and the model file; the provider agent (the same process as for the
//! matrix jobs) checks both, runs the model, proves and delivers the output;
//! the service releases the escrow; the client fetches the output, checked
//! against the proven commitment, and compares it with its own run. Then
//! another job for the same input and model settles by
//! JobEscrow.submitInference: on the in-process EVM (`--chain evm`), or on the
//! hardhat node (`--chain local`), posted with its data on the data plane and
//! proven, delivered, attested and settled by the provider's chain agent.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use veriflop_circuits::matrix::write_matrix;
use veriflop_circuits::{field, Address, Bytes32, Dtype, InputMatrix, Shape};
use veriflop_infer::circuit::Cost;
use veriflop_infer::{onnx, Model};
use veriflop_service::client::blocking::BlockingClient;
use veriflop_verifier::auth::unix_now;
use veriflop_verifier::{JobTerms, Verifier};

use super::client::{fetch_checked, post_with_data, Terms};
use super::common::{secs, write_file, CliError, Ctx, KeyArgs};
use super::demo::{short, wait_released, Agent, FlowReport, PRICE_WEI};
use super::inference;
use super::submit::client_error;

/// The model owner's part, done before the service starts (it loads the
/// model's verifying key with the others).
pub(super) struct ModelSetup {
    model: Model,
    path: PathBuf,
    pub shape: Shape,
    pub lines: Vec<String>,
    pub setup_seconds: Option<f64>,
}

/// Makes the model (random int8 weights from `seed`), writes it as ONNX,
/// imports that file, and makes the model's keys for `batch` in `keys`
/// (cached there like the shapes' keys).
pub(super) fn prepare(spec: &str, batch: usize, seed: u64, keys: &Path, out: &Path) -> Result<ModelSetup, CliError> {
    let made = Model::random_mlp(&inference::parse_widths(spec)?, seed);
    let dir = out.join("model");
    let onnx_path = dir.join("model.onnx");
    write_file(&onnx_path, &onnx::export(&made)?)?;
    let model = onnx::import_path(&onnx_path)?;
    // The layers (what the proof is about) come back exactly; the export
    // carries the input and output scales as 1 (docs/PROTOCOL.md §16.1).
    if model.layers != made.layers {
        return Err(CliError::new("bad_model", "the imported layers differ from those written as ONNX"));
    }
    let path = dir.join("model.json");
    write_file(&path, &model.to_json())?;
    let (_, vk_path, took) = inference::setup_keys(&model, batch, keys, false)?;
    let shape = Shape::new(batch as u32, model.d_in() as u32, model.d_out() as u32, Dtype::Int8)?;
    let cost = Cost::of(&model, batch);
    let dims: Vec<String> =
        std::iter::once(model.d_in()).chain(model.layers.iter().map(|l| l.d_out)).map(|d| d.to_string()).collect();
    let mut lines = vec![format!(
        "  0 owner    writes an int8 MLP {} as ONNX ({}) and imports it ({} layers, digest 0x{}…) → {}",
        dims.join("→"),
        onnx_path.display(),
        model.layers.len(),
        hex::encode(&model.digest()[..6]),
        path.display()
    )];
    lines.push(format!(
        "  0 setup    model keys for a batch of {batch}: {} constraints (matmul {}, requantization {}, tables {}); {}",
        cost.total(),
        cost.matmul,
        cost.requant,
        cost.tables,
        match took {
            Some(t) => format!("made in {} (development setup) → {}", secs(t), vk_path.display()),
            None => format!("cached in {}", vk_path.display()),
        }
    ));
    Ok(ModelSetup { model, path, shape, lines, setup_seconds: took.map(|t| t.as_secs_f64()) })
}

/// The inference job through the market.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    ms: &ModelSetup,
    client: &BlockingClient,
    me: Address,
    agent: &Agent,
    keys: &KeyArgs,
    dir: &Path,
    seed: u64,
    on_chain: Option<super::demo::OnChain>,
    ctx: &Ctx,
) -> Result<FlowReport, CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::new("io", format!("{}: {e}", dir.display())))?;
    let (batch, d_in) = (ms.shape.m as usize, ms.shape.k as usize);
    let mut lines = Vec::new();

    // Client: an int8 input batch, the job naming the model, escrow, upload.
    let x = InputMatrix::random(batch, d_in, Dtype::Int8, seed.wrapping_add(2))?;
    let px = dir.join("input.npy");
    write_matrix(&px, &x)?;
    let nonce = Bytes32::random();
    let job_id = client.job_id_for(&nonce).map_err(client_error)?;
    let job = inference::job_for(job_id, &ms.model, &x, &keys.keys)?;
    let t = Instant::now();
    let terms =
        Terms { nonce, price: PRICE_WEI, deadline: unix_now() + 3600, lease_secs: Some(600), lease_stake: None };
    let (posted, uploads) = post_with_data(client, &job, &terms, me, [px.as_path(), ms.path.as_path()], || Ok(()))?;
    let up_bytes: u64 = uploads.iter().map(|u| u.bytes).sum();
    lines.push(format!(
        "  3 client   posts job {} ({batch}×{d_in} int8 input committed under the model's key, cm_A {}…; the model by its word, cm_B {}…): {} wei locked; uploads the input and the model file ({up_bytes} bytes in {}), checked by the service; the job is offered",
        job.job_id,
        short(&job.cm_a),
        short(&job.cm_b),
        posted.price,
        secs(t.elapsed())
    ));

    // Provider (the agent process): claim, check, run, prove, deliver.
    let (released, waited) = wait_released(client, &job, agent)?;
    let report = agent.report(&job.job_id.to_string()).unwrap_or_else(|| "(no report)".into());
    lines.push(format!(
        "  4 provider agent claims it, downloads and checks the input and the model, runs the model, proves, uploads the output and the proof:\n    {report}"
    ));
    lines.push(format!(
        "  5 service  verifies the proof, checks the stored output against its cm_C, releases {} wei to {} ({} ledger events; {} after posting)",
        released.price,
        released.payee.map(|p| p.to_string()).unwrap_or_default(),
        released.events.len(),
        secs(waited)
    ));

    // Client: the output, checked against the proof before it is written, and
    // compared with the model run here.
    let t = Instant::now();
    let out = dir.join("output.npy");
    let fetched = fetch_checked(client, job.job_id, keys, &out, ctx)?;
    let fetch = t.elapsed();
    let input: Vec<i8> = x.data.iter().map(|&v| v as i8).collect();
    let trace = veriflop_infer::run(&ms.model, batch, &input)?;
    let ours: Vec<i128> = trace.output().iter().map(|&v| v as i128).collect();
    if fetched.c.data != ours {
        return Err(CliError::new("wrong_result", "the delivered output is not the model's output on the input"));
    }
    let bundle = fetched.bundle;
    lines.push(format!(
        "  6 client   fetches the output ({}×{} int8) in {} → {}: it matches the proven cm_C {}…{}, and the model run here; first row {:?}",
        fetched.c.rows,
        fetched.c.cols,
        secs(fetch),
        out.display(),
        short(&bundle.statement.cm_c),
        if fetched.proof_checked { " (the proof verifies here)" } else { "" },
        &fetched.c.data[..fetched.c.cols]
    ));

    // Anyone with the model's verifying key: the accepted proof verifies natively.
    let verifier = Verifier::inference(inference::load_vk(&keys.keys, job.cm_b, batch)?)?;
    let t = Instant::now();
    verifier.verify_for_job(&bundle, &JobTerms { job: job.clone(), provider: Some(bundle.statement.provider) })?;
    let verify = t.elapsed();
    let proof_bytes = bundle.proof.to_bytes().len();
    lines.push(format!(
        "  7 anyone   verifies the accepted proof with the model's key in {} ({proof_bytes}-byte Groth16 proof, {}-byte bundle with the commitments and proofs of knowledge)",
        secs(verify),
        bundle.to_bytes().len()
    ));
    // Chain: another job for the same input and model, posted to JobEscrow (its
    // id names that venue): on the node, proven by the chain agent; on an
    // in-process EVM, proven here. Either settles with submitInference through
    // the model's InferenceVerifier.
    let chain_json = if let Some(oc) = on_chain {
        let want = veriflop_circuits::Matrix::new(batch, ms.shape.n as usize, ours)?;
        let out = dir.join("output-chain.npy");
        let attestor = alloy::primitives::Address::from(oc.attestor.0);
        let r = oc.chain.run_job(&job, &verifier, &px, &ms.path, oc.data_url, attestor, &want, keys, &out)?;
        lines.push(format!(
            "  8 chain    another job for the same input and model on the node, escrow {}:",
            oc.chain.escrow
        ));
        lines.extend(r.lines);
        r.json
    } else {
        let nonce = Bytes32::random();
        let chain_job = veriflop_circuits::Job { job_id: veriflop_contracts::demo_job_id(&nonce), ..job.clone() };
        let pk = inference::ProvingKeys::default().load(&keys.keys, &chain_job)?;
        let proven = inference::prove(&chain_job, &x, &ms.model, &pk, bundle.statement.provider)?;
        let vk = verifier.model_key().expect("an inference verifier");
        let chain = veriflop_contracts::settle_inference_in_evm(vk, &chain_job, &nonce, &proven.bundle, PRICE_WEI)
            .map_err(|e| CliError::new("settlement_failed", format!("on-chain settlement failed: {e}")))?;
        let st = &proven.stats;
        lines.push(format!(
            "  8 chain    job {} posted to JobEscrow at {}, proven in {} ({} constraints, domain 2^{})",
            chain_job.job_id,
            chain.venue,
            secs(st.total),
            st.constraints,
            st.domain_size.trailing_zeros()
        ));
        lines.push(format!(
            "    JobEscrow pays {} wei: submitInference {} gas (InferenceVerifier {} gas, deployed for {} gas), job {:?} → {:?}",
            chain.price_wei,
            chain.gas.submit_tx,
            chain.gas.verifier_call,
            chain.gas.deploy_verifier,
            chain.status_before,
            chain.status_after
        ));
        json!({
            "venue": chain.venue.to_string(),
            "job_id": chain_job.job_id,
            "prove_seconds": st.total.as_secs_f64(),
            "submit_gas": chain.gas.submit_tx,
            "verifier_gas": chain.gas.verifier_call,
            "deploy_verifier_gas": chain.gas.deploy_verifier,
            "price_wei": chain.price_wei,
            "status_after": format!("{:?}", chain.status_after),
        })
    };
    let json = json!({
        "system": job.system,
        "circuit": job.circuit,
        "job": job,
        "model": format!("0x{}", hex::encode(ms.model.digest())),
        "provider_report": report,
        "seconds": { "delivery": waited.as_secs_f64(), "fetch": fetch.as_secs_f64(), "verify": verify.as_secs_f64() },
        "uploaded_bytes": up_bytes,
        "proof_bytes": proof_bytes,
        "bundle_bytes": bundle.to_bytes().len(),
        "cm_c": field::fr_to_hex(&bundle.statement.cm_c),
        "verified": true,
        "delivered": true,
        "proof_checked_by_client": fetched.proof_checked,
        "result": out,
        "service": { "state": format!("{:?}", released.state), "payee": released.payee, "events": released.events.len() },
        "chain": chain_json,
    });
    Ok(FlowReport { lines, json })
}
