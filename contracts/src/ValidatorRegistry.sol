// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IValidatorRegistry} from "./interfaces/IValidatorRegistry.sol";
import {NcnTypes} from "./libraries/NcnTypes.sol";

/// @notice The part of InferencePayment the registry reads: the EIP-712 domain attestations are signed under.
interface IEip712DomainSource {
    /// @notice EIP-712 domain separator of the payment contract.
    /// @return separator The separator.
    function DOMAIN_SEPARATOR() external view returns (bytes32 separator);
}

/// @title ValidatorRegistry
/// @notice Validators stake NCN to join an active set of at most `maxValidators` keys; a digest is
/// attested when a majority of the active set, and at least `threshold`, distinct active validators
/// signed it (see {requiredAttestations}). Stake leaves only after an unbonding delay, during which it
/// stays slashable.
/// @dev Each validator is one storage slot and carries its index in the active set, so attestation
/// checks cost one ecrecover and one SLOAD per signature, and duplicates are caught with a bitmap.
contract ValidatorRegistry is IValidatorRegistry, AccessControl {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to slash for offences proven off-chain.
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    /// @notice Hard cap of the active set: indexes fit the 256-bit duplicate bitmap.
    uint256 public constant MAX_ACTIVE_SET = 256;
    uint256 private constant BPS = 10_000;

    /// @notice Fraction of stake slashed for a double sign (50%).
    uint256 public constant DOUBLE_SIGN_SLASH_BPS = 5_000;
    /// @notice Fraction slashed for an invalid signature (50%).
    uint256 public constant INVALID_SIGNATURE_SLASH_BPS = 5_000;
    /// @notice Fraction slashed for approving an invalid result (30%).
    uint256 public constant INVALID_RESULT_SLASH_BPS = 3_000;
    /// @notice Fraction slashed for collusion (100%).
    uint256 public constant COLLUSION_SLASH_BPS = 10_000;
    /// @notice Fraction slashed for prolonged downtime (10%).
    uint256 public constant DOWNTIME_SLASH_BPS = 1_000;
    /// @notice Share of a double-sign slash paid to whoever reported it (50% of the slashed amount).
    uint256 public constant REPORTER_REWARD_BPS = 5_000;

    /// @notice Token staked (NCN).
    IERC20 public immutable stakeToken;

    /// @notice Minimum stake to join the active set (applies on entry; does not eject anyone).
    uint96 public minStake;
    /// @notice Seconds between beginUnbonding and withdrawStake.
    uint64 public unbondingDelay;
    /// @inheritdoc IValidatorRegistry
    uint16 public threshold;
    /// @notice Maximum size of the active set (N).
    uint16 public maxValidators;
    /// @dev `_active.length`, kept beside `threshold` so the majority rule costs attestation checks no
    /// extra cold storage read.
    uint16 private _activeCount;
    /// @notice Receives slashed stake not paid to reporters.
    address public treasury;
    /// @notice InferencePayment, whose EIP-712 domain attestations are signed under.
    address public paymentContract;

    mapping(address validator => Validator) private _validators;
    address[] private _active;
    mapping(address validator => mapping(bytes32 requestId => bool)) private _doubleSignReported;
    mapping(bytes32 nameId => address owner) private _nameOwners;

    /// @param token_ NCN token used for stake.
    /// @param admin Governance (DEFAULT_ADMIN_ROLE and SLASHER_ROLE).
    /// @param treasury_ Receiver of slashed stake.
    /// @param minStake_ Minimum stake.
    /// @param threshold_ M.
    /// @param maxValidators_ Maximum N.
    /// @param unbondingDelay_ Seconds of unbonding.
    constructor(
        IERC20 token_,
        address admin,
        address treasury_,
        uint96 minStake_,
        uint16 threshold_,
        uint16 maxValidators_,
        uint64 unbondingDelay_
    ) {
        if (address(token_) == address(0) || admin == address(0) || treasury_ == address(0)) revert ZeroAddress();
        if (maxValidators_ == 0 || maxValidators_ > MAX_ACTIVE_SET) revert InvalidMaxValidators(maxValidators_);
        if (threshold_ == 0 || threshold_ > maxValidators_) revert InvalidThreshold(threshold_, maxValidators_);
        stakeToken = token_;
        treasury = treasury_;
        minStake = minStake_;
        threshold = threshold_;
        maxValidators = maxValidators_;
        unbondingDelay = unbondingDelay_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SLASHER_ROLE, admin);
    }

    // ---------------------------------------------------------------- validators

    /// @inheritdoc IValidatorRegistry
    function register(uint256 amount) external {
        _register(amount);
    }

    /// @inheritdoc IValidatorRegistry
    function registerWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external {
        // A front-run permit only spends the nonce; the allowance it set is what transferFrom needs.
        try IERC20Permit(address(stakeToken)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _register(amount);
    }

    function _register(uint256 amount) private {
        Validator storage v = _validators[msg.sender];
        if (v.status != Status.None) revert AlreadyRegistered(msg.sender);
        if (v.jailed) revert ValidatorJailed(msg.sender);
        if (amount < minStake) revert StakeBelowMinimum(amount, minStake);
        if (amount > type(uint96).max) revert StakeTooLarge(amount);
        if (_activeCount >= maxValidators) revert ActiveSetFull(maxValidators);
        // amount <= type(uint96).max was checked above
        // forge-lint: disable-next-line(unsafe-typecast)
        v.stake = uint96(amount);
        _activate(msg.sender, v);
        emit ValidatorRegistered(msg.sender, amount);
        stakeToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IValidatorRegistry
    function addStake(uint256 amount) external {
        Validator storage v = _validators[msg.sender];
        Status status = v.status;
        if (status == Status.None) revert NotRegistered(msg.sender);
        if (status == Status.Unbonding) revert ValidatorUnbonding(msg.sender);
        uint256 stake = uint256(v.stake) + amount;
        if (stake > type(uint96).max) revert StakeTooLarge(stake);
        // stake <= type(uint96).max was checked above
        // forge-lint: disable-next-line(unsafe-typecast)
        v.stake = uint96(stake);
        emit StakeAdded(msg.sender, amount, stake);
        if (status == Status.Inactive) _tryActivate(msg.sender, v);
        stakeToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IValidatorRegistry
    function beginUnbonding() external {
        Validator storage v = _validators[msg.sender];
        Status status = v.status;
        if (status == Status.None) revert NotRegistered(msg.sender);
        if (status == Status.Unbonding) revert ValidatorUnbonding(msg.sender);
        if (status == Status.Active) _deactivate(msg.sender, v);
        uint64 end = uint64(block.timestamp) + unbondingDelay;
        v.status = Status.Unbonding;
        v.unbondingEnd = end;
        emit UnbondingStarted(msg.sender, end);
    }

    /// @inheritdoc IValidatorRegistry
    function withdrawStake() external returns (uint256 amount) {
        Validator storage v = _validators[msg.sender];
        if (v.status != Status.Unbonding) revert NotUnbonding(msg.sender);
        if (block.timestamp < v.unbondingEnd) revert UnbondingNotFinished(v.unbondingEnd);
        amount = v.stake;
        // The jailed flag outlives the exit, so leaving and registering again does not lift a jail.
        _validators[msg.sender] = Validator({stake: 0, unbondingEnd: 0, status: Status.None, index: 0, jailed: v.jailed});
        emit StakeWithdrawn(msg.sender, amount);
        stakeToken.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- names

    /// @inheritdoc IValidatorRegistry
    function claimName(NameKind kind, string calldata name) external returns (bytes32 nameId) {
        _checkName(name);
        nameId = _nameId(kind, name);
        address owner = _nameOwners[nameId];
        if (owner == msg.sender) return nameId;
        if (owner != address(0)) revert NameTaken(nameId, owner);
        _nameOwners[nameId] = msg.sender;
        emit NameClaimed(nameId, kind, name, msg.sender);
    }

    /// @inheritdoc IValidatorRegistry
    function transferName(NameKind kind, string calldata name, address to) external {
        if (to == address(0)) revert ZeroAddress();
        bytes32 nameId = _nameId(kind, name);
        if (_nameOwners[nameId] != msg.sender) revert NotNameOwner(nameId, msg.sender);
        _nameOwners[nameId] = to;
        emit NameTransferred(nameId, msg.sender, to);
    }

    /// @inheritdoc IValidatorRegistry
    function nameOwner(NameKind kind, string calldata name) external view returns (address owner) {
        return _nameOwners[_nameId(kind, name)];
    }

    function _nameId(NameKind kind, string calldata name) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(uint8(kind), name));
    }

    /// @dev The protocol's id rule (protocol/src/primitives.ts `Slug`), so every claimable name is a
    /// valid record key and one name has one spelling.
    function _checkName(string calldata name) private pure {
        bytes calldata b = bytes(name);
        if (b.length == 0 || b.length > 64) revert InvalidName();
        for (uint256 i; i < b.length; ++i) {
            bytes1 c = b[i];
            bool alnum = (c >= "a" && c <= "z") || (c >= "0" && c <= "9");
            if (!alnum && (i == 0 || (c != "." && c != "_" && c != "-" && c != "/"))) revert InvalidName();
        }
    }

    // ---------------------------------------------------------------- slashing

    /// @inheritdoc IValidatorRegistry
    function reportDoubleSign(
        address validator,
        bytes32 requestId,
        AttestationEvidence calldata a,
        AttestationEvidence calldata b
    ) external returns (uint256 slashed) {
        address payment = paymentContract;
        if (payment == address(0)) revert PaymentContractNotSet();
        // One signed attestation offered twice (even with another signature encoding) proves nothing.
        if (a.subject == b.subject && a.outputHash == b.outputHash) revert SameAttestation();
        if (_doubleSignReported[validator][requestId]) revert AlreadyReported(validator, requestId);
        bytes32 domain = IEip712DomainSource(payment).DOMAIN_SEPARATOR();
        _checkEvidence(domain, validator, requestId, a);
        _checkEvidence(domain, validator, requestId, b);
        _doubleSignReported[validator][requestId] = true;
        return _slash(validator, Offence.DoubleSign, msg.sender, REPORTER_REWARD_BPS, requestId);
    }

    /// @dev Evidence is always checked as a completion attestation: a preprocess attestation (phase 0)
    /// does not verify here, so it can never be paired with a completion, nor with another preprocess
    /// attestation (an honest validator signs one again when a request is retried on another agent).
    function _checkEvidence(bytes32 domain, address validator, bytes32 requestId, AttestationEvidence calldata e)
        private
        pure
    {
        bytes32 d = NcnTypes.digest(
            domain, NcnTypes.hashAttestation(requestId, NcnTypes.PHASE_COMPLETION, e.subject, e.outputHash)
        );
        (address recovered,,) = ECDSA.tryRecoverCalldata(d, e.signature);
        if (recovered != validator) revert EvidenceSignerMismatch(recovered, validator);
    }

    /// @inheritdoc IValidatorRegistry
    function slash(address validator, Offence offence, bytes32 evidence)
        external
        onlyRole(SLASHER_ROLE)
        returns (uint256 slashed)
    {
        return _slash(validator, offence, address(0), 0, evidence);
    }

    /// @notice Fraction of stake (basis points) slashed for `offence`.
    /// @param offence The offence.
    /// @return bps Basis points of stake.
    function slashFraction(Offence offence) public pure returns (uint256 bps) {
        if (offence == Offence.DoubleSign) return DOUBLE_SIGN_SLASH_BPS;
        if (offence == Offence.InvalidSignature) return INVALID_SIGNATURE_SLASH_BPS;
        if (offence == Offence.InvalidResult) return INVALID_RESULT_SLASH_BPS;
        if (offence == Offence.Collusion) return COLLUSION_SLASH_BPS;
        return DOWNTIME_SLASH_BPS;
    }

    /// @dev `evidence` is not stored; the event ties the slash to its proof.
    function _slash(address validator, Offence offence, address reporter, uint256 rewardBps, bytes32 evidence)
        private
        returns (uint256 amount)
    {
        Validator storage v = _validators[validator];
        if (v.status == Status.None) revert NotRegistered(validator);
        uint256 stake = v.stake;
        amount = stake * slashFraction(offence) / BPS;
        if (amount == 0) revert NothingToSlash(validator);
        // smaller than the uint96 it was read from
        // forge-lint: disable-next-line(unsafe-typecast)
        v.stake = uint96(stake - amount);
        if (offence == Offence.DoubleSign || offence == Offence.Collusion) v.jailed = true;
        if (v.status == Status.Active && (v.jailed || v.stake < minStake)) _deactivate(validator, v);
        uint256 reward = amount * rewardBps / BPS;
        emit Slashed(validator, offence, amount, reporter, reward, evidence);
        if (reward != 0) stakeToken.safeTransfer(reporter, reward);
        stakeToken.safeTransfer(treasury, amount - reward);
    }

    // ---------------------------------------------------------------- attestations

    /// @inheritdoc IValidatorRegistry
    function verifyAttestations(bytes32 digest, bytes[] calldata signatures) external view returns (bool ok) {
        (uint256 count,) = _attestors(digest, signatures, false);
        return count >= requiredAttestations();
    }

    /// @inheritdoc IValidatorRegistry
    function countAttestations(bytes32 digest, bytes[] calldata signatures) external view returns (uint256 count) {
        (count,) = _attestors(digest, signatures, false);
    }

    /// @inheritdoc IValidatorRegistry
    function requireAttestations(bytes32 digest, bytes[] calldata signatures) external view returns (uint256 count) {
        uint256 required = requiredAttestations();
        (count,) = _attestors(digest, signatures, false);
        if (count < required) revert InsufficientAttestations(count, required);
    }

    /// @inheritdoc IValidatorRegistry
    /// @dev A fixed M alone lets whoever fills the free seats of a growing set with minimum stakes reach
    /// it without one honest signature; a majority of the active set cannot be reached that way.
    function requiredAttestations() public view returns (uint256 required) {
        uint256 majority = uint256(_activeCount) / 2 + 1;
        uint256 configured = threshold;
        return configured > majority ? configured : majority;
    }

    /// @inheritdoc IValidatorRegistry
    function attestingValidators(bytes32 digest, bytes[] calldata signatures)
        external
        view
        returns (address[] memory signers)
    {
        (, signers) = _attestors(digest, signatures, true);
    }

    /// @dev One ecrecover and one SLOAD per signature; the bitmap over active-set indexes drops repeats.
    function _attestors(bytes32 digest, bytes[] calldata signatures, bool collect)
        private
        view
        returns (uint256 count, address[] memory signers)
    {
        if (collect) signers = new address[](signatures.length);
        uint256 seen;
        for (uint256 i; i < signatures.length; ++i) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) continue;
            Validator memory v = _validators[signer];
            if (v.status != Status.Active) continue;
            uint256 bit = 1 << v.index;
            if (seen & bit != 0) continue;
            seen |= bit;
            if (collect) signers[count] = signer;
            ++count;
        }
        if (collect) {
            assembly ("memory-safe") {
                mstore(signers, count)
            }
        }
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IValidatorRegistry
    function activeValidators() external view returns (address[] memory keys) {
        return _active;
    }

    /// @notice Number of active validators (N).
    /// @return n Size of the active set.
    function activeCount() external view returns (uint256 n) {
        return _activeCount;
    }

    /// @inheritdoc IValidatorRegistry
    function isActive(address validator) external view returns (bool active) {
        return _validators[validator].status == Status.Active;
    }

    /// @inheritdoc IValidatorRegistry
    function getValidator(address validator) external view returns (Validator memory info) {
        return _validators[validator];
    }

    /// @notice Whether a double sign of `validator` on `requestId` was already slashed.
    /// @param validator Key.
    /// @param requestId Request of the evidence.
    /// @return reported True once slashed.
    function doubleSignReported(address validator, bytes32 requestId) external view returns (bool reported) {
        return _doubleSignReported[validator][requestId];
    }

    // ---------------------------------------------------------------- governance

    /// @notice Sets the attestation threshold M (1 <= M <= maxValidators).
    /// @param threshold_ New M.
    function setThreshold(uint16 threshold_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (threshold_ == 0 || threshold_ > maxValidators) revert InvalidThreshold(threshold_, maxValidators);
        threshold = threshold_;
        emit ThresholdUpdated(threshold_);
    }

    /// @notice Sets the maximum active set size N (threshold <= N <= 256, and not below the current set).
    /// @param maxValidators_ New maximum.
    function setMaxValidators(uint16 maxValidators_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (maxValidators_ > MAX_ACTIVE_SET || maxValidators_ < threshold || maxValidators_ < _activeCount) {
            revert InvalidMaxValidators(maxValidators_);
        }
        maxValidators = maxValidators_;
        emit MaxValidatorsUpdated(maxValidators_);
    }

    /// @notice Sets the minimum stake for joining the active set.
    /// @param minStake_ New minimum.
    function setMinStake(uint96 minStake_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        minStake = minStake_;
        emit MinStakeUpdated(minStake_);
    }

    /// @notice Sets the unbonding delay for validators that start unbonding from now on.
    /// @param unbondingDelay_ Seconds.
    function setUnbondingDelay(uint64 unbondingDelay_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        unbondingDelay = unbondingDelay_;
        emit UnbondingDelayUpdated(unbondingDelay_);
    }

    /// @notice Sets the receiver of slashed stake.
    /// @param treasury_ New treasury.
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        emit TreasuryUpdated(treasury_);
    }

    /// @notice Sets, once, the payment contract whose EIP-712 domain double-sign evidence is checked against.
    /// @param payment InferencePayment address.
    function setPaymentContract(address payment) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (payment == address(0)) revert ZeroAddress();
        if (paymentContract != address(0)) revert PaymentContractAlreadySet();
        paymentContract = payment;
        emit PaymentContractSet(payment);
    }

    /// @notice Lifts a jail; the validator rejoins the active set if its stake and the set allow.
    /// @param validator Jailed key.
    function unjail(address validator) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Validator storage v = _validators[validator];
        if (!v.jailed) revert NotJailed(validator);
        v.jailed = false;
        emit ValidatorUnjailed(validator);
        if (v.status == Status.Inactive) _tryActivate(validator, v);
    }

    // ---------------------------------------------------------------- active set

    function _tryActivate(address validator, Validator storage v) private {
        if (!v.jailed && v.stake >= minStake && _activeCount < maxValidators) _activate(validator, v);
    }

    function _activate(address validator, Validator storage v) private {
        v.status = Status.Active;
        // the set holds fewer than maxValidators <= 256 here
        // forge-lint: disable-next-line(unsafe-typecast)
        v.index = uint8(_active.length);
        _active.push(validator);
        ++_activeCount;
        emit ValidatorActivated(validator);
    }

    /// @dev Swap-and-pop; the moved validator's stored index follows it. Callers set the new status.
    function _deactivate(address validator, Validator storage v) private {
        uint256 index = v.index;
        uint256 last = _active.length - 1;
        if (index != last) {
            address moved = _active[last];
            _active[index] = moved;
            // indexes stay below MAX_ACTIVE_SET = 256
            // forge-lint: disable-next-line(unsafe-typecast)
            _validators[moved].index = uint8(index);
        }
        _active.pop();
        --_activeCount;
        v.index = 0;
        v.status = Status.Inactive;
        emit ValidatorDeactivated(validator);
    }
}
