//! The universal SRS: development setup, halo2 params files, snarkjs .ptau files.

use std::path::Path;
use std::process::Command;

use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Dtype, InputMatrix, Shape};
use veriflop_halo2::{keygen, prove, setup_srs, verify, Srs, SrsError};

#[test]
fn development_setups_take_a_32_byte_seed_and_differ() {
    // The seed is 32 bytes (compile_fail doctests on `setup_srs` show a u64 is refused).
    let _: fn(u32, [u8; 32]) -> Result<Srs, SrsError> = Srs::setup_dev;
    let _: fn(u32, [u8; 32]) -> Result<Srs, SrsError> = setup_srs;
    let bytes = |s: &Srs| {
        let mut v = Vec::new();
        s.write(&mut v).unwrap();
        v
    };
    // Two setups from the OS differ (different τ).
    let (a, b) = (Srs::setup_dev_random(4).unwrap(), Srs::setup_dev_random(4).unwrap());
    assert_ne!(bytes(&a)[4 + 64..4 + 128], bytes(&b)[4 + 64..4 + 128], "[τ]G1 differs");
    // A fixed seed reproduces its SRS; seeds differing only past their first
    // eight bytes (all a u64 seed had) give another τ.
    let seed = [7u8; 32];
    let mut other = seed;
    other[31] ^= 1;
    let (x, y, z) =
        (Srs::setup_dev(4, seed).unwrap(), Srs::setup_dev(4, seed).unwrap(), Srs::setup_dev(4, other).unwrap());
    assert_eq!(bytes(&x), bytes(&y));
    assert_ne!(bytes(&x), bytes(&z));
}

#[test]
fn params_file_round_trips_and_rejects_corruption() {
    let srs = setup_srs(6, [1; 32]).unwrap();
    let mut bytes = vec![];
    srs.write(&mut bytes).unwrap();
    let back = Srs::read(&mut bytes.as_slice(), bytes.len() as u64).unwrap();
    assert_eq!(back.k(), 6);
    let mut again = vec![];
    back.write(&mut again).unwrap();
    assert_eq!(again, bytes);

    // A wrong power of τ (valid curve point) breaks the powers check.
    let mut bad = bytes.clone();
    bad[4 + 3 * 64..4 + 4 * 64].copy_from_slice(&bytes[4 + 5 * 64..4 + 6 * 64]);
    assert!(matches!(Srs::read(&mut bad.as_slice(), bad.len() as u64), Err(SrsError::Inconsistent)));
    // A coordinate changed: not on the curve.
    let mut bad = bytes.clone();
    bad[4 + 64 + 7] ^= 1;
    let r = Srs::read(&mut bad.as_slice(), bad.len() as u64);
    assert!(matches!(r, Err(SrsError::Format(_))), "{r:?}");
    // Lagrange points (valid curve points) swapped, or a monomial point copied
    // into the Lagrange half: the basis no longer matches the powers.
    let lag = 4 + 64 * 64;
    let mut bad = bytes.clone();
    bad[lag..lag + 64].copy_from_slice(&bytes[lag + 64..lag + 128]);
    bad[lag + 64..lag + 128].copy_from_slice(&bytes[lag..lag + 64]);
    let r = Srs::read(&mut bad.as_slice(), bad.len() as u64);
    assert!(matches!(r, Err(SrsError::Format(ref m)) if m.contains("Lagrange")), "{r:?}");
    let mut bad = bytes.clone();
    bad[lag + 10 * 64..lag + 11 * 64].copy_from_slice(&bytes[4 + 10 * 64..4 + 11 * 64]);
    assert!(Srs::read(&mut bad.as_slice(), bad.len() as u64).is_err());
    // A Lagrange coordinate changed: not on the curve, refused before any check uses it.
    let mut bad = bytes.clone();
    bad[lag + 3 * 64 + 5] ^= 1;
    let r = Srs::read(&mut bad.as_slice(), bad.len() as u64);
    assert!(matches!(r, Err(SrsError::Format(ref m)) if m.contains("Lagrange")), "{r:?}");
    // Truncated / huge k: rejected before reading points.
    assert!(Srs::read(&mut &bytes[..100], 100).is_err());
    let mut huge = bytes.clone();
    huge[..4].copy_from_slice(&30u32.to_le_bytes());
    assert!(matches!(Srs::read(&mut huge.as_slice(), huge.len() as u64), Err(SrsError::BadK { k: 30 })));
}

#[test]
fn snarkjs_ptau_fixture_loads_as_powers_of_tau() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pot6.ptau");
    for k in 1..=6 {
        assert_eq!(Srs::from_ptau_file(&path, k).unwrap().k(), k);
    }
    assert!(matches!(Srs::from_ptau_file(&path, 7), Err(SrsError::TooSmall { have: 6, need: 7 })));
    let bytes = std::fs::read(&path).unwrap();
    assert!(Srs::from_ptau(&bytes[..bytes.len() / 2], 4).is_err(), "truncated");
    assert!(Srs::from_ptau(b"not a ptau", 4).is_err());
    // Header 12 + 12 + 44 bytes, then τ·G1 from byte 80: corrupt [τ]G1's x.
    let mut bad = bytes.clone();
    bad[80 + 64 + 5] ^= 0x10;
    assert!(Srs::from_ptau(&bad, 6).is_err(), "corrupted point");
}

/// A fresh ceremony file from snarkjs (`tools/`), then keys and a proof from it.
#[test]
fn keys_from_a_snarkjs_ceremony_prove_and_verify() {
    let snarkjs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/node_modules/.bin/snarkjs");
    assert!(snarkjs.exists(), "snarkjs is not installed: run `npm ci --prefix tools`");
    let dir = std::env::temp_dir().join(format!("veriflop-halo2-ptau-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (p0, p1) = (dir.join("pot_0.ptau"), dir.join("pot_1.ptau"));
    let run = |args: &[&str]| assert!(Command::new(&snarkjs).args(args).output().unwrap().status.success(), "{args:?}");
    run(&["powersoftau", "new", "bn128", "10", p0.to_str().unwrap()]);
    run(&["powersoftau", "contribute", p0.to_str().unwrap(), p1.to_str().unwrap(), "--name=test", "-e=veriflop"]);
    let srs = Srs::from_ptau_file(&p1, 10).unwrap();
    std::fs::remove_dir_all(&dir).ok();

    let shape = Shape::new(1, 2, 2, Dtype::Int8).unwrap();
    let (pk, vk) = keygen(&shape, &srs).unwrap();
    let a = InputMatrix::random(1, 2, Dtype::Int8, 3).unwrap();
    let b = InputMatrix::random(2, 2, Dtype::Int8, 4).unwrap();
    let c = matmul(&shape, &a, &b).unwrap();
    let (job, prov) = (ark_bn254::Fr::from(1u64), ark_bn254::Fr::from(2u64));
    let proof = prove(&pk, job, prov, &a, &b, &c).unwrap();
    use veriflop_circuits::commit::{commit_input, commit_output, Role};
    let public =
        [job, prov, commit_input(&shape, Role::A, &a), commit_input(&shape, Role::B, &b), commit_output(&shape, &c)];
    verify(&vk, &public, &proof).unwrap();
}
