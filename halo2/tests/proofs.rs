//! Honest proofs verify; every forged or tampered input is rejected with a typed error.

mod common;

use common::{small, square};
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Dtype, InputMatrix, Shape};
use veriflop_halo2::proof::prove_unchecked;
use veriflop_halo2::{keygen, prove, verify, ProveError, VerifyError, MAX_PROOF_BYTES};

#[test]
fn honest_proofs_verify_with_the_advertised_length() {
    for fx in [small(), square()] {
        assert_eq!(fx.proof.len(), fx.vk.proof_len(), "{}", fx.shape);
        assert!(fx.proof.len() <= MAX_PROOF_BYTES);
        verify(&fx.vk, &fx.public, &fx.proof).unwrap();
    }
}

#[test]
fn wrong_result_is_refused_and_a_forced_proof_fails() {
    let fx = small();
    let mut c = fx.c.clone();
    c.data[3] += 1;
    let (job, provider) = (fx.public[0], fx.public[1]);
    assert!(matches!(prove(&fx.pk, job, provider, &fx.a, &fx.b, &c), Err(ProveError::WrongResult(3))));
    // Forced: a proof over the wrong C, against its own (honest-looking) commitment.
    let forged = prove_unchecked(&fx.pk, job, provider, &fx.a, &fx.b, &c).unwrap();
    let mut public = fx.public;
    public[4] = veriflop_circuits::commit::commit_output(&fx.shape, &c);
    assert_eq!(verify(&fx.vk, &public, &forged), Err(VerifyError::Invalid));
}

#[test]
fn out_of_range_or_misshaped_inputs_are_refused() {
    let fx = small();
    let mut a = fx.a.clone();
    a.data[0] = 200; // not an int8
    assert!(matches!(prove(&fx.pk, fx.public[0], fx.public[1], &a, &fx.b, &fx.c), Err(ProveError::Input(_))));
    assert!(matches!(prove(&fx.pk, fx.public[0], fx.public[1], &fx.b, &fx.a, &fx.c), Err(ProveError::Input(_))));
}

#[test]
fn each_changed_public_input_is_rejected() {
    let fx = small();
    for i in 0..5 {
        let mut public = fx.public;
        public[i] += ark_bn254::Fr::from(1u64);
        assert_eq!(verify(&fx.vk, &public, &fx.proof), Err(VerifyError::Invalid), "input {i}");
    }
    // Swapped A and B commitments.
    let mut public = fx.public;
    public.swap(2, 3);
    assert_eq!(verify(&fx.vk, &public, &fx.proof), Err(VerifyError::Invalid));
}

#[test]
fn tampered_proof_bytes_are_rejected() {
    let fx = small();
    let len = fx.proof.len();
    for at in (0..len).step_by(97).chain([len - 1]) {
        let mut p = fx.proof.clone();
        p[at] ^= 0x01;
        assert!(verify(&fx.vk, &fx.public, &p).is_err(), "flip at {at}");
    }
}

#[test]
fn another_shapes_key_rejects_the_proof() {
    let (s, q) = (small(), square());
    assert!(verify(&q.vk, &s.public, &s.proof).is_err());
    assert!(verify(&s.vk, &q.public, &q.proof).is_err());
    // Same row count, different shape: same length, still rejected.
    let other = Shape::new(3, 2, 4, Dtype::Int8).unwrap();
    let (_, vk) = keygen(&other, common::srs()).unwrap();
    assert_eq!(verify(&vk, &s.public, &s.proof), Err(VerifyError::Invalid));
}

#[test]
fn garbage_truncated_and_oversized_proofs_give_typed_errors() {
    let fx = small();
    let len = fx.proof.len();
    let expected = fx.vk.proof_len();
    for bad in
        [vec![], vec![0u8; 1], fx.proof[..len - 1].to_vec(), [fx.proof.clone(), vec![0]].concat(), vec![0u8; 1 << 20]]
    {
        assert_eq!(verify(&fx.vk, &fx.public, &bad), Err(VerifyError::Length { got: bad.len(), expected }));
    }
    // Right length, garbage content: points off the curve / non-canonical scalars.
    for fill in [0x00u8, 0xff, 0x5a] {
        let r = verify(&fx.vk, &fx.public, &vec![fill; len]);
        assert!(matches!(r, Err(VerifyError::Decode(_)) | Err(VerifyError::Invalid)), "{fill:#x}: {r:?}");
    }
    let mut rng = 7u64;
    for _ in 0..8 {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (rng >> 56) as u8
            })
            .collect();
        assert!(verify(&fx.vk, &fx.public, &junk).is_err());
    }
}

#[test]
fn wider_dtypes_prove_and_verify() {
    for dtype in [Dtype::Int16, Dtype::Int32] {
        let shape = Shape::new(2, 2, 3, dtype).unwrap();
        let (pk, vk) = keygen(&shape, common::srs()).unwrap();
        let a = InputMatrix::random(2, 2, dtype, 5).unwrap();
        let b = InputMatrix::random(2, 3, dtype, 6).unwrap();
        let c = matmul(&shape, &a, &b).unwrap();
        let (job, prov) = (ark_bn254::Fr::from(9u64), ark_bn254::Fr::from(10u64));
        let proof = prove(&pk, job, prov, &a, &b, &c).unwrap();
        let public = [
            job,
            prov,
            veriflop_circuits::commit::commit_input(&shape, veriflop_circuits::commit::Role::A, &a),
            veriflop_circuits::commit::commit_input(&shape, veriflop_circuits::commit::Role::B, &b),
            veriflop_circuits::commit::commit_output(&shape, &c),
        ];
        verify(&vk, &public, &proof).unwrap();
    }
}
