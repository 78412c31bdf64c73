//! Finding and running the project's pinned Solidity compiler (solc
//! [`PINNED_VERSION`], `contracts/package.json`), whatever the current
//! directory. Needed to compile the Solidity generated per key (the halo2
//! verifier of [`crate::evm`], the per-key Groth16 verifiers of
//! `veriflop-contracts`); the committed contracts come precompiled.
//!
//! [`locate`] tries, in this order, and takes the first that is usable:
//!
//! 1. the setting `VERIFLOP_SOLC` ([`ENV`]): a native `solc` binary, a `solcjs`
//!    script, the npm `solc` package directory, or a directory holding
//!    `node_modules/solc` (such as a checkout's `contracts/`). When it is set it
//!    must name the pinned version: a wrong or missing one is an error, never
//!    silently replaced by another compiler;
//! 2. the pinned install `contracts/node_modules/solc` (`npm ci --prefix
//!    contracts`) of the source tree this binary was built from (developer
//!    builds), then of the checkout the binary sits in (a binary under
//!    `<checkout>/target/…`);
//! 3. `solc`, then `solcjs`, on `PATH`, when their version is the pinned one.
//!
//! The npm package runs under Node.js through a small driver given to `node -e`
//! (nothing is read from the working directory); a native binary and the
//! `solcjs` script get `--standard-json`. All take the same standard-JSON
//! input, so every route compiles the same bytecode.
//!
//! When nothing is found, [`SolcError::NotFound`] lists what was tried and the
//! command that installs the compiler. When the compiler process dies, its
//! stderr is the error (its input is written from another thread, so a child
//! that exits early never turns into a broken pipe).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The solc version `contracts/package.json` pins (checked by a test).
pub const PINNED_VERSION: &str = "0.8.30";

/// Environment variable naming the compiler to use (see the module docs).
pub const ENV: &str = "VERIFLOP_SOLC";

/// Name of the npm package of `contracts/package.json` (how a veriflop
/// `contracts/` directory is recognised next to an installed binary).
const CONTRACTS_PACKAGE: &str = "veriflop-contracts";

/// Runs the npm `solc` package: `VERIFLOP_SOLCJS_DIR` is the package, stdin the
/// standard-JSON input; prints the standard-JSON output. Checks the version
/// first (the package directory was checked too; this guards against a package
/// replaced in between).
const NODE_DRIVER: &str = r#"'use strict';
const solc = require(process.env.VERIFLOP_SOLCJS_DIR);
const want = process.env.VERIFLOP_SOLCJS_VERSION;
if (want && !solc.version().startsWith(want + '+')) {
  console.error('the solc package at ' + process.env.VERIFLOP_SOLCJS_DIR + ' is ' + solc.version() + ', not ' + want);
  process.exit(2);
}
const input = require('fs').readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input));
"#;

/// How a compiler is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A native `solc` binary: `solc --standard-json`.
    Native,
    /// The `solcjs` command-line script: `solcjs --standard-json`.
    SolcjsCli,
    /// The npm `solc` package directory, run with `node` (the path of node).
    Package { node: PathBuf },
}

/// Where the compiler was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `VERIFLOP_SOLC`.
    Setting,
    /// `contracts/node_modules/solc` of the source tree the binary was built from.
    SourceTree,
    /// `contracts/node_modules/solc` of the checkout holding the binary.
    NextToBinary,
    /// `PATH`.
    Path,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Setting => ENV,
            Origin::SourceTree => "the source tree's pinned install",
            Origin::NextToBinary => "the pinned install of the checkout holding this binary",
            Origin::Path => "PATH",
        })
    }
}

/// A usable Solidity compiler of the pinned version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solc {
    pub kind: Kind,
    /// The binary, the script, or the package directory.
    pub path: PathBuf,
    /// What it reports, e.g. `0.8.30+commit.73712a01.Emscripten.clang`.
    pub version: String,
    pub origin: Origin,
}

impl fmt::Display for Solc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Kind::Native => "solc",
            Kind::SolcjsCli => "solcjs",
            Kind::Package { .. } => "solc package",
        };
        write!(f, "{what} {} at {} (from {})", self.version, self.path.display(), self.origin)
    }
}

/// Why the compiler could not be found or did not compile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SolcError {
    /// No usable compiler: what was tried, and how to install one.
    #[error("the Solidity compiler solc {PINNED_VERSION} was not found (tried: {}); {fix}", .tried.join("; "))]
    NotFound { tried: Vec<String>, fix: String },
    /// `VERIFLOP_SOLC` is set but does not name a usable compiler of the pinned version.
    #[error("{ENV}={value}: {reason}; {fix}")]
    BadSetting { value: String, reason: String, fix: String },
    /// The compiler process could not start, or ended in failure (its stderr).
    #[error("{compiler} failed ({status}): {stderr}")]
    Failed { compiler: String, status: String, stderr: String },
    /// The compiler ran and rejected the sources.
    #[error("{compiler} rejected the sources:\n{}", .errors.join("\n"))]
    Rejected { compiler: String, errors: Vec<String> },
    /// The compiler's output is not the standard JSON expected.
    #[error("{compiler}: unexpected output: {detail}")]
    BadOutput { compiler: String, detail: String },
}

/// What [`locate`] looks at; [`Search::from_env`] is the real environment,
/// tests build others.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// Value of `VERIFLOP_SOLC` (unset or empty: none).
    pub setting: Option<OsString>,
    /// The source tree's `contracts/` directory (the build's `CARGO_MANIFEST_DIR`).
    pub source_tree: Option<PathBuf>,
    /// This program, whose ancestors may hold a veriflop checkout.
    pub exe: Option<PathBuf>,
    /// The `PATH` searched for `solc`, `solcjs` and `node`.
    pub path: Option<OsString>,
}

impl Search {
    /// The process environment: `VERIFLOP_SOLC`, this build's source tree,
    /// `std::env::current_exe()` and `PATH`. Never the current directory.
    pub fn from_env() -> Search {
        Search {
            setting: std::env::var_os(ENV).filter(|v| !v.is_empty()),
            source_tree: Some(source_tree_contracts()),
            exe: std::env::current_exe().ok(),
            path: std::env::var_os("PATH"),
        }
    }

    /// The first usable compiler, in the order of the module docs.
    pub fn locate(&self) -> Result<Solc, SolcError> {
        let mut tried = Vec::new();
        // Where `npm ci` should install the pinned compiler, for the message.
        let mut install_dir: Option<PathBuf> = None;
        let mut needs_node: Option<PathBuf> = None;

        if let Some(value) = &self.setting {
            return self.from_setting(value);
        }
        tried.push(format!("{ENV} not set"));

        let mut trees = Vec::new();
        if let Some(dir) = &self.source_tree {
            trees.push((dir.clone(), Origin::SourceTree));
        }
        if let Some(dir) = self.exe.as_deref().and_then(checkout_of) {
            if !trees.iter().any(|(d, _)| same_dir(d, &dir)) {
                trees.push((dir, Origin::NextToBinary));
            }
        }
        for (contracts, origin) in trees {
            if !contracts.join("package.json").is_file() {
                tried.push(format!("{}: no such source tree", contracts.display()));
                continue;
            }
            install_dir.get_or_insert_with(|| contracts.clone());
            let pkg = contracts.join("node_modules").join("solc");
            match package_version(&pkg) {
                None => tried.push(format!("{}: not installed", pkg.display())),
                Some(v) if v != PINNED_VERSION => {
                    tried.push(format!("{}: solc {v}, not the pinned {PINNED_VERSION}", pkg.display()))
                }
                Some(v) => match self.node() {
                    Some(node) => return Ok(Solc { kind: Kind::Package { node }, path: pkg, version: v, origin }),
                    None => {
                        tried.push(format!("{}: installed, but `node` is not on PATH to run it", pkg.display()));
                        needs_node.get_or_insert(pkg);
                    }
                },
            }
        }

        for name in ["solc", "solcjs"] {
            let Some(bin) = self.on_path(name) else {
                tried.push(format!("no {name} on PATH"));
                continue;
            };
            match self.probe_binary(&bin) {
                Ok(s) => return Ok(Solc { origin: Origin::Path, ..s }),
                Err(why) => tried.push(format!("{}: {why}", bin.display())),
            }
        }

        let fix = match (needs_node, install_dir) {
            (Some(pkg), _) => format!(
                "install Node.js 18+ (`node` on PATH) to run {}, or set {ENV} to a native solc {PINNED_VERSION} binary",
                pkg.display()
            ),
            (None, dir) => install_hint(dir.as_deref()),
        };
        Err(SolcError::NotFound { tried, fix })
    }

    fn from_setting(&self, value: &OsStr) -> Result<Solc, SolcError> {
        let p = PathBuf::from(value);
        let bad = |reason: String| SolcError::BadSetting {
            value: p.display().to_string(),
            reason,
            fix: format!(
                "point it at a solc {PINNED_VERSION} binary, a solcjs script or the npm solc package, or unset it \
                 and run `npm ci --prefix {}`",
                self.source_tree
                    .as_deref()
                    .filter(|d| d.join("package.json").is_file())
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| "<veriflop checkout>/contracts".into())
            ),
        };
        if p.is_dir() {
            let pkg = if p.join("node_modules/solc/package.json").is_file() {
                p.join("node_modules/solc")
            } else {
                p.clone()
            };
            let v = package_version(&pkg).ok_or_else(|| {
                bad("a directory that is neither the npm solc package nor holds node_modules/solc".into())
            })?;
            if v != PINNED_VERSION {
                return Err(bad(format!("the solc package there is {v}, not the pinned {PINNED_VERSION}")));
            }
            let node =
                self.node().ok_or_else(|| bad("the solc package needs Node.js, and `node` is not on PATH".into()))?;
            return Ok(Solc { kind: Kind::Package { node }, path: pkg, version: v, origin: Origin::Setting });
        }
        if !p.is_file() {
            return Err(bad("no such file or directory".into()));
        }
        let s = self.probe_binary(&p).map_err(bad)?;
        Ok(Solc { origin: Origin::Setting, ..s })
    }

    /// `node` on PATH.
    fn node(&self) -> Option<PathBuf> {
        self.on_path("node")
    }

    fn on_path(&self, name: &str) -> Option<PathBuf> {
        let path = self.path.as_ref()?;
        std::env::split_paths(path).map(|d| d.join(name)).find(|p| is_executable(p))
    }

    /// A binary or script: its version and how to run it, or why it is not usable.
    fn probe_binary(&self, bin: &Path) -> Result<Solc, String> {
        // A solcjs script installed by npm is a link into the package: run the
        // package directly (the script prints notes on stdout in JSON mode).
        if let Ok(real) = bin.canonicalize() {
            if let Some(pkg) = real.parent().filter(|_| real.file_name() == Some(OsStr::new("solc.js"))) {
                if let Some(v) = package_version(pkg) {
                    if v != PINNED_VERSION {
                        return Err(format!("solcjs {v}, not the pinned {PINNED_VERSION}"));
                    }
                    if let Some(node) = self.node() {
                        return Ok(Solc {
                            kind: Kind::Package { node },
                            path: pkg.to_path_buf(),
                            version: v,
                            origin: Origin::Path,
                        });
                    }
                }
            }
        }
        let out = Command::new(bin)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run it: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`--version` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        // Native solc: "solc, the solidity compiler commandline interface\nVersion: 0.8.30+commit…";
        // solcjs: "0.8.30+commit.73712a01.Emscripten.clang".
        let (kind, version) = match text.lines().find_map(|l| l.trim().strip_prefix("Version: ")) {
            Some(v) => (Kind::Native, v.trim().to_string()),
            None => match text.lines().map(str::trim).find(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit())) {
                Some(v) => (Kind::SolcjsCli, v.to_string()),
                None => return Err(format!("not a Solidity compiler (`--version` says {:?})", text.trim())),
            },
        };
        if !version.starts_with(&format!("{PINNED_VERSION}+")) && version != PINNED_VERSION {
            return Err(format!("solc {version}, not the pinned {PINNED_VERSION}"));
        }
        Ok(Solc { kind, path: bin.to_path_buf(), version, origin: Origin::Path })
    }
}

/// `contracts/` of the source tree this crate was built from.
pub fn source_tree_contracts() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("contracts");
    p.canonicalize().unwrap_or(p)
}

/// The `contracts/` directory of a veriflop checkout among `exe`'s ancestors.
fn checkout_of(exe: &Path) -> Option<PathBuf> {
    exe.ancestors().skip(1).map(|d| d.join("contracts")).find(|c| {
        std::fs::read_to_string(c.join("package.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| v["name"] == CONTRACTS_PACKAGE)
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The version of the npm `solc` package at `dir`, if it is one.
fn package_version(dir: &Path) -> Option<String> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).ok()?).ok()?;
    (v["name"] == "solc").then(|| v["version"].as_str().map(str::to_string)).flatten()
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// The exact command that installs the pinned compiler.
pub fn install_hint(contracts: Option<&Path>) -> String {
    let dir = contracts.map(|d| d.display().to_string()).unwrap_or_else(|| "<veriflop checkout>/contracts".into());
    format!(
        "install it with `npm ci --prefix {dir}` (Node.js 18+ and npm), or set {ENV} to a solc {PINNED_VERSION} \
         binary or solcjs package"
    )
}

/// The compiler [`Search::from_env`] finds.
pub fn locate() -> Result<Solc, SolcError> {
    Search::from_env().locate()
}

impl Solc {
    /// Compiles a standard-JSON input; returns the standard-JSON output, or
    /// [`SolcError::Rejected`] with every error the compiler reported.
    pub fn compile(&self, input: &Value) -> Result<Value, SolcError> {
        let compiler = self.to_string();
        let mut cmd = match &self.kind {
            Kind::Native | Kind::SolcjsCli => {
                let mut c = Command::new(&self.path);
                c.arg("--standard-json");
                c
            }
            Kind::Package { node } => {
                let mut c = Command::new(node);
                c.arg("-e")
                    .arg(NODE_DRIVER)
                    .env("VERIFLOP_SOLCJS_DIR", &self.path)
                    .env("VERIFLOP_SOLCJS_VERSION", PINNED_VERSION);
                c
            }
        };
        let stdout = run(&mut cmd, input.to_string().into_bytes(), &compiler)?;
        let text = String::from_utf8_lossy(&stdout);
        // The solcjs script may print notes (">>> …") before the JSON.
        let json = text.find('{').map(|i| &text[i..]).unwrap_or(&text);
        let out: Value = serde_json::from_str(json).map_err(|e| SolcError::BadOutput {
            compiler: compiler.clone(),
            detail: format!("{e}: {:.300}", text.trim()),
        })?;
        let errors: Vec<String> = out["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["severity"] == "error")
            .map(|e| e["formattedMessage"].as_str().or(e["message"].as_str()).unwrap_or("error").trim().to_string())
            .collect();
        if !errors.is_empty() {
            return Err(SolcError::Rejected { compiler, errors });
        }
        Ok(out)
    }
}

/// Runs `cmd` with `input` on its stdin (written from another thread, so that
/// a child that exits without reading it is reported by its status and
/// stderr, not as a broken pipe) and returns its stdout.
fn run(cmd: &mut Command, input: Vec<u8>, compiler: &str) -> Result<Vec<u8>, SolcError> {
    let failed = |status: String, stderr: String| SolcError::Failed { compiler: compiler.to_string(), status, stderr };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed("could not start".into(), e.to_string()))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().map_err(|e| failed("could not be waited for".into(), e.to_string()))?;
    let written = writer.join().unwrap_or_else(|_| Err(std::io::Error::other("the writer thread panicked")));
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        let stderr = if stderr.is_empty() { "(nothing on stderr)".to_string() } else { stderr };
        return Err(failed(out.status.to_string(), stderr));
    }
    if let Err(e) = written {
        return Err(failed(
            "exited before reading its whole input".into(),
            format!("{e}; stderr: {}", if stderr.is_empty() { "(empty)" } else { &stderr }),
        ));
    }
    Ok(out.stdout)
}
