//! Differential test against onnxruntime: models quantized by its own tooling,
//! imported here and run by the native executor, give bit-identical int8
//! outputs; models outside the layer set are refused naming the operator.
//!
//! The models and reference outputs are made by `tests/ort/make_models.py`
//! with onnxruntime and onnx from PyPI, pinned and installed by
//! `scripts/onnx-venv.sh` (which `scripts/test` runs). Without them this test
//! fails and says how to install them; it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, SeedableRng};
use veriflop_infer::{onnx, run, Error, Layer, Model, QuantParams, Requant};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("VERIFLOP_TEST_PYTHON") {
        return p.into();
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/onnx-venv/bin/python");
    assert!(
        p.exists(),
        "onnxruntime is needed for this test: run scripts/onnx-venv.sh (or set VERIFLOP_TEST_PYTHON to a python with onnxruntime and onnx)"
    );
    p
}

fn read_i8(path: &Path) -> (Vec<u64>, Vec<i8>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<i8>().unwrap())
}

#[test]
fn native_executor_is_bit_identical_to_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ort/make_models.py");
    let out = Command::new(python()).arg(&script).arg(dir.path()).output().expect("python runs");
    assert!(out.status.success(), "make_models.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let cases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("cases.json")).unwrap()).unwrap();
    let mut compared = 0usize;
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let full = onnx::import_path(&dir.path().join(format!("{name}.onnx"))).unwrap();
        let cut = onnx::import_path(&dir.path().join(format!("{name}.int8.onnx"))).unwrap();
        // The real-valued ends are outside the proven part: same layers either way.
        assert_eq!(full.layers, cut.layers, "{name}");
        assert_eq!(full.input, cut.input, "{name}");
        let dims: Vec<usize> = serde_json::from_value(case["dims"].clone()).unwrap();
        assert_eq!(full.layers.len(), dims.len() - 1, "{name}");
        let (xs, x) = read_i8(&dir.path().join(format!("{name}.x.npy")));
        let (ys, y) = read_i8(&dir.path().join(format!("{name}.y.npy")));
        let batch = xs[0] as usize;
        assert_eq!(ys, vec![batch as u64, *dims.last().unwrap() as u64]);
        let trace = run(&full, batch, &x).unwrap();
        let diff = trace.output().iter().zip(&y).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 0, "{name}: {diff} of {} outputs differ from onnxruntime's", y.len());
        // Every layer's thresholds reproduce its requantization on this run.
        for (l, layer) in full.layers.iter().enumerate() {
            let th = layer.requant.thresholds();
            for (&a, &v) in trace.accumulators[l].iter().zip(&trace.activations[l + 1]) {
                assert_eq!(th.eval(a), v, "{name} layer {l}");
            }
        }
        if name == "double-rounding" {
            // onnxruntime rounds in float32 (see make_models.py): −68, not −67.
            assert_eq!(y[0], -68, "onnxruntime's requantization is float32's");
        }
        compared += y.len();
    }
    assert!(compared > 64 * 10, "{compared} outputs compared");
    println!("{compared} outputs bit-identical to onnxruntime {}", cases["onnxruntime"]);

    for case in cases["refused"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let want = case["op"].as_str().unwrap();
        match onnx::import_path(&dir.path().join(format!("{name}.onnx"))) {
            Err(Error::Unsupported { op, .. }) => assert_eq!(op, want, "{name}"),
            other => panic!("{name}: expected refusal naming {want}, got {other:?}"),
        }
    }
}

fn random_model(seed: u64) -> Model {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dims = [rng.gen_range(1..40), rng.gen_range(1..40), rng.gen_range(1..40), rng.gen_range(1..12)];
    let layers = dims
        .windows(2)
        .map(|d| Layer {
            d_in: d[0],
            d_out: d[1],
            weights: (0..d[0] * d[1]).map(|_| rng.gen()).collect(),
            bias: (0..d[1]).map(|_| rng.gen_range(-100_000..100_000)).collect(),
            requant: Requant::new(
                rng.gen_range(1e-5f32..0.05),
                rng.gen(),
                if rng.gen_bool(0.5) { 0 } else { -128 },
                127,
            )
            .unwrap(),
        })
        .collect();
    let q = QuantParams { scale: 1.0, zero_point: 0 };
    Model { input: q, layers, output: q }
}

/// Models with random layers (int8 ReLU included) exported as QGemm chains run
/// identically in onnxruntime and natively, and import back to the same layers.
#[test]
fn exported_random_models_run_identically_in_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ort/run_model.py");
    let mut compared = 0;
    for seed in 0..12u64 {
        let m = random_model(seed);
        let bytes = onnx::export(&m).unwrap();
        let back = onnx::import_bytes(&bytes).unwrap();
        assert_eq!(back.layers, m.layers, "seed {seed}");
        let path = dir.path().join(format!("m{seed}.onnx"));
        std::fs::write(&path, &bytes).unwrap();
        let batch = 7;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + seed);
        let x: Vec<i8> = (0..batch * m.d_in()).map(|_| rng.gen()).collect();
        let xp = dir.path().join(format!("x{seed}.npy"));
        use npyz::WriterBuilder;
        let mut w = npyz::WriteOptions::<i8>::new()
            .default_dtype()
            .shape(&[batch as u64, m.d_in() as u64])
            .writer(std::io::BufWriter::new(std::fs::File::create(&xp).unwrap()))
            .begin_nd()
            .unwrap();
        w.extend(x.iter().copied()).unwrap();
        w.finish().unwrap();
        let yp = dir.path().join(format!("y{seed}.npy"));
        let out = Command::new(python()).arg(&script).arg(&path).arg(&xp).arg(&yp).output().expect("python runs");
        assert!(out.status.success(), "run_model.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let (_, y) = read_i8(&yp);
        let native = run(&m, batch, &x).unwrap();
        assert_eq!(native.output(), &y[..], "seed {seed}");
        compared += y.len();
    }
    println!("{compared} outputs of exported random models bit-identical to onnxruntime");
}
