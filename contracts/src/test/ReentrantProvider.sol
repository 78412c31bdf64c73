// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// Test-only: a provider contract that tries to re-enter the escrow when paid.
contract ReentrantProvider {
    address public immutable escrow;
    bytes public reenterCall;
    bool public reentered;
    bytes public reenterError;
    uint256 public received;

    constructor(address escrow_) {
        escrow = escrow_;
    }

    /// The call made from `receive` (e.g. a second `submit`, or `withdraw`).
    function setReenterCall(bytes calldata data) external {
        reenterCall = data;
    }

    /// Calls the escrow as this contract (bubbling up a revert).
    function act(bytes calldata data) external payable {
        (bool ok, bytes memory ret) = escrow.call{value: msg.value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    receive() external payable {
        received += msg.value;
        if (reenterCall.length > 0) {
            (bool ok, bytes memory ret) = escrow.call(reenterCall);
            reentered = ok;
            reenterError = ret;
        }
    }
}
