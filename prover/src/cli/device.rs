//! Options choosing where the provider's work runs: the proving backend
//! (MSM/NTT) and the GEMM that computes C.

use std::path::PathBuf;

use veriflop_prover::gemm::{self, Gemm, GemmChoice, GemmError};
use veriflop_prover::{backend, Backend, BackendChoice, IcicleConfig};

use super::common::{CliError, Ctx};

#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Groth16 MSM/NTT backend: auto uses ICICLE when its library and a device are usable.
    #[arg(long, value_enum, env = "VERIFLOP_BACKEND", default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// ICICLE install: the folder holding lib/libicicle_device.so [default: /opt/icicle].
    #[arg(long, env = "VERIFLOP_ICICLE_DIR")]
    pub icicle_dir: Option<PathBuf>,
    /// ICICLE device, TYPE[:ID]: CUDA:0 for the first GPU; CPU is ICICLE's CPU backend (for testing).
    #[arg(long, env = "VERIFLOP_ICICLE_DEVICE", default_value = "CUDA:0")]
    pub icicle_device: String,
    #[command(flatten)]
    pub gemm: GemmArgs,
}

/// Where C = A·B runs (also on its own, for `execute`).
#[derive(clap::Args, Debug, Clone)]
pub struct GemmArgs {
    /// Where C = A·B runs: auto uses cuBLAS on a CUDA GPU when usable, else the CPU; cpu always
    /// computes it exactly on the CPU; cuda requires a usable GPU (an error otherwise).
    #[arg(long, value_enum, env = "VERIFLOP_GEMM", default_value_t = GemmChoice::Auto)]
    pub gemm: GemmChoice,
    /// CUDA device for the GEMM.
    #[arg(long, env = "VERIFLOP_CUDA_DEVICE", default_value_t = 0)]
    pub cuda_device: usize,
}

impl DeviceArgs {
    /// These options as command-line arguments (for the agent the demo starts).
    pub fn to_args(&self) -> Vec<String> {
        use clap::ValueEnum;
        let name = |v: Option<clap::builder::PossibleValue>| v.map(|v| v.get_name().to_string()).unwrap_or_default();
        let mut a = vec![
            "--backend".into(),
            name(self.backend.to_possible_value()),
            "--icicle-device".into(),
            self.icicle_device.clone(),
            "--gemm".into(),
            name(self.gemm.gemm.to_possible_value()),
            "--cuda-device".into(),
            self.gemm.cuda_device.to_string(),
        ];
        if let Some(d) = &self.icicle_dir {
            a.extend(["--icicle-dir".into(), d.display().to_string()]);
        }
        a
    }

    pub fn icicle(&self) -> Result<IcicleConfig, CliError> {
        IcicleConfig { dir: self.icicle_dir.clone(), ..Default::default() }
            .with_device(&self.icicle_device)
            .map_err(|e| CliError::new("bad_input", e))
    }

    /// The proving backend; an `auto` fallback is said on stderr.
    pub fn backend(&self, ctx: &Ctx) -> Result<Box<dyn Backend>, CliError> {
        let selected = backend::select(self.backend, &self.icicle()?)
            .map_err(|e| CliError::new("backend_unavailable", format!("--backend icicle: {e}")))?;
        if let Some(why) = selected.fallback {
            ctx.note(why);
        }
        Ok(selected.backend)
    }
}

impl GemmArgs {
    /// The GEMM for C = A·B; an `auto` fallback is said on stderr.
    pub fn open(&self, ctx: &Ctx) -> Result<Gemm, CliError> {
        let selected = gemm::select(self.gemm, self.cuda_device)
            .map_err(|e| CliError::new("gemm_unavailable", format!("--gemm cuda: {e}")))?;
        if let Some(why) = selected.fallback {
            ctx.note(why);
        }
        Ok(selected.gemm)
    }
}

impl From<GemmError> for CliError {
    fn from(e: GemmError) -> Self {
        match e {
            GemmError::Input(e) => e.into(),
            e => CliError::new("gemm_failed", e.to_string()),
        }
    }
}
