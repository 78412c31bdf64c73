//! SRS fingerprints and the key cache: keys round-trip
//! through their files; corrupt, mismatching or crafted files are refused with
//! a reason (never a panic or an unbounded allocation) and re-derived.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{small, srs};
use veriflop_circuits::{Dtype, Shape};
use veriflop_halo2::keycache::HEADER_BYTES;
use veriflop_halo2::{keygen, keygen_vk, prove, verify, KeyCache, KeySource, Srs};

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "veriflop-keycache-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn fingerprints_name_tau_and_are_read_cheaply() {
    let dir = TempDir::new();
    let path = dir.path().join("a.srs");
    srs().write_file(&path).unwrap();
    assert_eq!(Srs::read_fingerprint(&path).unwrap(), (11, srs().fingerprint()));
    // Two development setups: two τ, two fingerprints.
    assert_ne!(Srs::setup_dev_random(4).unwrap().fingerprint(), Srs::setup_dev_random(4).unwrap().fingerprint());
    // Prefixes of one ceremony share τ, hence the fingerprint.
    let ptau = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pot6.ptau");
    let (p4, p6) = (Srs::from_ptau_file(&ptau, 4).unwrap(), Srs::from_ptau_file(&ptau, 6).unwrap());
    assert_eq!(p4.fingerprint(), p6.fingerprint());
    assert_ne!(p4.fingerprint(), srs().fingerprint());
    // A truncated file or a point off the curve is an error.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    assert!(Srs::read_fingerprint(&path).is_err());
    let mut bad = bytes.clone();
    bad[bytes.len() - 100] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert!(Srs::read_fingerprint(&path).is_err());
}

#[test]
fn keys_round_trip_through_the_cache() {
    let fx = small();
    let dir = TempDir::new();
    let cache = KeyCache::new(dir.path());
    let fp = srs().fingerprint();
    assert!(cache.load_vk(&fx.shape, &fp).unwrap().is_none());
    assert!(cache.load_pk(&fx.shape, &fp).unwrap().is_none());

    // First use derives (and writes both files); the second loads.
    let mut derived = 0;
    let got = cache
        .prover_key(&fx.shape, &fp, || {
            derived += 1;
            keygen(&fx.shape, srs())
        })
        .unwrap();
    assert_eq!((got.source, derived), (KeySource::Derived, 1));
    assert!(got.refused.is_none() && got.save_error.is_none());
    let name = got.path.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(name, format!("halo2-2x3x4-int8-{}.h2pk", fp.short()));
    let got = cache.prover_key(&fx.shape, &fp, || -> Result<_, ()> { panic!("must not derive") }).unwrap();
    assert_eq!(got.source, KeySource::Loaded);
    let vk = cache.verifier_key(&fx.shape, &fp, || -> Result<_, ()> { panic!("must not derive") }).unwrap();
    assert_eq!(vk.source, KeySource::Loaded);

    // The loaded keys are the derived ones: same fingerprint and proof length,
    // and a proof made with the loaded proving key verifies with both verifying keys.
    let vk = vk.key;
    assert_eq!(vk.fingerprint(), fx.vk.fingerprint());
    assert_eq!(vk.proof_len(), fx.vk.proof_len());
    assert_eq!(vk.srs_fingerprint(), fp);
    let proof = prove(&got.key, fx.public[0], fx.public[1], &fx.a, &fx.b, &fx.c).unwrap();
    verify(&vk, &fx.public, &proof).unwrap();
    verify(&fx.vk, &fx.public, &proof).unwrap();
    verify(&vk, &fx.public, &fx.proof).unwrap();
    assert_eq!(got.key.verifier_key().fingerprint(), fx.vk.fingerprint());
}

/// keccak256 of the payload, rewritten in the header after an edit (a crafted
/// file, to reach the checks behind the checksum).
fn rehash(bytes: &mut [u8]) {
    use sha3::Digest;
    let h = sha3::Keccak256::digest(&bytes[HEADER_BYTES..]);
    bytes[64..96].copy_from_slice(&h);
}

#[test]
fn corrupt_or_mismatching_key_files_are_refused_and_rederived() {
    let fx = small();
    let dir = TempDir::new();
    let cache = KeyCache::new(dir.path());
    let fp = srs().fingerprint();
    let vk_path = cache.save_vk(&fx.vk).unwrap();
    let pk_path = cache.save_pk(&fx.pk).unwrap();
    let (vk_bytes, pk_bytes) = (std::fs::read(&vk_path).unwrap(), std::fs::read(&pk_path).unwrap());
    let refused = |path: &Path, bytes: &[u8], want: &str| {
        std::fs::write(path, bytes).unwrap();
        let e = if path == vk_path {
            cache.load_vk(&fx.shape, &fp).err().map(|e| e.to_string())
        } else {
            cache.load_pk(&fx.shape, &fp).err().map(|e| e.to_string())
        };
        let e = e.unwrap_or_else(|| panic!("accepted a file that should fail with {want:?}"));
        assert!(e.contains(want), "{e} (wanted {want:?})");
        assert!(e.contains(path.file_name().unwrap().to_str().unwrap()), "{e} names the file");
    };

    // A flipped byte anywhere in the payload: the checksum.
    for at in [HEADER_BYTES, HEADER_BYTES + 200, vk_bytes.len() - 1] {
        let mut b = vk_bytes.clone();
        b[at] ^= 0x40;
        refused(&vk_path, &b, "corrupt");
    }
    for at in [HEADER_BYTES + 10, pk_bytes.len() / 2, pk_bytes.len() - 3] {
        let mut b = pk_bytes.clone();
        b[at] ^= 0x01;
        refused(&pk_path, &b, "corrupt");
    }
    // Truncated, padded, empty, not a key file.
    refused(&vk_path, &vk_bytes[..vk_bytes.len() - 7], "truncated");
    refused(&vk_path, &[vk_bytes.clone(), vec![0; 3]].concat(), "truncated or padded");
    refused(&vk_path, &[], "not a veriflop halo2 key file");
    refused(&pk_path, b"VFVK not this", "not a veriflop halo2 key file");
    // A verifying key where a proving key is expected.
    refused(&pk_path, &vk_bytes, "not a halo2 proving key file");
    // Another shape's key under this shape's name.
    let other = Shape::new(3, 2, 4, Dtype::Int8).unwrap();
    let other_vk = keygen_vk(&other, srs()).unwrap();
    let other_path = cache.save_vk(&other_vk).unwrap();
    refused(&vk_path, &std::fs::read(&other_path).unwrap(), "holds the key of 3×2×4 int8");
    // A key from another SRS under this SRS's name.
    let srs2 = veriflop_halo2::setup_srs(11, [43; 32]).unwrap();
    let vk2 = keygen_vk(&fx.shape, &srs2).unwrap();
    let p2 = cache.save_vk(&vk2).unwrap();
    assert_ne!(p2, vk_path);
    refused(&vk_path, &std::fs::read(&p2).unwrap(), "derived from the SRS");
    // Crafted files that pass the checksum: every check behind it still holds.
    let mut b = vk_bytes.clone();
    b[HEADER_BYTES + 3] ^= 1; // [1]G1 off the curve
    rehash(&mut b);
    refused(&vk_path, &b, "not a point of G1");
    let vk_at = HEADER_BYTES + 320;
    let mut b = vk_bytes.clone();
    b[vk_at + 1] = 30; // halo2's k
    rehash(&mut b);
    refused(&vk_path, &b, "for 2^30 rows");
    let mut b = vk_bytes.clone();
    b[vk_at + 6..vk_at + 10].copy_from_slice(&1_000_000u32.to_le_bytes()); // fixed column count
    rehash(&mut b);
    refused(&vk_path, &b, "halo2 verifying key");
    // Proving key: the params part's powers, then halo2's length prefixes and scalars.
    let params_at = HEADER_BYTES;
    let mut b = pk_bytes.clone();
    b.swap(params_at + 4 + 64, params_at + 4 + 128); // scramble a power's bytes
    rehash(&mut b);
    refused(&pk_path, &b, "the SRS part");
    let k = veriflop_halo2::circuit_k(&fx.shape);
    let halo2_at = HEADER_BYTES + (4 + 2 * (64usize << k) + 256);
    let vk_len = vk_bytes.len() - HEADER_BYTES - 320;
    let l0_at = halo2_at + vk_len;
    let mut b = pk_bytes.clone();
    b[l0_at..l0_at + 4].copy_from_slice(&u32::MAX.to_be_bytes()); // a 2^32-coefficient polynomial
    rehash(&mut b);
    refused(&pk_path, &b, "coefficients, not 2^");
    let mut b = pk_bytes.clone();
    b[l0_at + 4..l0_at + 36].fill(0xff); // a scalar ≥ r
    rehash(&mut b);
    refused(&pk_path, &b, "coefficient 0 of l0 is not a canonical scalar");
    // Larger than any key of the shape: refused before it is read.
    std::fs::write(&vk_path, vec![0u8; 8 << 20]).unwrap();
    let e = cache.load_vk(&fx.shape, &fp).err().expect("refused");
    assert!(e.msg.contains("more than"), "{e}");

    // Through the cache: a refused file is reported, re-derived and replaced.
    let mut b = vk_bytes.clone();
    b[HEADER_BYTES + 500] ^= 2;
    std::fs::write(&vk_path, &b).unwrap();
    let got = cache.verifier_key(&fx.shape, &fp, || -> Result<_, ()> { Ok(fx.vk.clone()) }).unwrap();
    assert_eq!(got.source, KeySource::Derived);
    assert!(got.refused.as_ref().unwrap().msg.contains("corrupt"));
    assert_eq!(std::fs::read(&vk_path).unwrap(), vk_bytes);
    let again = cache.verifier_key(&fx.shape, &fp, || -> Result<_, ()> { panic!("must not derive") }).unwrap();
    assert_eq!(again.source, KeySource::Loaded);
    // No temporary files are left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
