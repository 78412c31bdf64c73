//! Property tests over the decoders of untrusted input: bundles (wire and
//! JSON, with commitment points; halo2 proofs), verifying, proving and
//! commitment-key files, halo2 SRS files. None may panic or over-allocate;
//! a mutated bundle that still decodes must not verify unless it is unchanged.
//! `PROPTEST_CASES=100000 cargo test --release --test decode_fuzz` fuzzes longer.

mod common;

use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;
use veriflop_circuits::{CircuitKind, Dtype, Shape};
use veriflop_verifier::keys::ShapeKey;
use veriflop_verifier::{ProofBundle, Verifier};

struct Setup {
    verifier: Verifier,
    bundle: ProofBundle,
    wire: Vec<u8>,
    json: String,
    vk: Vec<u8>,
    pk_file: Vec<u8>,
    ck_file: Vec<u8>,
    phase2: Vec<u8>,
    model_phase2: Vec<u8>,
    ptau: Vec<u8>,
}

/// A ceremony file (a contribution's record and the key) for the fixture's shape.
fn phase2_file(f: &Fixture) -> Vec<u8> {
    use ark_ec::CurveGroup;
    use ark_ff::UniformRand;
    use veriflop_prover::ceremony::{Key, Phase2, Pok, Prefix, Record};
    let mut rng = rand::thread_rng();
    let mut pok = || Pok {
        s: ark_bn254::G1Projective::rand(&mut rng).into_affine(),
        sx: ark_bn254::G1Projective::rand(&mut rng).into_affine(),
        rx: ark_bn254::G2Projective::rand(&mut rng).into_affine(),
    };
    let record = Record { delta: pok(), sigmas: vec![pok()] };
    let veriflop_prover::KeyBody::Committed(key) = &f.pk.body else { unreachable!() };
    let p = Phase2 {
        prefix: Prefix {
            kind: f.kind,
            shape: f.shape,
            index: 1,
            prev: [7; 32],
            name: "fuzz".into(),
            model: None,
            record: Some(record),
            sigma_delta_g2: f.vk.pok_g2,
        },
        key: Key::Committed(key.clone()),
    };
    let bytes = p.to_bytes();
    assert_eq!(Phase2::from_bytes(f.kind, &f.shape, &bytes).unwrap(), p);
    bytes
}

/// A model ceremony's file (three proofs of knowledge, the model's tag and
/// key) for a small model's development keys.
fn model_phase2_file() -> Vec<u8> {
    use ark_ec::CurveGroup;
    use ark_ff::UniformRand;
    use veriflop_prover::ceremony::{InferenceKey, Key, ModelTag, Phase2, Pok, Prefix, Record};
    let mut rng = rand::thread_rng();
    let model = veriflop_infer::Model::random_mlp(&[4, 3, 2], 1);
    let k = veriflop_infer::job::ModelKeys::setup(&model, 2, &mut rng).unwrap();
    let mut pok = || Pok {
        s: ark_bn254::G1Projective::rand(&mut rng).into_affine(),
        sx: ark_bn254::G1Projective::rand(&mut rng).into_affine(),
        rx: ark_bn254::G2Projective::rand(&mut rng).into_affine(),
    };
    let record = Record { delta: pok(), sigmas: vec![pok(), pok()] };
    let shape = Shape::new(2, 4, 2, Dtype::Int8).unwrap();
    let p = Phase2 {
        prefix: Prefix {
            kind: CircuitKind::Inference,
            shape,
            index: 1,
            prev: [7; 32],
            name: "fuzz".into(),
            model: Some(ModelTag { digest: k.model_digest, dense_budget: k.dense_budget }),
            record: Some(record),
            sigma_delta_g2: None,
        },
        key: Key::Inference(InferenceKey {
            pk: k.pk,
            pok_hidden: k.pok_hidden,
            pok_out: k.pok_out,
            sigma_hidden_g2: k.sigma_hidden_g2,
            sigma_out_g2: k.sigma_out_g2,
        }),
    };
    let bytes = p.to_bytes();
    assert_eq!(Phase2::from_bytes(CircuitKind::Inference, &shape, &bytes).unwrap(), p);
    bytes
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let f = fixture(CircuitKind::Committed, Shape::new(2, 2, 2, Dtype::Int8).unwrap(), 1);
        let bundle = f.honest();
        let dir = tempfile::tempdir().unwrap();
        let store = veriflop_prover::KeyStore::new(dir.path());
        store.save(&f.pk, &f.vk).unwrap();
        let pk_file = std::fs::read(store.pk_path(f.kind, &f.shape)).unwrap();
        let ck_file = std::fs::read(store.ck_path(&f.shape)).unwrap();
        Setup {
            verifier: Verifier::new(f.vk.clone()),
            wire: bundle.to_bytes(),
            json: bundle.to_json(),
            vk: f.vk.to_bytes(),
            pk_file,
            ck_file,
            phase2: phase2_file(&f),
            model_phase2: model_phase2_file(),
            ptau: {
                let p = dir.path().join("dev.ptau");
                veriflop_prover::ceremony::ptau::write_development(&p, 3, &mut rand::thread_rng()).unwrap();
                std::fs::read(&p).unwrap()
            },
            bundle,
        }
    })
}

fn mutate(bytes: &[u8], edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for &(i, x) in edits {
        let i = i % b.len();
        b[i] ^= x | 1;
    }
    if let Some(c) = cut {
        b.truncate(c % (b.len() + 1));
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), magic in any::<bool>()) {
        let mut b = bytes;
        if magic { b.splice(0..0, b"VFPB".iter().copied()); }
        let _ = ProofBundle::decode(&b);
        let _ = ShapeKey::from_bytes(&b);
    }

    #[test]
    fn mutated_wire_bundles_fail_safely(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in proptest::option::of(any::<usize>())) {
        let s = setup();
        let b = mutate(&s.wire, &edits, cut);
        if let Ok(decoded) = ProofBundle::decode(&b) {
            prop_assert!(decoded == s.bundle || s.verifier.verify(&decoded).is_err());
        }
    }

    #[test]
    fn mutated_json_bundles_fail_safely(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let s = setup();
        let b = mutate(s.json.as_bytes(), &edits, None);
        if let Ok(decoded) = ProofBundle::decode(&b) {
            prop_assert!(decoded == s.bundle || s.verifier.verify(&decoded).is_err());
        }
    }

    #[test]
    fn mutated_verifying_keys_fail_safely(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in proptest::option::of(any::<usize>())) {
        let s = setup();
        let _ = ShapeKey::from_bytes(&mutate(&s.vk, &edits, cut));
    }
}

/// A halo2 bundle (2×2×2 int8), its verifier and a small SRS file.
struct Halo2Setup {
    verifier: Verifier,
    bundle: ProofBundle,
    wire: Vec<u8>,
    srs_file: Vec<u8>,
}

fn halo2_setup() -> &'static Halo2Setup {
    static S: OnceLock<Halo2Setup> = OnceLock::new();
    S.get_or_init(|| {
        let shape = Shape::new(2, 2, 2, Dtype::Int8).unwrap();
        let srs = veriflop_halo2::setup_srs(veriflop_halo2::circuit_k(&shape), [9; 32]).unwrap();
        let f = fixture(CircuitKind::Poseidon, shape, 1);
        let bundle = veriflop_prover::halo2::prove_halo2_bundle(&srs, &shape, &f.witness(PROVIDER)).unwrap().0;
        let verifier = Verifier::halo2(veriflop_halo2::keygen_vk(&shape, &srs).unwrap());
        let mut srs_file = Vec::new();
        veriflop_halo2::setup_srs(4, [9; 32]).unwrap().write(&mut srs_file).unwrap();
        Halo2Setup { verifier, wire: bundle.to_bytes(), bundle, srs_file }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Mutated halo2 bundles: decode errors, or a bundle that does not verify.
    #[test]
    fn mutated_halo2_bundles_fail_safely(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in proptest::option::of(any::<usize>())) {
        let s = halo2_setup();
        let b = mutate(&s.wire, &edits, cut);
        if let Ok(decoded) = ProofBundle::decode(&b) {
            prop_assert!(decoded == s.bundle || s.verifier.verify(&decoded).is_err());
        }
    }

    /// Corrupted SRS files (lengths included) give errors, not aborts.
    #[test]
    fn mutated_srs_files_fail_safely(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in proptest::option::of(any::<usize>())) {
        let s = halo2_setup();
        let b = mutate(&s.srs_file, &edits, cut);
        let _ = veriflop_halo2::Srs::read(&mut b.as_slice(), b.len() as u64);
    }

    /// Corrupted proving-key files (lengths included) give errors, not aborts.
    #[test]
    fn mutated_proving_key_files_fail_safely(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in proptest::option::of(any::<usize>())) {
        let s = setup();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pk");
        std::fs::write(&p, mutate(&s.pk_file, &edits, cut)).unwrap();
        let _ = veriflop_prover::setup::read_pk(&p);
    }

    /// Corrupted ceremony files (header, name, record, lengths) give errors, not aborts.
    #[test]
    fn mutated_phase2_files_fail_safely(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in proptest::option::of(any::<usize>())) {
        let s = setup();
        let b = mutate(&s.phase2, &edits, cut);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0001.ph2");
        std::fs::write(&p, &b).unwrap();
        let _ = veriflop_prover::ceremony::read(&p, None);
        let _ = veriflop_prover::ceremony::Phase2::from_bytes(CircuitKind::Committed, &Shape::new(2, 2, 2, Dtype::Int8).unwrap(), &b);
    }

    /// Corrupted model ceremony files (header, model tag, records, the σ part) give errors, not aborts.
    #[test]
    fn mutated_model_phase2_files_fail_safely(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in proptest::option::of(any::<usize>())) {
        let s = setup();
        let b = mutate(&s.model_phase2, &edits, cut);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0001.ph2");
        std::fs::write(&p, &b).unwrap();
        let _ = veriflop_prover::ceremony::read(&p, None);
        let _ = veriflop_prover::ceremony::Phase2::from_bytes(CircuitKind::Inference, &Shape::new(2, 4, 2, Dtype::Int8).unwrap(), &b);
    }

    /// Corrupted .ptau files give errors, not aborts, when opened and read.
    #[test]
    fn mutated_ptau_files_fail_safely(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in proptest::option::of(any::<usize>())) {
        use veriflop_prover::ceremony::ptau::{Ptau, Section};
        let s = setup();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.ptau");
        std::fs::write(&p, mutate(&s.ptau, &edits, cut)).unwrap();
        if let Ok(mut t) = Ptau::open(&p) {
            let _ = t.lagrange_g1(Section::LagrangeG1, 8);
            let _ = t.lagrange_g2(4);
            let _ = t.g1(Section::TauG1, 0, 9);
            let _ = t.g2(Section::BetaG2, 0, 1);
        }
    }

    /// Corrupted commitment keys give errors, or a key that still decodes to valid points.
    #[test]
    fn mutated_commit_keys_fail_safely(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in proptest::option::of(any::<usize>())) {
        let s = setup();
        let _ = veriflop_verifier::keys::ck_from_bytes(&mutate(&s.ck_file, &edits, cut));
    }
}

#[test]
fn huge_length_prefix_in_key_is_an_error() {
    let s = setup();
    // gamma_abc length prefix sits after alpha (64) and three G2 points (384).
    let mut vk = s.vk.clone();
    let at = veriflop_verifier::keys::HEADER_BYTES + 448;
    vk[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(ShapeKey::from_bytes(&vk).is_err());
    // The committed proving key's first vector (the IC points) follows α, β, γ, δ, β₁, δ₁.
    let mut pk = s.pk_file.clone();
    let at = at + 128;
    pk[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k.pk");
    std::fs::write(&p, pk).unwrap();
    assert!(veriflop_prover::setup::read_pk(&p).is_err());
    let mut ck = s.ck_file.clone();
    let at = veriflop_verifier::keys::HEADER_BYTES;
    ck[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(veriflop_verifier::keys::ck_from_bytes(&ck).is_err());
    assert!(veriflop_verifier::keys::ck_from_bytes(&s.ck_file).is_ok());
}

#[test]
fn committed_keys_of_the_old_format_are_refused_with_a_clear_message() {
    let s = setup();
    // Version 1 committed keys came from the libsnark reduction (an input row per
    // entry), version 2 ones put rows on H in order rather than in blocks,
    // version 3 ones hold h on the coset 5·H; their points do not fit this
    // prover, so the header refuses them.
    for version in [1u8, 2, 3] {
        for (bytes, what) in [(&s.vk, "verifying"), (&s.ck_file, "commitment"), (&s.pk_file, "proving")] {
            let mut old = bytes.clone();
            old[4] = version;
            let err = match what {
                "verifying" => ShapeKey::from_bytes(&old).unwrap_err().to_string(),
                "commitment" => veriflop_verifier::keys::ck_from_bytes(&old).unwrap_err().to_string(),
                _ => {
                    let dir = tempfile::tempdir().unwrap();
                    let p = dir.path().join("k.pk");
                    std::fs::write(&p, old).unwrap();
                    veriflop_prover::setup::read_pk(&p).unwrap_err().to_string()
                }
            };
            assert!(
                err.contains(&format!("version {version}")) && err.contains("setup --force` again"),
                "{what}: {err}"
            );
        }
    }
}

#[test]
fn committed_proving_keys_with_a_wrong_vector_length_are_refused() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k.pk");
    // Every vector's length prefix, in turn, one more than the shape allows.
    let mut at = veriflop_verifier::keys::HEADER_BYTES + 576;
    for i in 0..9 {
        let mut pk = s.pk_file.clone();
        let len = u64::from_le_bytes(pk[at..at + 8].try_into().unwrap());
        pk[at..at + 8].copy_from_slice(&(len + 1).to_le_bytes());
        std::fs::write(&p, &pk).unwrap();
        let err = veriflop_prover::setup::read_pk(&p).unwrap_err().to_string();
        assert!(err.contains("not a valid proving key"), "vector {i}: {err}");
        at += 8 + len as usize * if i == 3 { 128 } else { 64 };
    }
    assert_eq!(at, s.pk_file.len(), "walked the whole file");
    std::fs::write(&p, &s.pk_file[..s.pk_file.len() - 1]).unwrap();
    assert!(veriflop_prover::setup::read_pk(&p).is_err(), "truncated");
}
