//! An inference job through the service over real HTTP: the client registers
//! the job under a model the service has a key for, uploads its input batch (A)
//! and the model file (B), each checked against the job; a provider claims it,
//! downloads both, runs the model, proves, delivers the output (C) and is
//! paid; the client checks the delivered output against the proven cm_out.
//! Forged inputs, another model, a changed output, a replayed or tampered
//! proof are each refused.

mod common;

use common::*;
use rand::rngs::{OsRng, StdRng};
use rand::{Rng, SeedableRng};
use veriflop_circuits::commit::Role;
use veriflop_circuits::cp::digest;
use veriflop_circuits::{field, Address, Bytes32, CircuitKind, Dtype, Job, Matrix, Shape};
use veriflop_infer::circuit::Witness;
use veriflop_infer::job::{prove, InferenceStatement, ModelKeys};
use veriflop_infer::keys::file_stem;
use veriflop_infer::{run, Layer, Model, QuantParams, Requant};
use veriflop_service::client::{spawn_local, Config, Input, RegisterJob};
use veriflop_service::ledger::EscrowState;
use veriflop_verifier::auth::Signer;
use veriflop_verifier::bundle::EvmG1;
use veriflop_verifier::verify::model_word;
use veriflop_verifier::ProofBundle;

const BATCH: usize = 2;

/// A random two-layer model 6 → 5 → 3 (ReLU then plain requantization).
fn model(seed: u64) -> Model {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut layer = |k: usize, n: usize, relu: bool| {
        let zp: i8 = rng.gen_range(-20..20);
        Layer {
            d_in: k,
            d_out: n,
            weights: (0..k * n).map(|_| rng.gen_range(-127..=127)).collect(),
            bias: (0..n).map(|_| rng.gen_range(-3000..3000)).collect(),
            requant: Requant::new(rng.gen_range(0.002..0.02), zp, if relu { zp } else { -128 }, 127).unwrap(),
        }
    };
    let layers = vec![layer(6, 5, true), layer(5, 3, false)];
    let q = QuantParams { scale: 0.05, zero_point: 0 };
    Model { input: q, layers, output: q }
}

fn matrix_file(rows: usize, cols: usize, v: &[i8], ext: &str) -> tempfile::TempPath {
    write_matrix_file(&Matrix::new(rows, cols, v.iter().map(|&x| x as i32).collect()).unwrap(), ext)
}

fn model_file(m: &Model) -> tempfile::TempPath {
    let p = tempfile::Builder::new().suffix(".json").tempfile().unwrap().into_temp_path();
    std::fs::write(&p, m.to_json()).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inference_job_is_proven_delivered_and_paid() {
    let mut rng = StdRng::seed_from_u64(7);
    let (m, other) = (model(1), model(2));
    let keys = ModelKeys::setup(&m, BATCH, &mut OsRng).unwrap();
    let other_keys = ModelKeys::setup(&other, BATCH, &mut OsRng).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for k in [&keys, &other_keys] {
        let path = dir.path().join(format!("{}.ivk", file_stem(&k.model_digest, BATCH)));
        std::fs::write(path, k.verifying_key().to_bytes()).unwrap();
    }
    let (_, h) =
        spawn_local(Config { key_dir: dir.path().to_path_buf(), rate_limit_per_minute: 0, ..Config::default() })
            .await
            .unwrap();
    let url = h.url();
    let (client_key, provider_key) = (Signer::random(), Signer::random());
    fund(&h, client_key.address()).await;
    let (c, p) = (client(&url, &client_key), client(&url, &provider_key));

    // The client's job: its input batch committed under the model's key.
    let vk = keys.verifying_key();
    let shape = Shape::new(BATCH as u32, 6, 3, Dtype::Int8).unwrap();
    let x: Vec<i8> = (0..BATCH * 6).map(|_| rng.gen()).collect();
    let nonce = Bytes32::random();
    let job_id = h.state.venue.job_id(client_key.address(), &nonce);
    let job = Job {
        job_id,
        system: Default::default(),
        circuit: CircuitKind::Inference,
        shape,
        cm_a: vk.input_digest(&x).unwrap(),
        cm_b: model_word(&m.digest()),
    };
    // A model this service has no key for is refused at registration.
    let unknown = Job { cm_b: model_word(&model(3).digest()), ..job.clone() };
    let err = c.register_job(&RegisterJob::for_job(&unknown, nonce, 500, in_an_hour(), client_key.address())).await;
    assert_eq!(err.unwrap_err().code(), Some("unknown_shape"));
    c.register_job(&RegisterJob::for_job(&job, nonce, 500, in_an_hour(), client_key.address())).await.unwrap();

    // Uploads are checked: another input, another model, a file that is no model.
    let mut x2 = x.clone();
    x2[3] = x2[3].wrapping_add(1);
    let e = c.upload_input(&job_id, Input::A, &matrix_file(BATCH, 6, &x2, "npy")).await.unwrap_err();
    assert_eq!(e.code(), Some("commitment_mismatch"));
    let e = c.upload_input(&job_id, Input::B, &model_file(&other)).await.unwrap_err();
    assert_eq!(e.code(), Some("commitment_mismatch"));
    let junk = matrix_file(6, 3, &[0; 18], "npy");
    assert_eq!(c.upload_input(&job_id, Input::B, &junk).await.unwrap_err().code(), Some("invalid_model"));
    c.upload_input(&job_id, Input::A, &matrix_file(BATCH, 6, &x, "npy")).await.unwrap();
    let stored = c.upload_input(&job_id, Input::B, &model_file(&m)).await.unwrap();
    assert!(stored.offered, "input and model stored: the job is offered");

    // The provider claims it, downloads the input and the model, checks both, runs and proves.
    p.claim(&job_id).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let (fa, fb) = (work.path().join("a"), work.path().join("b"));
    p.download_input(&job_id, Input::A, &fa).await.unwrap();
    p.download_input(&job_id, Input::B, &fb).await.unwrap();
    let got_model = Model::from_json(&std::fs::read(&fb).unwrap()).unwrap();
    assert_eq!(model_word(&got_model.digest()), job.cm_b);
    let a = veriflop_circuits::stream::read_input_file(&fa, Dtype::Int8).unwrap();
    let got_x: Vec<i8> = a.data.iter().map(|&v| v as i8).collect();
    assert_eq!(vk.input_digest(&got_x).unwrap(), job.cm_a);
    let trace = run(&got_model, BATCH, &got_x).unwrap();
    let provider = provider_key.address();
    let st = InferenceStatement {
        job_id: job_id.0,
        provider,
        model_digest: got_model.digest(),
        cm_in: vk.commit_input(&got_x).unwrap(),
    };
    let proof = prove(&keys, &got_model, &Witness::from(&trace), &st, &mut OsRng).unwrap();
    let bundle = ProofBundle::from_inference(&vk, job_id, provider, st.cm_in, &proof).unwrap();
    let bundle = ProofBundle::decode(&bundle.to_bytes()).unwrap();

    // Refused before any payment: a proof for another payee, a tampered proof
    // of knowledge, a bundle naming another model, and a changed output.
    let other_payee = ProofBundle::from_inference(&vk, job_id, Address([9; 20]), st.cm_in, &proof).unwrap();
    assert_eq!(p.submit_proof(&job_id, &other_payee).await.unwrap_err().code(), Some("wrong_provider"));
    let mut tampered = bundle.clone();
    tampered.inference.as_mut().unwrap().pok_out = EvmG1(proof.pok_hidden);
    let y = trace.output().to_vec();
    let y_file = matrix_file(BATCH, 3, &y, "vfm");
    p.upload_result(&job_id, &y_file).await.unwrap();
    assert_eq!(p.submit_proof(&job_id, &tampered).await.unwrap_err().code(), Some("invalid_proof"));
    let mut relabelled = bundle.clone();
    relabelled.statement.cm_b = model_word(&other.digest());
    assert_eq!(p.submit_proof(&job_id, &relabelled).await.unwrap_err().code(), Some("commitment_mismatch"));
    let mut y2 = y.clone();
    y2[0] = y2[0].wrapping_add(1);
    let mut forged = bundle.clone();
    let forged_out = vk.commit_output(&y2).unwrap();
    forged.statement.cm_c = digest(&forged_out);
    forged.inference.as_mut().unwrap().cm_out = EvmG1(forged_out);
    assert_eq!(p.submit_proof(&job_id, &forged).await.unwrap_err().code(), Some("invalid_proof"));
    assert_eq!(c.job(&job_id).await.unwrap().state, EscrowState::Locked);

    // The honest delivery is paid; the client gets the output and checks it.
    let paid = p.submit_proof(&job_id, &bundle).await.unwrap();
    assert_eq!(paid.state, EscrowState::Released);
    let out = work.path().join("y");
    c.download_result(&job_id, &out).await.unwrap();
    let delivered = veriflop_circuits::stream::read_file(&out).unwrap();
    let delivered: Vec<i8> = delivered.data.iter().map(|&v| v as i8).collect();
    assert_eq!(delivered, y);
    let accepted = c.delivered_proof(&job_id).await.unwrap();
    assert_eq!(digest(&vk.commit_output(&delivered).unwrap()), accepted.statement.cm_c);
    assert!(h.state.keys.list().iter().any(|(_, k, s, _)| *k == CircuitKind::Inference && *s == shape));
}

/// The on-chain data plane for an inference job: its input (A) and output (C)
/// are stored under the model word and their commitment under that model's
/// key, its B (the model file) under the model word; another model's data, a
/// model without a key here and the address without a model are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_chain_data_is_stored_under_its_model_and_commitment() {
    use veriflop_service::chain_data::{DataAddress, ReceiptRequest};
    use veriflop_service::client::Client;
    let mut rng = StdRng::seed_from_u64(8);
    let (m, other) = (model(1), model(2));
    let dir = tempfile::tempdir().unwrap();
    let mut vks = Vec::new();
    for model in [&m, &other] {
        let k = ModelKeys::setup(model, BATCH, &mut OsRng).unwrap();
        let path = dir.path().join(format!("{}.ivk", file_stem(&k.model_digest, BATCH)));
        std::fs::write(path, k.verifying_key().to_bytes()).unwrap();
        vks.push(k.verifying_key());
    }
    let attestor = k256::ecdsa::SigningKey::random(&mut OsRng);
    let config = Config {
        key_dir: dir.path().to_path_buf(),
        rate_limit_per_minute: 0,
        attestor_key: Some(attestor),
        ..Config::default()
    };
    let (_, h) = spawn_local(config).await.unwrap();
    let c = Client::new(h.url(), Signer::random());
    let code = api_code;

    let shape = Shape::new(BATCH as u32, 6, 3, Dtype::Int8).unwrap();
    let x: Vec<i8> = (0..BATCH * 6).map(|_| rng.gen()).collect();
    let job = Job {
        job_id: veriflop_circuits::JobId::random(),
        system: Default::default(),
        circuit: CircuitKind::Inference,
        shape,
        cm_a: vks[0].input_digest(&x).unwrap(),
        cm_b: model_word(&m.digest()),
    };
    let (xa, mb) = (matrix_file(BATCH, 6, &x, "npy"), model_file(&m));
    let a_at = DataAddress::of(&job, Role::A, job.cm_a);
    let b_at = DataAddress::of(&job, Role::B, job.cm_b);
    assert!(a_at.path().starts_with(&format!("/v1/data/inference/{}/2x6x3/int8/a/", field::fr_to_hex(&job.cm_b))));

    // Under another model (a key here, or none), or without one: refused, nothing stored.
    let under_other = DataAddress { model: Some(model_word(&other.digest())), ..a_at.clone() };
    assert_eq!(code(c.put_data(&under_other.path(), &xa).await.unwrap_err()), "commitment_mismatch");
    let unknown = DataAddress { model: Some(model_word(&model(3).digest())), ..a_at.clone() };
    assert_eq!(code(c.put_data(&unknown.path(), &xa).await.unwrap_err()), "unknown_shape");
    let bare = a_at.path().replacen(&format!("/{}", field::fr_to_hex(&job.cm_b)), "", 1);
    let r = raw(&h.url(), "PUT", &bare, &[], std::fs::read(&xa).unwrap()).await;
    assert_eq!((r.0, r.1["code"].as_str().unwrap()), (404, "no_route"), "{r:?}");
    let matmul = DataAddress { circuit: CircuitKind::Committed, model: Some(job.cm_b), ..a_at.clone() };
    assert_eq!(raw(&h.url(), "GET", &matmul.path(), &[], vec![]).await.1["code"], "no_route");
    // Another input under this model's address; another model file under B; B under another word.
    let mut x2 = x.clone();
    x2[0] = x2[0].wrapping_add(1);
    let e = c.put_data(&a_at.path(), &matrix_file(BATCH, 6, &x2, "npy")).await.unwrap_err();
    assert_eq!(code(e), "commitment_mismatch");
    assert_eq!(code(c.put_data(&b_at.path(), &model_file(&other)).await.unwrap_err()), "commitment_mismatch");
    let b_elsewhere = DataAddress { cm: job.cm_a, ..b_at.clone() };
    assert_eq!(code(c.put_data(&b_elsewhere.path(), &mb).await.unwrap_err()), "commitment_mismatch");
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(code(c.get_data(&a_at.path(), &tmp.path().join("a")).await.unwrap_err()), "not_stored");

    // The job's own: stored, and downloaded byte for byte.
    assert!(c.put_data(&a_at.path(), &xa).await.unwrap().new);
    assert!(c.put_data(&b_at.path(), &mb).await.unwrap().new);
    for (at, file) in [(&a_at, &xa), (&b_at, &mb)] {
        let got = tmp.path().join("got");
        c.get_data(&at.path(), &got).await.unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(file).unwrap());
    }

    // The output: stored under the digest of its commitment under the model's
    // key; a receipt for it names the model.
    let y = run(&m, BATCH, &x).unwrap().output().to_vec();
    let cm_c = digest(&vks[0].commit_output(&y).unwrap());
    let c_at = DataAddress::of(&job, Role::C, cm_c);
    let mut y2 = y.clone();
    y2[1] = y2[1].wrapping_add(1);
    let e = c.put_data(&c_at.path(), &matrix_file(BATCH, 3, &y2, "vfm")).await.unwrap_err();
    assert_eq!(code(e), "commitment_mismatch");
    let mut req = ReceiptRequest {
        chain_id: 31337,
        escrow: format!("0x{}", "ab".repeat(20)),
        job_id: job.job_id,
        circuit: CircuitKind::Inference,
        shape,
        model: Some(field::fr_to_hex(&job.cm_b)),
        cm_c: field::fr_to_hex(&cm_c),
    };
    assert_eq!(code(c.delivery_receipt(&req).await.unwrap_err()), "not_delivered");
    c.put_data(&c_at.path(), &matrix_file(BATCH, 3, &y, "vfm")).await.unwrap();
    let r = c.delivery_receipt(&req).await.unwrap();
    let word = field::fr_to_bytes(&cm_c);
    assert_eq!(
        r.digest,
        format!(
            "0x{}",
            hex::encode(veriflop_contracts::delivery::delivery_digest(31337, [0xab; 20], &job.job_id, word))
        )
    );
    req.model = None;
    assert_eq!(code(c.delivery_receipt(&req).await.unwrap_err()), "bad_request");
    h.shutdown().await;
}

fn api_code(e: veriflop_service::client::ClientError) -> String {
    e.code().unwrap_or("none").to_string()
}
