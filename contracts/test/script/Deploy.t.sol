// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {Deploy} from "../../script/Deploy.s.sol";

contract DeployScriptTest is Test {
    Deploy internal script;
    uint256 internal deployerKey = uint256(keccak256("deploy script deployer"));

    function setUp() public {
        script = new Deploy();
        vm.deal(vm.addr(deployerKey), 100 ether);
    }

    function _validatorKeys(uint256 n) internal pure returns (uint256[] memory keys) {
        keys = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            keys[i] = uint256(keccak256(abi.encode("deploy script validator", i)));
        }
    }

    /// @dev The environment path; the only test that touches process-wide variables.
    function test_Run_FromEnvironment() public {
        uint256[] memory keys = _validatorKeys(5);
        string memory list = vm.toString(keys[0]);
        for (uint256 i = 1; i < keys.length; ++i) {
            list = string.concat(list, ",", vm.toString(keys[i]));
        }
        address funded = makeAddr("funded");
        vm.setEnv("DEPLOYER_KEY", vm.toString(deployerKey));
        vm.setEnv("NCN_VALIDATOR_KEYS", list);
        vm.setEnv("NCN_FUND_ADDRESSES", vm.toString(funded));
        vm.setEnv("NCN_FUND_ETHER", "1000000000000000000");
        vm.setEnv("NCN_FAUCET_AMOUNT", "5000000000000000000");
        vm.setEnv("NCN_FAUCET_BUDGET", "100000000000000000000");
        Deploy.Deployment memory d = script.run();

        assertEq(d.registry.activeCount(), 5);
        assertEq(d.registry.threshold(), 3);
        assertEq(d.registry.maxValidators(), 5);
        assertEq(d.registry.paymentContract(), address(d.payment));
        for (uint256 i; i < 5; ++i) {
            assertTrue(d.registry.isActive(vm.addr(keys[i])));
        }
        assertEq(d.token.balanceOf(funded), 1_000e18);
        assertEq(funded.balance, 1 ether);
        assertEq(d.token.faucetAmount(), 5e18);
        IInferencePayment.Config memory c = d.payment.config();
        assertEq(c.gatewayBps, 500);
        assertEq(c.validatorBps, 300);
        assertEq(c.protocolBps, 200);
        assertEq(c.settlementGrace, 1 hours);
        assertEq(c.treasury, vm.addr(deployerKey));
    }

    function test_Deploy_HandsEveryRoleToAnotherAdmin() public {
        Deploy.Config memory c = _config();
        c.admin = makeAddr("governance");
        c.treasury = makeAddr("treasury");
        c.validatorKeys = _validatorKeys(3);
        c.threshold = 2;
        Deploy.Deployment memory d = script.deploy(c);
        address deployer = vm.addr(deployerKey);
        assertTrue(d.token.hasRole(0x00, c.admin));
        assertTrue(d.token.hasRole(d.token.MINTER_ROLE(), c.admin));
        assertTrue(d.registry.hasRole(0x00, c.admin));
        assertTrue(d.registry.hasRole(d.registry.SLASHER_ROLE(), c.admin));
        assertTrue(d.payment.hasRole(0x00, c.admin));
        assertFalse(d.token.hasRole(0x00, deployer));
        assertFalse(d.token.hasRole(d.token.MINTER_ROLE(), deployer));
        assertFalse(d.registry.hasRole(0x00, deployer));
        assertFalse(d.registry.hasRole(d.registry.SLASHER_ROLE(), deployer));
        assertFalse(d.payment.hasRole(0x00, deployer));
        assertEq(d.registry.activeCount(), 3);
        assertEq(d.registry.treasury(), c.treasury);
        assertEq(d.payment.config().treasury, c.treasury);
    }

    function _config() internal view returns (Deploy.Config memory c) {
        c.deployerKey = deployerKey;
        c.admin = vm.addr(deployerKey);
        c.treasury = c.admin;
        c.tokenCap = 1_000_000e18;
        c.minStake = 100e18;
        c.threshold = 3;
        c.maxValidators = 5;
        c.unbondingDelay = 1 days;
        c.gatewayBps = 100;
        c.validatorBps = 100;
        c.protocolBps = 100;
        c.settlementGrace = 60;
        c.validatorStake = 100e18;
        c.validatorEther = 1 ether;
        c.fundTokens = 1e18;
    }
}
