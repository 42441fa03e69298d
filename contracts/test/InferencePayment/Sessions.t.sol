// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";

contract InferencePaymentSessionsTest is NcnTestBase {
    bytes32 internal constant SALT = bytes32(uint256(1));
    uint64 internal expiry;

    function setUp() public override {
        super.setUp();
        expiry = uint64(block.timestamp + 1 days);
    }

    // ---------------------------------------------------------------- open

    function test_OpenSession() public {
        bytes32 expected = keccak256(abi.encode(client, gateway, SALT));
        assertEq(payment.sessionIdOf(client, gateway, SALT), expected);
        _mint(client, 100e18);
        vm.startPrank(client);
        token.approve(address(payment), 100e18);
        vm.expectEmit(address(payment));
        emit IInferencePayment.SessionOpened(expected, client, gateway, SALT, 100e18, expiry);
        bytes32 id = payment.openSession(gateway, SALT, 100e18, expiry);
        vm.stopPrank();
        assertEq(id, expected);
        IInferencePayment.Session memory s = payment.getSession(id);
        assertEq(s.client, client);
        assertEq(s.gateway, gateway);
        assertEq(s.deposit, 100e18);
        assertEq(s.settled, 0);
        assertEq(s.expiry, expiry);
        assertFalse(s.closed);
        assertEq(token.balanceOf(address(payment)), 100e18);
    }

    function test_OpenSessionWithPermit() public {
        _mint(client, 100e18);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permitSig(clientKey, address(payment), 100e18, deadline);
        vm.prank(client);
        bytes32 id = payment.openSessionWithPermit(gateway, SALT, 100e18, expiry, deadline, v, r, s);
        assertEq(payment.getSession(id).deposit, 100e18);
    }

    function test_OpenSession_SameSaltOtherGatewayIsAnotherSession() public {
        bytes32 a = _openSession(clientKey, SALT, 1e18, expiry);
        _mint(client, 1e18);
        vm.startPrank(client);
        token.approve(address(payment), 1e18);
        bytes32 b = payment.openSession(makeAddr("gateway-2"), SALT, 1e18, expiry);
        vm.stopPrank();
        assertTrue(a != b);
    }

    function test_RevertWhen_OpenSessionTwice() public {
        bytes32 id = _openSession(clientKey, SALT, 1e18, expiry);
        _mint(client, 1e18);
        vm.startPrank(client);
        token.approve(address(payment), 1e18);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.SessionAlreadyExists.selector, id));
        payment.openSession(gateway, SALT, 1e18, expiry);
        vm.stopPrank();
    }

    function test_RevertWhen_OpenSessionInvalidArguments() public {
        vm.startPrank(client);
        vm.expectRevert(IInferencePayment.ZeroAddress.selector);
        payment.openSession(address(0), SALT, 1, expiry);
        vm.expectRevert(IInferencePayment.ZeroAmount.selector);
        payment.openSession(gateway, SALT, 0, expiry);
        uint256 tooLarge = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.AmountTooLarge.selector, tooLarge));
        payment.openSession(gateway, SALT, tooLarge, expiry);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.ExpiryInPast.selector, uint64(block.timestamp)));
        payment.openSession(gateway, SALT, 1, uint64(block.timestamp));
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- top up

    function test_TopUpSession() public {
        bytes32 id = _openSession(clientKey, SALT, 10e18, expiry);
        _mint(client, 5e18);
        vm.startPrank(client);
        token.approve(address(payment), 5e18);
        vm.expectEmit(address(payment));
        emit IInferencePayment.SessionToppedUp(id, 5e18, 15e18, expiry + 1 days);
        payment.topUpSession(id, 5e18, expiry + 1 days);
        vm.stopPrank();
        IInferencePayment.Session memory s = payment.getSession(id);
        assertEq(s.deposit, 15e18);
        assertEq(s.expiry, expiry + 1 days);
    }

    function test_TopUpSession_AmountOnlyKeepsExpiry() public {
        bytes32 id = _openSession(clientKey, SALT, 10e18, expiry);
        _mint(client, 1e18);
        vm.startPrank(client);
        token.approve(address(payment), 1e18);
        payment.topUpSession(id, 1e18, 0);
        vm.stopPrank();
        assertEq(payment.getSession(id).expiry, expiry);
        assertEq(payment.getSession(id).deposit, 11e18);
    }

    function test_TopUpSession_ExtendOnly() public {
        bytes32 id = _openSession(clientKey, SALT, 10e18, expiry);
        vm.prank(client);
        payment.topUpSession(id, 0, expiry + 1);
        assertEq(payment.getSession(id).expiry, expiry + 1);
        assertEq(payment.getSession(id).deposit, 10e18);
    }

    function test_RevertWhen_TopUpInvalid() public {
        bytes32 id = _openSession(clientKey, SALT, 10e18, expiry);
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.UnknownSession.selector, unknown));
        payment.topUpSession(unknown, 1, 0);
        address stranger = makeAddr("stranger");
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.NotSessionClient.selector, id, stranger));
        vm.prank(stranger);
        payment.topUpSession(id, 1, 0);
        vm.startPrank(client);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.InvalidTopUp.selector, id));
        payment.topUpSession(id, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.InvalidTopUp.selector, id));
        payment.topUpSession(id, 1, expiry - 1);
        uint256 tooMuch = uint256(type(uint96).max);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.AmountTooLarge.selector, tooMuch + 10e18));
        payment.topUpSession(id, tooMuch, 0);
        vm.stopPrank();
    }

    function test_RevertWhen_TopUpClosedSession() public {
        bytes32 id = _openSession(clientKey, SALT, 10e18, expiry);
        vm.warp(expiry + GRACE);
        payment.closeSession(id);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.SessionIsClosed.selector, id));
        vm.prank(client);
        payment.topUpSession(id, 1, 0);
    }

    // ---------------------------------------------------------------- close

    function test_CloseSession_RefundsUnspentToClient() public {
        bytes32 id = _openSession(clientKey, SALT, 10e18, expiry);
        _settle(bytes32(uint256(1)), id, 4e18);
        vm.warp(expiry + GRACE);
        vm.expectEmit(address(payment));
        emit IInferencePayment.SessionClosed(id, client, 6e18);
        vm.prank(makeAddr("anyone"));
        assertEq(payment.closeSession(id), 6e18);
        assertEq(token.balanceOf(client), 6e18);
        IInferencePayment.Session memory s = payment.getSession(id);
        assertTrue(s.closed);
        assertEq(s.deposit, 4e18);
        assertEq(s.settled, 4e18);
    }

    function test_CloseSession_FullySpentRefundsNothing() public {
        bytes32 id = _openSession(clientKey, SALT, 10e18, expiry);
        _settle(bytes32(uint256(1)), id, 10e18);
        vm.warp(expiry + GRACE);
        assertEq(payment.closeSession(id), 0);
        assertEq(token.balanceOf(client), 0);
    }

    function test_RevertWhen_CloseSessionBeforeGraceEnds() public {
        bytes32 id = _openSession(clientKey, SALT, 10e18, expiry);
        vm.warp(expiry + GRACE - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IInferencePayment.SessionNotClosable.selector, id, uint256(expiry) + GRACE)
        );
        payment.closeSession(id);
    }

    function test_RevertWhen_CloseUnknownOrClosedSession() public {
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.UnknownSession.selector, unknown));
        payment.closeSession(unknown);
        bytes32 id = _openSession(clientKey, SALT, 10e18, expiry);
        vm.warp(expiry + GRACE);
        payment.closeSession(id);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.SessionIsClosed.selector, id));
        payment.closeSession(id);
    }

    function test_SettleWithinGraceAfterExpiry() public {
        bytes32 id = _openSession(clientKey, SALT, 10e18, expiry);
        vm.warp(expiry + GRACE - 1);
        _settle(bytes32(uint256(1)), id, 3e18);
        assertEq(payment.getSession(id).settled, 3e18);
    }

    function test_RevertWhen_SettleAfterClose() public {
        bytes32 id = _openSession(clientKey, SALT, 10e18, expiry);
        vm.warp(expiry + GRACE);
        payment.closeSession(id);
        IInferencePayment.SettlementBatch memory b =
            _batch(bytes32(uint256(1)), id, 1e18, clientKey, makeAddr("node"), 1e18);
        bytes[] memory sigs = _batchSigs(b, 3);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.SessionIsClosed.selector, id));
        payment.settleBatch(b, sigs);
    }

    function testFuzz_CloseReturnsExactlyTheUnspent(uint96 deposit, uint96 spent) public {
        deposit = uint96(bound(deposit, 1, 1_000_000e18));
        spent = uint96(bound(spent, 0, deposit));
        bytes32 id = _openSession(clientKey, SALT, deposit, expiry);
        if (spent > 0) _settle(bytes32(uint256(1)), id, spent);
        vm.warp(expiry + GRACE);
        assertEq(payment.closeSession(id), deposit - spent);
        assertEq(token.balanceOf(client), deposit - spent);
        assertEq(token.balanceOf(address(payment)), spent);
    }

    function _settle(bytes32 batchId, bytes32 id, uint256 cumulative) internal {
        IInferencePayment.SettlementBatch memory b =
            _batch(batchId, id, cumulative, clientKey, makeAddr("node"), cumulative - payment.getSession(id).settled);
        payment.settleBatch(b, _batchSigs(b, 3));
    }
}
