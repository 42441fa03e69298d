// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title NcnTypes
/// @notice EIP-712 types of the NCN protocol and their struct hashes. Every encoding here
/// matches protocol/src/eip712.ts field for field; the domain is
/// {name: "NCN Network", version: "1", chainId, verifyingContract: InferencePayment}.
library NcnTypes {
    /// @notice A compute node's signed statement of one inference (ids are keccak256 of UTF-8 ids).
    struct InferenceReceipt {
        bytes32 requestId;
        bytes32 subnetId;
        bytes32 modelId;
        bytes32 modelHash;
        bytes32 inputHash;
        bytes32 outputHash;
        address agent;
        uint256 price;
        uint64 startedAt;
        uint64 finishedAt;
    }

    /// @notice Attestation phase of a request before dispatch (payment, model, agent checked).
    uint8 internal constant PHASE_PREPROCESS = 0;
    /// @notice Attestation phase of a finished request (subject = struct hash of the receipt).
    uint8 internal constant PHASE_COMPLETION = 1;

    bytes32 internal constant RECEIPT_TYPEHASH = keccak256(
        "InferenceReceipt(bytes32 requestId,bytes32 subnetId,bytes32 modelId,bytes32 modelHash,bytes32 inputHash,bytes32 outputHash,address agent,uint256 price,uint64 startedAt,uint64 finishedAt)"
    );
    bytes32 internal constant ATTESTATION_TYPEHASH =
        keccak256("Attestation(bytes32 requestId,uint8 phase,bytes32 subject,bytes32 outputHash)");
    bytes32 internal constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 sessionId,uint256 cumulativeAmount)");
    bytes32 internal constant SETTLEMENT_BATCH_TYPEHASH = keccak256(
        "SettlementBatch(bytes32 batchId,address gateway,bytes32 receiptsRoot,bytes32 vouchersHash,bytes32 payoutsHash,uint256 total)"
    );

    /// @dev Every field of the receipt is a static type, so abi.encode lays them out as
    /// 32-byte words exactly like EIP-712's encodeData.
    function hashReceipt(InferenceReceipt calldata receipt) internal pure returns (bytes32) {
        return keccak256(abi.encode(RECEIPT_TYPEHASH, receipt));
    }

    function hashAttestation(bytes32 requestId, uint8 phase, bytes32 subject, bytes32 outputHash)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(ATTESTATION_TYPEHASH, requestId, phase, subject, outputHash));
    }

    /// @dev Hot path of settleBatch: hashes in scratch space instead of allocating memory.
    function hashVoucher(bytes32 sessionId, uint256 cumulativeAmount) internal pure returns (bytes32 h) {
        bytes32 typehash = VOUCHER_TYPEHASH;
        assembly ("memory-safe") {
            let fmp := mload(0x40)
            mstore(0x00, typehash)
            mstore(0x20, sessionId)
            mstore(0x40, cumulativeAmount)
            h := keccak256(0x00, 0x60)
            mstore(0x40, fmp)
        }
    }

    function hashSettlementBatch(
        bytes32 batchId,
        address gateway,
        bytes32 receiptsRoot,
        bytes32 vouchersHash,
        bytes32 payoutsHash,
        uint256 total
    ) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(SETTLEMENT_BATCH_TYPEHASH, batchId, gateway, receiptsRoot, vouchersHash, payoutsHash, total)
        );
    }

    /// @notice keccak256(abi.encode(bytes32[] sessionIds, uint256[] cumulativeAmounts)).
    function hashVouchers(bytes32[] calldata sessionIds, uint256[] calldata cumulativeAmounts)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(sessionIds, cumulativeAmounts));
    }

    /// @notice keccak256(abi.encode(address[] nodes, uint256[] amounts)).
    function hashPayouts(address[] calldata nodes, uint256[] calldata amounts) internal pure returns (bytes32) {
        return keccak256(abi.encode(nodes, amounts));
    }

    /// @notice The digest a signer signs: keccak256("\x19\x01" || domainSeparator || structHash).
    function digest(bytes32 domainSeparator, bytes32 structHash) internal pure returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(domainSeparator, structHash);
    }
}
