//! `veriflop-bench`: run the standard benchmark suite, report it, and check a
//! reproduction against published results. See docs/BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use veriflop_bench::case::{run_task, ChildTask, PROGRESS_PREFIX};
use veriflop_bench::check::{check, render, CheckOptions};
use veriflop_bench::run::{plan, run, write_outputs, RunOptions, RunPlan, CHILD_SUBCOMMAND};
use veriflop_bench::{readme, schema, suite, Results};

/// Reproducible benchmarks of veriflop's prover: prove time, phases, memory,
/// proof sizes, verification and gas, with tables, plots and a checker that
/// compares your figures with published ones.
#[derive(Parser, Debug)]
#[command(name = "veriflop-bench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a suite: writes results.json, report.md and plots/*.svg under --out.
    ///
    /// Every case runs in a child process (its peak memory is its own); a
    /// calibration workload runs at the start and at the end. Use the release
    /// profile: `cargo run --release -p veriflop-bench -- run`.
    Run {
        /// tiny (smoke test, seconds), quick (< 10 min on 2 cores), scaling (the committed-vs-poseidon table up to n = 512, ~15 min), gpu (CPU beside GPU up to n = 1024: --backend cpu,icicle), full (about 35–40 min on 2 cores, estimated; see docs/BENCHMARKS.md for memory).
        #[arg(long, default_value = "quick")]
        suite: String,
        /// Backend(s) to run every case on (repeat or comma-separate): cpu, icicle (ICICLE from
        /// $VERIFLOP_ICICLE_DIR, else /opt/icicle, on $VERIFLOP_ICICLE_DEVICE, else CUDA:0).
        #[arg(long, value_delimiter = ',', default_value = "cpu")]
        backend: Vec<String>,
        /// Output directory (default: veriflop-bench-out/<suite>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only cases whose id contains this (ids look like committed/int8/n64/cpu; the service measurement is service/committed/int8/n4).
        #[arg(long)]
        filter: Option<String>,
        /// Override the measured repetitions of every case.
        #[arg(long)]
        reps: Option<u32>,
        /// Override the warm-up runs of every case.
        #[arg(long)]
        warmup: Option<u32>,
        /// Seed of the generated matrices and keys.
        #[arg(long, default_value_t = suite::DEFAULT_SEED)]
        seed: u64,
        /// Measured calibration rounds, at the start and again at the end.
        #[arg(long, default_value_t = 5)]
        calibration_rounds: u32,
        /// Do not measure on-chain gas.
        #[arg(long)]
        no_gas: bool,
        /// Do not measure verifier-service throughput.
        #[arg(long)]
        no_service: bool,
        /// Run the cases whose prerequisites are present and record the others (e.g. the halo2
        /// cases without the pinned solc) as skipped, with the reason, in results.json and the
        /// report. Without it, `run` refuses to start and says what to install.
        #[arg(long)]
        skip_unavailable: bool,
        /// Print the cases, what they need and what is missing, and exit.
        #[arg(long)]
        list: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Compare a reproduction with published results, figure by figure.
    ///
    /// Headline figures (setup, prove and verify medians, peak memory, sizes and
    /// counts, gas, service throughput) decide; phase breakdowns are reported.
    /// Times are normalised by the ratio of the two machines' calibration scores
    /// and may be slower than published by the combined noise of both runs (each
    /// figure's dispersion and the calibrations'); faster is "better", never a
    /// difference. Exact figures and gas must be equal (gas of the transactions
    /// carrying a proof: up to a few zero bytes of its random bytes apart). Exit
    /// status 0 when every headline figure reproduces or is better, 1 when any
    /// does not, 2 on bad input.
    Check {
        /// Published results.json (e.g. bench/results/ref-2core/results.json).
        published: PathBuf,
        /// Your results.json.
        mine: PathBuf,
        /// z: a time may be slower than published by this many times the combined relative noise.
        #[arg(long, default_value_t = 2.0)]
        noise_factor: f64,
        /// Smallest relative allowance for a slower time.
        #[arg(long, default_value_t = 0.05)]
        min_tolerance: f64,
        /// Added allowance per factor two between the machines' calibration scores.
        #[arg(long, default_value_t = 0.10)]
        machine_tolerance: f64,
        /// Added allowance per unit of ln(1 / CPU share) removed from each side (run-queue correction).
        #[arg(long, default_value_t = 0.15)]
        wait_tolerance: f64,
        /// Absolute slack in seconds for times (tiny figures are noise).
        #[arg(long, default_value_t = 0.002)]
        time_floor: f64,
        /// Relative allowance for a larger peak memory.
        #[arg(long, default_value_t = 0.25)]
        memory_tolerance: f64,
        /// Absolute allowance for a larger peak memory, MiB.
        #[arg(long, default_value_t = 8)]
        memory_floor_mib: u64,
        /// Published figures absent from mine (e.g. a quick run against a full one) do not fail the check.
        #[arg(long)]
        allow_missing: bool,
        /// List every figure with the rule that decided it, not only those that do not reproduce.
        #[arg(long)]
        all: bool,
        /// Print the comparison as JSON (every figure, its verdict and rule).
        #[arg(long)]
        json: bool,
    },
    /// Regenerate report.md and plots from a results.json.
    Report {
        results: PathBuf,
        /// Output directory (default: the directory of the results file).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Validate a results.json against its schema (bench/schema/results-v2.schema.json; v1 files against v1).
    Validate { results: PathBuf },
    /// Rewrite (or, with --check, verify) README.md's performance section from committed results.
    Readme {
        /// Results to publish (default: bench/results/ref-2core/results.json in the workspace).
        #[arg(long)]
        results: Option<PathBuf>,
        /// README to update (default: README.md in the workspace).
        #[arg(long)]
        readme: Option<PathBuf>,
        /// Only check that the section is current; exit 1 if not.
        #[arg(long)]
        check: bool,
    },
    /// Measure the market flow through separate processes: jobs/s with 1, 2 and 4
    /// provider agents, upload and download MB/s of a 64 MiB matrix, and the
    /// service's peak RSS while it receives it. Writes market.json and market.md
    /// under --out. Needs the release binaries: `cargo build --release -p
    /// veriflop-prover -p veriflop-service`.
    Market {
        /// Output directory (publish: bench/results/ref-2core, beside the quick suite's results).
        #[arg(long, default_value = "veriflop-bench-out/market")]
        out: PathBuf,
        /// n of the n×n×n committed int8 jobs.
        #[arg(long, default_value_t = 64)]
        n: u32,
        /// Jobs per measurement.
        #[arg(long, default_value_t = 8)]
        jobs: u32,
        /// Provider agents, one measurement each.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        agents: Vec<u32>,
        /// Side of the int32 matrix uploaded and downloaded.
        #[arg(long, default_value_t = 4096)]
        big: u32,
    },
    /// Measure the phase-2 ceremony (`veriflop-prover ceremony`): init, two
    /// contributions and verify per n×n×n committed int8 shape, each a child
    /// process; time, peak RSS, file and transcript sizes. Phase 1 is a
    /// development .ptau written for the run. Writes ceremony.json and
    /// ceremony.md under --out. Needs the release `veriflop-prover` beside this binary.
    Ceremony {
        /// Output directory (publish: bench/results/ceremony-2core).
        #[arg(long, default_value = "veriflop-bench-out/ceremony")]
        out: PathBuf,
        /// n of the shapes, comma-separated (`--sizes` alone: none).
        #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "64,128,256,512")]
        sizes: Vec<u32>,
        /// Models' inference keys as `widths:batch` (random int8 MLPs, as `inference`), comma-separated.
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
    },
    /// Measure inference jobs (docs/PROTOCOL.md §16.6): per model, the key setup
    /// and the proofs, each in a child process (time, peak RSS); the first and
    /// the warm proofs with their phases, verification, sizes, the constraint
    /// split and submitInference gas. Writes inference.json and inference.md
    /// under --out. Use the release profile.
    Inference {
        /// Output directory (publish: bench/results/inference-2core).
        #[arg(long, default_value = "veriflop-bench-out/inference")]
        out: PathBuf,
        /// Models as `widths:batch` (random int8 MLPs), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = veriflop_bench::inference::DEFAULT_MODELS)]
        models: Vec<String>,
        /// Warm proofs per model (after the first).
        #[arg(long, default_value_t = 3)]
        proofs: u32,
    },
    /// Internal: an inference measurement's child process.
    #[command(name = veriflop_bench::inference::CHILD, hide = true)]
    InferenceChild { args: Vec<String> },
    /// Internal: writes a development .ptau (for `ceremony`), in a child process;
    /// POWER is a number or a model `widths:batch` (the power its keys need). Prints the power.
    #[command(name = veriflop_bench::ceremony::DEV_PTAU, hide = true)]
    DevPtau { path: PathBuf, power: String },
    /// Internal: one case or calibration, in a child process.
    #[command(name = CHILD_SUBCOMMAND, hide = true)]
    Child { task: String },
}

fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if root.join("Cargo.toml").is_file() {
        root.canonicalize().unwrap_or(root)
    } else {
        PathBuf::from(".")
    }
}

/// `target` as a link relative to the directory holding `from` (a file).
fn link_from(from: &Path, target: &Path) -> String {
    let base = from.parent().and_then(|p| p.canonicalize().ok());
    let t = target.canonicalize().ok();
    match (base, t) {
        (Some(b), Some(t)) => match t.strip_prefix(&b) {
            Ok(rel) => rel.display().to_string(),
            Err(_) => t.display().to_string(),
        },
        _ => target.display().to_string(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Child { task } => {
            let task: ChildTask = serde_json::from_str(&task)?;
            let progress = |p: &str| eprintln!("{PROGRESS_PREFIX}{p}");
            match run_task(&task, &progress) {
                Ok(out) => {
                    println!("{}", serde_json::to_string(&out)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Cmd::Run {
            suite,
            backend,
            out,
            filter,
            reps,
            warmup,
            seed,
            calibration_rounds,
            no_gas,
            no_service,
            skip_unavailable,
            list,
            quiet,
        } => {
            let opts = RunOptions {
                suite: suite.clone(),
                backends: backend,
                exe: std::env::current_exe()?,
                seed,
                filter,
                reps,
                warmup,
                gas: !no_gas,
                service: !no_service,
                show_progress: !quiet,
                calibration_rounds: calibration_rounds.max(1),
                skip_unavailable,
            };
            if list {
                let RunPlan { suite: name, cases, skipped, service, primitives, unavailable, tools } =
                    plan(&opts, veriflop_bench::machine::machine().memory_bytes)?;
                println!("suite {name}: {} cases", cases.len());
                for c in cases {
                    println!("  {:<28} warm-up {} · reps {}", c.id(), c.warmup, c.reps);
                }
                for s in skipped {
                    println!("  {:<28} skipped: {}", s.id, s.reason);
                }
                for s in &unavailable {
                    println!("  {:<28} UNAVAILABLE: {}", s.id, s.reason);
                }
                for t in tools {
                    println!("  uses {t}");
                }
                match service {
                    Ok(s) => println!(
                        "  {:<28} {} jobs · native 1 thread and all cores · HTTP with {} connections",
                        s.id(),
                        s.jobs,
                        s.concurrency.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
                    ),
                    Err(why) => {
                        println!("  service throughput: {}", veriflop_bench::extensions::service_status(&why).detail)
                    }
                }
                if !primitives.is_empty() {
                    let logs = |v: &[u32]| v.iter().map(|l| format!("2^{l}")).collect::<Vec<_>>().join(", ");
                    println!(
                        "  primitives per backend: G1 MSM {} · NTT fwd+inv {} · {} reps",
                        logs(&primitives.msm_g1),
                        logs(&primitives.ntt),
                        primitives.reps
                    );
                }
                if !unavailable.is_empty() {
                    println!(
                        "  `run` would refuse to start: install what is missing, or use --skip-unavailable (or --no-gas)"
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            if cfg!(debug_assertions) {
                eprintln!("warning: debug build; published figures come from `cargo run --release -p veriflop-bench`");
            }
            let dir = out.unwrap_or_else(|| PathBuf::from("veriflop-bench-out").join(&suite));
            let results = run(&opts)?;
            let written = write_outputs(&results, &dir)?;
            println!(
                "veriflop-bench: {} cases in {:.0} s ({} failed)",
                results.cases.len(),
                results.duration_s,
                results.failures.len()
            );
            for p in written {
                println!("  wrote {}", p.display());
            }
            let (lo, hi) = veriflop_bench::check::DRIFT_OK;
            for c in results.calibration.iter().filter(|c| !(lo..=hi).contains(&c.drift)) {
                eprintln!(
                    "warning: the machine changed speed during the run (calibration end/start {:.2} on {}); \
                     for published figures, re-run on a quiet machine",
                    c.drift, c.backend
                );
            }
            Ok(if results.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Cmd::Check {
            published,
            mine,
            noise_factor,
            min_tolerance,
            machine_tolerance,
            wait_tolerance,
            time_floor,
            memory_tolerance,
            memory_floor_mib,
            allow_missing,
            all,
            json,
        } => {
            let p = Results::read(&published)?;
            let m = Results::read(&mine)?;
            let opts = CheckOptions {
                noise_factor,
                min_tolerance,
                machine_tolerance,
                wait_tolerance,
                time_floor_s: time_floor,
                memory_tolerance,
                memory_floor_bytes: memory_floor_mib << 20,
                allow_missing,
            };
            let report = check(&p, &m, &opts);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render(&report, &published.display().to_string(), &mine.display().to_string(), all));
            }
            Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Cmd::Report { results, out } => {
            let r = Results::read(&results)?;
            let dir = out.unwrap_or_else(|| results.parent().map(Path::to_path_buf).unwrap_or_default());
            std::fs::create_dir_all(&dir)?;
            for p in veriflop_bench::plot::write_plots(&r, &dir)? {
                println!("wrote {}", p.display());
            }
            let md = dir.join("report.md");
            std::fs::write(&md, veriflop_bench::report::markdown(&r, true))?;
            println!("wrote {}", md.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Validate { results } => {
            let text = std::fs::read_to_string(&results)?;
            let doc: serde_json::Value = serde_json::from_str(&text)?;
            let errors = schema::validate(&doc);
            if errors.is_empty() {
                let version = doc.get("schema").and_then(|v| v.as_str()).unwrap_or(veriflop_bench::SCHEMA);
                println!("{}: valid {version} results", results.display());
                Ok(ExitCode::SUCCESS)
            } else {
                for e in &errors {
                    println!("{}: {e}", results.display());
                }
                Ok(ExitCode::from(1))
            }
        }
        Cmd::Market { out, n, jobs, agents, big } => {
            let spec = veriflop_bench::market::Spec { n, jobs, agents, big };
            let m = veriflop_bench::market::run(&spec, &|p: &str| eprintln!("{p}"))?;
            std::fs::create_dir_all(&out)?;
            std::fs::write(out.join(veriflop_bench::market::FILE), serde_json::to_string_pretty(&m)? + "\n")?;
            let md = veriflop_bench::market::markdown(&m);
            std::fs::write(out.join("market.md"), format!("# veriflop market flow\n\n{md}"))?;
            println!("{md}");
            println!("wrote {}", out.join(veriflop_bench::market::FILE).display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::DevPtau { path, power } => {
            let power = veriflop_bench::ceremony::dev_ptau_power(&power)?;
            veriflop_prover::ceremony::ptau::write_development(&path, power, &mut rand::thread_rng())?;
            println!("{power}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ceremony { out, sizes, models } => {
            std::fs::create_dir_all(&out)?;
            let work = tempfile::tempdir_in(&out)?;
            let c = veriflop_bench::ceremony::run(&sizes, &models, work.path(), &|p: &str| eprintln!("{p}"))?;
            std::fs::write(out.join(veriflop_bench::ceremony::FILE), serde_json::to_string_pretty(&c)? + "\n")?;
            let md = veriflop_bench::ceremony::markdown(&c);
            std::fs::write(out.join("ceremony.md"), format!("# veriflop phase-2 ceremony\n\n{md}"))?;
            println!("{md}");
            println!("wrote {}", out.join(veriflop_bench::ceremony::FILE).display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Inference { out, models, proofs } => {
            let models =
                models.iter().map(|m| veriflop_bench::inference::parse_model(m)).collect::<anyhow::Result<Vec<_>>>()?;
            std::fs::create_dir_all(&out)?;
            let work = tempfile::tempdir_in(&out)?;
            let r = veriflop_bench::inference::run(&models, proofs, work.path(), &|p: &str| eprintln!("{p}"))?;
            std::fs::write(out.join(veriflop_bench::inference::FILE), serde_json::to_string_pretty(&r)? + "\n")?;
            let md = veriflop_bench::inference::markdown(&r);
            std::fs::write(out.join("inference.md"), format!("# veriflop inference jobs\n\n{md}"))?;
            println!("{md}");
            println!("wrote {}", out.join(veriflop_bench::inference::FILE).display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::InferenceChild { args } => {
            veriflop_bench::inference::child_main(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Readme { results, readme: readme_path, check } => {
            let root = workspace_root();
            let results = results.unwrap_or_else(|| root.join(readme::DEFAULT_RESULTS));
            let readme_path = readme_path.unwrap_or_else(|| root.join("README.md"));
            let dir = link_from(&readme_path, results.parent().unwrap_or(Path::new(".")));
            let current = readme::update(&results, &readme_path, &dir, check)?;
            match (check, current) {
                (_, true) => {
                    println!("{}: performance section is current", readme_path.display());
                    Ok(ExitCode::SUCCESS)
                }
                (false, false) => {
                    println!("{}: performance section rewritten from {}", readme_path.display(), results.display());
                    Ok(ExitCode::SUCCESS)
                }
                (true, false) => {
                    println!(
                        "{}: performance section is out of date with {}; run `cargo run --release -p veriflop-bench -- readme`",
                        readme_path.display(),
                        results.display()
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
