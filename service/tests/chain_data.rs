//! The data plane of on-chain jobs: matrices stored only under the commitment
//! they have (a mismatch, garbage, an oversized or truncated body stores
//! nothing), public downloads, and delivery receipts that recover to the
//! service's attestor over exactly (chain, escrow, job, cm_C), refused for a C
//! it does not store or when it has no attestor key.

mod common;

use common::*;
use veriflop_circuits::commit::Role;
use veriflop_circuits::JobId;
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
    let addr = |role, cm| DataAddress { circuit: KIND, shape: shape(), role, cm };
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
