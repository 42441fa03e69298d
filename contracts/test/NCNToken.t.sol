// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
import {Test} from "forge-std/Test.sol";
import {NCNToken} from "../src/NCNToken.sol";
contract NCNTokenTest is Test {
    function test_name() public { NCNToken t = new NCNToken(); assertEq(t.symbol(), "NCN"); }
}
