//! The data plane of on-chain jobs: matrices stored only under the commitment
//! they have (a mismatch, garbage, an oversized or truncated body stores
//! nothing), public downloads, and delivery receipts that recover to the
//! service's attestor over exactly (chain, escrow, job, cm_C), refused for a C
//! it does not store or when it has no attestor key. Unsigned uploads cannot
//! grow the store without bound: a circuit and shape the service verifies no
//! job of is refused (`unknown_shape`) before the body is read, and one client
//! IP address gets `data_uploads_per_minute` uploads (then `429 rate_limited`),
//! both storing nothing.

mod common;

use common::*;
use veriflop_circuits::commit::Role;
use veriflop_circuits::{CircuitKind, Dtype, InputMatrix, Job, JobId, Shape};
use veriflop_service::chain_data::{DataAddress, ReceiptRequest};
use veriflop_service::client::{Client, ClientError};
use veriflop_verifier::auth::{Signer, HEADER_CONTENT_KECCAK};

fn api_code(e: ClientError) -> String {
    match e {
        ClientError::Api { code, .. } => code,
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_data_is_stored_only_under_its_commitment_and_receipts_name_exactly_what_is_stored() {
    let attestor = k256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let config = veriflop_service::client::Config { attestor_key: Some(attestor.clone()), ..test_config() };
    let (_, h) = veriflop_service::client::spawn_local(config).await.unwrap();
    let c = Client::new(h.url(), Signer::random());
    let t = new_job(70);
    let (pa, pb) = t.input_files();
    let addr = |role, cm| DataAddress { circuit: KIND, shape: shape(), model: None, role, cm };
    let (a_at, b_at) = (addr(Role::A, t.job.cm_a), addr(Role::B, t.job.cm_b));

    // B under A's commitment: refused, nothing stored.
    assert_eq!(api_code(c.put_data(&a_at.path(), &pb).await.unwrap_err()), "commitment_mismatch");
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(api_code(c.get_data(&a_at.path(), &dir.path().join("x")).await.unwrap_err()), "not_stored");
    // Each under its own: stored once, then recognised.
    assert!(c.put_data(&a_at.path(), &pa).await.unwrap().new);
    assert!(c.put_data(&b_at.path(), &pb).await.unwrap().new);
    assert!(!c.put_data(&a_at.path(), &pa).await.unwrap().new);
    // Anyone downloads it, byte for byte.
    let got = dir.path().join("a.npy");
    c.get_data(&a_at.path(), &got).await.unwrap();
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&pa).unwrap());

    // Garbage, a body over the shape's size, a wrong declared digest, a bad path.
    let path = a_at.path();
    let keccak = |b: &[u8]| format!("0x{}", hex::encode(veriflop_verifier::auth::keccak256(b)));
    let junk = b"not a matrix at all".to_vec();
    let r = raw(&h.url(), "PUT", &path, &[(HEADER_CONTENT_KECCAK, keccak(&junk))], junk).await;
    assert_eq!((r.0, r.1["code"].as_str().unwrap()), (400, "malformed_matrix"), "{r:?}");
    let big = vec![0u8; 64 << 10];
    let r = raw(&h.url(), "PUT", &path, &[(HEADER_CONTENT_KECCAK, keccak(&big))], big).await;
    assert_eq!((r.0, r.1["code"].as_str().unwrap()), (413, "body_too_large"), "{r:?}");
    let body = std::fs::read(&pa).unwrap();
    let r = raw(&h.url(), "PUT", &path, &[(HEADER_CONTENT_KECCAK, keccak(b"other"))], body.clone()).await;
    assert_eq!(r.1["code"], "body_digest_mismatch", "{r:?}");
    let r = raw(&h.url(), "PUT", &path, &[], body).await;
    assert_eq!(r.1["code"], "missing_header", "{r:?}");
    for bad in [
        "/v1/data/committed/4x4x4/int8/d/0x01",
        "/v1/data/quantum/4x4x4/int8/a/0x01",
        "/v1/data/committed/0x4x4/int8/a/0x01",
        "/v1/data/committed/4x4x4/int9/a/0x01",
    ] {
        assert_eq!(raw(&h.url(), "GET", bad, &[], vec![]).await.1["code"], "no_route", "{bad}");
    }
    let r = raw(&h.url(), "GET", &format!("/v1/data/committed/4x4x4/int8/a/0x{}", "ff".repeat(32)), &[], vec![]).await;
    assert_eq!(r.1["code"], "bad_commitment", "a value ≥ r is no commitment: {r:?}");

    // A receipt needs the C stored here.
    let job_id = JobId::random();
    let c_matrix = veriflop_circuits::execute::matmul(&shape(), &t.a, &t.b).unwrap();
    let cm_c = veriflop_circuits::cp::digest(&keys().ck.commit_c(&c_matrix));
    let word = veriflop_circuits::field::fr_to_bytes(&cm_c);
    let req = ReceiptRequest {
        chain_id: 31337,
        escrow: format!("0x{}", "ab".repeat(20)),
        job_id,
        circuit: KIND,
        shape: shape(),
        model: None,
        cm_c: format!("0x{}", hex::encode(word)),
    };
    assert_eq!(api_code(c.delivery_receipt(&req).await.unwrap_err()), "not_delivered");
    let pc = t.c_file();
    c.put_data(&addr(Role::C, cm_c).path(), &pc).await.unwrap();
    let r = c.delivery_receipt(&req).await.unwrap();
    let sig: [u8; 65] = hex::decode(r.signature.trim_start_matches("0x")).unwrap().try_into().unwrap();
    let digest = veriflop_contracts::delivery::delivery_digest(31337, [0xab; 20], &job_id, word);
    assert_eq!(r.digest, format!("0x{}", hex::encode(digest)));
    let who = veriflop_contracts::delivery::recover_attestor(&digest, &sig).unwrap();
    assert_eq!(who, veriflop_contracts::delivery::attestor_address(&attestor));
    assert_eq!(r.attestor, format!("0x{}", hex::encode(who)));
    // It names exactly that job, chain and escrow.
    for other in [
        veriflop_contracts::delivery::delivery_digest(1, [0xab; 20], &job_id, word),
        veriflop_contracts::delivery::delivery_digest(31337, [0xac; 20], &job_id, word),
        veriflop_contracts::delivery::delivery_digest(31337, [0xab; 20], &JobId::random(), word),
    ] {
        assert_ne!(veriflop_contracts::delivery::recover_attestor(&other, &sig), Some(who));
    }
    let r = raw(&h.url(), "POST", "/v1/chain/receipts", &[], b"{\"chain_id\": 1}".to_vec()).await;
    assert_eq!(r.1["code"], "bad_request", "{r:?}");
    h.shutdown().await;

    // A service without an attestor key signs nothing.
    let (h, url) = local().await;
    let c = Client::new(url, Signer::random());
    assert_eq!(api_code(c.delivery_receipt(&req).await.unwrap_err()), "no_attestor");
    h.shutdown().await;
}

/// Every file in the service's blob store (a local directory here), but its spool.
async fn stored(h: &veriflop_service::client::ServiceHandle) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".spool") {
                continue;
            }
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let root = std::path::PathBuf::from(h.state.config.blob_url.as_deref().unwrap());
    let mut out = Vec::new();
    walk(&root, &mut out);
    out.sort();
    out
}

/// Files left in the service's spool directory (an upload whose body was read).
fn spooled(h: &veriflop_service::client::ServiceHandle) -> usize {
    std::fs::read_dir(&h.state.spool_dir).map(|d| d.count()).unwrap_or(0)
}

fn keccak_hex(b: &[u8]) -> String {
    format!("0x{}", hex::encode(veriflop_verifier::auth::keccak256(b)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_for_a_shape_without_a_verifying_key_are_refused_before_the_body_and_store_nothing() {
    // The key directory holds committed 4x4x4 int8 only (and no halo2 SRS).
    let (h, url) = local().await;
    let c = Client::new(url.clone(), Signer::random());
    let before = stored(&h).await;

    // A valid Poseidon A of the same dimensions, under its true commitment:
    // it would be stored if the circuit and shape were not checked.
    let s = shape();
    let a = InputMatrix::random(s.m as usize, s.k as usize, s.dtype, 81).unwrap();
    let b = InputMatrix::random(s.k as usize, s.n as usize, s.dtype, 82).unwrap();
    let job = Job::new(JobId::random(), CircuitKind::Poseidon, s, None, &a, &b).unwrap();
    let at = DataAddress { circuit: CircuitKind::Poseidon, shape: s, model: None, role: Role::A, cm: job.cm_a };
    let pa = write_matrix_file(&a, "npy");
    let e = c.put_data(&at.path(), &pa).await.unwrap_err();
    let msg = e.to_string();
    assert_eq!(api_code(e), "unknown_shape");
    assert!(msg.contains("poseidon") && msg.contains("/v1/shapes"), "{msg}");
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(api_code(c.get_data(&at.path(), &dir.path().join("a")).await.unwrap_err()), "not_stored");

    // A committed shape with no key: refused the same way, before the body or
    // its headers are looked at (garbage, no declared digest).
    let other = Shape::new(8, 8, 8, Dtype::Int8).unwrap();
    let at = DataAddress { circuit: CircuitKind::Committed, shape: other, model: None, role: Role::B, cm: job.cm_b };
    let r = raw(&url, "PUT", &at.path(), &[], vec![7u8; 4096]).await;
    assert_error(&r, 400, "unknown_shape");
    // And naive, whichever dtype.
    let at = DataAddress { circuit: CircuitKind::Naive, shape: Shape::new(4, 4, 4, Dtype::Int16).unwrap(), ..at };
    let junk = vec![1u8; 100];
    let r = raw(&url, "PUT", &at.path(), &[(HEADER_CONTENT_KECCAK, keccak_hex(&junk))], junk).await;
    assert_error(&r, 400, "unknown_shape");

    assert_eq!(stored(&h).await, before, "a refused upload stores nothing");
    assert_eq!(spooled(&h), 0, "a refused upload's body is never spooled");
    // The shape the service verifies is still accepted.
    let t = new_job(83);
    let (pa, _) = t.input_files();
    let ok = DataAddress { circuit: KIND, shape: s, model: None, role: Role::A, cm: t.job.cm_a };
    assert!(c.put_data(&ok.path(), &pa).await.unwrap().new);
    assert_eq!(stored(&h).await.len(), before.len() + 1);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_valid_matrices_from_one_address_is_cut_off_at_the_limit() {
    const LIMIT: u32 = 4;
    let config = veriflop_service::client::Config { data_uploads_per_minute: LIMIT, ..test_config() };
    let (_, h) = veriflop_service::client::spawn_local(config).await.unwrap();
    let url = h.url();
    let c = Client::new(url.clone(), Signer::random());
    let before = stored(&h).await;

    // Distinct valid matrices, each under its own commitment, from 127.0.0.1.
    let jobs: Vec<TestJob> = (0..LIMIT as u64 + 3).map(|i| new_job(900 + 2 * i)).collect();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for t in &jobs {
        let (pa, _) = t.input_files();
        let at = DataAddress { circuit: KIND, shape: shape(), model: None, role: Role::A, cm: t.job.cm_a };
        match c.put_data(&at.path(), &pa).await {
            Ok(r) => {
                assert!(r.new);
                accepted.push(at);
            }
            Err(ClientError::Api { status, code, message }) => {
                assert_eq!((status, code.as_str()), (429, "rate_limited"), "{message}");
                assert!(message.contains("127.0.0.1"), "{message}");
                refused.push(at);
            }
            Err(e) => panic!("{e}"),
        }
    }
    // The bucket refills at LIMIT a minute: the test takes well under the 15 s one more token needs.
    assert_eq!((accepted.len(), refused.len()), (LIMIT as usize, 3));
    assert_eq!(stored(&h).await.len(), before.len() + LIMIT as usize, "the excess is not stored");
    let dir = tempfile::tempdir().unwrap();
    for at in &refused {
        assert_eq!(api_code(c.get_data(&at.path(), &dir.path().join("x")).await.unwrap_err()), "not_stored");
    }
    for at in &accepted {
        c.get_data(&at.path(), &dir.path().join("y")).await.unwrap();
    }
    // Refused before the body is read (no digest header needed to be refused);
    // downloads and receipts are not uploads and are not limited.
    let r = raw(&url, "PUT", &refused[0].path(), &[], vec![0u8; 64]).await;
    assert_error(&r, 429, "rate_limited");
    assert_eq!(spooled(&h), 0);

    // Another address has its own allowance (Linux routes all of 127/8 to loopback).
    #[cfg(target_os = "linux")]
    {
        let other = reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build().unwrap();
        let body = std::fs::read(jobs[LIMIT as usize].input_files().0).unwrap();
        let resp = other
            .put(format!("{url}{}", refused[0].path()))
            .header(HEADER_CONTENT_KECCAK, keccak_hex(&body))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
        c.get_data(&refused[0].path(), &dir.path().join("z")).await.unwrap();
    }
    h.shutdown().await;
}
