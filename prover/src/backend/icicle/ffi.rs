//! ICICLE's C ABI (v3 and v4 share it), opened at run time with `libloading`.
//!
//! Only what the prover needs: backend loading, device selection, BN254 G1/G2
//! MSM and the scalar-field NTT. Struct layouts follow ICICLE's host headers
//! (`icicle/msm.h`, `icicle/ntt.h`, `icicle/device.h`): field elements are
//! 8 × u32 limbs, little-endian, aligned to 4 on the host side.

use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};

use libloading::os::unix::{Library, Symbol, RTLD_GLOBAL, RTLD_NOW};

/// A BN254 base- or scalar-field element as ICICLE stores it.
pub type Limbs = [u32; 8];

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct G1Affine {
    pub x: Limbs,
    pub y: Limbs,
}

/// Homogeneous projective (x/z, y/z); z = 0 is the identity.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct G1Projective {
    pub x: Limbs,
    pub y: Limbs,
    pub z: Limbs,
}

/// Fq2 = c0 + c1·u, stored (c0, c1) like arkworks.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Fq2 {
    pub c0: Limbs,
    pub c1: Limbs,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct G2Affine {
    pub x: Fq2,
    pub y: Fq2,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct G2Projective {
    pub x: Fq2,
    pub y: Fq2,
    pub z: Fq2,
}

#[repr(C)]
pub struct Device {
    pub kind: [c_char; 64],
    pub id: c_int,
}

impl Device {
    pub fn new(kind: &str, id: i32) -> Device {
        let mut d = Device { kind: [0; 64], id };
        for (dst, src) in d.kind.iter_mut().zip(kind.bytes().take(63)) {
            *dst = src as c_char;
        }
        d
    }
}

#[repr(C)]
pub struct MsmConfig {
    pub stream: *mut c_void,
    pub precompute_factor: c_int,
    pub c: c_int,
    pub bitsize: c_int,
    pub batch_size: c_int,
    pub are_points_shared_in_batch: bool,
    pub are_scalars_on_device: bool,
    pub are_scalars_montgomery_form: bool,
    pub are_points_on_device: bool,
    pub are_points_montgomery_form: bool,
    pub are_results_on_device: bool,
    pub is_async: bool,
    pub ext: *mut c_void,
}

impl MsmConfig {
    /// ICICLE's defaults: host memory, synchronous, scalars and points in
    /// standard form.
    pub fn host() -> MsmConfig {
        MsmConfig {
            stream: std::ptr::null_mut(),
            precompute_factor: 1,
            c: 0,
            bitsize: 0,
            batch_size: 1,
            are_points_shared_in_batch: true,
            are_scalars_on_device: false,
            are_scalars_montgomery_form: false,
            are_points_on_device: false,
            are_points_montgomery_form: false,
            are_results_on_device: false,
            is_async: false,
            ext: std::ptr::null_mut(),
        }
    }
}

#[repr(C)]
pub enum NttDir {
    Forward = 0,
    Inverse = 1,
}

#[repr(C)]
pub struct NttConfig {
    pub stream: *mut c_void,
    pub coset_gen: Limbs,
    pub batch_size: c_int,
    pub columns_batch: bool,
    /// `Ordering::kNN` = 0: natural order in and out.
    pub ordering: c_int,
    pub are_inputs_on_device: bool,
    pub are_outputs_on_device: bool,
    pub is_async: bool,
    pub ext: *mut c_void,
}

#[repr(C)]
pub struct NttInitDomainConfig {
    pub stream: *mut c_void,
    pub is_async: bool,
    pub ext: *mut c_void,
}

/// `eIcicleError`, by position in ICICLE's enum.
pub fn error_name(code: c_int) -> &'static str {
    match code {
        0 => "SUCCESS",
        1 => "INVALID_DEVICE",
        2 => "OUT_OF_MEMORY",
        3 => "INVALID_POINTER",
        4 => "ALLOCATION_FAILED",
        5 => "DEALLOCATION_FAILED",
        6 => "COPY_FAILED",
        7 => "SYNCHRONIZATION_FAILED",
        8 => "STREAM_CREATION_FAILED",
        9 => "STREAM_DESTRUCTION_FAILED",
        10 => "API_NOT_IMPLEMENTED",
        11 => "INVALID_ARGUMENT",
        12 => "BACKEND_LOAD_FAILED",
        13 => "LICENSE_CHECK_ERROR",
        _ => "UNKNOWN_ERROR",
    }
}

pub const LICENSE_CHECK_ERROR: c_int = 13;

type LoadBackend = unsafe extern "C" fn(*const c_char, bool) -> c_int;
type SetDevice = unsafe extern "C" fn(*const Device) -> c_int;
type IsDeviceAvailable = unsafe extern "C" fn(*const Device) -> c_int;
type GetRegisteredDevices = unsafe extern "C" fn(*mut c_char, usize) -> c_int;
type MsmG1 = unsafe extern "C" fn(*const Limbs, *const G1Affine, c_int, *const MsmConfig, *mut G1Projective) -> c_int;
type MsmG2 = unsafe extern "C" fn(*const Limbs, *const G2Affine, c_int, *const MsmConfig, *mut G2Projective) -> c_int;
type NttInitDomain = unsafe extern "C" fn(*const Limbs, *const NttInitDomainConfig) -> c_int;
type NttReleaseDomain = unsafe extern "C" fn() -> c_int;
type RootFromDomain = unsafe extern "C" fn(u64, *mut Limbs) -> c_int;
type NttRun = unsafe extern "C" fn(*const Limbs, c_int, NttDir, *const NttConfig, *mut Limbs) -> c_int;

/// The three front-end libraries of an ICICLE install, and the entry points.
/// The libraries stay loaded for the life of the process (backends register
/// themselves into the device library and are never unloaded).
pub struct Icicle {
    pub lib_dir: PathBuf,
    pub load_backend: Symbol<LoadBackend>,
    pub set_device: Symbol<SetDevice>,
    pub is_device_available: Symbol<IsDeviceAvailable>,
    pub get_registered_devices: Symbol<GetRegisteredDevices>,
    pub msm_g1: Symbol<MsmG1>,
    pub msm_g2: Symbol<MsmG2>,
    pub ntt_init_domain: Symbol<NttInitDomain>,
    pub ntt_release_domain: Symbol<NttReleaseDomain>,
    pub root_from_domain: Symbol<RootFromDomain>,
    pub ntt: Symbol<NttRun>,
    _libs: Vec<Library>,
}

/// ICICLE's front-end library names, in load order (each needs the previous).
pub const LIBRARIES: [&str; 3] = ["libicicle_device.so", "libicicle_field_bn254.so", "libicicle_curve_bn254.so"];

impl Icicle {
    /// Opens `lib_dir`'s libraries. Errors name the file and what was missing.
    pub fn open(lib_dir: &Path) -> Result<Icicle, String> {
        let mut libs = Vec::new();
        for name in LIBRARIES {
            let path = lib_dir.join(name);
            if !path.is_file() {
                return Err(format!("{} not found", path.display()));
            }
            // GLOBAL: the backend plugins ICICLE loads later resolve the device
            // library's registry through the global namespace.
            let lib = unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_GLOBAL) }
                .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
            libs.push(lib);
        }
        let (device, field, curve) = (&libs[0], &libs[1], &libs[2]);
        fn sym<T>(lib: &Library, file: &str, name: &str) -> Result<Symbol<T>, String> {
            unsafe { lib.get::<T>(name.as_bytes()) }
                .map_err(|_| format!("{file} has no symbol {name}: not an ICICLE v3/v4 BN254 install"))
        }
        let [d, f, c] = LIBRARIES;
        Ok(Icicle {
            lib_dir: lib_dir.to_path_buf(),
            load_backend: sym(device, d, "icicle_load_backend")?,
            set_device: sym(device, d, "icicle_set_device")?,
            is_device_available: sym(device, d, "icicle_is_device_available")?,
            get_registered_devices: sym(device, d, "icicle_get_registered_devices")?,
            msm_g1: sym(curve, c, "bn254_msm")?,
            msm_g2: sym(curve, c, "bn254_g2_msm")?,
            ntt_init_domain: sym(field, f, "bn254_ntt_init_domain")?,
            ntt_release_domain: sym(field, f, "bn254_ntt_release_domain")?,
            root_from_domain: sym(field, f, "bn254_get_root_of_unity_from_domain")?,
            ntt: sym(field, f, "bn254_ntt")?,
            _libs: libs,
        })
    }

    /// Loads the backend plugins under `dir` (recursively), e.g. CUDA's.
    pub fn load_backends(&self, dir: &Path) -> Result<(), String> {
        let c =
            CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| "backend path contains NUL".to_string())?;
        check(unsafe { (self.load_backend)(c.as_ptr(), true) }, "icicle_load_backend")
    }

    /// Device types the loaded backends registered, e.g. `["CPU", "CUDA"]`.
    pub fn registered_devices(&self) -> Vec<String> {
        let mut buf = vec![0 as c_char; 1024];
        if unsafe { (self.get_registered_devices)(buf.as_mut_ptr(), buf.len()) } != 0 {
            return Vec::new();
        }
        let bytes: Vec<u8> = buf.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
    }
}

/// Maps a non-zero `eIcicleError` to a message naming the call.
pub fn check(code: c_int, call: &str) -> Result<(), String> {
    match code {
        0 => Ok(()),
        LICENSE_CHECK_ERROR => Err(format!(
            "{call}: LICENSE_CHECK_ERROR — ICICLE's GPU backend needs a licence: set ICICLE_LICENSE to \
             port@host of a licence server or to a node-locked licence file (see README, \"GPU proving\")"
        )),
        c => Err(format!("{call} failed: {}", error_name(c))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    /// The layouts ICICLE's host compiler gives these structs (x86-64/aarch64 LP64).
    #[test]
    fn layouts_match_icicle_headers() {
        assert_eq!((size_of::<G1Affine>(), align_of::<G1Affine>()), (64, 4));
        assert_eq!(size_of::<G1Projective>(), 96);
        assert_eq!((size_of::<G2Affine>(), size_of::<G2Projective>()), (128, 192));
        assert_eq!(size_of::<Device>(), 68);
        assert_eq!(offset_of!(MsmConfig, precompute_factor), 8);
        assert_eq!(offset_of!(MsmConfig, are_points_shared_in_batch), 24);
        assert_eq!(offset_of!(MsmConfig, is_async), 30);
        assert_eq!((offset_of!(MsmConfig, ext), size_of::<MsmConfig>()), (32, 40));
        assert_eq!(offset_of!(NttConfig, coset_gen), 8);
        assert_eq!(offset_of!(NttConfig, batch_size), 40);
        assert_eq!(offset_of!(NttConfig, ordering), 48);
        assert_eq!(offset_of!(NttConfig, is_async), 54);
        assert_eq!((offset_of!(NttConfig, ext), size_of::<NttConfig>()), (56, 64));
        assert_eq!(size_of::<NttInitDomainConfig>(), 24);
    }

    #[test]
    fn errors_are_named() {
        assert!(check(0, "x").is_ok());
        assert!(check(LICENSE_CHECK_ERROR, "bn254_msm").unwrap_err().contains("ICICLE_LICENSE"));
        assert_eq!(check(2, "bn254_msm").unwrap_err(), "bn254_msm failed: OUT_OF_MEMORY");
        assert!(check(99, "x").unwrap_err().contains("UNKNOWN_ERROR"));
    }
}
