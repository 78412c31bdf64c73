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

/// Runs a README block of the market (service, client and provider commands)
/// as written, with the built binaries on PATH, from a fresh temporary
/// directory; returns that directory and what the block printed.
fn run_market_block(block: &str) -> (tempfile::TempDir, String) {
    let service = Path::new(env!("CARGO_BIN_EXE_veriflop-prover")).with_file_name("veriflop-verifier");
    assert!(service.is_file(), "{} is not built: run the tests with --workspace", service.display());

    // The installed binaries on PATH, as a user has them; the service on a
    // free port rather than 8645, which something else may hold.
    let tmp = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_veriflop-prover"), bin.path().join("veriflop-prover")).unwrap();
    std::os::unix::fs::symlink(&service, bin.path().join("veriflop-verifier")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = block.replace("127.0.0.1:8645", &format!("127.0.0.1:{port}"));
    let script = format!(
        "set -euo pipefail\nshopt -s expand_aliases\ntrap 'kill $SERVICE 2>/dev/null || true' EXIT\n{script}\n"
    );
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .env("VERIFLOP_LISTEN", format!("127.0.0.1:{port}"))
        .env("VERIFLOP_VERIFIER_URL", format!("http://127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .env_remove("VERIFLOP_KEYS")
        .env_remove("VERIFLOP_CLIENT_KEY")
        .env_remove("VERIFLOP_PROVIDER_KEY")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the README session failed:\n{script}\n---\n{text}");
    for want in ["Released", "ledger consistent", "blob store consistent"] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
    let left: Vec<String> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, ["veriflop-data"], "the session left files outside veriflop-data/");
    (tmp, text)
}

#[test]
fn readme_market_by_hand_runs_from_any_directory() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let block = block_after(&readme, "The market by hand");
    assert!(block.contains("vp work") && block.contains("vp client fetch"), "unexpected README block");
    let (tmp, _) = run_market_block(&block);
    // C, as fetched and checked, is A·B.
    let dir = tmp.path().join("veriflop-data/market");
    let input =
        |f: &str| veriflop_circuits::stream::read_input_file(&dir.join(f), veriflop_circuits::Dtype::Int8).unwrap();
    let c = veriflop_circuits::stream::read_file(&dir.join("c.npy")).unwrap();
    let want = veriflop_circuits::execute::matmul_naive(&input("a.npy"), &input("b.npy"));
    assert_eq!(c.data, want.data.iter().map(|&x| x as i128).collect::<Vec<_>>());
}

#[test]
fn readme_inference_by_hand_runs_from_any_directory() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let block = block_after(&readme, "An inference job by hand");
    assert!(block.contains("vp client post --model") && block.contains("vp model import"), "unexpected README block");
    let (tmp, _) = run_market_block(&block);
    // The output, as fetched and checked, is the model's, as run here.
    let dir = tmp.path().join("veriflop-data/inference");
    let read = |f: &str| veriflop_circuits::stream::read_file(&dir.join(f)).unwrap();
    let (got, want) = (read("output.npy"), read("output-local.npy"));
    assert_eq!((got.rows, got.cols), (4, 10));
    assert_eq!(got.data, want.data);
}

/// The README's three-contributor ceremony, as written, from a temporary
/// directory, on a `.ptau` that snarkjs makes and prepares there.
#[test]
fn readme_ceremony_runs_from_any_directory() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let block = block_after(&readme, "**Production keys: a three-contributor ceremony.**");
    assert!(block.contains("vp ceremony finalize"), "unexpected README block");
    let snarkjs = repo.join("tools/node_modules/.bin/snarkjs");
    assert!(snarkjs.exists(), "snarkjs is not installed: run `npm ci --prefix tools` (scripts/test does this)");
    let script = format!(
        "set -euo pipefail\nvp() {{ \"$VP\" --quiet \"$@\"; }}\n\
         \"$SNARKJS\" powersoftau new bn128 9 /tmp/$$.p0.ptau >/dev/null\n\
         \"$SNARKJS\" powersoftau contribute /tmp/$$.p0.ptau /tmp/$$.p1.ptau --name=p1 -e=readme >/dev/null\n\
         \"$SNARKJS\" powersoftau prepare phase2 /tmp/$$.p1.ptau pot.ptau >/dev/null\n\
         rm /tmp/$$.p0.ptau /tmp/$$.p1.ptau\n{block}\nrm pot.ptau\n"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("VP", env!("CARGO_BIN_EXE_veriflop-prover"))
        .env("SNARKJS", &snarkjs)
        .env_remove("VERIFLOP_KEYS")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the README ceremony failed:\n{script}\n---\n{text}");
    for name in ["alice", "bob", "carol"] {
        assert!(text.contains(name), "verify did not list {name}:\n{text}");
    }
    let keys = tmp.path().join("veriflop-data/ceremony-keys");
    for ext in ["pk", "vk", "ck"] {
        assert!(keys.join(format!("committed-8x8x8-int8.{ext}")).is_file(), "no .{ext}");
    }
    let left: Vec<String> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, ["veriflop-data"], "the ceremony left files outside veriflop-data/");
}

#[test]
fn readme_chain_flow_runs_from_any_directory() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let block = block_after(&readme, "On a real chain, `veriflop-prover chain …`");
    assert!(block.contains("vp chain post") && block.contains("vp chain work"), "unexpected README block");
    // The README's node and service ports, moved to free ones.
    let node = veriflop_chain::devnode::DevNode::start().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let block =
        block.replace("http://127.0.0.1:8545", &node.url).replace("127.0.0.1:8645", &format!("127.0.0.1:{port}"));
    let verifier = Path::new(env!("CARGO_BIN_EXE_veriflop-prover")).with_file_name("veriflop-verifier");
    // `veriflop-verifier` is the built binary, on PATH (a background job the script's exit kills).
    let tmp = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&verifier, bin.path().join("veriflop-verifier")).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let script = format!(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\nvp() {{ \"$VP\" --quiet \"$@\"; }}\n{block}\n"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("VP", env!("CARGO_BIN_EXE_veriflop-prover"))
        .env("PATH", path)
        .env("RUST_LOG", "warn")
        .env_remove("VERIFLOP_KEYS")
        .env_remove("VERIFLOP_KEYSTORE")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the README chain flow failed:\n{script}\n---\n{text}");
    assert!(text.contains("→ paid"), "the agent settled nothing:\n{text}");
    assert!(tmp.path().join("j/c.npy").is_file(), "C was not fetched:\n{text}");
}
