//! `veriflop-bench check`: does a reproduction support the published claims?
//!
//! Every figure of the published file is looked up in the reproduction by key
//! (`<case id> <figure>`). **Headline** figures decide the verdict: the setup,
//! prove and verify medians, peak memory, the exact figures (constraint,
//! variable and domain counts, proof, bundle and key sizes), gas, and the
//! verifier-service throughput. **Phase** figures (the execute, commit,
//! witness, NTT, MSM and other medians; the setup and prove memory peaks) are
//! compared and reported with the same rules but never decide: they are
//! sub-timings of a headline figure, short and noisy.
//!
//! Rules, by class (each comparison records the rule and its numbers):
//!
//! - **exact**: must be equal (deterministic: same code, same shapes);
//! - **gas**: must be equal, except the two transactions that carry the proof
//!   in their calldata (`verify_tx`, `submit_tx`): a calldata byte costs 16
//!   gas, a zero byte 4 (EIP-2028), and the proof's bytes are random (the
//!   Groth16 r, s and the commitment-knowledge point; every halo2 proof byte),
//!   so they may differ by whole zero bytes — a multiple of 12 gas, at most
//!   [`gas_zero_byte_allowance`] bytes (4 + 6 standard deviations of the
//!   difference of two Poisson counts of zero bytes among the random bytes);
//!   and a halo2 verifier's deployment, whose bytecode embeds the key of the
//!   run's own random SRS: within [`SRS_GAS_TOLERANCE`];
//! - **time** (seconds; service throughput as seconds per proof): where a
//!   file recorded the kernel's run-queue accounting of the measurement
//!   (Linux schedstat: time on a CPU and time runnable but waiting for one),
//!   the time is first multiplied by the CPU share cpu ÷ (cpu + wait), which
//!   removes what other processes took from it (an oversubscribed machine);
//!   the calibration medians likewise. The reproduction's median is divided by
//!   the calibration ratio (my score ÷ published score; the one-thread
//!   calibration for one-thread figures), then
//!   may exceed the published median by the relative *allowance*
//!   `a = max(z·√(d_p² + d_m² + c_p² + c_m²), min) + machine·|log₂ ratio|
//!   + wait·(ln(1/s_p) + ln(1/s_m))` (s: the CPU shares removed above)
//!   plus an absolute slack `time_floor_s + max(D_p, D_m ÷ ratio)`, where d
//!   are the figure's own relative dispersions in the two files (half the
//!   min–max range over the median of its repetitions; for a service
//!   throughput, the spread of its requests' latencies), c the relative
//!   dispersion of the two calibrations (the machines' noise during each run),
//!   D the scheduling delay each calibration measured on a short task (max −
//!   median; large when the machine was oversubscribed), z = `noise_factor`.
//!   Faster than published is never a difference: beyond the allowance it is
//!   *better*;
//! - **memory** (peak RSS, one measurement per case, not normalised): at most
//!   `memory_tolerance` (relative) or `memory_floor_bytes` above published;
//!   smaller is better.
//!
//! A published headline figure missing from the reproduction fails the check
//! unless `allow_missing` (skipped and failed cases say why); figures only in
//! the reproduction are ignored (the check says which constructions the
//! published file lacks).
//!
//! A published file in the previous format (`veriflop-bench/1`, before the
//! committed construction) is read upgraded: its `freivalds` cases are compared
//! as `poseidon` (the same circuit, renamed); its `commit` and `prove` figures
//! changed definition (v2's prove includes the data commitments), so they are
//! reported `NOT COMPARABLE` and do not count for or against the verdict.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use veriflop_circuits::ProofSystem;

use crate::report::fmt_time;
use crate::results::{CaseResult, Results};
use crate::stats::Stat;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Exact,
    Time,
    Memory,
    Gas,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Exact => "exact",
            Class::Time => "time",
            Class::Memory => "memory",
            Class::Gas => "gas",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub key: String,
    pub class: Class,
    /// Decides the verdict (otherwise a phase figure: reported only).
    pub headline: bool,
    /// For times: computed on one thread (normalised by the one-thread calibration).
    pub serial: bool,
    /// Backend that produced it (for calibration).
    pub backend: String,
    pub value: f64,
    /// Times: relative dispersion of the repetitions, (max − min) / (2 · median);
    /// 0 for a single measurement.
    pub dispersion: f64,
    /// Gas of a transaction whose calldata carries the proof: how many of its
    /// bytes are random per proof (proof and commitment points).
    pub random_calldata_bytes: Option<u64>,
    /// Gas of deploying a halo2 verifier: the contract embeds the verifying key,
    /// which depends on the SRS the run drew (a development SRS is random per run).
    pub srs_dependent: bool,
    /// Times: the share of its runnable time the process got on a CPU while the
    /// figure was measured (kernel run-queue accounting; 1 when not recorded).
    pub cpu_share: f64,
}

/// Calibration drift (end / start) beyond which a run's times are flagged as unreliable.
pub const DRIFT_OK: (f64, f64) = (0.87, 1.15);

/// Timed phases that run on one thread (constraint synthesis, native Poseidon,
/// one pairing check): they scale with single-core speed, not with cores.
/// `commit` is one-threaded only for the Poseidon-hash constructions (the
/// committed construction's Pedersen commitments use every core).
pub const SERIAL_PHASES: [&str; 3] = ["witness", "commit", "verify"];

/// Timed figures that decide the verdict; the other timings are phases.
pub const HEADLINE_TIMES: [&str; 3] = ["setup", "prove (median)", "verify (median)"];

/// Figures whose definition changed from `veriflop-bench/1` to `/2`.
pub const CHANGED_SINCE_V1: [&str; 2] = ["commit (median)", "prove (median)"];

/// Key of the service figure "native verification on one thread".
pub const SERVICE_NATIVE_SERIAL: &str = "native 1 thread (s/proof)";

/// Relative tolerance of a halo2 verifier's deployment gas: its bytecode embeds
/// the verifying key of the run's random development SRS, whose constants vary
/// in their zero bytes (seen: 840 gas in 4.68 M, 0.02%).
pub const SRS_GAS_TOLERANCE: f64 = 0.001;

/// Gas of one calldata byte minus that of a zero byte (EIP-2028: 16 − 4).
pub const GAS_PER_ZERO_BYTE: i64 = 12;

/// How many more or fewer zero bytes two proofs' calldata may have: 4 + 6σ of
/// the difference of two Poisson(λ) counts, λ = random bytes / 256.
pub fn gas_zero_byte_allowance(random_bytes: u64) -> i64 {
    let lambda = random_bytes as f64 / 256.0;
    (4.0 + 6.0 * (2.0 * lambda).sqrt()).ceil() as i64
}

/// Relative dispersion of a statistic: half its min–max range over its median.
pub fn dispersion(s: &Stat) -> f64 {
    if s.median > 0.0 && s.samples.len() > 1 {
        (s.max - s.min) / (2.0 * s.median)
    } else {
        0.0
    }
}

/// Relative dispersion of a service throughput: the spread of its requests'
/// latencies, (p99 − p50) / (2 · p50). A throughput is one measurement, but
/// each of its requests is a sample; a stall during the run (an fsync, a
/// preempted thread) shows up here as it does in the throughput.
pub fn latency_dispersion(run: &crate::results::ServiceRun) -> f64 {
    if run.p50_ms > 0.0 && run.p99_ms >= run.p50_ms {
        (run.p99_ms - run.p50_ms) / (2.0 * run.p50_ms)
    } else {
        0.0
    }
}

/// Every comparable figure of a results file, in a stable order.
pub fn figures(r: &Results) -> Vec<Figure> {
    let mut out = Vec::new();
    for c in &r.cases {
        case_figures(c, &mut out);
    }
    if let Some(t) = &r.extensions.service {
        // Verification runs on the CPU whatever the proving backend.
        let mut push = |name: String, serial: bool, run: &crate::results::ServiceRun| {
            if run.proofs > 0 && run.per_s > 0.0 {
                out.push(Figure {
                    key: format!("{} {name}", t.id),
                    class: Class::Time,
                    headline: true,
                    serial,
                    backend: "cpu".into(),
                    value: 1.0 / run.per_s,
                    dispersion: latency_dispersion(run),
                    random_calldata_bytes: None,
                    srs_dependent: false,
                    cpu_share: run.runqueue.map_or(1.0, |q| q.share()),
                })
            }
        };
        for (i, run) in t.native.iter().enumerate() {
            if i == 0 && run.concurrency == 1 {
                push(SERVICE_NATIVE_SERIAL.into(), true, run);
            } else {
                push(format!("native {} threads (s/proof)", run.concurrency), false, run);
            }
        }
        for run in &t.http {
            push(format!("http c{} (s/proof)", run.concurrency), false, run);
        }
    }
    out
}

fn case_figures(c: &CaseResult, out: &mut Vec<Figure>) {
    let poseidon_hashes = c.spec.construction != veriflop_circuits::CircuitKind::Committed;
    let share = |setup: bool| c.runqueue.map_or(1.0, |q| if setup { q.setup.share() } else { q.measured.share() });
    let fig = |name: &str, class: Class, value: f64, dispersion: f64, headline: bool| {
        let serial = class == Class::Time
            && SERIAL_PHASES.iter().any(|p| name.starts_with(p))
            && (poseidon_hashes || !name.starts_with("commit"));
        Figure {
            key: format!("{} {name}", c.id),
            class,
            headline,
            serial,
            backend: c.spec.backend.clone(),
            value,
            dispersion,
            random_calldata_bytes: None,
            srs_dependent: false,
            cpu_share: if class == Class::Time { share(name == "setup") } else { 1.0 },
        }
    };
    let mut push = |name: &str, class: Class, value: f64, dispersion: f64, headline: bool| {
        out.push(fig(name, class, value, dispersion, headline))
    };
    let e = &c.exact;
    for (name, v) in [
        ("constraints", e.constraints),
        ("variables", e.variables),
        ("domain_size", e.domain_size),
        ("public_inputs", e.public_inputs),
        ("proof_bytes", e.proof_bytes),
        ("commitments_bytes", e.commitments_bytes),
        ("bundle_bytes", e.bundle_bytes),
        ("vk_bytes", e.vk_bytes),
        ("pk_bytes", e.pk_bytes),
    ] {
        push(name, Class::Exact, v as f64, 0.0, true);
    }
    push("setup", Class::Time, c.setup_s, c.setup.as_ref().map(dispersion).unwrap_or(0.0), true);
    let t = &c.timings;
    for (name, s) in [
        ("execute", &t.execute),
        ("commit", &t.commit),
        ("witness", &t.witness),
        ("ntt", &t.ntt),
        ("msm", &t.msm),
        ("other", &t.other),
        ("prove", &t.prove),
        ("verify", &t.verify),
    ] {
        let name = format!("{name} (median)");
        let headline = HEADLINE_TIMES.contains(&name.as_str());
        push(&name, Class::Time, s.median, dispersion(s), headline);
    }
    let m = &c.memory;
    for (name, v, headline) in [
        ("peak_rss", m.peak_rss_bytes, true),
        ("peak_rss_setup", m.peak_rss_setup_bytes, false),
        ("peak_rss_prove", m.peak_rss_prove_bytes, false),
    ] {
        if let Some(v) = v {
            push(name, Class::Memory, v as f64, 0.0, headline);
        }
    }
    if let Some(g) = &c.gas {
        let random = e.proof_bytes + e.commitments_bytes;
        for (name, v, carries_proof) in [
            ("gas_verify_tx", g.verify_tx, true),
            ("gas_verifier_call", g.verifier_call, false),
            ("gas_submit_tx", g.submit_tx, true),
            ("gas_post_job", g.post_job, false),
            ("gas_lock", g.lock, false),
            ("gas_deploy_verifier", g.deploy_verifier, false),
            ("gas_deploy_escrow", g.deploy_escrow, false),
            ("gas_register_verifier", g.register_verifier, false),
        ] {
            let mut f = fig(name, Class::Gas, v as f64, 0.0, true);
            f.random_calldata_bytes = carries_proof.then_some(random);
            f.srs_dependent = name == "gas_deploy_verifier" && c.spec.system == ProofSystem::Halo2KzgBn254;
            out.push(f);
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckOptions {
    /// z: how many times the combined relative noise a slower time may show.
    pub noise_factor: f64,
    /// Smallest relative allowance for a slower time (when both runs measured
    /// no dispersion).
    pub min_tolerance: f64,
    /// Added allowance per factor two between the machines' calibration scores:
    /// the calibration reduces a machine to an all-core and a one-thread speed,
    /// which phases that are partly parallel or memory-bound follow only roughly.
    pub machine_tolerance: f64,
    /// Added allowance per unit of ln(1 / CPU share) removed from each side: the
    /// run-queue correction is exact for one thread and approximate for
    /// parallel phases (a preempted thread also stalls the others), so the more
    /// of a measurement other processes took, the looser the comparison.
    pub wait_tolerance: f64,
    /// Times within this many seconds of the published one reproduce whatever the ratio.
    pub time_floor_s: f64,
    /// Relative allowance for a larger peak memory.
    pub memory_tolerance: f64,
    /// Absolute allowance for a larger peak memory (allocator and runtime noise of small cases).
    pub memory_floor_bytes: u64,
    pub allow_missing: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            noise_factor: 2.0,
            min_tolerance: 0.05,
            machine_tolerance: 0.10,
            wait_tolerance: 0.15,
            time_floor_s: 0.002,
            memory_tolerance: 0.25,
            memory_floor_bytes: 8 << 20,
            allow_missing: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Within the allowance of the published figure (or equal, for exact figures and gas).
    Reproduces,
    /// Faster, smaller or more throughput than published beyond the allowance:
    /// the claim holds ("reproduced or better").
    Better,
    /// Worse than published beyond the allowance (or unequal, for exact figures and gas).
    Differs,
    Missing,
    /// The two files define the figure differently (different schema versions):
    /// shown, not counted.
    #[serde(rename = "not comparable")]
    NotComparable,
}

impl Verdict {
    /// Reproduced or better.
    pub fn holds(self) -> bool {
        matches!(self, Verdict::Reproduces | Verdict::Better)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub key: String,
    pub class: Class,
    /// Decides the verdict; otherwise a phase figure, reported only.
    pub headline: bool,
    pub verdict: Verdict,
    pub published: f64,
    pub mine: Option<f64>,
    /// The reproduction's value after calibration (times only; run-queue wait
    /// removed when recorded).
    pub normalised: Option<f64>,
    /// Times: the published value with its run-queue wait removed (when recorded).
    pub published_effective: Option<f64>,
    /// Times: the CPU shares applied (published, mine).
    pub cpu_share: Option<(f64, f64)>,
    /// normalised / published − 1 (or mine / published − 1 when not normalised).
    pub deviation: Option<f64>,
    /// Times and memory: the relative excess over the published value that
    /// still reproduces (the absolute floor aside).
    pub allowance: Option<f64>,
    /// The rule that decided, with its numbers.
    pub rule: String,
    pub note: Option<String>,
}

/// Noise of one backend's calibrations in each file.
#[derive(Clone, Debug, Serialize)]
pub struct Noise {
    /// Relative dispersion of the calibration score (see [`dispersion`]).
    pub published: f64,
    pub mine: f64,
    /// The same for the one-thread calibration, when both files have it.
    pub published_serial: Option<f64>,
    pub mine_serial: Option<f64>,
    /// Scheduling delay of a short task, seconds (max − median of the jitter
    /// calibration; 0 when the file has none).
    pub published_delay_s: f64,
    pub mine_delay_s: f64,
}

/// max − median of the jitter calibration, seconds.
fn delay(s: Option<&Stat>) -> f64 {
    s.map(|s| (s.max - s.median).max(0.0)).unwrap_or(0.0)
}

/// Counts of one kind of figure (headline or phase).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub total: usize,
    pub reproduces: usize,
    pub better: usize,
    pub differs: usize,
    pub missing: usize,
    pub not_comparable: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub options: CheckOptions,
    /// Per backend: my calibration score / published score (> 1: my machine is slower).
    pub calibration_ratio: BTreeMap<String, f64>,
    /// Per backend: the same for the one-thread calibration (when both files have it).
    pub serial_ratio: BTreeMap<String, f64>,
    /// Per backend: the calibrations' relative dispersion in each file.
    pub calibration_noise: BTreeMap<String, Noise>,
    pub warnings: Vec<String>,
    /// Constructions (and the service measurement) in the reproduction that the
    /// published file does not have: their figures are not checked.
    pub not_published: Vec<String>,
    pub comparisons: Vec<Comparison>,
    /// Figures that decide the verdict.
    pub headline: Counts,
    /// Phase breakdowns: reported, never deciding.
    pub phases: Counts,
    /// True when every headline figure reproduces or is better (missing ones allowed if asked).
    pub ok: bool,
    /// The verdict line `check` prints last.
    pub verdict: String,
}

impl CheckReport {
    pub fn count(&self, v: Verdict) -> usize {
        self.comparisons.iter().filter(|c| c.verdict == v).count()
    }

    /// Headline comparisons with this verdict.
    pub fn headline_count(&self, v: Verdict) -> usize {
        self.comparisons.iter().filter(|c| c.headline && c.verdict == v).count()
    }

    /// True when every headline figure reproduces or is better (missing ones allowed if asked).
    pub fn ok(&self) -> bool {
        self.ok
    }
}

fn counts<'a>(cs: impl Iterator<Item = &'a Comparison>) -> Counts {
    let mut n = Counts::default();
    for c in cs {
        n.total += 1;
        match c.verdict {
            Verdict::Reproduces => n.reproduces += 1,
            Verdict::Better => n.better += 1,
            Verdict::Differs => n.differs += 1,
            Verdict::Missing => n.missing += 1,
            Verdict::NotComparable => n.not_comparable += 1,
        }
    }
    n
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn rel(a: f64, b: f64) -> f64 {
    if b != 0.0 {
        a / b - 1.0
    } else if a == 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// What decided a time figure.
struct TimeRule {
    ratio: f64,
    serial: bool,
    dispersion: (f64, f64),
    noise: (f64, f64),
    /// CPU shares (published, mine).
    shares: (f64, f64),
}

impl TimeRule {
    /// (allowance, noise term before the minimum, machine term, run-queue term).
    fn allowance(&self, o: &CheckOptions) -> (f64, f64, f64, f64) {
        let (dp, dm) = self.dispersion;
        let (cp, cm) = self.noise;
        let combined = o.noise_factor * (dp * dp + dm * dm + cp * cp + cm * cm).sqrt();
        let noise = combined.max(o.min_tolerance);
        let machine = o.machine_tolerance * self.ratio.log2().abs();
        let ln_inv = |s: f64| if s > 0.0 { (1.0 / s).ln().max(0.0) } else { 0.0 };
        let wait = o.wait_tolerance * (ln_inv(self.shares.0) + ln_inv(self.shares.1));
        (noise + machine + wait, combined, machine, wait)
    }
}

pub fn check(published: &Results, mine: &Results, opts: &CheckOptions) -> CheckReport {
    let mut warnings = Vec::new();
    if let Some(v) = &published.upgraded_from {
        warnings.push(format!(
            "the published file is {v}, written before the committed construction: its freivalds cases are \
             compared as poseidon (the same circuit, renamed); its commit and prove figures are defined \
             differently (prove now includes the data commitments) and are NOT COMPARABLE; re-publish to compare them"
        ));
    }
    if let Some(v) = &mine.upgraded_from {
        warnings.push(format!("my file is {v} (upgraded for reading): re-run the suite with this version"));
    }
    let mut not_published = Vec::new();
    let labels = veriflop_circuits::CircuitKind::MATMUL.map(|k| k.to_string());
    for k in labels.iter().map(String::as_str).chain(["halo2"]) {
        let count = |r: &Results| r.cases.iter().filter(|c| c.spec.label() == k).count();
        let (p, m) = (count(published), count(mine));
        if p == 0 && m > 0 {
            not_published.push(format!(
                "{k}: {m} case(s) in my run, none published{}",
                if published.upgraded_from.is_some() { " (the published file predates it)" } else { "" }
            ));
        }
    }
    if published.extensions.service.is_none() {
        if let Some(t) = &mine.extensions.service {
            not_published.push(format!("{}: measured in my run, not published", t.id));
        }
    }
    if published.software.profile != mine.software.profile {
        warnings.push(format!(
            "published figures come from a {} build, mine from a {} build: times are not comparable",
            published.software.profile, mine.software.profile
        ));
    }
    if published.software.git_commit != mine.software.git_commit {
        warnings.push(format!(
            "different commits: published {}, mine {}",
            published.software.git_commit.as_deref().unwrap_or("?"),
            mine.software.git_commit.as_deref().unwrap_or("?")
        ));
    }
    for (name, r) in [("the published run's", published), ("my run's", mine)] {
        for c in r.calibration.iter().filter(|c| !(DRIFT_OK.0..=DRIFT_OK.1).contains(&c.drift)) {
            warnings.push(format!(
                "{name} machine changed speed during the run (calibration end/start {:.2} on {}): \
                 its times are unreliable; re-run on a quiet machine",
                c.drift, c.backend
            ));
        }
    }
    let mut ratio = BTreeMap::new();
    let mut serial_ratio = BTreeMap::new();
    let mut noise = BTreeMap::new();
    // Calibration medians with their run-queue wait removed (when recorded).
    let eff = |s: &Stat, q: Option<crate::results::RunQueue>| s.median * q.map_or(1.0, |q| q.share());
    for p in &published.calibration {
        if let Some(m) = mine.calibration(&p.backend) {
            if p.score.median > 0.0 && m.score.median > 0.0 {
                ratio.insert(p.backend.clone(), eff(&m.score, m.runqueue) / eff(&p.score, p.runqueue));
            }
            let serial = match (&p.serial, &m.serial) {
                (Some(ps), Some(ms)) if ps.median > 0.0 && ms.median > 0.0 => {
                    serial_ratio.insert(p.backend.clone(), eff(ms, m.serial_runqueue) / eff(ps, p.serial_runqueue));
                    (Some(dispersion(ps)), Some(dispersion(ms)))
                }
                _ => (None, None),
            };
            noise.insert(
                p.backend.clone(),
                Noise {
                    published: dispersion(&p.score),
                    mine: dispersion(&m.score),
                    published_serial: serial.0,
                    mine_serial: serial.1,
                    published_delay_s: delay(p.jitter.as_ref()),
                    mine_delay_s: delay(m.jitter.as_ref()),
                },
            );
        }
    }
    if serial_ratio.len() < ratio.len() {
        warnings.push("a file has no one-thread calibration: one-thread figures use the all-core ratio".into());
    }
    let why_missing = |key: &str| -> String {
        let case = key.split(' ').next().unwrap_or(key);
        if let Some(s) = mine.skipped.iter().find(|s| s.id == case) {
            format!("skipped in my run: {}", s.reason)
        } else if let Some(f) = mine.failures.iter().find(|f| f.id == case) {
            format!("failed in my run: {}", f.error)
        } else {
            "not in the reproduction".into()
        }
    };
    let mine_figs: BTreeMap<String, Figure> = figures(mine).into_iter().map(|f| (f.key.clone(), f)).collect();
    let mut comparisons = Vec::new();
    for p in figures(published) {
        let base = Comparison {
            key: p.key.clone(),
            class: p.class,
            headline: p.headline,
            verdict: Verdict::Missing,
            published: p.value,
            mine: None,
            normalised: None,
            published_effective: None,
            cpu_share: None,
            deviation: None,
            allowance: None,
            rule: String::new(),
            note: None,
        };
        let Some(m) = mine_figs.get(&p.key) else {
            comparisons.push(Comparison {
                rule: "missing: a published figure the reproduction lacks".into(),
                note: Some(why_missing(&p.key)),
                ..base
            });
            continue;
        };
        let base = Comparison { mine: Some(m.value), ..base };
        if published.upgraded_from.is_some() && CHANGED_SINCE_V1.iter().any(|f| p.key.ends_with(f)) {
            comparisons.push(Comparison {
                verdict: Verdict::NotComparable,
                rule: "not comparable: defined differently in veriflop-bench/1".into(),
                ..base
            });
            continue;
        }
        let c = match p.class {
            Class::Exact => {
                let ok = p.value == m.value;
                Comparison {
                    verdict: if ok { Verdict::Reproduces } else { Verdict::Differs },
                    deviation: Some(rel(m.value, p.value)),
                    rule: if ok {
                        "exact: equal".into()
                    } else {
                        "exact: must be equal (deterministic for the same code and shape)".into()
                    },
                    ..base
                }
            }
            Class::Gas => gas_rule(&p, m, base),
            Class::Memory => {
                let d = rel(m.value, p.value);
                let floor = opts.memory_floor_bytes as f64;
                let limit = p.value * (1.0 + opts.memory_tolerance) + floor;
                let better_below = p.value * (1.0 - opts.memory_tolerance) - floor;
                let (verdict, what) = if m.value > limit {
                    (Verdict::Differs, "larger than")
                } else if m.value < better_below {
                    (Verdict::Better, "smaller than published beyond")
                } else {
                    (Verdict::Reproduces, "within")
                };
                Comparison {
                    verdict,
                    deviation: Some(d),
                    allowance: Some(opts.memory_tolerance),
                    rule: format!(
                        "memory: {what} published ± ({} + {}) = {}..{}",
                        pct(opts.memory_tolerance),
                        crate::report::fmt_bytes(opts.memory_floor_bytes),
                        crate::report::fmt_bytes(better_below.max(0.0) as u64),
                        crate::report::fmt_bytes(limit as u64)
                    ),
                    ..base
                }
            }
            Class::Time => {
                let r = if p.serial {
                    serial_ratio.get(&p.backend).or(ratio.get(&p.backend))
                } else {
                    ratio.get(&p.backend)
                };
                let Some(&r) = r else {
                    comparisons.push(Comparison {
                        verdict: Verdict::Differs,
                        rule: format!("time: no calibration for backend {} in both files", p.backend),
                        ..base
                    });
                    continue;
                };
                let nz = noise.get(&p.backend);
                let serial_noise = p.serial && serial_ratio.contains_key(&p.backend);
                let cal = |n: &Noise| {
                    if serial_noise {
                        (n.published_serial.unwrap_or(n.published), n.mine_serial.unwrap_or(n.mine))
                    } else {
                        (n.published, n.mine)
                    }
                };
                let rule = TimeRule {
                    ratio: r,
                    serial: serial_noise,
                    dispersion: (p.dispersion, m.dispersion),
                    noise: nz.map(cal).unwrap_or((0.0, 0.0)),
                    shares: (p.cpu_share, m.cpu_share),
                };
                let (a, combined, machine, wait) = rule.allowance(opts);
                let pe = p.value * p.cpu_share;
                let n = m.value * m.cpu_share / r;
                let d = rel(n, pe);
                let delay = nz.map(|z| z.published_delay_s.max(z.mine_delay_s / r)).unwrap_or(0.0);
                let slack = opts.time_floor_s + delay;
                let limit = pe * (1.0 + a) + slack;
                let better_below = pe * (1.0 - a) - slack;
                let shares = if p.cpu_share < 1.0 || m.cpu_share < 1.0 {
                    format!(
                        " (run-queue wait removed: CPU share published {}, mine {})",
                        pct(p.cpu_share),
                        pct(m.cpu_share)
                    )
                } else {
                    String::new()
                };
                let (verdict, what) = if n > limit {
                    (Verdict::Differs, "slower than the limit")
                } else if n < better_below {
                    (Verdict::Better, "faster than published beyond the allowance")
                } else {
                    (Verdict::Reproduces, "within the allowance")
                };
                let clamp = if combined < opts.min_tolerance {
                    format!(" (raised to the minimum {})", pct(opts.min_tolerance))
                } else {
                    String::new()
                };
                Comparison {
                    verdict,
                    normalised: Some(n),
                    published_effective: Some(pe),
                    cpu_share: Some((p.cpu_share, m.cpu_share)),
                    deviation: Some(d),
                    allowance: Some(a),
                    rule: format!(
                        "time{shares}: mine ÷ {r:.3} ({} calibration) = {}, {what}: published {} × (1 + {}) + {} = {} \
                         (slack {} + scheduling delay {}); allowance {} = {} × √(dispersion published {}² + mine {}² \
                         + calibration noise published {}² + mine {}²) = {}{clamp} + machine {} + run-queue {}",
                        if rule.serial { "one-thread" } else { "all-core" },
                        fmt_time(n),
                        fmt_time(pe),
                        pct(a),
                        fmt_time(slack),
                        fmt_time(limit),
                        fmt_time(opts.time_floor_s),
                        fmt_time(delay),
                        pct(a),
                        opts.noise_factor,
                        pct(rule.dispersion.0),
                        pct(rule.dispersion.1),
                        pct(rule.noise.0),
                        pct(rule.noise.1),
                        pct(combined),
                        pct(machine),
                        pct(wait),
                    ),
                    ..base
                }
            }
        };
        comparisons.push(c);
    }
    let headline = counts(comparisons.iter().filter(|c| c.headline));
    let phases = counts(comparisons.iter().filter(|c| !c.headline));
    let ok = headline.differs == 0 && (opts.allow_missing || headline.missing == 0);
    let mut report = CheckReport {
        options: opts.clone(),
        calibration_ratio: ratio,
        serial_ratio,
        calibration_noise: noise,
        warnings,
        not_published,
        comparisons,
        headline,
        phases,
        ok,
        verdict: String::new(),
    };
    report.verdict = verdict_line(&report);
    report
}

/// Gas: equal, or (transactions carrying the proof) whole zero bytes apart.
fn gas_rule(p: &Figure, m: &Figure, base: Comparison) -> Comparison {
    let diff = (m.value - p.value) as i64;
    let deviation = Some(rel(m.value, p.value));
    if diff == 0 {
        return Comparison { verdict: Verdict::Reproduces, deviation, rule: "gas: equal".into(), ..base };
    }
    if p.srs_dependent {
        let ok = rel(m.value, p.value).abs() <= SRS_GAS_TOLERANCE;
        return Comparison {
            verdict: if ok { Verdict::Reproduces } else { Verdict::Differs },
            deviation,
            rule: format!(
                "gas (a halo2 verifier embeds the key of the run's own random SRS): {diff:+} gas, allowed ±{:.1}%",
                SRS_GAS_TOLERANCE * 100.0
            ),
            ..base
        };
    }
    match p.random_calldata_bytes {
        Some(random) => {
            let allowed = gas_zero_byte_allowance(random);
            let whole = diff % GAS_PER_ZERO_BYTE == 0;
            let bytes = diff / GAS_PER_ZERO_BYTE;
            let ok = whole && bytes.abs() <= allowed;
            Comparison {
                verdict: if ok { Verdict::Reproduces } else { Verdict::Differs },
                deviation,
                rule: format!(
                    "gas (calldata with a random proof): {diff:+} gas {}, allowed: a multiple of \
                     {GAS_PER_ZERO_BYTE} (one zero byte more or less), at most {allowed} bytes for {random} random bytes",
                    if whole { format!("= {bytes:+} zero bytes") } else { "is not a whole number of zero bytes".into() },
                ),
                ..base
            }
        }
        None => Comparison {
            verdict: Verdict::Differs,
            deviation,
            rule: format!("gas: must be equal (no random calldata in this transaction); differs by {diff:+}"),
            ..base
        },
    }
}

fn verdict_line(r: &CheckReport) -> String {
    let h = &r.headline;
    let ph = &r.phases;
    let counted = h.total - h.not_comparable;
    let holds = h.reproduces + h.better;
    let missing = match (h.missing, r.options.allow_missing) {
        (0, _) => "0 missing".to_string(),
        (k, true) => format!("{k} missing, allowed"),
        (k, false) => format!("{k} missing"),
    };
    let nc = match h.not_comparable + ph.not_comparable {
        0 => String::new(),
        k => format!("; {k} not comparable, not counted"),
    };
    let phase_line = if ph.total > 0 {
        format!(
            ". Phase breakdown (reported, not judged): {} of {} within noise or better, {} slower, {} missing",
            ph.reproduces + ph.better,
            ph.total - ph.not_comparable,
            ph.differs,
            ph.missing
        )
    } else {
        String::new()
    };
    let mut by_class = String::new();
    for class in [Class::Exact, Class::Time, Class::Memory, Class::Gas] {
        let of = |c: &&Comparison| c.headline && c.class == class && c.verdict != Verdict::NotComparable;
        let total = r.comparisons.iter().filter(of).count();
        if total > 0 {
            let ok = r.comparisons.iter().filter(of).filter(|c| c.verdict.holds()).count();
            let _ = write!(by_class, " {}: {ok}/{total};", class.name());
        }
    }
    format!(
        "{}: {holds} of {counted} headline figures reproduced or better ({} within noise, {} better), {} differ, \
         {missing}{nc} —{}{phase_line}",
        if r.ok { "REPRODUCED" } else { "NOT REPRODUCED" },
        h.reproduces,
        h.better,
        h.differs,
        by_class.trim_end_matches(';')
    )
}

fn fmt_value(class: Class, v: f64) -> String {
    match class {
        Class::Time => fmt_time(v),
        Class::Memory => crate::report::fmt_bytes(v as u64),
        Class::Exact | Class::Gas => format!("{v:.0}"),
    }
}

fn line(s: &mut String, c: &Comparison, with_rule: bool) {
    let verdict = match c.verdict {
        Verdict::Reproduces => "REPRODUCES",
        Verdict::Better => "BETTER    ",
        Verdict::Differs if c.headline => "DIFFERS   ",
        Verdict::Differs => "SLOWER    ",
        Verdict::Missing => "MISSING   ",
        Verdict::NotComparable => "NOT COMPARABLE",
    };
    let mine = match (c.mine, c.normalised) {
        (Some(m), Some(n)) => format!("{} → {} calibrated", fmt_value(c.class, m), fmt_value(c.class, n)),
        (Some(m), None) => fmt_value(c.class, m),
        (None, _) => "–".into(),
    };
    let dev = c.deviation.filter(|d| d.is_finite()).map(|d| format!(" ({:+.1}%)", d * 100.0)).unwrap_or_default();
    let note = c.note.as_ref().map(|n| format!("  [{n}]")).unwrap_or_default();
    let published = match c.published_effective {
        Some(pe) if pe < c.published * 0.999 => {
            format!("{} → {} without wait", fmt_value(c.class, c.published), fmt_value(c.class, pe))
        }
        _ => fmt_value(c.class, c.published),
    };
    let _ =
        writeln!(s, "{verdict} {:<6} {:<48} published {published:>10}  mine {mine}{dev}{note}", c.class.name(), c.key,);
    if with_rule && !c.rule.is_empty() {
        let _ = writeln!(s, "           rule: {}", c.rule);
    }
}

/// Human-readable check report.
pub fn render(report: &CheckReport, published_name: &str, mine_name: &str, all: bool) -> String {
    let mut s = String::new();
    let o = &report.options;
    let _ = writeln!(s, "veriflop-bench check: {mine_name} (mine) against {published_name} (published)");
    for w in &report.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    for n in &report.not_published {
        let _ = writeln!(s, "not checked: {n}");
    }
    for (b, r) in &report.calibration_ratio {
        let speed = if *r >= 1.0 { format!("{r:.2}× slower than") } else { format!("{:.2}× faster than", 1.0 / r) };
        let _ =
            writeln!(s, "calibration [{b}]: my machine is {speed} the published one; my times are divided by {r:.3}");
        if let Some(r1) = report.serial_ratio.get(b) {
            let _ = writeln!(
                s,
                "calibration [{b}, one thread]: ratio {r1:.3}; my one-thread figures ({}) are divided by {r1:.3}",
                SERIAL_PHASES.join(", ")
            );
        }
        if let Some(n) = report.calibration_noise.get(b) {
            let serial = match (n.published_serial, n.mine_serial) {
                (Some(p), Some(m)) => format!("; one thread: published ±{}, mine ±{}", pct(p), pct(m)),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "calibration noise [{b}] (half the range of the calibration rounds): published ±{}, mine ±{}{serial}; \
                 scheduling delay of a short task: published {}, mine {}",
                pct(n.published),
                pct(n.mine),
                fmt_time(n.published_delay_s),
                fmt_time(n.mine_delay_s)
            );
        }
    }
    let _ = writeln!(
        s,
        "rules: headline figures (setup, prove and verify medians, peak memory, sizes and counts, gas, service \
         throughput) decide; phase breakdowns are reported only.\n  exact figures and gas: equal (gas of the \
         transactions carrying a proof: whole zero bytes of its random bytes apart, 12 gas each; a halo2 verifier's \
         deployment: within 0.1%, its key comes from the run's random SRS);\n  times: \
         calibrated, at most {} × the combined noise slower (each figure's dispersion and both calibrations', at \
         least {}) + {} per factor two between the machines + {} per unit of ln(1/CPU share) removed, + {} + the \
         scheduling delay of a short task; faster is better;\n  memory: at most {} or {} larger; smaller is \
         better.\n",
        o.noise_factor,
        pct(o.min_tolerance),
        pct(o.machine_tolerance),
        pct(o.wait_tolerance),
        fmt_time(o.time_floor_s),
        pct(o.memory_tolerance),
        crate::report::fmt_bytes(o.memory_floor_bytes),
    );
    let headline_bad: Vec<&Comparison> =
        report.comparisons.iter().filter(|c| c.headline && !c.verdict.holds()).collect();
    if all {
        for c in &report.comparisons {
            line(&mut s, c, true);
        }
    } else {
        for c in &headline_bad {
            line(&mut s, c, true);
        }
        let phase_bad: Vec<&Comparison> =
            report.comparisons.iter().filter(|c| !c.headline && !c.verdict.holds()).collect();
        if !phase_bad.is_empty() {
            let _ = writeln!(s, "\nphase breakdown, reported only (does not decide the verdict):");
            for c in phase_bad {
                line(&mut s, c, false);
            }
        }
        let _ = writeln!(
            s,
            "({} headline figures reproduced or better, {} phase figures within noise or better, not listed; \
             --all lists every figure with its rule)",
            report.headline.reproduces + report.headline.better,
            report.phases.reproduces + report.phases.better,
        );
    }
    let _ = writeln!(s, "\n{}", report.verdict);
    s
}
