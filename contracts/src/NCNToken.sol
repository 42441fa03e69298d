// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

contract NCNToken is ERC20, ERC20Permit {
    constructor() ERC20("NCN", "NCN") ERC20Permit("NCN") {}
}
