// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {InferencePayment} from "../../src/InferencePayment.sol";
import {IValidatorRegistry} from "../../src/interfaces/IValidatorRegistry.sol";
import {NcnTypes} from "../../src/libraries/NcnTypes.sol";
import {ValidatorRegistry} from "../../src/ValidatorRegistry.sol";

/// @dev Validators sign attestations and a reporter mixes everything it has seen into double-sign
/// reports. Validators 0-2 are honest: they sign one completion per request id, ever (asked again, they
/// return the first), and pre-attest a request as often as it is retried. Validators 3-4 sign anything.
contract SlashingHandler is Test {
    uint256 public constant HONEST = 3;
    uint256 internal constant VALIDATORS = 5;
    /// @dev Signer index of the reporter's own key (not a validator).
    uint256 internal constant REPORTER = 5;

    ValidatorRegistry internal immutable registry;
    InferencePayment internal immutable payment;
    uint256[] internal keys;

    struct Signed {
        uint256 signer;
        bytes32 requestId;
        uint8 phase;
        bytes32 subject;
        bytes32 outputHash;
        bytes signature;
    }

    Signed[] internal pool;
    mapping(uint256 signer => mapping(bytes32 requestId => bool)) internal completionSigned;

    /// @dev Must stay zero: an honest validator was slashed.
    uint256 public honestSlashed;
    /// @dev Must stay zero: a real, unreported equivocation could not be slashed.
    uint256 public missedEquivocations;
    uint256 public slashes;

    constructor(ValidatorRegistry registry_, InferencePayment payment_, uint256[] memory validatorKeys) {
        registry = registry_;
        payment = payment_;
        keys = validatorKeys;
        keys.push(uint256(keccak256("slashing reporter")));
    }

    function validator(uint256 i) public view returns (address) {
        return vm.addr(keys[i]);
    }

    /// @dev Few request ids, so that signatures collide on them.
    function _request(uint256 seed) internal pure returns (bytes32) {
        return keccak256(abi.encode("slashing request", seed % 4));
    }

    function sign(uint256 signerSeed, uint256 requestSeed, uint256 phaseSeed, bytes32 subject, bytes32 outputHash)
        external
    {
        uint256 signer = signerSeed % keys.length;
        bytes32 requestId = _request(requestSeed);
        // Honest validators sign the two protocol phases only; the others sign whatever they are asked.
        uint8 phase = uint8(phaseSeed % (signer < HONEST ? 2 : 3));
        if (signer < HONEST && phase == NcnTypes.PHASE_COMPLETION) {
            if (completionSigned[signer][requestId]) return;
            completionSigned[signer][requestId] = true;
        }
        if (phase == NcnTypes.PHASE_PREPROCESS) outputHash = bytes32(0);
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(keys[signer], payment.attestationDigest(requestId, phase, subject, outputHash));
        pool.push(Signed(signer, requestId, phase, subject, outputHash, abi.encodePacked(r, s, v)));
    }

    /// @dev Pairs two signatures from the pool against a chosen validator and request id, sometimes
    /// rewriting fields the signatures do not cover.
    function report(uint256 aSeed, uint256 bSeed, uint256 accusedSeed, uint256 requestSeed, uint256 tamperSeed)
        external
    {
        if (pool.length == 0) return;
        Signed memory a = pool[aSeed % pool.length];
        // Half the time, the partner is another signature of the same signer for the same request id,
        // the pairs a double sign is made of; otherwise anything.
        Signed memory b = bSeed % 2 == 0 ? pool[_partnerOf(aSeed % pool.length, bSeed / 2)] : pool[bSeed / 2 % pool.length];
        uint256 accused = accusedSeed % 2 == 0 && a.signer < VALIDATORS ? a.signer : accusedSeed / 2 % VALIDATORS;
        bytes32 requestId = requestSeed % 2 == 0 ? a.requestId : _request(requestSeed / 2);
        IValidatorRegistry.AttestationEvidence memory ea =
            IValidatorRegistry.AttestationEvidence(a.subject, a.outputHash, a.signature);
        IValidatorRegistry.AttestationEvidence memory eb =
            IValidatorRegistry.AttestationEvidence(b.subject, b.outputHash, b.signature);
        uint256 tamper = tamperSeed % 8;
        if (tamper == 1) eb.subject = a.subject;
        else if (tamper == 2) eb.outputHash = keccak256(abi.encode(tamperSeed));
        else if (tamper == 3) eb.signature = a.signature;
        else if (tamper == 4) ea.subject = keccak256(abi.encode(tamperSeed));

        bool equivocation = tamper == 0 && a.signer == accused && b.signer == accused
            && a.phase == NcnTypes.PHASE_COMPLETION && b.phase == NcnTypes.PHASE_COMPLETION && a.requestId == requestId
            && b.requestId == requestId && (a.subject != b.subject || a.outputHash != b.outputHash);
        address key = validator(accused);
        bool slashable = equivocation && !registry.doubleSignReported(key, requestId)
            && uint256(registry.getValidator(key).stake) * registry.DOUBLE_SIGN_SLASH_BPS() / 10_000 != 0;

        vm.prank(validator(REPORTER));
        try registry.reportDoubleSign(key, requestId, ea, eb) {
            if (accused < HONEST) ++honestSlashed;
            ++slashes;
        } catch {
            if (slashable) ++missedEquivocations;
        }
    }

    function _partnerOf(uint256 index, uint256 seed) internal view returns (uint256) {
        Signed memory a = pool[index];
        for (uint256 k; k < pool.length; ++k) {
            uint256 i = (seed + k) % pool.length;
            if (i != index && pool[i].signer == a.signer && pool[i].requestId == a.requestId) return i;
        }
        return index;
    }

    function poolSize() external view returns (uint256) {
        return pool.length;
    }
}
