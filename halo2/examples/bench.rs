//! Measures the halo2 path for square int8 jobs: keygen, prove, verify, proof
//! size, EVM gas. `cargo run --release --example bench -- 16 32 64`
//! (prints a Markdown table; the figures in README.md come from it).

use std::time::Instant;

use veriflop_circuits::commit::{commit_input, commit_output, Role};
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{Dtype, InputMatrix, Shape};
use veriflop_halo2::evm::{calldata, compile_solidity, solidity, EvmVerifier};
use veriflop_halo2::{circuit_k, keygen, prove, setup_srs, verify};

fn main() {
    let sizes: Vec<u32> = std::env::args().skip(1).map(|s| s.parse().expect("sizes are integers")).collect();
    let sizes = if sizes.is_empty() { vec![16, 32, 64] } else { sizes };
    let max_k = sizes.iter().map(|&n| circuit_k(&Shape::square(n, Dtype::Int8).unwrap())).max().unwrap();
    let t = Instant::now();
    let srs = setup_srs(max_k, 1).unwrap();
    eprintln!("development SRS k = {max_k}: {:.2} s", t.elapsed().as_secs_f64());
    println!(
        "| n | k | keygen (s) | prove (s) | verify (ms) | proof (bytes) | verifier code (bytes) | EVM verify gas |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let shape = Shape::square(n, Dtype::Int8).unwrap();
        let t = Instant::now();
        let (pk, vk) = keygen(&shape, &srs).unwrap();
        let keygen_s = t.elapsed().as_secs_f64();
        let a = InputMatrix::random(n as usize, n as usize, Dtype::Int8, 1).unwrap();
        let b = InputMatrix::random(n as usize, n as usize, Dtype::Int8, 2).unwrap();
        let c = matmul(&shape, &a, &b).unwrap();
        let (job, prov) = (ark_bn254::Fr::from(7u64), ark_bn254::Fr::from(8u64));
        let t = Instant::now();
        let proof = prove(&pk, job, prov, &a, &b, &c).unwrap();
        let prove_s = t.elapsed().as_secs_f64();
        let public = [
            job,
            prov,
            commit_input(&shape, Role::A, &a),
            commit_input(&shape, Role::B, &b),
            commit_output(&shape, &c),
        ];
        let reps = 10;
        let t = Instant::now();
        for _ in 0..reps {
            verify(&vk, &public, &proof).unwrap();
        }
        let verify_ms = t.elapsed().as_secs_f64() * 1000.0 / reps as f64;
        let (code, gas) = match compile_solidity(&solidity(&vk)) {
            Ok(code) => {
                let mut evm = EvmVerifier::deploy(code, false).unwrap();
                let call = evm.call(calldata(&public, &proof)).unwrap();
                assert!(call.accepted);
                (evm.code_size.to_string(), call.gas_used.to_string())
            }
            Err(e) => {
                eprintln!("no EVM figures: {e}");
                ("-".into(), "-".into())
            }
        };
        println!(
            "| {n} | {} | {keygen_s:.2} | {prove_s:.2} | {verify_ms:.1} | {} | {code} | {gas} |",
            pk.k(),
            proof.len()
        );
    }
}
