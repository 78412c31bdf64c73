//! The Markdown report of a run.

use std::collections::BTreeMap;
use std::fmt::Write;

use veriflop_circuits::{CircuitKind, Dtype, ProofSystem};

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

/// The case of `kind` with this dtype, n and backend.
pub fn find<'a>(r: &'a Results, kind: CircuitKind, dtype: Dtype, n: u32, backend: &str) -> Option<&'a CaseResult> {
    r.cases
        .iter()
        .find(|c| c.spec.is_groth16(kind) && c.spec.dtype == dtype && c.spec.n == n && c.spec.backend == backend)
}

/// (dtype, backend, n) rows where `kinds` have a case or a skipped entry, sorted.
pub fn rows_for(r: &Results, kinds: &[CircuitKind]) -> Vec<(Dtype, String, u32)> {
    let mut rows: Vec<(Dtype, String, u32)> = r
        .cases
        .iter()
        .filter(|c| c.spec.system == ProofSystem::Groth16Bn254 && kinds.contains(&c.spec.construction))
        .map(|c| (c.spec.dtype, c.spec.backend.clone(), c.spec.n))
        .collect();
    // Skipped entries of these constructions (ids `construction/dtype/n<n>/backend`).
    for sk in &r.skipped {
        let parts: Vec<&str> = sk.id.split('/').collect();
        if let [k, d, n, b] = parts[..] {
            if let (Ok(k), Ok(d), Some(Ok(n))) =
                (k.parse::<CircuitKind>(), d.parse::<Dtype>(), n.strip_prefix('n').map(str::parse::<u32>))
            {
                if kinds.contains(&k) {
                    rows.push((d, b.to_string(), n));
                }
            }
        }
    }
    rows.sort_by(|a, b| (a.0.bits(), &a.1, a.2).cmp(&(b.0.bits(), &b.1, b.2)));
    rows.dedup();
    rows
}

/// The skip reason of a case id, if the suite skipped it.
pub fn skipped<'a>(r: &'a Results, id: &str) -> Option<&'a str> {
    r.skipped.iter().find(|s| s.id == id).map(|s| s.reason.as_str())
}

/// A cell for one construction: the figure, "skipped" (the suite listed it as
/// skipped on this machine) or "–" (not in this run).
fn cell(r: &Results, kind: CircuitKind, d: Dtype, n: u32, b: &str, f: &dyn Fn(&CaseResult) -> String) -> String {
    match find(r, kind, d, n, b) {
        Some(c) => f(c),
        None if skipped(r, &format!("{kind}/{d}/n{n}/{b}")).is_some() => "skipped".into(),
        None => "–".into(),
    }
}

fn gas_cell(c: &CaseResult, f: fn(&crate::results::Gas) -> u64) -> String {
    c.gas.as_ref().map(|g| fmt_count(f(g))).unwrap_or_else(|| "–".into())
}

/// Proof as sent: the Groth16 proof, plus the commitment points when there are any.
pub fn fmt_proof(c: &CaseResult) -> String {
    if c.exact.commitments_bytes > 0 {
        format!("{} + {} B", c.exact.proof_bytes, c.exact.commitments_bytes)
    } else {
        format!("{} B", c.exact.proof_bytes)
    }
}

/// Fitted prove-time exponent of each construction's int8 series on `backend`.
pub fn exponents(r: &Results, backend: &str) -> Vec<(CircuitKind, Option<f64>, Vec<u32>)> {
    let groups = series(r);
    CircuitKind::MATMUL
        .into_iter()
        .filter_map(|k| {
            let cases = groups.get(&(k.to_string(), Dtype::Int8.to_string(), backend.to_string()))?;
            let used: Vec<u32> = cases.iter().rev().take(3).rev().map(|c| c.spec.n).collect();
            Some((k, prove_exponent(cases), used))
        })
        .collect()
}

/// Backends of the run, in calibration order (else case order).
pub fn backends_of(r: &Results) -> Vec<String> {
    let mut v: Vec<String> = r.calibration.iter().map(|c| c.backend.clone()).collect();
    for c in &r.cases {
        if !v.contains(&c.spec.backend) {
            v.push(c.spec.backend.clone());
        }
    }
    v
}

/// Committed (ours, the default) vs poseidon (the previous in-circuit-hash
/// construction), per n: proving (time, constraints, memory, setup) and
/// verifying (proof and bundle size, native verify, gas) figures.
pub fn committed_vs_poseidon(r: &Results) -> String {
    use CircuitKind::{Committed as C, Poseidon as P};
    let rows = rows_for(r, &[C, P]);
    let mut s = String::new();
    s.push_str("| n×n×n | dtype | backend | prove committed | prove poseidon | speed-up | constraints committed | constraints poseidon | peak RSS committed | peak RSS poseidon | setup committed | setup poseidon |\n");
    s.push_str("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (d, b, n) in &rows {
        let (d, n, b) = (*d, *n, b.as_str());
        let speedup = match (find(r, C, d, n, b), find(r, P, d, n, b)) {
            (Some(c), Some(p)) => {
                format!("{:.1}×", p.timings.prove.median / c.timings.prove.median.max(f64::MIN_POSITIVE))
            }
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "| {n} | {d} | {b} | {} | {} | {speedup} | {} | {} | {} | {} | {} | {} |",
            cell(r, C, d, n, b, &|c| fmt_time(c.timings.prove.median)),
            cell(r, P, d, n, b, &|c| fmt_time(c.timings.prove.median)),
            cell(r, C, d, n, b, &|c| fmt_count(c.exact.constraints)),
            cell(r, P, d, n, b, &|c| fmt_count(c.exact.constraints)),
            cell(r, C, d, n, b, &|c| fmt_opt_bytes(c.memory.peak_rss_bytes)),
            cell(r, P, d, n, b, &|c| fmt_opt_bytes(c.memory.peak_rss_bytes)),
            cell(r, C, d, n, b, &|c| fmt_time(c.setup_s)),
            cell(r, P, d, n, b, &|c| fmt_time(c.setup_s)),
        );
    }
    s.push('\n');
    s.push_str("| n×n×n | dtype | backend | proof committed | bundle committed | bundle poseidon | verify committed | verify poseidon | gas verifyProof tx committed | gas verifyProof tx poseidon | gas submit tx committed | gas submit tx poseidon |\n");
    s.push_str("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (d, b, n) in &rows {
        let (d, n, b) = (*d, *n, b.as_str());
        let _ = writeln!(
            s,
            "| {n} | {d} | {b} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(r, C, d, n, b, &fmt_proof),
            cell(r, C, d, n, b, &|c| format!("{} B", c.exact.bundle_bytes)),
            cell(r, P, d, n, b, &|c| format!("{} B", c.exact.bundle_bytes)),
            cell(r, C, d, n, b, &|c| fmt_time(c.timings.verify.median)),
            cell(r, P, d, n, b, &|c| fmt_time(c.timings.verify.median)),
            cell(r, C, d, n, b, &|c| gas_cell(c, |g| g.verify_tx)),
            cell(r, P, d, n, b, &|c| gas_cell(c, |g| g.verify_tx)),
            cell(r, C, d, n, b, &|c| gas_cell(c, |g| g.submit_tx)),
            cell(r, P, d, n, b, &|c| gas_cell(c, |g| g.submit_tx)),
        );
    }
    s.push('\n');
    for b in backends_of(r) {
        let ex = exponents(r, &b);
        if ex.is_empty() {
            continue;
        }
        let parts: Vec<String> = ex
            .iter()
            .map(|(k, e, ns)| match e {
                Some(e) => format!(
                    "{k} **n^{e:.2}** (n = {})",
                    ns.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
                ),
                None => format!("{k} – (fewer than 3 sizes)"),
            })
            .collect();
        let _ = writeln!(
            s,
            "Fitted prove-time exponent, int8, `{b}` (least squares on log-log over each construction's three largest n; O(n²) gives 2, O(n³) gives 3): {}.\n",
            parts.join("; ")
        );
    }
    s
}

/// The halo2 case with this dtype, n and backend.
pub fn find_halo2<'a>(r: &'a Results, dtype: Dtype, n: u32, backend: &str) -> Option<&'a CaseResult> {
    r.cases.iter().find(|c| {
        c.spec.system == ProofSystem::Halo2KzgBn254
            && c.spec.dtype == dtype
            && c.spec.n == n
            && c.spec.backend == backend
    })
}

/// Groth16 (committed, poseidon) beside halo2 for every n the run has a halo2
/// case: prove time, memory, proof size, verify time, gas, per-shape setup.
pub fn groth16_vs_halo2(r: &Results) -> String {
    use CircuitKind::{Committed as C, Poseidon as P};
    let mut rows: Vec<(Dtype, String, u32)> = r
        .cases
        .iter()
        .filter(|c| c.spec.system == ProofSystem::Halo2KzgBn254)
        .map(|c| (c.spec.dtype, c.spec.backend.clone(), c.spec.n))
        .collect();
    rows.sort_by(|a, b| (a.0.bits(), &a.1, a.2).cmp(&(b.0.bits(), &b.1, b.2)));
    rows.dedup();
    if rows.is_empty() {
        return "No halo2 case in this run.\n\n".into();
    }
    let mut s = String::new();
    s.push_str("| n×n×n | dtype | backend | halo2 rows | prove Groth16 committed | prove Groth16 poseidon | prove halo2 | peak RSS committed | peak RSS halo2 | proof Groth16 | proof halo2 | verify committed | verify halo2 | gas submit tx committed | gas submit tx poseidon | gas submit tx halo2 | per-shape setup committed (trusted) | per-shape keys halo2 (from the SRS) |\n");
    s.push_str("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (d, b, n) in &rows {
        let (d, n, b) = (*d, *n, b.as_str());
        let Some(h) = find_halo2(r, d, n, b) else { continue };
        let _ = writeln!(
            s,
            "| {n} | {d} | {b} | 2^{} | {} | {} | {} | {} | {} | {} | {} B | {} | {} | {} | {} | {} | {} | {} |",
            h.exact.domain_size.trailing_zeros(),
            cell(r, C, d, n, b, &|c| fmt_time(c.timings.prove.median)),
            cell(r, P, d, n, b, &|c| fmt_time(c.timings.prove.median)),
            fmt_time(h.timings.prove.median),
            cell(r, C, d, n, b, &|c| fmt_opt_bytes(c.memory.peak_rss_bytes)),
            fmt_opt_bytes(h.memory.peak_rss_bytes),
            cell(r, C, d, n, b, &fmt_proof),
            h.exact.proof_bytes,
            cell(r, C, d, n, b, &|c| fmt_time(c.timings.verify.median)),
            fmt_time(h.timings.verify.median),
            cell(r, C, d, n, b, &|c| gas_cell(c, |g| g.submit_tx)),
            cell(r, P, d, n, b, &|c| gas_cell(c, |g| g.submit_tx)),
            gas_cell(h, |g| g.submit_tx),
            cell(r, C, d, n, b, &|c| fmt_time(c.setup_s)),
            fmt_time(h.setup_s),
        );
    }
    s.push('\n');
    s
}

/// Prove time and constraints of every construction per n (also against naive).
pub fn constructions_table(r: &Results) -> String {
    use CircuitKind::{Committed as C, Naive as N, Poseidon as P};
    let mut s = String::new();
    s.push_str("| n×n×n | dtype | backend | prove committed | prove poseidon | prove naive | constraints committed | constraints poseidon | constraints naive |\n");
    s.push_str("|---:|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (d, b, n) in rows_for(r, &[C, P, N]) {
        let b = b.as_str();
        let t = |k| cell(r, k, d, n, b, &|c| fmt_time(c.timings.prove.median));
        let k = |k| cell(r, k, d, n, b, &|c| fmt_count(c.exact.constraints));
        let _ = writeln!(s, "| {n} | {d} | {b} | {} | {} | {} | {} | {} | {} |", t(C), t(P), t(N), k(C), k(P), k(N));
    }
    s
}

/// The verifier-service section (empty when the run has no figures).
pub fn service_table(r: &Results) -> String {
    let Some(t) = &r.extensions.service else { return String::new() };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "`{}`: {} distinct {} jobs ({} circuit) per measurement, {} logical cores shared by the service and the load generator, ledger: {}; set-up (keys and proofs, not timed) {}.\n",
        t.id,
        t.jobs,
        t.shape,
        t.circuit,
        t.cores,
        t.ledger,
        fmt_time(t.setup_s)
    );
    s.push_str("| path | concurrency | proofs | proofs/s | p50 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n");
    let ms = |x: f64| fmt_time(x / 1e3);
    for (path, runs) in [
        ("native `verify_for_job`, threads", &t.native),
        ("HTTP submit (signed, verify, escrow release), connections", &t.http),
    ] {
        for x in runs.iter() {
            let _ = writeln!(
                s,
                "| {path} | {} | {} | {:.0} | {} | {} | {} |",
                x.concurrency,
                x.proofs,
                x.per_s,
                ms(x.p50_ms),
                ms(x.p99_ms),
                ms(x.max_ms)
            );
        }
    }
    s
}

/// Series key: (construction, dtype, backend).
pub type SeriesKey = (CircuitKind, Dtype, String);

/// Cases grouped by series, ordered by n (series with one point included).
pub fn series(r: &Results) -> BTreeMap<(String, String, String), Vec<&CaseResult>> {
    let mut m: BTreeMap<(String, String, String), Vec<&CaseResult>> = BTreeMap::new();
    for c in &r.cases {
        m.entry((c.spec.label(), c.spec.dtype.to_string(), c.spec.backend.clone())).or_default().push(c);
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

/// Median of a primitive, if measured.
fn primitive(r: &Results, backend: &str, op: &str, log: u32) -> Option<f64> {
    r.primitives.iter().find(|p| p.backend == backend && p.op == op && p.log_size == log).map(|p| p.time.median)
}

/// The CPU backend beside every other backend of the run: MSM/NTT medians, then
/// each Groth16 case end to end (C = A·B plus the proof), with the targets of
/// the GPU issue. None when the run used the CPU alone.
pub fn cpu_vs_gpu(r: &Results) -> Option<String> {
    let others: Vec<String> = backends_of(r).into_iter().filter(|b| b != "cpu").collect();
    if others.is_empty() {
        return None;
    }
    let mut s = String::from("## CPU vs GPU backend, side by side\n\nSame run, same machine, same inputs; every GPU result was checked against the CPU backend's. Times are medians. *end to end* = C = A·B (cuBLAS int8 GEMM beside a GPU backend when CUDA is usable, see *GEMM on*) + data commitments + witness + NTTs + MSMs; ratio = GPU time / CPU time.\n\n");
    let mut ops: Vec<(String, u32)> = r.primitives.iter().map(|p| (p.op.clone(), p.log_size)).collect();
    ops.sort();
    ops.dedup();
    for b in &others {
        if !ops.is_empty() {
            let _ = writeln!(
                s,
                "| operation | size | cpu | {b} | ratio {b}/cpu | speed-up |\n|---|---:|---:|---:|---:|---:|"
            );
            for (op, log) in &ops {
                let (c, g) = (primitive(r, "cpu", op, *log), primitive(r, b, op, *log));
                let what = if op == "ntt" { "NTT fwd+inv" } else { "G1 MSM" };
                let _ = writeln!(
                    s,
                    "| {what} | 2^{log} | {} | {} | {} | {} |",
                    c.map(fmt_time).unwrap_or_else(|| "–".into()),
                    g.map(fmt_time).unwrap_or_else(|| "–".into()),
                    c.zip(g).map(|(c, g)| format!("{:.3}", g / c)).unwrap_or_else(|| "–".into()),
                    c.zip(g).map(|(c, g)| format!("{:.1}×", c / g)).unwrap_or_else(|| "–".into()),
                );
            }
            s.push('\n');
        }
        let mut rows: Vec<(CircuitKind, Dtype, u32)> = r
            .cases
            .iter()
            .filter(|c| c.spec.system == ProofSystem::Groth16Bn254 && &c.spec.backend == b)
            .map(|c| (c.spec.construction, c.spec.dtype, c.spec.n))
            .collect();
        rows.sort_by_key(|&(k, d, n)| (k.to_string(), d.to_string(), n));
        rows.dedup();
        if !rows.is_empty() {
            let _ = writeln!(s, "| construction | dtype | n×n×n | end to end cpu | end to end {b} | ratio {b}/cpu | speed-up | prove cpu | prove {b} | MSM cpu | MSM {b} | NTT cpu | NTT {b} | GEMM on |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
            for (k, d, n) in rows {
                let (c, g) = (find(r, k, d, n, "cpu"), find(r, k, d, n, b));
                let e2e = |c: &CaseResult| c.timings.execute.median + c.timings.prove.median;
                let t = |x: Option<&CaseResult>, f: &dyn Fn(&CaseResult) -> f64| {
                    x.map(|c| fmt_time(f(c))).unwrap_or_else(|| "–".into())
                };
                let ratio = c.zip(g).map(|(c, g)| e2e(g) / e2e(c));
                let _ = writeln!(
                    s,
                    "| {k} | {d} | {n} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    t(c, &e2e),
                    t(g, &e2e),
                    ratio.map(|x| format!("{x:.3}")).unwrap_or_else(|| "–".into()),
                    ratio.map(|x| format!("{:.1}×", 1.0 / x)).unwrap_or_else(|| "–".into()),
                    t(c, &|c| c.timings.prove.median),
                    t(g, &|c| c.timings.prove.median),
                    t(c, &|c| c.timings.msm.median),
                    t(g, &|c| c.timings.msm.median),
                    t(c, &|c| c.timings.ntt.median),
                    t(g, &|c| c.timings.ntt.median),
                    g.and_then(|c| c.gemm.clone()).unwrap_or_else(|| "–".into()),
                );
            }
            s.push('\n');
        }
        let e2e_1024 = find(r, CircuitKind::Committed, Dtype::Int8, 1024, b)
            .map(|c| c.timings.execute.median + c.timings.prove.median);
        let msm_20 = primitive(r, b, "msm_g1", 20);
        if e2e_1024.is_some() || msm_20.is_some() {
            let verdict = |x: f64, target: f64| if x <= target { "met" } else { "**missed**" };
            let _ = writeln!(s, "Targets ({b}):\n");
            if let Some(x) = e2e_1024 {
                let _ = writeln!(
                    s,
                    "- 1024×1024×1024 int8 proven end to end in {} (target ≤ 2 s: {})",
                    fmt_time(x),
                    verdict(x, 2.0)
                );
            }
            if let Some(x) = msm_20 {
                let _ =
                    writeln!(s, "- G1 MSM of 2^20 points in {} (target ≤ 15 ms: {})", fmt_time(x), verdict(x, 0.015));
            }
            s.push('\n');
        }
    }
    Some(s)
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
    if let Some(v) = &r.upgraded_from {
        let _ = writeln!(
            s,
            "> Read from a `{v}` file (written before the committed construction): its `freivalds` cases are shown as `poseidon` (the same circuit, renamed); its `commit` phase is the stand-alone cm_C hash and its `prove` excludes it.\n"
        );
    }

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

    if let Some(t) = cpu_vs_gpu(r) {
        s.push_str(&t);
    }

    s.push_str("## Committed (ours, the default) vs poseidon, side by side\n\nSame job, same data, same backend, one run. `committed` binds A, B and C by Pedersen commitments carried with the proof (commit-and-prove) and checks C = A·B with Freivalds: about mk + kn + mn constraints. `poseidon`, the previous construction, hashes every entry in-circuit. Times are medians; speed-up = poseidon / committed prove time; peak RSS is the whole case process; gas is the in-process EVM settlement of the last proof. *skipped*: in the suite but not run on this machine (see Skipped).\n\n");
    s.push_str(&committed_vs_poseidon(r));

    s.push_str("## Groth16 vs halo2 (universal setup), side by side\n\nThe same jobs proven with halo2 (PLONK, KZG over BN254, SHPLONK; crate `veriflop-halo2`): the Poseidon-committed statement with Freivalds on halo2's challenge API, keys derived per shape from one universal SRS (no per-shape ceremony). `prove halo2` is the data commitments plus the halo2 prover (CPU; halo2-axiom has no GPU path); the CLI derives them once per shape and SRS and caches them next to the SRS, shown as per-shape keys. The halo2 gas is `JobEscrow.submitHalo2` through snark-verifier's generated verifier (its calldata is the five public inputs and the proof). The Groth16 columns are the committed and poseidon cases of the same run (– when the suite has none at that n).\n\n");
    s.push_str(&groth16_vs_halo2(r));

    s.push_str("## Every construction\n\nProve time (median) and constraints per n, naive (one constraint per product, O(n³)) included.\n\n");
    s.push_str(&constructions_table(r));
    s.push('\n');

    s.push_str("## All cases\n\nProve and verify: median (min–max) over the measured repetitions, after warm-up. Setup is the Groth16 key generation (development setup), once per case. Peak RSS is the whole case process (keys included).\n\n");
    s.push_str("| construction | dtype | n | backend | reps | constraints | setup | prove | verify | proof | bundle | proving key | peak RSS (setup / prove) | gas verifyProof tx | gas submit tx |\n");
    s.push_str("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in &r.cases {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {}+{} | {} | {} | {} | {} | {} | {} B | {} | {} / {} | {} | {} |",
            c.spec.label(),
            c.spec.dtype,
            c.spec.n,
            c.spec.backend,
            c.spec.warmup,
            c.spec.reps,
            fmt_count(c.exact.constraints),
            fmt_time(c.setup_s),
            fmt_stat(&c.timings.prove),
            fmt_stat(&c.timings.verify),
            fmt_proof(c),
            c.exact.bundle_bytes,
            fmt_bytes(c.exact.pk_bytes),
            fmt_opt_bytes(c.memory.peak_rss_setup_bytes),
            fmt_opt_bytes(c.memory.peak_rss_prove_bytes),
            c.gas.as_ref().map(|g| fmt_count(g.verify_tx)).unwrap_or_else(|| "–".into()),
            c.gas.as_ref().map(|g| fmt_count(g.submit_tx)).unwrap_or_else(|| "–".into()),
        );
    }
    s.push('\n');

    s.push_str("## Phase breakdown\n\nMedians per phase. Execute is the native C = A·B (not part of prove); prove = commit + witness + NTT + MSM + other, where commit is the prover's data commitments and challenge (committed: Pedersen commitments of A, B, C and the proof-of-knowledge point, multi-threaded; poseidon and naive: Poseidon hashes of A, B, C, one thread) and witness is constraint synthesis.\n\n");
    s.push_str(
        "| construction | dtype | n | backend | execute | commit | witness | NTT | MSM | other | prove | MSM share |\n",
    );
    s.push_str("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in &r.cases {
        let t = &c.timings;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% |",
            c.spec.label(),
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
        let ce: Vec<(f64, f64)> = cases
            .iter()
            .rev()
            .take(3)
            .filter(|c| c.exact.constraints > 0)
            .map(|c| (c.spec.n as f64, c.exact.constraints as f64))
            .collect();
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
    if r.extensions.service.is_some() {
        s.push_str("\n### Verifier-service throughput\n\n");
        s.push_str(&service_table(r));
    }
    // Gas of the default construction's largest case (else of any case with gas).
    let with_gas = |k: Option<CircuitKind>| {
        r.cases
            .iter()
            .filter(|c| k.is_none_or(|k| c.spec.is_groth16(k)))
            .rev()
            .find_map(|c| c.gas.as_ref().map(|g| (c, g)))
    };
    if let Some(g) = with_gas(Some(CircuitKind::Committed)).or_else(|| with_gas(None)) {
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
    if !r.skipped.is_empty() {
        s.push_str("\n## Skipped\n\n");
        for k in &r.skipped {
            let _ = writeln!(s, "- `{}`: {}", k.id, k.reason);
        }
    }
    if !r.failures.is_empty() {
        s.push_str("\n## Failures\n\n");
        for f in &r.failures {
            let _ = writeln!(s, "- `{}`: {}", f.id, f.error);
        }
    }
    s
}
