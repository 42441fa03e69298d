// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {InferencePayment} from "../../src/InferencePayment.sol";
import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {NcnTypes} from "../../src/libraries/NcnTypes.sol";
import {NCNToken} from "../../src/NCNToken.sol";
import {ValidatorRegistry} from "../../src/ValidatorRegistry.sol";

/// @dev Deploys the system with five staked validators (threshold 3) and offers signing helpers.
abstract contract NcnTestBase is Test {
    uint256 internal constant CAP = 1_000_000_000e18;
    uint96 internal constant MIN_STAKE = 1_000e18;
    uint16 internal constant THRESHOLD = 3;
    uint16 internal constant MAX_VALIDATORS = 5;
    uint64 internal constant UNBONDING = 7 days;
    uint16 internal constant GATEWAY_BPS = 500;
    uint16 internal constant VALIDATOR_BPS = 300;
    uint16 internal constant PROTOCOL_BPS = 200;
    uint32 internal constant GRACE = 1 hours;

    NCNToken internal token;
    ValidatorRegistry internal registry;
    InferencePayment internal payment;

    address internal admin = makeAddr("admin");
    address internal treasury = makeAddr("treasury");
    address internal gateway = makeAddr("gateway");
    address internal client;
    uint256 internal clientKey;

    mapping(bytes32 sessionId => bytes32 salt) internal _saltOf;
    address[] internal validators;
    uint256[] internal validatorKeys;

    function setUp() public virtual {
        (client, clientKey) = makeAddrAndKey("client");
        token = new NCNToken(admin, CAP);
        registry = new ValidatorRegistry(token, admin, treasury, MIN_STAKE, THRESHOLD, MAX_VALIDATORS, UNBONDING);
        payment = new InferencePayment(
            token,
            registry,
            admin,
            IInferencePayment.Config({
                gatewayBps: GATEWAY_BPS,
                validatorBps: VALIDATOR_BPS,
                protocolBps: PROTOCOL_BPS,
                settlementGrace: GRACE,
                treasury: treasury
            })
        );
        vm.prank(admin);
        registry.setPaymentContract(address(payment));
        for (uint256 i; i < MAX_VALIDATORS; ++i) {
            (address v, uint256 key) = makeAddrAndKey(string.concat("validator", vm.toString(i)));
            validators.push(v);
            validatorKeys.push(key);
            _registerValidator(v, MIN_STAKE);
        }
    }

    function _mint(address to, uint256 amount) internal {
        vm.prank(admin);
        token.mint(to, amount);
    }

    function _registerValidator(address v, uint256 stake) internal {
        _mint(v, stake);
        vm.startPrank(v);
        token.approve(address(registry), stake);
        registry.register(stake);
        vm.stopPrank();
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev Signatures of the first `n` validators.
    function _validatorSigs(bytes32 digest, uint256 n) internal view returns (bytes[] memory sigs) {
        sigs = new bytes[](n);
        for (uint256 i; i < n; ++i) {
            sigs[i] = _sign(validatorKeys[i], digest);
        }
    }

    function _permitSig(uint256 ownerKey, address spender, uint256 value, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        address owner = vm.addr(ownerKey);
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                owner,
                spender,
                value,
                token.nonces(owner),
                deadline
            )
        );
        return vm.sign(ownerKey, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
    }

    function _receipt(bytes32 requestId, bytes32 subnetId, address agent, uint256 price)
        internal
        view
        returns (NcnTypes.InferenceReceipt memory)
    {
        return NcnTypes.InferenceReceipt({
            requestId: requestId,
            subnetId: subnetId,
            modelId: keccak256("model"),
            modelHash: keccak256("model-bytes"),
            inputHash: keccak256(abi.encode("input", requestId)),
            outputHash: keccak256(abi.encode("output", requestId)),
            agent: agent,
            price: price,
            startedAt: uint64(block.timestamp),
            finishedAt: uint64(block.timestamp + 1)
        });
    }

    function _openSession(uint256 key, bytes32 salt, uint256 amount, uint64 expiry) internal returns (bytes32 id) {
        address owner = vm.addr(key);
        _mint(owner, amount);
        vm.startPrank(owner);
        token.approve(address(payment), amount);
        id = payment.openSession(gateway, salt, amount, expiry);
        vm.stopPrank();
        _saltOf[id] = salt;
    }

    function _voucherSig(uint256 key, bytes32 sessionId, uint256 cumulative) internal view returns (bytes memory) {
        return _sign(key, payment.voucherDigest(sessionId, cumulative));
    }

    /// @dev One-session, one-node batch.
    function _batch(bytes32 batchId, bytes32 sessionId, uint256 cumulative, uint256 key, address node, uint256 amount)
        internal
        view
        returns (IInferencePayment.SettlementBatch memory b)
    {
        b.batchId = batchId;
        b.gateway = gateway;
        b.receiptsRoot = keccak256(abi.encode("root", batchId));
        b.sessionIds = new bytes32[](1);
        b.sessionIds[0] = sessionId;
        b.salts = new bytes32[](1);
        b.salts[0] = _saltOf[sessionId];
        b.cumulativeAmounts = new uint256[](1);
        b.cumulativeAmounts[0] = cumulative;
        b.voucherSignatures = new bytes[](1);
        b.voucherSignatures[0] = _voucherSig(key, sessionId, cumulative);
        b.nodes = new address[](1);
        b.nodes[0] = node;
        b.amounts = new uint256[](1);
        b.amounts[0] = amount;
    }

    function _batchSigs(IInferencePayment.SettlementBatch memory b, uint256 n) internal view returns (bytes[] memory) {
        (bytes32 digest,) = payment.settlementDigest(b);
        return _validatorSigs(digest, n);
    }
}
