// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IValidatorRegistry} from "../../src/interfaces/IValidatorRegistry.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";

contract ValidatorRegistryNamesTest is NcnTestBase {
    IValidatorRegistry.NameKind internal constant SUBNET = IValidatorRegistry.NameKind.Subnet;
    IValidatorRegistry.NameKind internal constant MODEL = IValidatorRegistry.NameKind.Model;

    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    function _id(IValidatorRegistry.NameKind kind, string memory name) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(uint8(kind), name));
    }

    function test_ClaimName_SetsOwnerAndEmits() public {
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.NameClaimed(_id(SUBNET, "ocr"), SUBNET, "ocr", alice);
        vm.prank(alice);
        bytes32 nameId = registry.claimName(SUBNET, "ocr");
        assertEq(nameId, _id(SUBNET, "ocr"));
        assertEq(registry.nameOwner(SUBNET, "ocr"), alice);
        assertEq(registry.nameOwner(MODEL, "ocr"), address(0));
    }

    function test_ClaimName_AgainByOwnerIsANoOp() public {
        vm.startPrank(alice);
        registry.claimName(MODEL, "tiny-mlp");
        vm.recordLogs();
        registry.claimName(MODEL, "tiny-mlp");
        vm.stopPrank();
        assertEq(vm.getRecordedLogs().length, 0);
        assertEq(registry.nameOwner(MODEL, "tiny-mlp"), alice);
    }

    function test_ClaimName_KindsAreSeparateNamespaces() public {
        vm.prank(alice);
        registry.claimName(SUBNET, "vision");
        vm.prank(bob);
        registry.claimName(MODEL, "vision");
        assertEq(registry.nameOwner(SUBNET, "vision"), alice);
        assertEq(registry.nameOwner(MODEL, "vision"), bob);
    }

    function test_RevertWhen_ClaimingATakenName() public {
        vm.prank(alice);
        registry.claimName(SUBNET, "ocr");
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NameTaken.selector, _id(SUBNET, "ocr"), alice));
        registry.claimName(SUBNET, "ocr");
        assertEq(registry.nameOwner(SUBNET, "ocr"), alice);
    }

    function test_RevertWhen_ClaimingAnInvalidName() public {
        string[6] memory bad = ["", "Upper", "-lead", "sp ace", "a\x00b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"];
        for (uint256 i; i < bad.length; ++i) {
            vm.expectRevert(IValidatorRegistry.InvalidName.selector);
            registry.claimName(SUBNET, bad[i]);
        }
        vm.prank(alice);
        registry.claimName(SUBNET, "a.b_c-d/e9");
        assertEq(registry.nameOwner(SUBNET, "a.b_c-d/e9"), alice);
    }

    function test_TransferName_MovesOwnership() public {
        vm.prank(alice);
        registry.claimName(MODEL, "ppocr-v4");
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.NameTransferred(_id(MODEL, "ppocr-v4"), alice, bob);
        vm.prank(alice);
        registry.transferName(MODEL, "ppocr-v4", bob);
        assertEq(registry.nameOwner(MODEL, "ppocr-v4"), bob);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NameTaken.selector, _id(MODEL, "ppocr-v4"), bob));
        registry.claimName(MODEL, "ppocr-v4");
    }

    function test_RevertWhen_TransferredByANonOwner() public {
        vm.prank(alice);
        registry.claimName(MODEL, "ppocr-v4");
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NotNameOwner.selector, _id(MODEL, "ppocr-v4"), bob));
        registry.transferName(MODEL, "ppocr-v4", bob);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NotNameOwner.selector, _id(MODEL, "unclaimed"), bob));
        registry.transferName(MODEL, "unclaimed", bob);
        vm.prank(alice);
        vm.expectRevert(IValidatorRegistry.ZeroAddress.selector);
        registry.transferName(MODEL, "ppocr-v4", address(0));
    }

    function testFuzz_ClaimName_FirstClaimerKeepsIt(address first, address second) public {
        vm.assume(first != second && first != address(0));
        vm.prank(first);
        registry.claimName(SUBNET, "default");
        vm.prank(second);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NameTaken.selector, _id(SUBNET, "default"), first));
        registry.claimName(SUBNET, "default");
        assertEq(registry.nameOwner(SUBNET, "default"), first);
    }
}
