//! Generates the Solidity Groth16 verifier for our verifying keys.
//!
//! One template, two forms:
//! - [`solidity_verifier`]: a stand-alone contract for one key, every key
//!   element a `constant` (what an auditor reads, what a marketplace deploys
//!   for a shape);
//! - [`generic_verifier_source`]: the same code with the key elements as
//!   `immutable`s set by the constructor, committed as
//!   `contracts/src/Groth16Verifier.sol` and compiled into `contracts/out/`, so
//!   Rust code can deploy a verifier for any key without a Solidity compiler.
//!
//! Immutables are copied into the runtime code at deployment and read with a
//! `PUSH32`, exactly like constants, so both forms cost the same gas per
//! verification (see `docs/CONTRACTS.md`).
//!
//! The verifier checks `e(A, B) = e(α, β) · e(vk_x, γ) · e(C, δ)` with
//! `vk_x = IC₀ + Σ xᵢ·ICᵢ`, as one call of the pairing precompile (0x08) over
//! `(vk_x, γ), (−A, B), (α, β), (C, δ)`, after `ecMul` (0x07) / `ecAdd` (0x06)
//! for `vk_x`. It reverts (custom errors, never `false`) when a public input is
//! not below the scalar field modulus r, a proof coordinate is not below the
//! base field modulus q, or any precompile call fails — which includes a call
//! starved of gas by the caller (EIP-150's 63/64 rule): a verifier that
//! returned `false` there would let a caller make a valid proof look invalid.
//! It returns `false` only when the pairing check itself fails.

use ark_bn254::{Fq, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField};
use std::fmt::Write as _;
use veriflop_circuits::CircuitKind;
use veriflop_verifier::ShapeKey;

/// BN254 scalar field modulus r (public inputs must be below it).
pub const R_HEX: &str = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";
/// BN254 base field modulus q (proof coordinates must be below it).
pub const Q_HEX: &str = "0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47";

/// Custom errors of the verifier, with their selectors (checked against
/// `keccak256` of the signature in the tests).
pub const ERR_PROOF_NOT_IN_FIELD: (&str, u32) = ("ProofCoordinateNotInField()", 0x845f_16a5);
pub const ERR_INPUT_NOT_IN_FIELD: (&str, u32) = ("PublicInputNotInField()", 0xa54f_8e27);
pub const ERR_PRECOMPILE_FAILED: (&str, u32) = ("PrecompileFailed()", 0x84e8_1692);

/// Number of 32-byte words of a verifying key with `n_inputs` public inputs,
/// in the order the constructor of the generic verifier takes them:
/// α (x, y), β (x.c1, x.c0, y.c1, y.c0), γ (same), δ (same), IC₀..IC_n (x, y).
pub fn vk_word_count(n_inputs: usize) -> usize {
    14 + 2 * (n_inputs + 1)
}

fn fq_word(x: &Fq) -> [u8; 32] {
    let v = x.into_bigint().to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - v.len()..].copy_from_slice(&v);
    out
}

/// G1 point as the precompiles take it: (x, y), the identity as (0, 0).
pub fn g1_words(p: &G1Affine) -> [[u8; 32]; 2] {
    match p.xy() {
        Some((x, y)) => [fq_word(&x), fq_word(&y)],
        None => [[0u8; 32]; 2],
    }
}

/// G2 point as the pairing precompile takes it: (x.c1, x.c0, y.c1, y.c0),
/// the identity as zeros.
pub fn g2_words(p: &G2Affine) -> [[u8; 32]; 4] {
    match p.xy() {
        Some((x, y)) => [fq_word(&x.c1), fq_word(&x.c0), fq_word(&y.c1), fq_word(&y.c0)],
        None => [[0u8; 32]; 4],
    }
}

/// The key as 32-byte words (see [`vk_word_count`]): the generic verifier's
/// constructor argument. A key without IC₀ (malformed; never produced by a
/// setup) gets the identity for it.
pub fn vk_words(key: &ShapeKey) -> Vec<[u8; 32]> {
    let vk = &key.vk;
    let mut w = Vec::with_capacity(vk_word_count(n_inputs(key)));
    w.extend(g1_words(&vk.alpha_g1));
    w.extend(g2_words(&vk.beta_g2));
    w.extend(g2_words(&vk.gamma_g2));
    w.extend(g2_words(&vk.delta_g2));
    if vk.gamma_abc_g1.is_empty() {
        w.extend([[0u8; 32]; 2]);
    }
    for p in &vk.gamma_abc_g1 {
        w.extend(g1_words(p));
    }
    w
}

fn n_inputs(key: &ShapeKey) -> usize {
    key.vk.gamma_abc_g1.len().saturating_sub(1)
}

/// Solidity names of the key words, in [`vk_words`] order.
fn vk_names(n_inputs: usize) -> Vec<String> {
    let mut names: Vec<String> = ["ALPHA_X", "ALPHA_Y"].iter().map(|s| s.to_string()).collect();
    for g in ["BETA", "GAMMA", "DELTA"] {
        for c in ["X1", "X0", "Y1", "Y0"] {
            names.push(format!("{g}_{c}"));
        }
    }
    for i in 0..=n_inputs {
        names.push(format!("IC{i}_X"));
        names.push(format!("IC{i}_Y"));
    }
    names
}

fn hex_word(w: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(w))
}

/// Contract name of the generated verifier for a key: `MatmulVerifier_4x4x4_int8`
/// (`_naive` appended for the naive circuit).
pub fn contract_name(key: &ShapeKey) -> String {
    let s = key.header.shape;
    let suffix = match key.header.kind {
        CircuitKind::Freivalds => "",
        CircuitKind::Naive => "_naive",
    };
    format!("MatmulVerifier_{}x{}x{}_{}{}", s.m, s.k, s.n, s.dtype, suffix)
}

/// How the template gets its key.
enum KeyForm<'a> {
    /// Key elements are constants (one contract per key).
    Constants(&'a ShapeKey),
    /// Key elements are immutables set by the constructor.
    Immutables { n_inputs: usize },
}

/// The stand-alone Solidity verifier for one verifying key: key elements are
/// constants, `verifyProof(uint256[8] proof, uint256[N] input)` with the proof
/// as `[A.x, A.y, B.x1, B.x0, B.y1, B.y0, C.x, C.y]` (G2 coordinates in the
/// EVM order `[c1, c0]`) and N = 5 for matmul keys. Compiles with solc ≥ 0.8.20.
pub fn solidity_verifier(vk: &ShapeKey) -> String {
    render(KeyForm::Constants(vk))
}

/// The generic verifier (key given to the constructor) for `n_inputs` public
/// inputs; for 5 inputs this is the committed `contracts/src/Groth16Verifier.sol`.
pub fn generic_verifier_source(n_inputs: usize) -> String {
    render(KeyForm::Immutables { n_inputs })
}

fn render(form: KeyForm<'_>) -> String {
    let (n, name) = match &form {
        KeyForm::Constants(k) => (n_inputs(k), contract_name(k)),
        KeyForm::Immutables { n_inputs } => (*n_inputs, "Groth16Verifier".to_string()),
    };
    let names = vk_names(n);
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "// SPDX-License-Identifier: Apache-2.0");
    match &form {
        KeyForm::Constants(k) => {
            let _ = writeln!(
                w,
                "// Generated by veriflop-contracts {} from a verifying key. Do not edit.",
                env!("CARGO_PKG_VERSION")
            );
            let _ = writeln!(
                w,
                "// Circuit: {}, shape: {}, key fingerprint: {}.",
                k.header.kind,
                k.header.shape.id(),
                k.fingerprint()
            );
        }
        KeyForm::Immutables { .. } => {
            let _ =
                writeln!(w, "// Generated by veriflop-contracts (`generic_verifier_source({n})`); a test checks this");
            let _ = writeln!(w, "// file matches the generator. Do not edit by hand.");
        }
    }
    let _ = writeln!(w, "pragma solidity ^0.8.20;");
    let _ = writeln!(w);
    let _ = writeln!(w, "/// @title Groth16 verifier over BN254 (EIP-196/197 precompiles) for veriflop matmul proofs.");
    let _ = writeln!(w, "/// @notice `verifyProof` returns true iff the proof is valid for the {n} public inputs.");
    let _ = writeln!(w, "/// It reverts, never returns false, when an input is malformed or a precompile call fails");
    let _ = writeln!(
        w,
        "/// (including a call starved of gas by its caller): `false` always means \"pairing check failed\"."
    );
    let _ = writeln!(w, "contract {name} {{");
    let _ = writeln!(w, "    /// A proof coordinate is not below the base field modulus q.");
    let _ = writeln!(w, "    error ProofCoordinateNotInField();");
    let _ = writeln!(w, "    /// A public input is not below the scalar field modulus r.");
    let _ = writeln!(w, "    error PublicInputNotInField();");
    let _ = writeln!(w, "    /// ecAdd, ecMul or the pairing failed: a point is not on the curve or in the");
    let _ = writeln!(w, "    /// subgroup, or the call ran out of gas.");
    let _ = writeln!(w, "    error PrecompileFailed();");
    let _ = writeln!(w);
    let _ = writeln!(w, "    uint256 internal constant R = {R_HEX};");
    let _ = writeln!(w, "    uint256 internal constant Q = {Q_HEX};");
    let _ = writeln!(w);
    match &form {
        KeyForm::Constants(k) => {
            let _ = writeln!(w, "    // Verifying key. G2 coordinates in the precompile's order (c1, c0).");
            for (nm, word) in names.iter().zip(vk_words(k)) {
                let _ = writeln!(w, "    uint256 internal constant {nm} = {};", hex_word(&word));
            }
        }
        KeyForm::Immutables { .. } => {
            let _ =
                writeln!(w, "    // Verifying key, copied into the runtime code at deployment (read like constants).");
            let _ = writeln!(w, "    // G2 coordinates in the precompile's order (c1, c0).");
            for nm in &names {
                let _ = writeln!(w, "    uint256 internal immutable {nm};");
            }
            let _ = writeln!(w);
            let _ = writeln!(
                w,
                "    /// @param vk the key words: alpha (x, y); beta, gamma, delta (x.c1, x.c0, y.c1, y.c0);"
            );
            let _ =
                writeln!(w, "    /// IC0..IC{n} (x, y). The deployer vouches for the key (it is public and checkable:");
            let _ = writeln!(w, "    /// compare with `veriflop-contracts`' `vk_words`).");
            let _ = writeln!(w, "    constructor(uint256[{}] memory vk) {{", names.len());
            for (i, nm) in names.iter().enumerate() {
                let _ = writeln!(w, "        {nm} = vk[{i}];");
            }
            let _ = writeln!(w, "    }}");
        }
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "    /// @param proof [A.x, A.y, B.x1, B.x0, B.y1, B.y0, C.x, C.y]");
    let _ = writeln!(w, "    /// @param input the public inputs, each below r");
    let _ = writeln!(w, "    function verifyProof(uint256[8] calldata proof, uint256[{n}] calldata input) external view returns (bool valid) {{");
    let _ = writeln!(w, "        uint256[{}] memory k = [", names.len());
    for (i, nm) in names.iter().enumerate() {
        let sep = if i + 1 == names.len() { "" } else { "," };
        let cast = if i == 0 { format!("uint256({nm})") } else { nm.clone() };
        let _ = writeln!(w, "            {cast}{sep}");
    }
    let _ = writeln!(w, "        ];");
    let _ = writeln!(w, "        assembly (\"memory-safe\") {{");
    let _ = writeln!(w, "            function fail(selector) {{");
    let _ = writeln!(w, "                mstore(0, shl(224, selector))");
    let _ = writeln!(w, "                revert(0, 4)");
    let _ = writeln!(w, "            }}");
    let _ = writeln!(w, "            // Every proof coordinate is a canonical base field element (the precompiles");
    let _ = writeln!(w, "            // check the points; this also rules out A.y + q, which would negate to -A).");
    let _ = writeln!(w, "            let bad := iszero(lt(calldataload(proof), Q))");
    for i in 1..8 {
        let _ = writeln!(w, "            bad := or(bad, iszero(lt(calldataload(add(proof, {:#x})), Q)))", i * 32);
    }
    let _ = writeln!(w, "            if bad {{ fail({:#010x}) }}", ERR_PROOF_NOT_IN_FIELD.1);
    let _ = writeln!(w);
    let _ = writeln!(w, "            // Scratch memory past the free memory pointer (not allocated: nothing");
    let _ = writeln!(w, "            // else runs before we return). Layout, in words:");
    let _ = writeln!(
        w,
        "            //  0-1 vk_x | 2-5 gamma | 6-7 -A | 8-11 B | 12-13 alpha | 14-17 beta | 18-19 C | 20-23 delta"
    );
    let _ =
        writeln!(w, "            // While vk_x is computed, words 2-4 hold ecMul's input (IC_i, x_i) and its output.");
    let _ = writeln!(w, "            let m := mload(0x40)");
    let ic_off = |i: usize, c: usize| (14 + 2 * i + c) * 32;
    let _ = writeln!(w, "            mstore(m, mload(add(k, {:#x})))", ic_off(0, 0));
    let _ = writeln!(w, "            mstore(add(m, 0x20), mload(add(k, {:#x})))", ic_off(0, 1));
    let _ = writeln!(w, "            let x");
    let _ = writeln!(w, "            let ok := 1");
    for i in 0..n {
        let _ = writeln!(w, "            // vk_x += x_{i} * IC{}", i + 1);
        if i == 0 {
            let _ = writeln!(w, "            x := calldataload(input)");
        } else {
            let _ = writeln!(w, "            x := calldataload(add(input, {:#x}))", i * 32);
        }
        let _ = writeln!(w, "            if iszero(lt(x, R)) {{ fail({:#010x}) }}", ERR_INPUT_NOT_IN_FIELD.1);
        let _ = writeln!(w, "            mstore(add(m, 0x40), mload(add(k, {:#x})))", ic_off(i + 1, 0));
        let _ = writeln!(w, "            mstore(add(m, 0x60), mload(add(k, {:#x})))", ic_off(i + 1, 1));
        let _ = writeln!(w, "            mstore(add(m, 0x80), x)");
        let _ =
            writeln!(w, "            ok := and(ok, staticcall(gas(), 0x07, add(m, 0x40), 0x60, add(m, 0x40), 0x40))");
        let _ = writeln!(w, "            ok := and(ok, staticcall(gas(), 0x06, m, 0x80, m, 0x40))");
        let _ = writeln!(w, "            if iszero(ok) {{ fail({:#010x}) }}", ERR_PRECOMPILE_FAILED.1);
    }
    let _ = writeln!(w, "            // (vk_x, gamma)");
    for j in 0..4 {
        let _ = writeln!(w, "            mstore(add(m, {:#x}), mload(add(k, {:#x})))", (2 + j) * 32, (6 + j) * 32);
    }
    let _ = writeln!(w, "            // (-A, B): -(x, y) = (x, (q - y) mod q), y < q checked above");
    let _ = writeln!(w, "            mstore(add(m, 0xc0), calldataload(proof))");
    let _ = writeln!(w, "            mstore(add(m, 0xe0), mod(sub(Q, calldataload(add(proof, 0x20))), Q))");
    let _ = writeln!(w, "            calldatacopy(add(m, 0x100), add(proof, 0x40), 0x80)");
    let _ = writeln!(w, "            // (alpha, beta)");
    for j in 0..6 {
        let _ = writeln!(w, "            mstore(add(m, {:#x}), mload(add(k, {:#x})))", (12 + j) * 32, j * 32);
    }
    let _ = writeln!(w, "            // (C, delta)");
    let _ = writeln!(w, "            calldatacopy(add(m, 0x240), add(proof, 0xc0), 0x40)");
    for j in 0..4 {
        let _ = writeln!(w, "            mstore(add(m, {:#x}), mload(add(k, {:#x})))", (20 + j) * 32, (10 + j) * 32);
    }
    let _ = writeln!(w, "            // One pairing call over the four pairs; it must succeed and return one word");
    let _ = writeln!(w, "            // (a missing precompile would \"succeed\" with no output).");
    let _ = writeln!(w, "            ok := staticcall(gas(), 0x08, m, 0x300, m, 0x20)");
    let _ = writeln!(
        w,
        "            if iszero(and(ok, eq(returndatasize(), 0x20))) {{ fail({:#010x}) }}",
        ERR_PRECOMPILE_FAILED.1
    );
    let _ = writeln!(w, "            valid := eq(mload(m), 1)");
    let _ = writeln!(w, "        }}");
    let _ = writeln!(w, "    }}");
    let _ = writeln!(w, "}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_selectors_match_signatures() {
        for (sig, sel) in [ERR_PROOF_NOT_IN_FIELD, ERR_INPUT_NOT_IN_FIELD, ERR_PRECOMPILE_FAILED] {
            let h = revm::primitives::keccak256(sig.as_bytes());
            assert_eq!(
                u32::from_be_bytes(h[..4].try_into().unwrap()),
                sel,
                "selector of {sig}: 0x{}",
                hex::encode(&h[..4])
            );
        }
    }

    #[test]
    fn moduli_match_arkworks() {
        let r = ark_bn254::Fr::MODULUS.to_bytes_be();
        let q = Fq::MODULUS.to_bytes_be();
        assert_eq!(R_HEX, format!("0x{}", hex::encode(r)));
        assert_eq!(Q_HEX, format!("0x{}", hex::encode(q)));
    }

    /// The committed generic verifier is exactly what the generator produces.
    #[test]
    fn committed_generic_verifier_matches_generator() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/Groth16Verifier.sol");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let want = generic_verifier_source(veriflop_circuits::statement::NUM_PUBLIC_INPUTS);
        if committed != want {
            if std::env::var_os("VERIFLOP_BLESS").is_some() {
                std::fs::write(path, &want).unwrap();
                return;
            }
            panic!(
                "contracts/src/Groth16Verifier.sol differs from generic_verifier_source(5): run \
                 `VERIFLOP_BLESS=1 cargo test -p veriflop-contracts --lib` then `contracts/build.sh`"
            );
        }
    }
}
