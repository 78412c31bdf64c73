//! Times the inference job's prover phase by phase (random-weight MLPs):
//!
//!     cargo run --release -p veriflop-infer --example infer-prove -- [mlp784|mlp4x1024|small] [proofs]
//!
//! Prints the setup time, then for each proof (the first one also builds the
//! model's matrices) every phase of `job::prove_with_stats`, the proof's
//! verification, and the peak RSS of the proving part (VmHWM, reset after the
//! setup through /proc/self/clear_refs where the kernel allows it).

use std::time::Instant;

use ark_bn254::Fr;
use rand::{Rng, SeedableRng};
use veriflop_circuits::statement::Address;
use veriflop_infer::circuit::Witness;
use veriflop_infer::job::{prove_with_stats, verify, InferenceStatement, ModelKeys};
use veriflop_infer::{run, Model};

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        })
        .unwrap_or_default()
}

fn mib(kb: &str) -> f64 {
    kb.parse::<f64>().unwrap_or(0.0) / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("mlp784");
    let proofs: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let (dims, batch): (Vec<usize>, usize) = match which {
        "mlp784" => (vec![784, 256, 256, 10], 64),
        "mlp4x1024" => (vec![1024, 1024, 1024, 1024, 1024], 128),
        "small" => (vec![64, 32, 10], 8),
        other => panic!("unknown model {other}"),
    };
    let m = Model::random_mlp(&dims, 1);
    println!("{which} {dims:?}, batch {batch}, {} threads", rayon::current_num_threads());
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let t = Instant::now();
    let keys = ModelKeys::setup(&m, batch, &mut rng).unwrap();
    println!("setup: {:.2} s (peak RSS so far {:.0} MiB)", t.elapsed().as_secs_f64(), mib(&status("VmHWM:")));
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    println!(
        "after setup: RSS {:.0} MiB{}",
        mib(&status("VmRSS:")),
        if reset { ", peak reset" } else { " (peak not reset)" }
    );

    let x: Vec<i8> = (0..batch * m.d_in()).map(|_| rng.gen()).collect();
    let t = Instant::now();
    let trace = run(&m, batch, &x).unwrap();
    println!("native run: {:.3} s", t.elapsed().as_secs_f64());
    let w = Witness::from(&trace);
    let st = InferenceStatement {
        job_id: Fr::from(1u64),
        provider: Address([1; 20]),
        model_digest: m.digest(),
        cm_in: keys.commit_input(&x).unwrap(),
    };
    for i in 0..proofs {
        let (p, s) = prove_with_stats(&keys, &m, &w, &st, &mut rng).unwrap();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        println!(
            "proof {i}: {} constraints, {} public inputs, {} witnesses, domain 2^{}",
            s.constraints,
            s.instance,
            s.witness,
            s.domain_size.trailing_zeros()
        );
        println!(
            "  prepare {:.0} ms | committed values {:.0} | commitments+poks {:.0} | synthesis {:.0} | A,B,C·z {:.0} | QAP {:.0} | MSM A {:.0}, B1 {:.0}, B2 {:.0}, L {:.0}, H {:.0} | total {:.0} ms",
            ms(s.prepare),
            ms(s.committed_values),
            ms(s.commitments),
            ms(s.synthesis),
            ms(s.matvec),
            ms(s.qap),
            ms(s.msm_a),
            ms(s.msm_b_g1),
            ms(s.msm_b_g2),
            ms(s.msm_l),
            ms(s.msm_h),
            ms(s.total)
        );
        let t = Instant::now();
        assert!(verify(&keys, &st, &p), "the proof verifies");
        println!("  verified in {:.0} ms", ms(t.elapsed()));
    }
    println!("peak RSS since setup: {:.0} MiB", mib(&status("VmHWM:")));
}
