//! Prints the on-chain gas figures: generates a key for a small shape, proves a
//! random job, settles it in a fresh in-process EVM.
//!
//!     cargo run -p veriflop-contracts --example gas-report [-- MxKxN [int8|int16|int32] [committed|poseidon|naive]]
//!
//! (An example rather than a binary: it needs the prover, and the prover's CLI
//! depends on this crate.)

use rand::rngs::OsRng;
use veriflop_circuits::execute::matmul;
use veriflop_circuits::{shape, Address, Bytes32, CircuitKind, Dtype, InputMatrix, Job, Shape, Witness};
use veriflop_prover::{prove_bundle, CpuBackend, ProveOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (m, k, n) = shape::parse_dims(args.first().map(String::as_str).unwrap_or("4x4x4"))?;
    let dtype: Dtype = args.get(1).map(String::as_str).unwrap_or("int8").parse()?;
    let kind: CircuitKind = args.get(2).map(String::as_str).unwrap_or("committed").parse()?;
    let shape = Shape::new(m, k, n, dtype)?;
    let (pk, vk) = veriflop_prover::setup::generate(kind, shape, &mut OsRng)?;
    let a = InputMatrix::random(m as usize, k as usize, dtype, 1)?;
    let b = InputMatrix::random(k as usize, n as usize, dtype, 2)?;
    let ck = pk.commit_key().ok();
    // The job id the settlement's escrow derives for the demo client and this nonce.
    let nonce = Bytes32::random();
    let job = Job::new(veriflop_contracts::demo_job_id(&nonce), kind, shape, ck.as_ref(), &a, &b)?;
    let provider = Address([0x11; 20]);
    let c = matmul(&shape, &a, &b)?;
    let w = Witness { job_id: job.job_id.0, provider, a, b, c };
    let (bundle, _) = prove_bundle(&pk, w, &CpuBackend::new(), &mut OsRng, ProveOptions::default(), &|_| {})?;
    print!("{}", veriflop_contracts::gas_report(&vk, &job, &nonce, &bundle, 10u128.pow(18))?);
    Ok(())
}
