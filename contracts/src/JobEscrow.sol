// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// The verifier interface of veriflop's committed-circuit proofs (generated
/// `CommittedVerifier`s / `solidity_verifier` of a committed key).
interface ICommittedVerifier {
    function verifyProof(
        uint256[8] calldata proof,
        uint256[2] calldata cmA,
        uint256[2] calldata cmB,
        uint256[2] calldata cmC,
        uint256[2] calldata pok,
        uint256 jobId,
        address provider
    ) external view returns (bool);
}

/// The verifier interface of the Poseidon / naive circuits' proofs (generated `Groth16Verifier`s).
interface IGroth16Verifier {
    function verifyProof(uint256[8] calldata proof, uint256[5] calldata input) external view returns (bool);
}

/// @title JobEscrow: pay a GPU provider for a matmul job only against a valid proof.
/// @notice A client posts a job (circuit and shape, digests of the commitments of A
/// and B, deadline) with the price in ETH. For the committed circuit (the default) a
/// provider submits the proof with the commitment points of A, B, C and the proof of
/// knowledge of C's opening; the contract checks that A's and B's points hash to the
/// digests it recorded, and the registered verifier derives every challenge from
/// `jobId`, `msg.sender` and the points, so a proof only pays the provider it was made
/// for (a proof copied from the mempool is useless to anyone else). Jobs of the
/// Poseidon circuits are settled by `submitPoseidon` with public inputs
/// `[jobId, msg.sender, cmA, cmB, cmC]` rebuilt from the record. Either way the
/// provider is paid exactly once; after the deadline the client takes the price back.
///
/// Exclusive locks: a provider may lock an open job for `lockWindow` seconds by
/// depositing `lockStake` (both set by the client). While the lock lasts only
/// that provider can submit; a valid proof in time returns its stake with the
/// price. When the window ends without a valid proof, the whole stake is owed to
/// the client (see docs/CONTRACTS.md for why all of it, and to nobody else) and
/// the job reopens.
///
/// Registry: one verifier per (circuit, shape), set once by the owner and never
/// changed; the owner can retire one (no new jobs), which does not affect posted jobs.
contract JobEscrow {
    /// BN254 scalar field modulus: public inputs must be below it.
    uint256 internal constant R = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;
    /// Circuit codes (bits 104-111 of a shape id).
    uint256 internal constant CIRCUIT_POSEIDON = 1;
    uint256 internal constant CIRCUIT_NAIVE = 2;
    uint256 internal constant CIRCUIT_COMMITTED = 3;

    enum Status {
        None,
        Open,
        Paid,
        Refunded
    }

    struct Job {
        // slot 0
        address client;
        uint40 deadline; // last second a proof is accepted
        uint32 lockWindow; // seconds a lock lasts (0: locking disabled)
        Status status;
        // slot 1
        address locker; // provider holding the lock, or 0
        uint40 lockUntil; // the lock is exclusive while block.timestamp < lockUntil
        // slot 2
        uint128 price;
        uint128 lockStake;
        // slot 3
        uint128 shape; // circuit << 104 | dtype << 96 | m << 64 | k << 32 | n
        // slots 4, 5: for the committed circuit, digests keccak256(x || y) mod r of the points
        uint256 cmA;
        uint256 cmB;
    }

    /// The owner controls the shape registry (and nothing else).
    address public owner;
    address public pendingOwner;
    /// Shape id (circuit << 104 | dtype << 96 | m << 64 | k << 32 | n) => verifier. Write-once.
    mapping(uint128 => address) public verifierOf;
    /// Retired shapes accept no new jobs.
    mapping(uint128 => bool) public retired;
    mapping(uint256 => Job) public jobs;
    /// Forfeited stakes, withdrawn by the clients they are owed to.
    mapping(address => uint256) public owed;

    bool private transient entered;

    event OwnershipTransferStarted(address indexed owner, address indexed pendingOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event VerifierRegistered(uint128 indexed shape, address verifier);
    event ShapeRetired(uint128 indexed shape);
    event JobPosted(
        uint256 indexed jobId,
        address indexed client,
        uint128 indexed shape,
        uint256 cmA,
        uint256 cmB,
        uint256 price,
        uint256 deadline,
        uint256 lockWindow,
        uint256 lockStake
    );
    event JobLocked(uint256 indexed jobId, address indexed provider, uint256 stake, uint256 lockUntil);
    event StakeSlashed(uint256 indexed jobId, address indexed provider, address indexed client, uint256 stake);
    event JobReopened(uint256 indexed jobId);
    /// `cmC`: the result's commitment (committed circuit: the digest of its point).
    event JobSettled(uint256 indexed jobId, address indexed provider, uint256 cmC, uint256 price, uint256 stakeReturned);
    event JobRefunded(uint256 indexed jobId, address indexed client, uint256 price);
    event Withdrawn(address indexed account, uint256 amount);

    error NotOwner();
    error ZeroAddress();
    error NotAContract();
    error VerifierAlreadySet(uint128 shape);
    error UnknownShape(uint128 shape);
    error UnknownCircuit(uint128 shape);
    error WrongCircuit(uint256 jobId);
    /// The commitment point of A (which = 0) or B (which = 1) does not hash to the job's digest.
    error CommitmentMismatch(uint256 jobId, uint256 which);
    error JobIdNotInField();
    error CommitmentNotInField();
    error JobExists(uint256 jobId);
    error BadPayment();
    error BadDeadline();
    error BadLockTerms();
    error JobNotOpen(uint256 jobId);
    error DeadlinePassed(uint256 jobId);
    error DeadlineNotReached(uint256 jobId);
    error NotClient();
    error LockingDisabled(uint256 jobId);
    error AlreadyLocked(uint256 jobId, address provider, uint256 lockUntil);
    error LockedByOther(uint256 jobId, address provider, uint256 lockUntil);
    error LockPastDeadline(uint256 jobId);
    error WrongStake(uint256 expected);
    error NotLocked(uint256 jobId);
    error LockActive(uint256 jobId, uint256 lockUntil);
    error InvalidProof(uint256 jobId);
    error PaymentFailed();
    error NothingOwed();
    error Reentrancy();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    modifier nonReentrant() {
        if (entered) revert Reentrancy();
        entered = true;
        _;
        entered = false;
    }

    constructor(address owner_) {
        if (owner_ == address(0)) revert ZeroAddress();
        owner = owner_;
        emit OwnershipTransferred(address(0), owner_);
    }

    // ---------------------------------------------------------------- registry

    /// Starts a two-step ownership transfer (the new owner must accept).
    function transferOwnership(address newOwner) external onlyOwner {
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(owner, newOwner);
    }

    function acceptOwnership() external {
        if (msg.sender != pendingOwner) revert NotOwner();
        emit OwnershipTransferred(owner, msg.sender);
        owner = msg.sender;
        pendingOwner = address(0);
    }

    /// Registers the verifier of a (circuit, shape), once: jobs can then be posted for it.
    /// The verifier must have the circuit's interface (`ICommittedVerifier` for the
    /// committed circuit, `IGroth16Verifier` for the others).
    function registerVerifier(uint128 shape, address verifier) external onlyOwner {
        uint256 circuit = _circuit(shape);
        if (circuit == 0 || circuit > CIRCUIT_COMMITTED) revert UnknownCircuit(shape);
        if (verifierOf[shape] != address(0)) revert VerifierAlreadySet(shape);
        if (verifier.code.length == 0) revert NotAContract();
        verifierOf[shape] = verifier;
        emit VerifierRegistered(shape, verifier);
    }

    /// Stops new jobs for a shape (e.g. its key is no longer trusted). Posted jobs
    /// are unaffected: their clients may wait for the deadline and reclaim.
    function retireShape(uint128 shape) external onlyOwner {
        if (verifierOf[shape] == address(0)) revert UnknownShape(shape);
        retired[shape] = true;
        emit ShapeRetired(shape);
    }

    // -------------------------------------------------------------------- jobs

    /// Posts a job; msg.value is the price. `jobId` is chosen by the client, must be
    /// below r (it is a public input) and never used before. `shape` fixes the circuit
    /// and with it what `cmA`, `cmB` are: for the committed circuit the digests
    /// keccak256(x || y) mod r of the commitment points of A and B under the key's
    /// commitment bases; for the others their Poseidon commitments.
    /// @param deadline last second (block timestamp) a proof is accepted
    /// @param lockWindow seconds an exclusive lock lasts (0 disables locking)
    /// @param lockStake the deposit a provider puts down to lock (> 0 if locking is enabled)
    function postJob(
        uint256 jobId,
        uint128 shape,
        uint256 cmA,
        uint256 cmB,
        uint40 deadline,
        uint32 lockWindow,
        uint128 lockStake
    ) external payable nonReentrant {
        if (jobId >= R) revert JobIdNotInField();
        if (cmA >= R || cmB >= R) revert CommitmentNotInField();
        if (jobs[jobId].status != Status.None) revert JobExists(jobId);
        if (msg.value == 0 || msg.value > type(uint128).max) revert BadPayment();
        if (deadline <= block.timestamp) revert BadDeadline();
        if (verifierOf[shape] == address(0) || retired[shape]) revert UnknownShape(shape);
        if ((lockWindow == 0) != (lockStake == 0)) revert BadLockTerms();
        jobs[jobId] = Job({
            client: msg.sender,
            deadline: deadline,
            lockWindow: lockWindow,
            status: Status.Open,
            locker: address(0),
            lockUntil: 0,
            price: uint128(msg.value),
            lockStake: lockStake,
            shape: shape,
            cmA: cmA,
            cmB: cmB
        });
        emit JobPosted(jobId, msg.sender, shape, cmA, cmB, msg.value, deadline, lockWindow, lockStake);
    }

    /// Locks an open job for `lockWindow` seconds; msg.value must be the job's stake.
    /// An expired lock of another provider is slashed first.
    function lock(uint256 jobId) external payable nonReentrant {
        Job storage j = jobs[jobId];
        if (j.status != Status.Open) revert JobNotOpen(jobId);
        if (j.lockWindow == 0) revert LockingDisabled(jobId);
        if (j.locker != address(0)) {
            if (block.timestamp < j.lockUntil) revert AlreadyLocked(jobId, j.locker, j.lockUntil);
            _slash(jobId, j);
        }
        if (msg.value != j.lockStake) revert WrongStake(j.lockStake);
        uint256 until = block.timestamp + j.lockWindow;
        if (until > j.deadline) revert LockPastDeadline(jobId);
        j.locker = msg.sender;
        j.lockUntil = uint40(until);
        emit JobLocked(jobId, msg.sender, msg.value, until);
    }

    /// Settles a committed-circuit job: pays msg.sender the price (and its stake back if it
    /// holds the lock) for a valid proof that C = A*B, A and B being the job's data.
    /// @param proof [A.x, A.y, B.x1, B.x0, B.y1, B.y0, C.x, C.y]
    /// @param cmA the commitment point of A (x, y): must hash to the job's digest
    /// @param cmB the commitment point of B: must hash to the job's digest
    /// @param cmC the commitment point of the result C (its digest is emitted)
    /// @param pok the proof of knowledge of cmC's opening
    function submit(
        uint256 jobId,
        uint256[8] calldata proof,
        uint256[2] calldata cmA,
        uint256[2] calldata cmB,
        uint256[2] calldata cmC,
        uint256[2] calldata pok
    ) external nonReentrant {
        Job storage j = jobs[jobId];
        uint256 stakeBack = _admit(jobId, j, CIRCUIT_COMMITTED);
        if (_digest(cmA) != j.cmA) revert CommitmentMismatch(jobId, 0);
        if (_digest(cmB) != j.cmB) revert CommitmentMismatch(jobId, 1);
        // A reverting verifier (malformed point, starved precompile) reverts this call.
        if (!ICommittedVerifier(verifierOf[j.shape]).verifyProof(proof, cmA, cmB, cmC, pok, jobId, msg.sender)) {
            revert InvalidProof(jobId);
        }
        _settle(jobId, j, _digest(cmC), stakeBack);
    }

    /// Settles a Poseidon- or naive-circuit job with the result commitment and its proof.
    /// @param proof [A.x, A.y, B.x1, B.x0, B.y1, B.y0, C.x, C.y]
    function submitPoseidon(uint256 jobId, uint256 cmC, uint256[8] calldata proof) external nonReentrant {
        Job storage j = jobs[jobId];
        uint256 stakeBack = _admit(jobId, j, CIRCUIT_POSEIDON);
        if (cmC >= R) revert CommitmentNotInField();
        uint256[5] memory input = [jobId, uint256(uint160(msg.sender)), j.cmA, j.cmB, cmC];
        // A reverting verifier (malformed proof, starved precompile) reverts this call.
        if (!IGroth16Verifier(verifierOf[j.shape]).verifyProof(proof, input)) revert InvalidProof(jobId);
        _settle(jobId, j, cmC, stakeBack);
    }

    /// The checks every submission passes before its proof: the job is open, in time,
    /// of the circuit family `circuit` (committed, or Poseidon / naive), and not locked
    /// by another provider. Slashes an expired lock. Returns the stake owed back to
    /// msg.sender on success.
    function _admit(uint256 jobId, Job storage j, uint256 circuit) private returns (uint256 stakeBack) {
        if (j.status != Status.Open) revert JobNotOpen(jobId);
        if (block.timestamp > j.deadline) revert DeadlinePassed(jobId);
        uint256 c = _circuit(j.shape);
        if ((c == CIRCUIT_COMMITTED) != (circuit == CIRCUIT_COMMITTED)) revert WrongCircuit(jobId);
        address locker = j.locker;
        if (locker != address(0)) {
            if (block.timestamp < j.lockUntil) {
                if (msg.sender != locker) revert LockedByOther(jobId, locker, j.lockUntil);
                stakeBack = j.lockStake;
            } else {
                // The window ended without a proof: the stake is the client's,
                // even if the late locker delivers now.
                _slash(jobId, j);
            }
        }
    }

    function _settle(uint256 jobId, Job storage j, uint256 cmC, uint256 stakeBack) private {
        j.status = Status.Paid;
        uint256 price = j.price;
        emit JobSettled(jobId, msg.sender, cmC, price, stakeBack);
        _send(msg.sender, price + stakeBack);
    }

    /// keccak256(x || y) mod r: the digest of an EVM-encoded G1 point.
    function _digest(uint256[2] calldata p) private pure returns (uint256 d) {
        assembly ("memory-safe") {
            calldatacopy(0, p, 0x40)
            d := mod(keccak256(0, 0x40), R)
        }
    }

    function _circuit(uint128 shape) private pure returns (uint256) {
        return uint256(shape) >> 104;
    }

    /// Slashes an expired lock: the stake is owed to the client, the job reopens.
    /// Anyone may call it once the window has ended.
    function slashLock(uint256 jobId) external nonReentrant {
        Job storage j = jobs[jobId];
        if (j.status != Status.Open) revert JobNotOpen(jobId);
        if (j.locker == address(0)) revert NotLocked(jobId);
        if (block.timestamp < j.lockUntil) revert LockActive(jobId, j.lockUntil);
        _slash(jobId, j);
    }

    /// After the deadline, the client takes the price back (an expired lock's
    /// stake is slashed to the client at the same time, withdrawable).
    function refund(uint256 jobId) external nonReentrant {
        Job storage j = jobs[jobId];
        if (msg.sender != j.client) revert NotClient();
        if (j.status != Status.Open) revert JobNotOpen(jobId);
        if (block.timestamp <= j.deadline) revert DeadlineNotReached(jobId);
        if (j.locker != address(0)) _slash(jobId, j); // lockUntil <= deadline: expired
        j.status = Status.Refunded;
        uint256 price = j.price;
        emit JobRefunded(jobId, msg.sender, price);
        _send(msg.sender, price);
    }

    /// Pays out everything owed to msg.sender (forfeited stakes).
    function withdraw() external nonReentrant {
        uint256 amount = owed[msg.sender];
        if (amount == 0) revert NothingOwed();
        owed[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// The public inputs a Poseidon-circuit proof for `jobId` submitted by `provider` with
    /// `cmC` must have.
    function publicInputs(uint256 jobId, address provider, uint256 cmC) external view returns (uint256[5] memory) {
        Job storage j = jobs[jobId];
        return [jobId, uint256(uint160(provider)), j.cmA, j.cmB, cmC];
    }

    function _slash(uint256 jobId, Job storage j) private {
        address locker = j.locker;
        address client = j.client;
        uint256 stake = j.lockStake;
        j.locker = address(0);
        j.lockUntil = 0;
        owed[client] += stake;
        emit StakeSlashed(jobId, locker, client, stake);
        emit JobReopened(jobId);
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert PaymentFailed();
    }
}
