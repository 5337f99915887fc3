// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IMergeRelayLearning} from "./interfaces/IMergeRelayLearning.sol";
import {IRelayLearning} from "./interfaces/IRelayLearning.sol";
import {RelayLearning} from "./RelayLearning.sol";
import {RelayToken} from "./RelayToken.sol";

/// @title MergeRelayLearning
/// @notice One DeRelayL learning task played as a merge relay (see {IMergeRelayLearning}
/// and docs/merge.md). Rounds, bids, evaluators, commit-reveal, ranking, the accepted
/// share, deposits and the fallback are RelayLearning's; this contract changes who a
/// trainer starts from, how keys reach it and how lineage rewards are split.
/// @dev Lineage: `_acceptedThrough[L]` counts the accepted models of layers 0..L (the
/// genesis counts 1), written once per layer. A model of layer L has earned
/// (C[last] - C[L]) * lineageReward / size(L), where last is the newest layer, L +
/// mergeHorizon, or the layer before a fallback gave L up, whichever comes first; a
/// claim stores the count it reached (`claimedUnits`) and pays the difference, so it
/// reads a fixed number of words whatever the depth. The integer division leaves each
/// model less than one base unit short of its share.
contract MergeRelayLearning is RelayLearning, IMergeRelayLearning {
    /// @notice Longest key bundle accepted: MAX_TRAINERS_CAP keys of 32 bytes, sealed (48 bytes more).
    uint256 public constant MAX_BUNDLE_LENGTH = MAX_TRAINERS_CAP * 32 + 48;

    uint256 private immutable _mergeHorizon;
    /// @dev Accepted models in layers 0..L (a fallback layer adds none).
    mapping(uint256 layer => uint256) private _acceptedThrough;
    /// @dev For a layer a fallback gave up, the last layer that pays it, plus one.
    mapping(uint256 layer => uint256 lastPlusOne) private _givenUp;

    /// @param params_ Deployment parameters (see {Params}); `floorMargin` is not used.
    /// @param token_ The reward token; its minter must be this contract.
    /// @param genesisOwner Creator of the genesis model, which it delivers to round 0's trainers.
    /// @param genesisHash sha256 of the genesis model's plain weights.
    /// @param genesisCid_ CID of the genesis model's encrypted weights.
    /// @param taskSpecCid_ CID of the task specification.
    /// @param holders Accounts credited with a genesis allocation (to stake and bid).
    /// @param amounts Their allocations, minted to this contract as credit.
    /// @param mergeHorizon_ The layers after its own from which a model earns (1 to 2^32 - 1).
    constructor(
        Params memory params_,
        RelayToken token_,
        address genesisOwner,
        bytes32 genesisHash,
        string memory genesisCid_,
        string memory taskSpecCid_,
        address[] memory holders,
        uint256[] memory amounts,
        uint256 mergeHorizon_
    ) RelayLearning(params_, token_, genesisOwner, genesisHash, genesisCid_, taskSpecCid_, holders, amounts) {
        if (mergeHorizon_ == 0 || mergeHorizon_ > type(uint32).max) revert RelayInvalidParameter("mergeHorizon");
        _mergeHorizon = mergeHorizon_;
        _acceptedThrough[0] = 1;
    }

    // ------------------------------------------------------- REFUSED ACTIONS

    /// @notice Refused: nobody offers in a merge relay (every trainer starts from the whole layer).
    function offer(uint256, uint256) external pure override(RelayLearning, IRelayLearning) {
        revert RelayPlainRelayOnly("offer");
    }

    /// @notice Refused: nobody offers in a merge relay.
    function courierOffer(uint256, uint256) external pure override(RelayLearning, IRelayLearning) {
        revert RelayPlainRelayOnly("courierOffer");
    }

    /// @notice Refused: keys come as one bundle per slot ({deliverBundle}).
    function deliverKey(uint256, uint256, bytes calldata) external pure override(RelayLearning, IRelayLearning) {
        revert RelayPlainRelayOnly("deliverKey");
    }

    /// @notice Refused: keys come as one bundle per slot ({deliverBundle}).
    function courierKey(uint256, uint256, bytes calldata) external pure override(RelayLearning, IRelayLearning) {
        revert RelayPlainRelayOnly("courierKey");
    }

    // ----------------------------------------------------------------- KEYS

    /// @inheritdoc IMergeRelayLearning
    function deliverBundle(uint256 round, uint256 slot, bytes calldata envelope) external {
        RoundState storage rs = _requirePhase(round, Phase.Training);
        Slot storage s = _slot(round, slot);
        if (!_holdsLayerKeys(rs.modelLayer, msg.sender)) revert RelayNotKeyHolder(s.parentId, msg.sender);
        if (s.submitted) revert RelayAlreadySubmitted(round, slot);
        _requireKeyWindow(rs, round, slot, COURIER_KEY_QUARTERS);
        if (envelope.length == 0) revert RelayEmptyEnvelope();
        if (envelope.length > MAX_BUNDLE_LENGTH) revert RelayEnvelopeTooLong(envelope.length, MAX_BUNDLE_LENGTH);

        s.delivered = true;
        emit BundleDelivered(round, slot, s.trainer, msg.sender, envelope);
    }

    /// @dev Whether `account` holds every key of `modelLayer`: a drawn evaluator of the
    /// round that accepted its models, or the creator of its only model.
    function _holdsLayerKeys(uint256 modelLayer, address account) private view returns (bool) {
        LayerRange memory range = _layers[modelLayer];
        if (range.firstId != 0 && _isSeated(_models[range.firstId].round, account)) return true;
        return range.count == 1 && _creatorOf(range.firstId) == account;
    }

    // -------------------------------------------------------------- LINEAGE

    /// @inheritdoc IRelayLearning
    /// @dev O(1): `maxLayers` only has to be above 0. Units are later accepted models;
    /// the amount is the layer's equal share of their rewards, less what was paid.
    function claim(uint256 modelId, uint256 maxLayers)
        external
        override(RelayLearning, IRelayLearning)
        returns (uint256 units)
    {
        if (modelId >= _models.length) revert RelayUnknownModel(modelId);
        if (maxLayers == 0) revert RelayZeroAmount();
        ModelRecord storage m = _models[modelId];
        (uint256 counted, bool closed) = _lineageCount(m.layer);
        uint256 before = m.claimedUnits;
        units = counted - before;
        if (units == 0) revert RelayNothingToClaim(modelId);

        uint256 size = _layers[m.layer].count;
        uint256 reward = _params.lineageReward;
        uint256 amount = counted * reward / size - before * reward / size;
        m.claimedUnits = uint96(counted);
        m.lineageEnded = closed;
        address creator = _creatorOf(modelId);
        emit LineageClaimed(modelId, creator, units, amount);
        _mintCredit(creator, amount);
    }

    /// @inheritdoc IRelayLearning
    /// @dev Always complete: a claim reads no layers.
    function claimable(uint256 modelId, uint256)
        external
        view
        override(RelayLearning, IRelayLearning)
        returns (uint256 units, bool complete)
    {
        if (modelId >= _models.length) revert RelayUnknownModel(modelId);
        ModelRecord storage m = _models[modelId];
        (uint256 counted,) = _lineageCount(m.layer);
        return (counted - m.claimedUnits, true);
    }

    /// @inheritdoc IMergeRelayLearning
    function mergeHorizon() external view returns (uint256) {
        return _mergeHorizon;
    }

    /// @dev The accepted models that pay `layer` now, and whether it can earn no more
    /// (its horizon has passed, or a fallback gave it up).
    function _lineageCount(uint256 layer) private view returns (uint256 counted, bool closed) {
        uint256 newest = _layerCount - 1;
        uint256 last = layer + _mergeHorizon;
        uint256 lastPlusOne = _givenUp[layer];
        closed = lastPlusOne != 0 || newest >= last;
        if (lastPlusOne != 0 && lastPlusOne - 1 < last) last = lastPlusOne - 1;
        if (newest < last) last = newest;
        counted = _acceptedThrough[last] - _acceptedThrough[layer];
    }

    // ----------------------------------------------------------- THE ROUND

    /// @dev The highest bids take a slot each, up to k per model of the parent layer;
    /// every slot starts from the whole layer (its parentId is the layer's first model)
    /// at no price. Refunds the other bids.
    function _match(uint256 round, bytes32 seed) internal override returns (uint256 slotCount) {
        Bid[] memory bids = _bids[round];
        uint256[] memory bidOrder = _orderBids(bids, seed);
        LayerRange memory parents = _layers[_rounds[round].modelLayer];
        uint256 capacity = uint256(_params.k) * parents.count;
        Offer memory layer = Offer({modelId: uint64(parents.firstId), price: 0});
        for (uint256 b = 0; b < bids.length; ++b) {
            Bid memory taken = bids[bidOrder[b]];
            if (b < capacity) _openSlot(round, taken, layer);
            else _release(taken.trainer, taken.amount);
        }
        slotCount = _slots[round].length;
        _rounds[round].slotCount = uint32(slotCount);
    }

    /// @dev No check: the slot started from a merge, whose hash the contract does not know.
    function _requireChanged(uint256, uint256, uint256, bytes32) internal pure override {}

    /// @dev The task's floor alone: there is no single parent to score against.
    function _floorOf(uint256, uint256) internal view override returns (uint256) {
        return _params.scoreFloor;
    }

    /// @dev Appends the accepted models as a new layer in slot order, and its count.
    function _appendLayer(uint256 round, uint256, uint256, uint256[] memory acceptedSlots, uint256[] memory medians)
        internal
        override
        returns (uint256 layer)
    {
        uint256 slotCount = _rounds[round].slotCount;
        bool[] memory isAccepted = new bool[](slotCount);
        for (uint256 a = 0; a < acceptedSlots.length; ++a) {
            isAccepted[acceptedSlots[a]] = true;
        }
        layer = _layerCount;
        _layerCount = layer + 1;
        _layers[layer] = LayerRange({firstId: uint128(_models.length), count: uint128(acceptedSlots.length)});
        _acceptedThrough[layer] = _acceptedThrough[layer - 1] + acceptedSlots.length;
        uint256 position = 0;
        for (uint256 slot = 0; slot < slotCount; ++slot) {
            if (isAccepted[slot]) _createModel(round, layer, position++, slot, medians[slot]);
        }
    }

    /// @dev Also gives the frontier's models up: they earn nothing from the layers
    /// after it, which descend from the layer before them.
    function _fallBack(uint256 round, uint256 frontier, uint256 own)
        internal
        override
        returns (uint256 layer, uint256 source)
    {
        _givenUp[own] = _layerCount; // the newest layer before the fallback's, plus one
        (layer, source) = super._fallBack(round, frontier, own);
        _acceptedThrough[layer] = _acceptedThrough[layer - 1];
    }
}
