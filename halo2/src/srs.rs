//! One universal SRS (KZG powers of τ over BN254) for every shape.
//!
//! A shape's keys use the first 2^k powers (k from its layout), so one SRS of
//! degree 2^K serves every shape with k ≤ K; no per-shape setup exists.
//!
//! Sources:
//! - [`Srs::setup_dev_random`]: a *development* SRS with τ drawn from a 32-byte
//!   seed from the operating system's generator; whoever ran it could keep τ and
//!   forge proofs. Never for real payments. [`Srs::setup_dev`] takes the 32-byte
//!   seed itself (reproducible tests); there is no smaller seed.
//! - [`Srs::from_ptau`]: the first 2^k powers of a snarkjs `.ptau` file, the
//!   format of the Perpetual Powers of Tau ceremony (BN254, "bn128") — the
//!   production path: τ is then unknown unless every contributor colluded.
//! - [`Srs::read`] / [`Srs::write`]: halo2's own params format
//!   (`k` as u32 LE, 2^k G1 monomial points, 2^k G1 Lagrange points, g2, τ·g2;
//!   points as raw Montgomery limbs), as used by the halo2 ecosystem's
//!   published `kzg_bn254_*.srs` files.
//!
//! Every loaded SRS is checked to *be* a powers-of-τ sequence (two pairing
//! equations, one with a random linear combination). A `.ptau` file's Lagrange
//! basis is computed from the monomial one (an FFT over G1: slow for large k,
//! once at import); a params file's Lagrange basis is checked against the
//! monomial one with a random linear combination (two MSMs, fast), so a corrupt
//! or inconsistent file is an error, not a source of unsound keys.
//!
//! [`SrsFingerprint`] names an SRS by τ: a hash of [1]G1, G2 and [τ]G2, so an SRS
//! and any prefix of it (the same τ) share it, and so do the keys derived from
//! them. [`Srs::read_fingerprint`] reads it off a params file without loading
//! the file (three points), for the key cache (`crate::keycache`).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use halo2_proofs::arithmetic::best_multiexp;
use halo2_proofs::halo2curves::bn256::{multi_miller_loop, Bn256, Fq, Fq2, Fr, G1Affine, G2Affine, G2Prepared, Gt};
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_proofs::halo2curves::group::{Curve, Group};
use halo2_proofs::halo2curves::pairing::MillerLoopResult;
use halo2_proofs::halo2curves::serde::SerdeObject;
use halo2_proofs::halo2curves::CurveAffine;
use halo2_proofs::poly::commitment::{Params, ParamsProver};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::layout::MAX_K;

/// Why an SRS could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SrsError {
    #[error("k = {k} is outside 1..={MAX_K}")]
    BadK { k: u32 },
    #[error("the SRS has degree 2^{have}, the circuit needs 2^{need}")]
    TooSmall { have: u32, need: u32 },
    #[error("malformed SRS file: {0}")]
    Format(String),
    #[error("the SRS is not a sequence of powers of one τ")]
    Inconsistent,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Universal KZG parameters: [τ^i]G1 for i < 2^k, G2 and [τ]G2.
///
/// Cloning is cheap (the points are shared), and so is deriving keys for a
/// circuit of the SRS's own size: nothing is copied.
#[derive(Clone, Debug)]
pub struct Srs {
    params: Arc<ParamsKZG<Bn256>>,
}

/// Which τ an SRS (or a key derived from one) is for: keccak256 of a domain tag,
/// [1]G1, G2 and [τ]G2 (raw point encodings). G2 and [τ]G2 fix τ, and with
/// [1]G1 every power [τ^i]G1 of a checked SRS; so an SRS and its prefixes share
/// one fingerprint, and keys derived from either are the same keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SrsFingerprint(pub [u8; 32]);

impl SrsFingerprint {
    pub(crate) fn of(g0: &G1Affine, g2: &G2Affine, s_g2: &G2Affine) -> SrsFingerprint {
        use sha3::Digest;
        let mut h = sha3::Keccak256::new();
        h.update(b"veriflop-halo2-srs-v1");
        h.update(g0.to_raw_bytes());
        h.update(g2.to_raw_bytes());
        h.update(s_g2.to_raw_bytes());
        SrsFingerprint(h.finalize().into())
    }

    pub(crate) fn of_params(p: &ParamsKZG<Bn256>) -> SrsFingerprint {
        SrsFingerprint::of(&p.get_g()[0], &p.g2(), &p.s_g2())
    }

    /// The first 8 bytes in hex: what key file names carry.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

impl std::fmt::Display for SrsFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for SrsFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SrsFingerprint({})", self.short())
    }
}

/// Bytes of a halo2 params file of 2^k points.
pub(crate) fn params_file_bytes(k: u32) -> u64 {
    4 + 2 * (1u64 << k) * 64 + 2 * 128
}

impl Srs {
    /// A development SRS of degree 2^k with τ drawn from a 32-byte seed from the
    /// operating system's generator (insecure by design: this machine saw τ).
    pub fn setup_dev_random(k: u32) -> Result<Srs, SrsError> {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Srs::setup_dev(k, seed)
    }

    /// A development SRS of degree 2^k, τ derived from a 32-byte `seed` through
    /// ChaCha20 (insecure by design: reproducible, and anyone with the seed can
    /// forge proofs). For tests that need the same SRS twice; otherwise use
    /// [`Srs::setup_dev_random`].
    pub fn setup_dev(k: u32, seed: [u8; 32]) -> Result<Srs, SrsError> {
        check_k(k)?;
        Ok(Srs { params: Arc::new(ParamsKZG::setup(k, ChaCha20Rng::from_seed(seed))) })
    }

    pub fn k(&self) -> u32 {
        self.params.k()
    }

    /// Which τ this SRS is for (see [`SrsFingerprint`]).
    pub fn fingerprint(&self) -> SrsFingerprint {
        SrsFingerprint::of_params(&self.params)
    }

    /// The parameters for a circuit of 2^k rows (the first 2^k powers). The
    /// SRS's own size shares its points; a smaller one copies the first 2^k
    /// powers and computes their Lagrange basis (an FFT over G1: seconds).
    pub(crate) fn params_for(&self, k: u32) -> Result<Arc<ParamsKZG<Bn256>>, SrsError> {
        if k > self.k() {
            return Err(SrsError::TooSmall { have: self.k(), need: k });
        }
        if k == self.k() {
            return Ok(self.params.clone());
        }
        // The first 2^k powers; their Lagrange basis is computed for the smaller
        // domain (as `downsize` would, without cloning the large SRS first).
        let g = self.params.get_g()[..1 << k].to_vec();
        Ok(Arc::new(self.params.from_parts(k, g, None, self.params.g2(), self.params.s_g2())))
    }

    /// What a verifier needs: G1, G2 and [τ]G2 (plus k, which fixes the domain).
    pub(crate) fn verifier_params(&self, k: u32) -> ParamsKZG<Bn256> {
        verifier_params(k, self.params.get_g()[0], self.params.g2(), self.params.s_g2())
    }

    pub(crate) fn into_params(self) -> Arc<ParamsKZG<Bn256>> {
        self.params
    }

    /// The fingerprint and size of the params file at `path`, from its first
    /// and last points only (the file's length is checked against its k; the
    /// three points are checked to be on their curves, the G2 ones in the
    /// subgroup). Milliseconds, whatever the size: a cache lookup needs no more.
    /// The file's other points are *not* checked: keys are only ever derived
    /// from an SRS loaded with [`Srs::read_file`].
    pub fn read_fingerprint(path: &Path) -> Result<(u32, SrsFingerprint), SrsError> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        let mut kb = [0u8; 4];
        f.read_exact(&mut kb)?;
        let k = u32::from_le_bytes(kb);
        check_k(k)?;
        if len != params_file_bytes(k) {
            return Err(SrsError::Format(format!("{len} bytes, a k = {k} params file has {}", params_file_bytes(k))));
        }
        let g0 = G1Affine::read_raw(&mut f).map_err(|e| SrsError::Format(format!("[1]G1: {e}")))?;
        f.seek(SeekFrom::Start(len - 256))?;
        let g2 = G2Affine::read_raw(&mut f).map_err(|e| SrsError::Format(format!("G2 point: {e}")))?;
        let s_g2 = G2Affine::read_raw(&mut f).map_err(|e| SrsError::Format(format!("G2 point: {e}")))?;
        if !bool::from(g0.is_on_curve()) || bool::from(g0.is_identity()) {
            return Err(SrsError::Format("[1]G1 is not a point of G1".into()));
        }
        for p in [&g2, &s_g2] {
            if !bool::from(p.is_on_curve()) || bool::from(p.is_identity()) || !in_g2_subgroup(p) {
                return Err(SrsError::Format("a G2 point is not in G2".into()));
            }
        }
        Ok((k, SrsFingerprint::of(&g0, &g2, &s_g2)))
    }

    /// Writes halo2's params format (checked raw points).
    pub fn write<W: Write>(&self, w: &mut W) -> std::io::Result<()> {
        self.params.write_custom(w, SerdeFormat::RawBytes)
    }

    /// Reads halo2's params format from `r`, whose length is `len` bytes (checked
    /// against k before anything is allocated).
    pub fn read<R: Read>(r: &mut R, len: u64) -> Result<Srs, SrsError> {
        let mut kb = [0u8; 4];
        r.read_exact(&mut kb)?;
        let k = u32::from_le_bytes(kb);
        check_k(k)?;
        let expect = params_file_bytes(k);
        if len != expect {
            return Err(SrsError::Format(format!("{len} bytes, a k = {k} params file has {expect}")));
        }
        // halo2's raw reader checks coordinates against the modulus but not
        // curve membership: read point by point and check each one here.
        let n = 1usize << k;
        let mut g1 = |what: &str, i: usize| -> Result<G1Affine, SrsError> {
            let p = G1Affine::read_raw(r).map_err(|e| SrsError::Format(format!("{what} {i}: {e}")))?;
            if !bool::from(p.is_on_curve()) {
                return Err(SrsError::Format(format!("{what} {i} is not on the curve")));
            }
            Ok(p)
        };
        let g = (0..n).map(|i| g1("[τ^i]G1, i =", i)).collect::<Result<Vec<_>, _>>()?;
        let lagrange = (0..n).map(|i| g1("Lagrange point", i)).collect::<Result<Vec<_>, _>>()?;
        let mut g2 = || -> Result<G2Affine, SrsError> {
            let p = G2Affine::read_raw(r).map_err(|e| SrsError::Format(format!("G2 point: {e}")))?;
            if !bool::from(p.is_on_curve()) {
                return Err(SrsError::Format("a G2 point is not on the curve".into()));
            }
            Ok(p)
        };
        let (h, s_h) = (g2()?, g2()?);
        check_powers(&g, &h, &s_h)?;
        let p = template().from_parts(k, g, Some(lagrange), h, s_h);
        check_lagrange(&p)?;
        Ok(Srs { params: Arc::new(p) })
    }

    pub fn read_file(path: &Path) -> Result<Srs, SrsError> {
        let f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        Srs::read(&mut std::io::BufReader::new(f), len)
    }

    pub fn write_file(&self, path: &Path) -> Result<(), SrsError> {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
        self.write(&mut w)?;
        w.flush()?;
        Ok(())
    }

    /// The first 2^k powers of a snarkjs `.ptau` file (any power ≥ k).
    pub fn from_ptau(bytes: &[u8], k: u32) -> Result<Srs, SrsError> {
        check_k(k)?;
        let ptau = crate::ptau::Ptau::parse(bytes)?;
        if ptau.power < k {
            return Err(SrsError::TooSmall { have: ptau.power, need: k });
        }
        let g = (0..1usize << k).map(|i| ptau.g1(i)).collect::<Result<Vec<_>, _>>()?;
        Srs::from_powers(k, g, ptau.g2(0)?, ptau.g2(1)?)
    }

    pub fn from_ptau_file(path: &Path, k: u32) -> Result<Srs, SrsError> {
        // A ptau of power p has 3·2^p points of 64 bytes and 2^p of 128; read it
        // whole only if it is no larger than a power-MAX_K file.
        let len = std::fs::metadata(path)?.len();
        let max = 64 * 1024 + (1u64 << MAX_K) * (2 * 64 + 128 + 2 * 64);
        if len > max {
            return Err(SrsError::Format(format!("{len} bytes is larger than a 2^{MAX_K} .ptau file")));
        }
        Srs::from_ptau(&std::fs::read(path)?, k)
    }

    /// Builds params from monomial powers after checking they are powers of one τ.
    fn from_powers(k: u32, g: Vec<G1Affine>, g2: G2Affine, s_g2: G2Affine) -> Result<Srs, SrsError> {
        if g.len() != 1 << k || g.len() < 2 {
            return Err(SrsError::Format(format!("{} powers for k = {k}", g.len())));
        }
        // halo2's raw reader does not check curve membership; MSMs over
        // off-curve points are meaningless, so reject them here.
        if let Some(i) = g.iter().position(|p| !bool::from(p.is_on_curve())) {
            return Err(SrsError::Format(format!("[τ^{i}]G1 is not on the curve")));
        }
        if !bool::from(g2.is_on_curve()) || !bool::from(s_g2.is_on_curve()) {
            return Err(SrsError::Format("a G2 point is not on the curve".into()));
        }
        check_powers(&g, &g2, &s_g2)?;
        Ok(Srs { params: Arc::new(template().from_parts(k, g, None, g2, s_g2)) })
    }
}

/// `ParamsKZG::from_parts` is a method: a throwaway 2-point instance to call it
/// on (none of its values is used; its fixed seed is no secret of any SRS).
fn template() -> ParamsKZG<Bn256> {
    ParamsKZG::<Bn256>::setup(1, ChaCha20Rng::from_seed([0; 32]))
}

/// Verifier parameters for circuits of 2^k rows: [1]G1, G2 and [τ]G2 only.
pub(crate) fn verifier_params(k: u32, g0: G1Affine, g2: G2Affine, s_g2: G2Affine) -> ParamsKZG<Bn256> {
    template().from_parts(k, vec![g0], Some(vec![]), g2, s_g2)
}

fn check_k(k: u32) -> Result<(), SrsError> {
    if k == 0 || k > MAX_K {
        return Err(SrsError::BadK { k });
    }
    Ok(())
}

/// e(Σ ρ^i·g_{i+1}, G2) = e(Σ ρ^i·g_i, [τ]G2) for a random ρ, and g_0 ≠ 0,
/// G2 ≠ 0: then (whp over ρ) g_{i+1} = τ·g_i for all i with the τ of [τ]G2.
fn check_powers(g: &[G1Affine], g2: &G2Affine, s_g2: &G2Affine) -> Result<(), SrsError> {
    if bool::from(g[0].is_identity()) || bool::from(g2.is_identity()) || bool::from(s_g2.is_identity()) {
        return Err(SrsError::Inconsistent);
    }
    // G2 points from a file are only known to be on the curve: require the subgroup.
    if !in_g2_subgroup(g2) || !in_g2_subgroup(s_g2) {
        return Err(SrsError::Inconsistent);
    }
    let rho = Fr::random(rand::thread_rng());
    let n = g.len() - 1;
    let mut coeffs = Vec::with_capacity(n);
    let mut c = Fr::ONE;
    for _ in 0..n {
        coeffs.push(c);
        c *= rho;
    }
    let lo = best_multiexp(&coeffs, &g[..n]).to_affine();
    let hi = best_multiexp(&coeffs, &g[1..]).to_affine();
    let ok: Gt =
        multi_miller_loop(&[(&hi, &G2Prepared::from(*g2)), (&-lo, &G2Prepared::from(*s_g2))]).final_exponentiation();
    if !bool::from(ok.is_identity()) {
        return Err(SrsError::Inconsistent);
    }
    Ok(())
}

/// The Lagrange points are those of the monomial ones: for random values ρ_i,
/// Σ ρ_i·L_i = Σ c_j·g_j with c the coefficients of the polynomial taking the
/// values ρ on the domain (an inverse FFT over the field). A wrong L_i makes the
/// two sides differ except with probability 1/|Fr| (G1 has prime order).
fn check_lagrange(p: &ParamsKZG<Bn256>) -> Result<(), SrsError> {
    use halo2_proofs::poly::commitment::Blind;
    use halo2_proofs::poly::EvaluationDomain;
    let domain = EvaluationDomain::<Fr>::new(1, p.k());
    let mut rng = rand::thread_rng();
    let values = domain.lagrange_from_vec((0..p.n()).map(|_| Fr::random(&mut rng)).collect());
    let lhs = p.commit_lagrange(&values, Blind::default());
    let rhs = p.commit(&domain.lagrange_to_coeff(values), Blind::default());
    if lhs != rhs {
        return Err(SrsError::Format("the Lagrange basis does not match the powers of τ".into()));
    }
    Ok(())
}

/// [r]P = 0 for the group order r: P lies in the prime-order subgroup of G2.
pub(crate) fn in_g2_subgroup(p: &G2Affine) -> bool {
    let r_minus_1 = -Fr::ONE;
    let q = p.to_curve() * r_minus_1 + p.to_curve();
    bool::from(q.is_identity())
}

/// Field parsing helpers shared with the `.ptau` reader.
pub(crate) fn fq_from_montgomery_le(b: &[u8]) -> Option<Fq> {
    Fq::from_raw_bytes(b)
}

pub(crate) fn g1_from_xy(x: Fq, y: Fq) -> Option<G1Affine> {
    Option::from(G1Affine::from_xy(x, y))
}

pub(crate) fn g2_from_xy(x: Fq2, y: Fq2) -> Option<G2Affine> {
    Option::from(G2Affine::from_xy(x, y))
}
