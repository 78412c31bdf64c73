//! The README's by-hand session, run as a user would: its shell blocks, as
//! written, with the built `veriflop-prover` standing in for `vp`, from a
//! temporary directory outside the repository (both proof systems). It checks
//! that the binary needs nothing from the working directory (the halo2
//! verifier's solc included) and leaves nothing outside `veriflop-data/`.

use std::path::Path;
use std::process::Command;

/// The ```sh block that follows the line starting with `marker` in README.md.
fn block_after(readme: &str, marker: &str) -> String {
    let from = readme.find(marker).unwrap_or_else(|| panic!("README has no {marker:?}"));
    let rest = &readme[from..];
    let start = rest.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let len = rest[start..].find("```").expect("the block ends");
    rest[start..start + len].to_string()
}

#[test]
fn readme_by_hand_session_runs_from_any_directory() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let groth16 = block_after(&readme, "A complete session by hand");
    let halo2 = block_after(&readme, "The same job with halo2");
    assert!(groth16.contains("alias vp=") && halo2.contains("vp prove"), "unexpected README blocks");

    // `vp` is the installed binary; snarkjs is the repository's pinned one
    // (scripts/test installs it), called the way the README calls it.
    let tools = repo.join("tools");
    let script: String = format!("{groth16}\n{halo2}")
        .lines()
        .filter(|l| !l.starts_with("alias vp=") && !l.starts_with("npm ci --prefix tools"))
        .map(|l| l.replace("--prefix tools", &format!("--prefix {}", tools.display())))
        .collect::<Vec<_>>()
        .join("\n");
    let script = format!("set -euo pipefail\nvp() {{ \"$VP\" --quiet \"$@\"; }}\n{script}\n");

    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("VP", env!("CARGO_BIN_EXE_veriflop-prover"))
        .env_remove("VERIFLOP_KEYS")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the README session failed:\n{script}\n---\n{text}");
    assert!(text.contains("OK"), "snarkjs did not accept the exported proof:\n{text}");

    // Everything it wrote is under veriflop-data/.
    let left: Vec<String> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, ["veriflop-data"], "the session left files outside veriflop-data/");
    for f in ["hand/bundle.vfpb", "hand/h2.vfpb", "snarkjs/proof.json", "Halo2Verifier.sol"] {
        assert!(tmp.path().join("veriflop-data").join(f).is_file(), "{f} was not written");
    }
}
