//! The Markdown report of a run.

use std::collections::BTreeMap;
use std::fmt::Write;

use veriflop_circuits::{CircuitKind, Dtype};

use crate::results::{CaseResult, Results};
use crate::stats::{loglog_slope, Stat};

/// Seconds in a readable unit.
pub fn fmt_time(s: f64) -> String {
    if s >= 100.0 {
        format!("{s:.0} s")
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

/// Median with its range, e.g. `2.31 s (2.28–2.40)`.
pub fn fmt_stat(s: &Stat) -> String {
    if s.samples.len() < 2 {
        return fmt_time(s.median);
    }
    format!("{} ({}–{})", fmt_time(s.median), fmt_time(s.min), fmt_time(s.max))
}

pub fn fmt_bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
    } else if b >= 1 << 20 {
        format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.0} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

pub fn fmt_opt_bytes(b: Option<u64>) -> String {
    b.map(fmt_bytes).unwrap_or_else(|| "–".into())
}

pub fn fmt_count(x: u64) -> String {
    let s = x.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn load(l: Option<[f64; 3]>) -> String {
    l.map(|l| format!("{:.2} / {:.2} / {:.2}", l[0], l[1], l[2])).unwrap_or_else(|| "–".into())
}

/// One line describing the machine.
pub fn machine_line(r: &Results) -> String {
    let m = &r.machine;
    let gpu = if m.gpus.is_empty() { "no GPU".to_string() } else { m.gpus.join(", ") };
    format!(
        "{} · {} logical cores ({} threads) · {} RAM · {} · {}",
        m.cpu_model,
        m.logical_cores,
        m.threads,
        fmt_opt_bytes(m.memory_bytes),
        gpu,
        m.os
    )
}

/// Pairs (freivalds, naive) of cases with the same dtype, n and backend.
pub fn pairs(r: &Results) -> Vec<(&CaseResult, &CaseResult)> {
    let mut out = Vec::new();
    for f in r.cases.iter().filter(|c| c.spec.construction == CircuitKind::Freivalds) {
        if let Some(nv) = r.cases.iter().find(|c| {
            c.spec.construction == CircuitKind::Naive
                && c.spec.dtype == f.spec.dtype
                && c.spec.n == f.spec.n
                && c.spec.backend == f.spec.backend
        }) {
            out.push((f, nv));
        }
    }
    out
}

/// The ours-vs-naive table (also used in the README).
pub fn side_by_side_table(r: &Results) -> String {
    let mut s = String::new();
    s.push_str("| n×n×n | dtype | backend | constraints freivalds | constraints naive | prove freivalds | prove naive | speed-up | setup freivalds | setup naive | peak RSS freivalds | peak RSS naive |\n");
    s.push_str("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (f, n) in pairs(r) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {:.1}× | {} | {} | {} | {} |",
            f.spec.n,
            f.spec.dtype,
            f.spec.backend,
            fmt_count(f.exact.constraints),
            fmt_count(n.exact.constraints),
            fmt_time(f.timings.prove.median),
            fmt_time(n.timings.prove.median),
            n.timings.prove.median / f.timings.prove.median,
            fmt_time(f.setup_s),
            fmt_time(n.setup_s),
            fmt_opt_bytes(f.memory.peak_rss_bytes),
            fmt_opt_bytes(n.memory.peak_rss_bytes),
        );
    }
    s
}

/// Series key: (construction, dtype, backend).
pub type SeriesKey = (CircuitKind, Dtype, String);

/// Cases grouped by series, ordered by n (series with one point included).
pub fn series(r: &Results) -> BTreeMap<(String, String, String), Vec<&CaseResult>> {
    let mut m: BTreeMap<(String, String, String), Vec<&CaseResult>> = BTreeMap::new();
    for c in &r.cases {
        m.entry((c.spec.construction.to_string(), c.spec.dtype.to_string(), c.spec.backend.clone()))
            .or_default()
            .push(c);
    }
    for v in m.values_mut() {
        v.sort_by_key(|c| c.spec.n);
    }
    m
}

/// Empirical exponent of prove time in n, fitted on the series' three largest n.
pub fn prove_exponent(cases: &[&CaseResult]) -> Option<f64> {
    let pts: Vec<(f64, f64)> = cases.iter().rev().take(3).map(|c| (c.spec.n as f64, c.timings.prove.median)).collect();
    if pts.len() < 3 {
        return None;
    }
    loglog_slope(&pts)
}

pub fn markdown(r: &Results, with_plots: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# veriflop benchmark report — suite `{}`\n", r.suite);
    let _ = writeln!(
        s,
        "Schema `{}` · run started {} · took {} · {} cases{}\n",
        r.schema,
        r.created_utc,
        fmt_time(r.duration_s),
        r.cases.len(),
        if r.failures.is_empty() { String::new() } else { format!(" · **{} failed**", r.failures.len()) }
    );

    s.push_str("## Machine and software\n\n| | |\n|---|---|\n");
    let m = &r.machine;
    let sw = &r.software;
    let _ = writeln!(s, "| CPU | {} |", m.cpu_model);
    let _ = writeln!(s, "| cores | {} logical, {} backend threads |", m.logical_cores, m.threads);
    let _ = writeln!(s, "| memory | {} |", fmt_opt_bytes(m.memory_bytes));
    let _ = writeln!(
        s,
        "| GPU | {} |",
        if m.gpus.is_empty() { "none found (no nvidia-smi)".into() } else { m.gpus.join("; ") }
    );
    let _ = writeln!(s, "| OS | {} (kernel {}) |", m.os, m.kernel.as_deref().unwrap_or("?"));
    let _ = writeln!(
        s,
        "| load average (1/5/15 min) | start {} · end {} |",
        load(m.load_average_start),
        load(m.load_average_end)
    );
    let _ = writeln!(
        s,
        "| veriflop-bench | {} ({} build, features: {}) |",
        sw.crate_version,
        sw.profile,
        if sw.features.is_empty() { "none".into() } else { sw.features.join(", ") }
    );
    let _ = writeln!(
        s,
        "| git commit | {}{} |",
        sw.git_commit.as_deref().unwrap_or("unknown"),
        if sw.git_dirty == Some(true) { " (work tree had uncommitted changes)" } else { "" }
    );
    let _ = writeln!(s, "| rustc | {} |", sw.rustc);
    let used: Vec<String> = r
        .backends
        .iter()
        .map(|b| {
            format!(
                "{} ({}{})",
                b.id,
                if b.used {
                    "used"
                } else if b.available {
                    "available, not used"
                } else {
                    "not available"
                },
                b.note.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
            )
        })
        .collect();
    let _ = writeln!(s, "| backends | {} |\n", used.join(", "));
    if sw.profile != "release" {
        s.push_str("> **Debug build**: these timings are not comparable with published (release) figures.\n\n");
    }

    s.push_str("## Calibration\n\nA fixed, seeded workload through each backend, run at the start and at the end; `veriflop-bench check` divides a reproduction's times by the ratio of the two machines' scores.\n\n");
    s.push_str("| backend | score (median, s) | range | G1 MSM 2^16 | NTT 2^18 fwd+inv | drift end/start | one thread (MSM 2^13 + NTT 2^16) |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for c in &r.calibration {
        let _ = writeln!(
            s,
            "| {} | {:.4} | {:.4}–{:.4} | {} | {} | {:.2} | {} |",
            c.backend,
            c.score.median,
            c.score.min,
            c.score.max,
            fmt_time(c.msm.median),
            fmt_time(c.ntt.median),
            c.drift,
            c.serial.as_ref().map(|x| fmt_time(x.median)).unwrap_or_else(|| "–".into())
        );
    }
    s.push('\n');

    s.push_str("## Freivalds (ours) vs naive, side by side\n\nSame job, same data, same backend: the Freivalds circuit costs O(n²) constraints, the naive one n³. Times are medians.\n\n");
    s.push_str(&side_by_side_table(r));
    s.push('\n');

    s.push_str("## All cases\n\nProve and verify: median (min–max) over the measured repetitions, after warm-up. Setup is the Groth16 key generation (development setup), once per case. Peak RSS is the whole case process (keys included).\n\n");
    s.push_str("| construction | dtype | n | backend | reps | constraints | setup | prove | verify | proof | bundle | proving key | peak RSS (setup / prove) | gas verifyProof tx | gas submit tx |\n");
    s.push_str("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in &r.cases {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {}+{} | {} | {} | {} | {} | {} B | {} B | {} | {} / {} | {} | {} |",
            c.spec.construction,
            c.spec.dtype,
            c.spec.n,
            c.spec.backend,
            c.spec.warmup,
            c.spec.reps,
            fmt_count(c.exact.constraints),
            fmt_time(c.setup_s),
            fmt_stat(&c.timings.prove),
            fmt_stat(&c.timings.verify),
            c.exact.proof_bytes,
            c.exact.bundle_bytes,
            fmt_bytes(c.exact.pk_bytes),
            fmt_opt_bytes(c.memory.peak_rss_setup_bytes),
            fmt_opt_bytes(c.memory.peak_rss_prove_bytes),
            c.gas.as_ref().map(|g| fmt_count(g.verify_tx)).unwrap_or_else(|| "–".into()),
            c.gas.as_ref().map(|g| fmt_count(g.submit_tx)).unwrap_or_else(|| "–".into()),
        );
    }
    s.push('\n');

    s.push_str("## Phase breakdown\n\nMedians per phase. Execute is the native C = A·B, commit the provider's cm_C; prove = witness (constraint synthesis) + NTT + MSM + other.\n\n");
    s.push_str(
        "| construction | dtype | n | backend | execute | commit | witness | NTT | MSM | other | prove | MSM share |\n",
    );
    s.push_str("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in &r.cases {
        let t = &c.timings;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% |",
            c.spec.construction,
            c.spec.dtype,
            c.spec.n,
            c.spec.backend,
            fmt_time(t.execute.median),
            fmt_time(t.commit.median),
            fmt_time(t.witness.median),
            fmt_time(t.ntt.median),
            fmt_time(t.msm.median),
            fmt_time(t.other.median),
            fmt_time(t.prove.median),
            100.0 * t.msm.median / t.prove.median.max(f64::MIN_POSITIVE)
        );
    }
    s.push('\n');

    s.push_str("## Scaling\n\nEmpirical exponent e of prove time ∝ nᵉ, least squares on log-log over each series' three largest n (small n are dominated by fixed costs). O(n²) work gives e ≈ 2, O(n³) e ≈ 3.\n\n");
    s.push_str("| construction | dtype | backend | n | exponent (prove time) | exponent (constraints) |\n|---|---|---|---|---:|---:|\n");
    for ((k, d, b), cases) in series(r) {
        let ns: Vec<String> = cases.iter().map(|c| c.spec.n.to_string()).collect();
        let ce: Vec<(f64, f64)> =
            cases.iter().rev().take(3).map(|c| (c.spec.n as f64, c.exact.constraints as f64)).collect();
        let _ = writeln!(
            s,
            "| {k} | {d} | {b} | {} | {} | {} |",
            ns.join(", "),
            prove_exponent(&cases).map(|e| format!("{e:.2}")).unwrap_or_else(|| "–".into()),
            if ce.len() >= 3 {
                loglog_slope(&ce).map(|e| format!("{e:.2}")).unwrap_or_else(|| "–".into())
            } else {
                "–".into()
            }
        );
    }
    s.push('\n');

    if with_plots {
        s.push_str("## Plots\n\n");
        for (file, what) in crate::plot::PLOTS {
            let _ = writeln!(s, "![{what}](plots/{file})\n");
        }
    }

    s.push_str("## Extensions\n\n| figure | status | detail |\n|---|---|---|\n");
    let _ = writeln!(s, "| on-chain gas | {} | {} |", r.extensions.gas.status, r.extensions.gas.detail);
    let _ = writeln!(
        s,
        "| verifier-service throughput | {} | {} |",
        r.extensions.service_throughput.status, r.extensions.service_throughput.detail
    );
    if let Some(t) = &r.extensions.service {
        let _ = writeln!(
            s,
            "\nService ({} proofs of {}, {} connections): native {:.0} proofs/s, HTTP {:.0} proofs/s, p50 {:.2} ms, p99 {:.2} ms.",
            t.proofs, t.shape, t.concurrency, t.native_per_s, t.http_per_s, t.http_p50_ms, t.http_p99_ms
        );
    }
    if let Some(g) = r.cases.iter().rev().find_map(|c| c.gas.as_ref().map(|g| (c, g))) {
        let (c, g) = g;
        let _ = writeln!(
            s,
            "\nGas of one settlement ({}): deploy verifier {}, deploy escrow {}, register verifier {}, post job {}, lock {}, submit {} (verifier call {}), stand-alone verifyProof tx {}.",
            c.id,
            fmt_count(g.deploy_verifier),
            fmt_count(g.deploy_escrow),
            fmt_count(g.register_verifier),
            fmt_count(g.post_job),
            fmt_count(g.lock),
            fmt_count(g.submit_tx),
            fmt_count(g.verifier_call),
            fmt_count(g.verify_tx)
        );
    }
    if !r.failures.is_empty() {
        s.push_str("\n## Failures\n\n");
        for f in &r.failures {
            let _ = writeln!(s, "- `{}`: {}", f.id, f.error);
        }
    }
    s
}
