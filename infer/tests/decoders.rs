//! Model files and ONNX bytes are untrusted input: mutated and truncated ones
//! are refused with an error, never a panic, and never an unbounded allocation.

use proptest::prelude::*;
use veriflop_infer::{onnx, Layer, Model, QuantParams, Requant};

fn model() -> Model {
    let layer = |k: usize, n: usize, zp: i8, lo: i8| Layer {
        d_in: k,
        d_out: n,
        weights: (0..k * n).map(|i| ((i * 29 + 5) % 251) as i8).collect(),
        bias: (0..n).map(|j| j as i32 * 77 - 300).collect(),
        requant: Requant::new(0.003, zp, lo, 127).unwrap(),
    };
    let q = QuantParams { scale: 1.0, zero_point: 0 };
    Model { input: q, layers: vec![layer(9, 6, 3, 0), layer(6, 4, -7, -128)], output: q }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_onnx_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let mut bytes = onnx::export(&model()).unwrap();
        for (i, v) in flips {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(m) = onnx::import_bytes(&bytes) {
            // Whatever imports is a valid model that runs.
            m.validate().unwrap();
            let x = vec![1i8; m.d_in()];
            veriflop_infer::run(&m, 1, &x).unwrap();
        }
    }

    #[test]
    fn mutated_model_files_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = model().to_json();
        for (i, v) in flips {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        if let Ok(m) = Model::from_json(&bytes) {
            let x = vec![-3i8; m.d_in()];
            veriflop_infer::run(&m, 2, &[x.clone(), x].concat()).unwrap();
        }
    }
}

#[test]
fn hostile_sizes_are_refused_before_allocating() {
    // A model file claiming a 2^40-weight layer.
    let mut m = model();
    m.layers[0].d_in = 1 << 20;
    m.layers[0].d_out = 1 << 20;
    assert!(Model::from_json(&m.to_json()).is_err());
    // Layers that do not chain, and an empty model.
    let mut m = model();
    m.layers.swap(0, 1);
    assert!(m.validate().is_err());
    assert!(Model { layers: vec![], ..model() }.validate().is_err());
    // Garbage and empty ONNX.
    assert!(onnx::import_bytes(b"").is_err());
    assert!(onnx::import_bytes(&[0xff; 64]).is_err());
}
