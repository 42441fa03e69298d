// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {IValidatorRegistry} from "../../src/interfaces/IValidatorRegistry.sol";
import {NcnTypes} from "../../src/libraries/NcnTypes.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";

contract InferencePaymentEscrowTest is NcnTestBase {
    bytes32 internal constant REQUEST = keccak256("request-1");
    bytes32 internal constant SUBNET = keccak256("ocr");
    address internal agent = makeAddr("agent");
    uint64 internal expiry;

    function setUp() public override {
        super.setUp();
        expiry = uint64(block.timestamp + 10 minutes);
        _mint(client, 100e18);
        vm.prank(client);
        token.approve(address(payment), type(uint256).max);
    }

    function _initiate(bytes32 requestId, uint256 amount) internal {
        vm.prank(client);
        payment.initiateInferenceRequest(requestId, SUBNET, gateway, amount, expiry);
    }

    function _complete(NcnTypes.InferenceReceipt memory r, uint256 signers) internal {
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(r), signers);
        vm.prank(gateway);
        payment.completeInferenceRequest(r, sigs);
    }

    // ---------------------------------------------------------------- initiate

    function test_Initiate_EscrowsTokens() public {
        vm.expectEmit(address(payment));
        emit IInferencePayment.InferenceRequestInitiated(REQUEST, client, gateway, SUBNET, 10e18, expiry);
        _initiate(REQUEST, 10e18);
        IInferencePayment.Escrow memory e = payment.getEscrow(REQUEST);
        assertEq(e.client, client);
        assertEq(e.gateway, gateway);
        assertEq(e.amount, 10e18);
        assertEq(e.expiry, expiry);
        assertEq(e.subnetId, SUBNET);
        assertEq(uint8(e.status), uint8(IInferencePayment.EscrowStatus.Pending));
        assertEq(token.balanceOf(address(payment)), 10e18);
        assertEq(token.balanceOf(client), 90e18);
    }

    function test_InitiateWithPermit() public {
        vm.prank(client);
        token.approve(address(payment), 0);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permitSig(clientKey, address(payment), 10e18, deadline);
        vm.prank(client);
        payment.initiateInferenceRequestWithPermit(REQUEST, SUBNET, gateway, 10e18, expiry, deadline, v, r, s);
        assertEq(payment.getEscrow(REQUEST).amount, 10e18);
        assertEq(token.allowance(client, address(payment)), 0);
    }

    function test_RevertWhen_InitiateWithPermitButNoAllowance() public {
        vm.prank(client);
        token.approve(address(payment), 0);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(payment), 0, 10e18)
        );
        vm.prank(client);
        payment.initiateInferenceRequestWithPermit(
            REQUEST, SUBNET, gateway, 10e18, expiry, block.timestamp + 1, 27, bytes32(0), bytes32(0)
        );
    }

    function test_RevertWhen_InitiateWithZeroGateway() public {
        vm.expectRevert(IInferencePayment.ZeroAddress.selector);
        vm.prank(client);
        payment.initiateInferenceRequest(REQUEST, SUBNET, address(0), 1, expiry);
    }

    function test_RevertWhen_InitiateWithZeroAmount() public {
        vm.expectRevert(IInferencePayment.ZeroAmount.selector);
        _initiate(REQUEST, 0);
    }

    function test_RevertWhen_InitiateAmountTooLarge() public {
        uint256 amount = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.AmountTooLarge.selector, amount));
        _initiate(REQUEST, amount);
    }

    function test_RevertWhen_InitiateExpiryInPast() public {
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.ExpiryInPast.selector, uint64(block.timestamp)));
        vm.prank(client);
        payment.initiateInferenceRequest(REQUEST, SUBNET, gateway, 1, uint64(block.timestamp));
    }

    function test_RevertWhen_InitiateReusesRequestId() public {
        _initiate(REQUEST, 1e18);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.RequestAlreadyExists.selector, REQUEST));
        _initiate(REQUEST, 1e18);
        skip(11 minutes);
        payment.handleExpiredRequest(REQUEST);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.RequestAlreadyExists.selector, REQUEST));
        _initiateAt(REQUEST, 1e18, uint64(block.timestamp + 10 minutes));
    }

    // ---------------------------------------------------------------- complete

    function test_Complete_SplitsPriceAndRefundsRest() public {
        _initiate(REQUEST, 10e18);
        NcnTypes.InferenceReceipt memory r = _receipt(REQUEST, SUBNET, agent, 8e18);
        vm.expectEmit(address(payment));
        emit IInferencePayment.Credited(agent, 7.2e18);
        vm.expectEmit(address(payment));
        emit IInferencePayment.Credited(gateway, 0.4e18);
        vm.expectEmit(address(payment));
        emit IInferencePayment.InferenceRequestCompleted(REQUEST, agent, 8e18, 2e18);
        _complete(r, 3);
        assertEq(payment.creditOf(agent), 7.2e18);
        assertEq(payment.creditOf(gateway), 0.4e18);
        (uint256 validatorFees, uint256 protocolFees) = payment.feePools();
        assertEq(validatorFees, 0.24e18);
        assertEq(protocolFees, 0.16e18);
        assertEq(token.balanceOf(client), 92e18);
        assertEq(token.balanceOf(address(payment)), 8e18);
        assertEq(uint8(payment.getEscrow(REQUEST).status), uint8(IInferencePayment.EscrowStatus.Completed));
    }

    function test_Complete_FullPriceRefundsNothing() public {
        _initiate(REQUEST, 10e18);
        _complete(_receipt(REQUEST, SUBNET, agent, 10e18), 5);
        assertEq(token.balanceOf(client), 90e18);
        assertEq(token.balanceOf(address(payment)), 10e18);
    }

    function test_Complete_AtExpiry() public {
        _initiate(REQUEST, 1e18);
        vm.warp(expiry);
        _complete(_receipt(REQUEST, SUBNET, agent, 1e18), 3);
        assertEq(uint8(payment.getEscrow(REQUEST).status), uint8(IInferencePayment.EscrowStatus.Completed));
    }

    function test_RevertWhen_CompleteUnknownRequest() public {
        NcnTypes.InferenceReceipt memory r = _receipt(REQUEST, SUBNET, agent, 1);
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(r), 3);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.RequestNotPending.selector, REQUEST));
        vm.prank(gateway);
        payment.completeInferenceRequest(r, sigs);
    }

    function test_RevertWhen_CompleteTwice() public {
        _initiate(REQUEST, 1e18);
        NcnTypes.InferenceReceipt memory r = _receipt(REQUEST, SUBNET, agent, 1e18);
        _complete(r, 3);
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(r), 3);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.RequestNotPending.selector, REQUEST));
        vm.prank(gateway);
        payment.completeInferenceRequest(r, sigs);
    }

    function test_RevertWhen_CompleteAfterExpiry() public {
        _initiate(REQUEST, 1e18);
        NcnTypes.InferenceReceipt memory r = _receipt(REQUEST, SUBNET, agent, 1e18);
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(r), 3);
        vm.warp(expiry + 1);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.RequestExpired.selector, REQUEST, expiry));
        vm.prank(gateway);
        payment.completeInferenceRequest(r, sigs);
    }

    function test_RevertWhen_CompleteWithOtherSubnet() public {
        _initiate(REQUEST, 1e18);
        NcnTypes.InferenceReceipt memory r = _receipt(REQUEST, keccak256("other"), agent, 1e18);
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(r), 3);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.SubnetMismatch.selector, SUBNET, keccak256("other")));
        vm.prank(gateway);
        payment.completeInferenceRequest(r, sigs);
    }

    function test_RevertWhen_CompleteWithZeroAgent() public {
        _initiate(REQUEST, 1e18);
        NcnTypes.InferenceReceipt memory r = _receipt(REQUEST, SUBNET, address(0), 1e18);
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(r), 3);
        vm.expectRevert(IInferencePayment.ZeroAddress.selector);
        vm.prank(gateway);
        payment.completeInferenceRequest(r, sigs);
    }

    function test_RevertWhen_CompletePriceExceedsEscrow() public {
        _initiate(REQUEST, 1e18);
        NcnTypes.InferenceReceipt memory r = _receipt(REQUEST, SUBNET, agent, 1e18 + 1);
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(r), 3);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.PriceExceedsEscrow.selector, 1e18 + 1, 1e18));
        vm.prank(gateway);
        payment.completeInferenceRequest(r, sigs);
    }

    function test_RevertWhen_CompleteBelowThreshold() public {
        _initiate(REQUEST, 1e18);
        NcnTypes.InferenceReceipt memory r = _receipt(REQUEST, SUBNET, agent, 1e18);
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(r), 2);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InsufficientAttestations.selector, 2, 3));
        vm.prank(gateway);
        payment.completeInferenceRequest(r, sigs);
    }

    function test_RevertWhen_CompleteWithRepeatedAndOutsiderSignatures() public {
        _initiate(REQUEST, 1e18);
        NcnTypes.InferenceReceipt memory r = _receipt(REQUEST, SUBNET, agent, 1e18);
        bytes32 d = payment.completionDigest(r);
        (, uint256 outsider) = makeAddrAndKey("outsider");
        bytes[] memory sigs = new bytes[](5);
        sigs[0] = _sign(validatorKeys[0], d);
        sigs[1] = _sign(validatorKeys[0], d);
        sigs[2] = _sign(validatorKeys[1], d);
        sigs[3] = _sign(outsider, d);
        sigs[4] = _sign(validatorKeys[1], d);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InsufficientAttestations.selector, 2, 3));
        vm.prank(gateway);
        payment.completeInferenceRequest(r, sigs);
    }

    function test_RevertWhen_CompleteWithAttestationOfAnotherReceipt() public {
        _initiate(REQUEST, 10e18);
        NcnTypes.InferenceReceipt memory honest = _receipt(REQUEST, SUBNET, agent, 1e18);
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(honest), 3);
        NcnTypes.InferenceReceipt memory inflated = honest;
        inflated.price = 10e18;
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InsufficientAttestations.selector, 0, 3));
        vm.prank(gateway);
        payment.completeInferenceRequest(inflated, sigs);
    }

    /// @dev Issue 21, attack 3: whoever learns a request id (validators see it in the clear) forges a
    /// receipt paying themselves the whole escrow and gets it attested. Only the gateway may complete.
    function test_RevertWhen_StrangerCompletesWithForgedReceipt() public {
        _initiate(REQUEST, 10e18);
        address thief = makeAddr("thief");
        NcnTypes.InferenceReceipt memory forged = _receipt(REQUEST, SUBNET, thief, 10e18);
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(forged), 5);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.NotEscrowGateway.selector, REQUEST, thief));
        vm.prank(thief);
        payment.completeInferenceRequest(forged, sigs);
        assertEq(payment.creditOf(thief), 0);
        assertEq(uint8(payment.getEscrow(REQUEST).status), uint8(IInferencePayment.EscrowStatus.Pending));
        assertEq(token.balanceOf(address(payment)), 10e18);

        // The real request still completes, through its gateway, at its real price.
        _complete(_receipt(REQUEST, SUBNET, agent, 2e18), 3);
        assertEq(payment.creditOf(agent), 1.8e18);
        assertEq(token.balanceOf(client), 98e18);
    }

    function test_RevertWhen_ClientCompletesOwnEscrow() public {
        _initiate(REQUEST, 10e18);
        NcnTypes.InferenceReceipt memory r = _receipt(REQUEST, SUBNET, agent, 0);
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(r), 3);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.NotEscrowGateway.selector, REQUEST, client));
        vm.prank(client);
        payment.completeInferenceRequest(r, sigs);
    }

    function testFuzz_RevertWhen_CompleteByAnyoneButItsGateway(address caller) public {
        vm.assume(caller != gateway);
        _initiate(REQUEST, 10e18);
        NcnTypes.InferenceReceipt memory r = _receipt(REQUEST, SUBNET, agent, 10e18);
        bytes[] memory sigs = _validatorSigs(payment.completionDigest(r), 3);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.NotEscrowGateway.selector, REQUEST, caller));
        vm.prank(caller);
        payment.completeInferenceRequest(r, sigs);
    }

    function testFuzz_CompleteConservesEscrow(uint96 amount, uint96 price, uint16 gw, uint16 val, uint16 proto)
        public
    {
        amount = uint96(bound(amount, 1, 100e18));
        price = uint96(bound(price, 0, amount));
        gw = uint16(bound(gw, 0, 10_000));
        val = uint16(bound(val, 0, 10_000 - gw));
        proto = uint16(bound(proto, 0, 10_000 - gw - val));
        vm.prank(admin);
        payment.setFees(gw, val, proto);
        _initiate(REQUEST, amount);
        _complete(_receipt(REQUEST, SUBNET, agent, price), 3);
        (uint256 validatorFees, uint256 protocolFees) = payment.feePools();
        assertEq(payment.creditOf(agent) + payment.creditOf(gateway) + validatorFees + protocolFees, price);
        assertEq(token.balanceOf(address(payment)), price);
        assertEq(token.balanceOf(client), 100e18 - uint256(price));
        assertEq(payment.creditOf(agent), uint256(price) * (10_000 - gw - val - proto) / 10_000);
    }

    // ---------------------------------------------------------------- refund

    function test_HandleExpiredRequest_RefundsClient() public {
        _initiate(REQUEST, 10e18);
        vm.warp(expiry + 1);
        vm.expectEmit(address(payment));
        emit IInferencePayment.InferenceRequestRefunded(REQUEST, client, 10e18);
        vm.prank(makeAddr("anyone"));
        payment.handleExpiredRequest(REQUEST);
        assertEq(token.balanceOf(client), 100e18);
        assertEq(uint8(payment.getEscrow(REQUEST).status), uint8(IInferencePayment.EscrowStatus.Refunded));
    }

    function test_RevertWhen_HandleExpiredRequestBeforeExpiry() public {
        _initiate(REQUEST, 10e18);
        vm.warp(expiry);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.RequestNotExpired.selector, REQUEST, expiry));
        payment.handleExpiredRequest(REQUEST);
    }

    function test_RevertWhen_HandleExpiredRequestTwiceOrAfterCompletion() public {
        _initiate(REQUEST, 1e18);
        _complete(_receipt(REQUEST, SUBNET, agent, 1e18), 3);
        vm.warp(expiry + 1);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.RequestNotPending.selector, REQUEST));
        payment.handleExpiredRequest(REQUEST);
        bytes32 other = keccak256("request-2");
        _initiateAt(other, 1e18, uint64(block.timestamp + 1));
        vm.warp(block.timestamp + 2);
        payment.handleExpiredRequest(other);
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.RequestNotPending.selector, other));
        payment.handleExpiredRequest(other);
    }

    function _initiateAt(bytes32 requestId, uint256 amount, uint64 at) internal {
        vm.prank(client);
        payment.initiateInferenceRequest(requestId, SUBNET, gateway, amount, at);
    }
}
