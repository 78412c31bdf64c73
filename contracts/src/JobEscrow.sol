// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// The verifier interface of veriflop matmul proofs (generated `Groth16Verifier`s).
interface IGroth16Verifier {
    function verifyProof(uint256[8] calldata proof, uint256[5] calldata input) external view returns (bool);
}

/// @title JobEscrow: pay a GPU provider for a matmul job only against a valid proof.
/// @notice A client posts a job (shape, commitments of A and B, deadline) with the
/// price in ETH. A provider submits the commitment of C and a Groth16 proof; the
/// contract rebuilds the public inputs `[jobId, msg.sender, cmA, cmB, cmC]` from
/// its own record, so a proof only pays the provider it was made for (a proof
/// copied from the mempool is useless to anyone else), checks it with the
/// verifier registered for the job's shape, and pays the provider exactly once.
/// After the deadline the client takes the price back.
///
/// Exclusive locks: a provider may lock an open job for `lockWindow` seconds by
/// depositing `lockStake` (both set by the client). While the lock lasts only
/// that provider can submit; a valid proof in time returns its stake with the
/// price. When the window ends without a valid proof, the whole stake is owed to
/// the client (see docs/CONTRACTS.md for why all of it, and to nobody else) and
/// the job reopens.
///
/// Registry: one verifier per shape, set once by the owner and never changed;
/// the owner can retire a shape (no new jobs), which does not affect posted jobs.
contract JobEscrow {
    /// BN254 scalar field modulus: public inputs must be below it.
    uint256 internal constant R = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;

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
        uint128 shape;
        // slots 4, 5
        uint256 cmA;
        uint256 cmB;
    }

    /// The owner controls the shape registry (and nothing else).
    address public owner;
    address public pendingOwner;
    /// Shape id (dtype << 96 | m << 64 | k << 32 | n) => verifier. Write-once.
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
    event JobSettled(uint256 indexed jobId, address indexed provider, uint256 cmC, uint256 price, uint256 stakeReturned);
    event JobRefunded(uint256 indexed jobId, address indexed client, uint256 price);
    event Withdrawn(address indexed account, uint256 amount);

    error NotOwner();
    error ZeroAddress();
    error NotAContract();
    error VerifierAlreadySet(uint128 shape);
    error UnknownShape(uint128 shape);
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

    /// Registers the verifier of a shape, once: jobs can then be posted for it.
    function registerVerifier(uint128 shape, address verifier) external onlyOwner {
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
    /// below r (it is a public input) and never used before.
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

    /// Submits the result commitment and its proof; pays msg.sender on success.
    /// @param proof [A.x, A.y, B.x1, B.x0, B.y1, B.y0, C.x, C.y]
    function submit(uint256 jobId, uint256 cmC, uint256[8] calldata proof) external nonReentrant {
        Job storage j = jobs[jobId];
        if (j.status != Status.Open) revert JobNotOpen(jobId);
        if (block.timestamp > j.deadline) revert DeadlinePassed(jobId);
        if (cmC >= R) revert CommitmentNotInField();
        uint256 stakeBack;
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
        uint256[5] memory input = [jobId, uint256(uint160(msg.sender)), j.cmA, j.cmB, cmC];
        // A reverting verifier (malformed proof, starved precompile) reverts this call.
        if (!IGroth16Verifier(verifierOf[j.shape]).verifyProof(proof, input)) revert InvalidProof(jobId);

        j.status = Status.Paid;
        uint256 price = j.price;
        emit JobSettled(jobId, msg.sender, cmC, price, stakeBack);
        _send(msg.sender, price + stakeBack);
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

    /// The public inputs a proof for `jobId` submitted by `provider` with `cmC` must have.
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
