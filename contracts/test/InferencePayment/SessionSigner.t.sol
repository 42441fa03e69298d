// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";

/// @dev A session's delegate voucher signer (what an API key holds): its vouchers settle, it
/// can be revoked, and it can do nothing else with the session.
contract InferencePaymentSessionSignerTest is NcnTestBase {
    bytes32 internal constant SALT = bytes32(uint256(7));
    uint64 internal expiry;
    address internal node = makeAddr("node");
    address internal delegate;
    uint256 internal delegateKey;
    bytes32 internal session;

    function setUp() public override {
        super.setUp();
        expiry = uint64(block.timestamp + 1 days);
        (delegate, delegateKey) = makeAddrAndKey("delegate");
        session = _openSession(clientKey, SALT, 100e18, expiry);
    }

    function _setSigner(address signer) internal {
        vm.prank(client);
        payment.setSessionSigner(session, signer);
    }

    /// @dev Settles the session to `cumulative`, paying the node the increase.
    function _settleSigned(bytes32 batchId, uint256 key, uint256 cumulative) internal returns (uint256) {
        uint256 increase = cumulative - payment.getSession(session).settled;
        IInferencePayment.SettlementBatch memory b = _batch(batchId, session, cumulative, key, node, increase);
        return payment.settleBatch(b, _batchSigs(b, 3));
    }

    function _expectSettleRevert(bytes32 batchId, uint256 key, uint256 cumulative, bytes memory err) internal {
        IInferencePayment.SettlementBatch memory b = _batch(batchId, session, cumulative, key, node, cumulative);
        bytes[] memory sigs = _batchSigs(b, 3);
        vm.expectRevert(err);
        payment.settleBatch(b, sigs);
    }

    // ---------------------------------------------------------------- set and revoke

    function test_SetSessionSigner_EmitsAndReads() public {
        assertEq(payment.sessionSignerOf(session), address(0));
        vm.expectEmit(address(payment));
        emit IInferencePayment.SessionSignerSet(session, delegate);
        _setSigner(delegate);
        assertEq(payment.sessionSignerOf(session), delegate);
        vm.expectEmit(address(payment));
        emit IInferencePayment.SessionSignerSet(session, address(0));
        _setSigner(address(0));
        assertEq(payment.sessionSignerOf(session), address(0));
    }

    function test_OpenSessionWithSigner() public {
        _mint(client, 5e18);
        vm.startPrank(client);
        token.approve(address(payment), 5e18);
        bytes32 salt = bytes32(uint256(8));
        bytes32 id = payment.sessionIdOf(client, gateway, salt);
        vm.expectEmit(address(payment));
        emit IInferencePayment.SessionOpened(id, client, gateway, salt, 5e18, expiry);
        vm.expectEmit(address(payment));
        emit IInferencePayment.SessionSignerSet(id, delegate);
        assertEq(payment.openSessionWithSigner(gateway, salt, 5e18, expiry, delegate), id);
        vm.stopPrank();
        assertEq(payment.sessionSignerOf(id), delegate);
        assertEq(payment.getSession(id).client, client);
        assertEq(payment.getSession(id).deposit, 5e18);
    }

    function test_RevertWhen_StrangerSetsSigner() public {
        address stranger = makeAddr("stranger");
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.NotSessionClient.selector, session, stranger));
        vm.prank(stranger);
        payment.setSessionSigner(session, stranger);
        // Nor the gateway, nor the delegate itself (it cannot name another, or un-revoke itself).
        _setSigner(delegate);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.NotSessionClient.selector, session, gateway));
        vm.prank(gateway);
        payment.setSessionSigner(session, gateway);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.NotSessionClient.selector, session, delegate));
        vm.prank(delegate);
        payment.setSessionSigner(session, stranger);
        assertEq(payment.sessionSignerOf(session), delegate);
    }

    function test_RevertWhen_SetSignerOfUnknownOrClosedSession() public {
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.UnknownSession.selector, unknown));
        vm.prank(client);
        payment.setSessionSigner(unknown, delegate);
        vm.warp(expiry + GRACE);
        payment.closeSession(session);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.SessionIsClosed.selector, session));
        vm.prank(client);
        payment.setSessionSigner(session, delegate);
    }

    // ---------------------------------------------------------------- settlement

    function test_SettleBatch_DelegateVoucherSettles() public {
        _setSigner(delegate);
        assertEq(_settleSigned(bytes32(uint256(1)), delegateKey, 3e18), 3e18);
        assertEq(payment.getSession(session).settled, 3e18);
        // The client's own vouchers still settle alongside.
        assertEq(_settleSigned(bytes32(uint256(2)), clientKey, 5e18), 2e18);
        assertEq(payment.getSession(session).settled, 5e18);
    }

    function test_RevertWhen_SettleDelegateVoucherWithoutSigner() public {
        _expectSettleRevert(
            bytes32(uint256(1)),
            delegateKey,
            1e18,
            abi.encodeWithSelector(IInferencePayment.InvalidVoucherSignature.selector, session)
        );
    }

    function test_RevertWhen_SettleDelegateVoucherAfterRevocation() public {
        _setSigner(delegate);
        _settleSigned(bytes32(uint256(1)), delegateKey, 1e18);
        _setSigner(address(0));
        _expectSettleRevert(
            bytes32(uint256(2)),
            delegateKey,
            2e18,
            abi.encodeWithSelector(IInferencePayment.InvalidVoucherSignature.selector, session)
        );
        assertEq(payment.getSession(session).settled, 1e18);
    }

    function test_RevertWhen_SettleReplacedDelegateVoucher() public {
        _setSigner(delegate);
        (address next,) = makeAddrAndKey("next-delegate");
        _setSigner(next);
        _expectSettleRevert(
            bytes32(uint256(1)),
            delegateKey,
            1e18,
            abi.encodeWithSelector(IInferencePayment.InvalidVoucherSignature.selector, session)
        );
    }

    function test_RevertWhen_SettleDelegateVoucherThroughAnotherGateway() public {
        _setSigner(delegate);
        IInferencePayment.SettlementBatch memory b = _batch(bytes32(uint256(1)), session, 1e18, delegateKey, node, 1e18);
        b.gateway = makeAddr("other-gateway");
        bytes[] memory sigs = _batchSigs(b, 3);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.InvalidVoucherSignature.selector, session));
        payment.settleBatch(b, sigs);
    }

    function test_RevertWhen_DelegateVoucherForAnotherSession() public {
        _setSigner(delegate);
        (address other, uint256 otherKey) = makeAddrAndKey("client-2");
        bytes32 otherSession = _openSession(otherKey, SALT, 10e18, expiry);
        assertEq(payment.sessionSignerOf(otherSession), address(0));
        IInferencePayment.SettlementBatch memory b =
            _batch(bytes32(uint256(1)), otherSession, 1e18, delegateKey, node, 1e18);
        bytes[] memory sigs = _batchSigs(b, 3);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.InvalidVoucherSignature.selector, otherSession));
        payment.settleBatch(b, sigs);
        assertTrue(other != client);
    }

    function test_RevertWhen_DelegateVoucherAboveDeposit() public {
        _setSigner(delegate);
        _expectSettleRevert(
            bytes32(uint256(1)),
            delegateKey,
            100e18 + 1,
            abi.encodeWithSelector(IInferencePayment.VoucherExceedsDeposit.selector, session, 100e18 + 1, 100e18)
        );
    }

    // ---------------------------------------------------------------- what a delegate cannot do

    function test_DelegateCannotTopUpOrTakeTheRefund() public {
        _setSigner(delegate);
        _settleSigned(bytes32(uint256(1)), delegateKey, 4e18);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.NotSessionClient.selector, session, delegate));
        vm.prank(delegate);
        payment.topUpSession(session, 0, expiry + 1);
        // Closing is allowed to anyone after expiry + grace, but the refund only ever goes to the client.
        vm.prank(delegate);
        vm.expectRevert(
            abi.encodeWithSelector(IInferencePayment.SessionNotClosable.selector, session, uint256(expiry) + GRACE)
        );
        payment.closeSession(session);
        vm.warp(expiry + GRACE);
        uint256 before = token.balanceOf(client);
        vm.prank(delegate);
        assertEq(payment.closeSession(session), 96e18);
        assertEq(token.balanceOf(client) - before, 96e18);
        assertEq(token.balanceOf(delegate), 0);
        assertEq(payment.creditOf(delegate), 0);
        vm.expectRevert(IInferencePayment.NothingToWithdraw.selector);
        vm.prank(delegate);
        payment.withdraw();
    }

    // ---------------------------------------------------------------- fuzz

    /// @dev Whoever signs, a voucher settles iff its signer is the client or the current delegate,
    /// and never above the deposit.
    function testFuzz_OnlyClientOrCurrentDelegateSettles(uint256 signerSeed, uint256 cumulative, bool revoke) public {
        cumulative = bound(cumulative, 1, 100e18);
        uint256 key = bound(signerSeed, 1, 1e30);
        _setSigner(delegate);
        if (revoke) _setSigner(address(0));
        address signer = vm.addr(key);
        bool allowed = signer == client || (signer == delegate && !revoke);
        IInferencePayment.SettlementBatch memory b =
            _batch(bytes32(uint256(1)), session, cumulative, key, node, cumulative);
        bytes[] memory sigs = _batchSigs(b, 3);
        if (!allowed) {
            vm.expectRevert(abi.encodeWithSelector(IInferencePayment.InvalidVoucherSignature.selector, session));
        }
        payment.settleBatch(b, sigs);
        assertEq(payment.getSession(session).settled, allowed ? cumulative : 0);
    }

    /// @dev The fuzzer picks the key: a delegate's voucher settles exactly to its amount, only while set.
    function testFuzz_DelegateSettlesWhileSet(uint256 key, uint256 first, uint256 second) public {
        key = bound(key, 1, 1e30);
        first = bound(first, 1, 50e18);
        second = bound(second, first + 1, 100e18);
        vm.assume(vm.addr(key) != client);
        _setSigner(vm.addr(key));
        assertEq(_settleSigned(bytes32(uint256(1)), key, first), first);
        _setSigner(address(0));
        _expectSettleRevert(
            bytes32(uint256(2)),
            key,
            second,
            abi.encodeWithSelector(IInferencePayment.InvalidVoucherSignature.selector, session)
        );
        assertEq(payment.getSession(session).settled, first);
    }
}
