//! The provider's workload, C = A·B: cuBLAS integer GEMM on an NVIDIA GPU
//! when one is usable, the exact CPU product otherwise.
//!
//! CUDA and cuBLAS are opened at run time (cudarc's dynamic loading), so the
//! binary runs on machines without them. The GPU computes int8 × int8 → int32
//! (`cublasGemmEx`, `CUBLAS_COMPUTE_32I`), which is exact while |C| < 2^31;
//! other element types, and int8 shapes whose |C| could reach 2^31, run on
//! the CPU. Either way the result is the same matrix (differential tests).

use std::sync::Arc;

use cudarc::cublas::{sys as blas_sys, CudaBlas};
use cudarc::driver::{CudaContext, CudaStream, DevicePtr, DevicePtrMut};
use veriflop_circuits::execute::{check_inputs, matmul as cpu_matmul};
use veriflop_circuits::{Dtype, InputMatrix, Matrix, OutputMatrix, Shape};

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GemmChoice {
    /// CUDA when a GPU and cuBLAS are usable, else the CPU (saying why).
    #[default]
    Auto,
    Cpu,
    /// CUDA, or an error saying what is missing.
    Cuda,
}

#[derive(Debug, thiserror::Error)]
pub enum GemmError {
    #[error("{0}")]
    Unavailable(String),
    #[error("CUDA GEMM failed: {0}")]
    Device(String),
    #[error(transparent)]
    Input(#[from] veriflop_circuits::Error),
}

/// A cuBLAS handle on one GPU.
pub struct CudaGemm {
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    name: String,
}

pub enum Gemm {
    Cpu,
    Cuda(CudaGemm),
}

pub struct SelectedGemm {
    pub gemm: Gemm,
    /// Set when `auto` fell back to the CPU: why.
    pub fallback: Option<String>,
}

/// Where a product was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RanOn {
    Cpu,
    Cuda,
}

impl RanOn {
    pub fn as_str(self) -> &'static str {
        match self {
            RanOn::Cpu => "cpu",
            RanOn::Cuda => "cuda",
        }
    }
}

pub fn select(choice: GemmChoice, device: usize) -> Result<SelectedGemm, GemmError> {
    match choice {
        GemmChoice::Cpu => Ok(SelectedGemm { gemm: Gemm::Cpu, fallback: None }),
        GemmChoice::Cuda => Ok(SelectedGemm { gemm: Gemm::Cuda(CudaGemm::open(device)?), fallback: None }),
        GemmChoice::Auto => match CudaGemm::open(device) {
            Ok(g) => Ok(SelectedGemm { gemm: Gemm::Cuda(g), fallback: None }),
            Err(why) => Ok(SelectedGemm {
                gemm: Gemm::Cpu,
                fallback: Some(format!("computing C on the CPU: CUDA is not usable ({why})")),
            }),
        },
    }
}

impl Gemm {
    pub fn name(&self) -> String {
        match self {
            Gemm::Cpu => format!("cpu ({} threads)", rayon::current_num_threads()),
            Gemm::Cuda(g) => g.name.clone(),
        }
    }

    /// C = A·B for the job's shape, and where it ran.
    pub fn matmul(&self, shape: &Shape, a: &InputMatrix, b: &InputMatrix) -> Result<(OutputMatrix, RanOn), GemmError> {
        check_inputs(shape, a, b)?;
        match self {
            Gemm::Cuda(g) if gpu_exact(shape) => Ok((g.matmul_i8(shape, a, b)?, RanOn::Cuda)),
            _ => Ok((cpu_matmul(shape, a, b)?, RanOn::Cpu)),
        }
    }
}

/// int8 with every |C_ij| ≤ k·2^14 below 2^31: int32 accumulation is exact.
pub fn gpu_exact(shape: &Shape) -> bool {
    shape.dtype == Dtype::Int8 && shape.max_abs_output() < (1u128 << 31)
}

fn round4(x: usize) -> usize {
    x.div_ceil(4) * 4
}

impl CudaGemm {
    /// Loads the CUDA driver and cuBLAS, and opens GPU `device`.
    pub fn open(device: usize) -> Result<CudaGemm, GemmError> {
        // cudarc panics when a library is missing; ask first.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(GemmError::Unavailable("no CUDA driver (libcuda.so) on this machine".into()));
        }
        if !unsafe { cudarc::cublas::sys::is_culib_present() } {
            return Err(GemmError::Unavailable(
                "CUDA driver found but no cuBLAS (libcublas.so.12); install the CUDA 12 runtime libraries".into(),
            ));
        }
        let opened = std::panic::catch_unwind(|| -> Result<CudaGemm, String> {
            let ctx = CudaContext::new(device).map_err(|e| format!("cannot open CUDA device {device}: {e}"))?;
            let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
            let stream = ctx.default_stream();
            let blas = CudaBlas::new(stream.clone()).map_err(|e| format!("cuBLAS: {e}"))?;
            Ok(CudaGemm { stream, blas, name: format!("cuda:{device} ({name}, cuBLAS int8 GEMM)") })
        });
        match opened {
            Ok(Ok(g)) => Ok(g),
            Ok(Err(e)) => Err(GemmError::Unavailable(e)),
            Err(_) => {
                Err(GemmError::Unavailable("the CUDA libraries lack a needed symbol (CUDA older than 12.4?)".into()))
            }
        }
    }

    /// Row-major int8 product on the GPU. cuBLAS is column-major: it computes
    /// Cᵀ (n×m, column-major = C row-major) = op(X)·A with X = Bᵀ stored
    /// row-major and op = transpose, and A's row-major bytes read as Aᵀ — the
    /// "TN" int8 layout every cuBLAS version supports. Dimensions are
    /// zero-padded to multiples of 4 (cuBLAS' int8 requirement), which leaves
    /// the product unchanged.
    fn matmul_i8(&self, shape: &Shape, a: &InputMatrix, b: &InputMatrix) -> Result<OutputMatrix, GemmError> {
        let (m, n) = (shape.m as usize, shape.n as usize);
        let Packed { a: ha, bt: hbt, m4, k4, n4 } = pack_tn(shape, a, b);
        let dev = |e: cudarc::driver::DriverError| GemmError::Device(e.to_string());
        let da = self.stream.clone_htod(&ha).map_err(dev)?;
        let db = self.stream.clone_htod(&hbt).map_err(dev)?;
        let mut dc = self.stream.alloc_zeros::<i32>(m4 * n4).map_err(dev)?;
        let (alpha, beta) = (1i32, 0i32);
        {
            let (pa, _ra) = da.device_ptr(&self.stream);
            let (pb, _rb) = db.device_ptr(&self.stream);
            let (pc, _rc) = dc.device_ptr_mut(&self.stream);
            let dim = |x: usize| {
                i32::try_from(x).map_err(|_| GemmError::Device(format!("dimension {x} too large for cuBLAS")))
            };
            unsafe {
                cudarc::cublas::result::gemm_ex(
                    *self.blas.handle(),
                    blas_sys::cublasOperation_t::CUBLAS_OP_T,
                    blas_sys::cublasOperation_t::CUBLAS_OP_N,
                    dim(n4)?,
                    dim(m4)?,
                    dim(k4)?,
                    (&alpha as *const i32).cast(),
                    pb as *const _,
                    blas_sys::cudaDataType::CUDA_R_8I,
                    dim(k4)?,
                    pa as *const _,
                    blas_sys::cudaDataType::CUDA_R_8I,
                    dim(k4)?,
                    (&beta as *const i32).cast(),
                    pc as *mut _,
                    blas_sys::cudaDataType::CUDA_R_32I,
                    dim(n4)?,
                    blas_sys::cublasComputeType_t::CUBLAS_COMPUTE_32I,
                    blas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DFALT,
                )
            }
            .map_err(|e| GemmError::Device(format!("cublasGemmEx: {e}")))?;
        }
        let hc = self.stream.clone_dtoh(&dc).map_err(dev)?;
        unpack(&hc, m, n, n4)
    }
}

/// Host buffers for the TN GEMM: A row-major m4×k4, Bᵀ row-major n4×k4.
struct Packed {
    a: Vec<i8>,
    bt: Vec<i8>,
    m4: usize,
    k4: usize,
    n4: usize,
}

fn pack_tn(shape: &Shape, a: &InputMatrix, b: &InputMatrix) -> Packed {
    let (m, k, n) = (shape.m as usize, shape.k as usize, shape.n as usize);
    let (m4, k4, n4) = (round4(m), round4(k), round4(n));
    // Entries are int8 (check_inputs), so the casts are exact.
    let mut pa = vec![0i8; m4 * k4];
    for r in 0..m {
        for (o, &v) in pa[r * k4..r * k4 + k].iter_mut().zip(&a.data[r * k..(r + 1) * k]) {
            *o = v as i8;
        }
    }
    let mut bt = vec![0i8; n4 * k4];
    for r in 0..k {
        for c in 0..n {
            bt[c * k4 + r] = b.data[r * n + c] as i8;
        }
    }
    Packed { a: pa, bt, m4, k4, n4 }
}

/// C row-major m×n out of the padded m4×n4 result (row stride n4).
fn unpack(c: &[i32], m: usize, n: usize, n4: usize) -> Result<OutputMatrix, GemmError> {
    let mut data = Vec::with_capacity(m * n);
    for r in 0..m {
        data.extend(c[r * n4..r * n4 + n].iter().map(|&v| v as i128));
    }
    Ok(Matrix::new(m, n, data)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactness_bound() {
        assert!(gpu_exact(&Shape::square(1024, Dtype::Int8).unwrap()));
        assert!(!gpu_exact(&Shape::square(64, Dtype::Int16).unwrap()));
        assert!(gpu_exact(&Shape::new(1, veriflop_circuits::shape::MAX_DIM, 1, Dtype::Int8).unwrap()));
        assert!(!gpu_exact(&Shape::square(8, Dtype::Int32).unwrap()));
    }

    /// cublasGemmEx's definition for (T, N), column-major:
    /// C[j + i·ldc] = Σ_l X[l + j·ldx] · Y[l + i·ldy], j < rows, i < cols.
    #[allow(clippy::too_many_arguments)]
    fn reference_gemm_tn(
        rows: usize,
        cols: usize,
        k: usize,
        x: &[i8],
        ldx: usize,
        y: &[i8],
        ldy: usize,
        ldc: usize,
    ) -> Vec<i32> {
        let mut c = vec![0i32; ldc * cols];
        for i in 0..cols {
            for j in 0..rows {
                c[j + i * ldc] = (0..k).map(|l| x[l + j * ldx] as i32 * y[l + i * ldy] as i32).sum();
            }
        }
        c
    }

    /// The buffers and arguments `matmul_i8` hands cuBLAS give A·B under
    /// cuBLAS' own definition (checked here without a GPU).
    #[test]
    fn tn_layout_computes_the_row_major_product() {
        for (m, k, n, seed) in [(1, 1, 1, 1), (3, 5, 7, 2), (4, 4, 4, 3), (9, 2, 13, 4), (17, 33, 6, 5)] {
            let shape = Shape::new(m, k, n, Dtype::Int8).unwrap();
            let a = InputMatrix::random(m as usize, k as usize, Dtype::Int8, seed).unwrap();
            let b = InputMatrix::random(k as usize, n as usize, Dtype::Int8, seed + 9).unwrap();
            let p = pack_tn(&shape, &a, &b);
            assert!(p.m4 % 4 == 0 && p.k4 % 4 == 0 && p.n4 % 4 == 0);
            let c = reference_gemm_tn(p.n4, p.m4, p.k4, &p.bt, p.k4, &p.a, p.k4, p.n4);
            let got = unpack(&c, m as usize, n as usize, p.n4).unwrap();
            assert_eq!(got, veriflop_circuits::execute::matmul_naive(&a, &b), "{m}×{k}×{n}");
        }
    }

    #[test]
    fn cpu_gemm_and_auto_fallback() {
        let shape = Shape::new(3, 5, 2, Dtype::Int8).unwrap();
        let a = InputMatrix::random(3, 5, Dtype::Int8, 1).unwrap();
        let b = InputMatrix::random(5, 2, Dtype::Int8, 2).unwrap();
        let (c, ran) = Gemm::Cpu.matmul(&shape, &a, &b).unwrap();
        assert_eq!((c, ran), (veriflop_circuits::execute::matmul_naive(&a, &b), RanOn::Cpu));
        let auto = select(GemmChoice::Auto, 0).unwrap();
        if let Some(why) = &auto.fallback {
            assert!(why.starts_with("computing C on the CPU: CUDA is not usable ("), "{why}");
            assert!(select(GemmChoice::Cuda, 0).is_err());
        }
    }
}
