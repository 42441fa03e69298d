// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {NcnTypes} from "../libraries/NcnTypes.sol";

/// @title IInferencePayment
/// @notice Payment for inference: per-request escrow, and sessions settled in batches with
/// client vouchers and M-of-N validator attestations. Earnings are credited and withdrawn.
interface IInferencePayment {
    /// @notice Lifecycle of an escrowed request. A request id is never reusable.
    enum EscrowStatus {
        None,
        Pending,
        Completed,
        Refunded
    }

    /// @notice One escrowed request (three storage slots).
    struct Escrow {
        address client;
        uint64 expiry;
        EscrowStatus status;
        address gateway;
        uint96 amount;
        bytes32 subnetId;
    }

    /// @notice A prepaid session. `settled` only grows and never exceeds `deposit`; closing sets
    /// `deposit` to `settled` (the unspent part goes back to the client). The first slot is all a
    /// settlement reads: the client and gateway are proven by the session id's preimage instead.
    struct Session {
        uint96 deposit;
        uint96 settled;
        uint64 expiry;
        address client;
        bool closed;
        address gateway;
    }

    /// @notice A settlement submitted by a gateway. The EIP-712 `SettlementBatch` signed by validators is
    /// {batchId, gateway, receiptsRoot, vouchersHash: keccak256(abi.encode(sessionIds, cumulativeAmounts)),
    /// payoutsHash: keccak256(abi.encode(nodes, amounts)), total: sum of amounts}. `salts[i]` is the salt
    /// the session was opened with: sessionIds[i] must equal keccak256(abi.encode(voucher signer, gateway, salts[i])).
    struct SettlementBatch {
        bytes32 batchId;
        address gateway;
        bytes32 receiptsRoot;
        bytes32[] sessionIds;
        bytes32[] salts;
        uint256[] cumulativeAmounts;
        bytes[] voucherSignatures;
        address[] nodes;
        uint256[] amounts;
    }

    /// @notice Fee split and settlement settings (one storage slot). Compute nodes get what the
    /// three fees leave; rounding dust goes to the protocol. The validator fee accrues to a pool
    /// shared equally by the active set; the protocol fee accrues to a pool paid to the treasury.
    struct Config {
        uint16 gatewayBps;
        uint16 validatorBps;
        uint16 protocolBps;
        uint32 settlementGrace;
        address treasury;
    }

    /// @notice A client escrowed `amount` for `requestId`, refundable after `expiry`.
    event InferenceRequestInitiated(
        bytes32 indexed requestId,
        address indexed client,
        address indexed gateway,
        bytes32 subnetId,
        uint256 amount,
        uint64 expiry
    );
    /// @notice An escrowed request was paid at `price` to `agent` and the fee receivers; `refund` went back to the client.
    event InferenceRequestCompleted(bytes32 indexed requestId, address indexed agent, uint256 price, uint256 refund);
    /// @notice An expired escrow was returned to its client.
    event InferenceRequestRefunded(bytes32 indexed requestId, address indexed client, uint256 amount);
    /// @notice A session was opened with `deposit` for `gateway` until `expiry`; `salt` is needed to settle it.
    event SessionOpened(
        bytes32 indexed sessionId,
        address indexed client,
        address indexed gateway,
        bytes32 salt,
        uint256 deposit,
        uint64 expiry
    );
    /// @notice A session's client named `signer` as the session's delegate voucher signer (zero: none, revoked).
    event SessionSignerSet(bytes32 indexed sessionId, address indexed signer);
    /// @notice A session got `amount` more (deposit now `deposit`) and/or a later `expiry`.
    event SessionToppedUp(bytes32 indexed sessionId, uint256 amount, uint256 deposit, uint64 expiry);
    /// @notice A session's settled amount rose to its latest voucher's `cumulativeAmount` (in the
    /// batch of the BatchSettled event of the same transaction).
    event SessionSettled(bytes32 indexed sessionId, uint256 cumulativeAmount);
    /// @notice A session was closed and `refund` returned to its client.
    event SessionClosed(bytes32 indexed sessionId, address indexed client, uint256 refund);
    /// @notice A batch was settled: `total` moved from sessions to node and gateway credits and the fee pools.
    event BatchSettled(bytes32 indexed batchId, address indexed gateway, bytes32 receiptsRoot, uint256 total);
    /// @notice `gateway` gave up `batchId`: that id is spent and can never settle.
    event BatchAbandoned(bytes32 indexed batchId, address indexed gateway);
    /// @notice `amount` was credited to `account` (withdrawable).
    event Credited(address indexed account, uint256 amount);
    /// @notice The validator fee pool paid `amountEach` to each of `validators` active validators.
    event ValidatorFeesDistributed(uint256 amountEach, uint256 validators);
    /// @notice The protocol fee pool paid `amount` to `treasury`.
    event ProtocolFeesCollected(address indexed treasury, uint256 amount);
    /// @notice `account` withdrew `amount` of credit to `to`.
    event Withdrawn(address indexed account, address indexed to, uint256 amount);
    /// @notice The fee split changed.
    event FeesUpdated(uint16 gatewayBps, uint16 validatorBps, uint16 protocolBps);
    /// @notice The protocol fee receiver changed.
    event TreasuryUpdated(address treasury);
    /// @notice The time after a session's expiry during which it can still be settled (and not closed) changed.
    event SettlementGraceUpdated(uint32 settlementGrace);

    /// @notice An address argument was zero.
    error ZeroAddress();
    /// @notice An amount argument was zero.
    error ZeroAmount();
    /// @notice The amount does not fit in 96 bits.
    error AmountTooLarge(uint256 amount);
    /// @notice `expiry` is not in the future.
    error ExpiryInPast(uint64 expiry);
    /// @notice The request id was already used (pending, completed or refunded).
    error RequestAlreadyExists(bytes32 requestId);
    /// @notice The request is not pending (unknown, completed or refunded).
    error RequestNotPending(bytes32 requestId);
    /// @notice Only the escrow's gateway may complete it.
    error NotEscrowGateway(bytes32 requestId, address caller);
    /// @notice The request expired at `expiry`; it can only be refunded.
    error RequestExpired(bytes32 requestId, uint64 expiry);
    /// @notice The request is not expired before `expiry`.
    error RequestNotExpired(bytes32 requestId, uint64 expiry);
    /// @notice The receipt's subnet differs from the escrowed one.
    error SubnetMismatch(bytes32 escrowed, bytes32 receipt);
    /// @notice The receipt's price exceeds the escrowed amount.
    error PriceExceedsEscrow(uint256 price, uint256 amount);
    /// @notice A session with this id already exists (ids are never reused).
    error SessionAlreadyExists(bytes32 sessionId);
    /// @notice No session with this id.
    error UnknownSession(bytes32 sessionId);
    /// @notice Only the session's client may do this.
    error NotSessionClient(bytes32 sessionId, address caller);
    /// @notice The session is closed.
    error SessionIsClosed(bytes32 sessionId);
    /// @notice The session can be closed from `closableAt` (expiry + settlement grace).
    error SessionNotClosable(bytes32 sessionId, uint256 closableAt);
    /// @notice A top-up must add funds or move the expiry later, never earlier.
    error InvalidTopUp(bytes32 sessionId);
    /// @notice The gateway already spent this batch id (settled or abandoned).
    error BatchAlreadySettled(address gateway, bytes32 batchId);
    /// @notice A batch needs at least one voucher and one payout.
    error EmptyBatch();
    /// @notice Parallel arrays differ in length.
    error LengthMismatch();
    /// @notice The receipts root must not be zero.
    error ZeroReceiptsRoot();
    /// @notice The voucher does not raise the session's settled amount.
    error VoucherNotIncreasing(bytes32 sessionId, uint256 cumulativeAmount, uint256 settled);
    /// @notice The voucher exceeds the session's deposit.
    error VoucherExceedsDeposit(bytes32 sessionId, uint256 cumulativeAmount, uint256 deposit);
    /// @notice The voucher was not signed by the session's client (or the salt or gateway is not the session's).
    error InvalidVoucherSignature(bytes32 sessionId);
    /// @notice What the vouchers spend differs from what the payouts distribute.
    error PayoutMismatch(uint256 spent, uint256 paidOut);
    /// @notice The fees exceed 100%.
    error InvalidFees(uint256 totalBps);
    /// @notice The fee pool holds too little to pay anyone.
    error NothingToDistribute();
    /// @notice The caller has no credit above the 1 wei that stays in every used account.
    error NothingToWithdraw();

    /// @notice Escrows `amount` NCN (pulled from the caller) for one request, refundable after `expiry`.
    /// @param requestId keccak256 of the client-chosen request id; never reusable.
    /// @param subnetId keccak256 of the subnet id.
    /// @param gateway Gateway serving the request (earns the gateway fee).
    /// @param amount Maximum price.
    /// @param expiry Unix time after which the client can be refunded.
    function initiateInferenceRequest(bytes32 requestId, bytes32 subnetId, address gateway, uint256 amount, uint64 expiry)
        external;

    /// @notice Like {initiateInferenceRequest}, authorising the transfer with an EIP-2612 permit.
    /// @param requestId Request id.
    /// @param subnetId Subnet id.
    /// @param gateway Gateway.
    /// @param amount Amount (also the permit value).
    /// @param expiry Escrow expiry.
    /// @param deadline Permit deadline.
    /// @param v Permit signature v.
    /// @param r Permit signature r.
    /// @param s Permit signature s.
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
    ) external;

    /// @notice Pays an escrowed request from its receipt, given M-of-N validator signatures over the
    /// completion `Attestation` {requestId, phase: 1, subject: struct hash of the receipt, outputHash}.
    /// The price is split between receipt.agent, the gateway and the validator and protocol fee pools;
    /// the unused escrow returns to the client. Only the escrow's gateway may submit ({NotEscrowGateway}
    /// otherwise): the attestation proves a receipt is valid, the gateway says it is the one the client's
    /// request produced.
    /// @param receipt The agent's receipt.
    /// @param validatorSignatures Validator signatures over the completion attestation digest.
    function completeInferenceRequest(NcnTypes.InferenceReceipt calldata receipt, bytes[] calldata validatorSignatures)
        external;

    /// @notice Refunds an expired, still pending escrow to its client. Anyone may call.
    /// @param requestId Request id.
    function handleExpiredRequest(bytes32 requestId) external;

    /// @notice Opens a session funded with `amount` NCN for `gateway`. The id is
    /// keccak256(abi.encode(client, gateway, salt)) (see {sessionIdOf}), so nobody can take a client's id.
    /// @param gateway Gateway that may settle the session's vouchers.
    /// @param salt Client-chosen salt.
    /// @param amount Deposit.
    /// @param expiry Unix time after which (plus the settlement grace) the session can be closed.
    /// @return sessionId The session id.
    function openSession(address gateway, bytes32 salt, uint256 amount, uint64 expiry)
        external
        returns (bytes32 sessionId);

    /// @notice Like {openSession}, authorising the transfer with an EIP-2612 permit.
    /// @param gateway Gateway.
    /// @param salt Salt.
    /// @param amount Deposit (also the permit value).
    /// @param expiry Session expiry.
    /// @param deadline Permit deadline.
    /// @param v Permit signature v.
    /// @param r Permit signature r.
    /// @param s Permit signature s.
    /// @return sessionId The session id.
    function openSessionWithPermit(
        address gateway,
        bytes32 salt,
        uint256 amount,
        uint64 expiry,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (bytes32 sessionId);

    /// @notice Like {openSession}, naming `signer` as the session's delegate voucher signer at once
    /// (see {setSessionSigner}); a zero `signer` names none.
    /// @param gateway Gateway.
    /// @param salt Salt.
    /// @param amount Deposit.
    /// @param expiry Session expiry.
    /// @param signer Delegate voucher signer, or zero.
    /// @return sessionId The session id.
    function openSessionWithSigner(address gateway, bytes32 salt, uint256 amount, uint64 expiry, address signer)
        external
        returns (bytes32 sessionId);

    /// @notice Names the one key besides the client whose vouchers settle this session (an API key the
    /// gateway signs with for a client that does not sign vouchers itself); zero revokes it. Client only.
    /// A delegate can only authorise spending on validated work: it cannot close, top up, withdraw the
    /// refund (which always goes to the client) or name another delegate.
    /// @param sessionId Session.
    /// @param signer The delegate, replacing any before; zero for none.
    function setSessionSigner(bytes32 sessionId, address signer) external;

    /// @notice Adds `amount` to a session and/or extends it to `expiry` (0 keeps it). Client only.
    /// @param sessionId Session.
    /// @param amount Extra deposit (may be 0 when only extending).
    /// @param expiry New expiry, not earlier than the current one, or 0.
    function topUpSession(bytes32 sessionId, uint256 amount, uint64 expiry) external;

    /// @notice Closes a session after expiry + settlement grace and returns the unspent deposit to its client. Anyone may call.
    /// @param sessionId Session.
    /// @return refund Amount returned.
    function closeSession(bytes32 sessionId) external returns (uint256 refund);

    /// @notice Settles many requests in one transaction: the latest client voucher per session, per-node
    /// payouts and a Merkle root of the receipts, attested by M-of-N validators over the EIP-712
    /// `SettlementBatch`. Anyone may submit. Credits nodes and the gateway and fills the fee pools.
    /// Batch ids are spent per gateway in a bitmap (256 ids per storage word), so a gateway that numbers
    /// its batches sequentially pays for a fresh slot only once every 256 batches.
    /// @param batch The batch.
    /// @param validatorSignatures Validator signatures over the SettlementBatch digest.
    /// @return total Amount settled.
    function settleBatch(SettlementBatch calldata batch, bytes[] calldata validatorSignatures)
        external
        returns (uint256 total);

    /// @notice Spends one of the caller's own batch ids without settling anything, so that the batch
    /// provably never lands: validators that signed it may then release its receipts for a new batch.
    /// Only the gateway itself can abandon its ids (batch ids are spent per gateway, keyed by the caller).
    /// @dev Reverts {BatchAlreadySettled} when the id is already spent, settled or abandoned; a settled
    /// batch can therefore never be abandoned, and an abandoned one never settles.
    /// @param batchId The caller's batch id.
    function abandonBatch(bytes32 batchId) external;

    /// @notice Withdraws the caller's credit to the caller, minus 1 wei that stays credited so the
    /// account's storage slot stays warm-priced for its next payout.
    /// @return amount Amount withdrawn.
    function withdraw() external returns (uint256 amount);

    /// @notice Withdraws the caller's credit (minus the 1 wei kept, see {withdraw}) to `to`.
    /// @param to Receiver.
    /// @return amount Amount withdrawn.
    function withdrawTo(address to) external returns (uint256 amount);

    /// @notice Withdrawable credit of `account`.
    /// @param account Account.
    /// @return amount Credit.
    function creditOf(address account) external view returns (uint256 amount);

    /// @notice State of an escrowed request.
    /// @param requestId Request id.
    /// @return escrow The escrow (status None when unknown).
    function getEscrow(bytes32 requestId) external view returns (Escrow memory escrow);

    /// @notice State of a session.
    /// @param sessionId Session id.
    /// @return session The session (client zero when unknown).
    function getSession(bytes32 sessionId) external view returns (Session memory session);

    /// @notice A session's current delegate voucher signer (zero when none).
    /// @param sessionId Session id.
    /// @return signer The delegate.
    function sessionSignerOf(bytes32 sessionId) external view returns (address signer);

    /// @notice Shares the validator fee pool equally between the current active validators (as credits);
    /// the indivisible rest stays in the pool. Anyone may call.
    /// @return amountEach Credit given to each validator.
    function distributeValidatorFees() external returns (uint256 amountEach);

    /// @notice Pays the protocol fee pool to the treasury. Anyone may call.
    /// @return amount Amount paid.
    function collectProtocolFees() external returns (uint256 amount);

    /// @notice Balances of the validator and protocol fee pools.
    /// @return validatorFees Validator pool.
    /// @return protocolFees Protocol pool.
    function feePools() external view returns (uint256 validatorFees, uint256 protocolFees);

    /// @notice Whether `gateway` already spent `batchId`, by settling it or by abandoning it
    /// (see {batchAbandoned} to tell them apart). A spent id can never settle again.
    /// @param gateway Gateway.
    /// @param batchId Batch id.
    /// @return settled True once settled or abandoned.
    function isBatchSettled(address gateway, bytes32 batchId) external view returns (bool settled);

    /// @notice Whether `gateway` abandoned `batchId` (it is spent and moved no funds).
    /// @param gateway Gateway.
    /// @param batchId Batch id.
    /// @return abandoned True once abandoned.
    function batchAbandoned(address gateway, bytes32 batchId) external view returns (bool abandoned);

    /// @notice Session id of (client, gateway, salt): keccak256(abi.encode(client, gateway, salt)).
    /// @param client Client.
    /// @param gateway Gateway.
    /// @param salt Salt.
    /// @return sessionId Session id.
    function sessionIdOf(address client, address gateway, bytes32 salt) external pure returns (bytes32 sessionId);

    /// @notice EIP-712 domain separator ({name: "NCN Network", version: "1", chainId, this}).
    /// @return separator The separator.
    function DOMAIN_SEPARATOR() external view returns (bytes32 separator);

    /// @notice EIP-712 digest of an `InferenceReceipt` (what the agent signs).
    /// @param receipt Receipt.
    /// @return digest Digest.
    function receiptDigest(NcnTypes.InferenceReceipt calldata receipt) external view returns (bytes32 digest);

    /// @notice EIP-712 digest of an `Attestation`.
    /// @param requestId Request.
    /// @param phase 0 preprocess, 1 completion.
    /// @param subject Struct hash of what is attested.
    /// @param outputHash Output hash (completion) or zero.
    /// @return digest Digest.
    function attestationDigest(bytes32 requestId, uint8 phase, bytes32 subject, bytes32 outputHash)
        external
        view
        returns (bytes32 digest);

    /// @notice EIP-712 digest of the completion `Attestation` of a receipt.
    /// @param receipt Receipt.
    /// @return digest Digest.
    function completionDigest(NcnTypes.InferenceReceipt calldata receipt) external view returns (bytes32 digest);

    /// @notice EIP-712 digest of a `Voucher`.
    /// @param sessionId Session.
    /// @param cumulativeAmount Cumulative amount.
    /// @return digest Digest.
    function voucherDigest(bytes32 sessionId, uint256 cumulativeAmount) external view returns (bytes32 digest);

    /// @notice EIP-712 digest of the `SettlementBatch` of `batch` and its total.
    /// @param batch Batch.
    /// @return digest Digest.
    /// @return total Sum of the payouts.
    function settlementDigest(SettlementBatch calldata batch) external view returns (bytes32 digest, uint256 total);
}
