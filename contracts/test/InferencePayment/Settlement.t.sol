// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {IValidatorRegistry} from "../../src/interfaces/IValidatorRegistry.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";

contract InferencePaymentSettlementTest is NcnTestBase {
    uint64 internal expiry;
    address internal node0 = makeAddr("node0");
    address internal node1 = makeAddr("node1");
    uint256 internal otherKey;
    bytes32 internal sessionA;
    bytes32 internal sessionB;

    function setUp() public override {
        super.setUp();
        expiry = uint64(block.timestamp + 1 days);
        (, otherKey) = makeAddrAndKey("client-2");
        sessionA = _openSession(clientKey, bytes32(uint256(1)), 100e18, expiry);
        sessionB = _openSession(otherKey, bytes32(uint256(2)), 50e18, expiry);
    }

    /// @dev Session A at `cumA`, session B at `cumB`, node0 and node1 paid `pay0` and `pay1`.
    function _twoByTwo(bytes32 batchId, uint256 cumA, uint256 cumB, uint256 pay0, uint256 pay1)
        internal
        view
        returns (IInferencePayment.SettlementBatch memory b)
    {
        b.batchId = batchId;
        b.gateway = gateway;
        b.receiptsRoot = keccak256(abi.encode("root", batchId));
        b.sessionIds = new bytes32[](2);
        b.sessionIds[0] = sessionA;
        b.sessionIds[1] = sessionB;
        b.salts = new bytes32[](2);
        b.salts[0] = bytes32(uint256(1));
        b.salts[1] = bytes32(uint256(2));
        b.cumulativeAmounts = new uint256[](2);
        b.cumulativeAmounts[0] = cumA;
        b.cumulativeAmounts[1] = cumB;
        b.voucherSignatures = new bytes[](2);
        b.voucherSignatures[0] = _voucherSig(clientKey, sessionA, cumA);
        b.voucherSignatures[1] = _voucherSig(otherKey, sessionB, cumB);
        b.nodes = new address[](2);
        b.nodes[0] = node0;
        b.nodes[1] = node1;
        b.amounts = new uint256[](2);
        b.amounts[0] = pay0;
        b.amounts[1] = pay1;
    }

    function _settle(IInferencePayment.SettlementBatch memory b) internal returns (uint256) {
        return payment.settleBatch(b, _batchSigs(b, 3));
    }

    function _expectRevertSettle(IInferencePayment.SettlementBatch memory b, bytes memory err) internal {
        bytes[] memory sigs = _batchSigs(b, 3);
        vm.expectRevert(err);
        payment.settleBatch(b, sigs);
    }

    // ---------------------------------------------------------------- success

    function test_SettleBatch_CreditsNodesGatewayAndPools() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 30e18, 10e18, 25e18, 15e18);
        vm.expectEmit(address(payment));
        emit IInferencePayment.SessionSettled(sessionA, 30e18);
        vm.expectEmit(address(payment));
        emit IInferencePayment.SessionSettled(sessionB, 10e18);
        vm.expectEmit(address(payment));
        emit IInferencePayment.Credited(node0, 22.5e18);
        vm.expectEmit(address(payment));
        emit IInferencePayment.Credited(node1, 13.5e18);
        vm.expectEmit(address(payment));
        emit IInferencePayment.Credited(gateway, 2e18);
        vm.expectEmit(address(payment));
        emit IInferencePayment.BatchSettled(b.batchId, gateway, b.receiptsRoot, 40e18);
        assertEq(_settle(b), 40e18);
        assertEq(payment.creditOf(node0), 22.5e18);
        assertEq(payment.creditOf(node1), 13.5e18);
        assertEq(payment.creditOf(gateway), 2e18);
        (uint256 validatorFees, uint256 protocolFees) = payment.feePools();
        assertEq(validatorFees, 1.2e18);
        assertEq(protocolFees, 0.8e18);
        assertEq(payment.getSession(sessionA).settled, 30e18);
        assertEq(payment.getSession(sessionB).settled, 10e18);
        assertTrue(payment.isBatchSettled(gateway, b.batchId));
        assertEq(token.balanceOf(address(payment)), 150e18);
    }

    function test_SettleBatch_LaterVoucherPaysOnlyTheIncrease() public {
        _settle(_twoByTwo(bytes32(uint256(1)), 30e18, 10e18, 25e18, 15e18));
        _settle(_twoByTwo(bytes32(uint256(2)), 35e18, 20e18, 10e18, 5e18));
        assertEq(payment.getSession(sessionA).settled, 35e18);
        assertEq(payment.getSession(sessionB).settled, 20e18);
        assertEq(payment.creditOf(node0), 31.5e18);
        assertEq(payment.creditOf(node1), 18e18);
    }

    function test_SettleBatch_SameSessionTwiceInOneBatch() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 30e18, 10e18, 35e18, 0);
        b.sessionIds[1] = sessionA;
        b.salts[1] = bytes32(uint256(1));
        b.cumulativeAmounts[1] = 35e18;
        b.voucherSignatures[1] = _voucherSig(clientKey, sessionA, 35e18);
        assertEq(_settle(b), 35e18);
        assertEq(payment.getSession(sessionA).settled, 35e18);
    }

    function test_SettleBatch_WithAllFiveValidators() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 1e18, 1e18);
        payment.settleBatch(b, _batchSigs(b, 5));
        assertTrue(payment.isBatchSettled(gateway, b.batchId));
    }

    function test_IsBatchSettled_BitmapPerGateway() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(255)), 1e18, 1e18, 1e18, 1e18);
        _settle(b);
        assertTrue(payment.isBatchSettled(gateway, bytes32(uint256(255))));
        assertFalse(payment.isBatchSettled(gateway, bytes32(uint256(254))));
        assertFalse(payment.isBatchSettled(gateway, bytes32(uint256(511))));
        assertFalse(payment.isBatchSettled(makeAddr("other gateway"), bytes32(uint256(255))));
        _settle(_twoByTwo(bytes32(uint256(254)), 2e18, 2e18, 2e18, 0));
        assertTrue(payment.isBatchSettled(gateway, bytes32(uint256(254))));
        assertTrue(payment.isBatchSettled(gateway, bytes32(uint256(255))));
    }

    // ---------------------------------------------------------------- reverts

    function test_RevertWhen_SettleBatchReplayed() public {
        _settle(_twoByTwo(bytes32(uint256(1)), 30e18, 10e18, 25e18, 15e18));
        _expectRevertSettle(
            _twoByTwo(bytes32(uint256(1)), 31e18, 11e18, 2e18, 0),
            abi.encodeWithSelector(IInferencePayment.BatchAlreadySettled.selector, gateway, bytes32(uint256(1)))
        );
    }

    function test_RevertWhen_SettleBatchWithZeroRoot() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        b.receiptsRoot = bytes32(0);
        _expectRevertSettle(b, abi.encodeWithSelector(IInferencePayment.ZeroReceiptsRoot.selector));
    }

    function test_RevertWhen_SettleBatchEmpty() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        b.nodes = new address[](0);
        b.amounts = new uint256[](0);
        _expectRevertSettle(b, abi.encodeWithSelector(IInferencePayment.EmptyBatch.selector));
        b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        b.sessionIds = new bytes32[](0);
        b.salts = new bytes32[](0);
        b.cumulativeAmounts = new uint256[](0);
        b.voucherSignatures = new bytes[](0);
        _expectRevertSettle(b, abi.encodeWithSelector(IInferencePayment.EmptyBatch.selector));
    }

    function test_RevertWhen_SettleBatchLengthsDiffer() public {
        bytes memory err = abi.encodeWithSelector(IInferencePayment.LengthMismatch.selector);
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        b.salts = new bytes32[](1);
        _expectRevertSettle(b, err);
        b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        b.cumulativeAmounts = new uint256[](3);
        _expectRevertSettle(b, err);
        b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        b.voucherSignatures = new bytes[](1);
        _expectRevertSettle(b, err);
        b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        b.amounts = new uint256[](1);
        _expectRevertSettle(b, err);
    }

    function test_RevertWhen_SettleUnknownSession() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        bytes32 unknown = keccak256("unknown");
        b.sessionIds[1] = unknown;
        _expectRevertSettle(b, abi.encodeWithSelector(IInferencePayment.UnknownSession.selector, unknown));
    }

    function test_RevertWhen_SettleVoucherNotIncreasing() public {
        _settle(_twoByTwo(bytes32(uint256(1)), 30e18, 10e18, 40e18, 0));
        _expectRevertSettle(
            _twoByTwo(bytes32(uint256(2)), 30e18, 11e18, 1e18, 0),
            abi.encodeWithSelector(IInferencePayment.VoucherNotIncreasing.selector, sessionA, 30e18, 30e18)
        );
    }

    function test_RevertWhen_SettleVoucherExceedsDeposit() public {
        _expectRevertSettle(
            _twoByTwo(bytes32(uint256(1)), 1e18, 50e18 + 1, 1e18, 50e18),
            abi.encodeWithSelector(IInferencePayment.VoucherExceedsDeposit.selector, sessionB, 50e18 + 1, 50e18)
        );
    }

    function test_RevertWhen_SettleVoucherSignedByAnotherKey() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        b.voucherSignatures[1] = _voucherSig(clientKey, sessionB, 1e18);
        _expectRevertSettle(b, abi.encodeWithSelector(IInferencePayment.InvalidVoucherSignature.selector, sessionB));
    }

    function test_RevertWhen_SettleVoucherWithWrongSalt() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        b.salts[0] = bytes32(uint256(99));
        _expectRevertSettle(b, abi.encodeWithSelector(IInferencePayment.InvalidVoucherSignature.selector, sessionA));
    }

    function test_RevertWhen_SettleVoucherWithMalformedSignature() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        b.voucherSignatures[0] = hex"00";
        _expectRevertSettle(b, abi.encodeWithSelector(IInferencePayment.InvalidVoucherSignature.selector, sessionA));
    }

    function test_RevertWhen_SettleSessionOfAnotherGateway() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 2e18, 0);
        b.gateway = makeAddr("rogue gateway");
        _expectRevertSettle(b, abi.encodeWithSelector(IInferencePayment.InvalidVoucherSignature.selector, sessionA));
    }

    function test_RevertWhen_SettlePayoutsDifferFromVouchers() public {
        _expectRevertSettle(
            _twoByTwo(bytes32(uint256(1)), 10e18, 10e18, 15e18, 6e18),
            abi.encodeWithSelector(IInferencePayment.PayoutMismatch.selector, 20e18, 21e18)
        );
    }

    function test_RevertWhen_SettlePayoutToZeroAddress() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 1e18, 1e18);
        b.nodes[1] = address(0);
        _expectRevertSettle(b, abi.encodeWithSelector(IInferencePayment.ZeroAddress.selector));
    }

    function test_RevertWhen_SettleBelowThreshold() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 1e18, 1e18);
        bytes[] memory sigs = _batchSigs(b, 2);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InsufficientAttestations.selector, 2, 3));
        payment.settleBatch(b, sigs);
    }

    function test_RevertWhen_SettleWithRepeatedValidatorSignatures() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 1e18, 1e18, 1e18, 1e18);
        bytes[] memory two = _batchSigs(b, 2);
        bytes[] memory sigs = new bytes[](4);
        (sigs[0], sigs[1], sigs[2], sigs[3]) = (two[0], two[1], two[0], two[1]);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InsufficientAttestations.selector, 2, 3));
        payment.settleBatch(b, sigs);
    }

    function test_RevertWhen_SettleRedirectsPayoutsValidatorsDidNotSign() public {
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 10e18, 10e18, 10e18, 10e18);
        bytes[] memory sigs = _batchSigs(b, 3);
        b.nodes[1] = makeAddr("thief");
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InsufficientAttestations.selector, 0, 3));
        payment.settleBatch(b, sigs);
        b.nodes[1] = node1;
        b.receiptsRoot = keccak256("another root");
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InsufficientAttestations.selector, 0, 3));
        payment.settleBatch(b, sigs);
    }

    // ---------------------------------------------------------------- fuzz

    /// @dev Whatever the vouchers ask, a session never settles above its deposit or above the voucher.
    function testFuzz_SettleNeverExceedsDepositOrVoucher(uint256 cumA, uint256 cumB) public {
        cumA = bound(cumA, 1, 200e18);
        cumB = bound(cumB, 1, 200e18);
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), cumA, cumB, cumA, cumB);
        bytes[] memory sigs = _batchSigs(b, 3);
        try payment.settleBatch(b, sigs) {
            assertLe(cumA, 100e18);
            assertLe(cumB, 50e18);
        } catch {
            assertTrue(cumA > 100e18 || cumB > 50e18);
        }
        assertLe(payment.getSession(sessionA).settled, 100e18);
        assertLe(payment.getSession(sessionB).settled, 50e18);
        assertLe(payment.getSession(sessionA).settled, cumA);
        assertLe(payment.getSession(sessionB).settled, cumB);
    }

    function testFuzz_SettlementConservesTotal(uint256 cumA, uint256 cumB, uint256 pay0, uint16 gw, uint16 val, uint16 proto)
        public
    {
        cumA = bound(cumA, 1, 100e18);
        cumB = bound(cumB, 1, 50e18);
        pay0 = bound(pay0, 0, cumA + cumB);
        gw = uint16(bound(gw, 0, 10_000));
        val = uint16(bound(val, 0, 10_000 - gw));
        proto = uint16(bound(proto, 0, 10_000 - gw - val));
        vm.prank(admin);
        payment.setFees(gw, val, proto);
        _settle(_twoByTwo(bytes32(uint256(1)), cumA, cumB, pay0, cumA + cumB - pay0));
        (uint256 validatorFees, uint256 protocolFees) = payment.feePools();
        uint256 credited = payment.creditOf(node0) + payment.creditOf(node1) + payment.creditOf(gateway);
        assertEq(credited + validatorFees + protocolFees, cumA + cumB);
        assertEq(payment.creditOf(node0), pay0 * (10_000 - gw - val - proto) / 10_000);
        assertEq(token.balanceOf(address(payment)), 150e18);
    }

    // ---------------------------------------------------------------- withdrawals and fee pools

    function test_Withdraw_LeavesOneWeiCredited() public {
        _settle(_twoByTwo(bytes32(uint256(1)), 30e18, 10e18, 25e18, 15e18));
        vm.expectEmit(address(payment));
        emit IInferencePayment.Withdrawn(node0, node0, 22.5e18 - 1);
        vm.prank(node0);
        assertEq(payment.withdraw(), 22.5e18 - 1);
        assertEq(token.balanceOf(node0), 22.5e18 - 1);
        assertEq(payment.creditOf(node0), 1);
        vm.expectRevert(IInferencePayment.NothingToWithdraw.selector);
        vm.prank(node0);
        payment.withdraw();
    }

    function test_WithdrawTo() public {
        _settle(_twoByTwo(bytes32(uint256(1)), 30e18, 10e18, 25e18, 15e18));
        address cold = makeAddr("cold wallet");
        vm.prank(node1);
        assertEq(payment.withdrawTo(cold), 13.5e18 - 1);
        assertEq(token.balanceOf(cold), 13.5e18 - 1);
    }

    function test_RevertWhen_WithdrawWithoutCredit() public {
        vm.expectRevert(IInferencePayment.NothingToWithdraw.selector);
        vm.prank(node0);
        payment.withdraw();
    }

    function test_RevertWhen_WithdrawToZeroAddress() public {
        vm.expectRevert(IInferencePayment.ZeroAddress.selector);
        vm.prank(node0);
        payment.withdrawTo(address(0));
    }

    function test_DistributeValidatorFees_EquallyToActiveSet() public {
        _settle(_twoByTwo(bytes32(uint256(1)), 30e18, 10e18, 25e18, 15e18));
        vm.prank(validators[4]);
        registry.beginUnbonding();
        vm.expectEmit(address(payment));
        emit IInferencePayment.ValidatorFeesDistributed(0.3e18, 4);
        assertEq(payment.distributeValidatorFees(), 0.3e18);
        for (uint256 i; i < 4; ++i) {
            assertEq(payment.creditOf(validators[i]), 0.3e18);
        }
        assertEq(payment.creditOf(validators[4]), 0);
        (uint256 validatorFees,) = payment.feePools();
        assertEq(validatorFees, 0);
    }

    function test_DistributeValidatorFees_KeepsIndivisibleRest() public {
        vm.prank(admin);
        payment.setFees(0, 10_000, 0);
        IInferencePayment.SettlementBatch memory b = _twoByTwo(bytes32(uint256(1)), 7, 0, 7, 0);
        b.sessionIds[1] = sessionA;
        b.salts[1] = bytes32(uint256(1));
        b.cumulativeAmounts[1] = 8;
        b.voucherSignatures[1] = _voucherSig(clientKey, sessionA, 8);
        b.amounts[0] = 8;
        _settle(b);
        assertEq(payment.distributeValidatorFees(), 1);
        (uint256 validatorFees,) = payment.feePools();
        assertEq(validatorFees, 3);
    }

    function test_RevertWhen_DistributeTooLittle() public {
        vm.expectRevert(IInferencePayment.NothingToDistribute.selector);
        payment.distributeValidatorFees();
    }

    function test_RevertWhen_DistributeWithoutActiveValidators() public {
        _settle(_twoByTwo(bytes32(uint256(1)), 30e18, 10e18, 25e18, 15e18));
        for (uint256 i; i < 5; ++i) {
            vm.prank(validators[i]);
            registry.beginUnbonding();
        }
        vm.expectRevert(IInferencePayment.NothingToDistribute.selector);
        payment.distributeValidatorFees();
    }

    function test_CollectProtocolFees() public {
        _settle(_twoByTwo(bytes32(uint256(1)), 30e18, 10e18, 25e18, 15e18));
        vm.expectEmit(address(payment));
        emit IInferencePayment.ProtocolFeesCollected(treasury, 0.8e18);
        assertEq(payment.collectProtocolFees(), 0.8e18);
        assertEq(token.balanceOf(treasury), 0.8e18);
        vm.expectRevert(IInferencePayment.NothingToDistribute.selector);
        payment.collectProtocolFees();
    }
}
