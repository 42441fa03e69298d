// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";
import {PaymentHandler} from "./PaymentHandler.sol";

/// forge-config: default.invariant.runs = 32
contract PaymentInvariantsTest is NcnTestBase {
    PaymentHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new PaymentHandler(token, payment, registry, admin, validatorKeys);
        targetContract(address(handler));
    }

    /// @dev Every token is somewhere: payment holds exactly credits + fee pools + pending escrows +
    /// unspent open sessions, and all holders together hold the supply.
    function invariant_TokenConservation() public view {
        uint256 owed;
        address[] memory accounts = handler.accounts();
        uint256 held = token.balanceOf(address(payment)) + token.balanceOf(address(registry)) + token.balanceOf(treasury);
        for (uint256 i; i < accounts.length; ++i) {
            owed += payment.creditOf(accounts[i]);
            held += token.balanceOf(accounts[i]);
        }
        owed += payment.creditOf(treasury);
        (uint256 validatorFees, uint256 protocolFees) = payment.feePools();
        owed += validatorFees + protocolFees;
        for (uint256 i; i < handler.requestCount(); ++i) {
            IInferencePayment.Escrow memory e = payment.getEscrow(handler.requestIds(i));
            if (e.status == IInferencePayment.EscrowStatus.Pending) owed += e.amount;
        }
        for (uint256 i; i < handler.sessionCount(); ++i) {
            IInferencePayment.Session memory s = payment.getSession(handler.sessionAt(i).id);
            if (!s.closed) owed += s.deposit - s.settled;
        }
        assertEq(token.balanceOf(address(payment)), owed, "payment balance != what it owes");
        assertEq(held, token.totalSupply(), "holders != supply");
    }

    /// @dev Checked in the handler at every attempt, and here for every escrow that is due now.
    function invariant_RefundAfterExpiryAlwaysSucceeds() public {
        assertEq(handler.refundFailures(), 0);
        for (uint256 i; i < handler.requestCount(); ++i) {
            bytes32 id = handler.requestIds(i);
            IInferencePayment.Escrow memory e = payment.getEscrow(id);
            if (e.status != IInferencePayment.EscrowStatus.Pending || block.timestamp <= e.expiry) continue;
            uint256 snapshot = vm.snapshotState();
            uint256 before = token.balanceOf(e.client);
            payment.handleExpiredRequest(id);
            assertEq(token.balanceOf(e.client), before + e.amount);
            vm.revertToState(snapshot);
        }
    }

    /// @dev A session's settled amount is the last voucher accepted for it and never exceeds its deposit.
    function invariant_SettlementWithinDepositAndVoucher() public view {
        for (uint256 i; i < handler.sessionCount(); ++i) {
            PaymentHandler.SessionGhost memory g = handler.sessionAt(i);
            IInferencePayment.Session memory s = payment.getSession(g.id);
            assertLe(s.settled, g.deposited, "settled above everything ever deposited");
            assertLe(s.settled, s.deposit, "settled above deposit");
            assertEq(s.settled, g.lastSettledVoucher, "settled is not the last accepted voucher");
        }
    }

    function invariant_NoSecondSettlement() public view {
        assertEq(handler.replaySuccesses(), 0);
    }

    function invariant_UnderSignedNeverAccepted() public view {
        assertEq(handler.underSignedSuccesses(), 0);
    }
}

