//! `veriflop-bench inference` on a tiny model end to end: the setup and proving
//! children, the report's figures (constraint split, sizes, a paid
//! settlement's gas) and the markdown table. Asserts correctness, never timings.

use std::process::Command;

use veriflop_bench::inference::{InferenceResults, SCHEMA};

#[test]
fn a_tiny_model_is_measured_end_to_end() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_veriflop-bench"))
        .args(["inference", "--models", "8-6-4:2", "--proofs", "2", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{text}");
    let r: InferenceResults =
        serde_json::from_slice(&std::fs::read(out.path().join("inference.json")).unwrap()).unwrap();
    assert_eq!(r.schema, SCHEMA);
    let [m] = &r.runs[..] else { panic!("one model: {:?}", r.runs) };
    assert_eq!((m.widths.as_slice(), m.batch), ([8, 6, 4].as_slice(), 2));
    let model = veriflop_infer::Model::random_mlp(&[8, 6, 4], 1);
    let cost = veriflop_infer::circuit::Cost::of(&model, 2);
    assert_eq!(
        (m.cost.matmul, m.cost.requant, m.cost.tables, m.cost.total),
        (cost.matmul, cost.requant, cost.tables, cost.total())
    );
    assert_eq!(m.prove.constraints, cost.total());
    // The keys' reduction adds no row for the committed inputs (all pivoted).
    assert_eq!((m.qap_rows, m.prove.rows), (m.prove.constraints, m.prove.constraints));
    assert!(m.qap_rows <= 1 << m.domain_log && m.qap_rows > 1 << (m.domain_log - 1));
    let p = &m.prove;
    assert_eq!(p.warm_seconds.len(), 2);
    assert_eq!(p.phases.len(), 11);
    assert_eq!(p.proof_bytes, 256, "one Groth16 proof");
    assert!(p.bundle_bytes > p.proof_bytes);
    assert!(p.peak_rss_bytes > 0 && m.setup.peak_rss_bytes > 0 && m.pk_bytes > m.vk_bytes);
    let (submit, verifier) = (p.submit_gas.unwrap(), p.verifier_gas.unwrap());
    assert!(submit > verifier && verifier > 100_000, "gas {submit} / {verifier}");
    let md = std::fs::read_to_string(out.path().join("inference.md")).unwrap();
    assert!(md.contains("| 8-6-4 | 2 |") && md.contains("MSM H"), "{md}");
    // The work directory is removed; only the results stay.
    let mut left: Vec<String> =
        std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["inference.json", "inference.md"]);
}
