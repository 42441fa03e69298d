// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title NCNToken
/// @notice The NCN Network token: ERC-20 with EIP-2612 permit and a hard supply cap. Minting is
/// limited to MINTER_ROLE; an optional faucet lets anyone mint a fixed amount per cooldown from a
/// budget set by the admin (for devnets and testnets; production leaves it at zero).
contract NCNToken is ERC20, ERC20Permit, ERC20Capped, AccessControl {
    /// @notice Role allowed to mint (within the cap).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice Tokens per faucet claim (0 disables the faucet).
    uint128 public faucetAmount;
    /// @notice Seconds an account waits between faucet claims.
    uint64 public faucetCooldown;
    /// @notice Tokens the faucet may still mint.
    uint256 public faucetBudget;
    /// @notice Time of each account's last faucet claim.
    mapping(address account => uint64) public lastFaucetClaim;

    /// @notice The faucet was reconfigured.
    event FaucetConfigured(uint128 amount, uint64 cooldown, uint256 budget);
    /// @notice `account` claimed `amount` from the faucet.
    event FaucetClaimed(address indexed account, uint256 amount);

    /// @notice The faucet is off (amount 0) or its budget cannot cover a claim.
    error FaucetDisabled();
    /// @notice The account must wait until `availableAt`.
    error FaucetCooldown(uint256 availableAt);
    /// @notice An address argument was zero.
    error ZeroAddress();

    /// @param admin Receives DEFAULT_ADMIN_ROLE and MINTER_ROLE.
    /// @param cap_ Maximum total supply.
    constructor(address admin, uint256 cap_) ERC20("NCN Network", "NCN") ERC20Permit("NCN Network") ERC20Capped(cap_) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @notice Mints `amount` to `to`; the cap applies.
    /// @param to Receiver.
    /// @param amount Amount.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Configures the faucet; `budget` replaces the remaining budget.
    /// @param amount Tokens per claim (0 disables).
    /// @param cooldown Seconds between claims of one account.
    /// @param budget Total the faucet may mint from now on.
    function configureFaucet(uint128 amount, uint64 cooldown, uint256 budget) external onlyRole(DEFAULT_ADMIN_ROLE) {
        faucetAmount = amount;
        faucetCooldown = cooldown;
        faucetBudget = budget;
        emit FaucetConfigured(amount, cooldown, budget);
    }

    /// @notice Mints `faucetAmount` to the caller, at most once per cooldown, within the faucet budget and the cap.
    /// @return amount Tokens minted.
    function claimFaucet() external returns (uint256 amount) {
        amount = faucetAmount;
        uint256 budget = faucetBudget;
        if (amount == 0 || budget < amount) revert FaucetDisabled();
        uint64 last = lastFaucetClaim[msg.sender];
        if (last != 0) {
            uint256 availableAt = uint256(last) + faucetCooldown;
            if (block.timestamp < availableAt) revert FaucetCooldown(availableAt);
        }
        faucetBudget = budget - amount;
        lastFaucetClaim[msg.sender] = uint64(block.timestamp);
        emit FaucetClaimed(msg.sender, amount);
        _mint(msg.sender, amount);
    }

    /// @dev Both ERC20 and ERC20Capped define _update; the capped one checks the supply after minting.
    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Capped) {
        super._update(from, to, value);
    }
}
