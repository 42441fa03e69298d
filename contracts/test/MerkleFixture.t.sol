// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {NcnTypes} from "../src/libraries/NcnTypes.sol";

/// @dev Cross-language check: trees built in TypeScript (protocol merkleBatch, OpenZeppelin
/// SimpleMerkleTree) over receipt digests verify with OpenZeppelin's MerkleProof, and the leaves are
/// the digests Solidity computes for the same receipts. Regenerate the fixture with
/// `npm run gen:merkle` in contracts/.
contract MerkleFixtureTest is Test {
    string internal json;

    function setUp() public {
        json = vm.readFile(string.concat(vm.projectRoot(), "/contracts/test/fixtures/merkle.json"));
    }

    function test_EveryProofVerifies() public view {
        uint256[] memory sizes = vm.parseJsonUintArray(json, ".sizes");
        assertEq(sizes.length, 5);
        for (uint256 t; t < sizes.length; ++t) {
            string memory tree = string.concat(".trees[", vm.toString(t), "]");
            bytes32 root = vm.parseJsonBytes32(json, string.concat(tree, ".root"));
            bytes32[] memory leaves = vm.parseJsonBytes32Array(json, string.concat(tree, ".leaves"));
            assertEq(leaves.length, sizes[t]);
            for (uint256 i; i < leaves.length; ++i) {
                bytes32[] memory proof = _proof(tree, i);
                assertTrue(MerkleProof.verify(proof, root, leaves[i]), "proof does not verify");
                // A proof is only good for its own leaf.
                if (leaves.length > 1) {
                    assertFalse(MerkleProof.verify(proof, root, leaves[(i + 1) % leaves.length]));
                }
                assertFalse(MerkleProof.verify(proof, keccak256(abi.encode(root)), leaves[i]));
            }
        }
    }

    function test_LeavesAreReceiptDigests() public view {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes(vm.parseJsonString(json, ".domain.name"))),
                keccak256(bytes(vm.parseJsonString(json, ".domain.version"))),
                vm.parseJsonUint(json, ".domain.chainId"),
                vm.parseJsonAddress(json, ".domain.verifyingContract")
            )
        );
        uint256[] memory sizes = vm.parseJsonUintArray(json, ".sizes");
        for (uint256 t; t < sizes.length; ++t) {
            bytes32[] memory leaves =
                vm.parseJsonBytes32Array(json, string.concat(".trees[", vm.toString(t), "].leaves"));
            for (uint256 i; i < leaves.length; ++i) {
                assertEq(leaves[i], this.receiptDigest(domain, sizes[t], i));
            }
        }
    }

    /// @dev Mirrors `receipt(tree, i)` of contracts/ts/scripts/merkle-fixture.ts.
    function receiptDigest(bytes32 domain, uint256 tree, uint256 i) external view returns (bytes32) {
        NcnTypes.InferenceReceipt memory r = NcnTypes.InferenceReceipt({
            requestId: keccak256(bytes(string.concat("fixture-", vm.toString(tree), "-", vm.toString(i)))),
            subnetId: keccak256("fixture-subnet"),
            modelId: keccak256("fixture-model"),
            modelHash: _word("model", tree, i),
            inputHash: _word("input", tree, i),
            outputHash: _word("output", tree, i),
            agent: address(uint160(uint256(_word("agent", tree, i)))),
            price: 1_000 + i,
            startedAt: uint64(1_700_000_000_000 + i),
            finishedAt: uint64(1_700_000_000_250 + i)
        });
        return NcnTypes.digest(domain, this.hashReceipt(r));
    }

    /// @dev NcnTypes.hashReceipt takes calldata, hence the external hop.
    function hashReceipt(NcnTypes.InferenceReceipt calldata r) external pure returns (bytes32) {
        return NcnTypes.hashReceipt(r);
    }

    function _word(string memory label, uint256 tree, uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(label, tree, i));
    }

    function _proof(string memory tree, uint256 i) internal view returns (bytes32[] memory) {
        string memory key = string.concat(tree, ".proofs[", vm.toString(i), "]");
        return vm.parseJsonBytes32Array(json, key);
    }
}
