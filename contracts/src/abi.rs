//! ABI of our contracts (encoding with `alloy-sol-types`) and revert decoding.

// `sol!` expands events with many fields into functions with many arguments.
#![allow(clippy::too_many_arguments)]

use alloy_sol_types::sol;
use std::collections::HashMap;
use std::sync::OnceLock;

sol! {
    /// `contracts/src/JobEscrow.sol`.
    interface IJobEscrow {
        function postJob(uint256 nonce, uint128 shape, uint256 cmA, uint256 cmB, uint40 deadline, uint32 lockWindow, uint128 lockStake) external payable returns (uint256 jobId);
        function postJobWithDelivery(uint256 nonce, uint128 shape, uint256 cmA, uint256 cmB, uint40 deadline, uint32 lockWindow, uint128 lockStake, address[] calldata attestors, uint8 threshold) external payable returns (uint256 jobId);
        function attestDelivery(uint256 jobId, uint256 cmC, address[] calldata attestors, uint8 threshold, bytes[] calldata signatures) external;
        function deliveryDomain() external view returns (bytes32);
        function deliveryDigest(uint256 jobId, uint256 cmC) external view returns (bytes32);
        function delivered(uint256 jobId, uint256 cmC) external view returns (bool);
        function venue() external view returns (bytes32);
        function jobIdOf(address client, uint256 nonce) external view returns (uint256);
        function lock(uint256 jobId) external payable;
        function submit(uint256 jobId, uint256[8] calldata proof, uint256[2] calldata cmA, uint256[2] calldata cmB, uint256[2] calldata cmC, uint256[2] calldata pok) external;
        function submitPoseidon(uint256 jobId, uint256 cmC, uint256[8] calldata proof) external;
        function submitHalo2(uint256 jobId, uint256 cmC, bytes calldata proof) external;
        function submitInference(uint256 jobId, uint256[8] calldata proof, uint256[2] calldata cmIn, uint256[2] calldata cmHidden, uint256[2] calldata cmOut, uint256[2] calldata pokHidden, uint256[2] calldata pokOut) external;
        function inferenceKey(uint128 shape, uint256 model) external pure returns (uint128);
        function retired(uint128 shape) external view returns (bool);
        function slashLock(uint256 jobId) external;
        function refund(uint256 jobId) external;
        function withdraw() external;
        function registerVerifier(uint128 shape, address verifier) external;
        function retireShape(uint128 shape) external;
        function transferOwnership(address newOwner) external;
        function acceptOwnership() external;
        function owner() external view returns (address);
        function verifierOf(uint128 shape) external view returns (address);
        function codeHashOf(uint128 shape) external view returns (bytes32);
        function owed(address account) external view returns (uint256);
        function publicInputs(uint256 jobId, address provider, uint256 cmC) external view returns (uint256[5] memory);
        function jobs(uint256 jobId) external view returns (
            address client, uint40 deadline, uint32 lockWindow, uint8 status, bool delivery,
            address locker, uint40 lockUntil, uint128 price, uint128 lockStake,
            uint128 shape, uint256 cmA, uint256 cmB);

        event JobPosted(uint256 indexed jobId, address indexed client, uint128 indexed shape, uint256 cmA, uint256 cmB, uint256 price, uint256 deadline, uint256 lockWindow, uint256 lockStake);
        event JobLocked(uint256 indexed jobId, address indexed provider, uint256 stake, uint256 lockUntil);
        event StakeSlashed(uint256 indexed jobId, address indexed provider, address indexed client, uint256 stake);
        event JobReopened(uint256 indexed jobId);
        event JobSettled(uint256 indexed jobId, address indexed provider, uint256 cmC, uint256 price, uint256 stakeReturned);
        event JobRefunded(uint256 indexed jobId, address indexed client, uint256 price);
        event Withdrawn(address indexed account, uint256 amount);
        event VerifierRegistered(uint128 indexed shape, address verifier);
        event InferenceVerifierRegistered(uint128 indexed shape, uint256 indexed model, uint128 key, address verifier);
        event DeliveryRequired(uint256 indexed jobId, address[] attestors, uint8 threshold);
        event DeliveryAttested(uint256 indexed jobId, uint256 cmC);

        error BadAttestors();
        error DeliveryNotRequired(uint256 jobId);
        error WrongAttestors(uint256 jobId);
        error NotEnoughReceipts(uint256 jobId, uint256 have, uint256 need);
        error BadReceipt(uint256 jobId, uint256 index);
        error ReceiptOutOfOrder(uint256 jobId, uint256 index);
        error NotAttestor(uint256 jobId, uint256 index, address signer);
        error NotDelivered(uint256 jobId, uint256 cmC);
    }

    /// The committed-circuit verifiers (`CommittedVerifier` and `solidity_verifier` output for a committed key).
    interface ICommittedVerifier {
        function verifyProof(uint256[8] calldata proof, uint256[2] calldata cmA, uint256[2] calldata cmB, uint256[2] calldata cmC, uint256[2] calldata pok, uint256 jobId, address provider) external view returns (bool valid);
        function shape() external view returns (uint32 m, uint32 k, uint32 n, uint8 dtype);
    }

    /// `contracts/src/InferenceVerifier.sol`: one per model and batch size.
    interface IInferenceVerifier {
        function verifyProof(uint256[8] calldata proof, uint256[2] calldata cmIn, uint256[2] calldata cmHidden, uint256[2] calldata cmOut, uint256[2] calldata pokHidden, uint256[2] calldata pokOut, uint256 jobId, address provider, uint256 model) external view returns (bool valid);
        function model() external view returns (uint256);
        function modelDigest() external view returns (bytes32);
        function shape() external view returns (uint32 batch, uint32 dIn, uint32 dOut);
    }

    /// The Poseidon / naive circuits' verifiers (`Groth16Verifier` and `solidity_verifier` output).
    interface IGroth16Verifier {
        function verifyProof(uint256[8] calldata proof, uint256[5] calldata input) external view returns (bool valid);
    }

    /// `contracts/src/test/ReentrantProvider.sol` (tests only).
    interface IReentrantProvider {
        function setReenterCall(bytes calldata data) external;
        function act(bytes calldata data) external payable;
        function reentered() external view returns (bool);
        function reenterError() external view returns (bytes memory);
        function received() external view returns (uint256);
    }

    /// `contracts/src/test/VanishingVerifier.sol` (tests only): registers a verifier
    /// and makes it self-destruct in the same transaction; redeploys other code at
    /// its address later (CREATE2).
    interface IVanishingVerifierFactory {
        function registerAndDestroy(address escrow, uint128 shape, bytes32 salt) external returns (address verifier);
        function redeploy(bytes32 salt, bytes calldata code) external returns (address);
        function nextCode() external view returns (bytes memory);
    }
}

/// Job status as stored by JobEscrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    None,
    Open,
    Paid,
    Refunded,
}

impl JobStatus {
    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => JobStatus::None,
            1 => JobStatus::Open,
            2 => JobStatus::Paid,
            3 => JobStatus::Refunded,
            _ => return None,
        })
    }
}

fn error_table() -> &'static HashMap<[u8; 4], String> {
    static T: OnceLock<HashMap<[u8; 4], String>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = HashMap::new();
        for a in crate::artifacts::all() {
            for e in a.abi.as_array().into_iter().flatten() {
                if e["type"] != "error" {
                    continue;
                }
                let name = e["name"].as_str().unwrap_or_default();
                let args: Vec<&str> = e["inputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| i["type"].as_str().unwrap_or_default())
                    .collect();
                let sig = format!("{name}({})", args.join(","));
                let sel = revm::primitives::keccak256(sig.as_bytes());
                t.insert(sel[..4].try_into().unwrap(), sig);
            }
        }
        t
    })
}

/// The selector of a custom error, from its signature (`"InvalidProof(uint256)"`).
pub fn selector(signature: &str) -> [u8; 4] {
    revm::primitives::keccak256(signature.as_bytes())[..4].try_into().unwrap()
}

/// Human-readable revert reason: our custom errors by name (arguments as hex
/// words), `Error(string)`, `Panic(uint256)`, or the raw bytes.
pub fn decode_revert(out: &[u8]) -> String {
    if out.is_empty() {
        return "reverted without a reason".into();
    }
    if out.len() >= 4 {
        let sel: [u8; 4] = out[..4].try_into().unwrap();
        let args: Vec<String> = out[4..].chunks(32).map(|w| format!("0x{}", hex::encode(w))).collect();
        if sel == selector("Error(string)") && out.len() >= 68 {
            use alloy_sol_types::SolValue;
            if let Ok(s) = String::abi_decode(&out[4..]) {
                return s;
            }
        }
        if sel == selector("Panic(uint256)") {
            return format!("panic {}", args.join(","));
        }
        if let Some(sig) = error_table().get(&sel) {
            let name = sig.split('(').next().unwrap_or(sig);
            return if args.is_empty() { name.to_string() } else { format!("{name}({})", args.join(", ")) };
        }
    }
    format!("0x{}", hex::encode(out))
}
