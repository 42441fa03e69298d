// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {InferencePayment} from "../../src/InferencePayment.sol";
import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {IValidatorRegistry} from "../../src/interfaces/IValidatorRegistry.sol";
import {NcnTypes} from "../../src/libraries/NcnTypes.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";

contract InferencePaymentAdminTest is NcnTestBase {
    function _config(uint16 gw, uint16 val, uint16 proto, address t)
        internal
        pure
        returns (IInferencePayment.Config memory)
    {
        return IInferencePayment.Config({
            gatewayBps: gw, validatorBps: val, protocolBps: proto, settlementGrace: 0, treasury: t
        });
    }

    function test_Constructor_SetsEverything() public view {
        assertEq(address(payment.token()), address(token));
        assertEq(address(payment.registry()), address(registry));
        assertTrue(payment.hasRole(payment.DEFAULT_ADMIN_ROLE(), admin));
        IInferencePayment.Config memory c = payment.config();
        assertEq(c.gatewayBps, GATEWAY_BPS);
        assertEq(c.validatorBps, VALIDATOR_BPS);
        assertEq(c.protocolBps, PROTOCOL_BPS);
        assertEq(c.settlementGrace, GRACE);
        assertEq(c.treasury, treasury);
    }

    function test_RevertWhen_ConstructedWithZeroAddress() public {
        IInferencePayment.Config memory c = _config(0, 0, 0, treasury);
        vm.expectRevert(IInferencePayment.ZeroAddress.selector);
        new InferencePayment(IERC20(address(0)), registry, admin, c);
        vm.expectRevert(IInferencePayment.ZeroAddress.selector);
        new InferencePayment(token, IValidatorRegistry(address(0)), admin, c);
        vm.expectRevert(IInferencePayment.ZeroAddress.selector);
        new InferencePayment(token, registry, address(0), c);
        vm.expectRevert(IInferencePayment.ZeroAddress.selector);
        new InferencePayment(token, registry, admin, _config(0, 0, 0, address(0)));
    }

    function test_RevertWhen_ConstructedWithFeesAbove100Percent() public {
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.InvalidFees.selector, 10_001));
        new InferencePayment(token, registry, admin, _config(5_000, 5_000, 1, treasury));
    }

    function test_SetFees() public {
        vm.expectEmit(address(payment));
        emit IInferencePayment.FeesUpdated(1, 2, 3);
        vm.prank(admin);
        payment.setFees(1, 2, 3);
        IInferencePayment.Config memory c = payment.config();
        assertEq(c.gatewayBps, 1);
        assertEq(c.validatorBps, 2);
        assertEq(c.protocolBps, 3);
        assertEq(c.treasury, treasury);
        assertEq(c.settlementGrace, GRACE);
    }

    function test_RevertWhen_SetFeesAbove100Percent() public {
        vm.expectRevert(abi.encodeWithSelector(IInferencePayment.InvalidFees.selector, 10_001));
        vm.prank(admin);
        payment.setFees(10_000, 0, 1);
    }

    function test_SetTreasuryAndGrace() public {
        address t = makeAddr("new treasury");
        vm.startPrank(admin);
        vm.expectEmit(address(payment));
        emit IInferencePayment.TreasuryUpdated(t);
        payment.setTreasury(t);
        vm.expectEmit(address(payment));
        emit IInferencePayment.SettlementGraceUpdated(42);
        payment.setSettlementGrace(42);
        vm.stopPrank();
        assertEq(payment.config().treasury, t);
        assertEq(payment.config().settlementGrace, 42);
    }

    function test_RevertWhen_SetTreasuryZero() public {
        vm.expectRevert(IInferencePayment.ZeroAddress.selector);
        vm.prank(admin);
        payment.setTreasury(address(0));
    }

    function test_RevertWhen_GovernanceCalledByStranger() public {
        address stranger = makeAddr("stranger");
        bytes memory err = abi.encodeWithSelector(
            IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, payment.DEFAULT_ADMIN_ROLE()
        );
        vm.startPrank(stranger);
        vm.expectRevert(err);
        payment.setFees(0, 0, 0);
        vm.expectRevert(err);
        payment.setTreasury(stranger);
        vm.expectRevert(err);
        payment.setSettlementGrace(0);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- EIP-712

    function test_DomainIsNcnNetworkVersion1() public view {
        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) =
            payment.eip712Domain();
        assertEq(name, "NCN Network");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifyingContract, address(payment));
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("NCN Network"),
                keccak256("1"),
                block.chainid,
                address(payment)
            )
        );
        assertEq(payment.DOMAIN_SEPARATOR(), expected);
    }

    function test_DigestViewsFollowEip712() public {
        NcnTypes.InferenceReceipt memory r = _receipt(keccak256("r"), keccak256("s"), makeAddr("agent"), 7);
        bytes32 receiptHash = keccak256(
            abi.encode(
                keccak256(
                    "InferenceReceipt(bytes32 requestId,bytes32 subnetId,bytes32 modelId,bytes32 modelHash,bytes32 inputHash,bytes32 outputHash,address agent,uint256 price,uint64 startedAt,uint64 finishedAt)"
                ),
                r.requestId,
                r.subnetId,
                r.modelId,
                r.modelHash,
                r.inputHash,
                r.outputHash,
                r.agent,
                r.price,
                r.startedAt,
                r.finishedAt
            )
        );
        bytes32 domain = payment.DOMAIN_SEPARATOR();
        assertEq(payment.receiptDigest(r), keccak256(abi.encodePacked("\x19\x01", domain, receiptHash)));
        bytes32 attestationHash = keccak256(
            abi.encode(
                keccak256("Attestation(bytes32 requestId,uint8 phase,bytes32 subject,bytes32 outputHash)"),
                r.requestId,
                uint8(1),
                receiptHash,
                r.outputHash
            )
        );
        assertEq(payment.completionDigest(r), keccak256(abi.encodePacked("\x19\x01", domain, attestationHash)));
        assertEq(payment.attestationDigest(r.requestId, 1, receiptHash, r.outputHash), payment.completionDigest(r));
        bytes32 voucherHash =
            keccak256(abi.encode(keccak256("Voucher(bytes32 sessionId,uint256 cumulativeAmount)"), bytes32("s"), 5));
        assertEq(payment.voucherDigest(bytes32("s"), 5), keccak256(abi.encodePacked("\x19\x01", domain, voucherHash)));
    }

    function test_SettlementDigestBindsEveryField() public {
        IInferencePayment.SettlementBatch memory b =
            _batch(bytes32(uint256(9)), keccak256("session"), 3, clientKey, makeAddr("node"), 3);
        (bytes32 digest, uint256 total) = payment.settlementDigest(b);
        assertEq(total, 3);
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "SettlementBatch(bytes32 batchId,address gateway,bytes32 receiptsRoot,bytes32 vouchersHash,bytes32 payoutsHash,uint256 total)"
                ),
                b.batchId,
                b.gateway,
                b.receiptsRoot,
                keccak256(abi.encode(b.sessionIds, b.cumulativeAmounts)),
                keccak256(abi.encode(b.nodes, b.amounts)),
                total
            )
        );
        assertEq(digest, keccak256(abi.encodePacked("\x19\x01", payment.DOMAIN_SEPARATOR(), structHash)));
        // salts and voucher signatures are checked on their own and are not part of what validators sign
        b.salts[0] = bytes32(uint256(123));
        (bytes32 again,) = payment.settlementDigest(b);
        assertEq(again, digest);
    }
}
