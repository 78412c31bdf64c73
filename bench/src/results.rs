//! The results format, `veriflop-bench/2`.
//!
//! One JSON document per run. Its JSON Schema is `bench/schema/results-v2.schema.json`
//! and every field is explained in `docs/BENCHMARKS.md`. Compatible additions
//! (new optional fields) keep the version; anything that changes the meaning or
//! type of an existing field bumps it.
//!
//! Version 2 (the commit-and-prove construction) differs from version 1 in:
//! constructions `committed`, `poseidon` (version 1's `freivalds`, renamed) and
//! `naive`; `timings.commit` is the data commitments and challenge computed by
//! the prover (part of `prove`, which now includes it) instead of the
//! stand-alone cm_C hash; `exact.commitments_bytes`; the top-level `skipped`
//! list; and a structured `extensions.service`. [`Results::read`] still reads
//! version-1 files (upgraded in memory, see [`upgrade_v1`]) so that `check` can
//! say what a version-1 publication can and cannot be compared with.
//!
//! Units: times in seconds, sizes and memory in bytes, gas in gas units.

use serde::{Deserialize, Serialize};
use veriflop_circuits::{CircuitKind, Dtype, ProofSystem};

use crate::stats::Stat;

/// The value of the `schema` field of every results file this version writes.
pub const SCHEMA: &str = "veriflop-bench/2";

/// The previous version, still readable (see [`upgrade_v1`]).
pub const SCHEMA_V1: &str = "veriflop-bench/1";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    /// "quick", "full", "tiny", or "custom" when cases were filtered or repetitions changed.
    pub suite: String,
    /// Start of the run, UTC, RFC 3339 (`2025-01-31T12:00:00Z`).
    pub created_utc: String,
    /// Wall time of the whole run, seconds.
    pub duration_s: f64,
    pub machine: Machine,
    pub software: Software,
    pub settings: Settings,
    /// Backends this binary knows, and whether each was available and used.
    pub backends: Vec<BackendInfo>,
    /// One calibration per backend used (see `case::calibrate`).
    pub calibration: Vec<Calibration>,
    pub cases: Vec<CaseResult>,
    /// Cases that did not complete (the run exits non-zero when any is listed).
    pub failures: Vec<Failure>,
    /// Cases of the suite that were not run, and why (e.g. not enough memory).
    pub skipped: Vec<Skipped>,
    pub extensions: Extensions,
    /// MSM and NTT timings per backend at the suite's sizes (CPU beside GPU);
    /// empty for suites without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primitives: Vec<Primitive>,
    /// Set when this document was read from an older schema version and upgraded
    /// in memory (never written).
    #[serde(skip)]
    pub upgraded_from: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    /// Logical CPUs the process may use.
    pub logical_cores: usize,
    /// Worker threads of the CPU backend (rayon).
    pub threads: usize,
    pub memory_bytes: Option<u64>,
    /// `nvidia-smi` names and memory, empty when there is no NVIDIA GPU or tool.
    pub gpus: Vec<String>,
    pub os: String,
    pub kernel: Option<String>,
    /// /proc/loadavg (1, 5, 15 minutes) when the run started and ended.
    pub load_average_start: Option<[f64; 3]>,
    pub load_average_end: Option<[f64; 3]>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Software {
    pub crate_version: String,
    pub git_commit: Option<String>,
    /// True when the work tree had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// The compiler that built the benchmark binary.
    pub rustc: String,
    /// "release" or "debug" (debug figures are not comparable).
    pub profile: String,
    /// Cargo features of veriflop-bench compiled in (e.g. "gas").
    pub features: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// Seed of the generated matrices and keys.
    pub seed: u64,
    /// Case filter given on the command line, if any.
    pub filter: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackendInfo {
    pub id: String,
    pub name: String,
    pub available: bool,
    pub used: bool,
    pub note: Option<String>,
}

/// A fixed, seeded workload on one backend, so that times from two machines can
/// be compared: `check` divides each time by (my score / published score).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Calibration {
    pub backend: String,
    /// What was run, in words.
    pub workload: String,
    pub msm_g1_points: usize,
    pub ntt_size: usize,
    /// Seconds per round (one MSM + one forward and one inverse NTT); samples from
    /// the start and the end of the run together.
    pub score: Stat,
    pub msm: Stat,
    pub ntt: Stat,
    /// Median at the end of the run / median at the start (1.0 = the machine's
    /// speed did not change during the run).
    pub drift: f64,
    /// Seconds per round of the same kind of workload on ONE thread of the CPU
    /// (G1 MSM of 2^13 points + forward and inverse NTT of 2^16, arkworks, a
    /// one-thread pool), whatever the backend: `check` normalises the figures that
    /// do not scale with cores (witness synthesis, commitment, verification) by it.
    /// Absent in files written before the one-thread calibration existed; `check`
    /// then normalises one-thread figures by the all-core ratio (with a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<Stat>,
    /// Seconds of a short one-thread task (G1 MSM of 2^7 points, about a
    /// millisecond), repeated: its max − median is the delay the machine's
    /// scheduling adds to a short figure (large on an oversubscribed machine),
    /// which `check` allows on top of a time. Absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Stat>,
    /// CPU time and run-queue wait of the measured all-core rounds (`score`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runqueue: Option<RunQueue>,
    /// The same for the one-thread rounds (`serial`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_runqueue: Option<RunQueue>,
}

/// What the kernel accounted to a process's threads over a measured period
/// (Linux `/proc/self/task/*/schedstat`): time running on a CPU and time
/// runnable but waiting for one. `wait_s` is the interference of other
/// processes (an oversubscribed machine); `check` multiplies the period's
/// times by [`RunQueue::share`] to compare them without it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunQueue {
    pub cpu_s: f64,
    pub wait_s: f64,
}

impl RunQueue {
    /// The fraction of its runnable time the process spent on a CPU (1 when nothing was recorded).
    pub fn share(&self) -> f64 {
        let total = self.cpu_s + self.wait_s;
        if total > 0.0 {
            (self.cpu_s / total).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }

    /// The sum of two periods.
    pub fn plus(self, o: RunQueue) -> RunQueue {
        RunQueue { cpu_s: self.cpu_s + o.cpu_s, wait_s: self.wait_s + o.wait_s }
    }
}

/// Run-queue accounting of a case: key generation, and the measured rounds
/// together (warm-up excluded).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseRunQueue {
    pub setup: RunQueue,
    pub measured: RunQueue,
}

/// What a case runs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CaseSpec {
    /// Proof system (absent: Groth16, as in every file written before halo2).
    #[serde(default, skip_serializing_if = "is_groth16")]
    pub system: ProofSystem,
    /// The statement's circuit (halo2: `poseidon`, the Poseidon-committed statement).
    pub construction: CircuitKind,
    pub dtype: Dtype,
    /// The job is n×n×n.
    pub n: u32,
    /// Backend id (see [`BackendInfo::id`]).
    pub backend: String,
    /// Unmeasured runs before the measured ones.
    pub warmup: u32,
    /// Measured repetitions.
    pub reps: u32,
    pub seed: u64,
    /// Settle the last proof in the in-process EVM and record gas (needs the `gas` feature).
    pub gas: bool,
}

fn is_groth16(s: &ProofSystem) -> bool {
    *s == ProofSystem::Groth16Bn254
}

impl CaseSpec {
    /// Stable identifier: `committed/int8/n64/cpu`; halo2 cases `halo2/int8/n64/cpu`.
    pub fn id(&self) -> String {
        format!("{}/{}/n{}/{}", self.label(), self.dtype, self.n, self.backend)
    }

    /// What the reports call the series: the Groth16 construction, or `halo2`.
    pub fn label(&self) -> String {
        match self.system {
            ProofSystem::Groth16Bn254 => self.construction.to_string(),
            ProofSystem::Halo2KzgBn254 => "halo2".into(),
        }
    }

    /// A Groth16 case of construction `kind`.
    pub fn is_groth16(&self, kind: CircuitKind) -> bool {
        self.system == ProofSystem::Groth16Bn254 && self.construction == kind
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: String,
    pub spec: CaseSpec,
    pub exact: Exact,
    /// Groth16 key generation (development setup), once per case.
    pub setup_s: f64,
    /// Every timing of a short key generation (timed several times, `setup_s`
    /// their median): its dispersion is the figure's noise when runs are
    /// compared. Absent when it ran once, and in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<crate::stats::Stat>,
    pub timings: Timings,
    pub memory: Memory,
    /// On-chain settlement gas of the last proof, when measured.
    pub gas: Option<Gas>,
    /// Where C = A·B ran ("cpu", "cuda"); absent in older files (cpu).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm: Option<String>,
    /// Kernel run-queue accounting of the case's process (Linux); absent in
    /// older files and elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runqueue: Option<CaseRunQueue>,
}

/// One MSM or NTT size through one backend: median of `time`, checked
/// against the CPU backend's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Primitive {
    pub backend: String,
    /// "msm_g1" (one G1 MSM of 2^log_size points) or "ntt" (a forward and an
    /// inverse NTT of 2^log_size elements).
    pub op: String,
    pub log_size: u32,
    /// Seconds per operation, host memory in and out (as the prover calls it).
    pub time: Stat,
}

/// Figures that must be identical on every machine.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Exact {
    pub constraints: u64,
    /// Variables of the assignment (1 + public inputs + witnesses).
    pub variables: u64,
    /// NTT domain size (power of two ≥ constraints + public inputs + 1).
    pub domain_size: u64,
    pub public_inputs: u64,
    pub proof_bytes: u64,
    /// Commitment points the bundle carries beside the Groth16 proof (cm_A, cm_B,
    /// cm_C and the proof-of-knowledge point, 64 bytes each in EVM form), 0 for the
    /// Poseidon and naive constructions.
    pub commitments_bytes: u64,
    /// Proof bundle, wire form (`VFPB` ‖ bincode).
    pub bundle_bytes: u64,
    /// Verifying-key file (header + arkworks uncompressed).
    pub vk_bytes: u64,
    /// Proving key, arkworks uncompressed (without the file header).
    pub pk_bytes: u64,
}

/// Per-repetition phases, seconds. `prove` = commit + witness + ntt + msm + other.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Timings {
    /// Native C = A·B.
    pub execute: Stat,
    /// The prover's data commitments and challenge: Pedersen commitments of A, B,
    /// C and the proof-of-knowledge point (committed; multi-threaded), or the
    /// Poseidon hashes of A, B and C (poseidon, naive; one thread).
    pub commit: Stat,
    /// Constraint synthesis and witness generation.
    pub witness: Stat,
    pub ntt: Stat,
    pub msm: Stat,
    /// The rest of proving (QAP evaluation outside NTTs, group arithmetic).
    pub other: Stat,
    pub prove: Stat,
    /// Native verification of the bundle against the job and payee; each
    /// repetition's sample is the median of `case::VERIFY_SAMPLES` verifications.
    pub verify: Stat,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Memory {
    /// Peak resident set of the case's process during key generation.
    pub peak_rss_setup_bytes: Option<u64>,
    /// Peak resident set from the end of key generation to the end of the case
    /// (proving and verifying, keys resident). None when the peak could not be reset.
    pub peak_rss_prove_bytes: Option<u64>,
    /// Peak resident set of the whole case process.
    pub peak_rss_bytes: Option<u64>,
    /// Where the figures come from, e.g. "/proc/self/status VmHWM".
    pub source: String,
}

/// Gas of one settlement in the in-process EVM (veriflop-contracts `settle_in_evm`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Gas {
    /// Stand-alone `verifyProof` transaction (intrinsic gas included).
    pub verify_tx: u64,
    /// The verifier call inside `submit`.
    pub verifier_call: u64,
    /// The whole `JobEscrow.submit` transaction (verification and payment).
    pub submit_tx: u64,
    pub post_job: u64,
    pub lock: u64,
    pub deploy_verifier: u64,
    pub deploy_escrow: u64,
    pub register_verifier: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    pub id: String,
    pub error: String,
}

/// A case of the suite that was not run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Skipped {
    pub id: String,
    pub reason: String,
}

/// Figures that come from other crates, and whether this run has them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Extensions {
    pub gas: ExtensionStatus,
    pub service_throughput: ExtensionStatus,
    /// Verifier-service figures (see `service`), when measured.
    pub service: Option<ServiceThroughput>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExtensionStatus {
    /// "measured", "unavailable" (not built in), "skipped" (disabled for this run) or "failed".
    pub status: String,
    pub detail: String,
}

/// Verification throughput of one key: native (`Verifier::verify_for_job`) on
/// one thread and on every core, and through the HTTP verifier service with
/// concurrent connections, every request verifying a distinct proof and
/// releasing a distinct escrow.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceThroughput {
    /// `service/<circuit>/<dtype>/n<n>`.
    pub id: String,
    pub circuit: CircuitKind,
    /// The job shape, e.g. `4×4×4 int8`.
    pub shape: String,
    /// Distinct jobs (and proofs) per measurement.
    pub jobs: u64,
    /// Logical cores of the machine (load generator and service share them).
    pub cores: u64,
    /// Untimed preparation: key generation and every proof, seconds.
    pub setup_s: f64,
    /// Escrow ledger of the service (e.g. a temporary SQLite file).
    pub ledger: String,
    /// Native verification; `concurrency` = threads.
    pub native: Vec<ServiceRun>,
    /// HTTP submissions; `concurrency` = concurrent connections.
    pub http: Vec<ServiceRun>,
}

/// One throughput measurement.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ServiceRun {
    pub concurrency: u64,
    pub proofs: u64,
    /// Wall time of all `proofs` verifications (requests), seconds.
    pub wall_s: f64,
    /// proofs / wall_s.
    pub per_s: f64,
    /// Latency of one verification (request), milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Run-queue accounting of the measurement's process (Linux); absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runqueue: Option<RunQueue>,
}

/// Version-1 documents, upgraded in memory to version 2: `freivalds` (the
/// in-circuit-hash Freivalds construction) is renamed `poseidon` in
/// constructions and ids, `commitments_bytes` is 0, `skipped` is empty and the
/// (never filled) `service` is null. The figures keep their version-1 values;
/// `check` knows which of them changed meaning (`commit`, `prove`).
pub fn upgrade_v1(mut v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let rename = |id: &mut Value| {
        if let Some(s) = id.as_str() {
            if let Some(rest) = s.strip_prefix("freivalds/") {
                *id = Value::String(format!("poseidon/{rest}"));
            }
        }
    };
    v["schema"] = Value::String(SCHEMA.into());
    if let Some(cases) = v.get_mut("cases").and_then(Value::as_array_mut) {
        for c in cases {
            rename(&mut c["id"]);
            if c["spec"]["construction"] == "freivalds" {
                c["spec"]["construction"] = Value::String("poseidon".into());
            }
            if let Some(e) = c.get_mut("exact").and_then(Value::as_object_mut) {
                e.entry("commitments_bytes").or_insert(Value::from(0u64));
            }
        }
    }
    if let Some(f) = v.get_mut("failures").and_then(Value::as_array_mut) {
        for x in f {
            rename(&mut x["id"]);
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.entry("skipped").or_insert(Value::Array(Vec::new()));
    }
    if v.get("extensions").is_some_and(Value::is_object) {
        v["extensions"]["service"] = Value::Null;
    }
    v
}

impl Results {
    pub fn from_json(text: &str) -> anyhow::Result<Results> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        match v.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => Ok(serde_json::from_value(v)?),
            Some(SCHEMA_V1) => {
                let mut r: Results = serde_json::from_value(upgrade_v1(v))?;
                r.upgraded_from = Some(SCHEMA_V1.into());
                Ok(r)
            }
            Some(other) => {
                anyhow::bail!("results schema {other:?}: this binary reads {SCHEMA:?} (and {SCHEMA_V1:?})")
            }
            None => anyhow::bail!("not a veriflop-bench results file (no \"schema\" field)"),
        }
    }

    pub fn read(path: &std::path::Path) -> anyhow::Result<Results> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Results::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialize")
    }

    pub fn case(&self, id: &str) -> Option<&CaseResult> {
        self.cases.iter().find(|c| c.id == id)
    }

    pub fn calibration(&self, backend: &str) -> Option<&Calibration> {
        self.calibration.iter().find(|c| c.backend == backend)
    }
}
