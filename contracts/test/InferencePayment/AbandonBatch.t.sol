// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";

contract InferencePaymentAbandonBatchTest is NcnTestBase {
    address internal node = makeAddr("node");
    bytes32 internal session;

    function setUp() public override {
        super.setUp();
        session = _openSession(clientKey, bytes32(uint256(1)), 100e18, uint64(block.timestamp + 1 days));
    }

    function _signedBatch(bytes32 batchId, uint256 cumulative)
        internal
        view
        returns (IInferencePayment.SettlementBatch memory b, bytes[] memory sigs)
    {
        b = _batch(batchId, session, cumulative, clientKey, node, cumulative);
        sigs = _batchSigs(b, 3);
    }

    function _abandon(bytes32 batchId) internal {
        vm.prank(gateway);
        payment.abandonBatch(batchId);
    }

    // ---------------------------------------------------------------- success

    function test_AbandonBatch_SpendsTheIdAndRecordsIt() public {
        bytes32 id = bytes32(uint256(7));
        vm.expectEmit(address(payment));
        emit IInferencePayment.BatchAbandoned(id, gateway);
        _abandon(id);
        assertTrue(payment.isBatchSettled(gateway, id));
        assertTrue(payment.batchAbandoned(gateway, id));
        assertFalse(payment.batchAbandoned(gateway, bytes32(uint256(6))));
        assertFalse(payment.isBatchSettled(gateway, bytes32(uint256(6))));
    }

    function test_AbandonBatch_MovesNoFunds() public {
        uint256 held = token.balanceOf(address(payment));
        _abandon(bytes32(uint256(1)));
        assertEq(token.balanceOf(address(payment)), held);
        assertEq(payment.getSession(session).settled, 0);
        assertEq(payment.creditOf(gateway), 0);
        (uint256 validatorFees, uint256 protocolFees) = payment.feePools();
        assertEq(validatorFees + protocolFees, 0);
    }

    function test_SettledBatchReadsAsNotAbandoned() public {
        (IInferencePayment.SettlementBatch memory b, bytes[] memory sigs) = _signedBatch(bytes32(uint256(1)), 10e18);
        payment.settleBatch(b, sigs);
        assertTrue(payment.isBatchSettled(gateway, b.batchId));
        assertFalse(payment.batchAbandoned(gateway, b.batchId));
    }

    /// @dev A stranger's call spends the stranger's own id space only: it cannot block a gateway's batch.
    function test_AbandonBatch_OnlyTouchesTheCallersIds() public {
        address stranger = makeAddr("stranger");
        (IInferencePayment.SettlementBatch memory b, bytes[] memory sigs) = _signedBatch(bytes32(uint256(1)), 10e18);
        vm.prank(stranger);
        payment.abandonBatch(b.batchId);
        assertTrue(payment.batchAbandoned(stranger, b.batchId));
        assertFalse(payment.batchAbandoned(gateway, b.batchId));
        assertFalse(payment.isBatchSettled(gateway, b.batchId));
        assertEq(payment.settleBatch(b, sigs), 10e18);
        assertEq(payment.getSession(session).settled, 10e18);
    }

    function test_AbandonBatch_NeighbouringIdsStillSettle() public {
        _abandon(bytes32(uint256(255)));
        (IInferencePayment.SettlementBatch memory b, bytes[] memory sigs) = _signedBatch(bytes32(uint256(254)), 10e18);
        payment.settleBatch(b, sigs);
        assertFalse(payment.batchAbandoned(gateway, bytes32(uint256(254))));
        assertTrue(payment.batchAbandoned(gateway, bytes32(uint256(255))));
    }

    // ---------------------------------------------------------------- reverts

    function test_RevertWhen_SettleAbandonedBatch() public {
        (IInferencePayment.SettlementBatch memory b, bytes[] memory sigs) = _signedBatch(bytes32(uint256(1)), 10e18);
        _abandon(b.batchId);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.BatchAlreadySettled.selector, gateway, b.batchId));
        payment.settleBatch(b, sigs);
        assertEq(payment.getSession(session).settled, 0);
        assertEq(payment.creditOf(node), 0);
    }

    function test_RevertWhen_AbandonSettledBatch() public {
        (IInferencePayment.SettlementBatch memory b, bytes[] memory sigs) = _signedBatch(bytes32(uint256(1)), 10e18);
        payment.settleBatch(b, sigs);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.BatchAlreadySettled.selector, gateway, b.batchId));
        _abandon(b.batchId);
        assertFalse(payment.batchAbandoned(gateway, b.batchId));
    }

    function test_RevertWhen_AbandonBatchTwice() public {
        _abandon(bytes32(uint256(3)));
        vm.expectRevert(
            abi.encodeWithSelector(IInferencePayment.BatchAlreadySettled.selector, gateway, bytes32(uint256(3)))
        );
        _abandon(bytes32(uint256(3)));
    }

    // ---------------------------------------------------------------- fuzz

    function testFuzz_AbandonedIdNeverSettles(bytes32 batchId) public {
        (IInferencePayment.SettlementBatch memory b, bytes[] memory sigs) = _signedBatch(batchId, 10e18);
        _abandon(batchId);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.BatchAlreadySettled.selector, gateway, batchId));
        payment.settleBatch(b, sigs);
        assertTrue(payment.batchAbandoned(gateway, batchId));
    }
}
