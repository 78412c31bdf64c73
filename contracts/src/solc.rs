//! Runs the pinned Solidity compiler (npm `solc`, installed in
//! `contracts/node_modules` by `npm ci --prefix contracts`) on generated sources.
//! Only needed to compile per-key verifiers from [`crate::solidity_verifier`];
//! the committed contracts come precompiled from `contracts/out/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::artifacts::Artifact;
use crate::Error;

/// The contracts directory of this crate's source tree.
pub fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles Solidity sources (`(file name, text)`) with the pinned solc and the
/// settings of `contracts/build.sh`; returns the artifacts by contract name.
pub fn compile(sources: &[(&str, &str)]) -> Result<BTreeMap<String, Artifact>, Error> {
    let dir = contracts_dir();
    let install = "run `npm ci --prefix contracts` (from the repository root) to install the pinned solc";
    if !dir.join("node_modules/solc/package.json").is_file() {
        return Err(Error::Solc(format!("{} has no pinned solc: {install}", dir.join("node_modules").display())));
    }
    let srcs: serde_json::Map<String, serde_json::Value> =
        sources.iter().map(|(n, t)| (n.to_string(), serde_json::Value::String(t.to_string()))).collect();
    let req = serde_json::json!({ "sources": srcs }).to_string();
    let mut child = Command::new("node")
        .arg(dir.join("scripts/compile.js"))
        .arg("--stdin")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Solc(format!("cannot run node ({e}): install Node.js, then {install}")))?;
    child.stdin.take().expect("piped stdin").write_all(req.as_bytes()).map_err(|e| Error::Solc(e.to_string()))?;
    let out = child.wait_with_output().map_err(|e| Error::Solc(e.to_string()))?;
    if !out.status.success() {
        return Err(Error::Solc(format!("solc failed: {}", String::from_utf8_lossy(&out.stderr))));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| Error::Solc(e.to_string()))?;
    let mut res = BTreeMap::new();
    for (name, a) in v["contracts"].as_object().into_iter().flatten() {
        res.insert(name.clone(), Artifact::from_value(a).map_err(Error::Solc)?);
    }
    Ok(res)
}
