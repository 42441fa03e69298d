// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IValidatorRegistry
/// @notice Staked validator keys, the active set, the attestation threshold M and slashing.
interface IValidatorRegistry {
    /// @notice Lifecycle of a validator key.
    enum Status {
        None,
        Active,
        Inactive,
        Unbonding
    }

    /// @notice Offences a validator can be slashed for; each has a fixed fraction of stake.
    enum Offence {
        DoubleSign,
        InvalidSignature,
        InvalidResult,
        Collusion,
        Downtime
    }

    /// @notice Namespaces of registry record names (subnet ids, model ids) that can be claimed.
    enum NameKind {
        Subnet,
        Model
    }

    /// @notice Packed state of one validator (one storage slot).
    struct Validator {
        uint96 stake;
        uint64 unbondingEnd;
        Status status;
        uint8 index;
        bool jailed;
    }

    /// @notice One completion attestation (phase 1) submitted as double-sign evidence.
    struct AttestationEvidence {
        bytes32 subject;
        bytes32 outputHash;
        bytes signature;
    }

    /// @notice `owner` claimed `name` of `kind`; registry nodes accept its records only from `owner`.
    event NameClaimed(bytes32 indexed nameId, NameKind kind, string name, address indexed owner);
    /// @notice The owner of a claimed name handed it to `to`.
    event NameTransferred(bytes32 indexed nameId, address indexed from, address indexed to);
    /// @notice A key registered with `stake` and joined the active set.
    event ValidatorRegistered(address indexed validator, uint256 stake);
    /// @notice `amount` was added to a validator's stake, now `stake`.
    event StakeAdded(address indexed validator, uint256 amount, uint256 stake);
    /// @notice A validator entered the active set.
    event ValidatorActivated(address indexed validator);
    /// @notice A validator left the active set (unbonding, jailed or stake below the minimum).
    event ValidatorDeactivated(address indexed validator);
    /// @notice A validator started unbonding; its stake can leave at `unbondingEnd`.
    event UnbondingStarted(address indexed validator, uint64 unbondingEnd);
    /// @notice An unbonded validator took back `amount` and was removed.
    event StakeWithdrawn(address indexed validator, uint256 amount);
    /// @notice `amount` of a validator's stake was slashed for `offence`; `reward` of it went to
    /// `reporter`, the rest to the treasury. `evidence` is the request id (double sign) or governance's reference.
    event Slashed(
        address indexed validator,
        Offence indexed offence,
        uint256 amount,
        address indexed reporter,
        uint256 reward,
        bytes32 evidence
    );
    /// @notice Governance let a jailed validator back.
    event ValidatorUnjailed(address indexed validator);
    /// @notice The attestation threshold M changed.
    event ThresholdUpdated(uint16 threshold);
    /// @notice The maximum size of the active set changed.
    event MaxValidatorsUpdated(uint16 maxValidators);
    /// @notice The minimum stake to join the active set changed.
    event MinStakeUpdated(uint256 minStake);
    /// @notice The unbonding delay changed.
    event UnbondingDelayUpdated(uint64 unbondingDelay);
    /// @notice Slashed stake not paid to reporters now goes to `treasury`.
    event TreasuryUpdated(address treasury);
    /// @notice The payment contract whose EIP-712 domain double-sign evidence uses was set.
    event PaymentContractSet(address paymentContract);

    /// @notice An address argument was zero.
    error ZeroAddress();
    /// @notice The key is already registered.
    error AlreadyRegistered(address validator);
    /// @notice The key is not registered.
    error NotRegistered(address validator);
    /// @notice `stake` is below the minimum `minStake`.
    error StakeBelowMinimum(uint256 stake, uint256 minStake);
    /// @notice The stake would not fit in 96 bits.
    error StakeTooLarge(uint256 stake);
    /// @notice The active set already holds the maximum number of validators.
    error ActiveSetFull(uint256 maxValidators);
    /// @notice The validator is unbonding and cannot add stake or unbond again.
    error ValidatorUnbonding(address validator);
    /// @notice The validator is not unbonding.
    error NotUnbonding(address validator);
    /// @notice The unbonding delay has not passed yet (ends at `unbondingEnd`).
    error UnbondingNotFinished(uint64 unbondingEnd);
    /// @notice A jailed validator cannot join the active set.
    error ValidatorJailed(address validator);
    /// @notice The validator is not jailed.
    error NotJailed(address validator);
    /// @notice Threshold must be at least 1 and at most the maximum active set size.
    error InvalidThreshold(uint256 threshold, uint256 maxValidators);
    /// @notice Maximum set size must be between max(1, active count, threshold) and 256.
    error InvalidMaxValidators(uint256 maxValidators);
    /// @notice Fewer distinct active validators signed than {requiredAttestations} demands.
    error InsufficientAttestations(uint256 count, uint256 threshold);
    /// @notice The payment contract was already set (it can be set once).
    error PaymentContractAlreadySet();
    /// @notice Double-sign evidence needs the payment contract's EIP-712 domain.
    error PaymentContractNotSet();
    /// @notice Both pieces of evidence are the same attestation (same subject and output hash): no double sign.
    error SameAttestation();
    /// @notice An evidence signature was not made by the accused validator.
    error EvidenceSignerMismatch(address recovered, address validator);
    /// @notice This double sign was already reported and slashed.
    error AlreadyReported(address validator, bytes32 requestId);
    /// @notice Nothing left to slash.
    error NothingToSlash(address validator);
    /// @notice The name is already claimed by another owner.
    error NameTaken(bytes32 nameId, address owner);
    /// @notice The name is not 1-64 chars of a-z, 0-9, '.', '_', '-', '/' starting with a letter or digit.
    error InvalidName();
    /// @notice Only the owner of a claimed name may transfer it.
    error NotNameOwner(bytes32 nameId, address caller);

    /// @notice Registers the caller's key with `amount` NCN of stake (pulled with transferFrom) and activates it.
    /// @param amount Stake, at least `minStake()`.
    function register(uint256 amount) external;

    /// @notice Like {register}, with an EIP-2612 permit for the stake instead of a prior approve.
    /// @param amount Stake, at least `minStake()`.
    /// @param deadline Permit deadline.
    /// @param v Permit signature v.
    /// @param r Permit signature r.
    /// @param s Permit signature s.
    function registerWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /// @notice Adds stake; an inactive (not jailed) validator reaching the minimum rejoins the active set if there is room.
    /// @param amount Stake to add.
    function addStake(uint256 amount) external;

    /// @notice Leaves the active set at once; the stake stays slashable until the unbonding delay has passed.
    function beginUnbonding() external;

    /// @notice Returns the whole remaining stake of the caller after unbonding and forgets the key (a jail stays).
    /// @return amount Stake returned.
    function withdrawStake() external returns (uint256 amount);

    /// @notice Slashes `validator` for a provable double sign: two different completion attestations
    /// (phase 1; differing in subject or output hash) signed for the same request id. An honest validator
    /// signs one completion per request id, ever, so it can never be reported. Preprocess attestations
    /// (phase 0) are not evidence: one is signed again when a request is retried on another agent.
    /// Anyone may report; the reporter earns a share. One slash per (validator, request id).
    /// @param validator The accused key.
    /// @param requestId Request both attestations are about.
    /// @param a First attestation.
    /// @param b Second attestation.
    /// @return slashed Stake taken from the validator.
    function reportDoubleSign(
        address validator,
        bytes32 requestId,
        AttestationEvidence calldata a,
        AttestationEvidence calldata b
    ) external returns (uint256 slashed);

    /// @notice Governance slash for offences proven off-chain, at the offence's fixed fraction.
    /// @param validator The offending key.
    /// @param offence What it did.
    /// @param evidence Reference to the evidence (e.g. a content hash), logged only.
    /// @return slashed Stake taken from the validator.
    function slash(address validator, Offence offence, bytes32 evidence) external returns (uint256 slashed);

    /// @notice True when at least {requiredAttestations} distinct active validators signed `digest`.
    /// Unrecoverable signatures, non-validators and repeated signers are ignored.
    /// @param digest EIP-712 digest that was signed.
    /// @param signatures 65-byte signatures.
    /// @return ok Whether the threshold is reached.
    function verifyAttestations(bytes32 digest, bytes[] calldata signatures) external view returns (bool ok);

    /// @notice Number of distinct active validators among the signers of `digest`.
    /// @param digest EIP-712 digest that was signed.
    /// @param signatures 65-byte signatures.
    /// @return count Distinct active signers.
    function countAttestations(bytes32 digest, bytes[] calldata signatures) external view returns (uint256 count);

    /// @notice Like {countAttestations}, but reverts with InsufficientAttestations below {requiredAttestations}.
    /// @param digest EIP-712 digest that was signed.
    /// @param signatures 65-byte signatures.
    /// @return count Distinct active signers (at least {requiredAttestations}).
    function requireAttestations(bytes32 digest, bytes[] calldata signatures) external view returns (uint256 count);

    /// @notice Distinct active signatures an attestation needs now: max(threshold, floor(N/2) + 1) for an
    /// active set of N, so the bar stays a majority as the set grows.
    /// @return required Signatures needed.
    function requiredAttestations() external view returns (uint256 required);

    /// @notice The distinct active validators among the signers of `digest`, in signature order.
    /// @param digest EIP-712 digest that was signed.
    /// @param signatures 65-byte signatures.
    /// @return signers The validators that count.
    function attestingValidators(bytes32 digest, bytes[] calldata signatures)
        external
        view
        returns (address[] memory signers);

    /// @notice Configured attestation threshold M, the floor of {requiredAttestations}.
    /// @return M.
    function threshold() external view returns (uint16);

    /// @notice Active validator keys (N = length).
    /// @return keys Active set, in index order.
    function activeValidators() external view returns (address[] memory keys);

    /// @notice Whether `validator` is in the active set.
    /// @param validator Key.
    /// @return active True when active.
    function isActive(address validator) external view returns (bool active);

    /// @notice State of `validator`.
    /// @param validator Key.
    /// @return info Stake, unbonding end, status, index in the active set, jailed flag.
    function getValidator(address validator) external view returns (Validator memory info);

    /// @notice Claims a subnet or model name for the caller, for good: registry nodes accept that name's
    /// records only from its owner, on every node and after any record expires. Claiming a name the
    /// caller already owns is a no-op.
    /// @param kind Subnet or model.
    /// @param name The subnet or model id, as in its registry record.
    /// @return nameId keccak256(abi.encodePacked(uint8(kind), name)).
    function claimName(NameKind kind, string calldata name) external returns (bytes32 nameId);

    /// @notice Hands a claimed name to `to` (a lost key is otherwise a name lost for good).
    /// @param kind Subnet or model.
    /// @param name The claimed name.
    /// @param to New owner.
    function transferName(NameKind kind, string calldata name, address to) external;

    /// @notice Owner of a name.
    /// @param kind Subnet or model.
    /// @param name The name.
    /// @return owner The owner, or address(0) when unclaimed.
    function nameOwner(NameKind kind, string calldata name) external view returns (address owner);
}
