//! The phase-2 ceremony: three contributors on a powers of tau made by snarkjs,
//! keys that prove through the CLI, the service and the EVM, and `verify`
//! rejecting, by file, every kind of bad contribution.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use ark_bn254::{G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::UniformRand;
use veriflop_circuits::{CircuitKind, Dtype, Shape};
use veriflop_prover::ceremony::{self, ptau::Ptau, CeremonyError, Key, Phase2};
use veriflop_prover::committed::CommittedKey;

/// A prepared snarkjs powers of tau of power `power` (made once per power per run).
fn ptau(power: u32) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static MAKING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap()).path();
    let out = dir.join(format!("pot{power}.ptau"));
    if out.is_file() {
        return out;
    }
    let snarkjs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/node_modules/.bin/snarkjs");
    assert!(snarkjs.exists(), "snarkjs is not installed: run `npm ci --prefix tools` (scripts/test does this)");
    let (p0, p1, tmp) =
        (dir.join(format!("{power}_0.ptau")), dir.join(format!("{power}_1.ptau")), dir.join(format!("{power}.tmp")));
    let run = |args: &[&str]| {
        let o = Command::new(&snarkjs).args(args).output().unwrap();
        assert!(o.status.success(), "snarkjs {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();
    run(&["powersoftau", "new", "bn128", &power.to_string(), &s(&p0)]);
    run(&["powersoftau", "contribute", &s(&p0), &s(&p1), "--name=phase1", "-e=veriflop tests"]);
    run(&["powersoftau", "prepare", "phase2", &s(&p1), &s(&tmp)]);
    std::fs::rename(&tmp, &out).unwrap();
    out
}

fn bin(dir: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veriflop-prover"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(dir: &Path, args: &[&str], stdin: Option<&str>) -> serde_json::Value {
    let out = bin(dir, args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn three_contributors_make_keys_that_prove_through_the_cli_the_service_and_the_evm() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let pot = ptau(9);
    let pot = pot.to_str().unwrap();
    ok(d, &["--json", "ceremony", "init", "--ptau", pot, "--shape", "4x3x2", "--dir", "cer"], None);
    let mut hashes = Vec::new();
    for (name, entropy) in [("alice", None), ("bob", Some("typed by bob")), ("carol", Some("-"))] {
        let mut args = vec!["--json", "ceremony", "contribute", "--dir", "cer", "--name", name];
        if let Some(e) = entropy {
            args.extend(["--entropy", e]);
        }
        let v = ok(d, &args, Some("carol's keyboard mashing"));
        hashes.push(v["hash"].as_str().unwrap().to_string());
    }
    let v = ok(d, &["--json", "ceremony", "verify", "--ptau", pot, "--dir", "cer"], None);
    let listed: Vec<(String, String)> = v["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["hash"].as_str().unwrap().to_string()))
        .collect();
    let want: Vec<(String, String)> =
        ["alice", "bob", "carol"].iter().map(|s| s.to_string()).zip(hashes.iter().cloned()).collect();
    assert_eq!(listed, want, "verify lists every contribution hash the contributors printed");

    let v = ok(d, &["--json", "ceremony", "finalize", "--dir", "cer", "--keys", "keys"], None);
    assert_eq!(v["contributions"], 3);
    // Finalizing again without --force keeps the keys.
    assert!(!bin(d, &["ceremony", "finalize", "--dir", "cer", "--keys", "keys"], None).status.success());

    // The demo: client, service and agent as separate processes over HTTP, then
    // JobEscrow in the EVM, all with the ceremony's keys (setup would not run).
    let verifier = Path::new(env!("CARGO_BIN_EXE_veriflop-prover")).with_file_name("veriflop-verifier");
    assert!(verifier.is_file(), "run the tests with --workspace (scripts/test does)");
    let fingerprint = v["fingerprint"].as_str().unwrap().to_string();
    let v = ok(
        d,
        &[
            "--json",
            "demo",
            "--shape",
            "4x3x2",
            "--proof-system",
            "groth16",
            "--inference",
            "none",
            "--keys",
            "keys",
            "--out-dir",
            "demo",
            "--verifier-bin",
            verifier.to_str().unwrap(),
        ],
        None,
    );
    let run = &v["runs"][0];
    assert_eq!(run["verified"], true, "{v}");
    assert_eq!(run["service"]["state"], "Released");
    assert_eq!(run["chain"]["status_after"], "Paid");
    let vk = ok(d, &["--json", "verify", "--bundle", "demo/client/bundle.json", "--keys", "keys"], None);
    assert_eq!(vk["ok"], true, "{vk}");
    // snarkjs accepts the ceremony key's proof after export.
    ok(d, &["--json", "export", "--bundle", "demo/client/bundle.json", "--keys", "keys", "--out-dir", "s"], None);
    let snarkjs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/node_modules/.bin/snarkjs");
    let out = Command::new(&snarkjs)
        .args(["groth16", "verify", "s/verification_key.json", "s/public.json", "s/proof.json"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("OK"), "{out:?}");
    // The keys the demo used are the ceremony's (it did not make its own).
    let pk = std::fs::read(d.join("keys/committed-4x3x2-int8.vk")).unwrap();
    let key = veriflop_verifier::ShapeKey::from_bytes(&pk).unwrap();
    assert_eq!(key.fingerprint(), fingerprint);
}

/// A ceremony of `n` honest contributions for `shape` in a fresh directory.
fn honest(kind: CircuitKind, shape: &Shape, n: u32) -> (tempfile::TempDir, Vec<Phase2>) {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Ptau::open(&ptau(9)).unwrap();
    ceremony::write(dir.path(), &ceremony::init(kind, shape, &mut p).unwrap()).unwrap();
    for i in 1..=n {
        let c = ceremony::contribute(dir.path(), &format!("c{i}"), b"").unwrap();
        assert_eq!(c.index, i);
    }
    let files = ceremony::files(dir.path()).unwrap();
    let files: Vec<Phase2> = files.iter().map(|f| ceremony::read(f, Some((kind, *shape))).unwrap()).collect();
    assert_eq!(files.len() as u32, n + 1);
    (dir, files)
}

fn verify_dir(dir: &Path, power: u32) -> Result<ceremony::Verified, CeremonyError> {
    let mut p = Ptau::open(&ptau(power)).unwrap();
    ceremony::verify(&mut p, dir, None, &|_| {})
}

/// Replaces file `index` of `dir` with `bytes`.
fn replace(dir: &Path, index: u32, bytes: &[u8]) {
    std::fs::write(dir.join(Phase2::file_name(index)), bytes).unwrap();
}

/// `verify` fails naming `file`, with a message containing `why`.
fn rejected(r: Result<ceremony::Verified, CeremonyError>, file: &str, why: &str) {
    match r {
        Err(CeremonyError::Rejected { file: f, msg }) => {
            assert_eq!(f, file, "{msg}");
            assert!(msg.contains(why), "{file}: {msg}");
        }
        other => panic!("expected {file} to be rejected ({why}), got {other:?}"),
    }
}

/// The committed key of a file.
fn ck(p: &mut Phase2) -> &mut CommittedKey {
    let Key::Committed(k) = &mut p.key else { panic!("not a committed key") };
    k
}

/// The proof of knowledge of σ_j of a file.
fn sigma_pok(p: &mut Phase2) -> &mut ceremony::Pok {
    &mut p.prefix.record.as_mut().unwrap().sigmas[0]
}

/// A G2 point on the curve but outside the prime-order subgroup.
fn g2_outside_subgroup() -> G2Affine {
    let mut rng = rand::thread_rng();
    loop {
        let x = ark_bn254::Fq2::rand(&mut rng);
        if let Some(p) = G2Affine::get_point_from_x_unchecked(x, false) {
            if !p.is_in_correct_subgroup_assuming_on_curve() {
                return p;
            }
        }
    }
}

#[test]
fn verify_names_the_bad_contribution() {
    let shape = Shape::new(4, 3, 2, Dtype::Int8).unwrap();
    let (dir, files) = honest(CircuitKind::Committed, &shape, 3);
    let d = dir.path();
    let v = verify_dir(d, 9).unwrap();
    assert_eq!(v.contributions.len(), 3);
    assert_eq!(
        v.contributions.iter().map(|c| c.2).collect::<Vec<_>>(),
        files[1..].iter().map(|f| f.hash()).collect::<Vec<_>>()
    );
    let good2 = files[2].clone();
    let restore = || replace(d, 2, &good2.to_bytes());
    let g1 = |p: &G1Affine| (G1Projective::from(*p) + G1Projective::generator()).into_affine();
    let forged = |f: &dyn Fn(&mut Phase2)| {
        let mut p = good2.clone();
        f(&mut p);
        replace(d, 2, &p.to_bytes());
        let r = verify_dir(d, 9);
        restore();
        r
    };

    // A contribution that copies the previous key, with the previous record (no secret known).
    rejected(
        forged(&|p| {
            p.key = files[1].key.clone();
            p.prefix.sigma_delta_g2 = files[1].prefix.sigma_delta_g2;
            p.prefix.record = files[1].prefix.record.clone();
        }),
        "0002.ph2",
        "proof of knowledge of δ_j",
    );
    // The key scaled by a known factor, but the proof of knowledge taken from another contribution.
    rejected(forged(&|p| p.prefix.record = files[3].prefix.record.clone()), "0002.ph2", "proof of knowledge of δ_j");
    // A proof of knowledge whose G2 half does not match.
    rejected(
        forged(&|p| {
            p.prefix.record.as_mut().unwrap().delta.rx = G2Projective::rand(&mut rand::thread_rng()).into_affine()
        }),
        "0002.ph2",
        "proof of knowledge of δ_j",
    );
    // δ moved by something else than the proven δ_j (δ₁ and δ₂ both, consistently).
    rejected(
        forged(&|p| {
            let k = ck(p);
            k.delta_g1 = (k.delta_g1 * ark_bn254::Fr::from(3u64)).into_affine();
            k.vk.delta_g2 = (k.vk.delta_g2 * ark_bn254::Fr::from(3u64)).into_affine();
        }),
        "0002.ph2",
        "δ₁ is not the previous δ₁",
    );
    rejected(
        forged(&|p| ck(p).vk.delta_g2 = (ck(p).vk.delta_g2 * ark_bn254::Fr::from(3u64)).into_affine()),
        "0002.ph2",
        "δ₁ and δ₂",
    );
    // σ and δ updated inconsistently: [σδ]₂ moved by another factor than the σ-bases.
    rejected(
        forged(&|p| {
            p.prefix.sigma_delta_g2 = p.prefix.sigma_delta_g2.map(|x| (x * ark_bn254::Fr::from(5u64)).into_affine())
        }),
        "0002.ph2",
        "σ and δ updated inconsistently",
    );
    rejected(forged(&|p| sigma_pok(p).rx = sigma_pok(&mut files[3].clone()).rx), "0002.ph2", "σ_j");
    // One tampered point in each vector that moves.
    rejected(forged(&|p| ck(p).pok[1] = g1(&ck(p).pok[1])), "0002.ph2", "σ-bases");
    rejected(forged(&|p| ck(p).h[2] = g1(&ck(p).h[2])), "0002.ph2", "L- and h-queries");
    rejected(forged(&|p| ck(p).l_products[0] = g1(&ck(p).l_products[0])), "0002.ph2", "L- and h-queries");
    rejected(forged(&|p| ck(p).l_scalar[0] = g1(&ck(p).l_scalar[0])), "0002.ph2", "L- and h-queries");
    // A phase-1 point changed (an IC point: the commitment key clients commit under).
    rejected(forged(&|p| ck(p).vk.gamma_abc_g1[5] = g1(&ck(p).vk.gamma_abc_g1[5])), "0002.ph2", "phase 1 fixes");
    // Off the curve, outside the subgroup, truncated.
    let mut bytes = good2.to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 1; // the last σ-base's y
    replace(d, 2, &bytes);
    rejected(verify_dir(d, 9), "0002.ph2", "not on the curve");
    rejected(forged(&|p| ck(p).b_g2_scalar[0] = g2_outside_subgroup()), "0002.ph2", "not in G2");
    rejected(forged(&|p| p.prefix.record.as_mut().unwrap().delta.rx = g2_outside_subgroup()), "0002.ph2", "");
    replace(d, 2, &good2.to_bytes()[..good2.to_bytes().len() - 10]);
    rejected(verify_dir(d, 9), "0002.ph2", "more than the file holds");
    restore();
    // A contribution made on top of another file than the one before it.
    rejected(forged(&|p| p.prefix.prev = files[0].hash()), "0002.ph2", "does not follow 0001.ph2");
    rejected(forged(&|p| p.prefix.index = 7), "0002.ph2", "index 7");
    // A file of another shape in the middle.
    let other = Shape::new(2, 3, 4, Dtype::Int8).unwrap();
    let (_odir, ofiles) = honest(CircuitKind::Committed, &other, 2);
    replace(d, 2, &ofiles[2].to_bytes());
    rejected(verify_dir(d, 9), "0002.ph2", "not committed 4×3×2");
    restore();
    // A file of another circuit (same shape) in the middle.
    let mut bytes = good2.to_bytes();
    bytes[4] = veriflop_verifier::keys::key_version(CircuitKind::Poseidon);
    bytes[5] = CircuitKind::Poseidon.code();
    replace(d, 2, &bytes);
    rejected(verify_dir(d, 9), "0002.ph2", "for poseidon 4×3×2 int8, not committed 4×3×2 int8");
    restore();
    // The whole transcript checked against another .ptau.
    rejected(verify_dir(d, 10), "0000.ph2", "another .ptau");
    // File 0 that is not the starting key of this .ptau (a point tampered before anyone contributed).
    let mut start = files[0].clone();
    ck(&mut start).a_entries[0] = g1(&ck(&mut start).a_entries[0]);
    replace(d, 0, &start.to_bytes());
    rejected(verify_dir(d, 9), "0000.ph2", "not the starting key");
    replace(d, 0, &files[0].to_bytes());
    assert!(verify_dir(d, 9).is_ok(), "the restored ceremony verifies");
}

#[test]
fn init_refuses_a_ptau_too_small_or_unprepared_or_a_budget_too_large_and_finalize_needs_a_contribution() {
    let shape = Shape::new(4, 4, 4, Dtype::Int8).unwrap();
    let mut small = Ptau::open(&ptau(5)).unwrap();
    let e = ceremony::init(CircuitKind::Committed, &shape, &mut small).unwrap_err().to_string();
    assert!(e.contains("needs a .ptau of power"), "{e}");
    // A model whose dense layers hold more weight terms than a ceremony can
    // synthesize (a tampered file's header could name such a budget): refused
    // before anything is synthesized.
    let wide = veriflop_infer::Model::random_mlp(&[1024, 1024], 1);
    let e = ceremony::init_model(&wide, 64, u64::MAX, &mut small).unwrap_err().to_string();
    assert!(e.contains("beyond the 33554432 a ceremony holds in memory"), "{e}");
    // A .ptau before `prepare phase2` has no Lagrange sections.
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.ptau");
    let snarkjs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/node_modules/.bin/snarkjs");
    assert!(Command::new(&snarkjs)
        .args(["powersoftau", "new", "bn128", "8", raw.to_str().unwrap()])
        .output()
        .unwrap()
        .status
        .success());
    let e = ceremony::init(CircuitKind::Committed, &shape, &mut Ptau::open(&raw).unwrap()).unwrap_err().to_string();
    assert!(e.contains("prepare phase2"), "{e}");
    let (_d, files) = honest(CircuitKind::Committed, &shape, 0);
    let e = ceremony::finalize(&files[0]).unwrap_err().to_string();
    assert!(e.contains("no contribution"), "{e}");
}

/// The Poseidon circuit's ceremony (ark-groth16's key; no σ): three
/// contributors, the keys prove through the demo (CLI, service, EVM), and a
/// tampered L-query point or a borrowed proof of knowledge is named.
#[test]
fn poseidon_ceremony_keys_prove_and_tampering_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A development .ptau (written here, fast); snarkjs's format is covered by the committed tests.
    let pot = d.join("dev.ptau");
    ceremony::ptau::write_development(&pot, POSEIDON_POWER, &mut rand::thread_rng()).unwrap();
    let pot = pot.to_str().unwrap();
    let init =
        ["--json", "ceremony", "init", "--circuit", "poseidon", "--ptau", pot, "--shape", "2x2x2", "--dir", "cer"];
    assert_eq!(ok(d, &init, None)["circuit"], "poseidon");
    for name in ["alice", "bob", "carol"] {
        ok(d, &["--json", "ceremony", "contribute", "--dir", "cer", "--name", name], None);
    }
    let v = ok(d, &["--json", "ceremony", "verify", "--ptau", pot, "--dir", "cer"], None);
    assert_eq!(v["contributions"].as_array().unwrap().len(), 3);
    ok(d, &["--json", "ceremony", "finalize", "--dir", "cer", "--keys", "keys"], None);
    let verifier = Path::new(env!("CARGO_BIN_EXE_veriflop-prover")).with_file_name("veriflop-verifier");
    let v = ok(
        d,
        &[
            "--json",
            "demo",
            "--shape",
            "2x2x2",
            "--circuit",
            "poseidon",
            "--proof-system",
            "groth16",
            "--inference",
            "none",
            "--keys",
            "keys",
            "--out-dir",
            "demo",
            "--verifier-bin",
            verifier.to_str().unwrap(),
        ],
        None,
    );
    let run = &v["runs"][0];
    assert_eq!((run["circuit"].as_str(), run["verified"].as_bool()), (Some("poseidon"), Some(true)), "{v}");
    assert_eq!(run["chain"]["status_after"], "Paid");

    let cer = d.join("cer");
    let shape = Shape::new(2, 2, 2, Dtype::Int8).unwrap();
    let good = ceremony::read(&cer.join("0002.ph2"), Some((CircuitKind::Poseidon, shape))).unwrap();
    let third = ceremony::read(&cer.join("0003.ph2"), None).unwrap();
    let verify = || {
        let mut p = Ptau::open(Path::new(pot)).unwrap();
        ceremony::verify(&mut p, &cer, None, &|_| {})
    };
    let mut bad = good.clone();
    let Key::Generic(pk) = &mut bad.key else { panic!("a generic key") };
    pk.l_query[0] = (G1Projective::from(pk.l_query[0]) + G1Projective::generator()).into_affine();
    replace(&cer, 2, &bad.to_bytes());
    rejected(verify(), "0002.ph2", "L- and h-queries");
    let mut bad = good.clone();
    bad.prefix.record = third.prefix.record.clone();
    replace(&cer, 2, &bad.to_bytes());
    rejected(verify(), "0002.ph2", "proof of knowledge of δ_j");
    replace(&cer, 2, &good.to_bytes());
    assert!(verify().is_ok());
}

/// The `.ptau` power of the 2×2×2 Poseidon circuit (its QAP domain has 2^11 points).
const POSEIDON_POWER: u32 = 12;

/// A model's inference keys from a ceremony: the model and batch fixed at
/// `init --model --batch`, two contributors, `verify --model` (another model
/// refused, a missing one asked for), `finalize --model` writing the key files
/// `model setup` would; a job proven with the written `.ipk` verifies under the
/// written `.ivk` and binds its statement. A tampered σ_hidden-base, a
/// [σ_out]₂ not matching its bases, a borrowed proof of knowledge of σ_out, an
/// h-query point and an A-query point are each named.
#[test]
fn model_ceremony_keys_prove_an_inference_job_and_tampering_is_named() {
    use ark_bn254::Fr;
    use ark_ec::AffineRepr;
    use veriflop_infer::circuit::{Witness, WHOLE_BUDGET};
    use veriflop_infer::job::{prove, setup_matrices, InferenceStatement, ModelKeys};
    use veriflop_infer::keys::ModelVk;

    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    const BATCH: usize = 3;
    let model = veriflop_infer::Model::random_mlp(&[12, 8, 5], 3);
    std::fs::write(d.join("m.json"), model.to_json()).unwrap();
    // The smallest .ptau that fits: twice the QAP domain.
    let rows = setup_matrices(&model, BATCH, WHOLE_BUDGET).unwrap().num_constraints;
    let power = rows.next_power_of_two().trailing_zeros() + 1;
    let pot = d.join("dev.ptau");
    ceremony::ptau::write_development(&pot, power, &mut rand::thread_rng()).unwrap();
    let pot = pot.to_str().unwrap();
    let init = ["--json", "ceremony", "init", "--model", "m.json", "--batch", "3", "--ptau", pot, "--dir", "cer"];
    let started = ok(d, &init, None);
    assert_eq!(started["circuit"], "inference");
    assert_eq!(started["model"].as_str(), Some(format!("0x{}", hex::encode(model.digest())).as_str()));
    for name in ["alice", "bob"] {
        ok(d, &["--json", "ceremony", "contribute", "--dir", "cer", "--name", name], None);
    }
    let v = ok(d, &["--json", "ceremony", "verify", "--ptau", pot, "--dir", "cer", "--model", "m.json"], None);
    assert_eq!(v["contributions"].as_array().unwrap().len(), 2);
    let out = bin(d, &["ceremony", "verify", "--ptau", pot, "--dir", "cer"], None);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("give the model"), "{out:?}");
    let other = veriflop_infer::Model::random_mlp(&[12, 8, 5], 4);
    std::fs::write(d.join("other.json"), other.to_json()).unwrap();
    let out = bin(d, &["ceremony", "verify", "--ptau", pot, "--dir", "cer", "--model", "other.json"], None);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("another model"), "{out:?}");
    let f = ok(d, &["--json", "ceremony", "finalize", "--dir", "cer", "--model", "m.json", "--keys", "keys"], None);
    assert_eq!((f["batch"].as_u64(), f["contributions"].as_u64()), (Some(3), Some(2)), "{f}");

    // The written keys prove a job; the verifier's key file checks it.
    let keys = ModelKeys::from_bytes(&std::fs::read(d.join(f["pk"].as_str().unwrap())).unwrap()).unwrap();
    let vk = ModelVk::from_bytes(&std::fs::read(d.join(f["vk"].as_str().unwrap())).unwrap()).unwrap();
    assert_ne!(keys.pk.delta_g1, G1Affine::generator(), "δ moved");
    assert_ne!(keys.sigma_hidden_g2, G2Affine::generator(), "σ_hidden moved");
    let x: Vec<i8> = (0..BATCH * 12).map(|i| (i as i8).wrapping_mul(37)).collect();
    let trace = veriflop_infer::run(&model, BATCH, &x).unwrap();
    let st = InferenceStatement {
        job_id: Fr::from(5u64),
        provider: veriflop_circuits::statement::Address([5; 20]),
        model_digest: model.digest(),
        cm_in: keys.commit_input(&x).unwrap(),
    };
    let proof = prove(&keys, &model, &Witness::from(&trace), &st, &mut rand::thread_rng()).unwrap();
    assert!(vk.verify(&st, &proof), "a proof under the ceremony's keys");
    assert!(!vk.verify(&InferenceStatement { job_id: Fr::from(6u64), ..st }, &proof), "another job");

    // Tampering, each named by file.
    let cer = d.join("cer");
    let good = ceremony::read(&cer.join("0001.ph2"), None).unwrap();
    let second = ceremony::read(&cer.join("0002.ph2"), None).unwrap();
    let verify = || {
        let mut p = Ptau::open(Path::new(pot)).unwrap();
        ceremony::verify(&mut p, &cer, Some(&model), &|_| {})
    };
    let bump = |p: &mut G1Affine| *p = (G1Projective::from(*p) + G1Projective::generator()).into_affine();
    let tampered = |f: &dyn Fn(&mut ceremony::InferenceKey)| {
        let mut bad = good.clone();
        let Key::Inference(k) = &mut bad.key else { panic!("a model's key") };
        f(k);
        replace(&cer, 1, &bad.to_bytes());
        verify()
    };
    rejected(tampered(&|k| bump(&mut k.pok_hidden[1])), "0001.ph2", "σ_hidden-bases and [σ_hidden]₂ disagree");
    rejected(
        tampered(&|k| k.sigma_out_g2 = G2Projective::rand(&mut rand::thread_rng()).into_affine()),
        "0001.ph2",
        "σ_out-bases and [σ_out]₂ disagree",
    );
    rejected(tampered(&|k| bump(&mut k.pk.h_query[0])), "0001.ph2", "L- and h-queries");
    rejected(tampered(&|k| bump(&mut k.pk.a_query[0])), "0001.ph2", "phase 1 fixes");
    let mut bad = good.clone();
    bad.prefix.record.as_mut().unwrap().sigmas[1] = second.prefix.record.as_ref().unwrap().sigmas[1].clone();
    replace(&cer, 1, &bad.to_bytes());
    rejected(verify(), "0001.ph2", "proof of knowledge of σ_out_j");
    replace(&cer, 1, &good.to_bytes());
    assert_eq!(verify().unwrap().contributions.len(), 2);
}
