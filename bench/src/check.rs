//! `veriflop-bench check`: does a reproduction match published results, figure by figure?
//!
//! Every figure of the published file is looked up in the reproduction by key
//! (`<case id> <figure>`), and compared by class:
//!
//! - **exact** (constraint, variable and domain counts, proof, bundle and key
//!   sizes): must be equal;
//! - **time** (setup, every phase, prove, verify; medians): the reproduction's
//!   time is first divided by a calibration ratio `mine / published`, then must
//!   be within `tolerance` (relative) of the published time, or within
//!   `time_floor_s` (absolute; tiny figures are noise). Figures that use every
//!   core (setup, execute, NTT, MSM, other, prove) take the ratio of the
//!   backend's calibration score; figures computed on one thread (witness
//!   synthesis, commit, verify) take the ratio of the one-thread calibration;
//! - **memory** (peak RSS): within `memory_tolerance`, not normalised;
//! - **gas**: within `gas_tolerance`, not normalised (gas is machine-independent;
//!   calldata zero bytes make it vary by a few dozen units between proofs).
//!
//! A published figure missing from the reproduction does not reproduce (unless
//! `allow_missing`); figures only in the reproduction are ignored (the check
//! says which constructions the published file predates).
//!
//! Verifier-service throughput (`extensions.service`) is checked as time per
//! proof (1 / proofs per second): native on one thread against the one-thread
//! calibration, native on every core and HTTP against the all-core one.
//! Latency percentiles are reported, not checked.
//!
//! A published file in the previous format (`veriflop-bench/1`, before the
//! committed construction) is read upgraded: its `freivalds` cases are compared
//! as `poseidon` (the same circuit, renamed); its `commit` and `prove` figures
//! changed definition (v2's prove includes the data commitments), so they are
//! reported `NOT COMPARABLE` and do not count for or against the verdict.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::report::fmt_time;
use crate::results::{CaseResult, Results};

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
    /// For times: computed on one thread (normalised by the one-thread calibration).
    pub serial: bool,
    /// Backend that produced it (for calibration).
    pub backend: String,
    pub value: f64,
}

/// Calibration drift (end / start) beyond which a run's times are flagged as unreliable.
pub const DRIFT_OK: (f64, f64) = (0.87, 1.15);

/// Timed phases that run on one thread (constraint synthesis, native Poseidon,
/// one pairing check): they scale with single-core speed, not with cores.
/// `commit` is one-threaded only for the Poseidon-hash constructions (the
/// committed construction's Pedersen commitments use every core).
pub const SERIAL_PHASES: [&str; 3] = ["witness", "commit", "verify"];

/// Figures whose definition changed from `veriflop-bench/1` to `/2`.
pub const CHANGED_SINCE_V1: [&str; 2] = ["commit (median)", "prove (median)"];

/// Key of the service figure "native verification on one thread".
pub const SERVICE_NATIVE_SERIAL: &str = "native 1 thread (s/proof)";

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
                    serial,
                    backend: "cpu".into(),
                    value: 1.0 / run.per_s,
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
    let mut push = |name: &str, class: Class, value: f64| {
        let serial = class == Class::Time
            && SERIAL_PHASES.iter().any(|p| name.starts_with(p))
            && (poseidon_hashes || !name.starts_with("commit"));
        out.push(Figure { key: format!("{} {name}", c.id), class, serial, backend: c.spec.backend.clone(), value })
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
        push(name, Class::Exact, v as f64);
    }
    push("setup", Class::Time, c.setup_s);
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
        push(&format!("{name} (median)"), Class::Time, s.median);
    }
    let m = &c.memory;
    for (name, v) in [
        ("peak_rss", m.peak_rss_bytes),
        ("peak_rss_setup", m.peak_rss_setup_bytes),
        ("peak_rss_prove", m.peak_rss_prove_bytes),
    ] {
        if let Some(v) = v {
            push(name, Class::Memory, v as f64);
        }
    }
    if let Some(g) = &c.gas {
        for (name, v) in [
            ("gas_verify_tx", g.verify_tx),
            ("gas_verifier_call", g.verifier_call),
            ("gas_submit_tx", g.submit_tx),
            ("gas_post_job", g.post_job),
            ("gas_lock", g.lock),
            ("gas_deploy_verifier", g.deploy_verifier),
            ("gas_deploy_escrow", g.deploy_escrow),
            ("gas_register_verifier", g.register_verifier),
        ] {
            push(name, Class::Gas, v as f64);
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckOptions {
    /// Relative tolerance for normalised times (0.25 = ±25 %).
    pub tolerance: f64,
    pub memory_tolerance: f64,
    pub gas_tolerance: f64,
    /// Times within this many seconds of the published one reproduce whatever the ratio.
    pub time_floor_s: f64,
    pub allow_missing: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            tolerance: 0.25,
            memory_tolerance: 0.25,
            gas_tolerance: 0.01,
            time_floor_s: 0.002,
            allow_missing: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Reproduces,
    Differs,
    Missing,
    /// The two files define the figure differently (different schema versions):
    /// shown, not counted.
    #[serde(rename = "not comparable")]
    NotComparable,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub key: String,
    pub class: Class,
    pub verdict: Verdict,
    pub published: f64,
    pub mine: Option<f64>,
    /// The reproduction's value after calibration (times only).
    pub normalised: Option<f64>,
    /// normalised / published − 1 (or mine / published − 1 when not normalised).
    pub deviation: Option<f64>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub options: CheckOptions,
    /// Per backend: my calibration score / published score (> 1: my machine is slower).
    pub calibration_ratio: BTreeMap<String, f64>,
    /// Per backend: the same for the one-thread calibration (when both files have it).
    pub serial_ratio: BTreeMap<String, f64>,
    pub warnings: Vec<String>,
    /// Constructions (and the service measurement) in the reproduction that the
    /// published file does not have: their figures are not checked.
    pub not_published: Vec<String>,
    pub comparisons: Vec<Comparison>,
}

impl CheckReport {
    pub fn count(&self, v: Verdict) -> usize {
        self.comparisons.iter().filter(|c| c.verdict == v).count()
    }

    /// True when every published figure reproduces (missing ones allowed if asked).
    pub fn ok(&self) -> bool {
        self.count(Verdict::Differs) == 0 && (self.options.allow_missing || self.count(Verdict::Missing) == 0)
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
    let labels = veriflop_circuits::CircuitKind::ALL.map(|k| k.to_string());
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
    for p in &published.calibration {
        if let Some(m) = mine.calibration(&p.backend) {
            if p.score.median > 0.0 && m.score.median > 0.0 {
                ratio.insert(p.backend.clone(), m.score.median / p.score.median);
            }
            if let (Some(ps), Some(ms)) = (&p.serial, &m.serial) {
                if ps.median > 0.0 && ms.median > 0.0 {
                    serial_ratio.insert(p.backend.clone(), ms.median / ps.median);
                }
            }
        }
    }
    if serial_ratio.len() < ratio.len() {
        warnings.push("a file has no one-thread calibration: one-thread figures use the all-core ratio".into());
    }
    let mine_figs: BTreeMap<String, Figure> = figures(mine).into_iter().map(|f| (f.key.clone(), f)).collect();
    let mut comparisons = Vec::new();
    for p in figures(published) {
        let Some(m) = mine_figs.get(&p.key) else {
            comparisons.push(Comparison {
                key: p.key,
                class: p.class,
                verdict: Verdict::Missing,
                published: p.value,
                mine: None,
                normalised: None,
                deviation: None,
                note: Some("not in the reproduction".into()),
            });
            continue;
        };
        let rel = |a: f64, b: f64| {
            if b != 0.0 {
                a / b - 1.0
            } else if a == 0.0 {
                0.0
            } else {
                f64::INFINITY
            }
        };
        if published.upgraded_from.is_some() && CHANGED_SINCE_V1.iter().any(|f| p.key.ends_with(f)) {
            comparisons.push(Comparison {
                key: p.key,
                class: p.class,
                verdict: Verdict::NotComparable,
                published: p.value,
                mine: Some(m.value),
                normalised: None,
                deviation: None,
                note: Some("defined differently in veriflop-bench/1".into()),
            });
            continue;
        }
        let (verdict, normalised, deviation, note) = match p.class {
            Class::Exact => {
                let ok = p.value == m.value;
                (ok, None, Some(rel(m.value, p.value)), None)
            }
            Class::Time => match if p.serial {
                serial_ratio.get(&p.backend).or(ratio.get(&p.backend))
            } else {
                ratio.get(&p.backend)
            } {
                Some(r) => {
                    let n = m.value / r;
                    let d = rel(n, p.value);
                    let ok = d.abs() <= opts.tolerance || (n - p.value).abs() <= opts.time_floor_s;
                    let note = (d.abs() > opts.tolerance && ok).then(|| "within the absolute noise floor".to_string());
                    (ok, Some(n), Some(d), note)
                }
                None => (false, None, None, Some(format!("no calibration for backend {} in both files", p.backend))),
            },
            Class::Memory => {
                let d = rel(m.value, p.value);
                (d.abs() <= opts.memory_tolerance, None, Some(d), None)
            }
            Class::Gas => {
                let d = rel(m.value, p.value);
                (d.abs() <= opts.gas_tolerance, None, Some(d), None)
            }
        };
        comparisons.push(Comparison {
            key: p.key,
            class: p.class,
            verdict: if verdict { Verdict::Reproduces } else { Verdict::Differs },
            published: p.value,
            mine: Some(m.value),
            normalised,
            deviation,
            note,
        });
    }
    CheckReport { options: opts.clone(), calibration_ratio: ratio, serial_ratio, warnings, not_published, comparisons }
}

fn fmt_value(class: Class, v: f64) -> String {
    match class {
        Class::Time => fmt_time(v),
        Class::Memory => crate::report::fmt_bytes(v as u64),
        Class::Exact | Class::Gas => format!("{v:.0}"),
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
    }
    let _ = writeln!(
        s,
        "tolerances: times ±{:.0}% after calibration (or within {}), memory ±{:.0}%, gas ±{:.1}%, exact figures equal\n",
        o.tolerance * 100.0,
        fmt_time(o.time_floor_s),
        o.memory_tolerance * 100.0,
        o.gas_tolerance * 100.0
    );
    for c in &report.comparisons {
        if !all && c.verdict == Verdict::Reproduces {
            continue;
        }
        let verdict = match c.verdict {
            Verdict::Reproduces => "REPRODUCES",
            Verdict::Differs => "DIFFERS   ",
            Verdict::Missing => "MISSING   ",
            Verdict::NotComparable => "NOT COMPARABLE",
        };
        let mine = match (c.mine, c.normalised) {
            (Some(m), Some(n)) => format!("{} → {} calibrated", fmt_value(c.class, m), fmt_value(c.class, n)),
            (Some(m), None) => fmt_value(c.class, m),
            (None, _) => "–".into(),
        };
        let dev = c.deviation.map(|d| format!(" ({:+.1}%)", d * 100.0)).unwrap_or_default();
        let note = c.note.as_ref().map(|n| format!("  [{n}]")).unwrap_or_default();
        let _ = writeln!(
            s,
            "{verdict} {:<6} {:<48} published {:>10}  mine {mine}{dev}{note}",
            c.class.name(),
            c.key,
            fmt_value(c.class, c.published)
        );
    }
    if !all {
        let _ = writeln!(
            s,
            "({} reproducing figures not listed; --all lists every figure)",
            report.count(Verdict::Reproduces)
        );
    }
    let mut by_class = String::new();
    for class in [Class::Exact, Class::Time, Class::Memory, Class::Gas] {
        let total =
            report.comparisons.iter().filter(|c| c.class == class && c.verdict != Verdict::NotComparable).count();
        if total > 0 {
            let ok = report.comparisons.iter().filter(|c| c.class == class && c.verdict == Verdict::Reproduces).count();
            let _ = write!(by_class, " {}: {ok}/{total};", class.name());
        }
    }
    let _ = writeln!(
        s,
        "\n{}: {} of {} published figures reproduce ({} differ, {} missing{}{}) —{}",
        if report.ok() { "REPRODUCED" } else { "NOT REPRODUCED" },
        report.count(Verdict::Reproduces),
        report.comparisons.len() - report.count(Verdict::NotComparable),
        report.count(Verdict::Differs),
        report.count(Verdict::Missing),
        if o.allow_missing && report.count(Verdict::Missing) > 0 { ", allowed" } else { "" },
        match report.count(Verdict::NotComparable) {
            0 => String::new(),
            k => format!("; {k} not comparable, not counted"),
        },
        by_class.trim_end_matches(';')
    );
    s
}
