//! ICICLE (Ingonyama) MSM and NTT, on whatever device its backends provide:
//! CUDA GPUs in production, ICICLE's own CPU backend for testing this binding.
//!
//! Nothing of ICICLE is linked: the libraries are opened at run time from the
//! user's install (`--icicle-dir`, `$VERIFLOP_ICICLE_DIR`, else `/opt/icicle`),
//! so veriflop builds and runs without ICICLE or CUDA. Loading ends with a
//! self-test against arkworks; a device that disagrees is refused, and every
//! point the device returns is checked to lie in the right group.

mod ffi;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{BigInt, FftField, Field, PrimeField, UniformRand, Zero};
use rand::SeedableRng;
use rayon::prelude::*;

use super::{Backend, BackendError, CpuBackend, Ntt};

/// Where ICICLE is installed when neither `--icicle-dir` nor
/// `$VERIFLOP_ICICLE_DIR` says (ICICLE's release archives unpack to `/opt/icicle`).
pub const DEFAULT_DIR: &str = "/opt/icicle";

/// Which install and which device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcicleConfig {
    /// Install root (with `lib/`) or the `lib/` folder itself; None: [`DEFAULT_DIR`].
    pub dir: Option<PathBuf>,
    /// ICICLE device type: "CUDA" for NVIDIA GPUs, "CPU" for ICICLE's CPU backend.
    pub device: String,
    pub device_id: i32,
}

impl Default for IcicleConfig {
    fn default() -> Self {
        IcicleConfig { dir: None, device: "CUDA".into(), device_id: 0 }
    }
}

impl IcicleConfig {
    /// As the CLI reads its environment: `$VERIFLOP_ICICLE_DIR` (else
    /// [`DEFAULT_DIR`]) and `$VERIFLOP_ICICLE_DEVICE` (else `CUDA:0`).
    pub fn from_env() -> Result<Self, String> {
        let cfg = IcicleConfig { dir: std::env::var_os("VERIFLOP_ICICLE_DIR").map(Into::into), ..Default::default() };
        match std::env::var("VERIFLOP_ICICLE_DEVICE") {
            Ok(spec) => cfg.with_device(&spec),
            Err(_) => Ok(cfg),
        }
    }

    /// `TYPE` or `TYPE:ID`, e.g. `CUDA`, `cuda:1`, `CPU`.
    pub fn with_device(mut self, spec: &str) -> Result<Self, String> {
        let (kind, id) = match spec.split_once(':') {
            Some((k, id)) => (k, id.parse::<i32>().map_err(|_| format!("bad device id in {spec:?}"))?),
            None => (spec, 0),
        };
        if kind.is_empty() || kind.len() > 63 || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || id < 0
        {
            return Err(format!("bad ICICLE device {spec:?}: expected TYPE or TYPE:ID, e.g. CUDA:0"));
        }
        self.device = kind.to_ascii_uppercase();
        self.device_id = id;
        Ok(self)
    }

    /// The folder holding `libicicle_device.so`.
    fn lib_dir(&self) -> Result<PathBuf, String> {
        let root = self.dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
        for dir in [root.join("lib"), root.clone()] {
            if dir.join(ffi::LIBRARIES[0]).is_file() {
                return Ok(dir);
            }
        }
        Err(format!(
            "no ICICLE install at {} (looked for lib/{} there); install ICICLE or point --icicle-dir / VERIFLOP_ICICLE_DIR at it",
            root.display(),
            ffi::LIBRARIES[0]
        ))
    }
}

/// One opened install per library folder, for the life of the process.
fn open(lib_dir: &Path) -> Result<Arc<ffi::Icicle>, String> {
    static OPENED: OnceLock<Mutex<HashMap<PathBuf, Arc<ffi::Icicle>>>> = OnceLock::new();
    let mut opened = OPENED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lib) = opened.get(lib_dir) {
        return Ok(lib.clone());
    }
    let lib = Arc::new(ffi::Icicle::open(lib_dir)?);
    // Backend plugins: ICICLE's own variable first, else the install's lib/backend.
    let backends =
        std::env::var_os("ICICLE_BACKEND_INSTALL_DIR").map(PathBuf::from).unwrap_or_else(|| lib_dir.join("backend"));
    if backends.is_dir() {
        lib.load_backends(&backends)?;
    }
    opened.insert(lib_dir.to_path_buf(), lib.clone());
    Ok(lib)
}

/// ICICLE's NTT domain is process-global: one lock for it and the device calls.
struct DeviceState {
    /// log2 of the size the domain was initialised for (0: not yet).
    domain_log: u32,
}

static DEVICE_LOCK: Mutex<DeviceState> = Mutex::new(DeviceState { domain_log: 0 });

pub struct IcicleBackend {
    lib: Arc<ffi::Icicle>,
    config: IcicleConfig,
}

impl std::fmt::Debug for IcicleBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IcicleBackend({}:{} from {})", self.config.device, self.config.device_id, self.lib.lib_dir.display())
    }
}

/// The smallest NTT domain we ask ICICLE for (twiddles of 2^10 elements).
const MIN_DOMAIN_LOG: u32 = 10;
/// BN254's scalar field has 2^28-th roots of unity.
const MAX_DOMAIN_LOG: u32 = 28;

fn unavailable(msg: impl Into<String>) -> BackendError {
    BackendError::Unavailable(msg.into())
}

impl IcicleBackend {
    /// Opens the install, selects the device and runs the self-test.
    pub fn load(config: &IcicleConfig) -> Result<IcicleBackend, BackendError> {
        let lib_dir = config.lib_dir().map_err(unavailable)?;
        let lib = open(&lib_dir).map_err(unavailable)?;
        let registered = lib.registered_devices();
        if !registered.iter().any(|d| d.eq_ignore_ascii_case(&config.device)) {
            return Err(unavailable(format!(
                "ICICLE at {} has no {} backend (registered: {}); install ICICLE's {} backend under {}/backend or set ICICLE_BACKEND_INSTALL_DIR",
                lib_dir.display(),
                config.device,
                if registered.is_empty() { "none".into() } else { registered.join(", ") },
                config.device,
                lib_dir.display()
            )));
        }
        let device = ffi::Device::new(&config.device, config.device_id);
        if unsafe { (lib.is_device_available)(&device) } != 0 {
            return Err(unavailable(format!("ICICLE sees no usable {} device {}", config.device, config.device_id)));
        }
        let backend = IcicleBackend { lib, config: config.clone() };
        backend.self_test()?;
        Ok(backend)
    }

    pub fn config(&self) -> &IcicleConfig {
        &self.config
    }

    /// Takes the device lock and makes our device this thread's ICICLE device.
    fn lock(&self) -> Result<std::sync::MutexGuard<'static, DeviceState>, BackendError> {
        let guard = DEVICE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = ffi::Device::new(&self.config.device, self.config.device_id);
        ffi::check(unsafe { (self.lib.set_device)(&device) }, "icicle_set_device").map_err(BackendError::Device)?;
        Ok(guard)
    }

    /// Small MSMs and NTTs against arkworks, so a broken install, a licence
    /// failure or a wrong binding stops here rather than in a proof. Failures
    /// are `Device` errors: the install is there but must not be used.
    fn self_test(&self) -> Result<(), BackendError> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let cpu = CpuBackend::new();
        let n = 5;
        let mut g1: Vec<G1Affine> = (0..n).map(|_| G1Projective::rand(&mut rng).into_affine()).collect();
        let g2: Vec<G2Affine> = (0..n).map(|_| G2Projective::rand(&mut rng).into_affine()).collect();
        let mut s: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        g1[1] = G1Affine::identity();
        s[2] = Fr::zero();
        let mut v: Vec<Fr> = (0..8).map(|_| Fr::rand(&mut rng)).collect();
        let mut w = v.clone();
        let mismatch = |what: &str| {
            BackendError::Device(format!(
                "ICICLE self-test failed: {what} differs from arkworks on {} device {} — refusing to prove with it",
                self.config.device, self.config.device_id
            ))
        };
        if self.msm_g1(&g1, &s)? != cpu.msm_g1(&g1, &s)? {
            return Err(mismatch("G1 MSM"));
        }
        if self.msm_g2(&g2, &s)? != cpu.msm_g2(&g2, &s)? {
            return Err(mismatch("G2 MSM"));
        }
        for kind in [Ntt::CosetForward, Ntt::Inverse] {
            self.ntt(&mut v, kind)?;
            cpu.ntt(&mut w, kind)?;
            if v != w {
                return Err(mismatch("NTT"));
            }
        }
        Ok(())
    }

    /// Makes sure the domain covers 2^log and that its 2^log-th root is arkworks'.
    fn domain(&self, state: &mut DeviceState, log: u32) -> Result<(), BackendError> {
        if log > MAX_DOMAIN_LOG {
            return Err(BackendError::Unsupported(format!("NTT size 2^{log} exceeds BN254's 2^{MAX_DOMAIN_LOG}")));
        }
        // One size more than asked, so the coset shift ω_2n is a root of the domain too.
        let want = (log + 1).clamp(MIN_DOMAIN_LOG, MAX_DOMAIN_LOG);
        if state.domain_log < want {
            if state.domain_log > 0 {
                ffi::check(unsafe { (self.lib.ntt_release_domain)() }, "bn254_ntt_release_domain")
                    .map_err(BackendError::Device)?;
                state.domain_log = 0;
            }
            // arkworks' roots are nested (ω_{2^k} = ω_{2^K}^{2^(K−k)}), so one
            // domain initialised with ω_{2^want} serves every smaller size exactly.
            let root = fr_to_limbs(&Fr::get_root_of_unity(1u64 << want).expect("2^28-th roots exist"));
            let cfg =
                ffi::NttInitDomainConfig { stream: std::ptr::null_mut(), is_async: false, ext: std::ptr::null_mut() };
            ffi::check(unsafe { (self.lib.ntt_init_domain)(&root, &cfg) }, "bn254_ntt_init_domain")
                .map_err(BackendError::Device)?;
            state.domain_log = want;
        }
        let mut root = [0u32; 8];
        ffi::check(
            unsafe { (self.lib.root_from_domain)(log as u64, &mut root) },
            "bn254_get_root_of_unity_from_domain",
        )
        .map_err(BackendError::Device)?;
        if limbs_to_fr(&root) != Fr::get_root_of_unity(1u64 << log) {
            return Err(BackendError::Device(format!(
                "ICICLE's NTT domain has another 2^{log}-th root of unity than arkworks"
            )));
        }
        Ok(())
    }
}

fn fr_to_limbs(x: &Fr) -> ffi::Limbs {
    u64s_to_limbs(&x.into_bigint().0)
}

fn u64s_to_limbs(w: &[u64; 4]) -> ffi::Limbs {
    let mut out = [0u32; 8];
    for (i, w) in w.iter().enumerate() {
        out[2 * i] = *w as u32;
        out[2 * i + 1] = (*w >> 32) as u32;
    }
    out
}

fn limbs_to_u64s(l: &ffi::Limbs) -> [u64; 4] {
    std::array::from_fn(|i| l[2 * i] as u64 | (l[2 * i + 1] as u64) << 32)
}

/// None when the device returned a value outside the field.
fn limbs_to_fr(l: &ffi::Limbs) -> Option<Fr> {
    Fr::from_bigint(BigInt(limbs_to_u64s(l)))
}

fn limbs_to_fq(l: &ffi::Limbs) -> Result<Fq, BackendError> {
    Fq::from_bigint(BigInt(limbs_to_u64s(l)))
        .ok_or_else(|| BackendError::Device("ICICLE returned a coordinate ≥ q".into()))
}

/// Standard (not Montgomery) form: ICICLE's CPU backend ignores
/// `are_points_montgomery_form`, so one representation serves every device.
fn fq_std(x: &Fq) -> ffi::Limbs {
    u64s_to_limbs(&x.into_bigint().0)
}

fn g1_to_icicle(p: &G1Affine) -> ffi::G1Affine {
    if p.infinity {
        return ffi::G1Affine::default(); // ICICLE's identity is (0, 0)
    }
    ffi::G1Affine { x: fq_std(&p.x), y: fq_std(&p.y) }
}

fn fq2_std(x: &Fq2) -> ffi::Fq2 {
    ffi::Fq2 { c0: fq_std(&x.c0), c1: fq_std(&x.c1) }
}

fn g2_to_icicle(p: &G2Affine) -> ffi::G2Affine {
    if p.infinity {
        return ffi::G2Affine::default();
    }
    ffi::G2Affine { x: fq2_std(&p.x), y: fq2_std(&p.y) }
}

fn off_curve() -> BackendError {
    BackendError::Device("ICICLE returned a point outside the group".into())
}

/// (x : y : z) → x/z, y/z, checked on the curve and in the prime-order subgroup.
fn g1_from_icicle(p: &ffi::G1Projective) -> Result<G1Projective, BackendError> {
    let (x, y, z) = (limbs_to_fq(&p.x)?, limbs_to_fq(&p.y)?, limbs_to_fq(&p.z)?);
    let Some(zi) = z.inverse() else {
        return if x.is_zero() { Ok(G1Projective::zero()) } else { Err(off_curve()) };
    };
    let a = G1Affine::new_unchecked(x * zi, y * zi);
    if !a.is_on_curve() || !a.is_in_correct_subgroup_assuming_on_curve() {
        return Err(off_curve());
    }
    Ok(a.into_group())
}

fn g2_from_icicle(p: &ffi::G2Projective) -> Result<G2Projective, BackendError> {
    let fq2 = |f: &ffi::Fq2| -> Result<Fq2, BackendError> { Ok(Fq2::new(limbs_to_fq(&f.c0)?, limbs_to_fq(&f.c1)?)) };
    let (x, y, z) = (fq2(&p.x)?, fq2(&p.y)?, fq2(&p.z)?);
    let Some(zi) = z.inverse() else {
        return if x.is_zero() { Ok(G2Projective::zero()) } else { Err(off_curve()) };
    };
    let a = G2Affine::new_unchecked(x * zi, y * zi);
    if !a.is_on_curve() || !a.is_in_correct_subgroup_assuming_on_curve() {
        return Err(off_curve());
    }
    Ok(a.into_group())
}

fn msm_size(bases: usize, scalars: usize) -> Result<i32, BackendError> {
    let n = bases.min(scalars);
    i32::try_from(n).map_err(|_| BackendError::Unsupported(format!("MSM of {n} points exceeds ICICLE's int size")))
}

impl Backend for IcicleBackend {
    fn name(&self) -> String {
        format!("icicle ({}:{})", self.config.device.to_ascii_lowercase(), self.config.device_id)
    }

    fn msm_g1(&self, bases: &[G1Affine], scalars: &[Fr]) -> Result<G1Projective, BackendError> {
        let n = msm_size(bases.len(), scalars.len())?;
        if n == 0 {
            return Ok(G1Projective::zero());
        }
        let s: Vec<ffi::Limbs> = scalars[..n as usize].par_iter().map(fr_to_limbs).collect();
        let p: Vec<ffi::G1Affine> = bases[..n as usize].par_iter().map(g1_to_icicle).collect();
        let mut out = ffi::G1Projective::default();
        {
            let _device = self.lock()?;
            ffi::check(
                unsafe { (self.lib.msm_g1)(s.as_ptr(), p.as_ptr(), n, &ffi::MsmConfig::host(), &mut out) },
                "bn254_msm",
            )
            .map_err(BackendError::Device)?;
        }
        g1_from_icicle(&out)
    }

    fn msm_g2(&self, bases: &[G2Affine], scalars: &[Fr]) -> Result<G2Projective, BackendError> {
        let n = msm_size(bases.len(), scalars.len())?;
        if n == 0 {
            return Ok(G2Projective::zero());
        }
        let s: Vec<ffi::Limbs> = scalars[..n as usize].par_iter().map(fr_to_limbs).collect();
        let p: Vec<ffi::G2Affine> = bases[..n as usize].par_iter().map(g2_to_icicle).collect();
        let mut out = ffi::G2Projective::default();
        {
            let _device = self.lock()?;
            ffi::check(
                unsafe { (self.lib.msm_g2)(s.as_ptr(), p.as_ptr(), n, &ffi::MsmConfig::host(), &mut out) },
                "bn254_g2_msm",
            )
            .map_err(BackendError::Device)?;
        }
        g2_from_icicle(&out)
    }

    /// On the device as a full-width MSM (its bucket method does not gain from
    /// small scalars as the CPU's does, but the transfer dominates anyway).
    fn msm_g1_small(&self, bases: &[G1Affine], values: &[i128]) -> Result<G1Projective, BackendError> {
        super::cpu::check_pairs(bases.len(), values.len(), 1)?;
        let scalars: Vec<Fr> = values.par_iter().map(|&v| veriflop_circuits::circuit::fr_from_i128(v)).collect();
        self.msm_g1(bases, &scalars)
    }

    /// On the CPU: thousands of MSMs of a few thousand points each (about 3% of
    /// a committed proof at n = 1024) would cost more in launches than they save;
    /// a batched device MSM is the way to move them (docs/PROTOCOL.md §14).
    fn msm_g1_small_groups(
        &self,
        bases: &[G1Affine],
        values: &[i128],
        group: usize,
    ) -> Result<Vec<G1Projective>, BackendError> {
        super::CpuBackend::new().msm_g1_small_groups(bases, values, group)
    }

    fn ntt(&self, values: &mut Vec<Fr>, kind: Ntt) -> Result<(), BackendError> {
        let n = values.len();
        if !n.is_power_of_two() {
            return Err(BackendError::Unsupported(format!("NTT size {n} is not a supported power of two")));
        }
        if n == 1 {
            return Ok(()); // every transform of a constant is itself
        }
        let log = n.trailing_zeros();
        let g = super::coset_shift(n)
            .ok_or_else(|| BackendError::Unsupported(format!("NTT size 2^{log} leaves no root for its coset")))?;
        let (dir, coset) = match kind {
            Ntt::Forward => (ffi::NttDir::Forward, Fr::ONE),
            Ntt::Inverse => (ffi::NttDir::Inverse, Fr::ONE),
            Ntt::CosetForward => (ffi::NttDir::Forward, g),
            Ntt::CosetInverse => (ffi::NttDir::Inverse, g),
        };
        let input: Vec<ffi::Limbs> = values.par_iter().map(fr_to_limbs).collect();
        let mut output = vec![[0u32; 8]; n];
        let cfg = ffi::NttConfig {
            stream: std::ptr::null_mut(),
            coset_gen: fr_to_limbs(&coset),
            batch_size: 1,
            columns_batch: false,
            ordering: 0,
            are_inputs_on_device: false,
            are_outputs_on_device: false,
            is_async: false,
            ext: std::ptr::null_mut(),
        };
        {
            let mut state = self.lock()?;
            self.domain(&mut state, log)?;
            ffi::check(
                unsafe { (self.lib.ntt)(input.as_ptr(), n as i32, dir, &cfg, output.as_mut_ptr()) },
                "bn254_ntt",
            )
            .map_err(BackendError::Device)?;
        }
        let converted: Option<Vec<Fr>> = output.par_iter().map(limbs_to_fr).collect();
        *values = converted.ok_or_else(|| BackendError::Device("ICICLE's NTT returned a value ≥ r".into()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limbs_round_trip() {
        let mut rng = rand::thread_rng();
        for _ in 0..20 {
            let x = Fr::rand(&mut rng);
            assert_eq!(limbs_to_fr(&fr_to_limbs(&x)), Some(x));
        }
        assert_eq!(limbs_to_fr(&[u32::MAX; 8]), None, "values ≥ r are refused");
        assert_eq!(fr_to_limbs(&Fr::from(0x1_0000_0002u64))[..3], [2, 1, 0]);
    }

    #[test]
    fn device_points_are_checked() {
        let mut rng = rand::thread_rng();
        let p = G1Projective::rand(&mut rng).into_affine();
        let one = u64s_to_limbs(&Fq::ONE.into_bigint().0);
        let std = |x: &Fq| u64s_to_limbs(&x.into_bigint().0);
        let good = ffi::G1Projective { x: std(&p.x), y: std(&p.y), z: one };
        assert_eq!(g1_from_icicle(&good).unwrap(), p.into_group());
        let off = ffi::G1Projective { x: std(&p.x), y: std(&(p.y + Fq::ONE)), z: one };
        assert!(g1_from_icicle(&off).is_err());
        let zero = ffi::G1Projective { x: [0; 8], y: one, z: [0; 8] };
        assert!(g1_from_icicle(&zero).unwrap().is_zero());
        let bad_zero = ffi::G1Projective { x: one, y: one, z: [0; 8] };
        assert!(g1_from_icicle(&bad_zero).is_err());
        let non_canonical = ffi::G1Projective { x: [u32::MAX; 8], y: one, z: one };
        assert!(g1_from_icicle(&non_canonical).is_err());
    }

    /// A G2 point on the twist but outside the prime-order subgroup (BN254's G2
    /// cofactor is large) is refused, not handed to the prover.
    #[test]
    fn g2_points_outside_the_subgroup_are_refused() {
        let mut rng = rand::thread_rng();
        let std = |x: &Fq| u64s_to_limbs(&x.into_bigint().0);
        let fq2 = |x: &Fq2| ffi::Fq2 { c0: std(&x.c0), c1: std(&x.c1) };
        let one = ffi::Fq2 { c0: std(&Fq::ONE), c1: [0; 8] };
        let outside = loop {
            if let Some(p) = G2Affine::get_point_from_x_unchecked(Fq2::rand(&mut rng), false) {
                if !p.is_in_correct_subgroup_assuming_on_curve() {
                    break p;
                }
            }
        };
        assert!(outside.is_on_curve());
        let raw = ffi::G2Projective { x: fq2(&outside.x), y: fq2(&outside.y), z: one };
        assert!(g2_from_icicle(&raw).is_err());
        let good = G2Projective::rand(&mut rng).into_affine();
        let raw = ffi::G2Projective { x: fq2(&good.x), y: fq2(&good.y), z: one };
        assert_eq!(g2_from_icicle(&raw).unwrap(), good.into_group());
    }

    proptest::proptest! {
        /// Whatever bytes a device returns, decoding never panics, and what it
        /// accepts is a group element.
        #[test]
        fn arbitrary_device_output_is_decoded_safely(w in proptest::collection::vec(proptest::prelude::any::<u32>(), 9 * 8)) {
            let l = |i: usize| -> ffi::Limbs { w[i * 8..i * 8 + 8].try_into().unwrap() };
            if let Ok(p) = g1_from_icicle(&ffi::G1Projective { x: l(0), y: l(1), z: l(2) }) {
                proptest::prop_assert!(p.into_affine().is_on_curve());
            }
            let fq2 = |i: usize| ffi::Fq2 { c0: l(i), c1: l(i + 1) };
            if let Ok(p) = g2_from_icicle(&ffi::G2Projective { x: fq2(3), y: fq2(5), z: fq2(7) }) {
                let a = p.into_affine();
                proptest::prop_assert!(a.is_on_curve() && a.is_in_correct_subgroup_assuming_on_curve());
            }
            let _ = limbs_to_fr(&l(8));
        }
    }

    #[test]
    fn device_specs_parse() {
        let c = IcicleConfig::default().with_device("cuda:1").unwrap();
        assert_eq!((c.device.as_str(), c.device_id), ("CUDA", 1));
        assert_eq!(IcicleConfig::default().with_device("CPU").unwrap().device, "CPU");
        for bad in ["", "cuda:x", "cuda:-1", "a b", ":0"] {
            assert!(IcicleConfig::default().with_device(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_install_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = IcicleConfig { dir: Some(dir.path().to_path_buf()), ..Default::default() };
        let err = IcicleBackend::load(&cfg).unwrap_err().to_string();
        assert!(err.contains("no ICICLE install at") && err.contains("--icicle-dir"), "{err}");
        // A file with the right name that is not a library.
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        for name in ffi::LIBRARIES {
            std::fs::write(dir.path().join("lib").join(name), b"not an ELF file").unwrap();
        }
        let err = IcicleBackend::load(&cfg).unwrap_err().to_string();
        assert!(err.contains("cannot load") && err.contains("libicicle_device.so"), "{err}");
    }
}
