// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {InferencePayment} from "../../src/InferencePayment.sol";
import {IInferencePayment} from "../../src/interfaces/IInferencePayment.sol";
import {NcnTypes} from "../../src/libraries/NcnTypes.sol";
import {NCNToken} from "../../src/NCNToken.sol";
import {ValidatorRegistry} from "../../src/ValidatorRegistry.sol";

/// @dev Drives InferencePayment through random escrows, sessions, settlements, replays, abandoned
/// batches, strangers' attempts, closes and withdrawals, and records in ghost variables what the
/// invariants compare against.
contract PaymentHandler is Test {
    NCNToken internal immutable token;
    InferencePayment internal immutable payment;
    ValidatorRegistry internal immutable registry;
    address internal immutable admin;
    uint256[] internal validatorKeys;

    uint256[3] internal clientKeys;
    address[2] internal gateways;
    address[3] internal nodes;

    struct SessionGhost {
        bytes32 id;
        bytes32 salt;
        uint256 clientKey;
        address gateway;
        uint256 deposited;
        uint256 lastSettledVoucher;
        /// @dev Highest cumulative amount the client ever signed for this session.
        uint256 maxSigned;
        /// @dev Sum of what accepted settlements took out of this session.
        uint256 paidOut;
    }

    struct BatchGhost {
        bytes32 id;
        address gateway;
    }

    bytes32[] public requestIds;
    mapping(bytes32 => NcnTypes.InferenceReceipt) internal completedReceipts;
    /// @dev Completions and refunds that succeeded, per escrow.
    mapping(bytes32 requestId => uint256) public escrowPayouts;
    /// @dev Who sent the completion that succeeded.
    mapping(bytes32 requestId => address) public completedBy;
    BatchGhost[] internal abandoned;
    SessionGhost[] internal sessions;
    BatchGhost[] internal batches;
    uint256 internal nextRequest;
    uint256 internal nextBatch;
    uint256 internal nextSalt;

    /// @dev Must stay zero: a refund of an expired pending escrow failed.
    uint256 public refundFailures;
    /// @dev Must stay zero: a settled batch or completed request was paid a second time.
    uint256 public replaySuccesses;
    /// @dev Must stay zero: a settlement was accepted with fewer distinct active validator signatures than M.
    uint256 public underSignedSuccesses;
    /// @dev Must stay zero: an escrow was completed by someone other than its gateway.
    uint256 public strangerCompletions;
    /// @dev Must stay zero: a voucher signed by another key than the session's client was settled.
    uint256 public forgedVoucherSuccesses;
    /// @dev Must stay zero: someone other than a session's client named or revoked its delegate signer.
    uint256 public strangerSignerChanges;
    /// @dev Must stay zero: a voucher of a delegate the session no longer names settled.
    uint256 public revokedDelegateSuccesses;
    /// @dev The delegate signer (an API key) each session names now, as its private key; 0 for none.
    mapping(bytes32 sessionId => uint256 key) public delegateKeyOf;
    /// @dev Delegate keys a session named once and no longer does.
    mapping(bytes32 sessionId => uint256[] keys) internal revokedKeys;
    /// @dev Must stay zero: an abandoned batch id settled, or a settled one was abandoned.
    uint256 public abandonedSettlements;
    uint256 public settledAbandonments;

    uint256 public abandonedBatches;

    uint256 public settledBatches;
    uint256 public completedRequests;
    uint256 public refundedRequests;

    constructor(
        NCNToken token_,
        InferencePayment payment_,
        ValidatorRegistry registry_,
        address admin_,
        uint256[] memory validatorKeys_
    ) {
        token = token_;
        payment = payment_;
        registry = registry_;
        admin = admin_;
        validatorKeys = validatorKeys_;
        for (uint256 i; i < 3; ++i) {
            clientKeys[i] = uint256(keccak256(abi.encode("invariant client", i)));
            nodes[i] = makeAddr(string.concat("invariant node ", vm.toString(i)));
        }
        gateways[0] = makeAddr("invariant gateway 0");
        gateways[1] = makeAddr("invariant gateway 1");
    }

    // ---------------------------------------------------------------- escrow

    function initiate(uint256 clientSeed, uint256 amount, uint256 ttl) external {
        address client = vm.addr(clientKeys[clientSeed % 3]);
        amount = bound(amount, 1, 1_000e18);
        bytes32 requestId = keccak256(abi.encode("request", nextRequest++));
        _fund(client, amount);
        vm.prank(client);
        payment.initiateInferenceRequest(
            requestId,
            keccak256("subnet"),
            gateways[clientSeed % 2],
            amount,
            uint64(block.timestamp + bound(ttl, 1, 2 hours))
        );
        requestIds.push(requestId);
    }

    /// @dev One call in four comes from someone other than the escrow's gateway.
    function complete(uint256 indexSeed, uint256 priceSeed, uint256 signerSeed, uint256 callerSeed) external {
        if (requestIds.length == 0) return;
        bytes32 requestId = requestIds[indexSeed % requestIds.length];
        IInferencePayment.Escrow memory e = payment.getEscrow(requestId);
        NcnTypes.InferenceReceipt memory r = NcnTypes.InferenceReceipt({
            requestId: requestId,
            subnetId: keccak256("subnet"),
            modelId: keccak256("model"),
            modelHash: keccak256("model-bytes"),
            inputHash: keccak256(abi.encode(requestId, "in")),
            outputHash: keccak256(abi.encode(requestId, "out")),
            agent: nodes[priceSeed % 3],
            price: bound(priceSeed, 0, e.amount),
            startedAt: uint64(block.timestamp),
            finishedAt: uint64(block.timestamp)
        });
        (bytes[] memory sigs, uint256 distinct) = _signatures(payment.completionDigest(r), signerSeed);
        address caller = callerSeed % 4 == 0 ? _accounts()[callerSeed / 4 % 8] : e.gateway;
        vm.prank(caller);
        try payment.completeInferenceRequest(r, sigs) {
            if (e.status != IInferencePayment.EscrowStatus.Pending) ++replaySuccesses;
            if (distinct < registry.requiredAttestations()) ++underSignedSuccesses;
            if (caller != e.gateway) ++strangerCompletions;
            completedReceipts[requestId] = r;
            completedBy[requestId] = caller;
            ++escrowPayouts[requestId];
            ++completedRequests;
        } catch {}
    }

    function refundExpired(uint256 indexSeed) external {
        if (requestIds.length == 0) return;
        bytes32 requestId = requestIds[indexSeed % requestIds.length];
        IInferencePayment.Escrow memory e = payment.getEscrow(requestId);
        bool due = e.status == IInferencePayment.EscrowStatus.Pending && block.timestamp > e.expiry;
        try payment.handleExpiredRequest(requestId) {
            if (!due) ++replaySuccesses;
            ++escrowPayouts[requestId];
            ++refundedRequests;
        } catch {
            if (due) ++refundFailures;
        }
    }

    function replayCompletion(uint256 indexSeed) external {
        if (requestIds.length == 0) return;
        bytes32 requestId = requestIds[indexSeed % requestIds.length];
        NcnTypes.InferenceReceipt memory r = completedReceipts[requestId];
        if (r.requestId == bytes32(0)) return;
        (bytes[] memory sigs,) = _signatures(payment.completionDigest(r), 0);
        vm.prank(payment.getEscrow(requestId).gateway);
        try payment.completeInferenceRequest(r, sigs) {
            ++replaySuccesses;
            ++escrowPayouts[requestId];
        } catch {}
    }

    // ---------------------------------------------------------------- sessions

    function openSession(uint256 clientSeed, uint256 amount, uint256 ttl) external {
        uint256 key = clientKeys[clientSeed % 3];
        address client = vm.addr(key);
        address gateway = gateways[(clientSeed / 3) % 2];
        amount = bound(amount, 1, 1_000e18);
        bytes32 salt = bytes32(nextSalt++);
        _fund(client, amount);
        vm.prank(client);
        bytes32 id = payment.openSession(gateway, salt, amount, uint64(block.timestamp + bound(ttl, 1, 1 days)));
        sessions.push(SessionGhost(id, salt, key, gateway, amount, 0, 0, 0));
    }

    function topUp(uint256 indexSeed, uint256 amount) external {
        if (sessions.length == 0) return;
        SessionGhost storage g = sessions[indexSeed % sessions.length];
        if (payment.getSession(g.id).closed) return;
        amount = bound(amount, 1, 100e18);
        address client = vm.addr(g.clientKey);
        _fund(client, amount);
        vm.prank(client);
        payment.topUpSession(g.id, amount, 0);
        g.deposited += amount;
    }

    /// @dev Settles the latest vouchers of up to three sessions of one gateway; vouchers may exceed deposits.
    function settle(uint256 sessionSeed, uint256 amountSeed, uint256 signerSeed) external {
        if (sessions.length == 0) return;
        _settle(bytes32(nextBatch++), sessionSeed, amountSeed, signerSeed);
    }

    /// @dev Tries to settle, with valid vouchers and a full quorum, a batch id its gateway abandoned.
    function settleAbandoned(uint256 abandonedSeed, uint256 sessionSeed, uint256 amountSeed) external {
        if (abandoned.length == 0 || sessions.length == 0) return;
        BatchGhost memory a = abandoned[abandonedSeed % abandoned.length];
        (bool found, uint256 index) = _sessionOf(a.gateway, sessionSeed);
        // Ids a stranger abandoned are the stranger's own: no session settles through it.
        if (!found) return;
        if (_settle(a.id, index, amountSeed, 0)) ++abandonedSettlements;
    }

    /// @dev A gateway (or, one call in four, someone else) abandons a fresh id or, one call in three, an id
    /// already settled by a gateway.
    function abandon(uint256 gatewaySeed, uint256 batchSeed, uint256 callerSeed) external {
        address gateway = gateways[gatewaySeed % 2];
        bool settledOne = batchSeed % 3 == 0 && batches.length != 0;
        bytes32 id;
        if (settledOne) {
            BatchGhost memory b = batches[batchSeed / 3 % batches.length];
            (id, gateway) = (b.id, b.gateway);
        } else {
            id = bytes32(nextBatch++);
        }
        address caller = callerSeed % 4 == 0 ? _accounts()[callerSeed / 4 % 8] : gateway;
        bool wasSpent = payment.isBatchSettled(caller, id);
        bool wasSettled = wasSpent && !payment.batchAbandoned(caller, id);
        vm.prank(caller);
        try payment.abandonBatch(id) {
            if (wasSettled) ++settledAbandonments;
            if (wasSpent) ++replaySuccesses;
            abandoned.push(BatchGhost(id, caller));
            ++abandonedBatches;
        } catch {}
    }

    /// @dev A session's client names a delegate signer (one of a few keys) or, one call in three, revokes it.
    function setSigner(uint256 indexSeed, uint256 keySeed) external {
        if (sessions.length == 0) return;
        SessionGhost memory g = sessions[indexSeed % sessions.length];
        if (payment.getSession(g.id).closed) return;
        uint256 key = keySeed % 3 == 0 ? 0 : uint256(keccak256(abi.encode("invariant delegate", keySeed % 4)));
        vm.prank(vm.addr(g.clientKey));
        payment.setSessionSigner(g.id, key == 0 ? address(0) : vm.addr(key));
        uint256 previous = delegateKeyOf[g.id];
        if (previous != 0 && previous != key) revokedKeys[g.id].push(previous);
        delegateKeyOf[g.id] = key;
    }

    /// @dev A stranger (another client, a gateway or the delegate itself) tries to name a delegate.
    function setSignerAsStranger(uint256 indexSeed, uint256 callerSeed) external {
        if (sessions.length == 0) return;
        SessionGhost memory g = sessions[indexSeed % sessions.length];
        address client = vm.addr(g.clientKey);
        address caller = callerSeed % 3 == 0
            ? g.gateway
            : callerSeed % 3 == 1 && delegateKeyOf[g.id] != 0
                ? vm.addr(delegateKeyOf[g.id])
                : _accounts()[callerSeed % 8];
        if (caller == client) return;
        vm.prank(caller);
        try payment.setSessionSigner(g.id, caller) {
            ++strangerSignerChanges;
        } catch {}
    }

    /// @dev A delegate the session named once and no longer does signs a voucher; with a full quorum it
    /// must still not settle.
    function settleRevokedDelegate(uint256 sessionSeed, uint256 amountSeed, uint256 keySeed) external {
        if (sessions.length == 0) return;
        SessionGhost memory g = sessions[sessionSeed % sessions.length];
        uint256[] storage gone = revokedKeys[g.id];
        if (gone.length == 0) return;
        uint256 key = gone[keySeed % gone.length];
        if (key == delegateKeyOf[g.id]) return; // named again since
        IInferencePayment.Session memory s = payment.getSession(g.id);
        if (s.closed || s.settled >= s.deposit) return;
        uint256 cumulative = bound(amountSeed, s.settled + 1, s.deposit);
        IInferencePayment.SettlementBatch memory b = _emptyBatch(bytes32(nextBatch++), g.gateway, 1);
        b.sessionIds[0] = g.id;
        b.salts[0] = g.salt;
        b.cumulativeAmounts[0] = cumulative;
        b.voucherSignatures[0] = _sign(key, payment.voucherDigest(g.id, cumulative));
        b.amounts[0] = cumulative - s.settled;
        (bytes32 digest,) = payment.settlementDigest(b);
        (bytes[] memory sigs,) = _signatures(digest, 0);
        try payment.settleBatch(b, sigs) {
            ++revokedDelegateSuccesses;
        } catch {}
    }

    /// @dev A stranger signs a voucher for someone's session; even with a full quorum over the batch it
    /// must not settle.
    function settleForgedVoucher(uint256 sessionSeed, uint256 amountSeed, uint256 strangerSeed) external {
        if (sessions.length == 0) return;
        SessionGhost memory g = sessions[sessionSeed % sessions.length];
        IInferencePayment.Session memory s = payment.getSession(g.id);
        if (s.closed || s.settled >= s.deposit) return;
        uint256 cumulative = bound(amountSeed, s.settled + 1, s.deposit);
        uint256 strangerKey = strangerSeed % 2 == 0
            ? clientKeys[(strangerSeed / 2) % 3]  // another client, possibly of the same gateway
            : uint256(keccak256(abi.encode("stranger", strangerSeed)));
        if (strangerKey == g.clientKey) return;
        IInferencePayment.SettlementBatch memory b = _emptyBatch(bytes32(nextBatch++), g.gateway, 1);
        b.sessionIds[0] = g.id;
        b.salts[0] = g.salt;
        b.cumulativeAmounts[0] = cumulative;
        b.voucherSignatures[0] = _sign(strangerKey, payment.voucherDigest(g.id, cumulative));
        b.amounts[0] = cumulative - s.settled;
        (bytes32 digest,) = payment.settlementDigest(b);
        (bytes[] memory sigs,) = _signatures(digest, 0);
        try payment.settleBatch(b, sigs) {
            ++forgedVoucherSuccesses;
        } catch {}
    }

    function _settle(bytes32 batchId, uint256 sessionSeed, uint256 amountSeed, uint256 signerSeed)
        internal
        returns (bool ok)
    {
        SessionGhost storage first = sessions[sessionSeed % sessions.length];
        address gateway = first.gateway;
        uint256[] memory picked = new uint256[](3);
        uint256[] memory before = new uint256[](3);
        uint256 n;
        for (uint256 k; k < 3; ++k) {
            uint256 i = k == 0
                ? sessionSeed % sessions.length
                : uint256(keccak256(abi.encode(sessionSeed, k))) % sessions.length;
            bool dup;
            for (uint256 j; j < n; ++j) {
                dup = dup || picked[j] == i;
            }
            if (!dup && sessions[i].gateway == gateway) picked[n++] = i;
        }
        IInferencePayment.SettlementBatch memory b = _emptyBatch(batchId, gateway, n);
        uint256 total;
        for (uint256 k; k < n; ++k) {
            SessionGhost storage g = sessions[picked[k]];
            uint256 settled = payment.getSession(g.id).settled;
            before[k] = settled;
            // Mostly within the deposit, sometimes above it.
            uint256 cumulative = settled + bound(uint256(keccak256(abi.encode(amountSeed, k))), 1, g.deposited / 2 + 2);
            b.sessionIds[k] = g.id;
            b.salts[k] = g.salt;
            b.cumulativeAmounts[k] = cumulative;
            b.voucherSignatures[k] = _voucherOf(g, cumulative);
            if (cumulative > g.maxSigned) g.maxSigned = cumulative;
            total += cumulative - settled;
        }
        b.amounts[0] = total / 2;
        b.amounts[1] = total - total / 2;
        (bytes32 digest,) = payment.settlementDigest(b);
        (bytes[] memory sigs, uint256 distinct) = _signatures(digest, signerSeed);
        try payment.settleBatch(b, sigs) {
            if (distinct < registry.requiredAttestations()) ++underSignedSuccesses;
            batches.push(BatchGhost(b.batchId, gateway));
            for (uint256 k; k < n; ++k) {
                SessionGhost storage g = sessions[picked[k]];
                g.lastSettledVoucher = b.cumulativeAmounts[k];
                g.paidOut += payment.getSession(g.id).settled - before[k];
            }
            ++settledBatches;
            return true;
        } catch {}
    }

    /// @dev A voucher of the session's client or, when the session names a delegate (an API key), of the
    /// delegate for odd amounts (half the time).
    function _voucherOf(SessionGhost storage g, uint256 cumulative) internal view returns (bytes memory) {
        uint256 delegateKey = delegateKeyOf[g.id];
        uint256 key = delegateKey != 0 && cumulative & 1 == 1 ? delegateKey : g.clientKey;
        return _sign(key, payment.voucherDigest(g.id, cumulative));
    }

    /// @dev Index of a session of `gateway` near `seed`, if it has one.
    function _sessionOf(address gateway, uint256 seed) internal view returns (bool found, uint256 index) {
        for (uint256 k; k < sessions.length; ++k) {
            index = (seed % sessions.length + k) % sessions.length;
            if (sessions[index].gateway == gateway) return (true, index);
        }
    }

    /// @dev Re-submits a settled batch id with fresh, otherwise valid vouchers: must always fail.
    function replayBatch(uint256 batchSeed, uint256 sessionSeed) external {
        if (batches.length == 0 || sessions.length == 0) return;
        BatchGhost memory old = batches[batchSeed % batches.length];
        SessionGhost memory g = sessions[sessionSeed % sessions.length];
        if (g.gateway != old.gateway) return;
        IInferencePayment.Session memory s = payment.getSession(g.id);
        if (s.settled >= s.deposit) return;
        IInferencePayment.SettlementBatch memory b = _emptyBatch(old.id, old.gateway, 1);
        b.sessionIds[0] = g.id;
        b.salts[0] = g.salt;
        b.cumulativeAmounts[0] = s.settled + 1;
        b.voucherSignatures[0] = _sign(g.clientKey, payment.voucherDigest(g.id, s.settled + 1));
        SessionGhost storage signedFor = sessions[sessionSeed % sessions.length];
        if (s.settled + 1 > signedFor.maxSigned) signedFor.maxSigned = s.settled + 1;
        b.amounts[0] = 1;
        (bytes32 digest,) = payment.settlementDigest(b);
        (bytes[] memory sigs,) = _signatures(digest, 0);
        try payment.settleBatch(b, sigs) {
            ++replaySuccesses;
        } catch {}
    }

    function closeSession(uint256 indexSeed) external {
        if (sessions.length == 0) return;
        try payment.closeSession(sessions[indexSeed % sessions.length].id) {} catch {}
    }

    // ---------------------------------------------------------------- money out and time

    function withdraw(uint256 accountSeed) external {
        address account = _accounts()[accountSeed % 8];
        vm.prank(account);
        try payment.withdraw() {} catch {}
    }

    function distributeFees() external {
        try payment.distributeValidatorFees() {} catch {}
        try payment.collectProtocolFees() {} catch {}
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 6 hours));
    }

    // ---------------------------------------------------------------- views for the invariants

    function sessionCount() external view returns (uint256) {
        return sessions.length;
    }

    function sessionAt(uint256 i) external view returns (SessionGhost memory) {
        return sessions[i];
    }

    function requestCount() external view returns (uint256) {
        return requestIds.length;
    }

    function batchCount() external view returns (uint256) {
        return batches.length;
    }

    function batchAt(uint256 i) external view returns (BatchGhost memory) {
        return batches[i];
    }

    function abandonedCount() external view returns (uint256) {
        return abandoned.length;
    }

    function abandonedAt(uint256 i) external view returns (BatchGhost memory) {
        return abandoned[i];
    }

    /// @dev Every address that can hold NCN or credit in this campaign.
    function accounts() external view returns (address[] memory) {
        address[] memory fixed_ = _accounts();
        address[] memory all = new address[](fixed_.length + validatorKeys.length);
        for (uint256 i; i < fixed_.length; ++i) {
            all[i] = fixed_[i];
        }
        for (uint256 i; i < validatorKeys.length; ++i) {
            all[fixed_.length + i] = vm.addr(validatorKeys[i]);
        }
        return all;
    }

    // ---------------------------------------------------------------- helpers

    function _accounts() internal view returns (address[] memory a) {
        a = new address[](8);
        for (uint256 i; i < 3; ++i) {
            a[i] = vm.addr(clientKeys[i]);
            a[3 + i] = nodes[i];
        }
        a[6] = gateways[0];
        a[7] = gateways[1];
    }

    function _emptyBatch(bytes32 id, address gateway, uint256 n)
        internal
        view
        returns (IInferencePayment.SettlementBatch memory b)
    {
        b.batchId = id;
        b.gateway = gateway;
        b.receiptsRoot = keccak256(abi.encode("root", id));
        b.sessionIds = new bytes32[](n);
        b.salts = new bytes32[](n);
        b.cumulativeAmounts = new uint256[](n);
        b.voucherSignatures = new bytes[](n);
        b.nodes = new address[](2);
        b.nodes[0] = nodes[uint256(id) % 3];
        b.nodes[1] = nodes[(uint256(id) + 1) % 3];
        b.amounts = new uint256[](2);
    }

    function _fund(address to, uint256 amount) internal {
        vm.prank(admin);
        token.mint(to, amount);
        vm.prank(to);
        token.approve(address(payment), type(uint256).max);
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev Half of the seeds give the first three validators; the others mix validators, repeats and
    /// outsiders. Returns how many distinct active validators signed.
    function _signatures(bytes32 digest, uint256 seed) internal view returns (bytes[] memory sigs, uint256 distinct) {
        bool honest = seed % 2 == 0;
        uint256 n = honest ? 3 : 1 + seed % 6;
        sigs = new bytes[](n);
        uint256 seen;
        for (uint256 i; i < n; ++i) {
            uint256 pick = honest ? i : uint256(keccak256(abi.encode(seed, i))) % (validatorKeys.length + 2);
            if (pick < validatorKeys.length) {
                sigs[i] = _sign(validatorKeys[pick], digest);
                if (seen & (1 << pick) == 0 && registry.isActive(vm.addr(validatorKeys[pick]))) {
                    seen |= 1 << pick;
                    ++distinct;
                }
            } else {
                sigs[i] = _sign(uint256(keccak256(abi.encode("outsider", pick))), digest);
            }
        }
    }
}
