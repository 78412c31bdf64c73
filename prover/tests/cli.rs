//! The `veriflop-prover` binary end to end, its exit codes, and snarkjs
//! independently checking an exported proof.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PROVIDER: &str = "0x1111111111111111111111111111111111111111";

fn bin(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veriflop-prover"))
        .args(args)
        .env("VERIFLOP_KEYS", dir.join("keys"))
        .current_dir(dir)
        .output()
        .expect("run veriflop-prover")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = bin(dir, args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{args:?} failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
    text
}

fn snarkjs() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/node_modules/.bin/snarkjs");
    assert!(p.exists(), "snarkjs is not installed: run `npm ci --prefix tools` (scripts/test does this)");
    p
}

#[test]
fn provider_flow_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["gen", "--shape", "3x4x5", "--dtype", "int16", "--seed", "3", "--out-dir", "j"]);
    // A committed job needs the shape's commitment key: a clear error without it.
    let out = bin(d, &["--json", "job", "--a", "j/a.npy", "--b", "j/b.npy", "--dtype", "int16", "--out", "j/job.json"]);
    assert_eq!(out.status.code(), Some(1));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "no_key", "{e}");
    ok(d, &["setup", "--shape", "3x4x5", "--dtype", "int16"]);
    ok(d, &["job", "--a", "j/a.npy", "--b", "j/b.npy", "--dtype", "int16", "--out", "j/job.json"]);
    ok(d, &["execute", "--job", "j/job.json", "--a", "j/a.npy", "--b", "j/b.npy", "--out", "j/c.npy"]);
    let common = ["--job", "j/job.json", "--a", "j/a.npy", "--b", "j/b.npy"];
    ok(d, &[&["prove"], &common[..], &["--c", "j/c.npy", "--provider", PROVIDER, "--out", "j/bundle.vfpb"]].concat());
    let v = ok(d, &["--json", "verify", "--bundle", "j/bundle.vfpb", "--job", "j/job.json", "--provider", PROVIDER]);
    let v: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["valid"], true);

    // Exit code 3: the proof pays someone else.
    let out =
        bin(d, &["verify", "--bundle", "j/bundle.vfpb", "--provider", "0x2222222222222222222222222222222222222222"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the payee required here"));

    // Exit code 1 with a clear message: garbage bundle.
    std::fs::write(d.join("j/junk.vfpb"), b"VFPB\x01\x02garbage").unwrap();
    let out = bin(d, &["--json", "verify", "--bundle", "j/junk.vfpb"]);
    assert_eq!(out.status.code(), Some(1));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "bad_bundle");

    // Exit code 4: a wrong C is refused before any proof exists.
    let c = veriflop_circuits::matrix::read_matrix(&d.join("j/c.npy")).unwrap();
    let mut wrong = c.clone();
    wrong.data[0] += 1;
    veriflop_circuits::matrix::write_matrix(&d.join("j/wrong.npy"), &wrong).unwrap();
    let out = bin(
        d,
        &[&["prove"], &common[..], &["--c", "j/wrong.npy", "--provider", PROVIDER, "--out", "j/bad.vfpb"]].concat(),
    );
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    // Said as what it is, with where: not as an unsatisfied constraint number.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("C ≠ A·B: 1 wrong entries, the first at row 0, column 0"), "{err}");
    assert!(!d.join("j/bad.vfpb").exists());

    // Submitting signed by a key that is not the payee's is refused before sending.
    let out = bin(
        d,
        &[
            "submit",
            "--bundle",
            "j/bundle.vfpb",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            &format!("0x{}", "42".repeat(32)),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sign with the payee's key"));

    // Settlement calldata: JobEscrow.submit selector, then the job id.
    let cd = ok(d, &["--json", "calldata", "--bundle", "j/bundle.vfpb"]);
    let cd: serde_json::Value = serde_json::from_str(&cd).unwrap();
    let job: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("j/job.json")).unwrap()).unwrap();
    let hex = cd["calldata"].as_str().unwrap();
    assert_eq!(&hex[10..74], job["job_id"].as_str().unwrap().trim_start_matches("0x"));
    ok(d, &["solidity", "--shape", "3x4x5", "--dtype", "int16", "--out", "V.sol"]);
    assert!(std::fs::read_to_string(d.join("V.sol")).unwrap().contains("pragma solidity"));

    // snarkjs checks the exported proof independently, and rejects a changed input.
    ok(d, &["export", "--bundle", "j/bundle.vfpb", "--out-dir", "s"]);
    let sj = |public: &str| {
        Command::new(snarkjs())
            .args(["groth16", "verify", "s/verification_key.json", public, "s/proof.json"])
            .current_dir(d)
            .output()
            .unwrap()
    };
    let out = sj("s/public.json");
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("OK"), "{out:?}");
    let mut public: Vec<String> = serde_json::from_slice(&std::fs::read(d.join("s/public.json")).unwrap()).unwrap();
    public[0] = "12345".into();
    std::fs::write(d.join("s/forged.json"), serde_json::to_string(&public).unwrap()).unwrap();
    let out = sj("s/forged.json");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("OK!"), "snarkjs accepted a forged input");

    // The previous construction stays available: a Poseidon job, proven and
    // checked by snarkjs with its five public inputs.
    ok(
        d,
        &[
            "job",
            "--circuit",
            "poseidon",
            "--a",
            "j/a.npy",
            "--b",
            "j/b.npy",
            "--dtype",
            "int16",
            "--out",
            "j/pjob.json",
        ],
    );
    let pcommon = ["--job", "j/pjob.json", "--a", "j/a.npy", "--b", "j/b.npy"];
    ok(d, &[&["prove"], &pcommon[..], &["--provider", PROVIDER, "--out", "j/p.vfpb"]].concat());
    ok(d, &["verify", "--bundle", "j/p.vfpb", "--job", "j/pjob.json", "--provider", PROVIDER]);
    // A committed job's proof does not verify against the Poseidon job.
    let out = bin(d, &["verify", "--bundle", "j/bundle.vfpb", "--job", "j/pjob.json"]);
    assert_eq!(out.status.code(), Some(3));
    ok(d, &["export", "--bundle", "j/p.vfpb", "--out-dir", "s"]);
    let public: Vec<String> = serde_json::from_slice(&std::fs::read(d.join("s/public.json")).unwrap()).unwrap();
    assert_eq!(public.len(), 5);
    let out = sj("s/public.json");
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("OK"), "{out:?}");
}

/// The verifier service binary, built beside this package's binary by
/// `cargo test --workspace` (the demo starts it as its own process).
fn verifier_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_veriflop-prover")).with_file_name("veriflop-verifier");
    assert!(p.is_file(), "{} is not built: run the tests with --workspace (scripts/test does)", p.display());
    p
}

#[test]
fn demo_runs_the_market_flow_in_separate_processes_and_reports_json() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = verifier_bin();
    let out = ok(
        tmp.path(),
        &["--json", "demo", "--shape", "4x3x2", "--out-dir", "demo", "--verifier-bin", bin.to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (run, system) in runs.iter().zip(["groth16-bn254", "halo2-kzg-bn254"]) {
        assert_eq!(run["system"], system);
        assert_eq!(run["verified"], true);
        assert_eq!(run["delivered"], true);
        assert_eq!(run["service"]["state"], "Released");
        assert_eq!(run["service"]["payee"], v["provider"]);
        assert!(run["provider_report"].as_str().unwrap().contains("Released"), "{run}");
        assert_eq!(run["proof_checked_by_client"], true, "the client verifies the accepted proof itself");
        assert_eq!(run["chain"]["status_after"], "Paid");
        assert!(run["chain"]["submit_gas"].as_u64().unwrap() > 21_000);
    }
    assert_eq!(runs[0]["circuit"], "committed");
    assert_eq!(runs[0]["proof_bytes"], 256);
    assert!(runs[0]["chain"]["prove"]["constraints"].as_u64().unwrap() > 0);
    assert_eq!(runs[1]["circuit"], "poseidon");
    assert!(runs[1]["chain"]["prove"]["k"].as_u64().unwrap() > 0);
    // The inference job: a model imported from ONNX, proven by the agent, its
    // output fetched and checked, and another job settled on the EVM.
    let inf = &v["inference"];
    assert_eq!(inf["circuit"], "inference");
    assert_eq!((&inf["verified"], &inf["delivered"]), (&true.into(), &true.into()));
    assert_eq!(inf["service"]["state"], "Released");
    assert_eq!(inf["proof_checked_by_client"], true);
    assert_eq!(inf["proof_bytes"], 256, "one Groth16 proof");
    assert!(inf["provider_report"].as_str().unwrap().contains("inference"), "{inf}");
    assert_eq!(inf["chain"]["status_after"], "Paid");
    assert!(inf["chain"]["submit_gas"].as_u64().unwrap() > 21_000);
    assert!(
        tmp.path().join("demo/model/model.onnx").exists()
            && tmp.path().join("demo/client/inference/output.npy").exists()
    );
    // The three prices reached the provider; the client holds what it checked.
    assert_eq!(v["provider_balance"], "30000000000000000");
    assert_eq!(v["client_balance"], "0");
    for d in ["groth16", "halo2"] {
        assert!(tmp.path().join(format!("demo/client/{d}/bundle.json")).exists());
        assert!(tmp.path().join(format!("demo/client/{d}/c.npy")).exists());
    }
    assert!(tmp.path().join("demo/service/ledger.db").exists());
    assert!(tmp.path().join("keys/halo2.srs").exists());
}

#[test]
fn demo_settles_on_a_local_node_with_the_chain_agent_and_a_delivery_receipt() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = verifier_bin();
    let out = ok(
        tmp.path(),
        &[
            "--json",
            "demo",
            "--shape",
            "4x3x2",
            "--chain",
            "local",
            "--out-dir",
            "demo",
            "--verifier-bin",
            bin.to_str().unwrap(),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        let chain = &run["chain"];
        assert_eq!(chain["status"], "Paid", "{chain}");
        assert!(chain["venue"].as_str().unwrap().starts_with("chain:31337:"), "{chain}");
        let agent = chain["agent"].as_str().unwrap();
        assert!(agent.contains("attestDelivery") && agent.contains("→ paid"), "{agent}");
        assert!(chain["post_gas"].as_u64().unwrap() > 21_000);
    }
    for d in ["groth16", "halo2"] {
        assert!(tmp.path().join(format!("demo/client/{d}/c-chain.npy")).exists());
    }
    // The inference job is released at the service, and another for the same
    // input and model settles on the node through the chain agent.
    assert_eq!(v["inference"]["service"]["state"], "Released");
    let chain = &v["inference"]["chain"];
    assert_eq!(chain["status"], "Paid", "{chain}");
    let agent = chain["agent"].as_str().unwrap();
    assert!(agent.contains("inference") && agent.contains("attestDelivery") && agent.contains("→ paid"), "{agent}");
    assert!(tmp.path().join("demo/client/inference/output-chain.npy").exists());
    assert!(tmp.path().join("demo/provider/cursor.json").exists());
}

#[test]
fn halo2_flow_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["gen", "--shape", "3x4x2", "--seed", "5", "--out-dir", "j"]);
    // The universal SRS: from a snarkjs powers-of-tau file, then any shape up to its size.
    let ptau = Path::new(env!("CARGO_MANIFEST_DIR")).join("../halo2/tests/data/pot6.ptau");
    let out = bin(d, &["setup", "--proof-system", "halo2", "--k", "11", "--ptau", ptau.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "pot6.ptau has 2^6 powers, not 2^11");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pot6.ptau"));
    let s = ok(d, &["--json", "setup", "--proof-system", "halo2", "--shape", "3x4x2"]);
    let s: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(s["generated"], true);
    let s = ok(d, &["--json", "setup", "--proof-system", "halo2"]);
    assert!(s.contains("\"generated\": false"), "{s}");
    // A halo2 job is a Poseidon job; a committed one is refused.
    let out = bin(
        d,
        &[
            "job",
            "--proof-system",
            "halo2",
            "--circuit",
            "committed",
            "--a",
            "j/a.npy",
            "--b",
            "j/b.npy",
            "--out",
            "j/x.json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    ok(d, &["job", "--proof-system", "halo2", "--a", "j/a.npy", "--b", "j/b.npy", "--out", "j/job.json"]);
    let job: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("j/job.json")).unwrap()).unwrap();
    assert_eq!((job["system"].as_str(), job["circuit"].as_str()), (Some("halo2-kzg-bn254"), Some("poseidon")));
    let common = ["--job", "j/job.json", "--a", "j/a.npy", "--b", "j/b.npy"];
    // The job fixes the proof system: asking for another is an error.
    let out =
        bin(d, &[&["--json", "prove", "--proof-system", "groth16"], &common[..], &["--provider", PROVIDER]].concat());
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "system_mismatch", "{e}");
    let p = ok(
        d,
        &[
            &["--json", "prove", "--proof-system", "halo2"],
            &common[..],
            &["--provider", PROVIDER, "--out", "j/bundle.vfpb"],
        ]
        .concat(),
    );
    let p: serde_json::Value = serde_json::from_str(&p).unwrap();
    assert_eq!(p["system"], "halo2-kzg-bn254");
    assert!(p["proof_bytes"].as_u64().unwrap() > 1000);
    let v = ok(d, &["--json", "verify", "--bundle", "j/bundle.vfpb", "--job", "j/job.json", "--provider", PROVIDER]);
    let v: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert_eq!((v["valid"].as_bool(), v["system"].as_str()), (Some(true), Some("halo2-kzg-bn254")));
    // Rejections: another payee (exit 3); --vk is a Groth16 key (usage); snarkjs cannot check halo2.
    let out =
        bin(d, &["verify", "--bundle", "j/bundle.vfpb", "--provider", "0x2222222222222222222222222222222222222222"]);
    assert_eq!(out.status.code(), Some(3));
    let out = bin(d, &["verify", "--bundle", "j/bundle.vfpb", "--vk", "j/job.json"]);
    assert_eq!(out.status.code(), Some(1));
    let out = bin(d, &["--json", "export", "--bundle", "j/bundle.vfpb", "--out-dir", "s"]);
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "unsupported");
    // A wrong C is refused (exit 4) and nothing is written.
    ok(d, &["execute", "--job", "j/job.json", "--a", "j/a.npy", "--b", "j/b.npy", "--out", "j/c.npy"]);
    let mut wrong = veriflop_circuits::matrix::read_matrix(&d.join("j/c.npy")).unwrap();
    wrong.data[1] -= 1;
    veriflop_circuits::matrix::write_matrix(&d.join("j/wrong.npy"), &wrong).unwrap();
    let out = bin(
        d,
        &[&["prove"], &common[..], &["--c", "j/wrong.npy", "--provider", PROVIDER, "--out", "j/bad.vfpb"]].concat(),
    );
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!d.join("j/bad.vfpb").exists());
    // Settlement calldata and the Solidity verifier for the shape.
    let c = ok(d, &["--json", "calldata", "--bundle", "j/bundle.vfpb"]);
    let c: serde_json::Value = serde_json::from_str(&c).unwrap();
    assert_eq!(c["to"], "JobEscrow.submitHalo2");
    ok(d, &["solidity", "--proof-system", "halo2", "--shape", "3x4x2", "--out", "H.sol"]);
    assert!(std::fs::read_to_string(d.join("H.sol")).unwrap().contains("contract Halo2Verifier"));
}

/// The halo2 key files next to the SRS in `dir/keys`.
fn halo2_key_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "h2vk" || e == "h2pk"))
        .collect();
    v.sort();
    v
}

fn json_of(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap()
}

/// halo2 keys are derived once per shape and SRS and cached next to the SRS:
/// later commands load them (reported apart from proving and verifying); a
/// corrupt key file is refused and re-derived; a wrong payee or job is refused
/// before any key work.
#[test]
fn halo2_keys_are_derived_once_and_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["gen", "--shape", "3x4x2", "--seed", "5", "--out-dir", "j"]);
    // An SRS larger than the shape needs: deriving its keys computes a smaller Lagrange basis (slow).
    ok(d, &["setup", "--proof-system", "halo2", "--k", "12"]);
    ok(d, &["job", "--proof-system", "halo2", "--a", "j/a.npy", "--b", "j/b.npy", "--out", "j/job.json"]);
    let prove = ["--json", "prove", "--job", "j/job.json", "--a", "j/a.npy", "--b", "j/b.npy", "--provider", PROVIDER];
    let p = json_of(&ok(d, &[&prove[..], &["--out", "j/b1.vfpb"]].concat()));
    assert_eq!((p["keys"]["source"].as_str(), p["stats"]["key_source"].as_str()), (Some("derived"), Some("derived")));
    let derive_prove = p["keys"]["seconds"].as_f64().unwrap();
    assert_eq!(p["stats"]["keygen"].as_f64().unwrap(), derive_prove);
    let files = halo2_key_files(d);
    assert_eq!(files.len(), 2, "{files:?}");
    let p = json_of(&ok(d, &[&prove[..], &["--out", "j/b2.vfpb"]].concat()));
    assert_eq!(p["keys"]["source"], "loaded");
    let load_prove = p["keys"]["seconds"].as_f64().unwrap();
    eprintln!("prove: keys derived in {derive_prove:.3} s, loaded in {load_prove:.3} s");

    // verify: the key from the cache (prove cached it); timing of key and check apart.
    let verify = ["--json", "verify", "--bundle", "j/b1.vfpb", "--job", "j/job.json", "--provider", PROVIDER];
    let v = json_of(&ok(d, &verify));
    assert_eq!((v["valid"].as_bool(), v["key"]["source"].as_str()), (Some(true), Some("loaded")));
    let (check, key, total) =
        (v["seconds"].as_f64().unwrap(), v["key"]["seconds"].as_f64().unwrap(), v["total_seconds"].as_f64().unwrap());
    assert!(check + key <= total, "{v}");
    // Without the verifying key file: derived once, then loaded.
    let vk_file = files.iter().find(|p| p.extension().unwrap() == "h2vk").unwrap().clone();
    std::fs::remove_file(&vk_file).unwrap();
    let v = json_of(&ok(d, &verify));
    assert_eq!(v["key"]["source"], "derived");
    let derive_verify = v["key"]["seconds"].as_f64().unwrap();
    let v = json_of(&ok(d, &verify));
    assert_eq!(v["key"]["source"], "loaded");
    let load_verify = v["key"]["seconds"].as_f64().unwrap();
    eprintln!(
        "verify: key derived in {derive_verify:.3} s, loaded in {load_verify:.4} s; check {:.4} s",
        v["seconds"].as_f64().unwrap()
    );
    assert!(load_verify < derive_verify, "{load_verify} vs {derive_verify}");
    // Human output names both figures.
    let out = ok(d, &verify[1..]);
    assert!(out.contains("verified in") && out.contains("key loaded from"), "{out}");

    // A corrupt key file: refused with its reason, derived again, replaced.
    let good = std::fs::read(&vk_file).unwrap();
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x10;
    std::fs::write(&vk_file, &bad).unwrap();
    let out = bin(d, &verify[1..]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the cached halo2 key") && err.contains("corrupt"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("key derived from the SRS"));
    assert_eq!(std::fs::read(&vk_file).unwrap(), good);
    let mut bad = good.clone();
    bad.truncate(good.len() - 10);
    std::fs::write(&vk_file, &bad).unwrap();
    let v = json_of(&ok(d, &verify));
    assert_eq!(v["key"]["source"], "derived");
    assert!(v["key"]["refused"].as_str().unwrap().contains("truncated"), "{v}");
    let p = json_of(&ok(d, &[&prove[..], &["--out", "j/b3.vfpb"]].concat()));
    assert_eq!(p["keys"]["source"], "loaded");

    // Cheap refusals come before key work: with no key files, a wrong payee or
    // job is refused and nothing is derived.
    for f in halo2_key_files(d) {
        std::fs::remove_file(f).unwrap();
    }
    let t = std::time::Instant::now();
    let out = bin(
        d,
        &["--json", "verify", "--bundle", "j/b1.vfpb", "--provider", "0x2222222222222222222222222222222222222222"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json_of(&String::from_utf8_lossy(&out.stdout))["error"]["code"], "wrong_provider");
    let out = bin(
        d,
        &[
            "--json",
            "verify",
            "--bundle",
            "j/b1.vfpb",
            "--job",
            "j/job.json",
            "--provider",
            "0x2222222222222222222222222222222222222222",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    ok(d, &["job", "--proof-system", "halo2", "--a", "j/a.npy", "--b", "j/b.npy", "--out", "j/other.json"]);
    let out = bin(d, &["--json", "verify", "--bundle", "j/b1.vfpb", "--job", "j/other.json"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json_of(&String::from_utf8_lossy(&out.stdout))["error"]["code"], "wrong_job");
    eprintln!("three cheap refusals in {:?}", t.elapsed());
    assert!(halo2_key_files(d).is_empty(), "no key work for a refused bundle");

    // solidity: the key is derived once, then loaded.
    let s = json_of(&ok(d, &["--json", "solidity", "--proof-system", "halo2", "--shape", "3x4x2", "--out", "H.sol"]));
    assert_eq!(s["key"]["source"], "derived");
    let s = json_of(&ok(d, &["--json", "solidity", "--proof-system", "halo2", "--shape", "3x4x2", "--out", "H.sol"]));
    assert_eq!(s["key"]["source"], "loaded");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin(tmp.path(), &["setup", "--shape", "0x1x1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside"));
    let out = bin(tmp.path(), &["prove", "--provider", "0x12"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn backend_and_gemm_choice_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let no_icicle = d.join("no-icicle");
    std::fs::create_dir(&no_icicle).unwrap();
    let no_icicle = no_icicle.to_str().unwrap();
    ok(d, &["gen", "--shape", "4x4x4", "--seed", "5", "--out-dir", "j"]);
    ok(d, &["setup", "--shape", "4x4x4"]);
    ok(d, &["job", "--a", "j/a.npy", "--b", "j/b.npy", "--out", "j/job.json"]);
    let common = ["--job", "j/job.json", "--a", "j/a.npy", "--b", "j/b.npy", "--provider", PROVIDER];

    // auto (the default): one line saying why the CPU proves, then a valid proof.
    let out = bin(d, &[&["prove"], &common[..], &["--icicle-dir", no_icicle, "--out", "j/auto.vfpb"]].concat());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    let why: Vec<&str> = err.lines().filter(|l| l.starts_with("proving on the CPU: ICICLE is not usable (")).collect();
    assert_eq!(why.len(), 1, "{err}");
    assert!(why[0].contains("no ICICLE install at") && why[0].contains(no_icicle), "{err}");
    let cuda = veriflop_prover::gemm::CudaGemm::open(0);
    if cuda.is_err() {
        assert!(err.lines().any(|l| l.starts_with("computing C on the CPU: CUDA is not usable (")), "{err}");
    }
    ok(d, &["verify", "--bundle", "j/auto.vfpb", "--job", "j/job.json", "--provider", PROVIDER]);

    // icicle, explicitly: an error naming what is missing, and no bundle.
    let out = bin(
        d,
        &[&["--json", "prove"], &common[..], &["--backend", "icicle", "--icicle-dir", no_icicle, "--out", "j/x.vfpb"]]
            .concat(),
    );
    assert_eq!(out.status.code(), Some(1));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "backend_unavailable", "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("--icicle-dir"), "{e}");
    assert!(!d.join("j/x.vfpb").exists());
    // A malformed device, and a broken install (files that are not libraries).
    let out =
        bin(d, &[&["--json", "prove"], &common[..], &["--backend", "icicle", "--icicle-device", "cuda:x"]].concat());
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "bad_input", "{e}");
    let broken = d.join("broken/lib");
    std::fs::create_dir_all(&broken).unwrap();
    for lib in ["libicicle_device.so", "libicicle_field_bn254.so", "libicicle_curve_bn254.so"] {
        std::fs::write(broken.join(lib), b"\x7fELF truncated").unwrap();
    }
    let broken = d.join("broken");
    let out = bin(
        d,
        &[&["--json", "prove"], &common[..], &["--backend", "icicle", "--icicle-dir", broken.to_str().unwrap()]]
            .concat(),
    );
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["code"], "backend_unavailable", "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("cannot load"), "{e}");

    // cpu, explicitly: no fallback line; the JSON names the backend and the GEMM.
    let out = bin(
        d,
        &[&["--json", "prove"], &common[..], &["--backend", "cpu", "--gemm", "cpu", "--out", "j/cpu.vfpb"]].concat(),
    );
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not usable"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["backend"].as_str().unwrap().starts_with("cpu"), "{v}");
    assert_eq!(v["gemm"], "cpu");

    // execute --gemm cuda on a machine without CUDA: a clear error, no C written.
    if cuda.is_err() {
        let out = bin(
            d,
            &[
                "--json",
                "execute",
                "--job",
                "j/job.json",
                "--a",
                "j/a.npy",
                "--b",
                "j/b.npy",
                "--gemm",
                "cuda",
                "--out",
                "j/c.npy",
            ],
        );
        assert_eq!(out.status.code(), Some(1));
        let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(e["error"]["code"], "gemm_unavailable", "{e}");
        assert!(!d.join("j/c.npy").exists());
    }
}

/// `model export` writes what `model import` reads back to the same model, and
/// `model run` gives the native executor's outputs; a file that is not ONNX is
/// refused with exit code 1 and a typed code.
#[test]
fn model_import_run_and_export_through_the_cli() {
    use veriflop_infer::{Layer, Model, QuantParams, Requant};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let layer = |k: usize, n: usize, zp: i8, lo: i8| Layer {
        d_in: k,
        d_out: n,
        weights: (0..k * n).map(|i| ((i * 37 + 11) % 255) as i8).collect(),
        bias: (0..n).map(|j| (j as i32 - 3) * 911).collect(),
        requant: Requant::new(0.0007, zp, lo, 127).unwrap(),
    };
    let q = QuantParams { scale: 1.0, zero_point: 0 };
    let model = Model { input: q, layers: vec![layer(12, 8, -5, 0), layer(8, 3, 9, -128)], output: q };
    std::fs::write(d.join("m.onnx"), veriflop_infer::onnx::export(&model).unwrap()).unwrap();
    let out = json_of(&ok(d, &["--json", "model", "import", "m.onnx", "--batch", "4"]));
    assert_eq!(out["layers"], serde_json::json!([[12, 8], [8, 3]]));
    // Intervals of 1/0.0007 ≈ 1429 accumulators: full-width chunks, 3 lookups per output.
    assert_eq!(out["cost"]["requant"].as_u64().unwrap(), 3 * 4 * (8 + 3), "{out}");
    let imported = Model::from_json(&std::fs::read(d.join("veriflop-data/model/model.json")).unwrap()).unwrap();
    assert_eq!(imported.layers, model.layers);

    let x: Vec<i32> = (0..4 * 12).map(|i| i * 53 % 256 - 128).collect();
    let xm = veriflop_circuits::matrix::Matrix::new(4, 12, x.clone()).unwrap();
    veriflop_circuits::matrix::write_matrix(&d.join("x.npy"), &xm).unwrap();
    ok(d, &["model", "run", "--input", "x.npy", "--out", "y.npy"]);
    let y = veriflop_circuits::matrix::read_matrix(&d.join("y.npy")).unwrap();
    let xi: Vec<i8> = x.iter().map(|&v| v as i8).collect();
    let want = veriflop_infer::run(&model, 4, &xi).unwrap();
    assert_eq!((y.rows, y.cols), (4, 3));
    assert_eq!(y.data.iter().map(|&v| v as i8).collect::<Vec<_>>(), want.output());

    ok(d, &["model", "export", "--out", "again.onnx"]);
    assert_eq!(veriflop_infer::onnx::import_path(&d.join("again.onnx")).unwrap().layers, model.layers);

    // `model setup` writes the model's key files, named for the model and batch;
    // the verifier's key commits to the input as the prover's does.
    let out = json_of(&ok(d, &["--json", "model", "setup", "--batch", "4", "--keys", "k"]));
    assert_eq!(out["existing"], false, "{out}");
    let stem = veriflop_infer::keys::file_stem(&imported.digest(), 4);
    let vk =
        veriflop_infer::keys::ModelVk::from_bytes(&std::fs::read(d.join(format!("k/{stem}.ivk"))).unwrap()).unwrap();
    let pk =
        veriflop_infer::job::ModelKeys::from_bytes(&std::fs::read(d.join(format!("k/{stem}.ipk"))).unwrap()).unwrap();
    assert_eq!((vk.model_digest, vk.batch, vk.d_in, vk.d_out), (imported.digest(), 4, 12, 3));
    assert_eq!(vk.commit_input(&xi).unwrap(), pk.commit_input(&xi).unwrap());
    let again = json_of(&ok(d, &["--json", "model", "setup", "--batch", "4", "--keys", "k"]));
    assert_eq!(again["existing"], true, "{again}");
    let bad = bin(d, &["--json", "model", "setup", "--batch", "0", "--keys", "k"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("bad_batch"));

    std::fs::write(d.join("junk.onnx"), b"not a model").unwrap();
    let bad = bin(d, &["--json", "model", "import", "junk.onnx"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("bad_model"), "{}", String::from_utf8_lossy(&bad.stdout));
}
