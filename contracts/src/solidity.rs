//! Generates the Solidity verifiers for our verifying keys.
//!
//! Two circuits families, each in two forms:
//! - the **committed** circuit (the default, `cp`): `verifyProof(proof, cmA,
//!   cmB, cmC, pok, jobId, provider)` recomputes the digests of the commitment
//!   points, the Fiat–Shamir seed, the Freivalds challenge r and the folding
//!   challenge ρ itself, then checks
//!   `e(−A, B)·e(α, β)·e(X, γ)·e(C + ρ·pok, δ)·e(−ρ·cm_C, σδ) = 1` with
//!   `X = IC₀ + job·IC₁ + provider·IC₂ + r·IC₃ + cm_A + cm_B + cm_C`
//!   (5 `ecMul`, 8 `ecAdd`, one 5-pair pairing call);
//! - the Poseidon and naive circuits: `verifyProof(proof, input[5])`, checking
//!   `e(A, B) = e(α, β) · e(vk_x, γ) · e(C, δ)` with `vk_x = IC₀ + Σ xᵢ·ICᵢ`
//!   (one 4-pair pairing call after 5 `ecMul` / 5 `ecAdd`).
//!
//! Forms:
//! - [`solidity_verifier`]: a stand-alone contract for one key (dispatching on
//!   the key's circuit), every key element a `constant` (what an auditor reads,
//!   what a marketplace deploys for a shape);
//! - [`generic_verifier_source`] / [`generic_committed_verifier_source`]: the
//!   same code with the key elements as `immutable`s set by the constructor,
//!   committed as `contracts/src/Groth16Verifier.sol` and
//!   `contracts/src/CommittedVerifier.sol` and compiled into `contracts/out/`,
//!   so Rust code can deploy a verifier for any key without a Solidity compiler.
//!
//! Immutables are copied into the runtime code at deployment and read with a
//! `PUSH32`, exactly like constants, so both forms cost the same gas per
//! verification (see `docs/CONTRACTS.md`).
//!
//! Every verifier reverts (custom errors, never `false`) when a scalar input is
//! not below the scalar field modulus r, a point coordinate is not below the
//! base field modulus q, or any precompile call fails — which includes a call
//! starved of gas by the caller (EIP-150's 63/64 rule): a verifier that
//! returned `false` there would let a caller make a valid proof look invalid.
//! It returns `false` only when the pairing check itself fails.

use ark_bn254::{Fq, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField};
use std::fmt::Write as _;
use veriflop_circuits::{cp, CircuitKind, Shape};
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

/// Number of key words of a committed-circuit key: α, β, γ, δ, IC₀..IC₃, then
/// [σδ]₂ (x.c1, x.c0, y.c1, y.c0).
pub const COMMITTED_VK_WORDS: usize = 14 + 2 * (1 + cp::SCALAR_INPUTS) + 4;

/// Domain tag of the Fiat–Shamir seed (`veriflop_circuits::cp::seed`).
pub const FS_TAG: &str = "veriflop/v2/freivalds";

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
/// setup) gets the identity for it. For a committed-circuit key, [σδ]₂ follows
/// the input points ([`COMMITTED_VK_WORDS`] words in all; the identity if the
/// key lacks it, which no verifier accepts a proof for).
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
    if key.header.kind == CircuitKind::Committed {
        w.extend(g2_words(&key.pok_g2.unwrap_or(G2Affine::identity())));
    }
    w
}

/// The first 34 bytes of the seed preimage, fixed per shape:
/// `FS_TAG ‖ m ‖ k ‖ n (u32 BE) ‖ dtype code`, as two words (the second holds
/// the last 2 bytes, left-aligned).
pub fn seed_prefix_words(shape: &Shape) -> [[u8; 32]; 2] {
    let mut b = FS_TAG.as_bytes().to_vec();
    b.extend(shape.m.to_be_bytes());
    b.extend(shape.k.to_be_bytes());
    b.extend(shape.n.to_be_bytes());
    b.push(shape.dtype.code());
    assert_eq!(b.len(), 34, "seed prefix is 34 bytes");
    let mut w = [[0u8; 32]; 2];
    w[0].copy_from_slice(&b[..32]);
    w[1][..2].copy_from_slice(&b[32..]);
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
/// for the committed circuit (`_poseidon`, `_naive` appended for the others).
pub fn contract_name(key: &ShapeKey) -> String {
    let s = key.header.shape;
    let suffix = match key.header.kind {
        CircuitKind::Committed => "",
        CircuitKind::Poseidon => "_poseidon",
        CircuitKind::Naive => "_naive",
        CircuitKind::Inference => "_inference",
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

/// The stand-alone Solidity verifier for one verifying key, key elements as
/// constants; the proof is `[A.x, A.y, B.x1, B.x0, B.y1, B.y0, C.x, C.y]` (G2
/// coordinates in the EVM order `[c1, c0]`). Compiles with solc ≥ 0.8.20.
/// - committed-circuit key: `verifyProof(uint256[8] proof, uint256[2] cmA,
///   uint256[2] cmB, uint256[2] cmC, uint256[2] pok, uint256 jobId, address
///   provider)`, its shape built in (`shape()` returns it);
/// - Poseidon / naive key: `verifyProof(uint256[8] proof, uint256[N] input)`,
///   N = 5 for matmul keys.
pub fn solidity_verifier(vk: &ShapeKey) -> String {
    match vk.header.kind {
        CircuitKind::Committed => render_committed(CpForm::Constants(vk)),
        CircuitKind::Poseidon | CircuitKind::Naive => render(KeyForm::Constants(vk)),
        // A shape key never has this kind (`KeyHeader::decode` refuses it).
        CircuitKind::Inference => panic!("an inference job's verifier is generated from its model's key"),
    }
}

/// The generic committed-circuit verifier (key and shape given to the
/// constructor): the committed `contracts/src/CommittedVerifier.sol`.
pub fn generic_committed_verifier_source() -> String {
    render_committed(CpForm::Immutables)
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

/// How the committed template gets its key.
enum CpForm<'a> {
    Constants(&'a ShapeKey),
    Immutables,
}

/// Solidity names of a committed key's words, in [`vk_words`] order.
fn committed_vk_names() -> Vec<String> {
    let mut names = vk_names(cp::SCALAR_INPUTS);
    for c in ["X1", "X0", "Y1", "Y0"] {
        names.push(format!("SIGMA_DELTA_{c}"));
    }
    debug_assert_eq!(names.len(), COMMITTED_VK_WORDS);
    names
}

fn render_committed(form: CpForm<'_>) -> String {
    let names = committed_vk_names();
    // Memory copy of the key the assembly reads: the key words, then the seed prefix.
    let mut k_names = names.clone();
    k_names.push("SEED_PREFIX0".into());
    k_names.push("SEED_PREFIX1".into());
    let at = |name: &str| -> String {
        let i = k_names.iter().position(|n| n == name).unwrap_or_else(|| panic!("no key word {name}"));
        format!("{:#x}", i * 32)
    };
    let name = match &form {
        CpForm::Constants(k) => contract_name(k),
        CpForm::Immutables => "CommittedVerifier".to_string(),
    };

    let mut header = String::new();
    let mut key_decl = String::new();
    match &form {
        CpForm::Constants(k) => {
            let sh = k.header.shape;
            header += &format!(
                "// Generated by veriflop-contracts {} from a verifying key. Do not edit.\n",
                env!("CARGO_PKG_VERSION")
            );
            header +=
                &format!("// Circuit: {}, shape: {}, key fingerprint: {}.\n", k.header.kind, sh.id(), k.fingerprint());
            key_decl += "    // The shape this key proves (m x k times k x n, dtype code).\n";
            key_decl += &format!("    uint32 internal constant SHAPE_M = {};\n", sh.m);
            key_decl += &format!("    uint32 internal constant SHAPE_K = {};\n", sh.k);
            key_decl += &format!("    uint32 internal constant SHAPE_N = {};\n", sh.n);
            key_decl += &format!("    uint8 internal constant SHAPE_DTYPE = {};\n", sh.dtype.code());
            key_decl +=
                &format!("    // The seed's first 34 bytes: \"{FS_TAG}\" ‖ m ‖ k ‖ n (uint32) ‖ dtype (uint8).\n");
            let [p0, p1] = seed_prefix_words(&sh);
            key_decl += &format!("    uint256 internal constant SEED_PREFIX0 = {};\n", hex_word(&p0));
            key_decl += &format!("    uint256 internal constant SEED_PREFIX1 = {};\n", hex_word(&p1));
            key_decl += "\n    // Verifying key. G2 coordinates in the precompile's order (c1, c0).\n";
            for (nm, word) in names.iter().zip(vk_words(k)) {
                key_decl += &format!("    uint256 internal constant {nm} = {};\n", hex_word(&word));
            }
        }
        CpForm::Immutables => {
            header += "// Generated by veriflop-contracts (`generic_committed_verifier_source()`); a test checks\n";
            header += "// this file matches the generator. Do not edit by hand.\n";
            key_decl += "    // The shape this key proves (m x k times k x n, dtype code).\n";
            key_decl += "    uint32 internal immutable SHAPE_M;\n";
            key_decl += "    uint32 internal immutable SHAPE_K;\n";
            key_decl += "    uint32 internal immutable SHAPE_N;\n";
            key_decl += "    uint8 internal immutable SHAPE_DTYPE;\n";
            key_decl +=
                &format!("    // The seed's first 34 bytes: \"{FS_TAG}\" ‖ m ‖ k ‖ n (uint32) ‖ dtype (uint8).\n");
            key_decl += "    uint256 internal immutable SEED_PREFIX0;\n";
            key_decl += "    uint256 internal immutable SEED_PREFIX1;\n";
            key_decl += "\n    // Verifying key, copied into the runtime code at deployment (read like constants).\n";
            key_decl += "    // G2 coordinates in the precompile's order (c1, c0).\n";
            for nm in &names {
                key_decl += &format!("    uint256 internal immutable {nm};\n");
            }
            key_decl += "\n";
            key_decl += "    /// @param vk the key words: alpha (x, y); beta, gamma, delta (x.c1, x.c0, y.c1, y.c0);\n";
            key_decl += "    /// IC0..IC3 (x, y); sigma*delta (x.c1, x.c0, y.c1, y.c0). The deployer vouches for the\n";
            key_decl +=
                "    /// key and its shape (public and checkable: compare with `veriflop-contracts`' `vk_words`).\n";
            key_decl += "    /// @param m rows of A and C\n";
            key_decl += "    /// @param k columns of A, rows of B\n";
            key_decl += "    /// @param n columns of B and C\n";
            key_decl += "    /// @param dtype the entries' type code (1 int8, 2 int16, 3 int32)\n";
            key_decl += &format!(
                "    constructor(uint256[{}] memory vk, uint32 m, uint32 k, uint32 n, uint8 dtype) {{\n",
                names.len()
            );
            for (i, nm) in names.iter().enumerate() {
                key_decl += &format!("        {nm} = vk[{i}];\n");
            }
            key_decl +=
                "        SHAPE_M = m;\n        SHAPE_K = k;\n        SHAPE_N = n;\n        SHAPE_DTYPE = dtype;\n";
            key_decl += &format!("        bytes memory prefix = abi.encodePacked(\"{FS_TAG}\", m, k, n, dtype);\n");
            key_decl += "        uint256 p0;\n        uint256 p1;\n";
            key_decl += "        assembly (\"memory-safe\") {\n";
            key_decl += "            p0 := mload(add(prefix, 0x20))\n";
            key_decl += "            p1 := and(mload(add(prefix, 0x40)), shl(240, 0xffff))\n";
            key_decl += "        }\n";
            key_decl += "        SEED_PREFIX0 = p0;\n        SEED_PREFIX1 = p1;\n";
            key_decl += "    }\n";
        }
    }

    let mut k_init = String::new();
    for (i, nm) in k_names.iter().enumerate() {
        let sep = if i + 1 == k_names.len() { "" } else { "," };
        let cast = if i == 0 { format!("uint256({nm})") } else { nm.clone() };
        k_init += &format!("            {cast}{sep}\n");
    }
    let copy = |dst: usize, names: &[&str]| -> String {
        names
            .iter()
            .enumerate()
            .map(|(j, nm)| format!("            mstore(add(m, {:#x}), mload(add(k, {})))\n", dst + 32 * j, at(nm)))
            .collect()
    };
    let alpha_beta = copy(0xc0, &["ALPHA_X", "ALPHA_Y", "BETA_X1", "BETA_X0", "BETA_Y1", "BETA_Y0"]);
    let gamma = copy(0x1c0, &["GAMMA_X1", "GAMMA_X0", "GAMMA_Y1", "GAMMA_Y0"]);
    let delta = copy(0x280, &["DELTA_X1", "DELTA_X0", "DELTA_Y1", "DELTA_Y0"]);
    let sigma = copy(0x340, &["SIGMA_DELTA_X1", "SIGMA_DELTA_X0", "SIGMA_DELTA_Y1", "SIGMA_DELTA_Y0"]);

    let body = COMMITTED_TEMPLATE
        .replace("__HEADER__", &header)
        .replace("__NAME__", &name)
        .replace("__R__", R_HEX)
        .replace("__Q__", Q_HEX)
        .replace("__KEY__", &key_decl)
        .replace("__NWORDS__", &k_names.len().to_string())
        .replace("__KINIT__", &k_init)
        .replace("__ERR_PROOF__", &format!("{:#010x}", ERR_PROOF_NOT_IN_FIELD.1))
        .replace("__ERR_INPUT__", &format!("{:#010x}", ERR_INPUT_NOT_IN_FIELD.1))
        .replace("__ERR_PRECOMPILE__", &format!("{:#010x}", ERR_PRECOMPILE_FAILED.1))
        .replace("__SEED0__", &at("SEED_PREFIX0"))
        .replace("__SEED1__", &at("SEED_PREFIX1"))
        .replace("__IC0X__", &at("IC0_X"))
        .replace("__IC0Y__", &at("IC0_Y"))
        .replace("__IC1X__", &at("IC1_X"))
        .replace("__IC1Y__", &at("IC1_Y"))
        .replace("__IC2X__", &at("IC2_X"))
        .replace("__IC2Y__", &at("IC2_Y"))
        .replace("__IC3X__", &at("IC3_X"))
        .replace("__IC3Y__", &at("IC3_Y"))
        .replace("__ALPHA_BETA__", &alpha_beta)
        .replace("__GAMMA__", &gamma)
        .replace("__DELTA__", &delta)
        .replace("__SIGMA__", &sigma);
    debug_assert!(!body.contains("__"), "unreplaced template marker");
    body
}

/// The committed verifier. Memory past the free memory pointer (never
/// allocated: nothing else runs before `verifyProof` returns) is used as:
/// - bytes 0x000-0x161 at `m`: the hash preimages (seed, then ρ's);
/// - words 0-29 at `m`: the pairing input, five (G1, G2) pairs of 6 words;
/// - words 0-4 at `s = m + 0x3c0`: ecAdd / ecMul scratch.
const COMMITTED_TEMPLATE: &str = r#"// SPDX-License-Identifier: Apache-2.0
__HEADER__pragma solidity ^0.8.20;

/// @title Verifier of veriflop's committed-circuit matmul proofs: Groth16 over BN254 with the
/// data commitments as part of the input sum and a folded proof of knowledge of cmC's opening
/// (EIP-196/197 precompiles; docs/PROTOCOL.md section 7).
/// @notice `verifyProof` returns true iff the proof shows C = A*B for job `jobId`, payable to
/// `provider`, where A, B, C are the matrices committed to by the points cmA, cmB, cmC under
/// this key's commitment bases. It derives everything else itself: the digests
/// d_X = keccak256(x || y) mod r of the points, the seed
/// keccak256("veriflop/v2/freivalds" || m || k || n || dtype || jobId || provider || d_A || d_B || d_C),
/// the Freivalds challenge r = keccak256(seed || 0x01) mod r_F and the folding challenge
/// rho = keccak256(seed || 0x03 || A || B || C || pok) mod r_F, and checks
/// e(-A, B) e(alpha, beta) e(X, gamma) e(C + rho*pok, delta) e(-rho*cmC, sigma*delta) = 1,
/// X = IC0 + jobId*IC1 + provider*IC2 + r*IC3 + cmA + cmB + cmC.
/// It reverts, never returns false, when an input is malformed or a precompile call fails
/// (including a call starved of gas by its caller): `false` always means "pairing check failed".
contract __NAME__ {
    /// A proof or commitment coordinate is not below the base field modulus q.
    error ProofCoordinateNotInField();
    /// The job id is not below the scalar field modulus r.
    error PublicInputNotInField();
    /// ecAdd, ecMul or the pairing failed: a point is not on the curve or in the
    /// subgroup, or the call ran out of gas.
    error PrecompileFailed();

    uint256 internal constant R = __R__;
    uint256 internal constant Q = __Q__;

__KEY__
    /// The shape this verifier is for: A is m x k, B is k x n, dtype code (1 int8, 2 int16, 3 int32).
    function shape() external view returns (uint32 m, uint32 k, uint32 n, uint8 dtype) {
        return (SHAPE_M, SHAPE_K, SHAPE_N, SHAPE_DTYPE);
    }

    /// @param proof [A.x, A.y, B.x1, B.x0, B.y1, B.y0, C.x, C.y]
    /// @param cmA the commitment of A (x, y); (0, 0) is the identity
    /// @param cmB the commitment of B
    /// @param cmC the commitment of C
    /// @param pok the proof of knowledge of cmC's opening (sigma*cmC)
    /// @param jobId the job id, below r
    /// @param provider the address the proof pays
    function verifyProof(
        uint256[8] calldata proof,
        uint256[2] calldata cmA,
        uint256[2] calldata cmB,
        uint256[2] calldata cmC,
        uint256[2] calldata pok,
        uint256 jobId,
        address provider
    ) external view returns (bool valid) {
        uint256[__NWORDS__] memory k = [
__KINIT__        ];
        assembly ("memory-safe") {
            function fail(selector) {
                mstore(0, shl(224, selector))
                revert(0, 4)
            }
            // Every coordinate is a canonical base field element: the precompiles check
            // the points; this also rules out y + q (which would negate to the same point)
            // and gives each point one encoding, the one the digests and rho hash.
            {
                let bad := 0
                for { let i := 0 } lt(i, 0x100) { i := add(i, 0x20) } {
                    bad := or(bad, iszero(lt(calldataload(add(proof, i)), Q)))
                }
                bad := or(bad, iszero(lt(calldataload(cmA), Q)))
                bad := or(bad, iszero(lt(calldataload(add(cmA, 0x20)), Q)))
                bad := or(bad, iszero(lt(calldataload(cmB), Q)))
                bad := or(bad, iszero(lt(calldataload(add(cmB, 0x20)), Q)))
                bad := or(bad, iszero(lt(calldataload(cmC), Q)))
                bad := or(bad, iszero(lt(calldataload(add(cmC, 0x20)), Q)))
                bad := or(bad, iszero(lt(calldataload(pok), Q)))
                bad := or(bad, iszero(lt(calldataload(add(pok, 0x20)), Q)))
                if bad { fail(__ERR_PROOF__) }
            }
            if iszero(lt(jobId, R)) { fail(__ERR_INPUT__) }

            let m := mload(0x40)
            let s := add(m, 0x3c0)
            // seed = keccak256(prefix (34 bytes) || jobId || provider || d_A || d_B || d_C)
            mstore(m, mload(add(k, __SEED0__)))
            mstore(add(m, 0x20), mload(add(k, __SEED1__)))
            mstore(add(m, 0x22), jobId)
            mstore(add(m, 0x42), provider)
            calldatacopy(s, cmA, 0x40)
            mstore(add(m, 0x62), mod(keccak256(s, 0x40), R))
            calldatacopy(s, cmB, 0x40)
            mstore(add(m, 0x82), mod(keccak256(s, 0x40), R))
            calldatacopy(s, cmC, 0x40)
            mstore(add(m, 0xa2), mod(keccak256(s, 0x40), R))
            mstore(m, keccak256(m, 0xc2))
            // r = keccak256(seed || 0x01) mod r_F
            mstore8(add(m, 0x20), 1)
            let r := mod(keccak256(m, 0x21), R)
            // rho = keccak256(seed || 0x03 || A || B || C || pok) mod r_F
            mstore8(add(m, 0x20), 3)
            calldatacopy(add(m, 0x21), proof, 0x100)
            calldatacopy(add(m, 0x121), pok, 0x40)
            let rho := mod(keccak256(m, 0x161), R)

            // X = IC0 + cmA + cmB + cmC + jobId*IC1 + provider*IC2 + r*IC3, summed at s;
            // words 2-4 of s hold ecMul's input (point, scalar) and then its output.
            mstore(s, mload(add(k, __IC0X__)))
            mstore(add(s, 0x20), mload(add(k, __IC0Y__)))
            let ok := 1
            calldatacopy(add(s, 0x40), cmA, 0x40)
            ok := and(ok, staticcall(gas(), 0x06, s, 0x80, s, 0x40))
            calldatacopy(add(s, 0x40), cmB, 0x40)
            ok := and(ok, staticcall(gas(), 0x06, s, 0x80, s, 0x40))
            calldatacopy(add(s, 0x40), cmC, 0x40)
            ok := and(ok, staticcall(gas(), 0x06, s, 0x80, s, 0x40))
            mstore(add(s, 0x40), mload(add(k, __IC1X__)))
            mstore(add(s, 0x60), mload(add(k, __IC1Y__)))
            mstore(add(s, 0x80), jobId)
            ok := and(ok, staticcall(gas(), 0x07, add(s, 0x40), 0x60, add(s, 0x40), 0x40))
            ok := and(ok, staticcall(gas(), 0x06, s, 0x80, s, 0x40))
            mstore(add(s, 0x40), mload(add(k, __IC2X__)))
            mstore(add(s, 0x60), mload(add(k, __IC2Y__)))
            mstore(add(s, 0x80), provider)
            ok := and(ok, staticcall(gas(), 0x07, add(s, 0x40), 0x60, add(s, 0x40), 0x40))
            ok := and(ok, staticcall(gas(), 0x06, s, 0x80, s, 0x40))
            mstore(add(s, 0x40), mload(add(k, __IC3X__)))
            mstore(add(s, 0x60), mload(add(k, __IC3Y__)))
            mstore(add(s, 0x80), r)
            ok := and(ok, staticcall(gas(), 0x07, add(s, 0x40), 0x60, add(s, 0x40), 0x40))
            // the last addition writes X into pair 2
            ok := and(ok, staticcall(gas(), 0x06, s, 0x80, add(m, 0x180), 0x40))
            // C + rho*pok into pair 3
            calldatacopy(add(s, 0x40), pok, 0x40)
            mstore(add(s, 0x80), rho)
            ok := and(ok, staticcall(gas(), 0x07, add(s, 0x40), 0x60, add(s, 0x40), 0x40))
            calldatacopy(s, add(proof, 0xc0), 0x40)
            ok := and(ok, staticcall(gas(), 0x06, s, 0x80, add(m, 0x240), 0x40))
            // -(rho*cmC) into pair 4: -(x, y) = (x, (q - y) mod q)
            calldatacopy(add(s, 0x40), cmC, 0x40)
            mstore(add(s, 0x80), rho)
            ok := and(ok, staticcall(gas(), 0x07, add(s, 0x40), 0x60, add(m, 0x300), 0x40))
            if iszero(ok) { fail(__ERR_PRECOMPILE__) }
            mstore(add(m, 0x320), mod(sub(Q, mload(add(m, 0x320))), Q))

            // Pairing input (6 words a pair):
            //  0 (-A, B) | 6 (alpha, beta) | 12 (X, gamma) | 18 (C + rho*pok, delta) | 24 (-rho*cmC, sigma*delta)
            mstore(m, calldataload(proof))
            mstore(add(m, 0x20), mod(sub(Q, calldataload(add(proof, 0x20))), Q))
            calldatacopy(add(m, 0x40), add(proof, 0x40), 0x80)
__ALPHA_BETA____GAMMA____DELTA____SIGMA__            // One pairing call over the five pairs; it must succeed and return one word
            // (a missing precompile would "succeed" with no output).
            ok := staticcall(gas(), 0x08, m, 0x3c0, m, 0x20)
            if iszero(and(ok, eq(returndatasize(), 0x20))) { fail(__ERR_PRECOMPILE__) }
            valid := eq(mload(m), 1)
        }
    }
}
"#;

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

    /// The committed generic committed-circuit verifier is exactly what the generator produces.
    #[test]
    fn committed_generic_cp_verifier_matches_generator() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/CommittedVerifier.sol");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let want = generic_committed_verifier_source();
        if committed != want {
            if std::env::var_os("VERIFLOP_BLESS").is_some() {
                std::fs::write(path, &want).unwrap();
                return;
            }
            panic!(
                "contracts/src/CommittedVerifier.sol differs from generic_committed_verifier_source(): run \
                 `VERIFLOP_BLESS=1 cargo test -p veriflop-contracts --lib` then `contracts/build.sh`"
            );
        }
    }

    #[test]
    fn seed_prefix_is_the_native_seeds_start() {
        let shape = Shape::new(2, 3, 4, veriflop_circuits::Dtype::Int16).unwrap();
        let [p0, p1] = seed_prefix_words(&shape);
        let mut want = b"veriflop/v2/freivalds".to_vec();
        want.extend([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 2]);
        assert_eq!([&p0[..], &p1[..2]].concat(), want);
        assert_eq!(p1[2..], [0u8; 30]);
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
