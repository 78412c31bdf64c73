// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// The registry half of JobEscrow.
interface IVerifierRegistry {
    function registerVerifier(uint128 shape, address verifier) external;
}

/// Test-only: a contract whose runtime code is whatever its creator's
/// `nextCode()` says. Its creation code is constant, so CREATE2 with one salt
/// always gives the same address, whatever code ends up there.
contract MorphingVerifier {
    constructor() {
        bytes memory code = VanishingVerifierFactory(msg.sender).nextCode();
        assembly {
            return(add(code, 0x20), mload(code))
        }
    }
}

/// Test-only: a registry owner that, in ONE transaction, creates a "verifier",
/// registers it for `shape` (it has code then, so `registerVerifier` accepts it)
/// and makes it self-destruct. EIP-6780 (Cancun) still deletes the code of a
/// contract created and self-destructed in the same transaction, so the registry
/// entry is left pointing at an empty account (a call to it succeeds and returns
/// nothing), and CREATE2 can later put other code at that address (`redeploy`).
contract VanishingVerifierFactory {
    /// Runtime code `CALLER SELFDESTRUCT` (0x33ff): any call destroys the contract.
    /// (Raw opcodes because Solidity's `selfdestruct` is deprecated and would warn in
    /// every build.)
    bytes internal constant SELF_DESTRUCTING = hex"33ff";

    /// The runtime code the next `MorphingVerifier` gets.
    bytes public nextCode;

    function registerAndDestroy(address escrow, uint128 shape, bytes32 salt) external returns (address verifier) {
        nextCode = SELF_DESTRUCTING;
        verifier = address(new MorphingVerifier{salt: salt}());
        require(verifier.code.length == SELF_DESTRUCTING.length, "create failed");
        IVerifierRegistry(escrow).registerVerifier(shape, verifier);
        (bool ok,) = verifier.call("");
        require(ok, "selfdestruct failed");
    }

    /// Deploys `code` at the address `registerAndDestroy` used with `salt` (after that
    /// transaction, once the account is gone).
    function redeploy(bytes32 salt, bytes calldata code) external returns (address) {
        nextCode = code;
        return address(new MorphingVerifier{salt: salt}());
    }
}
