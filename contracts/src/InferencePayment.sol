// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IInferencePayment} from "./interfaces/IInferencePayment.sol";
import {IValidatorRegistry} from "./interfaces/IValidatorRegistry.sol";
import {NcnTypes} from "./libraries/NcnTypes.sol";

/// @title InferencePayment
/// @notice Escrow per request and prepaid sessions settled in batches. Every payout is a credit
/// withdrawn later, so a batch touches one storage slot per node instead of making a transfer.
/// @dev Holds exactly: credits + fee pools + pending escrows + (deposit - settled) of open sessions.
contract InferencePayment is IInferencePayment, AccessControl, EIP712 {
    using SafeERC20 for IERC20;

    uint256 private constant BPS = 10_000;

    /// @notice Token payments are made in (NCN).
    IERC20 public immutable token;
    /// @notice Registry that decides whether M-of-N validators attested.
    IValidatorRegistry public immutable registry;

    Config private _config;
    /// @dev Both fee pools share one slot: a settlement pays them with a single write.
    uint128 private _validatorPool;
    uint128 private _protocolPool;
    mapping(bytes32 requestId => Escrow) private _escrows;
    mapping(bytes32 sessionId => Session) private _sessions;
    /// @dev A session's delegate voucher signer, keyed by the session's gateway too: a settlement's
    /// lookup under (session, batch gateway) finds it only for the gateway the session was opened for,
    /// so the delegate path proves signer and gateway with one slot read, as the salt does for the client.
    mapping(bytes32 sessionId => mapping(address gateway => address signer)) private _sessionSigners;
    /// @dev Spent batch ids, settled or abandoned: the one bitmap `settleBatch` reads.
    mapping(address gateway => mapping(uint256 word => uint256 bits)) private _settledBatches;
    /// @dev The subset of spent ids that were abandoned; kept apart so settling never touches it.
    mapping(address gateway => mapping(uint256 word => uint256 bits)) private _abandonedBatches;
    mapping(address account => uint256) private _credits;

    /// @param token_ NCN token.
    /// @param registry_ Validator registry.
    /// @param admin Governance (DEFAULT_ADMIN_ROLE).
    /// @param config_ Initial fees, settlement grace and treasury.
    constructor(IERC20 token_, IValidatorRegistry registry_, address admin, Config memory config_)
        EIP712("NCN Network", "1")
    {
        if (address(token_) == address(0) || address(registry_) == address(0) || admin == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setFees(config_.gatewayBps, config_.validatorBps, config_.protocolBps);
        _setTreasury(config_.treasury);
        _config.settlementGrace = config_.settlementGrace;
        emit SettlementGraceUpdated(config_.settlementGrace);
    }

    // ---------------------------------------------------------------- escrow

    /// @inheritdoc IInferencePayment
    function initiateInferenceRequest(bytes32 requestId, bytes32 subnetId, address gateway, uint256 amount, uint64 expiry)
        external
    {
        _initiate(requestId, subnetId, gateway, amount, expiry);
    }

    /// @inheritdoc IInferencePayment
    function initiateInferenceRequestWithPermit(
        bytes32 requestId,
        bytes32 subnetId,
        address gateway,
        uint256 amount,
        uint64 expiry,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        _permit(amount, deadline, v, r, s);
        _initiate(requestId, subnetId, gateway, amount, expiry);
    }

    function _initiate(bytes32 requestId, bytes32 subnetId, address gateway, uint256 amount, uint64 expiry) private {
        if (gateway == address(0)) revert ZeroAddress();
        _checkAmount(amount);
        if (expiry <= block.timestamp) revert ExpiryInPast(expiry);
        Escrow storage e = _escrows[requestId];
        if (e.status != EscrowStatus.None) revert RequestAlreadyExists(requestId);
        e.client = msg.sender;
        e.expiry = expiry;
        e.status = EscrowStatus.Pending;
        e.gateway = gateway;
        // _checkAmount bounds it to uint96
        // forge-lint: disable-next-line(unsafe-typecast)
        e.amount = uint96(amount);
        e.subnetId = subnetId;
        emit InferenceRequestInitiated(requestId, msg.sender, gateway, subnetId, amount, expiry);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IInferencePayment
    function completeInferenceRequest(NcnTypes.InferenceReceipt calldata receipt, bytes[] calldata validatorSignatures)
        external
    {
        bytes32 requestId = receipt.requestId;
        Escrow storage e = _escrows[requestId];
        if (e.status != EscrowStatus.Pending) revert RequestNotPending(requestId);
        // Request ids travel in the clear: only the gateway the client chose may say which receipt
        // paid for its request, or anyone who learns the id could pay a receipt of their own.
        if (msg.sender != e.gateway) revert NotEscrowGateway(requestId, msg.sender);
        if (block.timestamp > e.expiry) revert RequestExpired(requestId, e.expiry);
        if (receipt.subnetId != e.subnetId) revert SubnetMismatch(e.subnetId, receipt.subnetId);
        if (receipt.agent == address(0)) revert ZeroAddress();
        uint256 amount = e.amount;
        uint256 price = receipt.price;
        if (price > amount) revert PriceExceedsEscrow(price, amount);
        registry.requireAttestations(_completionDigest(receipt), validatorSignatures);

        e.status = EscrowStatus.Completed;
        Config memory c = _config;
        uint256 nodeShare = price * _nodeBps(c) / BPS;
        _credit(receipt.agent, nodeShare);
        _payFees(c, price, nodeShare, e.gateway);
        uint256 refund = amount - price;
        emit InferenceRequestCompleted(requestId, receipt.agent, price, refund);
        if (refund != 0) token.safeTransfer(e.client, refund);
    }

    /// @inheritdoc IInferencePayment
    function handleExpiredRequest(bytes32 requestId) external {
        Escrow storage e = _escrows[requestId];
        if (e.status != EscrowStatus.Pending) revert RequestNotPending(requestId);
        if (block.timestamp <= e.expiry) revert RequestNotExpired(requestId, e.expiry);
        e.status = EscrowStatus.Refunded;
        address client = e.client;
        uint256 amount = e.amount;
        emit InferenceRequestRefunded(requestId, client, amount);
        token.safeTransfer(client, amount);
    }

    // ---------------------------------------------------------------- sessions

    /// @inheritdoc IInferencePayment
    function openSession(address gateway, bytes32 salt, uint256 amount, uint64 expiry)
        external
        returns (bytes32 sessionId)
    {
        return _open(gateway, salt, amount, expiry);
    }

    /// @inheritdoc IInferencePayment
    function openSessionWithPermit(
        address gateway,
        bytes32 salt,
        uint256 amount,
        uint64 expiry,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (bytes32 sessionId) {
        _permit(amount, deadline, v, r, s);
        return _open(gateway, salt, amount, expiry);
    }

    /// @inheritdoc IInferencePayment
    function openSessionWithSigner(address gateway, bytes32 salt, uint256 amount, uint64 expiry, address signer)
        external
        returns (bytes32 sessionId)
    {
        sessionId = _open(gateway, salt, amount, expiry);
        if (signer != address(0)) {
            _sessionSigners[sessionId][gateway] = signer;
            emit SessionSignerSet(sessionId, signer);
        }
    }

    /// @inheritdoc IInferencePayment
    function setSessionSigner(bytes32 sessionId, address signer) external {
        Session storage s = _sessions[sessionId];
        if (s.client == address(0)) revert UnknownSession(sessionId);
        if (s.client != msg.sender) revert NotSessionClient(sessionId, msg.sender);
        if (s.closed) revert SessionIsClosed(sessionId);
        _sessionSigners[sessionId][s.gateway] = signer;
        emit SessionSignerSet(sessionId, signer);
    }

    function _open(address gateway, bytes32 salt, uint256 amount, uint64 expiry) private returns (bytes32 sessionId) {
        if (gateway == address(0)) revert ZeroAddress();
        _checkAmount(amount);
        if (expiry <= block.timestamp) revert ExpiryInPast(expiry);
        sessionId = sessionIdOf(msg.sender, gateway, salt);
        Session storage s = _sessions[sessionId];
        if (s.client != address(0)) revert SessionAlreadyExists(sessionId);
        s.client = msg.sender;
        s.gateway = gateway;
        // _checkAmount bounds it to uint96
        // forge-lint: disable-next-line(unsafe-typecast)
        s.deposit = uint96(amount);
        s.expiry = expiry;
        emit SessionOpened(sessionId, msg.sender, gateway, salt, amount, expiry);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IInferencePayment
    function topUpSession(bytes32 sessionId, uint256 amount, uint64 expiry) external {
        Session storage s = _sessions[sessionId];
        if (s.client == address(0)) revert UnknownSession(sessionId);
        if (s.client != msg.sender) revert NotSessionClient(sessionId, msg.sender);
        if (s.closed) revert SessionIsClosed(sessionId);
        uint64 current = s.expiry;
        if (expiry == 0) expiry = current;
        if (expiry < current || (amount == 0 && expiry == current)) revert InvalidTopUp(sessionId);
        uint256 deposit = uint256(s.deposit) + amount;
        _checkAmount(deposit);
        // _checkAmount bounds it to uint96
        // forge-lint: disable-next-line(unsafe-typecast)
        s.deposit = uint96(deposit);
        s.expiry = expiry;
        emit SessionToppedUp(sessionId, amount, deposit, expiry);
        if (amount != 0) token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IInferencePayment
    function closeSession(bytes32 sessionId) external returns (uint256 refund) {
        Session storage s = _sessions[sessionId];
        address client = s.client;
        if (client == address(0)) revert UnknownSession(sessionId);
        if (s.closed) revert SessionIsClosed(sessionId);
        uint256 closableAt = uint256(s.expiry) + _config.settlementGrace;
        if (block.timestamp < closableAt) revert SessionNotClosable(sessionId, closableAt);
        uint96 settled = s.settled;
        refund = s.deposit - settled;
        // deposit == settled afterwards, so no voucher can ever be settled against this session again.
        s.deposit = settled;
        s.closed = true;
        emit SessionClosed(sessionId, client, refund);
        if (refund != 0) token.safeTransfer(client, refund);
    }

    // ---------------------------------------------------------------- batch settlement

    /// @inheritdoc IInferencePayment
    function settleBatch(SettlementBatch calldata batch, bytes[] calldata validatorSignatures)
        external
        returns (uint256 total)
    {
        bytes32 batchId = batch.batchId;
        address gateway = batch.gateway;
        if (batch.receiptsRoot == bytes32(0)) revert ZeroReceiptsRoot();
        uint256 nSessions = batch.sessionIds.length;
        uint256 nNodes = batch.nodes.length;
        if (nSessions == 0 || nNodes == 0) revert EmptyBatch();
        if (
            batch.salts.length != nSessions || batch.cumulativeAmounts.length != nSessions
                || batch.voucherSignatures.length != nSessions || batch.amounts.length != nNodes
        ) revert LengthMismatch();
        _spendBatchId(gateway, batchId);

        uint256 spent = _settleSessions(batch);
        Config memory c = _config;
        uint256 nodesPaid;
        (total, nodesPaid) = _creditNodes(batch.nodes, batch.amounts, _nodeBps(c));
        if (spent != total) revert PayoutMismatch(spent, total);
        registry.requireAttestations(_settlementDigest(batch, total), validatorSignatures);
        _payFees(c, total, nodesPaid, gateway);
        emit BatchSettled(batchId, gateway, batch.receiptsRoot, total);
    }

    /// @inheritdoc IInferencePayment
    function abandonBatch(bytes32 batchId) external {
        _spendBatchId(msg.sender, batchId);
        _abandonedBatches[msg.sender][uint256(batchId) >> 8] |= 1 << (uint256(batchId) & 0xff);
        emit BatchAbandoned(batchId, msg.sender);
    }

    /// @dev Permit2-style bitmap: the upper 248 bits of the id pick a word, the low 8 bits a bit.
    function _spendBatchId(address gateway, bytes32 batchId) private {
        uint256 word = uint256(batchId) >> 8;
        uint256 bit = 1 << (uint256(batchId) & 0xff);
        uint256 bits = _settledBatches[gateway][word];
        if (bits & bit != 0) revert BatchAlreadySettled(gateway, batchId);
        _settledBatches[gateway][word] = bits | bit;
    }

    /// @dev Raises each session's settled amount to its voucher; returns the sum of the increases.
    function _settleSessions(SettlementBatch calldata batch) private returns (uint256 spent) {
        address gateway = batch.gateway;
        bytes32[] calldata sessionIds = batch.sessionIds;
        bytes32[] calldata salts = batch.salts;
        uint256[] calldata cumulativeAmounts = batch.cumulativeAmounts;
        bytes[] calldata signatures = batch.voucherSignatures;
        for (uint256 i; i < sessionIds.length; ++i) {
            spent += _settleSession(sessionIds[i], salts[i], cumulativeAmounts[i], signatures[i], gateway);
        }
    }

    /// @dev The voucher's signer and the batch's gateway must hash with the salt to the session id,
    /// which proves both without reading them from storage: a settlement reads one slot per session.
    /// A voucher signed by the session's delegate instead costs a second slot read, on that path only.
    function _settleSession(
        bytes32 sessionId,
        bytes32 salt,
        uint256 cumulative,
        bytes calldata signature,
        address gateway
    ) private returns (uint256 amount) {
        Session storage s = _sessions[sessionId];
        uint256 settled = s.settled;
        uint256 deposit = s.deposit;
        if (cumulative <= settled) revert VoucherNotIncreasing(sessionId, cumulative, settled);
        if (cumulative > deposit) {
            // Only on this failure path is the second slot read, to name the reason precisely.
            if (s.closed) revert SessionIsClosed(sessionId);
            if (deposit == 0) revert UnknownSession(sessionId);
            revert VoucherExceedsDeposit(sessionId, cumulative, deposit);
        }
        (address signer,,) =
            ECDSA.tryRecoverCalldata(_hashTypedDataV4(NcnTypes.hashVoucher(sessionId, cumulative)), signature);
        if (
            signer == address(0)
                || (sessionIdOf(signer, gateway, salt) != sessionId && _sessionSigners[sessionId][gateway] != signer)
        ) revert InvalidVoucherSignature(sessionId);
        // cumulative <= deposit, a uint96
        // forge-lint: disable-next-line(unsafe-typecast)
        s.settled = uint96(cumulative);
        emit SessionSettled(sessionId, cumulative);
        return cumulative - settled;
    }

    /// @dev Credits each node its share of its gross amount; returns the gross total and what nodes got.
    function _creditNodes(address[] calldata nodes, uint256[] calldata amounts, uint256 nodeBps)
        private
        returns (uint256 total, uint256 paid)
    {
        for (uint256 i; i < nodes.length; ++i) {
            address node = nodes[i];
            if (node == address(0)) revert ZeroAddress();
            uint256 amount = amounts[i];
            uint256 share = amount * nodeBps / BPS;
            _credit(node, share);
            total += amount;
            paid += share;
        }
    }

    /// @dev Splits `gross - nodesPaid` into the gateway credit and the two fee pools; dust goes to the
    /// protocol. The pool amounts follow from the gross amount of the BatchSettled/InferenceRequestCompleted
    /// event and the fees in force (FeesUpdated), so they get no event of their own.
    function _payFees(Config memory c, uint256 gross, uint256 nodesPaid, address gateway) private {
        uint256 gatewayShare = gross * c.gatewayBps / BPS;
        uint256 validatorShare = gross * c.validatorBps / BPS;
        uint256 protocolShare = gross - nodesPaid - gatewayShare - validatorShare;
        _credit(gateway, gatewayShare);
        // Both shares are below the token cap, far below 2^128.
        // forge-lint: disable-next-line(unsafe-typecast)
        _validatorPool += uint128(validatorShare);
        // forge-lint: disable-next-line(unsafe-typecast)
        _protocolPool += uint128(protocolShare);
    }

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        _credits[account] += amount;
        emit Credited(account, amount);
    }

    /// @inheritdoc IInferencePayment
    function distributeValidatorFees() external returns (uint256 amountEach) {
        address[] memory set = registry.activeValidators();
        uint256 n = set.length;
        uint256 pool = _validatorPool;
        if (n == 0 || pool < n) revert NothingToDistribute();
        amountEach = pool / n;
        // amountEach * n <= pool, a uint128
        // forge-lint: disable-next-line(unsafe-typecast)
        _validatorPool = uint128(pool - amountEach * n);
        emit ValidatorFeesDistributed(amountEach, n);
        for (uint256 i; i < n; ++i) {
            _credit(set[i], amountEach);
        }
    }

    /// @inheritdoc IInferencePayment
    function collectProtocolFees() external returns (uint256 amount) {
        amount = _protocolPool;
        if (amount == 0) revert NothingToDistribute();
        _protocolPool = 0;
        address treasury = _config.treasury;
        emit ProtocolFeesCollected(treasury, amount);
        token.safeTransfer(treasury, amount);
    }

    // ---------------------------------------------------------------- withdrawals

    /// @inheritdoc IInferencePayment
    function withdraw() external returns (uint256 amount) {
        return _withdraw(msg.sender);
    }

    /// @inheritdoc IInferencePayment
    function withdrawTo(address to) external returns (uint256 amount) {
        if (to == address(0)) revert ZeroAddress();
        return _withdraw(to);
    }

    /// @dev Leaves 1 wei credited: the slot stays non-zero, so the account's next credit costs a
    /// non-zero to non-zero write (2,900 gas) instead of a fresh one (20,000) in every later batch.
    function _withdraw(address to) private returns (uint256 amount) {
        uint256 credit = _credits[msg.sender];
        if (credit <= 1) revert NothingToWithdraw();
        amount = credit - 1;
        _credits[msg.sender] = 1;
        emit Withdrawn(msg.sender, to, amount);
        token.safeTransfer(to, amount);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IInferencePayment
    function creditOf(address account) external view returns (uint256 amount) {
        return _credits[account];
    }

    /// @inheritdoc IInferencePayment
    function getEscrow(bytes32 requestId) external view returns (Escrow memory escrow) {
        return _escrows[requestId];
    }

    /// @inheritdoc IInferencePayment
    function getSession(bytes32 sessionId) external view returns (Session memory session) {
        return _sessions[sessionId];
    }

    /// @inheritdoc IInferencePayment
    function sessionSignerOf(bytes32 sessionId) external view returns (address signer) {
        return _sessionSigners[sessionId][_sessions[sessionId].gateway];
    }

    /// @inheritdoc IInferencePayment
    function feePools() external view returns (uint256 validatorFees, uint256 protocolFees) {
        return (_validatorPool, _protocolPool);
    }

    /// @inheritdoc IInferencePayment
    function isBatchSettled(address gateway, bytes32 batchId) external view returns (bool settled) {
        return _settledBatches[gateway][uint256(batchId) >> 8] & (1 << (uint256(batchId) & 0xff)) != 0;
    }

    /// @inheritdoc IInferencePayment
    function batchAbandoned(address gateway, bytes32 batchId) external view returns (bool abandoned) {
        return _abandonedBatches[gateway][uint256(batchId) >> 8] & (1 << (uint256(batchId) & 0xff)) != 0;
    }

    /// @inheritdoc IInferencePayment
    function sessionIdOf(address client, address gateway, bytes32 salt) public pure returns (bytes32 sessionId) {
        return keccak256(abi.encode(client, gateway, salt));
    }

    /// @notice Current fee split, settlement grace and treasury.
    /// @return config_ The configuration.
    function config() external view returns (Config memory config_) {
        return _config;
    }

    /// @inheritdoc IInferencePayment
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32 separator) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IInferencePayment
    function receiptDigest(NcnTypes.InferenceReceipt calldata receipt) external view returns (bytes32 digest) {
        return _hashTypedDataV4(NcnTypes.hashReceipt(receipt));
    }

    /// @inheritdoc IInferencePayment
    function attestationDigest(bytes32 requestId, uint8 phase, bytes32 subject, bytes32 outputHash)
        external
        view
        returns (bytes32 digest)
    {
        return _hashTypedDataV4(NcnTypes.hashAttestation(requestId, phase, subject, outputHash));
    }

    /// @inheritdoc IInferencePayment
    function completionDigest(NcnTypes.InferenceReceipt calldata receipt) external view returns (bytes32 digest) {
        return _completionDigest(receipt);
    }

    /// @inheritdoc IInferencePayment
    function voucherDigest(bytes32 sessionId, uint256 cumulativeAmount) external view returns (bytes32 digest) {
        return _hashTypedDataV4(NcnTypes.hashVoucher(sessionId, cumulativeAmount));
    }

    /// @inheritdoc IInferencePayment
    function settlementDigest(SettlementBatch calldata batch) external view returns (bytes32 digest, uint256 total) {
        for (uint256 i; i < batch.amounts.length; ++i) {
            total += batch.amounts[i];
        }
        digest = _settlementDigest(batch, total);
    }

    function _completionDigest(NcnTypes.InferenceReceipt calldata receipt) private view returns (bytes32) {
        return _hashTypedDataV4(
            NcnTypes.hashAttestation(
                receipt.requestId, NcnTypes.PHASE_COMPLETION, NcnTypes.hashReceipt(receipt), receipt.outputHash
            )
        );
    }

    function _settlementDigest(SettlementBatch calldata batch, uint256 total) private view returns (bytes32) {
        return _hashTypedDataV4(
            NcnTypes.hashSettlementBatch(
                batch.batchId,
                batch.gateway,
                batch.receiptsRoot,
                NcnTypes.hashVouchers(batch.sessionIds, batch.cumulativeAmounts),
                NcnTypes.hashPayouts(batch.nodes, batch.amounts),
                total
            )
        );
    }

    // ---------------------------------------------------------------- governance

    /// @notice Sets the fee split; compute nodes get the remainder. The sum must not exceed 100%.
    /// @param gatewayBps Gateway fee in basis points.
    /// @param validatorBps Validator fee, pooled and shared equally by the active set.
    /// @param protocolBps Protocol fee, pooled and paid to the treasury.
    function setFees(uint16 gatewayBps, uint16 validatorBps, uint16 protocolBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setFees(gatewayBps, validatorBps, protocolBps);
    }

    /// @notice Sets the protocol fee receiver.
    /// @param treasury New treasury.
    function setTreasury(address treasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(treasury);
    }

    /// @notice Sets how long after expiry a session stays settleable before it can be closed.
    /// @param settlementGrace Seconds.
    function setSettlementGrace(uint32 settlementGrace) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _config.settlementGrace = settlementGrace;
        emit SettlementGraceUpdated(settlementGrace);
    }

    function _setFees(uint16 gatewayBps, uint16 validatorBps, uint16 protocolBps) private {
        uint256 sum = uint256(gatewayBps) + validatorBps + protocolBps;
        if (sum > BPS) revert InvalidFees(sum);
        _config.gatewayBps = gatewayBps;
        _config.validatorBps = validatorBps;
        _config.protocolBps = protocolBps;
        emit FeesUpdated(gatewayBps, validatorBps, protocolBps);
    }

    function _setTreasury(address treasury) private {
        if (treasury == address(0)) revert ZeroAddress();
        _config.treasury = treasury;
        emit TreasuryUpdated(treasury);
    }

    // ---------------------------------------------------------------- helpers

    function _nodeBps(Config memory c) private pure returns (uint256) {
        return BPS - c.gatewayBps - c.validatorBps - c.protocolBps;
    }

    function _checkAmount(uint256 amount) private pure {
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
    }

    /// @dev A permit that fails (e.g. already used by a front-runner) is ignored; the transfer
    /// that follows still needs the allowance.
    function _permit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) private {
        try IERC20Permit(address(token)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
    }
}
