//! `--backend auto|cpu|icicle`: which backend proves, and why.

use super::{Backend, BackendError, CpuBackend, IcicleBackend, IcicleConfig};

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// ICICLE when its library and a device are usable, else the CPU (saying why).
    #[default]
    Auto,
    /// arkworks on all CPU cores.
    Cpu,
    /// ICICLE, or an error saying what is missing.
    Icicle,
}

pub struct Selected {
    pub backend: Box<dyn Backend>,
    /// Set when `auto` fell back to the CPU: the one line saying why.
    pub fallback: Option<String>,
}

/// The backend for `choice`. Only an explicit `icicle` fails; `auto` falls back.
pub fn select(choice: BackendChoice, icicle: &IcicleConfig) -> Result<Selected, BackendError> {
    let cpu = || Box::new(CpuBackend::new()) as Box<dyn Backend>;
    match choice {
        BackendChoice::Cpu => Ok(Selected { backend: cpu(), fallback: None }),
        BackendChoice::Icicle => Ok(Selected { backend: Box::new(IcicleBackend::load(icicle)?), fallback: None }),
        BackendChoice::Auto => match IcicleBackend::load(icicle) {
            Ok(b) => Ok(Selected { backend: Box::new(b), fallback: None }),
            Err(why) => Ok(Selected {
                backend: cpu(),
                fallback: Some(format!("proving on the CPU: ICICLE is not usable ({why})")),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_falls_back_and_icicle_fails_without_an_install() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = IcicleConfig { dir: Some(dir.path().into()), ..Default::default() };
        let auto = select(BackendChoice::Auto, &cfg).unwrap();
        assert!(auto.backend.name().starts_with("cpu"));
        let why = auto.fallback.unwrap();
        assert!(why.starts_with("proving on the CPU: ICICLE is not usable (no ICICLE install at"), "{why}");
        assert!(select(BackendChoice::Icicle, &cfg).is_err());
        let cpu = select(BackendChoice::Cpu, &cfg).unwrap();
        assert!(cpu.fallback.is_none() && cpu.backend.name().starts_with("cpu"));
    }
}
