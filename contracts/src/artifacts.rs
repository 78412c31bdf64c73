//! Compiled contracts from `contracts/out/` (built by `contracts/build.sh` with
//! the pinned solc, committed, embedded here at compile time).

use serde_json::Value;
use std::sync::OnceLock;

/// ABI and bytecode of one contract.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub name: String,
    pub abi: Value,
    /// Creation bytecode (append ABI-encoded constructor arguments to deploy).
    pub bytecode: Vec<u8>,
    pub deployed_bytecode: Vec<u8>,
}

impl Artifact {
    /// Parses an artifact written by `scripts/compile.js`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Self::from_value(&v)
    }

    pub fn from_value(v: &Value) -> Result<Self, String> {
        let hexfield = |k: &str| -> Result<Vec<u8>, String> {
            let s = v[k].as_str().ok_or_else(|| format!("artifact has no {k}"))?;
            hex::decode(s.trim_start_matches("0x")).map_err(|e| format!("{k}: {e}"))
        };
        Ok(Artifact {
            name: v["contractName"].as_str().unwrap_or_default().to_string(),
            abi: v["abi"].clone(),
            bytecode: hexfield("bytecode")?,
            deployed_bytecode: hexfield("deployedBytecode")?,
        })
    }

    /// Creation code followed by the constructor arguments.
    pub fn initcode(&self, args: &[u8]) -> Vec<u8> {
        let mut code = self.bytecode.clone();
        code.extend_from_slice(args);
        code
    }
}

macro_rules! artifact {
    ($fn:ident, $file:literal) => {
        pub fn $fn() -> &'static Artifact {
            static A: OnceLock<Artifact> = OnceLock::new();
            A.get_or_init(|| {
                Artifact::from_json(include_str!(concat!("../out/", $file))).expect(concat!(
                    "committed artifact contracts/out/",
                    $file,
                    " is valid"
                ))
            })
        }
    };
}

artifact!(job_escrow, "JobEscrow.json");
artifact!(groth16_verifier, "Groth16Verifier.json");
artifact!(committed_verifier, "CommittedVerifier.json");
artifact!(inference_verifier, "InferenceVerifier.json");
artifact!(reentrant_provider, "ReentrantProvider.json");
artifact!(vanishing_verifier_factory, "VanishingVerifierFactory.json");

/// Every committed artifact of a deployable contract.
pub fn all() -> [&'static Artifact; 6] {
    [
        job_escrow(),
        groth16_verifier(),
        committed_verifier(),
        inference_verifier(),
        reentrant_provider(),
        vanishing_verifier_factory(),
    ]
}
