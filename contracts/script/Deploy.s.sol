// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Script, console} from "forge-std/Script.sol";
import {InferencePayment} from "../src/InferencePayment.sol";
import {IInferencePayment} from "../src/interfaces/IInferencePayment.sol";
import {NCNToken} from "../src/NCNToken.sol";
import {ValidatorRegistry} from "../src/ValidatorRegistry.sol";

/// @title Deploy
/// @notice Deploys and configures NCNToken, ValidatorRegistry and InferencePayment, registers
/// validators and funds accounts. Every parameter comes from the environment:
///   DEPLOYER_KEY (required)            deployer private key; pays gas and mints
///   NCN_ADMIN, NCN_TREASURY            governance (default deployer) and fee/slash receiver (default admin)
///   NCN_TOKEN_CAP, NCN_MIN_STAKE, NCN_THRESHOLD, NCN_MAX_VALIDATORS, NCN_UNBONDING_DELAY
///   NCN_GATEWAY_BPS, NCN_VALIDATOR_BPS, NCN_PROTOCOL_BPS, NCN_SETTLEMENT_GRACE
///   NCN_VALIDATOR_KEYS (comma-separated private keys), NCN_VALIDATOR_STAKE, NCN_VALIDATOR_ETHER
///   NCN_FUND_ADDRESSES (comma-separated), NCN_FUND_TOKENS, NCN_FUND_ETHER
///   NCN_FAUCET_AMOUNT, NCN_FAUCET_COOLDOWN, NCN_FAUCET_BUDGET
/// When NCN_ADMIN differs from the deployer, every role moves to it and the deployer renounces its own.
/// Usage: DEPLOYER_KEY=0x... forge script contracts/script/Deploy.s.sol --rpc-url $RPC --broadcast
contract Deploy is Script {
    struct Config {
        uint256 deployerKey;
        address admin;
        address treasury;
        uint256 tokenCap;
        uint96 minStake;
        uint16 threshold;
        uint16 maxValidators;
        uint64 unbondingDelay;
        uint16 gatewayBps;
        uint16 validatorBps;
        uint16 protocolBps;
        uint32 settlementGrace;
        uint256[] validatorKeys;
        uint256 validatorStake;
        uint256 validatorEther;
        address[] fundAddresses;
        uint256 fundTokens;
        uint256 fundEther;
        uint128 faucetAmount;
        uint64 faucetCooldown;
        uint256 faucetBudget;
    }

    struct Deployment {
        NCNToken token;
        ValidatorRegistry registry;
        InferencePayment payment;
    }

    /// @notice Deploys with the configuration read from the environment.
    function run() external returns (Deployment memory) {
        return deploy(configFromEnv());
    }

    /// @notice Reads the configuration from the environment (defaults: a 3-of-5 devnet).
    function configFromEnv() public view returns (Config memory c) {
        c.deployerKey = vm.envUint("DEPLOYER_KEY");
        address deployer = vm.addr(c.deployerKey);
        c.admin = vm.envOr("NCN_ADMIN", deployer);
        c.treasury = vm.envOr("NCN_TREASURY", c.admin);
        c.tokenCap = vm.envOr("NCN_TOKEN_CAP", uint256(1_000_000_000e18));
        c.minStake = uint96(vm.envOr("NCN_MIN_STAKE", uint256(1_000e18)));
        c.threshold = uint16(vm.envOr("NCN_THRESHOLD", uint256(3)));
        c.validatorKeys = vm.envOr("NCN_VALIDATOR_KEYS", ",", new uint256[](0));
        uint256 defaultMax = c.validatorKeys.length > 5 ? c.validatorKeys.length : 5;
        c.maxValidators = uint16(vm.envOr("NCN_MAX_VALIDATORS", defaultMax));
        c.unbondingDelay = uint64(vm.envOr("NCN_UNBONDING_DELAY", uint256(7 days)));
        c.gatewayBps = uint16(vm.envOr("NCN_GATEWAY_BPS", uint256(500)));
        c.validatorBps = uint16(vm.envOr("NCN_VALIDATOR_BPS", uint256(300)));
        c.protocolBps = uint16(vm.envOr("NCN_PROTOCOL_BPS", uint256(200)));
        c.settlementGrace = uint32(vm.envOr("NCN_SETTLEMENT_GRACE", uint256(1 hours)));
        c.validatorStake = vm.envOr("NCN_VALIDATOR_STAKE", uint256(c.minStake));
        c.validatorEther = vm.envOr("NCN_VALIDATOR_ETHER", uint256(1 ether));
        c.fundAddresses = vm.envOr("NCN_FUND_ADDRESSES", ",", new address[](0));
        c.fundTokens = vm.envOr("NCN_FUND_TOKENS", uint256(1_000e18));
        c.fundEther = vm.envOr("NCN_FUND_ETHER", uint256(0));
        c.faucetAmount = uint128(vm.envOr("NCN_FAUCET_AMOUNT", uint256(0)));
        c.faucetCooldown = uint64(vm.envOr("NCN_FAUCET_COOLDOWN", uint256(1 days)));
        c.faucetBudget = vm.envOr("NCN_FAUCET_BUDGET", uint256(0));
    }

    /// @notice Deploys with an explicit configuration (what `run` does after reading the environment).
    function deploy(Config memory c) public returns (Deployment memory d) {
        address deployer = vm.addr(c.deployerKey);
        vm.startBroadcast(c.deployerKey);
        d.token = new NCNToken(deployer, c.tokenCap);
        d.registry = new ValidatorRegistry(
            d.token, deployer, c.treasury, c.minStake, c.threshold, c.maxValidators, c.unbondingDelay
        );
        d.payment = new InferencePayment(
            d.token,
            d.registry,
            deployer,
            IInferencePayment.Config({
                gatewayBps: c.gatewayBps,
                validatorBps: c.validatorBps,
                protocolBps: c.protocolBps,
                settlementGrace: c.settlementGrace,
                treasury: c.treasury
            })
        );
        d.registry.setPaymentContract(address(d.payment));
        if (c.faucetAmount != 0) d.token.configureFaucet(c.faucetAmount, c.faucetCooldown, c.faucetBudget);
        for (uint256 i; i < c.validatorKeys.length; ++i) {
            address v = vm.addr(c.validatorKeys[i]);
            d.token.mint(v, c.validatorStake);
            if (v.balance < c.validatorEther) payable(v).transfer(c.validatorEther - v.balance);
        }
        for (uint256 i; i < c.fundAddresses.length; ++i) {
            if (c.fundTokens != 0) d.token.mint(c.fundAddresses[i], c.fundTokens);
            if (c.fundEther != 0) payable(c.fundAddresses[i]).transfer(c.fundEther);
        }
        vm.stopBroadcast();

        for (uint256 i; i < c.validatorKeys.length; ++i) {
            vm.startBroadcast(c.validatorKeys[i]);
            d.token.approve(address(d.registry), c.validatorStake);
            d.registry.register(c.validatorStake);
            vm.stopBroadcast();
        }

        if (c.admin != deployer) _handOver(d, c.deployerKey, c.admin);

        console.log("NCNToken", address(d.token));
        console.log("ValidatorRegistry", address(d.registry));
        console.log("InferencePayment", address(d.payment));
    }

    /// @dev Grants every role to `admin`, then the deployer renounces its own (admin role last).
    function _handOver(Deployment memory d, uint256 deployerKey, address admin) internal {
        address deployer = vm.addr(deployerKey);
        bytes32 adminRole = 0x00;
        vm.startBroadcast(deployerKey);
        d.token.grantRole(d.token.MINTER_ROLE(), admin);
        d.token.grantRole(adminRole, admin);
        d.token.renounceRole(d.token.MINTER_ROLE(), deployer);
        d.token.renounceRole(adminRole, deployer);
        d.registry.grantRole(d.registry.SLASHER_ROLE(), admin);
        d.registry.grantRole(adminRole, admin);
        d.registry.renounceRole(d.registry.SLASHER_ROLE(), deployer);
        d.registry.renounceRole(adminRole, deployer);
        d.payment.grantRole(adminRole, admin);
        d.payment.renounceRole(adminRole, deployer);
        vm.stopBroadcast();
    }
}
