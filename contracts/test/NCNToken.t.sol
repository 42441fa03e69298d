// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {NCNToken} from "../src/NCNToken.sol";

contract NCNTokenTest is Test {
    uint256 internal constant CAP = 1_000_000e18;
    NCNToken internal token;
    address internal admin = makeAddr("admin");
    address internal alice;
    uint256 internal aliceKey;
    address internal bob = makeAddr("bob");

    function setUp() public {
        (alice, aliceKey) = makeAddrAndKey("alice");
        token = new NCNToken(admin, CAP);
    }

    function test_Metadata() public view {
        assertEq(token.name(), "NCN Network");
        assertEq(token.symbol(), "NCN");
        assertEq(token.decimals(), 18);
        assertEq(token.cap(), CAP);
        assertEq(token.totalSupply(), 0);
        assertTrue(token.hasRole(token.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(token.hasRole(token.MINTER_ROLE(), admin));
    }

    function test_RevertWhen_ConstructedWithZeroAdmin() public {
        vm.expectRevert(NCNToken.ZeroAddress.selector);
        new NCNToken(address(0), CAP);
    }

    function test_RevertWhen_ConstructedWithZeroCap() public {
        vm.expectRevert(abi.encodeWithSelector(ERC20Capped.ERC20InvalidCap.selector, 0));
        new NCNToken(admin, 0);
    }

    function test_Mint() public {
        vm.prank(admin);
        token.mint(alice, 5e18);
        assertEq(token.balanceOf(alice), 5e18);
        assertEq(token.totalSupply(), 5e18);
    }

    function test_Mint_ByGrantedMinter() public {
        bytes32 role = token.MINTER_ROLE();
        vm.prank(admin);
        token.grantRole(role, bob);
        vm.prank(bob);
        token.mint(alice, 1);
        assertEq(token.balanceOf(alice), 1);
    }

    function test_RevertWhen_MintByNonMinter() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, bob, token.MINTER_ROLE())
        );
        vm.prank(bob);
        token.mint(bob, 1);
    }

    function test_RevertWhen_MintExceedsCap() public {
        vm.startPrank(admin);
        token.mint(alice, CAP);
        vm.expectRevert(abi.encodeWithSelector(ERC20Capped.ERC20ExceededCap.selector, CAP + 1, CAP));
        token.mint(alice, 1);
        vm.stopPrank();
    }

    function testFuzz_MintNeverExceedsCap(uint256 a, uint256 b) public {
        a = bound(a, 0, CAP);
        vm.startPrank(admin);
        token.mint(alice, a);
        if (b > CAP - a) {
            vm.expectRevert();
            token.mint(bob, b);
        } else {
            token.mint(bob, b);
        }
        vm.stopPrank();
        assertLe(token.totalSupply(), CAP);
    }

    function test_Permit() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permit(aliceKey, bob, 7e18, 0, deadline);
        token.permit(alice, bob, 7e18, deadline, v, r, s);
        assertEq(token.allowance(alice, bob), 7e18);
        assertEq(token.nonces(alice), 1);
    }

    function test_RevertWhen_PermitExpired() public {
        uint256 deadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = _permit(aliceKey, bob, 1, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        token.permit(alice, bob, 1, deadline, v, r, s);
    }

    function test_RevertWhen_PermitSignedByOther() public {
        (, uint256 otherKey) = makeAddrAndKey("other");
        uint256 deadline = block.timestamp + 1;
        (uint8 v, bytes32 r, bytes32 s) = _permit(otherKey, bob, 1, 0, deadline);
        vm.expectRevert(
            abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, vm.addr(otherKey), alice)
        );
        token.permit(alice, bob, 1, deadline, v, r, s);
    }

    function test_ConfigureFaucet() public {
        vm.expectEmit(address(token));
        emit NCNToken.FaucetConfigured(100e18, 1 days, 1_000e18);
        vm.prank(admin);
        token.configureFaucet(100e18, 1 days, 1_000e18);
        assertEq(token.faucetAmount(), 100e18);
        assertEq(token.faucetCooldown(), 1 days);
        assertEq(token.faucetBudget(), 1_000e18);
    }

    function test_RevertWhen_ConfigureFaucetByNonAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, bob, token.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(bob);
        token.configureFaucet(1, 0, 1);
    }

    function test_ClaimFaucet() public {
        vm.prank(admin);
        token.configureFaucet(100e18, 1 days, 1_000e18);
        vm.expectEmit(address(token));
        emit NCNToken.FaucetClaimed(alice, 100e18);
        vm.prank(alice);
        assertEq(token.claimFaucet(), 100e18);
        assertEq(token.balanceOf(alice), 100e18);
        assertEq(token.faucetBudget(), 900e18);
        assertEq(token.lastFaucetClaim(alice), block.timestamp);
    }

    function test_ClaimFaucet_AgainAfterCooldown() public {
        vm.prank(admin);
        token.configureFaucet(100e18, 1 days, 1_000e18);
        vm.prank(alice);
        token.claimFaucet();
        skip(1 days);
        vm.prank(alice);
        token.claimFaucet();
        assertEq(token.balanceOf(alice), 200e18);
    }

    function test_RevertWhen_ClaimFaucetDuringCooldown() public {
        vm.prank(admin);
        token.configureFaucet(100e18, 1 days, 1_000e18);
        vm.prank(alice);
        token.claimFaucet();
        skip(1 days - 1);
        vm.expectRevert(abi.encodeWithSelector(NCNToken.FaucetCooldown.selector, block.timestamp + 1));
        vm.prank(alice);
        token.claimFaucet();
    }

    function test_RevertWhen_ClaimFaucetDisabled() public {
        vm.expectRevert(NCNToken.FaucetDisabled.selector);
        vm.prank(alice);
        token.claimFaucet();
    }

    function test_RevertWhen_ClaimFaucetBudgetExhausted() public {
        vm.prank(admin);
        token.configureFaucet(100e18, 0, 150e18);
        vm.prank(alice);
        token.claimFaucet();
        vm.expectRevert(NCNToken.FaucetDisabled.selector);
        vm.prank(bob);
        token.claimFaucet();
    }

    function test_RevertWhen_ClaimFaucetBeyondCap() public {
        vm.startPrank(admin);
        token.mint(bob, CAP - 50e18);
        token.configureFaucet(100e18, 0, 1_000e18);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(ERC20Capped.ERC20ExceededCap.selector, CAP + 50e18, CAP));
        vm.prank(alice);
        token.claimFaucet();
    }

    function _permit(uint256 key, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (uint8, bytes32, bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                alice,
                spender,
                value,
                nonce,
                deadline
            )
        );
        return vm.sign(key, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
    }
}
