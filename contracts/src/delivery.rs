//! Delivery receipts for on-chain jobs (`JobEscrow.postJobWithDelivery`,
//! `attestDelivery`): the EIP-712 hash an attestor signs to say it holds a job's
//! result C, signing and recovering such receipts, and the hash of an attestor
//! set as the escrow stores it.
//!
//! A proof shows C = A·B; it does not show the client can get C. A job posted
//! with delivery pays only once `threshold` of its attestors (data-plane
//! operators) signed `Delivery(jobId, cmC)` for the cmC the proof settles with
//! (`JobSettled`'s value: [`cm_c_word`]). The domain (name "veriflop", version
//! "1", chain id, escrow address) and the job id keep a receipt from counting for
//! another job, escrow or chain. Everything here mirrors the contract exactly;
//! the tests compare it with the contract's own views.

use alloy_sol_types::SolValue;
use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::scalar::IsHigh;
use revm::primitives::{keccak256, Address, U256};
use veriflop_circuits::JobId;
use veriflop_verifier::ProofBundle;

use crate::settle::fr_u256;

/// Most attestors a delivery job may name (`JobEscrow.MAX_ATTESTORS`).
pub const MAX_ATTESTORS: usize = 16;
/// EIP-712 domain name and version of the receipts.
pub const DOMAIN_NAME: &str = "veriflop";
pub const DOMAIN_VERSION: &str = "1";
/// The EIP-712 type of a receipt.
pub const DELIVERY_TYPE: &str = "Delivery(uint256 jobId,uint256 cmC)";
const DOMAIN_TYPE: &str = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";

/// The EIP-712 domain separator of the escrow at `escrow` on chain `chain_id`
/// (`JobEscrow.deliveryDomain()`).
pub fn delivery_domain_separator(chain_id: u64, escrow: [u8; 20]) -> [u8; 32] {
    let words = (
        keccak256(DOMAIN_TYPE),
        keccak256(DOMAIN_NAME),
        keccak256(DOMAIN_VERSION),
        U256::from(chain_id),
        Address::from(escrow),
    );
    keccak256(words.abi_encode()).0
}

/// The EIP-712 hash of the receipt `Delivery(job_id, cm_c)` for that escrow
/// (`JobEscrow.deliveryDigest(jobId, cmC)`): what an attestor signs once it holds
/// a C committing to `cm_c` (a big-endian word, see [`cm_c_word`]).
pub fn delivery_digest(chain_id: u64, escrow: [u8; 20], job_id: &JobId, cm_c: [u8; 32]) -> [u8; 32] {
    let struct_hash = keccak256((keccak256(DELIVERY_TYPE), fr_u256(&job_id.0), U256::from_be_bytes(cm_c)).abi_encode());
    let mut m = Vec::with_capacity(66);
    m.extend_from_slice(b"\x19\x01");
    m.extend_from_slice(&delivery_domain_separator(chain_id, escrow));
    m.extend_from_slice(struct_hash.as_slice());
    keccak256(m).0
}

/// The cmC a bundle settles with, as `JobSettled` emits it and a receipt must
/// name: the digest of C's commitment point for the committed circuit, the
/// Poseidon commitment otherwise (both are the statement's `cm_c`).
pub fn cm_c_word(bundle: &ProofBundle) -> [u8; 32] {
    fr_u256(&bundle.statement.cm_c).to_be_bytes()
}

/// Signs a receipt digest: 65 bytes r ‖ s ‖ v with v = 27 / 28 and a low s (k256
/// normalises s and adjusts the recovery id), what `attestDelivery` accepts.
pub fn sign_delivery(key: &SigningKey, digest: &[u8; 32]) -> [u8; 65] {
    let (sig, recid) = key.sign_prehash_recoverable(digest).expect("signing a 32-byte prehash");
    // An x-coordinate of k·G above n (probability ~2^-128) has no Ethereum v.
    assert!(!recid.is_x_reduced(), "recovery id {} has no Ethereum v", recid.to_byte());
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&sig.to_bytes());
    out[64] = 27 + recid.to_byte();
    out
}

/// The signer of a receipt, by the contract's rules: `None` unless v is 27 or 28,
/// r and s are in range with s low (≤ n/2: the high twin of a signature is
/// refused, so a signature cannot be malleated into a second one), and a key is
/// recovered.
pub fn recover_attestor(digest: &[u8; 32], sig: &[u8; 65]) -> Option<[u8; 20]> {
    let signature = Signature::from_slice(&sig[..64]).ok()?;
    if bool::from(signature.s().is_high()) {
        return None;
    }
    let recid = match sig[64] {
        27 | 28 => RecoveryId::from_byte(sig[64] - 27)?,
        _ => return None,
    };
    let key = VerifyingKey::recover_from_prehash(digest, &signature, recid).ok()?;
    Some(address_of(&key))
}

/// The Ethereum address of an attestor's key.
pub fn attestor_address(key: &SigningKey) -> [u8; 20] {
    address_of(key.verifying_key())
}

fn address_of(key: &VerifyingKey) -> [u8; 20] {
    let point = key.to_encoded_point(false);
    keccak256(&point.as_bytes()[1..])[12..].try_into().expect("20 bytes")
}

/// `keccak256(abi.encode(attestors, threshold))`: what JobEscrow stores for a
/// delivery job (`attestorsOf[jobId]`, no getter), and what `attestDelivery`'s list
/// and threshold must hash to.
pub fn attestor_set_hash(attestors: &[Address], threshold: u8) -> [u8; 32] {
    // A uint8 is encoded as one word, like a uint256 of the same value.
    keccak256((attestors.to_vec(), U256::from(threshold)).abi_encode_params()).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::IJobEscrow;
    use crate::evm::Chain;
    use crate::settle::{deploy_escrow, job_id_from_word};
    use alloy_sol_types::SolCall;
    use ark_ff::PrimeField;

    const OWNER: Address = Address::new([0xa0; 20]);

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32].into()).unwrap()
    }

    fn job_ids() -> Vec<JobId> {
        let r_minus_1 = -ark_bn254::Fr::from(1u64);
        vec![
            JobId(ark_bn254::Fr::from(0u64)),
            JobId(ark_bn254::Fr::from(1u64)),
            JobId(r_minus_1),
            JobId(ark_bn254::Fr::from_be_bytes_mod_order(&[0x5a; 32])),
        ]
    }

    #[test]
    fn digest_matches_the_contract() {
        // Three chain ids, two deployments each: another chain or address is another domain.
        let mut domains = std::collections::HashSet::new();
        for chain_id in [1u64, 31337, u64::MAX] {
            let mut chain = Chain::with_chain_id(chain_id);
            for _ in 0..2 {
                let (escrow, _) = deploy_escrow(&mut chain, OWNER, OWNER).unwrap();
                let e = escrow.into_array();
                let out = chain.view(escrow, IJobEscrow::deliveryDomainCall {}.abi_encode()).unwrap();
                let d = IJobEscrow::deliveryDomainCall::abi_decode_returns(&out).unwrap();
                assert_eq!(d.0, delivery_domain_separator(chain_id, e));
                assert!(domains.insert(d.0));
                for id in job_ids() {
                    for cm_c in [[0u8; 32], [0xff; 32], [0x11; 32]] {
                        let call =
                            IJobEscrow::deliveryDigestCall { jobId: fr_u256(&id.0), cmC: U256::from_be_bytes(cm_c) };
                        let out = chain.view(escrow, call.abi_encode()).unwrap();
                        let h = IJobEscrow::deliveryDigestCall::abi_decode_returns(&out).unwrap();
                        assert_eq!(h.0, delivery_digest(chain_id, e, &id, cm_c), "chain {chain_id} job {id}");
                    }
                }
            }
        }
        // The job id word round-trips as the escrow returns it.
        assert_eq!(job_id_from_word(fr_u256(&job_ids()[2].0)).unwrap(), job_ids()[2]);
    }

    #[test]
    fn sign_and_recover_round_trip() {
        let n = U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).unwrap();
        for i in 1..=8u8 {
            let k = key(i);
            for id in job_ids() {
                let digest = delivery_digest(31337, [0xab; 20], &id, [i; 32]);
                let sig = sign_delivery(&k, &digest);
                assert!(sig[64] == 27 || sig[64] == 28);
                assert!(U256::from_be_slice(&sig[32..64]) <= n >> 1, "low s");
                assert_eq!(recover_attestor(&digest, &sig), Some(attestor_address(&k)));
                // Another digest recovers someone else.
                let other = delivery_digest(31337, [0xab; 20], &id, [i ^ 1; 32]);
                assert_ne!(recover_attestor(&other, &sig), Some(attestor_address(&k)));
                // v as 0 / 1, or flipped to the other parity's 27 / 28 and s to n - s
                // (the malleated twin, which ecrecover alone would accept): refused.
                let mut raw = sig;
                raw[64] -= 27;
                assert_eq!(recover_attestor(&digest, &raw), None);
                let mut twin = sig;
                twin[32..64].copy_from_slice(&(n - U256::from_be_slice(&sig[32..64])).to_be_bytes::<32>());
                twin[64] = 55 - sig[64]; // 27 <-> 28
                assert_eq!(recover_attestor(&digest, &twin), None);
            }
        }
        // The attestor-set hash is abi.encode(address[], uint8).
        let set = [Address::new([1; 20]), Address::new([2; 20])];
        let mut enc = Vec::new();
        for w in [U256::from(0x40), U256::from(2), U256::from(2)] {
            enc.extend(w.to_be_bytes::<32>());
        }
        for a in set {
            enc.extend([0u8; 12]);
            enc.extend(a.as_slice());
        }
        assert_eq!(attestor_set_hash(&set, 2), keccak256(enc).0);
    }
}
