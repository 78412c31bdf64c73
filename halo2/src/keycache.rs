//! Derived keys on disk: a shape's halo2 keys are derived once per (shape, SRS)
//! and kept in files next to the SRS, so the prover CLI and the verifier
//! service load them in milliseconds instead of deriving them again (seconds;
//! tens of seconds when the SRS is larger than the shape needs, because the
//! Lagrange basis of the smaller domain is an FFT over G1).
//!
//! **Files.** `halo2-<MxKxN>-<dtype>-<srs>.h2vk` (verifying key) and `.h2pk`
//! (proving key), where `<srs>` is the first 8 bytes of the SRS's
//! [`SrsFingerprint`] in hex. Each is a 96-byte header, then a payload:
//!
//! | bytes | |
//! |---|---|
//! | 4 | magic `VFH2` |
//! | 1 | format version 1 |
//! | 1 | 1 verifying key, 2 proving key |
//! | 1, 1 | dtype code, 0 |
//! | 12 | m, k, n (u32 LE) |
//! | 4 | log2 of the circuit's rows (u32 LE) |
//! | 32 | the SRS fingerprint |
//! | 8 | payload bytes (u64 LE) |
//! | 32 | keccak256 of the payload |
//!
//! Verifying key payload: [1]G1, G2, [τ]G2 (raw points), then halo2's
//! `VerifyingKey::write` (raw format). Proving key payload: the first 2^k
//! powers as a halo2 params file (with their Lagrange basis), then halo2's
//! `ProvingKey::write` (raw format).
//!
//! **Loading checks** (cheapest first; any failure refuses the file with a
//! message saying why, and callers derive the key again and replace the file):
//! the file's size against a bound for the shape's k before reading it; the
//! header's shape, circuit size and SRS fingerprint against what the caller
//! expects; the payload's length and keccak256 (a flipped byte anywhere is
//! caught here); the points' encodings, curve and subgroup membership and that
//! they hash to the fingerprint; the proving key's powers and Lagrange basis as
//! for any SRS file; every length prefix in halo2's encoding against the shape
//! and every scalar canonical (halo2's readers allocate what the prefixes say
//! and panic on short input or a scalar ≥ r) before halo2's own readers run
//! (which check the same), under `catch_unwind`; the whole payload consumed. The
//! constraint system itself is never read: it is rebuilt from the shape.
//!
//! Files are written to a temporary name and renamed into place, so readers see
//! the old file or the whole new one. A key file is as trusted as the SRS next
//! to it: whoever can write the key directory can replace either.

use std::io::{Cursor, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine, G2Affine};
use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_proofs::halo2curves::serde::SerdeObject;
use halo2_proofs::halo2curves::CurveAffine;
use halo2_proofs::plonk::{ProvingKey, VerifyingKey};
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::SerdeFormat;
use veriflop_circuits::{Dtype, Shape};

use crate::circuit::{MatmulCircuit, ShapeParam};
use crate::proof::{circuit_k, proof_len, ProverKey, VerifierKey};
use crate::srs::{in_g2_subgroup, params_file_bytes, verifier_params, Srs, SrsFingerprint};

pub const KEY_MAGIC: &[u8; 4] = b"VFH2";
const VERSION: u8 = 1;
pub const HEADER_BYTES: usize = 96;
/// Bound on columns (fixed, permutation) and selectors assumed when bounding a
/// file's size before reading it (the matmul circuit has a few dozen).
const MAX_COLUMNS: u64 = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Verifying = 1,
    Proving = 2,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Verifying => "verifying",
            Kind::Proving => "proving",
        }
    }
}

/// Where a key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Read from a checked key file.
    Loaded,
    /// Derived from the SRS (and then written to the cache).
    Derived,
}

impl KeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::Loaded => "loaded",
            KeySource::Derived => "derived",
        }
    }
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key file that cannot be used, and why.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{}: {msg}", path.display())]
pub struct KeyFileError {
    pub path: PathBuf,
    pub msg: String,
}

/// A key from the cache or freshly derived.
pub struct Fetched<K> {
    pub key: K,
    pub source: KeySource,
    /// Loading the key file, or deriving the key (with whatever the derivation
    /// needed first, e.g. reading the SRS) and writing it.
    pub took: Duration,
    /// The key file.
    pub path: PathBuf,
    /// A key file that was there but refused (it has been replaced).
    pub refused: Option<KeyFileError>,
    /// The derived key could not be written (it is used all the same).
    pub save_error: Option<KeyFileError>,
}

/// Derived halo2 keys in a directory (the one holding the SRS).
#[derive(Clone, Debug)]
pub struct KeyCache {
    dir: PathBuf,
}

impl KeyCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KeyCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, shape: &Shape, fp: &SrsFingerprint, kind: Kind) -> PathBuf {
        let ext = match kind {
            Kind::Verifying => "h2vk",
            Kind::Proving => "h2pk",
        };
        self.dir.join(format!("halo2-{}-{}.{ext}", shape.id(), fp.short()))
    }

    /// The verifying key file of `shape` derived from the SRS `fp`.
    pub fn vk_path(&self, shape: &Shape, fp: &SrsFingerprint) -> PathBuf {
        self.path(shape, fp, Kind::Verifying)
    }

    /// The proving key file of `shape` derived from the SRS `fp`.
    pub fn pk_path(&self, shape: &Shape, fp: &SrsFingerprint) -> PathBuf {
        self.path(shape, fp, Kind::Proving)
    }

    /// The cached verifying key: `None` without a file, an error for a file
    /// that fails a check (see the module docs).
    pub fn load_vk(&self, shape: &Shape, fp: &SrsFingerprint) -> Result<Option<VerifierKey>, KeyFileError> {
        let path = self.vk_path(shape, fp);
        let Some(bytes) = read_bounded(&path, Kind::Verifying, shape)? else { return Ok(None) };
        decode_vk(&bytes, shape, fp).map(Some).map_err(|msg| KeyFileError { path, msg })
    }

    /// The cached proving key (see [`KeyCache::load_vk`]).
    pub fn load_pk(&self, shape: &Shape, fp: &SrsFingerprint) -> Result<Option<ProverKey>, KeyFileError> {
        let path = self.pk_path(shape, fp);
        let Some(bytes) = read_bounded(&path, Kind::Proving, shape)? else { return Ok(None) };
        decode_pk(&bytes, shape, fp).map(Some).map_err(|msg| KeyFileError { path, msg })
    }

    /// Writes a verifying key file (temporary file + rename).
    pub fn save_vk(&self, vk: &VerifierKey) -> Result<PathBuf, KeyFileError> {
        let path = self.vk_path(&vk.shape, &vk.srs_fingerprint());
        let (header, payload) = encode_vk(vk);
        write_atomic(&path, &[&header, &payload])?;
        Ok(path)
    }

    /// Writes a proving key file (temporary file + rename).
    pub fn save_pk(&self, pk: &ProverKey) -> Result<PathBuf, KeyFileError> {
        let path = self.pk_path(&pk.shape, &pk.srs_fingerprint());
        let (header, payload) = encode_pk(pk);
        write_atomic(&path, &[&header, &payload])?;
        Ok(path)
    }

    /// The verifying key of `shape` for the SRS `fp`: the cached one, or else
    /// `derive`'s, which is then written to the cache. `derive` runs only when
    /// no usable file exists.
    pub fn verifier_key<E>(
        &self,
        shape: &Shape,
        fp: &SrsFingerprint,
        derive: impl FnOnce() -> Result<VerifierKey, E>,
    ) -> Result<Fetched<VerifierKey>, E> {
        let t = Instant::now();
        let path = self.vk_path(shape, fp);
        let refused = match self.load_vk(shape, fp) {
            Ok(Some(key)) => {
                return Ok(Fetched {
                    key,
                    source: KeySource::Loaded,
                    took: t.elapsed(),
                    path,
                    refused: None,
                    save_error: None,
                })
            }
            Ok(None) => None,
            Err(e) => Some(e),
        };
        let key = derive()?;
        let save_error = self.save_vk(&key).err();
        Ok(Fetched { key, source: KeySource::Derived, took: t.elapsed(), path, refused, save_error })
    }

    /// The proving key of `shape` for the SRS `fp`: the cached one, or else
    /// `derive`'s (proving and verifying keys, both then written to the cache).
    pub fn prover_key<E>(
        &self,
        shape: &Shape,
        fp: &SrsFingerprint,
        derive: impl FnOnce() -> Result<(ProverKey, VerifierKey), E>,
    ) -> Result<Fetched<ProverKey>, E> {
        let t = Instant::now();
        let path = self.pk_path(shape, fp);
        let refused = match self.load_pk(shape, fp) {
            Ok(Some(key)) => {
                return Ok(Fetched {
                    key,
                    source: KeySource::Loaded,
                    took: t.elapsed(),
                    path,
                    refused: None,
                    save_error: None,
                })
            }
            Ok(None) => None,
            Err(e) => Some(e),
        };
        let (key, vk) = derive()?;
        let save_error = self.save_pk(&key).err().or_else(|| self.save_vk(&vk).err());
        Ok(Fetched { key, source: KeySource::Derived, took: t.elapsed(), path, refused, save_error })
    }
}

/// Largest payload a key file for 2^k rows can have (before anything is read).
fn max_payload(kind: Kind, k: u32) -> u64 {
    let n = 1u64 << k;
    let vk = 320 + 10 + 2 * MAX_COLUMNS * 64 + MAX_COLUMNS * (n / 8 + 1);
    match kind {
        Kind::Verifying => vk,
        Kind::Proving => params_file_bytes(k) + vk + (3 + 4 * MAX_COLUMNS) * (4 + 32 * n) + 16,
    }
}

/// The file's bytes if it exists and is not larger than a key for the shape can be.
fn read_bounded(path: &Path, kind: Kind, shape: &Shape) -> Result<Option<Vec<u8>>, KeyFileError> {
    let err = |msg: String| KeyFileError { path: path.to_path_buf(), msg };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e.to_string())),
    };
    let max = HEADER_BYTES as u64 + max_payload(kind, circuit_k(shape));
    if !meta.is_file() {
        return Err(err("not a regular file".into()));
    }
    if meta.len() > max {
        return Err(err(format!(
            "{} bytes is more than a {} key for {shape} can have ({max})",
            meta.len(),
            kind.name()
        )));
    }
    std::fs::read(path).map(Some).map_err(|e| err(e.to_string()))
}

fn keccak(bytes: &[u8]) -> [u8; 32] {
    use sha3::Digest;
    sha3::Keccak256::digest(bytes).into()
}

fn header(kind: Kind, shape: &Shape, fp: &SrsFingerprint, payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_BYTES);
    h.extend_from_slice(KEY_MAGIC);
    h.extend_from_slice(&[VERSION, kind as u8, shape.dtype.code(), 0]);
    for d in [shape.m, shape.k, shape.n, circuit_k(shape)] {
        h.extend_from_slice(&d.to_le_bytes());
    }
    h.extend_from_slice(&fp.0);
    h.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    h.extend_from_slice(&keccak(payload));
    debug_assert_eq!(h.len(), HEADER_BYTES);
    h
}

/// Checks the header against what the caller expects and the payload against
/// its length and hash; returns the payload.
fn check_header<'a>(bytes: &'a [u8], kind: Kind, shape: &Shape, fp: &SrsFingerprint) -> Result<&'a [u8], String> {
    if bytes.len() < HEADER_BYTES || &bytes[..4] != KEY_MAGIC {
        return Err("not a veriflop halo2 key file".into());
    }
    if bytes[4] != VERSION {
        return Err(format!("key file format version {}, this build reads {VERSION}", bytes[4]));
    }
    if bytes[5] != kind as u8 || bytes[7] != 0 {
        return Err(format!("not a halo2 {} key file", kind.name()));
    }
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let dtype = Dtype::from_code(bytes[6]).map_err(|e| e.to_string())?;
    let got = Shape::new(u32_at(8), u32_at(12), u32_at(16), dtype).map_err(|e| e.to_string())?;
    if got != *shape {
        return Err(format!("holds the key of {got}, not {shape}"));
    }
    let (k_file, k) = (u32_at(20), circuit_k(shape));
    if k_file != k {
        return Err(format!("made for a circuit of 2^{k_file} rows; {shape} has 2^{k} in this version"));
    }
    if bytes[24..56] != fp.0 {
        return Err(format!(
            "derived from the SRS {}, not the SRS {} it is looked up for",
            hex::encode(&bytes[24..32]),
            fp.short()
        ));
    }
    let len = u64::from_le_bytes(bytes[56..64].try_into().unwrap());
    let payload = &bytes[HEADER_BYTES..];
    if len != payload.len() as u64 {
        return Err(format!("truncated or padded: {} payload bytes, the header says {len}", payload.len()));
    }
    if keccak(payload) != bytes[64..96] {
        return Err("corrupt: the payload does not match its keccak256 in the header".into());
    }
    Ok(payload)
}

fn encode_vk(vk: &VerifierKey) -> (Vec<u8>, Vec<u8>) {
    let p = &vk.params;
    let mut payload = Vec::new();
    payload.extend_from_slice(&p.get_g()[0].to_raw_bytes());
    payload.extend_from_slice(&p.g2().to_raw_bytes());
    payload.extend_from_slice(&p.s_g2().to_raw_bytes());
    vk.vk.write(&mut payload, SerdeFormat::RawBytes).expect("writing to a Vec");
    (header(Kind::Verifying, &vk.shape, &vk.srs_fingerprint(), &payload), payload)
}

fn encode_pk(pk: &ProverKey) -> (Vec<u8>, Vec<u8>) {
    let mut payload = Vec::new();
    pk.params.write_custom(&mut payload, SerdeFormat::RawBytes).expect("writing to a Vec");
    pk.pk.write(&mut payload, SerdeFormat::RawBytes).expect("writing to a Vec");
    (header(Kind::Proving, &pk.shape, &pk.srs_fingerprint(), &payload), payload)
}

fn read_point<P: SerdeObject>(r: &mut &[u8], what: &str) -> Result<P, String> {
    P::read_raw(r).map_err(|e| format!("{what}: {e}"))
}

/// Reads halo2's verifying-key encoding for `shape` from the front of `bytes`
/// (after checking its version and k) and returns the key and its length.
fn read_halo2_vk(bytes: &[u8], shape: &Shape) -> Result<(VerifyingKey<G1Affine>, usize), String> {
    let k = circuit_k(shape);
    if bytes.len() < 10 || bytes[0] != 0x02 {
        return Err("halo2 verifying key: bad version byte".into());
    }
    let k_vk = u32::from_le_bytes(bytes[1..5].try_into().unwrap());
    if k_vk != k {
        return Err(format!("halo2 verifying key for 2^{k_vk} rows, the shape has 2^{k}"));
    }
    let mut cursor = Cursor::new(bytes);
    let read = catch_unwind(AssertUnwindSafe(|| {
        VerifyingKey::<G1Affine>::read::<_, MatmulCircuit>(&mut cursor, SerdeFormat::RawBytes, ShapeParam(Some(*shape)))
    }));
    let vk = match read {
        Ok(Ok(vk)) => vk,
        Ok(Err(e)) => return Err(format!("halo2 verifying key: {e}")),
        Err(_) => return Err("halo2 verifying key: malformed (the reader panicked)".into()),
    };
    // The column counts come from the file; they must be the constraint system's.
    let fixed = vk.cs().num_fixed_columns();
    if vk.fixed_commitments().len() != fixed {
        return Err(format!(
            "halo2 verifying key: {} fixed commitments for {fixed} fixed columns",
            vk.fixed_commitments().len()
        ));
    }
    if vk.fixed_commitments().iter().chain(vk.permutation().commitments()).any(|p| !bool::from(p.is_on_curve())) {
        return Err("halo2 verifying key: a commitment is not on the curve".into());
    }
    Ok((vk, cursor.position() as usize))
}

fn decode_vk(bytes: &[u8], shape: &Shape, fp: &SrsFingerprint) -> Result<VerifierKey, String> {
    let payload = check_header(bytes, Kind::Verifying, shape, fp)?;
    let mut r = payload;
    let g0: G1Affine = read_point(&mut r, "[1]G1")?;
    let g2: G2Affine = read_point(&mut r, "G2")?;
    let s_g2: G2Affine = read_point(&mut r, "[τ]G2")?;
    if !bool::from(g0.is_on_curve()) || bool::from(g0.is_identity()) {
        return Err("[1]G1 is not a point of G1".into());
    }
    for p in [&g2, &s_g2] {
        if !bool::from(p.is_on_curve()) || bool::from(p.is_identity()) || !in_g2_subgroup(p) {
            return Err("a G2 point is not in G2".into());
        }
    }
    if SrsFingerprint::of(&g0, &g2, &s_g2) != *fp {
        return Err("its SRS points do not hash to the SRS fingerprint".into());
    }
    let (vk, used) = read_halo2_vk(r, shape)?;
    if used != r.len() {
        return Err(format!("{} trailing bytes", r.len() - used));
    }
    let params = verifier_params(circuit_k(shape), g0, g2, s_g2);
    let proof_len = proof_len(&params, &vk);
    Ok(VerifierKey { shape: *shape, vk, params, proof_len })
}

/// Walks the length prefixes of halo2's proving-key encoding after its
/// verifying key: three polynomials, then the fixed values and polynomials and
/// the permutation's (count-prefixed vectors), each polynomial 2^k scalars.
fn check_pk_layout(rest: &[u8], k: u32, fixed: usize, perm: usize) -> Result<(), String> {
    let n = 1usize << k;
    let mut at = 0usize;
    let u32_be = |at: &mut usize| -> Result<usize, String> {
        let b = rest.get(*at..*at + 4).ok_or("halo2 proving key: truncated")?;
        *at += 4;
        Ok(u32::from_be_bytes(b.try_into().unwrap()) as usize)
    };
    let poly = |at: &mut usize, what: &str| -> Result<(), String> {
        let len = u32_be(at)?;
        if len != n {
            return Err(format!("halo2 proving key: {what} has {len} coefficients, not 2^{k}"));
        }
        let coeffs = rest.get(*at..*at + 32 * n).ok_or("halo2 proving key: truncated")?;
        // halo2's reader asserts (panics) on a scalar ≥ r: refuse it here first.
        if let Some(i) = coeffs.chunks_exact(32).position(|c| Fr::from_raw_bytes(c).is_none()) {
            return Err(format!("halo2 proving key: coefficient {i} of {what} is not a canonical scalar"));
        }
        *at += 32 * n;
        Ok(())
    };
    for what in ["l0", "l_last", "l_active_row"] {
        poly(&mut at, what)?;
    }
    for (what, count) in [
        ("fixed values", fixed),
        ("fixed polynomials", fixed),
        ("permutations", perm),
        ("permutation polynomials", perm),
    ] {
        let mut c = [0u8; 4];
        c.copy_from_slice(rest.get(at..at + 4).ok_or("halo2 proving key: truncated")?);
        at += 4;
        let got = u32::from_be_bytes(c) as usize;
        if got != count {
            return Err(format!("halo2 proving key: {got} {what}, the key has {count} columns"));
        }
        for _ in 0..count {
            poly(&mut at, what)?;
        }
    }
    if at != rest.len() {
        return Err(format!("halo2 proving key: {} trailing bytes", rest.len() - at));
    }
    Ok(())
}

fn decode_pk(bytes: &[u8], shape: &Shape, fp: &SrsFingerprint) -> Result<ProverKey, String> {
    let payload = check_header(bytes, Kind::Proving, shape, fp)?;
    let k = circuit_k(shape);
    let plen = params_file_bytes(k) as usize;
    if payload.len() < plen || payload[..4] != k.to_le_bytes() {
        return Err(format!("the SRS part is not a params file of 2^{k} points"));
    }
    let srs = Srs::read(&mut &payload[..plen], plen as u64).map_err(|e| format!("the SRS part: {e}"))?;
    if srs.fingerprint() != *fp {
        return Err("its SRS points do not hash to the SRS fingerprint".into());
    }
    let pk_bytes = &payload[plen..];
    let (vk, used) = read_halo2_vk(pk_bytes, shape)?;
    check_pk_layout(&pk_bytes[used..], k, vk.fixed_commitments().len(), vk.permutation().commitments().len())?;
    let mut cursor = Cursor::new(pk_bytes);
    let read = catch_unwind(AssertUnwindSafe(|| {
        ProvingKey::<G1Affine>::read::<_, MatmulCircuit>(&mut cursor, SerdeFormat::RawBytes, ShapeParam(Some(*shape)))
    }));
    let pk = match read {
        Ok(Ok(pk)) => pk,
        Ok(Err(e)) => return Err(format!("halo2 proving key: {e}")),
        Err(_) => return Err("halo2 proving key: a scalar is not canonical or the encoding is malformed".into()),
    };
    if cursor.position() as usize != pk_bytes.len() {
        return Err("halo2 proving key: trailing bytes".into());
    }
    let params = srs.into_params();
    let vparams = verifier_params(k, params.get_g()[0], params.g2(), params.s_g2());
    let proof_len = proof_len(&vparams, pk.get_vk());
    Ok(ProverKey { shape: *shape, pk, params, proof_len })
}

/// Writes `parts` to `path` through a temporary file in the same directory
/// (synced, then renamed over `path`).
fn write_atomic(path: &Path, parts: &[&[u8]]) -> Result<(), KeyFileError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp =
        path.with_file_name(format!(".{name}.tmp{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        for p in parts {
            f.write_all(p)?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(KeyFileError { path: path.to_path_buf(), msg: format!("writing the key file: {e}") });
    }
    Ok(())
}
