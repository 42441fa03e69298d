// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IValidatorRegistry} from "../../src/interfaces/IValidatorRegistry.sol";
import {NcnTypes} from "../../src/libraries/NcnTypes.sol";
import {NcnTestBase} from "../utils/NcnTestBase.sol";

/// @dev Double-sign evidence is two different completion attestations for one request id; nothing else.
contract ValidatorRegistryDoubleSignTest is NcnTestBase {
    bytes32 internal constant REQUEST = keccak256("request-1");

    function _evidence(uint256 key, bytes32 requestId, uint8 phase, bytes32 subject, bytes32 outputHash)
        internal
        view
        returns (IValidatorRegistry.AttestationEvidence memory e)
    {
        e.subject = subject;
        e.outputHash = outputHash;
        e.signature = _sign(key, payment.attestationDigest(requestId, phase, subject, outputHash));
    }

    function _completion(uint256 key, bytes32 subject, bytes32 outputHash)
        internal
        view
        returns (IValidatorRegistry.AttestationEvidence memory)
    {
        return _evidence(key, REQUEST, NcnTypes.PHASE_COMPLETION, subject, outputHash);
    }

    function _assertUnslashed(address v) internal view {
        assertEq(registry.getValidator(v).stake, MIN_STAKE);
        assertFalse(registry.getValidator(v).jailed);
        assertTrue(registry.isActive(v));
    }

    /// @dev Two receipts with one output but another price or agent: the old rule (output hashes must
    /// differ) let this equivocation go unpunished.
    function test_ReportDoubleSign_TwoReceiptsWithTheSameOutput() public {
        bytes32 output = keccak256("output");
        IValidatorRegistry.AttestationEvidence memory a = _completion(validatorKeys[1], keccak256("receipt at 1"), output);
        IValidatorRegistry.AttestationEvidence memory b = _completion(validatorKeys[1], keccak256("receipt at 9"), output);
        assertEq(registry.reportDoubleSign(validators[1], REQUEST, a, b), MIN_STAKE / 2);
        assertTrue(registry.getValidator(validators[1]).jailed);
    }

    function test_ReportDoubleSign_SameSubjectOtherOutputHash() public {
        bytes32 subject = keccak256("receipt");
        IValidatorRegistry.AttestationEvidence memory a = _completion(validatorKeys[1], subject, keccak256("out A"));
        IValidatorRegistry.AttestationEvidence memory b = _completion(validatorKeys[1], subject, keccak256("out B"));
        assertEq(registry.reportDoubleSign(validators[1], REQUEST, a, b), MIN_STAKE / 2);
    }

    /// @dev A validator pre-attests a request and later attests its completion: two signatures for one
    /// request id, in two phases. That is the protocol, not a double sign.
    function test_RevertWhen_DoubleSignPairsPreprocessWithCompletion() public {
        IValidatorRegistry.AttestationEvidence memory pre =
            _evidence(validatorKeys[1], REQUEST, NcnTypes.PHASE_PREPROCESS, keccak256("preprocess"), bytes32(0));
        IValidatorRegistry.AttestationEvidence memory done =
            _completion(validatorKeys[1], keccak256("receipt"), keccak256("output"));
        vm.expectPartialRevert(IValidatorRegistry.EvidenceSignerMismatch.selector);
        registry.reportDoubleSign(validators[1], REQUEST, pre, done);
        vm.expectPartialRevert(IValidatorRegistry.EvidenceSignerMismatch.selector);
        registry.reportDoubleSign(validators[1], REQUEST, done, pre);
        _assertUnslashed(validators[1]);
    }

    /// @dev A request retried on another agent is pre-attested again with another subject.
    function test_RevertWhen_DoubleSignPairsTwoPreprocessAttestations() public {
        IValidatorRegistry.AttestationEvidence memory first =
            _evidence(validatorKeys[1], REQUEST, NcnTypes.PHASE_PREPROCESS, keccak256("agent A"), bytes32(0));
        IValidatorRegistry.AttestationEvidence memory retry =
            _evidence(validatorKeys[1], REQUEST, NcnTypes.PHASE_PREPROCESS, keccak256("agent B"), bytes32(0));
        vm.expectPartialRevert(IValidatorRegistry.EvidenceSignerMismatch.selector);
        registry.reportDoubleSign(validators[1], REQUEST, first, retry);
        _assertUnslashed(validators[1]);
    }

    /// @dev The same completion attestation, signed again (or re-encoded), is one statement.
    function test_RevertWhen_DoubleSignOffersOneAttestationTwice() public {
        IValidatorRegistry.AttestationEvidence memory a =
            _completion(validatorKeys[1], keccak256("receipt"), keccak256("output"));
        vm.expectRevert(IValidatorRegistry.SameAttestation.selector);
        registry.reportDoubleSign(validators[1], REQUEST, a, a);
        _assertUnslashed(validators[1]);
    }

    /// @dev Two completions, each for its own request id, are what an honest validator signs every day.
    function test_RevertWhen_DoubleSignPairsCompletionsOfTwoRequests() public {
        IValidatorRegistry.AttestationEvidence memory a =
            _completion(validatorKeys[1], keccak256("receipt 1"), keccak256("output 1"));
        IValidatorRegistry.AttestationEvidence memory b = _evidence(
            validatorKeys[1], keccak256("request-2"), NcnTypes.PHASE_COMPLETION, keccak256("receipt 2"), keccak256("output 2")
        );
        vm.expectPartialRevert(IValidatorRegistry.EvidenceSignerMismatch.selector);
        registry.reportDoubleSign(validators[1], REQUEST, a, b);
        vm.expectPartialRevert(IValidatorRegistry.EvidenceSignerMismatch.selector);
        registry.reportDoubleSign(validators[1], keccak256("request-2"), a, b);
        _assertUnslashed(validators[1]);
    }

    /// @dev Whatever a reporter builds from one honest validator's signatures (one completion per request
    /// id, any number of preprocess attestations), nothing is slashed.
    function testFuzz_HonestValidatorIsNeverSlashed(bytes32 subjectA, bytes32 outputA, bytes32 subjectB, bytes32 outputB, uint8 phaseB, bool swap)
        public
    {
        IValidatorRegistry.AttestationEvidence memory signed = _completion(validatorKeys[1], subjectA, outputA);
        // Anything else the validator signed for REQUEST is a preprocess attestation; a reporter may
        // also bring signatures of its own over any attestation.
        IValidatorRegistry.AttestationEvidence memory other = phaseB % 2 == 0
            ? _evidence(validatorKeys[1], REQUEST, NcnTypes.PHASE_PREPROCESS, subjectB, outputB)
            : _evidence(uint256(keccak256("reporter")), REQUEST, NcnTypes.PHASE_COMPLETION, subjectB, outputB);
        if (swap) (signed, other) = (other, signed);
        try registry.reportDoubleSign(validators[1], REQUEST, signed, other) {
            fail();
        } catch {}
        _assertUnslashed(validators[1]);
    }
}
