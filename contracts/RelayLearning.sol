// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IRelayLearning} from "./interfaces/IRelayLearning.sol";
import {Ranking} from "./libraries/Ranking.sol";
import {RelayToken} from "./RelayToken.sol";

/// @title RelayLearning
/// @notice One DeRelayL learning task (see {IRelayLearning} and docs/protocol.md).
/// @dev Token flows: every deposit and stake is locked here (`_totalLocked`); every
/// refund, reward and allocation becomes withdrawable credit (`_totalCredited`);
/// forfeits are burned. Invariant: token.balanceOf(this) == _totalLocked + _totalCredited.
/// Loops run over one round's bounded lists only (bids <= maxTrainers, drawn evaluators
/// <= maxEvaluators, a lineage layer <= maxTrainers); lineage claims cost O(1) per layer.
/// The evaluator pool has no cap because nothing loops over it: the draw swaps
/// maxEvaluators entries in place, and the stakers left out reclaim their own stakes.
contract RelayLearning is IRelayLearning {
    using Ranking for uint256[];

    // -------------------------------------------------------------- CONSTANTS

    /// @notice Scores are fixed-point: SCORE_SCALE means a perfect score (1.0).
    uint256 public constant SCORE_SCALE = 1_000_000;
    /// @notice Longest CID accepted.
    uint256 public constant MAX_CID_LENGTH = 128;
    /// @notice Longest key envelope accepted.
    uint256 public constant MAX_ENVELOPE_LENGTH = 512;
    /// @notice Largest bid, price, stake or reward (2^96 - 1 base units, 7.9e10 tokens of
    /// 18 decimals): a bid and its trainer fit one storage word.
    uint256 public constant MAX_AMOUNT = type(uint96).max;
    /// @notice Upper bound of maxTrainers (bounds every per-round loop).
    uint256 public constant MAX_TRAINERS_CAP = 64;
    /// @notice Upper bound of maxEvaluators.
    uint256 public constant MAX_EVALUATORS_CAP = 16;
    /// @notice Upper bound of maxTrainers * maxEvaluators (the scores settle reads).
    /// With these caps the largest round settles in under half a 30M-gas block:
    /// 13.7M gas at 64 x 8 (tests/unitary/RelayLearning/test_limits.py).
    uint256 public constant MAX_SCORES_PER_ROUND = 512;
    /// @notice An owner may deliver a key during the first OWNER_KEY_QUARTERS quarters
    /// of Training (when trainingDuration > 0), so its trainers keep at least half of it.
    uint256 public constant OWNER_KEY_QUARTERS = 2;
    /// @notice Couriers (and requestKey) during the first COURIER_KEY_QUARTERS quarters:
    /// a trainer keeps at least a quarter of Training after a courier's key.
    uint256 public constant COURIER_KEY_QUARTERS = 3;

    // ------------------------------------------------------------------ STATE

    struct RoundState {
        Phase phase;
        uint64 phaseStart;
        uint32 parentLayer;
        uint32 modelLayer; // the layer whose models parentLayer holds (see _layerSources)
        uint32 slotCount;
        uint32 submittedCount;
        uint32 committedCount;
        uint16 stalledRounds; // rounds in a row before this one that stalled (see settle)
        uint32 revealedCount;
        bytes32 seed;
        uint64 seedBlock; // the block Bidding was locked at (0: not locked)
    }

    /// @dev indexPlusOne is the staker's place in `_evaluators[round]`: a seat when it is
    /// at most the round's seat count after the draw. A stake costs more than 20k gas,
    /// so no pool comes near 2^32 stakers.
    struct EvaluatorRecord {
        uint32 indexPlusOne;
        bool committed;
        bool revealed;
        bytes32 commitment;
    }

    RelayToken internal immutable _token;
    address internal immutable _genesisOwner;
    bytes32 internal immutable _genesisHash;
    Params internal _params;
    string internal _taskSpecCid;
    string internal _genesisCid;

    uint256 internal _round;
    mapping(uint256 round => RoundState) internal _rounds;
    mapping(uint256 round => Bid[]) internal _bids;
    mapping(uint256 round => mapping(address trainer => uint256 indexPlusOne)) internal _bidIndex;
    mapping(uint256 round => Offer[]) internal _offers;
    mapping(uint256 round => mapping(uint256 modelId => bool)) internal _offered;
    /// @dev Per round, every staker; from the close of bidding the first `_seatCounts[round]` are
    /// the drawn evaluators in envelope order.
    mapping(uint256 round => address[]) internal _evaluators;
    /// @dev Per round, the evaluators drawn at the close of bidding (0 while bidding).
    mapping(uint256 round => uint256) internal _seatCounts;
    mapping(uint256 round => mapping(address evaluator => EvaluatorRecord)) internal _evaluatorRecords;
    mapping(uint256 round => mapping(address evaluator => uint32[])) internal _scores;
    mapping(uint256 round => Slot[]) internal _slots;
    mapping(uint256 round => mapping(address trainer => uint256 slotPlusOne)) internal _trainerSlots;

    /// @dev A model as stored: one word. Its creator, parent and weights hash are its
    /// slot's (`_slots[round][slot]`; the genesis model's are immutables), so only where
    /// it sits is written. A position in a layer, a slot and a claim interval's ends are
    /// at most MAX_TRAINERS_CAP (64), so 8 bits hold them; layers and rounds fit 32 bits
    /// (each costs several transactions); a score is at most SCORE_SCALE (24 bits).
    struct ModelRecord {
        uint32 round;
        uint32 layer;
        uint32 claimLayer; // the lineage claims' cursor: layer, [claimLo, claimHi)
        uint24 score;
        uint8 slot;
        uint8 index;
        uint8 claimLo;
        uint8 claimHi;
        bool lineageEnded;
        uint96 claimedUnits;
    }

    ModelRecord[] internal _models;
    uint256 internal _layerCount;
    /// @dev A layer's models have consecutive ids (`_appendLayer` creates them in
    /// order), so a layer is one word: its first id and its count.
    struct LayerRange {
        uint128 firstId;
        uint128 count;
    }

    mapping(uint256 layer => LayerRange) internal _layers;
    /// @dev childStart[l][p] is where parent p's children start in layer l + 1; 32 bits
    /// hold a position (see ModelRecord), so 8 share a storage word.
    mapping(uint256 layer => uint32[] prefix) internal _childStart;
    mapping(uint256 layer => mapping(address owner => uint256 modelIdPlusOne)) internal _ownerModels;
    /// @dev For a layer a fallback appended, the layer whose models it offers again,
    /// plus one (0: the layer holds its own models).
    mapping(uint256 layer => uint256 sourcePlusOne) internal _layerSources;

    /// @dev Withdrawable credit, and whether the account ever created an accepted model
    /// (genesis included): such an account may never evaluate, since every later model
    /// may descend from its own. One slot, so the flag costs settlement no new slot:
    /// the trainer's credit was just written there.
    struct Account {
        uint248 credit;
        bool createdModel;
    }

    mapping(address account => Account) internal _accounts;
    mapping(address account => bytes32) internal _publicKeys;
    uint256 internal _totalLocked;
    uint256 internal _totalCredited;

    // ------------------------------------------------------------ CONSTRUCTOR

    /// @param params_ Deployment parameters (see {Params}).
    /// @param token_ The reward token; its minter must be this contract.
    /// @param genesisOwner Creator of the genesis model, the round-0 model owner.
    /// @param genesisHash sha256 of the genesis model's plain weights.
    /// @param genesisCid CID of the genesis model's encrypted weights.
    /// @param taskSpecCid_ CID of the task specification.
    /// @param holders Accounts credited with a genesis allocation (to stake and bid).
    /// @param amounts Their allocations, minted to this contract as credit.
    constructor(
        Params memory params_,
        RelayToken token_,
        address genesisOwner,
        bytes32 genesisHash,
        string memory genesisCid,
        string memory taskSpecCid_,
        address[] memory holders,
        uint256[] memory amounts
    ) {
        _validateParams(params_);
        if (token_.minter() != address(this)) revert RelayTokenMinterMismatch(token_.minter());
        if (genesisOwner == address(0)) revert RelayInvalidParameter("genesisOwner");
        if (genesisHash == bytes32(0)) revert RelayZeroHash();
        _checkCid(genesisCid);
        if (holders.length != amounts.length) revert RelayInvalidParameter("allocation");

        _params = params_;
        _token = token_;
        _taskSpecCid = taskSpecCid_;
        _genesisCid = genesisCid;

        _genesisOwner = genesisOwner;
        _genesisHash = genesisHash;
        _models.push().claimHi = 1;
        _layers[0] = LayerRange({firstId: 0, count: 1});
        _layerCount = 1;
        _ownerModels[0][genesisOwner] = 1;
        _accounts[genesisOwner].createdModel = true;
        emit ModelAccepted(0, 0, 0, genesisOwner, 0, 0, 0);

        for (uint256 i = 0; i < holders.length; ++i) {
            // Credit of address(0) could never be withdrawn: it would be owed to nobody.
            if (holders[i] == address(0)) revert RelayInvalidParameter("holder");
            if (amounts[i] > MAX_AMOUNT) revert RelayAmountTooLarge(amounts[i], MAX_AMOUNT);
            _mintCredit(holders[i], amounts[i]);
        }
        _startPhase(0, Phase.Bidding);
    }

    // ------------------------------------------------------------ PARTICIPATE

    /// @inheritdoc IRelayLearning
    function registerKey(bytes32 publicKey) external {
        if (publicKey == bytes32(0)) revert RelayZeroKey();
        _publicKeys[msg.sender] = publicKey;
        emit KeyRegistered(msg.sender, publicKey);
    }

    /// @inheritdoc IRelayLearning
    function bid(uint256 round, uint256 amount) external {
        RoundState storage rs = _requireOpenBidding(round);
        if (amount > MAX_AMOUNT) revert RelayAmountTooLarge(amount, MAX_AMOUNT);
        _requireKey(msg.sender);
        if (_bidIndex[round][msg.sender] != 0) revert RelayAlreadyBid(round, msg.sender);
        if (_ownerModels[rs.modelLayer][msg.sender] != 0) revert RelayOwnerCannotBid(round, msg.sender);
        if (_evaluatorRecords[round][msg.sender].indexPlusOne != 0) {
            revert RelayEvaluatorCannotBid(round, msg.sender);
        }

        Bid[] storage bids = _bids[round];
        Bid memory placed = Bid({trainer: msg.sender, amount: uint96(amount)});
        if (bids.length < _params.maxTrainers) {
            bids.push(placed);
            _bidIndex[round][msg.sender] = bids.length;
        } else {
            // Full: the lowest bid (the latest among equals) makes room for a higher one,
            // so zero-bid identities cannot crowd paying trainers out.
            uint256 lowest = 0;
            for (uint256 i = 1; i < bids.length; ++i) {
                if (bids[i].amount <= bids[lowest].amount) lowest = i;
            }
            Bid memory evicted = bids[lowest];
            if (amount <= evicted.amount) revert RelayBidTooLow(amount, evicted.amount);
            bids[lowest] = placed;
            delete _bidIndex[round][evicted.trainer];
            _bidIndex[round][msg.sender] = lowest + 1;
            emit BidEvicted(round, evicted.trainer, evicted.amount);
            _release(evicted.trainer, evicted.amount);
        }
        emit BidPlaced(round, msg.sender, amount);
        _collect(msg.sender, amount);
    }

    /// @inheritdoc IRelayLearning
    function offer(uint256 round, uint256 price) external virtual {
        RoundState storage rs = _requireOpenBidding(round);
        if (price > MAX_AMOUNT) revert RelayAmountTooLarge(price, MAX_AMOUNT);
        if (price < _params.minPrice) revert RelayPriceTooLow(price, _params.minPrice);
        uint256 idPlusOne = _ownerModels[rs.modelLayer][msg.sender];
        if (idPlusOne == 0) revert RelayNotModelOwner(round, msg.sender);
        uint256 modelId = idPlusOne - 1;
        if (_offered[round][modelId]) revert RelayAlreadyOffered(round, modelId);

        _offered[round][modelId] = true;
        _offers[round].push(Offer({modelId: uint64(modelId), price: uint128(price)}));
        emit OfferMade(round, modelId, msg.sender, price);
        _collect(msg.sender, price * _params.k);
    }

    /// @inheritdoc IRelayLearning
    function courierOffer(uint256 round, uint256 modelId) external virtual {
        RoundState storage rs = _requireOpenBidding(round);
        if (modelId >= _models.length || _models[modelId].layer != rs.modelLayer) {
            revert RelayNotParentModel(round, modelId);
        }
        // Per model: its owner may still be active if it (or a courier) offered it in
        // the round before, or if that round had another parent layer (the owner's
        // first round: its turn to offer).
        if (round == 0 || _offered[round - 1][modelId] || _rounds[round - 1].parentLayer != rs.parentLayer) {
            revert RelayOwnersStillActive(round);
        }
        _requireKeyHolder(modelId, msg.sender);
        if (_offered[round][modelId]) revert RelayAlreadyOffered(round, modelId);

        _offered[round][modelId] = true;
        _offers[round].push(Offer({modelId: uint64(modelId), price: 0}));
        emit OfferCouriered(round, modelId, msg.sender);
    }

    /// @inheritdoc IRelayLearning
    function stakeEvaluator(uint256 round) external {
        _requireOpenBidding(round);
        _requireKey(msg.sender);
        if (_evaluatorRecords[round][msg.sender].indexPlusOne != 0) revert RelayAlreadyEvaluator(round, msg.sender);
        // A bidder of the round, or anyone who ever created an accepted model (its
        // descendants may be scored in any later round), may not evaluate.
        if (_bidIndex[round][msg.sender] != 0 || _accounts[msg.sender].createdModel) {
            revert RelayParticipantCannotEvaluate(round, msg.sender);
        }
        address[] storage evaluators = _evaluators[round];
        evaluators.push(msg.sender);
        _evaluatorRecords[round][msg.sender].indexPlusOne = uint32(evaluators.length);
        emit EvaluatorStaked(round, msg.sender, _params.evaluatorStake);
        _collect(msg.sender, _params.evaluatorStake);
    }

    /// @inheritdoc IRelayLearning
    function reclaimStake(uint256 round) external {
        if (round > _round) revert RelayWrongRound(_round, round);
        Phase phase = _rounds[round].phase;
        if (phase == Phase.Bidding) revert RelayWrongPhase(Phase.Training, phase);
        if (_evaluatorRecords[round][msg.sender].indexPlusOne == 0) revert RelayNotEvaluator(round, msg.sender);
        if (_isSeated(round, msg.sender)) revert RelayEvaluatorDrawn(round, msg.sender);

        delete _evaluatorRecords[round][msg.sender];
        uint256 stake = _params.evaluatorStake;
        emit StakeReclaimed(round, msg.sender, stake);
        _release(msg.sender, stake);
    }

    /// @inheritdoc IRelayLearning
    function closeBidding() external {
        uint256 round = _round;
        RoundState storage rs = _requirePhase(round, Phase.Bidding);
        uint256 seedBlock = rs.seedBlock;
        if (seedBlock == 0) {
            // Step 1, only at the deadline (a full list of free bids must not let anyone
            // close early): lock the round; its seed will be this block's hash.
            _requireClosable(rs, false);
            _lockBidding(round, rs);
            return;
        }
        // Step 2, in a later block: the seed is the hash of the lock's block, unknown when
        // the lock was sent, so whoever chose when to close could not see the draw coming.
        if (block.number <= seedBlock) revert RelaySeedNotReady(round, seedBlock);
        bytes32 lockHash = blockhash(seedBlock);
        if (lockHash == bytes32(0)) {
            _lockBidding(round, rs); // more than 256 blocks ago: lock again, at this block
            return;
        }
        bytes32 seed = keccak256(abi.encode(lockHash, address(this), round));
        rs.seed = seed;
        _drawEvaluators(round, seed);
        uint256 slotCount = _match(round, seed);
        emit BiddingClosed(round, seed, slotCount);
        _startPhase(round, Phase.Training);
        _advanceWhileDone(round);
    }

    /// @dev Locks Bidding at this block: from now on nobody may bid, offer or stake, and
    /// the seed is this block's hash, drawn by the next closeBidding in a later block.
    function _lockBidding(uint256 round, RoundState storage rs) internal {
        rs.seedBlock = uint64(block.number);
        emit BiddingLocked(round, block.number);
    }

    /// @inheritdoc IRelayLearning
    function deliverKey(uint256 round, uint256 slot, bytes calldata envelope) external virtual {
        RoundState storage rs = _requirePhase(round, Phase.Training);
        Slot storage s = _slot(round, slot);
        if (_creatorOf(s.parentId) != msg.sender) revert RelayNotSlotOwner(round, slot, msg.sender);
        if (s.delivered) revert RelayKeyAlreadyDelivered(round, slot);
        _requireKeyWindow(rs, round, slot, OWNER_KEY_QUARTERS);
        _checkEnvelope(envelope);

        s.delivered = true;
        emit KeyDelivered(round, slot, s.trainer, envelope);
    }

    /// @inheritdoc IRelayLearning
    function courierKey(uint256 round, uint256 slot, bytes calldata envelope) external virtual {
        RoundState storage rs = _requirePhase(round, Phase.Training);
        Slot storage s = _slot(round, slot);
        _requireKeyHolder(s.parentId, msg.sender);
        if (s.submitted) revert RelayAlreadySubmitted(round, slot);
        _requireKeyWindow(rs, round, slot, COURIER_KEY_QUARTERS);
        _checkEnvelope(envelope);

        s.couriered = true;
        emit KeyCouriered(round, slot, s.trainer, msg.sender, envelope);
    }

    /// @inheritdoc IRelayLearning
    function requestKey(uint256 round, uint256 slot) external {
        RoundState storage rs = _requirePhase(round, Phase.Training);
        Slot storage s = _slot(round, slot);
        if (s.trainer != msg.sender) revert RelayNotSlotTrainer(round, slot, msg.sender);
        if (s.submitted) revert RelayAlreadySubmitted(round, slot);
        _requireKeyWindow(rs, round, slot, COURIER_KEY_QUARTERS);

        emit KeyRequested(round, slot, msg.sender);
    }

    /// @inheritdoc IRelayLearning
    function submit(
        uint256 round,
        uint256 slot,
        bytes32 weightsHash,
        string calldata cid,
        bytes[] calldata envelopes
    ) external {
        RoundState storage rs = _requirePhase(round, Phase.Training);
        Slot storage s = _slot(round, slot);
        if (s.trainer != msg.sender) revert RelayNotSlotTrainer(round, slot, msg.sender);
        if (!s.delivered && !s.couriered) revert RelayKeyNotDelivered(round, slot);
        if (s.submitted) revert RelayAlreadySubmitted(round, slot);
        if (weightsHash == bytes32(0)) revert RelayZeroHash();
        _requireChanged(round, slot, s.parentId, weightsHash);
        _checkCid(cid);
        uint256 evaluatorCount = _seatCounts[round];
        if (envelopes.length != evaluatorCount) revert RelayEnvelopeCount(envelopes.length, evaluatorCount);
        for (uint256 i = 0; i < envelopes.length; ++i) {
            _checkEnvelope(envelopes[i]);
        }

        s.submitted = true;
        s.weightsHash = weightsHash;
        rs.submittedCount += 1;
        emit ModelSubmitted(round, slot, msg.sender, weightsHash, cid, envelopes);
        _advanceWhileDone(round);
    }

    /// @inheritdoc IRelayLearning
    function closeTraining() external {
        uint256 round = _round;
        RoundState storage rs = _requirePhase(round, Phase.Training);
        _requireClosable(rs, rs.submittedCount == rs.slotCount);
        _startPhase(round, Phase.Committing);
        _advanceWhileDone(round);
    }

    /// @inheritdoc IRelayLearning
    function reclaimUndelivered(uint256 round, uint256 slot) external {
        if (round > _round) revert RelayWrongRound(_round, round);
        Phase phase = _rounds[round].phase;
        if (phase == Phase.Bidding || phase == Phase.Training) revert RelayWrongPhase(Phase.Committing, phase);
        Slot storage s = _slot(round, slot);
        if (s.trainer != msg.sender) revert RelayNotSlotTrainer(round, slot, msg.sender);
        if (s.delivered) revert RelayKeyAlreadyDelivered(round, slot);
        if (s.submitted) revert RelayAlreadySubmitted(round, slot);
        if (s.reclaimed) revert RelayAlreadyReclaimed(round, slot);

        s.reclaimed = true;
        uint256 amount = uint256(s.bid) + s.price;
        emit UndeliveredReclaimed(round, slot, msg.sender, amount);
        _release(msg.sender, amount);
    }

    /// @inheritdoc IRelayLearning
    function commit(uint256 round, bytes32 commitment) external {
        RoundState storage rs = _requirePhase(round, Phase.Committing);
        EvaluatorRecord storage record = _evaluatorRecord(round, msg.sender);
        if (record.committed) revert RelayAlreadyCommitted(round, msg.sender);
        if (commitment == bytes32(0)) revert RelayZeroHash();

        record.committed = true;
        record.commitment = commitment;
        rs.committedCount += 1;
        emit ScoresCommitted(round, msg.sender, commitment);
        _advanceWhileDone(round);
    }

    /// @inheritdoc IRelayLearning
    function closeCommit() external {
        uint256 round = _round;
        RoundState storage rs = _requirePhase(round, Phase.Committing);
        _requireClosable(rs, rs.committedCount == _seatCounts[round]);
        _startPhase(round, Phase.Revealing);
    }

    /// @inheritdoc IRelayLearning
    function reveal(uint256 round, uint256[] calldata scores, bytes32 salt) external {
        RoundState storage rs = _requirePhase(round, Phase.Revealing);
        EvaluatorRecord storage record = _evaluatorRecord(round, msg.sender);
        if (!record.committed) revert RelayNotCommitted(round, msg.sender);
        if (record.revealed) revert RelayAlreadyRevealed(round, msg.sender);
        if (scores.length != rs.slotCount) revert RelayScoresLength(scores.length, rs.slotCount);
        if (_commitment(round, msg.sender, scores, salt) != record.commitment) {
            revert RelayRevealMismatch(round, msg.sender);
        }

        uint32[] storage stored = _scores[round][msg.sender];
        for (uint256 i = 0; i < scores.length; ++i) {
            if (scores[i] > SCORE_SCALE) revert RelayScoreTooLarge(i, scores[i], SCORE_SCALE);
            stored.push(uint32(scores[i]));
        }
        record.revealed = true;
        rs.revealedCount += 1;
        emit ScoresRevealed(round, msg.sender, scores);
    }

    /// @inheritdoc IRelayLearning
    function settle() external {
        uint256 round = _round;
        RoundState storage rs = _requirePhase(round, Phase.Revealing);
        _requireClosable(rs, rs.revealedCount == rs.committedCount);

        address[] memory evaluators = _seatedEvaluators(round);
        uint256[][] memory revealed = _loadRevealedScores(round, evaluators);
        (uint256[] memory medians, bool[] memory scored, uint256 scoredCount) =
            _settleUnscoredSlots(round, revealed);
        uint256[] memory acceptedSlots = _selectAndPay(round, rs.seed, medians, scored, scoredCount);
        _settleEvaluators(round, evaluators, revealed, medians, scored, rs.submittedCount > 0);

        bool carriedOver = acceptedSlots.length == 0;
        uint256 nextParentLayer = rs.parentLayer;
        uint256 nextModelLayer = rs.modelLayer;
        uint256 stalled;
        if (!carriedOver) {
            nextParentLayer = _appendLayer(round, rs.parentLayer, rs.modelLayer, acceptedSlots, medians);
            nextModelLayer = nextParentLayer;
        } else if (_params.fallbackRounds > 0) {
            // A round counts when trainers bid and every submission could be judged: a
            // round short of evaluators (NoQuorum) says nothing about the frontier.
            bool counts = _bids[round].length > 0 && rs.submittedCount == scoredCount;
            stalled = rs.stalledRounds + (counts ? 1 : 0);
            if (stalled >= _params.fallbackRounds) {
                if (nextModelLayer == 0) {
                    stalled = _params.fallbackRounds; // the genesis: nothing to fall back to
                } else {
                    (nextParentLayer, nextModelLayer) = _fallBack(round, nextParentLayer, nextModelLayer);
                    stalled = 0;
                }
            }
        }
        rs.phase = Phase.Settled;
        emit RoundSettled(round, acceptedSlots.length, scoredCount, carriedOver);

        uint256 next = round + 1;
        _round = next;
        RoundState storage ns = _rounds[next];
        ns.parentLayer = uint32(nextParentLayer);
        ns.modelLayer = uint32(nextModelLayer);
        ns.stalledRounds = uint16(stalled);
        _startPhase(next, Phase.Bidding);
    }

    /// @inheritdoc IRelayLearning
    function claim(uint256 modelId, uint256 maxLayers) external virtual returns (uint256 units) {
        if (modelId >= _models.length) revert RelayUnknownModel(modelId);
        if (maxLayers == 0) revert RelayZeroAmount();
        ModelRecord storage m = _models[modelId];
        (uint256 found, uint256 layer, uint256 lo, uint256 hi, bool ended) = _scanLineage(m, maxLayers);
        if (found == 0) revert RelayNothingToClaim(modelId);

        m.claimLayer = uint32(layer);
        m.claimLo = uint8(lo);
        m.claimHi = uint8(hi);
        m.lineageEnded = ended;
        m.claimedUnits += uint96(found);
        uint256 amount = found * _params.lineageReward;
        address creator = _creatorOf(modelId);
        emit LineageClaimed(modelId, creator, found, amount);
        _mintCredit(creator, amount);
        return found;
    }

    /// @inheritdoc IRelayLearning
    function withdraw(uint256 amount) external {
        if (amount == 0) revert RelayZeroAmount();
        uint256 credit = _accounts[msg.sender].credit;
        if (amount > credit) revert RelayInsufficientCredit(msg.sender, credit, amount);
        unchecked {
            // amount <= credit <= _totalCredited (the sum of all credits).
            _accounts[msg.sender].credit = uint248(credit - amount);
            _totalCredited -= amount;
        }
        emit Withdrawn(msg.sender, amount);
        bool sent = _token.transfer(msg.sender, amount);
        assert(sent); // OpenZeppelin's ERC20 reverts on failure rather than returning false.
    }

    // ------------------------------------------------------------------ VIEWS

    /// @inheritdoc IRelayLearning
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IRelayLearning
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @inheritdoc IRelayLearning
    function taskSpecCid() external view returns (string memory) {
        return _taskSpecCid;
    }

    /// @inheritdoc IRelayLearning
    function currentRound() external view returns (uint256) {
        return _round;
    }

    /// @inheritdoc IRelayLearning
    function roundInfo(uint256 round) external view returns (RoundView memory info) {
        if (round > _round) revert RelayWrongRound(_round, round);
        RoundState storage rs = _rounds[round];
        info.phase = rs.phase;
        info.phaseStart = rs.phaseStart;
        info.deadline = rs.phase == Phase.Settled ? rs.phaseStart : rs.phaseStart + _duration(rs.phase);
        info.parentLayer = rs.parentLayer;
        info.seed = rs.seed;
        info.bidCount = _bids[round].length;
        info.offerCount = _offers[round].length;
        info.evaluatorCount = _seatCounts[round] == 0 ? _evaluators[round].length : _seatCounts[round];
        info.slotCount = rs.slotCount;
        info.submittedCount = rs.submittedCount;
        info.committedCount = rs.committedCount;
        info.revealedCount = rs.revealedCount;
        info.seedBlock = rs.seedBlock;
        info.stalledRounds = rs.stalledRounds;
        uint256 window = _params.trainingDuration;
        if (rs.phase == Phase.Training && window > 0) {
            info.keyDeadline = rs.phaseStart + window * OWNER_KEY_QUARTERS / 4;
            info.courierDeadline = rs.phaseStart + window * COURIER_KEY_QUARTERS / 4;
        }
    }

    /// @inheritdoc IRelayLearning
    function bidsOf(uint256 round) external view returns (Bid[] memory) {
        return _bids[round];
    }

    /// @inheritdoc IRelayLearning
    function offersOf(uint256 round) external view returns (Offer[] memory) {
        return _offers[round];
    }

    /// @inheritdoc IRelayLearning
    function evaluatorsOf(uint256 round) external view returns (address[] memory) {
        if (_seatCounts[round] == 0) return _evaluators[round]; // bidding, or nobody staked
        return _seatedEvaluators(round);
    }

    /// @inheritdoc IRelayLearning
    function slotOf(uint256 round, uint256 slot) external view returns (Slot memory) {
        return _slot(round, slot);
    }

    /// @inheritdoc IRelayLearning
    function trainerSlot(uint256 round, address trainer) external view returns (bool found, uint256 slot) {
        uint256 slotPlusOne = _trainerSlots[round][trainer];
        if (slotPlusOne == 0) return (false, 0);
        return (true, slotPlusOne - 1);
    }

    /// @inheritdoc IRelayLearning
    function evaluatorState(uint256 round, address evaluator)
        external
        view
        returns (bool staked, bool committed, bool revealed, bytes32 commitment)
    {
        EvaluatorRecord storage record = _evaluatorRecords[round][evaluator];
        return (record.indexPlusOne != 0, record.committed, record.revealed, record.commitment);
    }

    /// @inheritdoc IRelayLearning
    function revealedScores(uint256 round, address evaluator) external view returns (uint256[] memory scores) {
        uint32[] storage stored = _scores[round][evaluator];
        scores = new uint256[](stored.length);
        for (uint256 i = 0; i < stored.length; ++i) {
            scores[i] = stored[i];
        }
    }

    /// @inheritdoc IRelayLearning
    function commitmentFor(uint256 round, address evaluator, uint256[] calldata scores, bytes32 salt)
        external
        view
        returns (bytes32)
    {
        return _commitment(round, evaluator, scores, salt);
    }

    /// @inheritdoc IRelayLearning
    function modelCount() external view returns (uint256) {
        return _models.length;
    }

    /// @inheritdoc IRelayLearning
    function modelOf(uint256 modelId) external view returns (Model memory) {
        if (modelId >= _models.length) revert RelayUnknownModel(modelId);
        ModelRecord storage m = _models[modelId];
        return Model({
            parentId: modelId == 0 ? 0 : _slots[m.round][m.slot].parentId,
            layer: m.layer,
            index: m.index,
            round: m.round,
            creator: _creatorOf(modelId),
            slot: m.slot,
            score: m.score,
            weightsHash: _weightsHashOf(modelId),
            claimLayer: m.claimLayer,
            claimLo: m.claimLo,
            claimHi: m.claimHi,
            lineageEnded: m.lineageEnded,
            claimedUnits: m.claimedUnits
        });
    }

    /// @inheritdoc IRelayLearning
    function genesisCid() external view returns (string memory) {
        return _genesisCid;
    }

    /// @inheritdoc IRelayLearning
    function currentModelOf(address account) external view returns (bool found, uint256 modelId) {
        uint256 idPlusOne = _ownerModels[_rounds[_round].modelLayer][account];
        if (idPlusOne == 0) return (false, 0);
        return (true, idPlusOne - 1);
    }

    /// @inheritdoc IRelayLearning
    function layerCount() external view returns (uint256) {
        return _layerCount;
    }

    /// @inheritdoc IRelayLearning
    function layerOf(uint256 layer) external view returns (uint256[] memory modelIds) {
        LayerRange memory range = _layers[_modelLayer(layer)];
        modelIds = new uint256[](range.count);
        for (uint256 i = 0; i < range.count; ++i) {
            modelIds[i] = range.firstId + i;
        }
    }

    /// @inheritdoc IRelayLearning
    function childStartOf(uint256 layer) external view returns (uint256[] memory prefix) {
        uint32[] storage stored = _childStart[layer];
        prefix = new uint256[](stored.length);
        for (uint256 i = 0; i < stored.length; ++i) {
            prefix[i] = stored[i];
        }
    }

    /// @inheritdoc IRelayLearning
    function claimable(uint256 modelId, uint256 maxLayers)
        external
        view
        virtual
        returns (uint256 units, bool complete)
    {
        if (modelId >= _models.length) revert RelayUnknownModel(modelId);
        (uint256 found, uint256 layer,,, bool ended) = _scanLineage(_models[modelId], maxLayers);
        return (found, ended || layer + 1 >= _layerCount);
    }

    /// @inheritdoc IRelayLearning
    function creditOf(address account) external view returns (uint256) {
        return _accounts[account].credit;
    }

    /// @inheritdoc IRelayLearning
    function publicKeyOf(address account) external view returns (bytes32) {
        return _publicKeys[account];
    }

    /// @inheritdoc IRelayLearning
    function totalLocked() external view returns (uint256) {
        return _totalLocked;
    }

    /// @inheritdoc IRelayLearning
    function totalCredited() external view returns (uint256) {
        return _totalCredited;
    }

    // ------------------------------------------------------- ROUND MECHANICS

    /// @dev Seats maxEvaluators of the pool by lot with the round's seed: a partial
    /// Fisher-Yates shuffle in place, so the first `_seatCounts[round]` entries are the drawn
    /// evaluators in envelope order. O(seats) whatever the pool's size; the stakers left
    /// out take their stakes back with reclaimStake.
    function _drawEvaluators(uint256 round, bytes32 seed) internal {
        address[] storage pool = _evaluators[round];
        uint256 poolSize = pool.length;
        uint256 seats = _params.maxEvaluators;
        if (poolSize > seats) {
            mapping(address => EvaluatorRecord) storage records = _evaluatorRecords[round];
            for (uint256 i = 0; i < seats; ++i) {
                uint256 j = i + uint256(keccak256(abi.encode(seed, "evaluator", i))) % (poolSize - i);
                (address seated, address moved) = (pool[j], pool[i]);
                (pool[i], pool[j]) = (seated, moved);
                records[seated].indexPlusOne = uint32(i + 1);
                records[moved].indexPlusOne = uint32(j + 1);
            }
        } else {
            seats = poolSize;
        }
        _seatCounts[round] = seats;
        emit EvaluatorsDrawn(round, poolSize, seats);
    }

    /// @dev The round's drawn evaluators, in envelope order.
    function _seatedEvaluators(uint256 round) internal view returns (address[] memory seated) {
        address[] storage pool = _evaluators[round];
        seated = new address[](_seatCounts[round]);
        for (uint256 i = 0; i < seated.length; ++i) {
            seated[i] = pool[i];
        }
    }

    /// @dev Matches bids to offers: offers by parent-model score, bids by amount, both
    /// best first with seeded ties; k trainers per offer. Refunds unmatched bids and
    /// unused offer slots. Returns the number of slots.
    function _match(uint256 round, bytes32 seed) internal virtual returns (uint256 slotCount) {
        Offer[] memory offers = _offers[round];
        Bid[] memory bids = _bids[round];
        uint256[] memory offerOrder = _orderOffers(offers, seed);
        uint256[] memory bidOrder = _orderBids(bids, seed);
        uint256 k = _params.k;

        uint256 nextBid = 0;
        for (uint256 o = 0; o < offerOrder.length; ++o) {
            Offer memory chosen = offers[offerOrder[o]];
            uint256 served = 0;
            while (served < k && nextBid < bids.length) {
                _openSlot(round, bids[bidOrder[nextBid]], chosen);
                ++served;
                ++nextBid;
            }
            _release(_creatorOf(chosen.modelId), (k - served) * chosen.price);
        }
        for (; nextBid < bids.length; ++nextBid) {
            Bid memory unmatched = bids[bidOrder[nextBid]];
            _release(unmatched.trainer, unmatched.amount);
        }
        slotCount = _slots[round].length;
        _rounds[round].slotCount = uint32(slotCount);
    }

    /// @dev Opens a slot: `taken`'s trainer will train `chosen`'s model.
    function _openSlot(uint256 round, Bid memory taken, Offer memory chosen) internal {
        Slot[] storage slots = _slots[round];
        Slot storage s = slots.push();
        s.trainer = taken.trainer;
        s.parentId = chosen.modelId;
        s.bid = taken.amount;
        s.price = chosen.price;
        uint256 slot = slots.length - 1;
        _trainerSlots[round][taken.trainer] = slot + 1;
        emit TrainerMatched(round, slot, taken.trainer, chosen.modelId, taken.amount, chosen.price);
    }

    function _orderOffers(Offer[] memory offers, bytes32 seed) internal view returns (uint256[] memory) {
        uint256[] memory primary = new uint256[](offers.length);
        uint256[] memory tie = new uint256[](offers.length);
        for (uint256 i = 0; i < offers.length; ++i) {
            primary[i] = _models[offers[i].modelId].score;
            tie[i] = uint256(keccak256(abi.encode(seed, "offer", offers[i].modelId)));
        }
        return primary.orderDescending(tie);
    }

    function _orderBids(Bid[] memory bids, bytes32 seed) internal pure returns (uint256[] memory) {
        uint256[] memory primary = new uint256[](bids.length);
        uint256[] memory tie = new uint256[](bids.length);
        for (uint256 i = 0; i < bids.length; ++i) {
            primary[i] = bids[i].amount;
            tie[i] = uint256(keccak256(abi.encode(seed, "bid", bids[i].trainer)));
        }
        return primary.orderDescending(tie);
    }

    /// @dev Copies each evaluator's revealed scores to memory (empty when it did not reveal).
    function _loadRevealedScores(uint256 round, address[] memory evaluators)
        internal
        view
        returns (uint256[][] memory revealed)
    {
        revealed = new uint256[][](evaluators.length);
        for (uint256 e = 0; e < evaluators.length; ++e) {
            uint32[] storage stored = _scores[round][evaluators[e]];
            uint256[] memory copy = new uint256[](stored.length);
            for (uint256 i = 0; i < stored.length; ++i) {
                copy[i] = stored[i];
            }
            revealed[e] = copy;
        }
    }

    /// @dev Settles the slots that cannot be ranked (undelivered, not submitted, no
    /// quorum) and returns the medians of the others.
    function _settleUnscoredSlots(uint256 round, uint256[][] memory revealed)
        internal
        returns (uint256[] memory medians, bool[] memory scored, uint256 scoredCount)
    {
        Slot[] storage slots = _slots[round];
        uint256 n = slots.length;
        medians = new uint256[](n);
        scored = new bool[](n);
        uint256[] memory values = new uint256[](revealed.length);
        for (uint256 i = 0; i < n; ++i) {
            Slot storage s = slots[i];
            address owner = _creatorOf(s.parentId);
            if (!s.delivered && !s.submitted) {
                // The MO never delivered: the trainer gets its bid and the MO's slot deposit.
                if (!s.reclaimed) {
                    s.reclaimed = true;
                    _release(s.trainer, uint256(s.bid) + s.price);
                }
                emit SlotSettled(round, i, SlotOutcome.Undelivered, 0);
            } else if (!s.submitted) {
                // The trainer got the key and never submitted: its bid is forfeited.
                _forfeit(round, s.trainer, s.bid);
                _release(owner, s.price);
                emit SlotSettled(round, i, SlotOutcome.NotSubmitted, 0);
            } else {
                uint256 count = 0;
                for (uint256 e = 0; e < revealed.length; ++e) {
                    if (revealed[e].length != 0) values[count++] = revealed[e][i];
                }
                if (count < _params.quorum) {
                    // Not the trainer's fault: both deposits go back.
                    _release(s.trainer, s.bid);
                    _settlePrice(round, s, owner, true);
                    emit SlotSettled(round, i, SlotOutcome.NoQuorum, 0);
                } else {
                    medians[i] = values.median(count);
                    scored[i] = true;
                    ++scoredCount;
                }
            }
        }
    }

    /// @dev Ranks the scored slots, accepts those of the top floor(s * n) (at least one)
    /// whose median clears their floor ({_floorOf}), refunds their deposits and forfeits
    /// the others'. Returns the accepted slots, best first.
    function _selectAndPay(
        uint256 round,
        bytes32 seed,
        uint256[] memory medians,
        bool[] memory scored,
        uint256 scoredCount
    ) internal returns (uint256[] memory acceptedSlots) {
        uint256[] memory ranked = _rankScored(seed, medians, scored, scoredCount);
        uint256 acceptCount = scoredCount * _params.selectionPermille / 1000;
        if (acceptCount == 0 && scoredCount > 0) acceptCount = 1;

        // In the top fraction and at or above the floor: garbage (scored 0 by evaluators
        // who cannot open it) is never accepted, so it earns no lineage.
        bool[] memory accepted = new bool[](scoredCount);
        uint256 acceptedCount = 0;
        for (uint256 r = 0; r < acceptCount; ++r) {
            if (medians[ranked[r]] >= _floorOf(round, ranked[r])) {
                accepted[r] = true;
                ++acceptedCount;
            }
        }
        acceptedSlots = new uint256[](acceptedCount);
        uint256 next = 0;
        for (uint256 r = 0; r < scoredCount; ++r) {
            if (accepted[r]) acceptedSlots[next++] = ranked[r];
            _payRanked(round, ranked[r], accepted[r], medians[ranked[r]]);
        }
    }

    /// @dev The lowest median at which `slot`'s model may be accepted: the task's floor,
    /// or its parent's score less the margin if that is higher (genesis scores 0).
    function _floorOf(uint256 round, uint256 slot) internal view virtual returns (uint256) {
        uint256 parentScore = _models[_slots[round][slot].parentId].score;
        uint256 margin = _params.floorMargin;
        uint256 relative = parentScore > margin ? parentScore - margin : 0;
        uint256 absolute = _params.scoreFloor;
        return relative > absolute ? relative : absolute;
    }

    /// @dev Slot indices of the scored slots, best median first, seeded ties.
    function _rankScored(bytes32 seed, uint256[] memory medians, bool[] memory scored, uint256 scoredCount)
        internal
        pure
        returns (uint256[] memory ranked)
    {
        uint256[] memory candidates = new uint256[](scoredCount);
        uint256[] memory primary = new uint256[](scoredCount);
        uint256[] memory tie = new uint256[](scoredCount);
        uint256 c = 0;
        for (uint256 i = 0; i < medians.length; ++i) {
            if (!scored[i]) continue;
            candidates[c] = i;
            primary[c] = medians[i];
            tie[c] = uint256(keccak256(abi.encode(seed, "slot", i)));
            ++c;
        }
        uint256[] memory order = primary.orderDescending(tie);
        ranked = new uint256[](scoredCount);
        for (uint256 r = 0; r < scoredCount; ++r) {
            ranked[r] = candidates[order[r]];
        }
    }

    /// @dev Refunds an accepted slot's deposits, or forfeits a rejected one's.
    function _payRanked(uint256 round, uint256 slot, bool accepted, uint256 median) internal {
        Slot storage s = _slots[round][slot];
        address owner = _creatorOf(s.parentId);
        if (accepted) _release(s.trainer, s.bid);
        else _forfeit(round, s.trainer, s.bid);
        _settlePrice(round, s, owner, accepted);
        emit SlotSettled(round, slot, accepted ? SlotOutcome.Accepted : SlotOutcome.Rejected, median);
    }

    /// @dev Returns the MO's deposit for a submitted slot (`returned`) or burns it. An
    /// MO that never delivered the key (a courier did) pays it to the trainer instead,
    /// whatever the outcome: the remedy it would owe had nobody delivered.
    function _settlePrice(uint256 round, Slot storage s, address owner, bool returned) internal {
        if (!s.delivered) _release(s.trainer, s.price);
        else if (returned) _release(owner, s.price);
        else _forfeit(round, owner, s.price);
    }

    /// @dev Returns stakes, pays agreeing scores, and penalizes evaluators that did not
    /// reveal when there was something to score.
    function _settleEvaluators(
        uint256 round,
        address[] memory evaluators,
        uint256[][] memory revealed,
        uint256[] memory medians,
        bool[] memory scored,
        bool anySubmitted
    ) internal {
        uint256 stake = _params.evaluatorStake;
        uint256 tolerance = _params.scoreTolerance;
        for (uint256 e = 0; e < evaluators.length; ++e) {
            uint256 agreed = 0;
            uint256 penalty = 0;
            if (revealed[e].length != 0) {
                for (uint256 i = 0; i < medians.length; ++i) {
                    if (!scored[i]) continue;
                    uint256 score = revealed[e][i];
                    uint256 distance = score > medians[i] ? score - medians[i] : medians[i] - score;
                    if (distance <= tolerance) ++agreed;
                }
            } else if (anySubmitted) {
                penalty = stake * _params.evaluatorPenaltyPermille / 1000;
            }
            uint256 reward = agreed * _params.evaluatorReward;
            emit EvaluatorSettled(round, evaluators[e], agreed, reward, penalty);
            _forfeit(round, evaluators[e], penalty);
            _release(evaluators[e], stake - penalty);
            _mintCredit(evaluators[e], reward);
        }
    }

    /// @dev Appends the accepted models as a new lineage layer, grouped by parent in
    /// the parent layer's order, and records the parent layer's childStart prefix array.
    function _appendLayer(
        uint256 round,
        uint256 parentLayer,
        uint256 modelLayer,
        uint256[] memory acceptedSlots,
        uint256[] memory medians
    ) internal virtual returns (uint256 layer) {
        Slot[] storage slots = _slots[round];
        uint256 parentCount = _layers[modelLayer].count;
        uint256[] memory start = new uint256[](parentCount + 1);
        for (uint256 a = 0; a < acceptedSlots.length; ++a) {
            ++start[_models[slots[acceptedSlots[a]].parentId].index + 1];
        }
        uint32[] storage childStart = _childStart[parentLayer];
        childStart.push(0);
        for (uint256 p = 1; p <= parentCount; ++p) {
            start[p] += start[p - 1];
            childStart.push(uint32(start[p]));
        }
        // Counting sort: within one parent, children keep their rank order.
        uint256[] memory ordered = new uint256[](acceptedSlots.length);
        for (uint256 a = 0; a < acceptedSlots.length; ++a) {
            uint256 parentIndex = _models[slots[acceptedSlots[a]].parentId].index;
            ordered[start[parentIndex]++] = acceptedSlots[a];
        }

        layer = _layerCount;
        _layerCount = layer + 1;
        _layers[layer] = LayerRange({firstId: uint128(_models.length), count: uint128(ordered.length)});
        for (uint256 position = 0; position < ordered.length; ++position) {
            _createModel(round, layer, position, ordered[position], medians[ordered[position]]);
        }
    }

    /// @dev Appends a layer that offers again the models of the parent layer of
    /// `frontier`'s models (those of layer `own` > 0), and returns it with that source.
    /// `frontier` gets no childStart: the scan of lineage ends there.
    function _fallBack(uint256 round, uint256 frontier, uint256 own)
        internal
        virtual
        returns (uint256 layer, uint256 source)
    {
        source = _modelLayer(own - 1);
        layer = _layerCount;
        _layerCount = layer + 1;
        _layerSources[layer] = source + 1;
        emit RelayFellBack(round, frontier, source, layer);
    }

    /// @dev Who made model `modelId`: its slot's trainer (the genesis owner for 0).
    function _creatorOf(uint256 modelId) internal view returns (address) {
        if (modelId == 0) return _genesisOwner;
        ModelRecord storage m = _models[modelId];
        return _slots[m.round][m.slot].trainer;
    }

    /// @dev sha256 of model `modelId`'s plain weights: its slot's submission (genesis: the deployed hash).
    function _weightsHashOf(uint256 modelId) internal view returns (bytes32) {
        if (modelId == 0) return _genesisHash;
        ModelRecord storage m = _models[modelId];
        return _slots[m.round][m.slot].weightsHash;
    }

    /// @dev The layer whose models `layer` holds: itself, or the source of a fallback.
    function _modelLayer(uint256 layer) internal view returns (uint256) {
        uint256 sourcePlusOne = _layerSources[layer];
        return sourcePlusOne == 0 ? layer : sourcePlusOne - 1;
    }

    /// @dev Stores the model of `slot` at `position` of `layer`; its creator becomes an
    /// owner of the next round.
    function _createModel(uint256 round, uint256 layer, uint256 position, uint256 slot, uint256 score) internal {
        Slot storage s = _slots[round][slot];
        uint256 modelId = _models.length;
        _models.push(
            ModelRecord({
                round: uint32(round),
                layer: uint32(layer),
                claimLayer: uint32(layer),
                score: uint24(score),
                slot: uint8(slot),
                index: uint8(position),
                claimLo: uint8(position),
                claimHi: uint8(position + 1),
                lineageEnded: false,
                claimedUnits: 0
            })
        );
        _ownerModels[layer][s.trainer] = modelId + 1;
        _accounts[s.trainer].createdModel = true;
        emit ModelAccepted(round, modelId, s.parentId, s.trainer, slot, score, layer);
    }

    /// @dev Walks a model's descendant interval down at most `maxLayers` layers from
    /// where its last claim stopped. O(1) per layer: the next interval is
    /// [childStart[lo], childStart[hi]) of the current layer.
    function _scanLineage(ModelRecord storage m, uint256 maxLayers)
        internal
        view
        returns (uint256 units, uint256 layer, uint256 lo, uint256 hi, bool ended)
    {
        layer = m.claimLayer;
        lo = m.claimLo;
        hi = m.claimHi;
        ended = m.lineageEnded;
        uint256 last = _layerCount - 1;
        for (uint256 step = 0; step < maxLayers && !ended && layer < last; ++step) {
            uint32[] storage childStart = _childStart[layer];
            if (childStart.length == 0) return (units, layer, lo, hi, true); // fell back from `layer`
            lo = childStart[lo];
            hi = childStart[hi];
            units += hi - lo;
            ++layer;
            ended = lo == hi;
        }
    }

    /// @dev Moves through phases whose expected participants have all acted.
    function _advanceWhileDone(uint256 round) internal {
        RoundState storage rs = _rounds[round];
        while (true) {
            if (rs.phase == Phase.Training && rs.submittedCount == rs.slotCount) {
                _startPhase(round, Phase.Committing);
            } else if (
                rs.phase == Phase.Committing
                    && (rs.submittedCount == 0 || rs.committedCount == _seatCounts[round])
            ) {
                _startPhase(round, Phase.Revealing);
            } else {
                return;
            }
        }
    }

    function _startPhase(uint256 round, Phase phase) internal {
        RoundState storage rs = _rounds[round];
        rs.phase = phase;
        rs.phaseStart = uint64(block.timestamp);
        emit PhaseStarted(round, phase, block.timestamp + _duration(phase));
    }

    function _duration(Phase phase) internal view returns (uint256) {
        if (phase == Phase.Bidding) return _params.biddingDuration;
        if (phase == Phase.Training) return _params.trainingDuration;
        if (phase == Phase.Committing) return _params.commitDuration;
        if (phase == Phase.Revealing) return _params.revealDuration;
        return 0;
    }

    // ----------------------------------------------------------------- CHECKS

    function _requirePhase(uint256 round, Phase phase) internal view returns (RoundState storage rs) {
        if (round != _round) revert RelayWrongRound(_round, round);
        rs = _rounds[round];
        if (rs.phase != phase) revert RelayWrongPhase(phase, rs.phase);
    }

    /// @dev The round's Bidding phase, not yet locked by a first closeBidding.
    function _requireOpenBidding(uint256 round) internal view returns (RoundState storage rs) {
        rs = _requirePhase(round, Phase.Bidding);
        if (rs.seedBlock != 0) revert RelayBiddingLocked(round, rs.seedBlock);
    }

    function _requireClosable(RoundState storage rs, bool everyoneActed) internal view {
        uint256 deadline = rs.phaseStart + _duration(rs.phase);
        if (!everyoneActed && block.timestamp < deadline) revert RelayPhaseNotOver(rs.phase, deadline);
    }

    /// @dev Every accepted model's key was sealed to the drawn evaluators of the round
    /// that accepted it; genesis has no such round.
    function _requireKeyHolder(uint256 modelId, address account) internal view {
        if (modelId == 0 || !_isSeated(_models[modelId].round, account)) revert RelayNotKeyHolder(modelId, account);
    }

    /// @dev Keys may be delivered only while a trainer still has time to train: before
    /// phaseStart + trainingDuration * quarters / 4. No window when trainingDuration is 0
    /// (tests only).
    function _requireKeyWindow(RoundState storage rs, uint256 round, uint256 slot, uint256 quarters) internal view {
        uint256 window = _params.trainingDuration;
        if (window == 0) return;
        uint256 deadline = rs.phaseStart + window * quarters / 4;
        if (block.timestamp >= deadline) revert RelayKeyWindowClosed(round, slot, deadline);
    }

    /// @dev A submission must change its parent's weights (an unchanged parent earns nothing).
    function _requireChanged(uint256 round, uint256 slot, uint256 parentId, bytes32 weightsHash)
        internal
        view
        virtual
    {
        if (weightsHash == _weightsHashOf(parentId)) revert RelayUnchangedWeights(round, slot, parentId);
    }

    function _requireKey(address account) internal view {
        if (_publicKeys[account] == bytes32(0)) revert RelayKeyNotRegistered(account);
    }

    function _slot(uint256 round, uint256 slot) internal view returns (Slot storage) {
        Slot[] storage slots = _slots[round];
        if (slot >= slots.length) revert RelayUnknownSlot(round, slot, slots.length);
        return slots[slot];
    }

    /// @dev The record of one of the round's drawn evaluators.
    function _evaluatorRecord(uint256 round, address account) internal view returns (EvaluatorRecord storage record) {
        if (!_isSeated(round, account)) revert RelayNotEvaluator(round, account);
        record = _evaluatorRecords[round][account];
    }

    /// @dev Whether `account` was drawn to evaluate `round` (nobody is before the close).
    function _isSeated(uint256 round, address account) internal view returns (bool) {
        uint256 indexPlusOne = _evaluatorRecords[round][account].indexPlusOne;
        return indexPlusOne != 0 && indexPlusOne <= _seatCounts[round];
    }

    function _commitment(uint256 round, address evaluator, uint256[] calldata scores, bytes32 salt)
        internal
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(block.chainid, address(this), round, evaluator, scores, salt));
    }

    function _checkCid(string memory cid) internal pure {
        uint256 length = bytes(cid).length;
        if (length == 0) revert RelayEmptyCid();
        if (length > MAX_CID_LENGTH) revert RelayCidTooLong(length, MAX_CID_LENGTH);
    }

    function _checkEnvelope(bytes calldata envelope) internal pure {
        if (envelope.length == 0) revert RelayEmptyEnvelope();
        if (envelope.length > MAX_ENVELOPE_LENGTH) revert RelayEnvelopeTooLong(envelope.length, MAX_ENVELOPE_LENGTH);
    }

    function _validateParams(Params memory p) internal pure {
        if (p.maxTrainers == 0 || p.maxTrainers > MAX_TRAINERS_CAP) revert RelayInvalidParameter("maxTrainers");
        if (p.k == 0 || p.k > p.maxTrainers) revert RelayInvalidParameter("k");
        if (p.selectionPermille == 0 || p.selectionPermille > 1000) revert RelayInvalidParameter("selectionPermille");
        if (p.maxEvaluators == 0 || p.maxEvaluators > MAX_EVALUATORS_CAP) revert RelayInvalidParameter("maxEvaluators");
        if (uint256(p.maxTrainers) * p.maxEvaluators > MAX_SCORES_PER_ROUND) {
            revert RelayInvalidParameter("maxTrainers*maxEvaluators");
        }
        if (p.quorum == 0 || p.quorum > p.maxEvaluators) revert RelayInvalidParameter("quorum");
        if (p.evaluatorPenaltyPermille > 1000) revert RelayInvalidParameter("evaluatorPenaltyPermille");
        if (p.scoreTolerance > SCORE_SCALE) revert RelayInvalidParameter("scoreTolerance");
        if (p.evaluatorStake > MAX_AMOUNT) revert RelayInvalidParameter("evaluatorStake");
        if (p.evaluatorReward > MAX_AMOUNT) revert RelayInvalidParameter("evaluatorReward");
        if (p.lineageReward > MAX_AMOUNT) revert RelayInvalidParameter("lineageReward");
        if (p.minPrice > MAX_AMOUNT) revert RelayInvalidParameter("minPrice");
        if (p.scoreFloor > SCORE_SCALE) revert RelayInvalidParameter("scoreFloor");
        if (p.floorMargin > SCORE_SCALE) revert RelayInvalidParameter("floorMargin");
    }

    // ----------------------------------------------------------------- TOKENS

    /// @dev Locks `amount` from `account`: its credit first, then its wallet.
    function _collect(address account, uint256 amount) internal {
        if (amount == 0) return;
        uint256 credit = _accounts[account].credit;
        uint256 fromCredit = credit < amount ? credit : amount;
        if (fromCredit > 0) {
            unchecked {
                // fromCredit <= credit <= _totalCredited.
                _accounts[account].credit = uint248(credit - fromCredit);
                _totalCredited -= fromCredit;
            }
            emit CreditSpent(account, fromCredit);
        }
        _totalLocked += amount;
        uint256 fromWallet = amount - fromCredit;
        if (fromWallet > 0) {
            bool received = _token.transferFrom(account, address(this), fromWallet);
            assert(received); // OpenZeppelin's ERC20 reverts on failure.
        }
    }

    /// @dev Unlocks `amount` as `account`'s credit.
    function _release(address account, uint256 amount) internal {
        if (amount == 0) return;
        _totalLocked -= amount;
        _addCredit(account, amount);
        _totalCredited += amount;
        emit Credited(account, amount);
    }

    /// @dev Adds `amount` to `account`'s credit. The sum of all credits is at most the
    /// token's supply, so a credit above 2^248 would need a supply no mint reaches; the
    /// check costs a comparison.
    function _addCredit(address account, uint256 amount) internal {
        Account storage a = _accounts[account];
        uint256 credit = uint256(a.credit) + amount;
        if (credit > type(uint248).max) revert RelayAmountTooLarge(credit, type(uint248).max);
        a.credit = uint248(credit);
    }

    /// @dev Burns `amount` of locked tokens forfeited by `account`.
    function _forfeit(uint256 round, address account, uint256 amount) internal {
        if (amount == 0) return;
        _totalLocked -= amount;
        emit Forfeited(round, account, amount);
        _token.burn(amount);
    }

    /// @dev Mints `amount` to this contract as `account`'s credit.
    function _mintCredit(address account, uint256 amount) internal {
        if (amount == 0) return;
        _addCredit(account, amount);
        _totalCredited += amount;
        emit Credited(account, amount);
        _token.mint(address(this), amount);
    }
}
