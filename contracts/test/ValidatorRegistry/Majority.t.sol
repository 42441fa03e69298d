// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {IValidatorRegistry} from "../../src/interfaces/IValidatorRegistry.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";

/// @dev The attestation bar is max(threshold, floor(N/2) + 1) for an active set of N.
contract ValidatorRegistryMajorityTest is NcnTestBase {
    bytes32 internal constant DIGEST = keccak256("digest");

    /// @dev Registers `n` more validators (keys appended to `validatorKeys`), raising the set cap to fit.
    function _grow(uint256 n, string memory label) internal {
        uint16 max = uint16(registry.activeCount() + n);
        if (max > registry.maxValidators()) {
            vm.prank(admin);
            registry.setMaxValidators(max);
        }
        for (uint256 i; i < n; ++i) {
            (address v, uint256 key) = makeAddrAndKey(string.concat(label, vm.toString(i)));
            validators.push(v);
            validatorKeys.push(key);
            _registerValidator(v, MIN_STAKE);
        }
    }

    /// @dev Signatures of validators [from, from + n).
    function _sigs(uint256 from, uint256 n) internal view returns (bytes[] memory sigs) {
        sigs = new bytes[](n);
        for (uint256 i; i < n; ++i) {
            sigs[i] = _sign(validatorKeys[from + i], DIGEST);
        }
    }

    function test_RequiredAttestations_IsTheThresholdWhileItIsAMajority() public view {
        assertEq(registry.activeCount(), 5);
        assertEq(registry.requiredAttestations(), 3);
    }

    function test_RequiredAttestations_GrowsWithTheSet() public {
        _grow(6, "late");
        assertEq(registry.activeCount(), 11);
        assertEq(registry.threshold(), THRESHOLD);
        assertEq(registry.requiredAttestations(), 6);
        assertFalse(registry.verifyAttestations(DIGEST, _sigs(0, 5)));
        assertTrue(registry.verifyAttestations(DIGEST, _sigs(0, 6)));
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InsufficientAttestations.selector, 5, 6));
        registry.requireAttestations(DIGEST, _sigs(6, 5));
        assertEq(registry.requireAttestations(DIGEST, _sigs(5, 6)), 6);
    }

    function test_RequiredAttestations_NeverBelowTheThresholdAsTheSetShrinks() public {
        vm.prank(validators[0]);
        registry.beginUnbonding();
        vm.prank(validators[1]);
        registry.beginUnbonding();
        assertEq(registry.activeCount(), 3);
        assertEq(registry.requiredAttestations(), 3);
        vm.prank(admin);
        registry.setThreshold(1);
        assertEq(registry.requiredAttestations(), 2);
    }

    function test_RequiredAttestations_FollowsSlashingOutOfTheSet() public {
        _grow(2, "extra");
        assertEq(registry.requiredAttestations(), 4);
        vm.startPrank(admin);
        registry.slash(validators[6], IValidatorRegistry.Offence.Collusion, bytes32(0));
        registry.slash(validators[5], IValidatorRegistry.Offence.Collusion, bytes32(0));
        vm.stopPrank();
        assertEq(registry.activeCount(), 5);
        assertEq(registry.requiredAttestations(), 3);
    }

    /// @dev Issue 21: keys joining the free seats of a set with the minimum stake met a fixed threshold
    /// on their own. Five newcomers beside five incumbents are half the set, not a majority.
    function test_RevertWhen_NewcomersFillingFreeSeatsAttestAlone() public {
        _grow(5, "sybil");
        assertEq(registry.requiredAttestations(), 6);
        bytes[] memory sybils = _sigs(5, 5);
        assertFalse(registry.verifyAttestations(DIGEST, sybils));
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InsufficientAttestations.selector, 5, 6));
        registry.requireAttestations(DIGEST, sybils);
    }

    /// @dev The payment contract gets the same bar: a settlement signed by a fixed M of a grown set fails.
    function test_RevertWhen_SettlementSignedByLessThanAMajority() public {
        _grow(4, "grown");
        bytes32 session = _openSession(clientKey, bytes32(uint256(1)), 10e18, uint64(block.timestamp + 1 days));
        IInferencePayment.SettlementBatch memory b =
            _batch(bytes32(uint256(1)), session, 1e18, clientKey, makeAddr("node"), 1e18);
        bytes[] memory sigs = _batchSigs(b, 4);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InsufficientAttestations.selector, 4, 5));
        payment.settleBatch(b, sigs);
        sigs = _batchSigs(b, 5);
        assertEq(payment.settleBatch(b, sigs), 1e18);
    }

    function testFuzz_RequiredIsAMajorityAndAtLeastTheThreshold(uint8 extra, uint8 leaving, uint16 threshold) public {
        extra = uint8(bound(extra, 0, 20));
        _grow(extra, "fuzz");
        uint256 n = 5 + uint256(extra);
        leaving = uint8(bound(leaving, 0, n));
        for (uint256 i; i < leaving; ++i) {
            vm.prank(validators[i]);
            registry.beginUnbonding();
        }
        threshold = uint16(bound(threshold, 1, registry.maxValidators()));
        vm.prank(admin);
        registry.setThreshold(threshold);
        uint256 active = n - leaving;
        uint256 required = registry.requiredAttestations();
        assertEq(registry.activeCount(), active);
        assertGe(required, threshold);
        assertGt(2 * required, active);
        assertTrue(required == threshold || required == active / 2 + 1);
    }
}
