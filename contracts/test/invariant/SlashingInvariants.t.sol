// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IValidatorRegistry} from "../../src/interfaces/IValidatorRegistry.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";
import {SlashingHandler} from "./SlashingHandler.sol";

contract SlashingInvariantsTest is NcnTestBase {
    SlashingHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new SlashingHandler(registry, payment, validatorKeys);
        targetContract(address(handler));
    }

    /// @dev Whatever a reporter pairs up from an honest validator's signatures (one completion per
    /// request id, pre-attestations as often as asked), its stake and seat stay whole.
    function invariant_HonestValidatorNeverSlashed() public view {
        assertEq(handler.honestSlashed(), 0, "an honest validator was slashed");
        for (uint256 i; i < handler.HONEST(); ++i) {
            IValidatorRegistry.Validator memory v = registry.getValidator(handler.validator(i));
            assertEq(v.stake, MIN_STAKE, "honest stake taken");
            assertFalse(v.jailed, "honest validator jailed");
            assertTrue(registry.isActive(handler.validator(i)), "honest validator left the set");
        }
    }

    /// @dev The rule does not protect equivocators: two different completions for one request id slash.
    function invariant_EquivocationIsAlwaysSlashable() public view {
        assertEq(handler.missedEquivocations(), 0, "a real double sign could not be reported");
    }
}
