// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {IValidatorRegistry} from "../../src/interfaces/IValidatorRegistry.sol";
import {NCNToken} from "../../src/NCNToken.sol";
import {ValidatorRegistry} from "../../src/ValidatorRegistry.sol";

/// @dev Moves validators in and out of the active set (register, unbond, withdraw, slash, unjail)
/// and, at every step, checks attestation counting against an independent reference.
contract RegistryHandler is Test {
    NCNToken internal immutable token;
    ValidatorRegistry internal immutable registry;
    address internal immutable admin;
    uint256[] internal keys;

    /// @dev Must stay zero: the registry counted a signature set differently from the reference.
    uint256 public countMismatches;
    /// @dev Must stay zero: a set below max(threshold, majority of the active set) verified (or one at or
    /// above it did not).
    uint256 public verifyMismatches;
    uint256 public checks;
    uint256 public reachedThreshold;

    constructor(NCNToken token_, ValidatorRegistry registry_, address admin_, uint256 pool) {
        token = token_;
        registry = registry_;
        admin = admin_;
        for (uint256 i; i < pool; ++i) {
            keys.push(uint256(keccak256(abi.encode("registry invariant key", i))));
        }
    }

    function keyCount() external view returns (uint256) {
        return keys.length;
    }

    function keyAddress(uint256 i) external view returns (address) {
        return vm.addr(keys[i]);
    }

    function register(uint256 keySeed, uint256 stake) external {
        address v = vm.addr(keys[keySeed % keys.length]);
        stake = bound(stake, registry.minStake(), 10 * uint256(registry.minStake()));
        vm.prank(admin);
        token.mint(v, stake);
        vm.startPrank(v);
        token.approve(address(registry), stake);
        try registry.register(stake) {} catch {}
        vm.stopPrank();
    }

    function addStake(uint256 keySeed, uint256 amount) external {
        address v = vm.addr(keys[keySeed % keys.length]);
        amount = bound(amount, 1, 2 * uint256(registry.minStake()));
        vm.prank(admin);
        token.mint(v, amount);
        vm.startPrank(v);
        token.approve(address(registry), amount);
        try registry.addStake(amount) {} catch {}
        vm.stopPrank();
    }

    function unbond(uint256 keySeed) external {
        vm.prank(vm.addr(keys[keySeed % keys.length]));
        try registry.beginUnbonding() {} catch {}
    }

    function withdraw(uint256 keySeed) external {
        vm.prank(vm.addr(keys[keySeed % keys.length]));
        try registry.withdrawStake() {} catch {}
    }

    function slash(uint256 keySeed, uint8 offence) external {
        vm.prank(admin);
        try registry.slash(vm.addr(keys[keySeed % keys.length]), IValidatorRegistry.Offence(offence % 5), bytes32(0)) {}
            catch {}
    }

    function unjail(uint256 keySeed) external {
        vm.prank(admin);
        try registry.unjail(vm.addr(keys[keySeed % keys.length])) {} catch {}
    }

    function setThreshold(uint16 threshold) external {
        vm.prank(admin);
        try registry.setThreshold(uint16(bound(threshold, 1, registry.maxValidators()))) {} catch {}
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 2 * uint256(registry.unbondingDelay())));
    }

    /// @dev A random mix of pool keys (active or not), repeats, outsiders and garbage.
    function verify(uint256 seed, bytes32 digest) external {
        uint256 n = seed % 2 == 0 ? keys.length + seed % 4 : seed % 12;
        bytes[] memory sigs = new bytes[](n);
        address[] memory counted = new address[](n);
        uint256 expected;
        for (uint256 i; i < n; ++i) {
            // Even seeds walk the pool in order (so every active key signs, then repeats); odd seeds pick at random.
            uint256 pick =
                seed % 2 == 0 ? i % keys.length : uint256(keccak256(abi.encode(seed, i))) % (keys.length + 3);
            if (pick < keys.length) {
                (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[pick], digest);
                sigs[i] = abi.encodePacked(r, s, v);
                address signer = vm.addr(keys[pick]);
                bool repeat;
                for (uint256 j; j < expected; ++j) {
                    repeat = repeat || counted[j] == signer;
                }
                if (!repeat && _activeByScan(signer)) counted[expected++] = signer;
            } else if (pick == keys.length) {
                (uint8 v, bytes32 r, bytes32 s) = vm.sign(uint256(keccak256(abi.encode("outsider", seed, i))), digest);
                sigs[i] = abi.encodePacked(r, s, v);
            } else if (pick == keys.length + 1) {
                sigs[i] = abi.encodePacked(keccak256(abi.encode(seed, i)), bytes32(0), uint8(28));
            } else {
                sigs[i] = hex"deadbeef";
            }
        }
        ++checks;
        if (registry.countAttestations(digest, sigs) != expected) ++countMismatches;
        bool ok = registry.verifyAttestations(digest, sigs);
        uint256 majority = registry.activeValidators().length / 2 + 1;
        uint256 required = registry.threshold() > majority ? registry.threshold() : majority;
        if (ok != (expected >= required)) ++verifyMismatches;
        if (ok) ++reachedThreshold;
    }

    /// @dev Reference membership: a linear scan of the active list, independent of the stored indexes.
    function _activeByScan(address v) internal view returns (bool) {
        address[] memory set = registry.activeValidators();
        for (uint256 i; i < set.length; ++i) {
            if (set[i] == v) return true;
        }
        return false;
    }
}
