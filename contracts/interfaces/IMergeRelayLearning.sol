// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IRelayLearning} from "./IRelayLearning.sol";

/// @title IMergeRelayLearning
/// @notice A DeRelayL learning task played as a merge relay (docs/merge.md): every
/// trainer of a round starts from a merge of all the models of the parent layer, not
/// from one owner's model. So owners neither offer nor price (`offer`, `courierOffer`,
/// `deliverKey` and `courierKey` are refused); the highest bids take k slots per model
/// of the layer; a key holder of the layer delivers each slot one envelope holding
/// every key of the layer (`deliverBundle`); a model is accepted on the task's floor
/// alone (there is no parent to score against); and each accepted model pays one
/// lineage reward to each of the `mergeHorizon` layers before it, shared equally by
/// that layer's models, claimed in O(1) whatever the depth.
interface IMergeRelayLearning is IRelayLearning {
    /// @notice The action exists only in the plain relay (RelayLearning).
    error RelayPlainRelayOnly(string action);

    /// @notice `holder` delivered the trainer of `slot` the parent layer's keys, sealed to the trainer.
    event BundleDelivered(
        uint256 indexed round, uint256 indexed slot, address indexed trainer, address holder, bytes envelope
    );

    /// @notice Delivers the trainer of `slot` one envelope holding the keys of every model
    /// of the round's parent layer, in layer order, sealed to the trainer's registered key.
    /// @dev Allowed to the layer's key holders: the drawn evaluators of the round that
    /// accepted its models (every model's key was sealed to them), and the creator of a
    /// layer's only model (the genesis). Again after a {requestKey}, until the slot is
    /// submitted, within the first COURIER_KEY_QUARTERS quarters of Training.
    /// @param round The current round, in Training.
    /// @param slot The slot whose trainer gets the bundle.
    /// @param envelope The sealed keys, at most MAX_BUNDLE_LENGTH bytes.
    function deliverBundle(uint256 round, uint256 slot, bytes calldata envelope) external;

    /// @notice How many layers after its own a model earns lineage rewards from.
    function mergeHorizon() external view returns (uint256);
}
