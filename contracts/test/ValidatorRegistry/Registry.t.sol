// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IValidatorRegistry} from "../../src/interfaces/IValidatorRegistry.sol";
import {NcnTypes} from "../../src/libraries/NcnTypes.sol";
import {ValidatorRegistry} from "../../src/ValidatorRegistry.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";

contract ValidatorRegistryTest is NcnTestBase {
    bytes32 internal constant DIGEST = keccak256("digest");
    bytes32 internal constant REQUEST = keccak256("request-1");

    // ---------------------------------------------------------------- constructor

    function test_Constructor_SetsConfig() public view {
        assertEq(address(registry.stakeToken()), address(token));
        assertEq(registry.minStake(), MIN_STAKE);
        assertEq(registry.threshold(), THRESHOLD);
        assertEq(registry.maxValidators(), MAX_VALIDATORS);
        assertEq(registry.unbondingDelay(), UNBONDING);
        assertEq(registry.treasury(), treasury);
        assertEq(registry.paymentContract(), address(payment));
        assertTrue(registry.hasRole(registry.SLASHER_ROLE(), admin));
    }

    function test_RevertWhen_ConstructedWithZeroAddress() public {
        vm.expectRevert(IValidatorRegistry.ZeroAddress.selector);
        new ValidatorRegistry(IERC20(address(0)), admin, treasury, 1, 1, 1, 1);
        vm.expectRevert(IValidatorRegistry.ZeroAddress.selector);
        new ValidatorRegistry(token, address(0), treasury, 1, 1, 1, 1);
        vm.expectRevert(IValidatorRegistry.ZeroAddress.selector);
        new ValidatorRegistry(token, admin, address(0), 1, 1, 1, 1);
    }

    function test_RevertWhen_ConstructedWithInvalidSizes() public {
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InvalidMaxValidators.selector, 0));
        new ValidatorRegistry(token, admin, treasury, 1, 1, 0, 1);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InvalidMaxValidators.selector, 257));
        new ValidatorRegistry(token, admin, treasury, 1, 1, 257, 1);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InvalidThreshold.selector, 0, 5));
        new ValidatorRegistry(token, admin, treasury, 1, 0, 5, 1);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InvalidThreshold.selector, 6, 5));
        new ValidatorRegistry(token, admin, treasury, 1, 6, 5, 1);
    }

    // ---------------------------------------------------------------- registration

    function test_Register_ActivatesAndPullsStake() public view {
        assertEq(registry.activeCount(), 5);
        address[] memory set = registry.activeValidators();
        for (uint256 i; i < 5; ++i) {
            assertEq(set[i], validators[i]);
            IValidatorRegistry.Validator memory v = registry.getValidator(validators[i]);
            assertEq(v.stake, MIN_STAKE);
            assertEq(uint8(v.status), uint8(IValidatorRegistry.Status.Active));
            assertEq(v.index, i);
            assertTrue(registry.isActive(validators[i]));
        }
        assertEq(token.balanceOf(address(registry)), 5 * uint256(MIN_STAKE));
    }

    function test_Register_EmitsEvents() public {
        _setMax(6);
        address v = makeAddr("v6");
        _mint(v, MIN_STAKE);
        vm.startPrank(v);
        token.approve(address(registry), MIN_STAKE);
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.ValidatorActivated(v);
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.ValidatorRegistered(v, MIN_STAKE);
        registry.register(MIN_STAKE);
        vm.stopPrank();
    }

    function test_RevertWhen_RegisterTwice() public {
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.AlreadyRegistered.selector, validators[0]));
        vm.prank(validators[0]);
        registry.register(MIN_STAKE);
    }

    function test_RevertWhen_RegisterBelowMinimum() public {
        _setMax(6);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.StakeBelowMinimum.selector, MIN_STAKE - 1, MIN_STAKE));
        vm.prank(makeAddr("v6"));
        registry.register(MIN_STAKE - 1);
    }

    function test_RevertWhen_RegisterStakeTooLarge() public {
        _setMax(6);
        uint256 amount = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.StakeTooLarge.selector, amount));
        vm.prank(makeAddr("v6"));
        registry.register(amount);
    }

    function test_RevertWhen_RegisterIntoFullSet() public {
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.ActiveSetFull.selector, 5));
        vm.prank(makeAddr("v6"));
        registry.register(MIN_STAKE);
    }

    function test_RegisterWithPermit() public {
        _setMax(6);
        (address v, uint256 key) = makeAddrAndKey("v6");
        _mint(v, MIN_STAKE);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 pv, bytes32 r, bytes32 s) = _permitSig(key, address(registry), MIN_STAKE, deadline);
        vm.prank(v);
        registry.registerWithPermit(MIN_STAKE, deadline, pv, r, s);
        assertTrue(registry.isActive(v));
        assertEq(token.balanceOf(v), 0);
    }

    function test_RegisterWithPermit_SurvivesFrontRunPermit() public {
        _setMax(6);
        (address v, uint256 key) = makeAddrAndKey("v6");
        _mint(v, MIN_STAKE);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 pv, bytes32 r, bytes32 s) = _permitSig(key, address(registry), MIN_STAKE, deadline);
        token.permit(v, address(registry), MIN_STAKE, deadline, pv, r, s);
        vm.prank(v);
        registry.registerWithPermit(MIN_STAKE, deadline, pv, r, s);
        assertTrue(registry.isActive(v));
    }

    // ---------------------------------------------------------------- stake

    function test_AddStake() public {
        _mint(validators[0], 5e18);
        vm.startPrank(validators[0]);
        token.approve(address(registry), 5e18);
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.StakeAdded(validators[0], 5e18, MIN_STAKE + 5e18);
        registry.addStake(5e18);
        vm.stopPrank();
        assertEq(registry.getValidator(validators[0]).stake, MIN_STAKE + 5e18);
    }

    function test_AddStake_ReactivatesAfterSlash() public {
        vm.prank(admin);
        registry.slash(validators[0], IValidatorRegistry.Offence.Downtime, bytes32(0));
        assertFalse(registry.isActive(validators[0]));
        uint256 missing = MIN_STAKE - registry.getValidator(validators[0]).stake;
        _mint(validators[0], missing);
        vm.startPrank(validators[0]);
        token.approve(address(registry), missing);
        registry.addStake(missing);
        vm.stopPrank();
        assertTrue(registry.isActive(validators[0]));
        assertEq(registry.activeCount(), 5);
    }

    function test_AddStake_StaysInactiveWhenSetIsFull() public {
        vm.prank(admin);
        registry.slash(validators[0], IValidatorRegistry.Offence.Downtime, bytes32(0));
        _setMax(5);
        address v = makeAddr("v6");
        _registerValidator(v, MIN_STAKE);
        _mint(validators[0], MIN_STAKE);
        vm.startPrank(validators[0]);
        token.approve(address(registry), MIN_STAKE);
        registry.addStake(MIN_STAKE);
        vm.stopPrank();
        assertFalse(registry.isActive(validators[0]));
        assertEq(uint8(registry.getValidator(validators[0]).status), uint8(IValidatorRegistry.Status.Inactive));
    }

    function test_RevertWhen_AddStakeNotRegistered() public {
        address stranger = makeAddr("stranger");
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NotRegistered.selector, stranger));
        vm.prank(stranger);
        registry.addStake(1);
    }

    function test_RevertWhen_AddStakeWhileUnbonding() public {
        vm.startPrank(validators[0]);
        registry.beginUnbonding();
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.ValidatorUnbonding.selector, validators[0]));
        registry.addStake(1);
        vm.stopPrank();
    }

    function test_RevertWhen_AddStakeTooLarge() public {
        uint256 amount = uint256(type(uint96).max) - MIN_STAKE + 1;
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.StakeTooLarge.selector, amount + MIN_STAKE));
        vm.prank(validators[0]);
        registry.addStake(amount);
    }

    // ---------------------------------------------------------------- unbonding

    function test_BeginUnbonding_LeavesActiveSetAndKeepsIndexesConsistent() public {
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.UnbondingStarted(validators[1], uint64(block.timestamp + UNBONDING));
        vm.prank(validators[1]);
        registry.beginUnbonding();
        assertFalse(registry.isActive(validators[1]));
        address[] memory set = registry.activeValidators();
        assertEq(set.length, 4);
        for (uint256 i; i < set.length; ++i) {
            assertEq(registry.getValidator(set[i]).index, i);
            assertTrue(set[i] != validators[1]);
        }
        assertEq(set[1], validators[4]);
    }

    function test_BeginUnbonding_FromInactive() public {
        vm.prank(admin);
        registry.slash(validators[0], IValidatorRegistry.Offence.Downtime, bytes32(0));
        vm.prank(validators[0]);
        registry.beginUnbonding();
        assertEq(uint8(registry.getValidator(validators[0]).status), uint8(IValidatorRegistry.Status.Unbonding));
        assertEq(registry.activeCount(), 4);
    }

    function test_RevertWhen_BeginUnbondingNotRegistered() public {
        address stranger = makeAddr("stranger");
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NotRegistered.selector, stranger));
        vm.prank(stranger);
        registry.beginUnbonding();
    }

    function test_RevertWhen_BeginUnbondingTwice() public {
        vm.startPrank(validators[0]);
        registry.beginUnbonding();
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.ValidatorUnbonding.selector, validators[0]));
        registry.beginUnbonding();
        vm.stopPrank();
    }

    function test_WithdrawStake_AfterDelay() public {
        vm.startPrank(validators[0]);
        registry.beginUnbonding();
        skip(UNBONDING);
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.StakeWithdrawn(validators[0], MIN_STAKE);
        assertEq(registry.withdrawStake(), MIN_STAKE);
        vm.stopPrank();
        assertEq(token.balanceOf(validators[0]), MIN_STAKE);
        assertEq(uint8(registry.getValidator(validators[0]).status), uint8(IValidatorRegistry.Status.None));
    }

    function test_Register_AgainAfterExit() public {
        vm.startPrank(validators[0]);
        registry.beginUnbonding();
        skip(UNBONDING);
        registry.withdrawStake();
        token.approve(address(registry), MIN_STAKE);
        registry.register(MIN_STAKE);
        vm.stopPrank();
        assertTrue(registry.isActive(validators[0]));
    }

    function test_RevertWhen_WithdrawStakeBeforeDelay() public {
        vm.startPrank(validators[0]);
        registry.beginUnbonding();
        skip(UNBONDING - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IValidatorRegistry.UnbondingNotFinished.selector, uint64(block.timestamp + 1))
        );
        registry.withdrawStake();
        vm.stopPrank();
    }

    function test_RevertWhen_WithdrawStakeNotUnbonding() public {
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NotUnbonding.selector, validators[0]));
        vm.prank(validators[0]);
        registry.withdrawStake();
    }

    // ---------------------------------------------------------------- attestations

    function test_VerifyAttestations_AtThreshold() public view {
        bytes[] memory sigs = _validatorSigs(DIGEST, 3);
        assertTrue(registry.verifyAttestations(DIGEST, sigs));
        assertEq(registry.countAttestations(DIGEST, sigs), 3);
        assertEq(registry.requireAttestations(DIGEST, sigs), 3);
    }

    function test_VerifyAttestations_BelowThreshold() public view {
        bytes[] memory sigs = _validatorSigs(DIGEST, 2);
        assertFalse(registry.verifyAttestations(DIGEST, sigs));
        assertEq(registry.countAttestations(DIGEST, sigs), 2);
    }

    function test_VerifyAttestations_RepeatedSignerCountsOnce() public view {
        bytes[] memory sigs = new bytes[](3);
        sigs[0] = _sign(validatorKeys[0], DIGEST);
        sigs[1] = _sign(validatorKeys[0], DIGEST);
        sigs[2] = _sign(validatorKeys[1], DIGEST);
        assertEq(registry.countAttestations(DIGEST, sigs), 2);
        assertFalse(registry.verifyAttestations(DIGEST, sigs));
    }

    function test_VerifyAttestations_NonValidatorsIgnored() public {
        bytes[] memory sigs = new bytes[](4);
        sigs[0] = _sign(validatorKeys[0], DIGEST);
        sigs[1] = _sign(validatorKeys[1], DIGEST);
        (, uint256 k1) = makeAddrAndKey("outsider1");
        (, uint256 k2) = makeAddrAndKey("outsider2");
        sigs[2] = _sign(k1, DIGEST);
        sigs[3] = _sign(k2, DIGEST);
        assertEq(registry.countAttestations(DIGEST, sigs), 2);
        assertFalse(registry.verifyAttestations(DIGEST, sigs));
    }

    function test_VerifyAttestations_MalformedSignaturesIgnored() public view {
        bytes[] memory sigs = new bytes[](5);
        sigs[0] = _sign(validatorKeys[0], DIGEST);
        sigs[1] = hex"1234";
        sigs[2] = new bytes(65);
        sigs[3] = _sign(validatorKeys[1], keccak256("another digest"));
        sigs[4] = _sign(validatorKeys[2], DIGEST);
        assertEq(registry.countAttestations(DIGEST, sigs), 2);
    }

    function test_VerifyAttestations_InactiveValidatorsDoNotCount() public {
        vm.prank(validators[0]);
        registry.beginUnbonding();
        bytes[] memory sigs = _validatorSigs(DIGEST, 3);
        assertEq(registry.countAttestations(DIGEST, sigs), 2);
        assertFalse(registry.verifyAttestations(DIGEST, sigs));
    }

    function test_AttestingValidators_ListsDistinctActiveSigners() public {
        bytes[] memory sigs = new bytes[](4);
        sigs[0] = _sign(validatorKeys[3], DIGEST);
        sigs[1] = _sign(validatorKeys[3], DIGEST);
        (, uint256 k) = makeAddrAndKey("outsider");
        sigs[2] = _sign(k, DIGEST);
        sigs[3] = _sign(validatorKeys[1], DIGEST);
        address[] memory signers = registry.attestingValidators(DIGEST, sigs);
        assertEq(signers.length, 2);
        assertEq(signers[0], validators[3]);
        assertEq(signers[1], validators[1]);
    }

    function test_RevertWhen_RequireAttestationsBelowThreshold() public {
        bytes[] memory sigs = _validatorSigs(DIGEST, 2);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InsufficientAttestations.selector, 2, 3));
        registry.requireAttestations(DIGEST, sigs);
    }

    /// @dev Any mix of validators, repeats, outsiders and junk counts exactly the distinct active validators.
    function testFuzz_CountEqualsDistinctActiveSigners(uint256 seed, uint8 length) public view {
        uint256 n = bound(length, 0, 12);
        bytes[] memory sigs = new bytes[](n);
        bool[5] memory used;
        uint256 expected;
        for (uint256 i; i < n; ++i) {
            uint256 pick = uint256(keccak256(abi.encode(seed, i))) % 8;
            if (pick < 5) {
                sigs[i] = _sign(validatorKeys[pick], DIGEST);
                if (!used[pick]) {
                    used[pick] = true;
                    ++expected;
                }
            } else if (pick == 5) {
                sigs[i] = _sign(uint256(keccak256(abi.encode("outsider", seed, i))), DIGEST);
            } else if (pick == 6) {
                sigs[i] = abi.encodePacked(keccak256(abi.encode(seed, i)), bytes32(0), uint8(27));
            } else {
                sigs[i] = _sign(validatorKeys[i % 5], keccak256(abi.encode("other", seed)));
            }
        }
        assertEq(registry.countAttestations(DIGEST, sigs), expected);
        assertEq(registry.verifyAttestations(DIGEST, sigs), expected >= THRESHOLD);
    }

    // ---------------------------------------------------------------- double sign

    function test_ReportDoubleSign_SlashesAndRewardsReporter() public {
        address reporter = makeAddr("reporter");
        (IValidatorRegistry.AttestationEvidence memory a, IValidatorRegistry.AttestationEvidence memory b) =
            _doubleSign(validatorKeys[2], REQUEST);
        uint256 slashAmount = uint256(MIN_STAKE) * 5_000 / 10_000;
        uint256 reward = slashAmount / 2;
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.Slashed(
            validators[2], IValidatorRegistry.Offence.DoubleSign, slashAmount, reporter, reward, REQUEST
        );
        vm.prank(reporter);
        assertEq(registry.reportDoubleSign(validators[2], REQUEST, a, b), slashAmount);
        assertEq(token.balanceOf(reporter), reward);
        assertEq(token.balanceOf(treasury), slashAmount - reward);
        IValidatorRegistry.Validator memory v = registry.getValidator(validators[2]);
        assertEq(v.stake, MIN_STAKE - slashAmount);
        assertTrue(v.jailed);
        assertFalse(registry.isActive(validators[2]));
        assertTrue(registry.doubleSignReported(validators[2], REQUEST));
    }

    function test_ReportDoubleSign_WhileUnbonding() public {
        vm.prank(validators[2]);
        registry.beginUnbonding();
        (IValidatorRegistry.AttestationEvidence memory a, IValidatorRegistry.AttestationEvidence memory b) =
            _doubleSign(validatorKeys[2], REQUEST);
        registry.reportDoubleSign(validators[2], REQUEST, a, b);
        assertEq(registry.getValidator(validators[2]).stake, MIN_STAKE / 2);
        assertEq(uint8(registry.getValidator(validators[2]).status), uint8(IValidatorRegistry.Status.Unbonding));
    }

    function test_RevertWhen_DoubleSignWithSameAttestation() public {
        (IValidatorRegistry.AttestationEvidence memory a,) = _doubleSign(validatorKeys[2], REQUEST);
        vm.expectRevert(IValidatorRegistry.SameAttestation.selector);
        registry.reportDoubleSign(validators[2], REQUEST, a, a);
    }

    function test_RevertWhen_DoubleSignEvidenceFromAnotherSigner() public {
        (IValidatorRegistry.AttestationEvidence memory a, IValidatorRegistry.AttestationEvidence memory b) =
            _doubleSign(validatorKeys[2], REQUEST);
        vm.expectRevert(
            abi.encodeWithSelector(IValidatorRegistry.EvidenceSignerMismatch.selector, validators[2], validators[3])
        );
        registry.reportDoubleSign(validators[3], REQUEST, a, b);
    }

    function test_RevertWhen_DoubleSignEvidenceForAnotherRequest() public {
        (IValidatorRegistry.AttestationEvidence memory a, IValidatorRegistry.AttestationEvidence memory b) =
            _doubleSign(validatorKeys[2], REQUEST);
        vm.expectRevert();
        registry.reportDoubleSign(validators[2], keccak256("other request"), a, b);
        assertEq(registry.getValidator(validators[2]).stake, MIN_STAKE);
    }

    function test_RevertWhen_DoubleSignReportedTwice() public {
        (IValidatorRegistry.AttestationEvidence memory a, IValidatorRegistry.AttestationEvidence memory b) =
            _doubleSign(validatorKeys[2], REQUEST);
        registry.reportDoubleSign(validators[2], REQUEST, a, b);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.AlreadyReported.selector, validators[2], REQUEST));
        registry.reportDoubleSign(validators[2], REQUEST, b, a);
    }

    function test_RevertWhen_DoubleSignWithoutPaymentContract() public {
        ValidatorRegistry fresh = new ValidatorRegistry(token, admin, treasury, MIN_STAKE, 1, 5, UNBONDING);
        (IValidatorRegistry.AttestationEvidence memory a, IValidatorRegistry.AttestationEvidence memory b) =
            _doubleSign(validatorKeys[2], REQUEST);
        vm.expectRevert(IValidatorRegistry.PaymentContractNotSet.selector);
        fresh.reportDoubleSign(validators[2], REQUEST, a, b);
    }

    function test_RevertWhen_DoubleSignOfUnregisteredKey() public {
        (address stranger, uint256 key) = makeAddrAndKey("stranger");
        (IValidatorRegistry.AttestationEvidence memory a, IValidatorRegistry.AttestationEvidence memory b) =
            _doubleSign(key, REQUEST);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NotRegistered.selector, stranger));
        registry.reportDoubleSign(stranger, REQUEST, a, b);
    }

    // ---------------------------------------------------------------- governance slashing

    function test_Slash_FractionsPerOffence() public {
        IValidatorRegistry.Offence[4] memory offences = [
            IValidatorRegistry.Offence.InvalidSignature,
            IValidatorRegistry.Offence.InvalidResult,
            IValidatorRegistry.Offence.Collusion,
            IValidatorRegistry.Offence.Downtime
        ];
        uint256[4] memory bps = [uint256(5_000), 3_000, 10_000, 1_000];
        for (uint256 i; i < 4; ++i) {
            assertEq(registry.slashFraction(offences[i]), bps[i]);
            vm.prank(admin);
            uint256 slashed = registry.slash(validators[i], offences[i], keccak256("evidence"));
            assertEq(slashed, uint256(MIN_STAKE) * bps[i] / 10_000);
            assertEq(registry.getValidator(validators[i]).stake, MIN_STAKE - slashed);
        }
        assertEq(registry.slashFraction(IValidatorRegistry.Offence.DoubleSign), 5_000);
        assertEq(token.balanceOf(treasury), uint256(MIN_STAKE) * (5_000 + 3_000 + 10_000 + 1_000) / 10_000);
    }

    function test_Slash_BelowMinimumDeactivatesWithoutJail() public {
        vm.prank(admin);
        registry.slash(validators[0], IValidatorRegistry.Offence.Downtime, bytes32(0));
        IValidatorRegistry.Validator memory v = registry.getValidator(validators[0]);
        assertEq(uint8(v.status), uint8(IValidatorRegistry.Status.Inactive));
        assertFalse(v.jailed);
    }

    function test_Slash_AboveMinimumStaysActive() public {
        _mint(validators[0], MIN_STAKE);
        vm.startPrank(validators[0]);
        token.approve(address(registry), MIN_STAKE);
        registry.addStake(MIN_STAKE);
        vm.stopPrank();
        vm.prank(admin);
        registry.slash(validators[0], IValidatorRegistry.Offence.Downtime, bytes32(0));
        assertTrue(registry.isActive(validators[0]));
    }

    function test_Slash_CollusionJailsAndTakesAll() public {
        vm.prank(admin);
        registry.slash(validators[0], IValidatorRegistry.Offence.Collusion, bytes32(0));
        IValidatorRegistry.Validator memory v = registry.getValidator(validators[0]);
        assertEq(v.stake, 0);
        assertTrue(v.jailed);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NothingToSlash.selector, validators[0]));
        vm.prank(admin);
        registry.slash(validators[0], IValidatorRegistry.Offence.Downtime, bytes32(0));
    }

    function test_RevertWhen_RegisterAfterExitWhileJailed() public {
        vm.prank(admin);
        registry.slash(validators[0], IValidatorRegistry.Offence.InvalidResult, bytes32(0));
        (IValidatorRegistry.AttestationEvidence memory a, IValidatorRegistry.AttestationEvidence memory b) =
            _doubleSign(validatorKeys[0], REQUEST);
        registry.reportDoubleSign(validators[0], REQUEST, a, b);
        vm.startPrank(validators[0]);
        registry.beginUnbonding();
        skip(UNBONDING);
        registry.withdrawStake();
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.ValidatorJailed.selector, validators[0]));
        registry.register(MIN_STAKE);
        vm.stopPrank();
    }

    function test_RevertWhen_SlashByNonSlasher() public {
        address stranger = makeAddr("stranger");
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, registry.SLASHER_ROLE()
            )
        );
        vm.prank(stranger);
        registry.slash(validators[0], IValidatorRegistry.Offence.Collusion, bytes32(0));
    }

    function test_RevertWhen_SlashUnregistered() public {
        address stranger = makeAddr("stranger");
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NotRegistered.selector, stranger));
        vm.prank(admin);
        registry.slash(stranger, IValidatorRegistry.Offence.Downtime, bytes32(0));
    }

    function testFuzz_SlashTakesItsFraction(uint96 stake, uint8 offenceIndex) public {
        stake = uint96(bound(stake, MIN_STAKE, 1_000_000e18));
        IValidatorRegistry.Offence offence = IValidatorRegistry.Offence(bound(offenceIndex, 1, 4));
        _setMax(6);
        address v = makeAddr("fuzzed");
        _registerValidator(v, stake);
        uint256 before = token.balanceOf(address(registry));
        vm.prank(admin);
        uint256 slashed = registry.slash(v, offence, bytes32(0));
        assertEq(slashed, uint256(stake) * registry.slashFraction(offence) / 10_000);
        assertEq(registry.getValidator(v).stake, stake - slashed);
        assertEq(token.balanceOf(address(registry)), before - slashed);
        assertEq(token.balanceOf(treasury), slashed);
    }

    function test_Unjail_Reactivates() public {
        _mint(validators[0], MIN_STAKE);
        vm.startPrank(validators[0]);
        token.approve(address(registry), MIN_STAKE);
        registry.addStake(MIN_STAKE);
        vm.stopPrank();
        (IValidatorRegistry.AttestationEvidence memory a, IValidatorRegistry.AttestationEvidence memory b) =
            _doubleSign(validatorKeys[0], REQUEST);
        registry.reportDoubleSign(validators[0], REQUEST, a, b);
        assertFalse(registry.isActive(validators[0]));
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.ValidatorUnjailed(validators[0]);
        vm.prank(admin);
        registry.unjail(validators[0]);
        assertTrue(registry.isActive(validators[0]));
    }

    function test_RevertWhen_UnjailNotJailed() public {
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.NotJailed.selector, validators[0]));
        vm.prank(admin);
        registry.unjail(validators[0]);
    }

    // ---------------------------------------------------------------- governance settings

    function test_SetThreshold() public {
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.ThresholdUpdated(4);
        vm.prank(admin);
        registry.setThreshold(4);
        assertEq(registry.threshold(), 4);
        assertFalse(registry.verifyAttestations(DIGEST, _validatorSigs(DIGEST, 3)));
        assertTrue(registry.verifyAttestations(DIGEST, _validatorSigs(DIGEST, 4)));
    }

    function test_RevertWhen_SetThresholdInvalid() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InvalidThreshold.selector, 0, 5));
        registry.setThreshold(0);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InvalidThreshold.selector, 6, 5));
        registry.setThreshold(6);
        vm.stopPrank();
    }

    function test_SetMaxValidators() public {
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.MaxValidatorsUpdated(7);
        _setMax(7);
        assertEq(registry.maxValidators(), 7);
    }

    function test_RevertWhen_SetMaxValidatorsInvalid() public {
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InvalidMaxValidators.selector, 4));
        registry.setMaxValidators(4);
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InvalidMaxValidators.selector, 257));
        registry.setMaxValidators(257);
        vm.stopPrank();
        vm.prank(validators[0]);
        registry.beginUnbonding();
        vm.prank(validators[1]);
        registry.beginUnbonding();
        vm.prank(validators[2]);
        registry.beginUnbonding();
        vm.expectRevert(abi.encodeWithSelector(IValidatorRegistry.InvalidMaxValidators.selector, 2));
        vm.prank(admin);
        registry.setMaxValidators(2);
    }

    function test_SetMinStakeUnbondingDelayTreasury() public {
        address newTreasury = makeAddr("newTreasury");
        vm.startPrank(admin);
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.MinStakeUpdated(5);
        registry.setMinStake(5);
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.UnbondingDelayUpdated(60);
        registry.setUnbondingDelay(60);
        vm.expectEmit(address(registry));
        emit IValidatorRegistry.TreasuryUpdated(newTreasury);
        registry.setTreasury(newTreasury);
        vm.stopPrank();
        assertEq(registry.minStake(), 5);
        assertEq(registry.unbondingDelay(), 60);
        assertEq(registry.treasury(), newTreasury);
    }

    function test_RevertWhen_SetTreasuryZero() public {
        vm.expectRevert(IValidatorRegistry.ZeroAddress.selector);
        vm.prank(admin);
        registry.setTreasury(address(0));
    }

    function test_SetPaymentContract_Once() public {
        ValidatorRegistry fresh = new ValidatorRegistry(token, admin, treasury, MIN_STAKE, 1, 5, UNBONDING);
        vm.startPrank(admin);
        vm.expectRevert(IValidatorRegistry.ZeroAddress.selector);
        fresh.setPaymentContract(address(0));
        vm.expectEmit(address(fresh));
        emit IValidatorRegistry.PaymentContractSet(address(payment));
        fresh.setPaymentContract(address(payment));
        vm.expectRevert(IValidatorRegistry.PaymentContractAlreadySet.selector);
        fresh.setPaymentContract(address(payment));
        vm.stopPrank();
    }

    function test_RevertWhen_GovernanceCalledByStranger() public {
        address stranger = makeAddr("stranger");
        bytes32 role = registry.DEFAULT_ADMIN_ROLE();
        bytes memory err =
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role);
        vm.startPrank(stranger);
        vm.expectRevert(err);
        registry.setThreshold(2);
        vm.expectRevert(err);
        registry.setMaxValidators(6);
        vm.expectRevert(err);
        registry.setMinStake(1);
        vm.expectRevert(err);
        registry.setUnbondingDelay(1);
        vm.expectRevert(err);
        registry.setTreasury(stranger);
        vm.expectRevert(err);
        registry.setPaymentContract(stranger);
        vm.expectRevert(err);
        registry.unjail(validators[0]);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- helpers

    function _setMax(uint16 n) internal {
        vm.prank(admin);
        registry.setMaxValidators(n);
    }

    function _doubleSign(uint256 key, bytes32 requestId)
        internal
        view
        returns (IValidatorRegistry.AttestationEvidence memory a, IValidatorRegistry.AttestationEvidence memory b)
    {
        a.subject = keccak256("receipt A");
        a.outputHash = keccak256("output A");
        a.signature =
            _sign(key, payment.attestationDigest(requestId, NcnTypes.PHASE_COMPLETION, a.subject, a.outputHash));
        b.subject = keccak256("receipt B");
        b.outputHash = keccak256("output B");
        b.signature =
            _sign(key, payment.attestationDigest(requestId, NcnTypes.PHASE_COMPLETION, b.subject, b.outputHash));
    }
}
