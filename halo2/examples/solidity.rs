//! Prints the Solidity verifier of a shape under the development SRS:
//! `cargo run --example solidity -- 64x64x64 int8 > Halo2Verifier.sol`.

use veriflop_circuits::shape::parse_dims;
use veriflop_circuits::Shape;
use veriflop_halo2::{circuit_k, keygen, setup_srs};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (m, k, n) = parse_dims(args.first().map(String::as_str).unwrap_or("2x3x4")).unwrap();
    let dtype = args.get(1).map(String::as_str).unwrap_or("int8").parse().unwrap();
    let shape = Shape::new(m, k, n, dtype).unwrap();
    let srs = setup_srs(circuit_k(&shape), 1).unwrap();
    let (_, vk) = keygen(&shape, &srs).unwrap();
    print!("{}", veriflop_halo2::evm::solidity(&vk));
}
