// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {IValidatorRegistry} from "../../src/interfaces/IValidatorRegistry.sol";
import {NCNToken} from "../../src/NCNToken.sol";
import {ValidatorRegistry} from "../../src/ValidatorRegistry.sol";
import {RegistryHandler} from "./RegistryHandler.sol";

contract RegistryInvariantsTest is Test {
    NCNToken internal token;
    ValidatorRegistry internal registry;
    RegistryHandler internal handler;
    address internal admin = makeAddr("admin");
    address internal treasury = makeAddr("treasury");

    function setUp() public {
        token = new NCNToken(admin, type(uint128).max);
        registry = new ValidatorRegistry(token, admin, treasury, 100e18, 3, 6, 1 days);
        handler = new RegistryHandler(token, registry, admin, 9);
        targetContract(address(handler));
    }

    /// @dev Non-validators, inactive validators and repeated signers never count toward M.
    function invariant_OnlyDistinctActiveValidatorsCount() public view {
        assertEq(handler.countMismatches(), 0, "count differs from distinct active signers");
        assertEq(handler.verifyMismatches(), 0, "verification differs from count >= max(threshold, majority)");
    }

    /// @dev The active list, the stored statuses and the stored indexes describe the same set.
    function invariant_ActiveSetConsistent() public view {
        address[] memory set = registry.activeValidators();
        assertLe(set.length, registry.maxValidators());
        uint256 active;
        for (uint256 i; i < handler.keyCount(); ++i) {
            IValidatorRegistry.Validator memory v = registry.getValidator(handler.keyAddress(i));
            if (v.status != IValidatorRegistry.Status.Active) continue;
            ++active;
            assertEq(set[v.index], handler.keyAddress(i), "stored index points elsewhere");
            assertFalse(v.jailed, "jailed validator is active");
        }
        assertEq(active, set.length, "active statuses != active list");
        assertEq(registry.activeCount(), set.length, "active count != active list");
    }

    /// @dev The registry holds exactly the stakes it records.
    function invariant_StakeConservation() public view {
        uint256 staked;
        for (uint256 i; i < handler.keyCount(); ++i) {
            staked += registry.getValidator(handler.keyAddress(i)).stake;
        }
        assertEq(token.balanceOf(address(registry)), staked);
    }
}

