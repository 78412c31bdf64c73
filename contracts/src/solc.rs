//! Runs the pinned Solidity compiler (solc 0.8.30, `contracts/package.json`)
//! on generated sources, with the settings of `contracts/scripts/compile.js`.
//! Only needed to compile per-key verifiers from [`crate::solidity_verifier`]
//! (and the halo2 verifiers, `veriflop_halo2::evm`); the committed contracts
//! come precompiled from `contracts/out/`.
//!
//! The compiler is found without looking at the current directory — the
//! setting `VERIFLOP_SOLC`, the pinned install `contracts/node_modules/solc`
//! of the source tree or of the checkout holding the binary, then `solc` or
//! `solcjs` of the pinned version on `PATH` — see [`veriflop_halo2::solc`],
//! re-exported here.

use std::collections::BTreeMap;

use serde_json::{json, Value};
pub use veriflop_halo2::solc::{install_hint, locate, Kind, Origin, Search, Solc, SolcError, ENV, PINNED_VERSION};

use crate::artifacts::Artifact;
use crate::Error;

/// The contracts directory of this crate's source tree.
pub fn contracts_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The settings of `contracts/scripts/compile.js` (and of `contracts/out/`).
pub fn settings() -> Value {
    json!({
        "evmVersion": "cancun",
        "optimizer": { "enabled": true, "runs": 1000 },
        "metadata": { "bytecodeHash": "none" },
        "outputSelection": { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    })
}

/// Compiles Solidity sources (`(file name, text)`) with the pinned solc and the
/// settings of `contracts/build.sh`; returns the artifacts by contract name.
pub fn compile(sources: &[(&str, &str)]) -> Result<BTreeMap<String, Artifact>, Error> {
    let solc = locate().map_err(|e| Error::Solc(e.to_string()))?;
    compile_with(&solc, sources).map_err(|e| Error::Solc(e.to_string()))
}

/// [`compile`] with a given compiler.
pub fn compile_with(solc: &Solc, sources: &[(&str, &str)]) -> Result<BTreeMap<String, Artifact>, SolcError> {
    let srcs: serde_json::Map<String, Value> =
        sources.iter().map(|(n, t)| (n.to_string(), json!({ "content": t }))).collect();
    let input = json!({ "language": "Solidity", "sources": srcs, "settings": settings() });
    let out = solc.compile(&input)?;
    let bad = |detail: String| SolcError::BadOutput { compiler: solc.to_string(), detail };
    let mut res = BTreeMap::new();
    for (source, contracts) in out["contracts"].as_object().into_iter().flatten() {
        for (name, c) in contracts.as_object().into_iter().flatten() {
            let hex_of = |k: &str| c["evm"][k]["object"].as_str().map(|s| format!("0x{s}"));
            let artifact = json!({
                "contractName": name,
                "sourceName": source,
                "abi": c["abi"],
                "bytecode": hex_of("bytecode"),
                "deployedBytecode": hex_of("deployedBytecode"),
            });
            let artifact = Artifact::from_value(&artifact).map_err(|e| bad(format!("{name}: {e}")))?;
            if res.insert(name.clone(), artifact).is_some() {
                return Err(bad(format!("contract name {name} is defined twice")));
            }
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    //! The compile paths from another working directory (a child process: the
    //! current directory is global to the process), a missing compiler, a
    //! compiler that dies, and the pinned version against package.json.

    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    const SOURCE: &str = "// SPDX-License-Identifier: Apache-2.0\npragma solidity ^0.8.20;\n\
                          contract Probe { function f() external pure returns (uint256) { return 42; } }\n";

    /// Set by [`compiles_from_another_directory`] in the child it starts.
    const CHILD: &str = "VERIFLOP_SOLC_TEST_CHILD";

    fn halo2_vk() -> veriflop_halo2::VerifierKey {
        let shape = veriflop_circuits::Shape::new(2, 2, 2, veriflop_circuits::Dtype::Int8).unwrap();
        let srs = veriflop_halo2::setup_srs(veriflop_halo2::circuit_k(&shape), [1; 32]).unwrap();
        veriflop_halo2::keygen_vk(&shape, &srs).unwrap()
    }

    /// The body run in the child: both compile paths from wherever it was started.
    #[test]
    fn child_compiles_here() {
        if std::env::var_os(CHILD).is_none() {
            return; // only meaningful in the child of `compiles_from_another_directory`
        }
        let cwd = std::env::current_dir().unwrap();
        assert!(!cwd.join("contracts").exists() && !cwd.join("Cargo.toml").exists(), "{}", cwd.display());
        let arts = compile(&[("Probe.sol", SOURCE)]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!arts["Probe"].deployed_bytecode.is_empty());
        let code = crate::settle::halo2_verifier_initcode(&halo2_vk()).unwrap_or_else(|e| panic!("{e}"));
        assert!(code.len() > 10_000);
        println!("child compiled both from {}", cwd.display());
    }

    /// `veriflop-prover demo` run outside the repository failed with
    /// `solc: Broken pipe`: compile from a temporary directory, in a child
    /// process of this test binary.
    #[test]
    fn compiles_from_another_directory() {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "solc::tests::child_compiles_here", "--nocapture", "--test-threads=1"])
            .current_dir(dir.path())
            .env(CHILD, "1")
            .env_remove(ENV)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{text}");
        assert!(text.contains("child compiled both from"), "the child ran the test: {text}");
    }

    /// Nothing anywhere: the error names what was tried and the command to run.
    #[test]
    fn missing_compiler_is_a_clear_error() {
        let empty = tempfile::tempdir().unwrap();
        // A checkout without `npm ci`: a contracts/ directory with our package.json only.
        let checkout = tempfile::tempdir().unwrap();
        let contracts = checkout.path().join("contracts");
        std::fs::create_dir_all(&contracts).unwrap();
        std::fs::copy(contracts_dir().join("package.json"), contracts.join("package.json")).unwrap();
        let search = Search {
            setting: None,
            source_tree: Some(contracts.clone()),
            exe: Some(empty.path().join("bin/veriflop-prover")),
            path: Some(empty.path().as_os_str().to_owned()),
        };
        let err = search.locate().unwrap_err();
        let SolcError::NotFound { tried, fix } = &err else { panic!("{err:?}") };
        assert!(tried.iter().any(|t| t.contains("node_modules/solc: not installed")), "{tried:?}");
        assert!(tried.iter().any(|t| t == "no solc on PATH") && tried.iter().any(|t| t == "no solcjs on PATH"));
        assert!(fix.contains(&format!("`npm ci --prefix {}`", contracts.display())), "{fix}");
        let msg = err.to_string();
        assert!(msg.contains("solc 0.8.30 was not found") && msg.contains(ENV), "{msg}");
        assert!(!msg.to_lowercase().contains("broken pipe"));

        // Nothing known at all: the command names the checkout generically.
        let none = Search { source_tree: None, exe: None, ..search.clone() };
        let SolcError::NotFound { fix, .. } = none.locate().unwrap_err() else { panic!() };
        assert!(fix.contains("`npm ci --prefix <veriflop checkout>/contracts`"), "{fix}");

        // A binary inside a checkout finds that checkout's contracts/ (here: not installed).
        let beside = Search {
            source_tree: None,
            exe: Some(checkout.path().join("target/release/veriflop-prover")),
            ..search.clone()
        };
        let SolcError::NotFound { fix, .. } = beside.locate().unwrap_err() else { panic!() };
        assert!(fix.contains(&format!("`npm ci --prefix {}`", contracts.display())), "{fix}");

        // VERIFLOP_SOLC naming nothing usable is its own error, never a fallback.
        let set = Search { setting: Some(empty.path().join("nope").into_os_string()), ..search.clone() };
        let err = set.locate().unwrap_err();
        assert!(matches!(err, SolcError::BadSetting { .. }), "{err:?}");
        assert!(err.to_string().contains("no such file or directory"), "{err}");
        let set = Search { setting: Some(empty.path().as_os_str().to_owned()), ..search };
        assert!(matches!(set.locate().unwrap_err(), SolcError::BadSetting { .. }));
    }

    #[cfg(unix)]
    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// A compiler that dies without reading its (large) input: its stderr and
    /// status are the error, not a broken pipe.
    #[cfg(unix)]
    #[test]
    fn a_dying_compiler_reports_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let fake = script(
            dir.path(),
            "solc",
            "if [ \"$1\" = --version ]; then echo 'Version: 0.8.30+commit.73712a01.Linux.g++'; exit 0; fi\n\
             echo 'solc: out of cheese' >&2; exit 3",
        );
        let search = Search { setting: Some(fake.clone().into_os_string()), ..Default::default() };
        let solc = search.locate().unwrap();
        assert_eq!((&solc.kind, solc.origin), (&Kind::Native, Origin::Setting));
        // Larger than a pipe buffer, like a halo2 verifier.
        let big = format!("{SOURCE}// {}\n", "x".repeat(1 << 20));
        let err = compile_with(&solc, &[("Probe.sol", &big)]).unwrap_err();
        let SolcError::Failed { status, stderr, .. } = &err else { panic!("{err:?}") };
        assert!(stderr.contains("out of cheese") && status.contains('3'), "{err}");
        assert!(!err.to_string().to_lowercase().contains("broken pipe"), "{err}");

        // The same on PATH, but of another version: not taken.
        let old = tempfile::tempdir().unwrap();
        script(old.path(), "solc", "echo 'Version: 0.8.19+commit.7dd6d404.Linux.g++'");
        let search = Search { path: Some(old.path().as_os_str().to_owned()), ..Default::default() };
        let SolcError::NotFound { tried, .. } = search.locate().unwrap_err() else { panic!() };
        assert!(tried.iter().any(|t| t.contains("solc 0.8.19+commit.7dd6d404.Linux.g++, not the pinned 0.8.30")));
        // And as the setting, a wrong version is an error.
        let old_solc = old.path().join("solc").into_os_string();
        let err = Search { setting: Some(old_solc), ..Default::default() }.locate().unwrap_err();
        assert!(matches!(err, SolcError::BadSetting { .. }) && err.to_string().contains("0.8.19"), "{err}");
    }

    /// The installed package, named by VERIFLOP_SOLC (directory of the package
    /// or a directory holding node_modules/solc), compiles; a source error is
    /// `Rejected` with solc's message.
    #[test]
    fn setting_names_the_package() {
        let pkg = contracts_dir().join("node_modules/solc");
        assert!(
            pkg.join("package.json").is_file(),
            "the pinned solc is not installed: run `npm ci --prefix {}`",
            contracts_dir().display()
        );
        let path = std::env::var_os("PATH");
        for setting in [pkg.clone(), contracts_dir()] {
            let search = Search { setting: Some(setting.into_os_string()), path: path.clone(), ..Default::default() };
            let solc = search.locate().unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(solc.kind, Kind::Package { .. }) && solc.origin == Origin::Setting, "{solc}");
            assert!(solc.version == PINNED_VERSION, "{solc}");
            assert_eq!(solc.path.canonicalize().unwrap(), pkg.canonicalize().unwrap());
        }
        let solc = Search { setting: Some(pkg.into_os_string()), path, ..Default::default() }.locate().unwrap();
        let arts = compile_with(&solc, &[("Probe.sol", SOURCE)]).unwrap();
        // Same bytecode as through locate() (whichever route it takes).
        let again = compile(&[("Probe.sol", SOURCE)]).unwrap();
        assert_eq!(arts["Probe"].bytecode, again["Probe"].bytecode);
        let err = compile_with(&solc, &[("Bad.sol", "contract {")]).unwrap_err();
        let SolcError::Rejected { errors, .. } = &err else { panic!("{err:?}") };
        assert!(errors.iter().any(|e| e.contains("ParserError")), "{errors:?}");
    }

    /// The pinned version in the code is the one of package.json and the lock file.
    #[test]
    fn pinned_version_matches_package_json() {
        let read = |f: &str| -> Value {
            serde_json::from_str(&std::fs::read_to_string(contracts_dir().join(f)).unwrap()).unwrap()
        };
        assert_eq!(read("package.json")["devDependencies"]["solc"], PINNED_VERSION);
        assert_eq!(read("package-lock.json")["packages"]["node_modules/solc"]["version"], PINNED_VERSION);
    }

    /// The committed artifacts are what this route compiles from the sources
    /// (same settings as scripts/compile.js).
    #[test]
    fn matches_the_committed_artifacts() {
        let src = contracts_dir().join("src");
        let mut files = Vec::new();
        let mut stack = vec![src.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "sol") {
                    let name = p.strip_prefix(contracts_dir()).unwrap().to_string_lossy().replace('\\', "/");
                    files.push((name, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        let sources: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let arts = compile(&sources).unwrap_or_else(|e| panic!("{e}"));
        for committed in crate::artifacts::all() {
            let mine = &arts[&committed.name];
            assert_eq!(mine.bytecode, committed.bytecode, "{}", committed.name);
            assert_eq!(mine.deployed_bytecode, committed.deployed_bytecode, "{}", committed.name);
            assert_eq!(mine.abi, committed.abi, "{}", committed.name);
        }
    }
}
