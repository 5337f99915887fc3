"""Merging several models of one architecture into one: the math of the merge turn
(docs/merge.md), as pure functions on state dicts.

A merge turn starts a trainer from a merge of its parent layer's accepted models
instead of a single parent. `average` is FedAvg's step (optionally weighted, e.g. by
sample count); `coordinate_median` and `trimmed_mean` are robust merges: each tensor
entry is the median (or the mean after dropping the `trim` largest and smallest
values) of that entry over the models, so fewer than half bad models (for the median;
at most `trim` for the trimmed mean) cannot move any entry outside the range of the
good models' values. `clipped_mean` bounds each model's pull instead of dropping
values: each model's difference from the coordinate median is clipped to the median
of those differences' lengths, then averaged (centered clipping). A model that alone
moves some entries (e.g. the only one trained on a label) keeps its direction; a bad
model moves the merge by at most that radius divided by the number of models.

Every function takes a non-empty sequence of state dicts with the same keys and
shapes, never modifies them, and returns a new state dict. Floating-point tensors are
merged; any other tensor (integer counters, e.g. batch norm's ``num_batches_tracked``)
is taken from the first model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

StateDict = dict[str, torch.Tensor]
#: A merge: state dicts in, one state dict out.
Merge = Callable[[Sequence[StateDict]], StateDict]


def _check(states: Sequence[StateDict]) -> None:
    if not states:
        raise ValueError("nothing to merge: no state dicts")
    keys = list(states[0])
    for index, state in enumerate(states[1:], start=1):
        if list(state) != keys:
            raise ValueError(f"state dict {index} has tensors {sorted(state)}, the first has {sorted(keys)}")
        for name in keys:
            if state[name].shape != states[0][name].shape:
                raise ValueError(f"tensor {name} of state dict {index} has shape {tuple(state[name].shape)}, "
                                 f"the first has {tuple(states[0][name].shape)}")


def _stacked(states: Sequence[StateDict], name: str) -> torch.Tensor:
    return torch.stack([s[name].detach().to(torch.float64) for s in states])


def _per_tensor(states: Sequence[StateDict], reduce: Callable[[torch.Tensor], torch.Tensor]) -> StateDict:
    _check(states)
    out: StateDict = {}
    for name, first in states[0].items():
        if first.is_floating_point():
            out[name] = reduce(_stacked(states, name)).to(first.dtype)
        else:
            out[name] = first.clone()
    return out


def _median(stack: torch.Tensor) -> torch.Tensor:
    """The median along the first dimension (the mean of the two middle values for an even count)."""
    ordered = stack.sort(dim=0).values
    count = ordered.shape[0]
    if count % 2:
        return ordered[count // 2]
    return (ordered[count // 2 - 1] + ordered[count // 2]) / 2


def average(states: Sequence[StateDict], weights: Sequence[float] | None = None) -> StateDict:
    """The (weighted) mean of every tensor entry: FedAvg's merge. `weights` are
    non-negative with a positive sum (e.g. sample counts); None means equal weights."""
    if weights is None:
        weights = [1.0] * len(states)
    if len(weights) != len(states):
        raise ValueError(f"{len(weights)} weights for {len(states)} state dicts")
    w = torch.tensor([float(v) for v in weights], dtype=torch.float64)
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {list(weights)}")
    w = w / w.sum()
    return _per_tensor(states, lambda stack: torch.tensordot(w, stack, dims=1))


def coordinate_median(states: Sequence[StateDict]) -> StateDict:
    """The median of every tensor entry over the models (the mean of the two middle
    values for an even count). Robust while fewer than half the models are bad."""
    return _per_tensor(states, _median)


def trimmed_mean(states: Sequence[StateDict], trim: int = 1) -> StateDict:
    """The mean of every tensor entry after dropping its `trim` largest and `trim`
    smallest values over the models. Robust to at most `trim` bad models; needs more
    than 2 * `trim` models (`trim` 0 is `average`)."""
    if trim < 0:
        raise ValueError(f"trim must be >= 0, got {trim}")
    if len(states) <= 2 * trim:
        raise ValueError(f"trimming {trim} from each side needs more than {2 * trim} models, got {len(states)}")
    return _per_tensor(states, lambda stack: stack.sort(dim=0).values[trim: stack.shape[0] - trim].mean(dim=0))


def clipped_mean(states: Sequence[StateDict], center: StateDict | None = None) -> StateDict:
    """`center` plus the mean of every model's difference from it, each difference
    clipped (scaled down, direction kept) to the median of the differences' Euclidean
    lengths over all floating-point entries. `center` is the coordinate median unless
    given: given the model every one of them started from, the differences are the
    trainers' updates and the merge is their norm-bounded mean. While fewer than half
    the models are bad, the radius is a good model's length, so a bad model, however
    far, moves the merge by at most radius / len(states) from the center; a good model
    within the radius counts in full, as in the mean."""
    _check(states)
    if center is None:
        center = coordinate_median(states)
    else:
        _check([states[0], center])
    names = [name for name, t in states[0].items() if t.is_floating_point()]
    deltas = [{name: s[name].detach().to(torch.float64) - center[name].to(torch.float64) for name in names}
              for s in states]
    lengths = torch.stack([torch.sqrt(sum((d * d).sum() for d in delta.values())) for delta in deltas])
    radius = _median(lengths)
    scales = [min(1.0, float(radius / length)) if length > 0 else 1.0 for length in lengths]
    out: StateDict = {}
    for name, first in states[0].items():
        if name in deltas[0]:
            pull = sum(scale * delta[name] for scale, delta in zip(scales, deltas)) / len(states)
            out[name] = (center[name].to(torch.float64) + pull).to(first.dtype)
        else:
            out[name] = first.clone()
    return out


#: Merges by name, as the benchmarks name them.
MERGES: dict[str, Merge] = {"mean": average, "median": coordinate_median, "trimmed": trimmed_mean,
                            "clipped": clipped_mean}
