// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";
import {PaymentHandler} from "./PaymentHandler.sol";

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
        uint256 held =
            token.balanceOf(address(payment)) + token.balanceOf(address(registry)) + token.balanceOf(treasury);
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

    /// @dev What settlements took out of a session is its settled amount, and never more than the highest
    /// cumulative amount its client (or the delegate it named) signed; a voucher signed by anyone else,
    /// a delegate it revoked included, never settles, and only the client names a delegate.
    function invariant_SessionPaysAtMostWhatItsClientSigned() public view {
        assertEq(handler.forgedVoucherSuccesses(), 0, "a stranger's voucher settled");
        assertEq(handler.revokedDelegateSuccesses(), 0, "a revoked delegate's voucher settled");
        assertEq(handler.strangerSignerChanges(), 0, "someone other than the client named a delegate");
        for (uint256 i; i < handler.sessionCount(); ++i) {
            PaymentHandler.SessionGhost memory g = handler.sessionAt(i);
            IInferencePayment.Session memory s = payment.getSession(g.id);
            assertEq(g.paidOut, s.settled, "paid out != settled");
            assertLe(g.paidOut, g.maxSigned, "paid out above the client's highest voucher");
        }
    }

    /// @dev An escrow pays out (completion or refund) at most once, and a completion only through the
    /// escrow's gateway.
    function invariant_EscrowPaidOnceOnlyByItsGateway() public view {
        assertEq(handler.strangerCompletions(), 0, "an escrow was completed by someone else than its gateway");
        for (uint256 i; i < handler.requestCount(); ++i) {
            bytes32 id = handler.requestIds(i);
            IInferencePayment.Escrow memory e = payment.getEscrow(id);
            uint256 payouts = handler.escrowPayouts(id);
            assertLe(payouts, 1, "escrow paid twice");
            if (e.status == IInferencePayment.EscrowStatus.Pending) assertEq(payouts, 0, "pending escrow paid");
            else assertEq(payouts, 1, "finished escrow without its payout");
            if (e.status == IInferencePayment.EscrowStatus.Completed) {
                assertEq(handler.completedBy(id), e.gateway, "completed by someone else");
            }
        }
    }

    /// @dev An abandoned batch id reads as spent and abandoned and never settles; a settled one is never
    /// abandoned.
    function invariant_AbandonedNeverSettlesSettledNeverAbandoned() public view {
        assertEq(handler.abandonedSettlements(), 0, "an abandoned batch id settled");
        assertEq(handler.settledAbandonments(), 0, "a settled batch id was abandoned");
        for (uint256 i; i < handler.abandonedCount(); ++i) {
            PaymentHandler.BatchGhost memory b = handler.abandonedAt(i);
            assertTrue(payment.isBatchSettled(b.gateway, b.id), "abandoned id not spent");
            assertTrue(payment.batchAbandoned(b.gateway, b.id), "abandoned id not recorded");
        }
        for (uint256 i; i < handler.batchCount(); ++i) {
            PaymentHandler.BatchGhost memory b = handler.batchAt(i);
            assertTrue(payment.isBatchSettled(b.gateway, b.id), "settled id not spent");
            assertFalse(payment.batchAbandoned(b.gateway, b.id), "settled id reads as abandoned");
        }
    }

    function invariant_NoSecondSettlement() public view {
        assertEq(handler.replaySuccesses(), 0);
    }

    function invariant_UnderSignedNeverAccepted() public view {
        assertEq(handler.underSignedSuccesses(), 0);
    }
}

