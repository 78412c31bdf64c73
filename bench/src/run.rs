//! The driver: expands a suite, runs the calibration and every case in child
//! processes of the benchmark binary, shows progress, collects the results.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::case::{merge_calibrations, ChildOutput, ChildTask, PROGRESS_PREFIX};
use crate::extensions::ServiceOutcome;
use crate::results::{BackendInfo, Calibration, CaseSpec, Extensions, Failure, Results, Settings, Skipped, SCHEMA};
use crate::suite::ServiceSpec;
use crate::{backends, extensions, machine, plot, report, suite};

/// Name of the hidden subcommand a child process runs.
pub const CHILD_SUBCOMMAND: &str = "__child";

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub suite: String,
    pub backends: Vec<String>,
    /// The benchmark binary, spawned once per case.
    pub exe: PathBuf,
    pub seed: u64,
    /// Only cases whose id contains this string.
    pub filter: Option<String>,
    pub reps: Option<u32>,
    pub warmup: Option<u32>,
    pub gas: bool,
    /// Measure verifier-service throughput (when the suite has it and the filter selects it).
    pub service: bool,
    pub show_progress: bool,
    /// Measured calibration rounds at the start and again at the end.
    pub calibration_rounds: u32,
    /// Record cases whose prerequisites are missing (e.g. solc for the halo2
    /// cases' gas) as skipped, with the reason, instead of refusing to start.
    pub skip_unavailable: bool,
}

/// What a run does: the suite name to record, the cases, the cases of the
/// suite skipped on this machine, and the service measurement (or why none).
#[derive(Clone, Debug)]
pub struct RunPlan {
    pub suite: String,
    pub cases: Vec<CaseSpec>,
    pub skipped: Vec<Skipped>,
    pub service: Result<ServiceSpec, ServiceOutcome>,
    /// MSM/NTT sizes timed per backend (empty when the suite has none or a filter is set).
    pub primitives: suite::Primitives,
    /// Cases whose prerequisites are missing on this machine, and why (with the
    /// fix); [`run`] refuses to start while any is listed. With
    /// `skip_unavailable` they are in `skipped` instead.
    pub unavailable: Vec<Skipped>,
    /// The tools the cases need, as found (e.g. the Solidity compiler).
    pub tools: Vec<String>,
}

/// What `opts` selects on a machine with `memory_bytes` of memory.
pub fn plan(opts: &RunOptions, memory_bytes: Option<u64>) -> anyhow::Result<RunPlan> {
    let gas = opts.gas && extensions::gas_available();
    let suite::Plan { mut cases, mut skipped, service } =
        suite::plan(&opts.suite, &opts.backends, opts.seed, gas, memory_bytes)
            .ok_or_else(|| anyhow!("unknown suite {:?} (expected one of {})", opts.suite, suite::SUITES.join(", ")))?;
    let service = match service {
        None => Err(ServiceOutcome::NotSelected(format!("suite {} has no service measurement", opts.suite))),
        Some(_) if !opts.service => Err(ServiceOutcome::Disabled),
        Some(s) => match &opts.filter {
            Some(f) if !s.id().contains(f.as_str()) => {
                Err(ServiceOutcome::NotSelected(format!("{} not selected by --filter {f:?}", s.id())))
            }
            _ => Ok(s),
        },
    };
    if let Some(f) = &opts.filter {
        cases.retain(|c| c.id().contains(f.as_str()));
        skipped.retain(|c| c.id.contains(f.as_str()));
        if cases.is_empty() && skipped.is_empty() && service.is_err() {
            bail!("no case of suite {} matches {f:?}", opts.suite);
        }
    }
    for c in &mut cases {
        c.reps = opts.reps.unwrap_or(c.reps).max(1);
        c.warmup = opts.warmup.unwrap_or(c.warmup);
    }
    // Prerequisites beyond this binary, checked before anything runs.
    let mut unavailable = Vec::new();
    let mut tools = Vec::new();
    if cases.iter().any(extensions::needs_solc) {
        match extensions::solc() {
            Ok(found) => tools.push(format!("Solidity compiler (halo2 verifiers, for gas): {found}")),
            Err(e) => {
                let (drop, keep): (Vec<CaseSpec>, Vec<CaseSpec>) = cases.into_iter().partition(extensions::needs_solc);
                cases = keep;
                unavailable.extend(drop.into_iter().map(|c| Skipped {
                    id: c.id(),
                    reason: format!(
                        "its on-chain gas compiles the generated halo2 verifier with the pinned Solidity compiler: {e}"
                    ),
                }));
            }
        }
    }
    if opts.skip_unavailable {
        skipped.append(&mut unavailable);
    }
    let custom =
        opts.filter.is_some() || opts.reps.is_some() || opts.warmup.is_some() || opts.seed != suite::DEFAULT_SEED;
    let primitives = if opts.filter.is_some() { suite::Primitives::default() } else { suite::primitives(&opts.suite) };
    Ok(RunPlan {
        suite: if custom { "custom".into() } else { opts.suite.clone() },
        cases,
        skipped,
        service,
        primitives,
        unavailable,
        tools,
    })
}

/// The error `run` gives when cases cannot run here: each reason once, with
/// its cases, and the ways forward.
pub fn unavailable_error(suite: &str, unavailable: &[Skipped]) -> anyhow::Error {
    let mut by_reason: Vec<(&str, Vec<&str>)> = Vec::new();
    for u in unavailable {
        match by_reason.iter_mut().find(|(r, _)| *r == u.reason) {
            Some((_, ids)) => ids.push(&u.id),
            None => by_reason.push((&u.reason, vec![&u.id])),
        }
    }
    let mut msg =
        format!("{} case(s) of suite {suite} cannot run on this machine, so nothing was run:\n", unavailable.len());
    for (reason, ids) in by_reason {
        msg += &format!("  {}: {reason}\n", ids.join(", "));
    }
    msg += "Fix that and run again; or add --skip-unavailable to run the other cases and record these as skipped \
            (with the reason) in results.json and the report; or --no-gas to run them without on-chain gas.";
    anyhow!(msg)
}

fn child(exe: &Path, task: &ChildTask, on_progress: &dyn Fn(&str)) -> anyhow::Result<ChildOutput> {
    let mut proc = Command::new(exe)
        .arg(CHILD_SUBCOMMAND)
        .arg(serde_json::to_string(task)?)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let stderr = proc.stderr.take().expect("piped");
    let mut stdout = proc.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut other = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match line.strip_prefix(PROGRESS_PREFIX) {
                Some(p) => {
                    let _ = tx.send(p.to_string());
                }
                None => other.push(line),
            }
        }
        other
    });
    let mut out = String::new();
    let stdout_reader = std::thread::spawn(move || {
        let _ = stdout.read_to_string(&mut out);
        out
    });
    for p in rx {
        on_progress(&p);
    }
    let other = reader.join().unwrap_or_default();
    let out = stdout_reader.join().unwrap_or_default();
    let status = proc.wait()?;
    if !status.success() {
        let tail: Vec<&str> = other.iter().rev().take(5).rev().map(|s| s.as_str()).collect();
        bail!("child process {status}: {}", tail.join(" | "));
    }
    serde_json::from_str(&out).with_context(|| format!("child output is not a result: {out:.200}"))
}

/// Runs the selected suite and returns its results (nothing is written).
pub fn run(opts: &RunOptions) -> anyhow::Result<Results> {
    let started = Instant::now();
    let created_utc = machine::now_utc();
    let mut machine = machine::machine();
    let software = machine::software();
    for id in &opts.backends {
        backends::make(id).map_err(|e| anyhow!(e))?;
    }
    let backend_infos: Vec<BackendInfo> = backends::registry()
        .into_iter()
        .map(|b| {
            let opened = (b.open)();
            BackendInfo {
                id: b.id.to_string(),
                name: opened.as_ref().map(|b| b.name()).unwrap_or_else(|_| b.id.to_string()),
                available: opened.is_ok(),
                used: opts.backends.iter().any(|x| x == b.id),
                note: opened.err(),
            }
        })
        .collect();
    let RunPlan {
        suite: suite_name,
        cases,
        skipped,
        service: service_plan,
        primitives: primitive_sizes,
        unavailable,
        ..
    } = plan(opts, machine.memory_bytes)?;
    if !unavailable.is_empty() {
        return Err(unavailable_error(&opts.suite, &unavailable));
    }

    let calib_weight = 2_000_000u64;
    let total: u64 = cases.iter().map(suite::weight).sum::<u64>()
        + 2 * calib_weight * opts.backends.len() as u64
        + service_plan.as_ref().map(suite::service_weight).unwrap_or(0);
    let bar = if opts.show_progress {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30.cyan/blue}] {percent:>3}%  {prefix} {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(250));

    let mut failures = Vec::new();
    let mut calib_start: Vec<Calibration> = Vec::new();
    let calibrate = |backend: &str, label: &str| -> anyhow::Result<Calibration> {
        bar.set_prefix(format!("[{backend}] calibration ({label})"));
        let task = ChildTask::Calibrate { backend: backend.to_string(), rounds: opts.calibration_rounds };
        let out = child(&opts.exe, &task, &|p| bar.set_message(p.to_string()))?;
        bar.inc(calib_weight);
        match out {
            ChildOutput::Calibrate(c) => Ok(*c),
            _ => bail!("child answered a calibration with something else"),
        }
    };
    for b in &opts.backends {
        calib_start.push(calibrate(b, "start")?);
    }
    let mut primitives = Vec::new();
    if !primitive_sizes.is_empty() {
        for b in &opts.backends {
            bar.set_prefix(format!("[{b}] MSM and NTT"));
            let task = ChildTask::Primitives { backend: b.clone(), sizes: primitive_sizes.clone() };
            match child(&opts.exe, &task, &|p| bar.set_message(p.to_string())) {
                Ok(ChildOutput::Primitives { results }) => primitives.extend(results),
                Ok(_) => {
                    failures.push(Failure { id: format!("primitives/{b}"), error: "unexpected child answer".into() })
                }
                Err(e) => failures.push(Failure { id: format!("primitives/{b}"), error: format!("{e:#}") }),
            }
        }
    }
    // One line per finished case on stderr (also when stderr is not a terminal).
    let say = |line: String| {
        if opts.show_progress {
            bar.suspend(|| eprintln!("{line}"));
        }
    };
    let mut results = Vec::new();
    let n_cases = cases.len();
    for (i, spec) in cases.iter().enumerate() {
        bar.set_prefix(format!("[{}/{n_cases}] {}", i + 1, spec.id()));
        bar.set_message("starting");
        match child(&opts.exe, &ChildTask::Case(spec.clone()), &|p| bar.set_message(p.to_string())) {
            Ok(ChildOutput::Case(r)) => {
                say(format!(
                    "  {:<26} prove {:>9.3} s (median of {})  setup {:>8.2} s  {:>9} constraints  peak RSS {}",
                    spec.id(),
                    r.timings.prove.median,
                    spec.reps,
                    r.setup_s,
                    r.exact.constraints,
                    crate::report::fmt_opt_bytes(r.memory.peak_rss_bytes)
                ));
                results.push(*r);
            }
            Ok(_) => {
                failures.push(Failure { id: spec.id(), error: "child answered a case with something else".into() })
            }
            Err(e) => {
                say(format!("  {:<26} FAILED: {e:#}", spec.id()));
                failures.push(Failure { id: spec.id(), error: format!("{e:#}") });
            }
        }
        bar.inc(suite::weight(spec));
    }
    for sk in &skipped {
        say(format!("  {:<26} skipped: {}", sk.id, sk.reason));
    }
    let (service_outcome, service) = match service_plan {
        Err(why) => (why, None),
        Ok(spec) => {
            bar.set_prefix(format!("[service] {}", spec.id()));
            bar.set_message("starting");
            let out = child(&opts.exe, &ChildTask::Service(spec.clone()), &|p| bar.set_message(p.to_string()));
            bar.inc(suite::service_weight(&spec));
            match out {
                Ok(ChildOutput::Service(t)) => {
                    let fmt = |r: &crate::results::ServiceRun| format!("{:.0}/s (c={})", r.per_s, r.concurrency);
                    say(format!(
                        "  {:<26} native {}  HTTP {}",
                        spec.id(),
                        t.native.iter().map(fmt).collect::<Vec<_>>().join(", "),
                        t.http.iter().map(fmt).collect::<Vec<_>>().join(", ")
                    ));
                    (ServiceOutcome::Measured, Some(*t))
                }
                Ok(_) => {
                    let e = "child answered the service measurement with something else".to_string();
                    failures.push(Failure { id: spec.id(), error: e.clone() });
                    (ServiceOutcome::Failed(e), None)
                }
                Err(e) => {
                    say(format!("  {:<26} FAILED: {e:#}", spec.id()));
                    failures.push(Failure { id: spec.id(), error: format!("{e:#}") });
                    (ServiceOutcome::Failed(format!("{e:#}")), None)
                }
            }
        }
    };
    let mut calibration = Vec::new();
    for (b, start) in opts.backends.iter().zip(calib_start) {
        let end = calibrate(b, "end").ok();
        calibration.push(merge_calibrations(start, end));
    }
    bar.finish_and_clear();
    machine.load_average_end = machine::load_average();

    Ok(Results {
        schema: SCHEMA.to_string(),
        suite: suite_name,
        created_utc,
        duration_s: started.elapsed().as_secs_f64(),
        machine,
        software,
        settings: Settings { seed: opts.seed, filter: opts.filter.clone() },
        backends: backend_infos,
        calibration,
        cases: results,
        failures,
        skipped,
        extensions: Extensions {
            gas: extensions::gas_status(opts.gas),
            service_throughput: extensions::service_status(&service_outcome),
            service,
        },
        primitives,
        upgraded_from: None,
    })
}

/// Writes `results.json`, `report.md` and the plots under `dir`.
pub fn write_outputs(results: &Results, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let json = dir.join("results.json");
    std::fs::write(&json, results.to_json() + "\n").with_context(|| format!("writing {}", json.display()))?;
    written.push(json);
    written.extend(plot::write_plots(results, dir)?);
    let md = dir.join("report.md");
    std::fs::write(&md, report::markdown(results, true)).with_context(|| format!("writing {}", md.display()))?;
    written.push(md);
    Ok(written)
}
