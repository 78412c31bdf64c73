//! The generated Solidity verifier, compiled with the pinned solc and run in revm.

mod common;

use veriflop_halo2::evm::{calldata, compile_solidity, contracts_dir, solidity, EvmVerifier};

#[test]
fn evm_verifier_accepts_valid_and_rejects_tampered_proofs() {
    let fx = common::small();
    let contracts = contracts_dir();
    assert!(
        contracts.join("node_modules/solc").exists(),
        "the pinned solc is not installed: run `npm ci --prefix contracts`"
    );
    let code = compile_solidity(&solidity(&fx.vk)).unwrap();
    let mut evm = EvmVerifier::deploy(code, true).expect("deploys within EIP-170's code-size limit");
    eprintln!("halo2 verifier: {} bytes of code, deployed for {} gas", evm.code_size, evm.deploy_gas);

    let ok = evm.call(calldata(&fx.public, &fx.proof)).unwrap();
    assert!(ok.accepted, "valid proof rejected on-chain");
    eprintln!("halo2 verify ({}): {} gas", fx.shape, ok.gas_used);

    let mut tampered = fx.proof.clone();
    tampered[100] ^= 1;
    assert!(!evm.call(calldata(&fx.public, &tampered)).unwrap().accepted);
    for i in 0..5 {
        let mut public = fx.public;
        public[i] += ark_bn254::Fr::from(1u64);
        assert!(!evm.call(calldata(&public, &fx.proof)).unwrap().accepted, "changed input {i}");
    }
    assert!(!evm.call(calldata(&fx.public, &fx.proof[..fx.proof.len() - 32])).unwrap().accepted, "truncated");
    // Trailing bytes would leave the proof valid: one proof, one encoding.
    let extended = [fx.proof.clone(), vec![0; 32]].concat();
    assert!(!evm.call(calldata(&fx.public, &extended)).unwrap().accepted, "trailing bytes");
    assert!(!evm.call(calldata(&fx.public, &[fx.proof.clone(), vec![7]].concat())).unwrap().accepted);
    assert!(!evm.call(vec![]).unwrap().accepted, "empty calldata");
}
