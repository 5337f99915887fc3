// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IRelayLearning
/// @notice One DeRelayL learning task: a relay of rounds in which the owners of the
/// best models (MOs) hand them to bidding trainers, trainers submit improved models,
/// evaluators score them with commit-reveal, and settlement accepts the best fraction.
/// Every state change emits an event, so a client can follow a round from logs alone.
/// See docs/protocol.md for the rules and the lineage reward structure.
interface IRelayLearning {
    // ------------------------------------------------------------------ TYPES

    /// @notice The phases of a round, in order. `Settled` marks a finished round.
    enum Phase {
        Bidding,
        Training,
        Committing,
        Revealing,
        Settled
    }

    /// @notice How a matched slot ended at settlement.
    enum SlotOutcome {
        Accepted,
        Rejected,
        NoQuorum,
        NotSubmitted,
        Undelivered
    }

    /// @notice Parameters fixed at deployment.
    /// @param k Trainers per model owner.
    /// @param selectionPermille Fraction s of scored models accepted, in 1/1000.
    /// @param maxTrainers Bids kept per round; when full a higher bid evicts the lowest.
    /// @param maxEvaluators Evaluators per round.
    /// @param quorum Revealed scores a model needs to be ranked.
    /// @param biddingDuration Seconds (0 allowed: closable at once).
    /// @param trainingDuration Seconds (0 allowed).
    /// @param commitDuration Seconds (0 allowed).
    /// @param revealDuration Seconds (0 allowed).
    /// @param evaluatorPenaltyPermille Part of the stake burned when an evaluator does not reveal.
    /// @param evaluatorStake Tokens an evaluator locks for a round.
    /// @param evaluatorReward Tokens per model score that agrees with the median.
    /// @param lineageReward Tokens per accepted descendant, paid to each ancestor's creator.
    /// @param scoreTolerance Largest distance from the median that still agrees.
    /// @param minPrice Lowest price per trainer an owner may offer (0 allowed, for tests):
    /// what an owner that withholds its key pays each of its trainers, so that the
    /// owner's deposit always buys its trainers something.
    /// @param scoreFloor Lowest median (0..SCORE_SCALE) at which a model may be
    /// accepted, set by the task: a model nobody could open scores 0 and is never accepted.
    /// @param floorMargin A model is accepted only if its median is at least its parent's
    /// score minus this margin (and the floor); SCORE_SCALE disables the relative floor.
    /// @param fallbackRounds After this many rounds in a row that had bids, judged every
    /// submission (no NoQuorum) and accepted nothing, the relay falls back: the next round's parent layer offers again the
    /// models of the frontier's parent layer (0: never). A frontier nobody can serve
    /// or improve then stops holding the relay.
    struct Params {
        uint32 k;
        uint32 selectionPermille;
        uint32 maxTrainers;
        uint32 maxEvaluators;
        uint32 quorum;
        uint64 biddingDuration;
        uint64 trainingDuration;
        uint64 commitDuration;
        uint64 revealDuration;
        uint32 evaluatorPenaltyPermille;
        uint256 evaluatorStake;
        uint256 evaluatorReward;
        uint256 lineageReward;
        uint256 scoreTolerance;
        uint256 minPrice;
        uint256 scoreFloor;
        uint256 floorMargin;
        uint16 fallbackRounds;
    }

    /// @notice A trainer's bid (its locked deposit); one storage word.
    struct Bid {
        address trainer;
        uint96 amount;
    }

    /// @notice A model owner's offer: price paid per trainer served.
    struct Offer {
        uint64 modelId;
        uint128 price;
    }

    /// @notice A matched (MO model, trainer) pair of a round. `delivered`: the MO
    /// delivered the key; `couriered`: a key holder did (see {courierKey}). The CID of a
    /// submitted model is kept only in its {ModelSubmitted} event (the contract never
    /// reads it; the event is what every reader fetches the weights by).
    struct Slot {
        address trainer;
        uint64 parentId;
        bool delivered;
        bool submitted;
        bool reclaimed;
        bool couriered;
        uint128 bid;
        uint128 price;
        bytes32 weightsHash;
    }

    /// @notice An accepted model (id 0 is the genesis model).
    struct Model {
        uint64 parentId;
        uint64 layer;
        uint64 index;
        uint64 round;
        address creator;
        uint32 slot;
        uint32 score;
        bytes32 weightsHash;
        uint64 claimLayer;
        uint64 claimLo;
        uint64 claimHi;
        bool lineageEnded;
        uint256 claimedUnits;
    }

    /// @notice Summary of a round for clients.
    struct RoundView {
        Phase phase;
        uint256 phaseStart;
        uint256 deadline;
        uint256 parentLayer;
        bytes32 seed;
        uint256 bidCount;
        uint256 offerCount;
        uint256 evaluatorCount; // stakers while bidding, then drawn evaluators
        uint256 slotCount;
        uint256 submittedCount;
        uint256 committedCount;
        uint256 revealedCount;
        // In Training with trainingDuration > 0 (else 0: no window): the owners' keys
        // are taken before keyDeadline, couriers' keys and requestKey before courierDeadline.
        uint256 keyDeadline;
        uint256 courierDeadline;
        // The block at which Bidding was locked (0: not locked); its hash is the seed.
        uint256 seedBlock;
        // Rounds in a row before this one that had bids, no NoQuorum slot and accepted
        // nothing (see Params.fallbackRounds).
        uint256 stalledRounds;
    }

    // ----------------------------------------------------------------- ERRORS

    /// @dev A deployment parameter is out of range; `name` says which.
    error RelayInvalidParameter(string name);
    /// @dev The token's minter is not this contract.
    error RelayTokenMinterMismatch(address minter);
    /// @dev The call belongs to another phase of the round.
    error RelayWrongPhase(Phase expected, Phase actual);
    /// @dev The call names a round other than the current one.
    error RelayWrongRound(uint256 expected, uint256 given);
    /// @dev The phase cannot close yet: participants are still expected before `deadline`.
    error RelayPhaseNotOver(Phase phase, uint256 deadline);
    /// @dev The account has not registered an encryption key.
    error RelayKeyNotRegistered(address account);
    /// @dev A zero public key.
    error RelayZeroKey();
    /// @dev A zero weights hash.
    error RelayZeroHash();
    /// @dev The submitted weights are the parent model's, unchanged (a lazy trainer).
    error RelayUnchangedWeights(uint256 round, uint256 slot, uint256 parentId);
    /// @dev An empty CID.
    error RelayEmptyCid();
    /// @dev A CID longer than the maximum.
    error RelayCidTooLong(uint256 length, uint256 max);
    /// @dev An empty key envelope.
    error RelayEmptyEnvelope();
    /// @dev A key envelope longer than the maximum.
    error RelayEnvelopeTooLong(uint256 length, uint256 max);
    /// @dev A zero amount where a positive one is needed.
    error RelayZeroAmount();
    /// @dev An amount above what the contract accepts.
    error RelayAmountTooLarge(uint256 amount, uint256 max);
    /// @dev The account's credit is smaller than the amount asked for.
    error RelayInsufficientCredit(address account, uint256 credit, uint256 amount);
    /// @dev The trainer already bid in this round.
    error RelayAlreadyBid(uint256 round, address trainer);
    /// @dev A current model owner may not bid as trainer in the same round.
    error RelayOwnerCannotBid(uint256 round, address account);
    /// @dev An evaluator of the round may not bid in it.
    error RelayEvaluatorCannotBid(uint256 round, address account);
    /// @dev The round is full and the bid does not beat the lowest one.
    error RelayBidTooLow(uint256 amount, uint256 lowest);
    /// @dev The account owns no model of the current parent layer.
    error RelayNotModelOwner(uint256 round, address account);
    /// @dev The model owner already offered in this round.
    error RelayAlreadyOffered(uint256 round, uint256 modelId);
    /// @dev The account already staked as evaluator in this round.
    error RelayAlreadyEvaluator(uint256 round, address account);
    /// @dev A bidder of the round, or an account that ever created an accepted model
    /// (an ancestor of the models it would judge), may not evaluate.
    error RelayParticipantCannotEvaluate(uint256 round, address account);
    /// @dev No such slot in the round.
    error RelayUnknownSlot(uint256 round, uint256 slot, uint256 slotCount);
    /// @dev The caller does not own the slot's parent model.
    error RelayNotSlotOwner(uint256 round, uint256 slot, address account);
    /// @dev The caller is not the slot's trainer.
    error RelayNotSlotTrainer(uint256 round, uint256 slot, address account);
    /// @dev The slot's key was already delivered.
    error RelayKeyAlreadyDelivered(uint256 round, uint256 slot);
    /// @dev The slot's key has not been delivered.
    error RelayKeyNotDelivered(uint256 round, uint256 slot);
    /// @dev The caller holds no key to the model: it was not an evaluator of the round
    /// that accepted it (nobody but the owner holds the genesis key).
    error RelayNotKeyHolder(uint256 modelId, address account);
    /// @dev The model is not one of the round's parent layer (the models on offer).
    error RelayNotParentModel(uint256 round, uint256 modelId);
    /// @dev Couriers may offer a model only in a round after one with the same parent
    /// layer in which nobody offered that model (its owner may still be active).
    error RelayOwnersStillActive(uint256 round);
    /// @dev Bidding of the round was locked at block `seedBlock` (closeBidding's first
    /// step): it takes no more bids, offers or stakes.
    error RelayBiddingLocked(uint256 round, uint256 seedBlock);
    /// @dev closeBidding's second step must come in a block after the lock's (`seedBlock`),
    /// whose hash is the seed.
    error RelaySeedNotReady(uint256 round, uint256 seedBlock);
    /// @dev An owner's offer below the deployment's minimum price per trainer.
    error RelayPriceTooLow(uint256 price, uint256 minPrice);
    /// @dev The key window of the slot closed at `deadline`: an owner's key is taken in
    /// the first half of Training, a courier's key and requestKey in its first three
    /// quarters, so that every trainer keeps time to train.
    error RelayKeyWindowClosed(uint256 round, uint256 slot, uint256 deadline);
    /// @dev The slot's model was already submitted.
    error RelayAlreadySubmitted(uint256 round, uint256 slot);
    /// @dev The slot was already reclaimed.
    error RelayAlreadyReclaimed(uint256 round, uint256 slot);
    /// @dev The number of key envelopes differs from the number of evaluators.
    error RelayEnvelopeCount(uint256 given, uint256 expected);
    /// @dev The caller is not an evaluator of the round (never staked, not drawn, or
    /// already took its stake back).
    error RelayNotEvaluator(uint256 round, address account);
    /// @dev The caller was drawn to evaluate the round: its stake settles with the round.
    error RelayEvaluatorDrawn(uint256 round, address evaluator);
    /// @dev The evaluator already committed.
    error RelayAlreadyCommitted(uint256 round, address evaluator);
    /// @dev The evaluator did not commit.
    error RelayNotCommitted(uint256 round, address evaluator);
    /// @dev The evaluator already revealed.
    error RelayAlreadyRevealed(uint256 round, address evaluator);
    /// @dev The revealed scores and salt do not match the commitment.
    error RelayRevealMismatch(uint256 round, address evaluator);
    /// @dev The number of scores differs from the number of slots.
    error RelayScoresLength(uint256 given, uint256 expected);
    /// @dev A score above SCORE_SCALE.
    error RelayScoreTooLarge(uint256 index, uint256 score, uint256 max);
    /// @dev No such model.
    error RelayUnknownModel(uint256 modelId);
    /// @dev Nothing new to claim for the model.
    error RelayNothingToClaim(uint256 modelId);

    // ----------------------------------------------------------------- EVENTS

    /// @notice `account` registered (or replaced) its X25519 public key.
    event KeyRegistered(address indexed account, bytes32 publicKey);
    /// @notice A phase of `round` started; it may be closed by anyone after `deadline`.
    event PhaseStarted(uint256 indexed round, Phase phase, uint256 deadline);
    /// @notice `trainer` bid `amount` (locked) in `round`.
    event BidPlaced(uint256 indexed round, address indexed trainer, uint256 amount);
    /// @notice `trainer`'s bid was evicted by a higher bid and credited back.
    event BidEvicted(uint256 indexed round, address indexed trainer, uint256 amount);
    /// @notice The owner of `modelId` offered it at `price` per trainer (k * price locked).
    event OfferMade(uint256 indexed round, uint256 indexed modelId, address indexed owner, uint256 price);
    /// @notice `courier`, an evaluator of the round that accepted model `modelId`,
    /// offered it at price 0 in place of its owner (see {courierOffer}).
    event OfferCouriered(uint256 indexed round, uint256 indexed modelId, address indexed courier);
    /// @notice `evaluator` locked `stake` for `round`.
    event EvaluatorStaked(uint256 indexed round, address indexed evaluator, uint256 stake);
    /// @notice The close of bidding drew `seats` evaluators of `round` from `stakers`
    /// (see {evaluatorsOf}).
    event EvaluatorsDrawn(uint256 indexed round, uint256 stakers, uint256 seats);
    /// @notice `evaluator` staked but was not drawn to a seat of `round`; it took its
    /// `stake` back as credit.
    event StakeReclaimed(uint256 indexed round, address indexed evaluator, uint256 stake);
    /// @notice Bidding of `round` locked at block `seedBlock` (the first closeBidding after
    /// the deadline): no more bids, offers or stakes; the next closeBidding, in a later
    /// block, draws with that block's hash.
    event BiddingLocked(uint256 indexed round, uint256 seedBlock);
    /// @notice Bidding closed: `slotCount` slots matched; `seed` drew the evaluators and
    /// broke the ties.
    event BiddingClosed(uint256 indexed round, bytes32 seed, uint256 slotCount);
    /// @notice `trainer` was matched to the model `parentId` in `slot`.
    event TrainerMatched(
        uint256 indexed round, uint256 indexed slot, address indexed trainer, uint256 parentId, uint256 bid, uint256 price
    );
    /// @notice The MO delivered the parent model's key, sealed to `trainer`.
    event KeyDelivered(uint256 indexed round, uint256 indexed slot, address indexed trainer, bytes envelope);
    /// @notice `courier`, an evaluator of the round that accepted the parent model,
    /// delivered the parent model's key, sealed to `trainer`, in place of the MO.
    event KeyCouriered(
        uint256 indexed round, uint256 indexed slot, address indexed trainer, address courier, bytes envelope
    );
    /// @notice `trainer` asks the key holders of its parent model to courier the key:
    /// none delivered so far opens the model (see {requestKey}).
    event KeyRequested(uint256 indexed round, uint256 indexed slot, address indexed trainer);
    /// @notice `trainer` submitted a model: sha256 of its plain weights, its CID, and its
    /// key sealed to each evaluator of the round (in `evaluators(round)` order). The only
    /// record of the CID: a model accepted from (round, slot) is fetched by this event's.
    event ModelSubmitted(
        uint256 indexed round,
        uint256 indexed slot,
        address indexed trainer,
        bytes32 weightsHash,
        string cid,
        bytes[] envelopes
    );
    /// @notice A trainer whose key never came took back its bid plus the MO's slot deposit.
    event UndeliveredReclaimed(uint256 indexed round, uint256 indexed slot, address indexed trainer, uint256 amount);
    /// @notice `evaluator` committed to its scores.
    event ScoresCommitted(uint256 indexed round, address indexed evaluator, bytes32 commitment);
    /// @notice `evaluator` revealed its scores (one per slot).
    event ScoresRevealed(uint256 indexed round, address indexed evaluator, uint256[] scores);
    /// @notice How `slot` ended; `score` is its median (0 when not scored).
    event SlotSettled(uint256 indexed round, uint256 indexed slot, SlotOutcome outcome, uint256 score);
    /// @notice A new model joined the lineage tree.
    event ModelAccepted(
        uint256 indexed round,
        uint256 indexed modelId,
        uint256 indexed parentId,
        address creator,
        uint256 slot,
        uint256 score,
        uint256 layer
    );
    /// @notice `evaluator` was paid `reward` for `agreed` scores, or lost `penalty`.
    event EvaluatorSettled(
        uint256 indexed round, address indexed evaluator, uint256 agreed, uint256 reward, uint256 penalty
    );
    /// @notice After `round`, the `fallbackRounds`-th in a row without an accepted model,
    /// the relay fell back: the new lineage layer `layer` offers again the models of
    /// layer `source` (the parent layer of `frontier`'s models). The frontier's models
    /// get no children; their lineage ends.
    event RelayFellBack(uint256 indexed round, uint256 frontier, uint256 source, uint256 layer);
    /// @notice `round` settled; when `carriedOver`, its MOs stay MOs of the next round.
    event RoundSettled(uint256 indexed round, uint256 accepted, uint256 scored, bool carriedOver);
    /// @notice The creator of `modelId` was credited for `units` accepted descendants.
    event LineageClaimed(uint256 indexed modelId, address indexed creator, uint256 units, uint256 amount);
    /// @notice Tokens burned (forfeited deposits and penalties).
    event Forfeited(uint256 indexed round, address indexed account, uint256 amount);
    /// @notice `account`'s withdrawable credit grew by `amount`.
    event Credited(address indexed account, uint256 amount);
    /// @notice `account` spent `amount` of its credit on a deposit or stake.
    event CreditSpent(address indexed account, uint256 amount);
    /// @notice `account` withdrew `amount` tokens of its credit.
    event Withdrawn(address indexed account, uint256 amount);

    // ------------------------------------------------------------ PARTICIPATE

    /// @notice Registers the caller's X25519 public key, to which key envelopes are sealed.
    /// @dev Requirements: `publicKey` is not zero. Emits a {KeyRegistered} event.
    function registerKey(bytes32 publicKey) external;

    /// @notice Bids `amount` tokens (0 allowed) to train in `round`. Paid from credit
    /// first, then from the wallet (needs an allowance).
    /// @dev Requirements: Bidding phase of `round`; key registered; no earlier bid; the
    /// caller is neither a current MO nor an evaluator of the round; when the round is
    /// full the bid must beat the lowest, which is evicted. Emits {BidPlaced}.
    function bid(uint256 round, uint256 amount) external;

    /// @notice Offers the caller's current model to up to k trainers at `price` each;
    /// locks k * price (unused slots are refunded at matching).
    /// @dev Requirements: Bidding phase; `price` at least `minPrice`; the caller owns a
    /// model of the parent layer and has not offered it yet. Emits {OfferMade}.
    function offer(uint256 round, uint256 price) external;

    /// @notice Offers a model of the parent layer at price 0 in place of its owner, once
    /// its owner has gone away: the round before had the same parent layer and nobody
    /// offered this model in it. An owner that left then cannot stop its model's
    /// lineage, and one active owner offering every round no longer blocks couriers for
    /// the other models of its layer. Only an evaluator of the round that accepted the
    /// model may: it holds the model's key and can courier it to the trainers
    /// ({courierKey}). The owner keeps its lineage reward and may still deliver its key.
    /// @dev Requirements: Bidding phase; `modelId` is in the round's parent layer; the
    /// previous round had the same parent layer and did not offer `modelId`
    /// ({RelayOwnersStillActive} otherwise); the model is not genesis and the caller was
    /// a (drawn) evaluator of the round that accepted it; not yet offered. Locks nothing.
    /// Emits {OfferCouriered}.
    function courierOffer(uint256 round, uint256 modelId) external;

    /// @notice Locks the evaluator stake to join `round`'s evaluator pool. When bidding
    /// closes, maxEvaluators of the pool are drawn by lot to score the round; the others
    /// take their stake back with {reclaimStake}. The pool has no cap, so seats go to
    /// stake by lot, not to whoever stakes first.
    /// @dev Requirements: Bidding phase; key registered; not a bidder of the round and
    /// never the creator of an accepted model (genesis included: any later model may be
    /// its descendant, and it earns lineage rewards on it); not yet staked. Emits
    /// {EvaluatorStaked}.
    function stakeEvaluator(uint256 round) external;

    /// @notice Credits back the stake of a staker the draw of `round` left out.
    /// @dev Requirements: bidding of `round` closed; the caller staked for `round`, was
    /// not drawn and has not reclaimed yet. Emits {StakeReclaimed}.
    function reclaimStake(uint256 round) external;

    /// @notice Closes bidding in two steps. Anyone may call it once the bidding deadline
    /// has passed, and not before (a list full of free bids does not close it early).
    /// The first call locks the round at its block (no more bids, offers or stakes;
    /// {BiddingLocked}); the next call, in a later block, takes that block's hash as the
    /// seed (unknown when the lock was sent, so whoever chooses when to close cannot
    /// see the draw coming), draws the round's evaluators from the pool and matches
    /// trainers to MOs. If the lock's block is more than 256 blocks old (its hash is
    /// gone), the call locks again at the current block.
    /// @dev Emits {EvaluatorsDrawn}, {BiddingClosed}, {TrainerMatched} per slot and
    /// {PhaseStarted}. Its gas does not depend on the size of the evaluator pool.
    function closeBidding() external;

    /// @notice Delivers the parent model's key, sealed to the slot's trainer.
    /// @dev Requirements: Training phase; the caller owns the slot's parent model; not
    /// yet delivered; with trainingDuration W > 0, before phaseStart + W/2
    /// ({RelayKeyWindowClosed}), so the trainer keeps at least W/2 to train. Emits
    /// {KeyDelivered}.
    function deliverKey(uint256 round, uint256 slot, bytes calldata envelope) external;

    /// @notice Delivers the parent model's key, sealed to the slot's trainer, in place
    /// of an MO that has not, or that delivered a key that does not open the model.
    /// Every model's key was sealed to the evaluators of the round that accepted it, so
    /// they can keep the relay going when owners withhold or cheat. The trainer checks
    /// every key it receives against the model's weights hash off chain.
    /// @dev Requirements: Training phase; the caller was a (drawn) evaluator of the round
    /// that accepted the slot's parent model, which is not genesis; the trainer has not
    /// submitted; with trainingDuration W > 0, before phaseStart + 3W/4
    /// ({RelayKeyWindowClosed}). Several couriers may deliver, before or after the MO. Payment follows
    /// the MO's own delivery only: if the MO never delivered, its deposit for the slot
    /// goes to the trainer at settlement, whatever the outcome; if it delivered, a
    /// courier changes nothing. Either way the trainer may submit. Emits {KeyCouriered}.
    function courierKey(uint256 round, uint256 slot, bytes calldata envelope) external;

    /// @notice Asks the key holders of the slot's parent model to courier its key: the
    /// trainer's way out when the key its MO delivered does not open the model (the
    /// contract cannot open an envelope, so it cannot tell a garbage key from a good
    /// one). Changes no state; the SDK's evaluators answer it with {courierKey}.
    /// @dev Requirements: Training phase; the caller is the slot's trainer; not yet
    /// submitted; with trainingDuration W > 0, before phaseStart + 3W/4 (the couriers'
    /// window, {RelayKeyWindowClosed}). Emits {KeyRequested}.
    function requestKey(uint256 round, uint256 slot) external;

    /// @notice Submits the slot's trained model.
    /// @param weightsHash sha256 of the plain (unencrypted) safetensors bytes.
    /// @param cid IPFS CID of the encrypted weights: checked for length, kept only in the
    /// event.
    /// @param envelopes The model's key sealed to each evaluator, in evaluator order.
    /// @dev Requirements: Training phase; the caller is the slot's trainer; the key was
    /// delivered or couriered; not yet submitted. Emits {ModelSubmitted}; when it is the last
    /// expected submission, the Committing phase starts.
    function submit(
        uint256 round,
        uint256 slot,
        bytes32 weightsHash,
        string calldata cid,
        bytes[] calldata envelopes
    ) external;

    /// @notice Closes the Training phase after its deadline (or once all slots submitted).
    /// @dev Emits {PhaseStarted}.
    function closeTraining() external;

    /// @notice A trainer whose MO never delivered the key takes back its bid plus the
    /// MO's deposit for the slot, once the Training phase is over.
    /// @dev Requirements: the round is past Training and not settled; the caller is the
    /// slot's trainer; the key was never delivered; the trainer did not submit (with a
    /// couriered key); not yet reclaimed.
    /// Emits {UndeliveredReclaimed} and {Credited}.
    function reclaimUndelivered(uint256 round, uint256 slot) external;

    /// @notice Commits to scores: `commitment` = keccak256(abi.encode(chainid, this
    /// contract, round, evaluator, scores, salt)); see {commitmentFor}.
    /// @dev Requirements: Committing phase; staked evaluator; not yet committed.
    /// Emits {ScoresCommitted}.
    function commit(uint256 round, bytes32 commitment) external;

    /// @notice Closes the Committing phase after its deadline (or once all committed).
    /// @dev Emits {PhaseStarted}.
    function closeCommit() external;

    /// @notice Reveals the committed scores, one per slot in 0..SCORE_SCALE (the
    /// scores of slots without a submission are ignored).
    /// @dev Requirements: Revealing phase; committed; not yet revealed; matches the
    /// commitment. Emits {ScoresRevealed}.
    function reveal(uint256 round, uint256[] calldata scores, bytes32 salt) external;

    /// @notice Settles the round once all committed evaluators revealed or the reveal
    /// deadline passed: medians, selection, refunds, forfeits, evaluator rewards, new
    /// lineage layer; then starts the next round. A scored model is accepted only if it
    /// ranks in the top floor(s * n) (at least one) and its median is at least
    /// max(scoreFloor, parent's score - floorMargin); one below that floor is Rejected.
    /// When nothing is accepted in the `fallbackRounds`-th round in a row that had bids
    /// and no NoQuorum slot,
    /// the next round's parent layer is a new layer offering the models of the
    /// frontier's parent layer again (not from the genesis layer).
    /// @dev Emits {SlotSettled} per slot, {ModelAccepted} per accepted model,
    /// {EvaluatorSettled} per evaluator, {RelayFellBack} on a fallback, {RoundSettled}
    /// and {PhaseStarted}.
    function settle() external;

    /// @notice Credits the creator of `modelId` with the lineage reward for accepted
    /// descendants in up to `maxLayers` layers not yet claimed. Anyone may call it.
    /// @return units Descendants paid for by this call.
    /// @dev Requirements: the model exists; there is something to claim.
    /// Emits {LineageClaimed} and {Credited}.
    function claim(uint256 modelId, uint256 maxLayers) external returns (uint256 units);

    /// @notice Withdraws `amount` tokens of the caller's credit to its wallet.
    /// @dev Requirements: 0 < amount <= credit. Emits {Withdrawn}.
    function withdraw(uint256 amount) external;

    // ------------------------------------------------------------------ VIEWS

    /// @notice The reward token.
    function token() external view returns (address);

    /// @notice The deployment parameters.
    function params() external view returns (Params memory);

    /// @notice The CID of the task specification (architecture, data schema, metric).
    function taskSpecCid() external view returns (string memory);

    /// @notice The round being played.
    function currentRound() external view returns (uint256);

    /// @notice Summary of `round` (current or past).
    function roundInfo(uint256 round) external view returns (RoundView memory);

    /// @notice Bids of `round` (bounded by maxTrainers).
    function bidsOf(uint256 round) external view returns (Bid[] memory);

    /// @notice Offers of `round`.
    function offersOf(uint256 round) external view returns (Offer[] memory);

    /// @notice Evaluators of `round`: the pool while bidding, then the drawn evaluators
    /// in envelope order.
    function evaluatorsOf(uint256 round) external view returns (address[] memory);

    /// @notice Slot `slot` of `round`.
    function slotOf(uint256 round, uint256 slot) external view returns (Slot memory);

    /// @notice The slot `trainer` holds in `round` (`found` false when none).
    function trainerSlot(uint256 round, address trainer) external view returns (bool found, uint256 slot);

    /// @notice An evaluator's state in `round`.
    function evaluatorState(uint256 round, address evaluator)
        external
        view
        returns (bool staked, bool committed, bool revealed, bytes32 commitment);

    /// @notice The scores `evaluator` revealed in `round` (empty when none).
    function revealedScores(uint256 round, address evaluator) external view returns (uint256[] memory);

    /// @notice The commitment an evaluator must send for `scores` and `salt`.
    function commitmentFor(uint256 round, address evaluator, uint256[] calldata scores, bytes32 salt)
        external
        view
        returns (bytes32);

    /// @notice Number of models (accepted ones plus genesis).
    function modelCount() external view returns (uint256);

    /// @notice Model `modelId`.
    function modelOf(uint256 modelId) external view returns (Model memory);

    /// @notice The CID of the genesis model's weights (model 0). Every other model's CID
    /// is in the {ModelSubmitted} event of its round and slot (see {modelOf}).
    function genesisCid() external view returns (string memory);

    /// @notice The model `account` owns in the current parent layer (`found` false when none).
    function currentModelOf(address account) external view returns (bool found, uint256 modelId);

    /// @notice Number of lineage layers (genesis is layer 0).
    function layerCount() external view returns (uint256);

    /// @notice Model ids of `layer`, children grouped in their parents' order (for a
    /// layer a fallback appended, the models of the layer it offers again).
    function layerOf(uint256 layer) external view returns (uint256[] memory);

    /// @notice Prefix array of `layer`'s children in layer + 1 (empty until that layer
    /// exists, and for ever when the relay fell back from `layer`).
    function childStartOf(uint256 layer) external view returns (uint256[] memory);

    /// @notice Lineage units `modelId` could claim by scanning at most `maxLayers` layers.
    /// @return units Unclaimed accepted descendants found.
    /// @return complete True when no unclaimed layer is left beyond the scan.
    function claimable(uint256 modelId, uint256 maxLayers) external view returns (uint256 units, bool complete);

    /// @notice `account`'s withdrawable credit.
    function creditOf(address account) external view returns (uint256);

    /// @notice `account`'s registered public key (zero when none).
    function publicKeyOf(address account) external view returns (bytes32);

    /// @notice Tokens locked in deposits and stakes.
    function totalLocked() external view returns (uint256);

    /// @notice Tokens credited and not yet withdrawn.
    function totalCredited() external view returns (uint256);
}
